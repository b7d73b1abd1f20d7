// Per-thread latency and status recording: one HdrHistogram per series, no locks, no lookups by name.

import Histogram

/// Records operation latencies and statuses for one driver thread.
///
/// A recorder is owned by exactly one thread and is not shared: `record` takes no lock and does
/// no allocation after a series' first operation (histograms are created lazily, indexed by a
/// dense ``SeriesKey`` index). At the end of a run, hand every thread's recorder to
/// ``RunResult/init(metadata:runtimeMilliseconds:operations:recorders:)``, which merges them exactly.
///
/// Recording follows YCSB's DBWrapper: a successful operation (`OK`, `BATCHED_OK`) goes to series
/// `<OP>`, any other to `<OP>-FAILED`; the status is always counted under `<OP>` (`Return=NOT_FOUND`).
/// Durations arrive and are stored in nanoseconds (``LatencyHistogram``); YCSB's µs fields are derived when printing.
///
/// Status lines: the owning thread calls ``takeIntervalSnapshot()`` every status interval and passes the
/// snapshot to whoever prints; snapshots of several threads combine with ``IntervalSnapshot/merge(_:)``.
public struct OperationRecorder: Sendable {
    /// Whether `Intended-<OP>` series are kept (set when a target rate is given).
    public let recordsIntendedLatency: Bool

    /// Histograms of the current interval, by `SeriesKey.index`; nil until the series' first record.
    var interval: [Histogram<UInt64>?]
    /// Histograms of all earlier intervals.
    var accumulated: [Histogram<UInt64>?]
    /// Status counts, index `kind.rawValue * statusCount + status.rawValue`.
    var statusCounts: [UInt64]
    /// Bit `index` set once `interval[index]` holds a histogram. `record` tests this bit instead
    /// of comparing the optional with nil, which copied (retained and released) the whole
    /// histogram on every operation: about 300 of the 520 instructions a record cost (callgrind).
    var created: UInt64 = 0

    static let statusCount = OperationStatus.allCases.count

    /// Creates an empty recorder.
    /// - Parameter recordsIntendedLatency: Keep `Intended-<OP>` series too; pass true when the run has a target rate.
    public init(recordsIntendedLatency: Bool = false) {
        precondition(SeriesKey.count <= 64, "OperationRecorder.created has one bit per series")
        self.recordsIntendedLatency = recordsIntendedLatency
        interval = Array(repeating: nil, count: SeriesKey.count)
        accumulated = Array(repeating: nil, count: SeriesKey.count)
        statusCounts = Array(repeating: 0, count: OperationKind.allCases.count * Self.statusCount)
    }

    // MARK: Recording

    /// Records one operation's service time and status.
    /// - Parameters:
    ///   - series: The operation kind; failures go to `<OP>-FAILED` automatically.
    ///   - nanos: Service time in nanoseconds (end minus actual start).
    ///   - status: The operation's outcome, counted as `Return=<STATUS>` under the kind.
    @inline(__always)
    public mutating func record(series: OperationKind, nanos: UInt64, status: OperationStatus) {
        recordNanoseconds(LatencyHistogram.clamped(nanoseconds: nanos), at: SeriesKey(series, status.isSuccess ? .service : .failed).index)
        statusCounts[series.rawValue &* Self.statusCount &+ status.rawValue] &+= 1
    }

    /// Records one operation's service time, its latency from the intended (scheduled) start, and its status.
    ///
    /// The intended latency goes to `Intended-<OP>` (or `Intended-<OP>-FAILED`) only when the recorder
    /// was created with `recordsIntendedLatency`.
    /// - Parameters:
    ///   - series: The operation kind.
    ///   - nanos: Service time in nanoseconds.
    ///   - intendedNanos: End time minus the intended start time, in nanoseconds.
    ///   - status: The operation's outcome.
    @inline(__always)
    public mutating func record(series: OperationKind, nanos: UInt64, intendedNanos: UInt64, status: OperationStatus) {
        record(series: series, nanos: nanos, status: status)
        if recordsIntendedLatency {
            recordNanoseconds(LatencyHistogram.clamped(nanoseconds: intendedNanos),
                              at: SeriesKey(series, status.isSuccess ? .intended : .intendedFailed).index)
        }
    }

    @inline(__always)
    mutating func recordNanoseconds(_ nanos: UInt64, at index: Int) {
        if created & (1 &<< UInt64(index)) == 0 {
            interval[index] = LatencyHistogram.make()
            created |= 1 &<< UInt64(index)
        }
        interval[index]!.record(nanos)
    }

    // MARK: Intervals and totals

    /// Returns the histograms recorded since the previous snapshot (or since creation) and starts a new interval.
    /// Series that were ever recorded appear, with an empty histogram if idle in this interval (as YCSB shows `Count=0`).
    public mutating func takeIntervalSnapshot() -> IntervalSnapshot {
        var series: [SeriesKey: Histogram<UInt64>] = [:]
        for index in 0..<SeriesKey.count {
            guard let current = interval[index] else {
                if accumulated[index] != nil { series[SeriesKey(index: index)] = LatencyHistogram.make() }
                continue
            }
            series[SeriesKey(index: index)] = current
            if accumulated[index] == nil { accumulated[index] = current } else { accumulated[index]!.add(current) }
            interval[index] = LatencyHistogram.make()
        }
        return IntervalSnapshot(series: series)
    }

    /// Discards everything recorded so far (e.g. at the end of a warm-up).
    public mutating func reset() {
        self = OperationRecorder(recordsIntendedLatency: recordsIntendedLatency)
    }

    /// All values recorded in a series so far (every interval), or nil if the series was never recorded.
    public func histogram(for key: SeriesKey) -> Histogram<UInt64>? {
        switch (accumulated[key.index], interval[key.index]) {
        case (nil, nil): return nil
        case let (total?, nil): return total
        case let (nil, current?): return current
        case (var total?, let current?):
            total.add(current)
            return total
        }
    }

    /// How many operations of `kind` ended with `status`.
    public func count(of kind: OperationKind, status: OperationStatus) -> UInt64 {
        statusCounts[kind.rawValue * Self.statusCount + status.rawValue]
    }
}
