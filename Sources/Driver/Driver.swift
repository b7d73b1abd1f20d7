// Runs a workload's load or run phase on a target with client threads, timing every operation.

import Foundation
import History
import KVCore
import Measurement
import Synchronization
import Workload

/// What the driver reports while it runs (the CLI prints it; the library never does).
public enum DriverEvent: Sendable {
    /// A YCSB-style status line (`-s`), every status interval.
    case status(String)
    /// Warm-up ended after `operations` operations; measurement starts now.
    case warmupFinished(operations: UInt64)
}

/// The outcome of a driver run.
public struct DriverOutcome: Sendable {
    /// Measured operations, histograms and metadata.
    public var result: RunResult
    /// Operations excluded as warm-up.
    public var warmupOperations: UInt64
    /// Whether the run stopped at `maxexecutiontime` before finishing its operations.
    public var stoppedByTimeLimit: Bool
    /// With `recordsHistory`: one recorder per thread; merge them with
    /// `HistoryRecorder.history(merging:)`. Empty otherwise.
    public var historyRecorders: [HistoryRecorder] = []
    /// With `recordsIntervalLog`: every interval's histograms in time order (warm-up included),
    /// for ``HistogramLog/write(_:prefix:startTime:)``. Empty otherwise.
    public var intervalLogs: [SeriesIntervals] = []
}

/// Runs one phase of a `CoreWorkload` against a `DriverTarget`.
///
/// Each client thread owns a `WorkloadThread` (its operation stream), a `TargetSession` and an
/// `OperationRecorder`, so the hot path takes no lock. With a target rate, thread `t` issues its
/// `i`-th operation at `start_t + i * threads / target` (YCSB's schedule; `start_t` is the run's
/// start plus, at per-thread rates of at most 1000 ops/s, a seeded random delay below one tick, as
/// YCSB's ClientThread spreads its threads — see ``ThreadStartSpread``); the service time is
/// measured from the actual start and the intended latency from the scheduled start, which
/// corrects coordinated omission when the target falls behind.
public final class Driver: @unchecked Sendable {
    public let workload: CoreWorkload
    public let target: any DriverTarget
    public let configuration: DriverConfiguration
    let clock: any MonotonicClock
    let wallClock: @Sendable () -> Date
    /// Each client thread's CPU time, read around its measured loop (see ``RunResult/threadCPUNanoseconds``).
    let cpuClock: any ThreadCPUClock
    /// The run in progress, so `requestStop()` can reach its threads.
    private let activeRun = Mutex<SharedRunState?>(nil)
    private let stopRequested = Atomic<Bool>(false)

    /// - Parameters:
    ///   - clock: monotonic time for latencies and schedules.
    ///   - wallClock: the date printed in status lines and recorded as the start time.
    ///   - cpuClock: each client thread's CPU time, recorded as the result's thread CPU time.
    public init(workload: CoreWorkload, target: any DriverTarget, configuration: DriverConfiguration,
                clock: any MonotonicClock = SystemMonotonicClock(), wallClock: @escaping @Sendable () -> Date = { Date() },
                cpuClock: any ThreadCPUClock = SystemThreadCPUClock()) {
        self.workload = workload
        self.target = target
        self.configuration = configuration
        self.clock = clock
        self.wallClock = wallClock
        self.cpuClock = cpuClock
    }

    /// Checks that the target can run this workload (a scan mix needs ordered scans).
    public func checkCapabilities() throws(DriverError) {
        let c = workload.configuration
        if configuration.phase == .run && c.scanProportion > 0 && !target.supportsOrderedScan {
            throw .missingCapability(target: target.description, capability: "ordered-scan",
                                     neededBy: "scanproportion=\(c.scanProportion) (\(c.properties["scanproportion"]?.source.description ?? "default"))")
        }
    }

