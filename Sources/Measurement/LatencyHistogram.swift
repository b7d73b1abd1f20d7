// The one histogram layout kvlab records latencies in, and Java-compatible statistics over it.

import Histogram

/// The histogram layout for every latency series: microseconds, lowest discernible value 1,
/// highest trackable value one hour, three significant digits. All recorders use it, so any two
/// series histograms merge exactly.
public enum LatencyHistogram {
    /// One hour in microseconds; longer latencies are recorded as this value.
    public static let highestTrackableMicroseconds: UInt64 = 3_600_000_000

    /// A new, empty latency histogram.
    public static func make() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestTrackableMicroseconds,
                          numberOfSignificantValueDigits: .three)
    }

    /// Converts a duration in nanoseconds to whole microseconds, rounded to nearest and clamped to the histogram's range.
    @inline(__always)
    static func microseconds(fromNanoseconds nanos: UInt64) -> UInt64 {
        let micros = nanos / 1000 &+ (nanos % 1000 >= 500 ? 1 : 0)
        return micros < highestTrackableMicroseconds ? micros : highestTrackableMicroseconds
    }
}

/// Summary statistics of one histogram, computed the way Java's HdrHistogram (and so YCSB) does:
/// minimum = lowest equivalent value of the smallest recorded value, maximum = highest equivalent
/// value of the largest, percentiles = highest equivalent value of the bucket reached (no clamping
/// to the recorded extremes). These depend only on bucket counts, so they survive the V2 encoding.
public struct LatencyStatistics: Sendable, Equatable {
    public let count: UInt64
    public let mean: Double
    public let min: UInt64
    public let max: UInt64
    /// Value at each requested percentile, in the order requested.
    public let percentiles: [PercentileValue]

    /// A percentile (0...100) and the histogram's value there.
    public struct PercentileValue: Sendable, Equatable {
        public let percentile: Double
        public let value: UInt64
    }

    /// Computes the statistics in one pass over the recorded values.
    /// - Parameters:
    ///   - histogram: The histogram to summarise.
    ///   - percentiles: Percentiles in 0...100, any order.
    public init(_ histogram: Histogram<UInt64>, percentiles requested: [Double]) {
        count = histogram.totalCount
        mean = histogram.mean
        max = histogram.max
        min = count == 0 ? 0 : (histogram.min == 0 ? 0 : histogram.lowestEquivalentForValue(histogram.min))
        guard count > 0 else {
            percentiles = requested.map { PercentileValue(percentile: $0, value: 0) }
            return
        }
        // Java: countAtPercentile = max(1, ceil(nextDown(p) / 100 * total)); first bucket reaching it.
        let targets = requested.map { p -> UInt64 in
            let clamped = Swift.min(Swift.max(p.nextDown, 0), 100)
            return Swift.max(1, UInt64(((clamped / 100) * Double(histogram.totalCount)).rounded(.up)))
        }
        var values = [UInt64?](repeating: nil, count: requested.count)
        var remaining = requested.count
        for iv in histogram.recordedValues() where remaining > 0 {
            for i in targets.indices where values[i] == nil && iv.totalCountToThisValue >= targets[i] {
                values[i] = requested[i] == 0 ? histogram.lowestEquivalentForValue(iv.value) : iv.value
                remaining -= 1
            }
        }
        percentiles = zip(requested, values).map { PercentileValue(percentile: $0, value: $1 ?? 0) }
    }

    /// The value at `percentile` if it was requested.
    public func value(at percentile: Double) -> UInt64? {
        percentiles.first { $0.percentile == percentile }?.value
    }
}
