// The histograms of one status interval, from one thread or merged over many.

import Histogram

/// Latencies recorded during one status interval, per series. Produced by
/// ``OperationRecorder/takeIntervalSnapshot()``; combine threads with ``merge(_:)`` and print with ``StatusLine``.
public struct IntervalSnapshot: Sendable {
    /// Histogram per series active so far in the run (possibly empty for this interval).
    public private(set) var series: [SeriesKey: Histogram<UInt64>]

    /// Creates a snapshot from per-series histograms.
    public init(series: [SeriesKey: Histogram<UInt64>] = [:]) {
        self.series = series
    }

    /// Adds another thread's snapshot of the same interval (exact histogram merge).
    public mutating func merge(_ other: IntervalSnapshot) {
        for (key, histogram) in other.series {
            if series[key] == nil { series[key] = histogram } else { series[key]!.add(histogram) }
        }
    }

    /// Operations recorded in the interval over the service series (`<OP>` and `<OP>-FAILED`).
    public var serviceOperationCount: UInt64 {
        series.reduce(0) { $0 + ($1.key.variant == .service || $1.key.variant == .failed ? $1.value.totalCount : 0) }
    }
}