    /// Asks the run in progress (or the next one) to stop: each thread finishes the operation
    /// it is running and the run returns its results as if its operations were done. For
    /// experiments and tests that end a run on an event rather than a count or a time.
    public func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        activeRun.withLock { $0?.stop.store(true, ordering: .sequentiallyConsistent) }
    }

    /// Runs the phase to completion (or to `maxexecutiontime`, or to `requestStop()`).
    /// - Parameters:
    ///   - metadata: the run's description; operations and timing are filled in here.
    ///   - onEvent: called from a status thread with status lines and warm-up notices.
    public func run(metadata: RunMetadata, onEvent: @escaping @Sendable (DriverEvent) -> Void = { _ in }) throws(DriverError) -> DriverOutcome {
        try checkCapabilities()
        let threads = max(1, configuration.threads)
        let shared = SharedRunState(threads: threads)
        activeRun.withLock { $0 = shared }
        defer { activeRun.withLock { $0 = nil } }
        if stopRequested.load(ordering: .sequentiallyConsistent) { shared.stop.store(true, ordering: .sequentiallyConsistent) }
        var sessions: [any TargetSession] = []
        for t in 0..<threads { sessions.append(try target.makeSession(thread: t)) }
        defer { for s in sessions { s.close() } }
        var recorders: [HistoryRecorder?] = Array(repeating: nil, count: threads)
        if configuration.recordsHistory {
            for t in 0..<threads {
                guard let digesting = sessions[t] as? any HistoryDigestingSession else {
                    throw .invalid("\(target.description) cannot record a history: its sessions do not report record digests")
                }
                digesting.computesDigests = true
                recorders[t] = HistoryRecorder(process: configuration.historyFirstProcess + t, processStride: threads)
            }
        }

        let totalOperations: Int64 = configuration.phase == .load
            ? workload.configuration.insertCount : configuration.operationCount
        let startDate = wallClock()
        let start = clock.nanoseconds()
        let deadline: UInt64? = configuration.maxExecutionSeconds > 0
            ? start + UInt64(configuration.maxExecutionSeconds * 1e9) : nil
        let warmupEnd: UInt64? = configuration.warmupSeconds > 0 ? start + UInt64(configuration.warmupSeconds * 1e9) : nil
        let statusNanos = UInt64(configuration.statusIntervalSeconds * 1e9)

        let workers = (0..<threads).map { t in
            ClientThread(index: t, driver: self, session: sessions[t], shared: shared, totalOperations: totalOperations,
                         start: start, deadline: deadline, warmupEnd: warmupEnd,
                         statusNanos: configuration.status || configuration.recordsIntervalLog ? statusNanos : 0,
                         history: recorders[t])
        }
        let reporter = configuration.status || configuration.recordsIntervalLog
            ? StatusReporter(driver: self, shared: shared, start: start, totalOperations: totalOperations, onEvent: onEvent) : nil
        reporter?.begin()
        ThreadGroup.run(workers.map { worker in { worker.run() } })
        let end = clock.nanoseconds()
        reporter?.stop()

        if let error = shared.firstError.withLock({ $0 }) { throw error }
        let measuredStart = shared.measurementStart.withLock { $0 } ?? start
        let warmup = workers.reduce(UInt64(0)) { $0 + $1.warmupOperations }
        if warmup > 0 { onEvent(.warmupFinished(operations: warmup)) }
        let operations = workers.reduce(UInt64(0)) { $0 + $1.measuredOperations }
        var meta = metadata
        meta.startTime = startDate
        meta.warmUpExcludedOperations = warmup
        let runtimeMs = (end - min(measuredStart, end)) / 1_000_000
        var result = RunResult(metadata: meta, runtimeMilliseconds: runtimeMs, operations: operations,
                               recorders: workers.map(\.recorder))
        let cpu = workers.compactMap(\.measuredCPUNanoseconds)
        result.threadCPUNanoseconds = cpu.count == workers.count ? cpu.reduce(0, +) : nil
        result.cpuChunkNanoseconds = result.threadCPUNanoseconds == nil ? nil : workers.flatMap(\.cpuChunkNanoseconds)
        let stopped = workers.contains { $0.stoppedByTimeLimit }
        return DriverOutcome(result: result, warmupOperations: warmup, stoppedByTimeLimit: stopped,
                             historyRecorders: recorders.compactMap { $0 }, intervalLogs: reporter?.intervals ?? [])
    }
}

/// State the client threads share: the first error, the start of measurement, interval snapshots.
final class SharedRunState: Sendable {
    let firstError = Mutex<DriverError?>(nil)
    /// When the last thread left warm-up (measurement runs from here).
    let measurementStart = Mutex<UInt64?>(nil)
    /// Interval histograms handed over by the threads since the last status line.
    let pendingSnapshot = Mutex(IntervalSnapshot())
    /// Operations completed so far (warm-up included), published by each thread at its interval.
    let completed = Atomic<UInt64>(0)
    let stop = Atomic<Bool>(false)
    let threadsInWarmup: Atomic<Int>

    init(threads: Int) { threadsInWarmup = Atomic(threads) }

    func fail(_ error: DriverError) {
        firstError.withLock { if $0 == nil { $0 = error } }
        stop.store(true, ordering: .relaxed)
    }
}

/// Runs closures on their own threads and waits for all of them.
enum ThreadGroup {
    static func run(_ bodies: [@Sendable () -> Void]) {
        let group = DispatchGroup()
        for body in bodies {
            group.enter()
            let thread = Thread {
                body()
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
    }
}
