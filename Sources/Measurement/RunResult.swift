// The measured result of one run (or of merged runs): overall counters plus one histogram per series.

import Histogram

/// One latency series of a result: its YCSB name, all its latencies (ns) and the statuses counted under it.
public struct SeriesResult: Sendable, Equatable {
    /// YCSB series name: `READ`, `READ-FAILED`, `Intended-READ`, ...
    public var name: String
    /// Every latency of the series, in nanoseconds, in ``LatencyHistogram``'s layout.
    public var histogram: Histogram<UInt64>
    /// `Return=<STATUS>` counts, by YCSB status name (only on plain `<OP>` series).
    public var returns: [String: UInt64]

    public init(name: String, histogram: Histogram<UInt64>, returns: [String: UInt64] = [:]) {
        self.name = name
        self.histogram = histogram
        self.returns = returns
    }

    /// Operations in the series (the histogram's total count).
    public var operations: UInt64 { histogram.totalCount }

    /// Status names in output order: YCSB's order, then unknown names alphabetically.
    public var orderedReturns: [(status: String, count: UInt64)] {
        returns.keys.sorted(by: OperationStatus.outputOrder).map { ($0, returns[$0]!) }
    }
}

/// The result of a run: what every exporter, the JSON result file, merge and compare work from.
public struct RunResult: Sendable, Equatable {
    public var metadata: RunMetadata
    /// Measured run time (YCSB's `RunTime(ms)`).
    public var runtimeMilliseconds: UInt64
    /// Workload operations completed (YCSB's opcount; a read-modify-write counts once).
    public var operations: UInt64
    /// Series in output order.
    public var series: [SeriesResult]
    /// CPU time the driver threads spent in the measured part of the run (warm-up excluded), summed
    /// over threads, from each thread's own CPU clock (`CLOCK_THREAD_CPUTIME_ID`); nil when not
    /// measured (results of older kvlab, counting results). A thread's CPU clock does not advance while
    /// it is preempted or its virtual CPU is stolen by the hypervisor, so on a shared machine it moves
    /// far less between identical runs than wall-clock throughput; but it does not see waits either
    /// (I/O, locks, the network), so it measures CPU cost, not speed.
    public var threadCPUNanoseconds: UInt64? = nil
    /// CPU nanoseconds of every full chunk of ``cpuChunkOperations`` measured operations, per driver
    /// thread, threads one after the other; nil when CPU time was not measured. A partial last chunk
    /// is left out. See ``cpuChunkMedianNanosecondsPerOperation``.
    public var cpuChunkNanoseconds: [UInt64]? = nil

    /// Operations per CPU chunk (a power of two: the driver tests it with a mask on its hot path).
    public static let cpuChunkOperations: UInt64 = 2048

    /// Creates a result from already merged series.
    public init(metadata: RunMetadata, runtimeMilliseconds: UInt64, operations: UInt64, series: [SeriesResult]) {
        self.metadata = metadata
        self.runtimeMilliseconds = runtimeMilliseconds
        self.operations = operations
        self.series = series
    }

    /// Merges every driver thread's recorder into one result (exact histogram addition).
    /// - Parameters:
    ///   - metadata: The run's description.
    ///   - runtimeMilliseconds: Measured run time, warm-up excluded.
    ///   - operations: Workload operations completed, warm-up excluded.
    ///   - recorders: One recorder per driver thread.
    public init(metadata: RunMetadata, runtimeMilliseconds: UInt64, operations: UInt64, recorders: [OperationRecorder]) {
        var series: [SeriesResult] = []
        for key in SeriesKey.outputOrder {
            var merged: Histogram<UInt64>?
            var returns: [String: UInt64] = [:]
            for recorder in recorders {
                if let h = recorder.histogram(for: key) {
                    if merged == nil { merged = h } else { merged!.add(h) }
                }
                if key.variant == .service {
                    for status in OperationStatus.allCases {
                        let n = recorder.count(of: key.kind, status: status)
                        if n > 0 { returns[status.ycsbName, default: 0] += n }
                    }
                }
            }
            // YCSB shows an <OP> block with Operations 0 when every <OP> failed: its statuses live there.
            if merged != nil || !returns.isEmpty {
                series.append(SeriesResult(name: key.name, histogram: merged ?? LatencyHistogram.make(), returns: returns))
            }
        }
        self.init(metadata: metadata, runtimeMilliseconds: runtimeMilliseconds, operations: operations, series: series)
    }

    /// YCSB's `Throughput(ops/sec)` = 1000 × operations / run time in ms; 0 when the run time is 0
    /// (YCSB would print `Infinity` or `NaN`, which no JSON or YCSB parser accepts).
    public var throughput: Double {
        runtimeMilliseconds == 0 ? 0 : 1000.0 * Double(operations) / Double(runtimeMilliseconds)
    }

    /// Driver-thread CPU nanoseconds per measured operation (``threadCPUNanoseconds`` / operations);
    /// nil when CPU time was not measured or no operation ran.
    public var cpuNanosecondsPerOperation: Double? {
        guard let cpu = threadCPUNanoseconds, operations > 0 else { return nil }
        return Double(cpu) / Double(operations)
    }

    /// The median over chunks of CPU nanoseconds per operation; nil without chunks. Robust where
    /// the run's mean (``cpuNanosecondsPerOperation``) is not: a stretch in which another process
    /// shared the core's caches or its hyperthread sibling raises a few chunks, not the median.
    public var cpuChunkMedianNanosecondsPerOperation: Double? {
        guard let chunks = cpuChunkNanoseconds, !chunks.isEmpty else { return nil }
        let sorted = chunks.sorted()
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? Double(sorted[middle]) : (Double(sorted[middle - 1]) + Double(sorted[middle])) / 2
        return median / Double(Self.cpuChunkOperations)
    }

    /// The series with this YCSB name.
    public func series(named name: String) -> SeriesResult? {
        series.first { $0.name == name }
    }
}
