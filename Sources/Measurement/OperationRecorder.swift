// Per-thread latency and status recording: one HdrHistogram per series, no locks, no lookups by name.

import Histogram

/// Records operation latencies and statuses for one driver thread.
///
/// A recorder is owned by exactly one thread and is not shared: `record` takes no lock and does
/// no allocation after a series' first operation (raw bucket counts are allocated lazily, indexed by
/// a dense ``SeriesKey`` index, and folded into histograms at each snapshot). At the end of a run, hand every thread's recorder to
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

    /// Histograms of the current interval, by `SeriesKey.index`, as of the last fold of `tallies`;
    /// nil until the series' first fold.
    var interval: [Histogram<UInt64>?]
    /// Histograms of all earlier intervals.
    var accumulated: [Histogram<UInt64>?]
    /// What `record` writes: raw bucket and status counts, folded into `interval` at each snapshot
    /// (``RawLatencyTallies`` says why). Copied before a write when another recorder shares it,
    /// so recorders keep value semantics.
    @usableFromInline var tallies: RawLatencyTallies

    /// Statuses per kind in `statusCounts`: the last status's raw value + 1 (a literal fold when
    /// inlined into the driver; `allCases.count` is checked equal in `init`).
    @inlinable static var statusCount: Int { OperationStatus.serviceUnavailable.rawValue &+ 1 }

    /// Creates an empty recorder.
    /// - Parameter recordsIntendedLatency: Keep `Intended-<OP>` series too; pass true when the run has a target rate.
    public init(recordsIntendedLatency: Bool = false) {
        precondition(Self.statusCount == OperationStatus.allCases.count
                     && OperationKind.verify.rawValue + 1 == OperationKind.allCases.count,
                     "OperationRecorder's inlined counts assume the last cases of OperationStatus and OperationKind")
        self.recordsIntendedLatency = recordsIntendedLatency
        interval = Array(repeating: nil, count: SeriesKey.count)
        accumulated = Array(repeating: nil, count: SeriesKey.count)
        tallies = RawLatencyTallies(seriesCount: SeriesKey.count, statusSlots: OperationKind.allCases.count * Self.statusCount)
    }

    // MARK: Recording

    /// Records one operation's service time and status.
    /// - Parameters:
    ///   - series: The operation kind; failures go to `<OP>-FAILED` automatically.
    ///   - nanos: Service time in nanoseconds (end minus actual start).
    ///   - status: The operation's outcome, counted as `Return=<STATUS>` under the kind.
    @inlinable @inline(__always)
    public mutating func record(series: OperationKind, nanos: UInt64, status: OperationStatus) {
        let tallies = uniqueTallies()
        recordUnchecked(tallies, series: series, nanos: nanos, status: status)
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
    // Inlinable: the driver's loop calls it once per operation, and as a call across modules
    // (saving and restoring registers around it) it cost ~25 instructions.
    @inlinable @inline(__always)
    public mutating func record(series: OperationKind, nanos: UInt64, intendedNanos: UInt64, status: OperationStatus) {
        let tallies = uniqueTallies()
        recordUnchecked(tallies, series: series, nanos: nanos, status: status)
        if recordsIntendedLatency {
            tallies.record(LatencyHistogram.clamped(nanoseconds: intendedNanos),
                           series: SeriesKey(series, status.isSuccess ? .intended : .intendedFailed).index)
        }
    }

    @inlinable @inline(__always)
    func recordUnchecked(_ tallies: RawLatencyTallies, series: OperationKind, nanos: UInt64, status: OperationStatus) {
        tallies.record(LatencyHistogram.clamped(nanoseconds: nanos), series: SeriesKey(series, status.isSuccess ? .service : .failed).index)
        tallies.statusCounts[series.rawValue &* Self.statusCount &+ status.rawValue] &+= 1
    }

    /// The tallies, copied first if another recorder (a copy of this one) shares them.
    @inlinable @inline(__always)
    mutating func uniqueTallies() -> RawLatencyTallies {
        if !isKnownUniquelyReferenced(&tallies) { tallies = tallies.copy() }
        return tallies
    }

    /// Moves every pending raw count into the `interval` histograms.
    mutating func foldTallies() {
        let tallies = uniqueTallies()
        for index in 0..<SeriesKey.count where tallies.hasPending(series: index) {
            var histogram = interval[index] ?? LatencyHistogram.make()
            interval[index] = nil
            tallies.fold(series: index, into: &histogram, clear: true)
            interval[index] = histogram
        }
    }

    // MARK: Intervals and totals

    /// Returns the histograms recorded since the previous snapshot (or since creation) and starts a new interval.
    /// Series that were ever recorded appear, with an empty histogram if idle in this interval (as YCSB shows `Count=0`).
    public mutating func takeIntervalSnapshot() -> IntervalSnapshot {
        foldTallies()
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
        var result: Histogram<UInt64>?
        switch (accumulated[key.index], interval[key.index]) {
        case (nil, nil): result = nil
        case let (total?, nil): result = total
        case let (nil, current?): result = current
        case (var total?, let current?):
            total.add(current)
            result = total
        }
        if tallies.hasPending(series: key.index) {
            var withPending = result ?? LatencyHistogram.make()
            tallies.fold(series: key.index, into: &withPending, clear: false)
            result = withPending
        }
        return result
    }

    /// How many operations of `kind` ended with `status`.
    public func count(of kind: OperationKind, status: OperationStatus) -> UInt64 {
        tallies.statusCounts[kind.rawValue * Self.statusCount + status.rawValue]
    }
}
