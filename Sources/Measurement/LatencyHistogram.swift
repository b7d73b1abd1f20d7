// The one histogram layout kvlab records latencies in, and Java-compatible statistics over it.

import Histogram

/// The one histogram layout for every latency series: NANOSECONDS, lowest discernible value 1,
/// highest trackable value one hour, three significant digits. All recorders use it, so any two
/// series histograms merge exactly.
///
/// Nanoseconds, because in-process operations take a few hundred ns: in whole microseconds almost
/// every READ landed in the 0 or 1 µs bucket. Three significant digits keep every value below
/// 2048 ns exact and larger ones within 0.1%; YCSB's microsecond fields are derived from these values
/// (``LatencyUnits``). Result files of format version 1 held microsecond histograms; reading converts
/// them (``fromMicroseconds(_:)``).
public enum LatencyHistogram {
    /// One hour in nanoseconds; longer latencies are recorded as this value.
    @inlinable public static var highestTrackableNanoseconds: UInt64 { 3_600_000_000_000 }
    /// One hour in microseconds: the highest value of format-1 (microsecond) histograms.
    public static let highestTrackableMicroseconds: UInt64 = 3_600_000_000

    /// A new, empty latency histogram (nanoseconds).
    public static func make() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestTrackableNanoseconds,
                          numberOfSignificantValueDigits: .three)
    }

    /// A duration in nanoseconds clamped to the histogram's range.
    @inlinable @inline(__always)
    static func clamped(nanoseconds nanos: UInt64) -> UInt64 {
        nanos < highestTrackableNanoseconds ? nanos : highestTrackableNanoseconds
    }

    /// Converts a microsecond histogram (result-file format 1, recorded as whole µs rounded to nearest)
    /// into this nanosecond layout: each recorded bucket's value × 1000 with its count. Exact for
    /// values below 2048 µs, within the layouts' 0.1% above; counts are preserved.
    public static func fromMicroseconds(_ micros: Histogram<UInt64>) -> Histogram<UInt64> {
        var nanos = make()
        for iv in micros.recordedValues() {
            let value = micros.lowestEquivalentForValue(iv.value)
            let (scaled, overflow) = value.multipliedReportingOverflow(by: 1000)
            nanos.record(overflow ? highestTrackableNanoseconds : clamped(nanoseconds: scaled), count: iv.count)
        }
        return nanos
    }
}

/// Conversions from the histograms' nanoseconds to the microseconds YCSB prints.
public enum LatencyUnits {
    /// Fractional microseconds (kvlab's own tables, JSON `averageUs`, plots).
    @inline(__always)
    public static func microseconds(_ nanos: UInt64) -> Double { Double(nanos) / 1000 }

    /// Whole microseconds rounded to nearest, for YCSB's integer fields (`MinLatency(us)`, percentiles,
    /// status lines). YCSB truncates its ns reading to µs before recording; rounding keeps a 600 ns
    /// operation from printing as 0 µs while still being within half a µs of YCSB's figure.
    @inline(__always)
    public static func wholeMicroseconds(_ nanos: UInt64) -> UInt64 { nanos / 1000 &+ (nanos % 1000 >= 500 ? 1 : 0) }
}

/// Summary statistics of one histogram, in the histogram's unit (nanoseconds for latency series; convert
/// with ``LatencyUnits``), computed the way Java's HdrHistogram (and so YCSB) does:
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
