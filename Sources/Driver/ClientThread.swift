// One driver thread: plans operations, paces them to the target rate, runs them, times them.

import Foundation
import History
import KVCore
import Measurement
import Synchronization
import Workload

final class ClientThread: @unchecked Sendable {
    // @unchecked: every mutable property is touched only by the thread running `run()`, and read
    // by the driver after that thread has been joined.
    let index: Int
    let driver: Driver
    let session: any TargetSession
    let shared: SharedRunState
    let phase: DriverPhase
    // @exclusivity(unchecked): one thread owns these (above), and the dynamic exclusivity check
    // (swift_beginAccess) cost about 80 instructions per operation in callgrind.
    @exclusivity(unchecked) var stream: WorkloadThread
    @exclusivity(unchecked) var recorder: OperationRecorder
    let verifier: RecordVerifier?
    /// Run-phase operations this thread measures (its share of operationcount; 0 = unbounded).
    let measuredQuota: Int64
    /// Operations this thread spends warming up (its share of warmupops).
    let warmupQuota: Int64
    let start: UInt64
    let deadline: UInt64?
    let warmupEnd: UInt64?
    let statusNanos: UInt64
    /// Nanoseconds between this thread's scheduled starts; 0 = unthrottled.
    let tickNanos: Double
    /// Where this thread's schedule begins: `start` plus YCSB's random initial delay at low per-thread rates.
    let scheduleStart: UInt64
    /// The clock, when it can sleep itself (tests' virtual clocks; the system clock parks the thread).
    let sleeper: (any SleepingClock)?
    /// Load-phase insert retries (`core_workload_insertion_retry_limit`) and their mean pause in ns.
    let insertRetryLimit: Int
    let insertRetryNanos: Double
    /// Draws the retry pauses' jitter (seeded per thread).
    var retryRandom: SeededRandom
    /// Records every operation for a history, if requested (nil: the hot path is unchanged).
    let history: HistoryRecorder?
    /// The session, when it reports digests (set only when recording a history).
    let digests: (any HistoryDigestingSession)?

    @exclusivity(unchecked) private(set) var warmupOperations: UInt64 = 0
    @exclusivity(unchecked) private(set) var measuredOperations: UInt64 = 0
    private(set) var stoppedByTimeLimit = false
    /// This thread's CPU clock when its measurement began (after warm-up), and its CPU time from
    /// there to the end of its loop; nil when the clock cannot be read.
    private var cpuAtMeasurementStart: UInt64?
    private(set) var measuredCPUNanoseconds: UInt64?
    /// CPU nanoseconds of each full chunk of ``RunResult/cpuChunkOperations`` measured operations, so
    /// the gate can take a robust statistic over chunks (a contended stretch spoils a few chunks, not
    /// the run). One clock read per chunk, not per operation.
    private(set) var cpuChunkNanoseconds: [UInt64] = []
    private var cpuAtChunkStart: UInt64?

    init(index: Int, driver: Driver, session: any TargetSession, shared: SharedRunState, totalOperations: Int64,
         start: UInt64, deadline: UInt64?, warmupEnd: UInt64?, statusNanos: UInt64, history: HistoryRecorder? = nil) {
        let c = driver.configuration
        let threads = max(1, c.threads)
        self.index = index
        self.driver = driver
        self.session = session
        self.shared = shared
        phase = c.phase
        stream = driver.workload.makeThread(index: index)
        recorder = OperationRecorder(recordsIntendedLatency: c.recordsIntended)
        verifier = driver.workload.configuration.dataIntegrity ? RecordVerifier(workload: driver.workload) : nil
        measuredQuota = CoreWorkloadConfiguration.operations(forThread: index, of: threads, total: totalOperations)
        warmupQuota = CoreWorkloadConfiguration.operations(forThread: index, of: threads, total: c.warmupOperations)
        self.start = start
        self.deadline = deadline
        self.warmupEnd = warmupEnd
        self.statusNanos = statusNanos
        tickNanos = c.targetOpsPerSecond > 0 ? Double(threads) * 1e9 / c.targetOpsPerSecond : 0
        var startRandom = SeededRandom(seed: ThreadStartSpread.seed(workloadSeed: driver.workload.configuration.seed, thread: index))
        scheduleStart = start + ThreadStartSpread.initialDelay(tickNanos: tickNanos, random: &startRandom)
        sleeper = driver.clock as? any SleepingClock
        insertRetryLimit = phase == .load ? driver.workload.configuration.insertionRetryLimit : 0
        insertRetryNanos = driver.workload.configuration.insertionRetryInterval * 1e9
        retryRandom = startRandom
        self.history = history
        digests = history == nil ? nil : session as? any HistoryDigestingSession
    }

    func run() {
        // A recorded history takes one operation per round trip, so each has its own times.
        if verifier == nil, history == nil, let multiplexed = session as? any MultiplexedTargetSession, multiplexed.slots > 1 {
            runMultiplexed(multiplexed)
            return
        }
        if verifier == nil, history == nil, let pipelined = session as? PipelinedTargetSession, pipelined.pipelineDepth > 1 {
            runPipelined(pipelined)
            return
        }
        // Runs read the system clock: a loop specialized on it calls clock_gettime directly
        // instead of through the existential's witness table (two reads per operation).
        if let system = driver.clock as? SystemMonotonicClock {
            runLoop(clock: system)
        } else if let counter = driver.clock as? TimestampCounterClock {
            runLoop(clock: counter)
        } else {
            runLoop(clock: driver.clock)
        }
    }

    /// What `runLoop` carries from one operation to the next. The checks that are not due on most
    /// operations wait behind one count and one time: `nextCountCheck` (the next CPU chunk's end or
    /// the quota, whichever comes first) and `nextTimeCheck` (the next status interval or the time
    /// limit), so an operation's common path compares once against each instead of five times.
    struct LoopState {
        var warming: Bool
        var nextStatus: UInt64
        var publishedCompleted: UInt64 = 0
        /// The measured-operation count at which a CPU chunk closes or the quota is met.
        var nextCountCheck: UInt64
        /// The time at which a status interval is due or the time limit is reached.
        var nextTimeCheck: UInt64
    }

    /// The measured-operation count that ends the run (`UInt64.max`: none; the load phase and an
    /// unbounded run end otherwise).
    private var quotaEnd: UInt64 { phase == .run && measuredQuota > 0 ? UInt64(measuredQuota) : UInt64.max }

    /// The one-operation-at-a-time loop, generic so that the system clock's reads are inlined.
    private func runLoop<Clock: MonotonicClock>(clock: Clock) {
        let warming = warmupQuota > 0 || warmupEnd != nil
        if !warming { leaveWarmup(at: start) }
        var issued: Int64 = 0          // operations started, warm-up included (the schedule's index)
        let nextStatus = statusNanos > 0 ? start + statusNanos : UInt64.max
        // Measured operations start at 0 and count only after the warm-up, so the first count
        // check is the first chunk's end or the quota, warm-up or not.
        var state = LoopState(warming: warming, nextStatus: nextStatus,
                              nextCountCheck: min(quotaEnd, RunResult.cpuChunkOperations),
                              nextTimeCheck: min(nextStatus, deadline ?? UInt64.max))

        while !shared.stop.load(ordering: .relaxed) {
            // Pace to the target: operation `issued` is scheduled at scheduleStart + issued * tick.
            var intendedStart: UInt64 = 0
            if tickNanos > 0 {
                intendedStart = scheduleStart + UInt64(Double(issued) * tickNanos)
                Pacing.sleep(until: intendedStart, clock: clock, sleeper: sleeper)
            }
            // The run phase's operation is never nil: taken and run on its own path, it is not
            // wrapped in an Optional and copied (25 instructions per operation, callgrind).
            let proceed: Bool
            if phase == .run {
                proceed = runOne(stream.nextTransactionOperation(), clock: clock, intendedStart: intendedStart, state: &state)
            } else {
                guard let operation = stream.nextLoadOperation() else { break }
                proceed = runOne(operation, clock: clock, intendedStart: intendedStart, state: &state)
            }
            issued += 1
            if !proceed { break }
        }
        finishLoop(warming: state.warming, publishedCompleted: &state.publishedCompleted)
    }

    /// Times, runs and records one operation of `runLoop`; false when the quota or the time limit
    /// is reached (the quota is met by this operation: the loop stops before the next one, as a
    /// check at the loop's top would).
    @inline(__always)
    private func runOne<Clock: MonotonicClock>(_ operation: PlannedOperation, clock: Clock, intendedStart scheduled: UInt64,
                                               state: inout LoopState) -> Bool {
        let began = Self.operationStart(clock)
        let intendedStart = tickNanos == 0 ? began : scheduled
        let status = execute(operation, clock: clock)
        let ended = clock.nanoseconds()
        if let history, operation.kind != .readModifyWrite {
            recordHistory(history, operation.kind, operation.key, status, began, ended)
        }
        recorder.record(series: operation.kind.measured, nanos: elapsedNanos(ended, since: began),
                        intendedNanos: elapsedNanos(ended, since: min(intendedStart, began)), status: status)

        var proceed = true
        if !state.warming {
            measuredOperations &+= 1
            if measuredOperations == state.nextCountCheck { proceed = countCheckpoint(&state) }
        } else {
            countCompleted(at: ended, warming: &state.warming)
        }
        if ended >= state.nextTimeCheck && !timeCheckpoint(at: ended, &state) { return false }
        return proceed
    }

    /// A CPU chunk's end or the quota, reached by the measured count; false when the quota is met.
    @inline(never)
    private func countCheckpoint(_ state: inout LoopState) -> Bool {
        if measuredOperations & (RunResult.cpuChunkOperations - 1) == 0 { closeCPUChunk() }
        let quota = quotaEnd
        if measuredOperations >= quota { return false }
        state.nextCountCheck = min(quota, (measuredOperations | (RunResult.cpuChunkOperations - 1)) &+ 1)
        return true
    }

    /// A status interval or the time limit, reached at `ended`; false at the time limit.
    @inline(never)
    private func timeCheckpoint(at ended: UInt64, _ state: inout LoopState) -> Bool {
        if ended >= state.nextStatus {
            publishInterval(&state.publishedCompleted)
            while state.nextStatus <= ended { state.nextStatus += statusNanos }
        }
        if let deadline, ended >= deadline {
            stoppedByTimeLimit = true
            return false
        }
        state.nextTimeCheck = min(state.nextStatus, deadline ?? UInt64.max)
        return true
    }

    /// An operation's start time: the TSC clock's unfenced read (it can only lengthen the interval
    /// up to the fenced end read; ``TimestampCounterClock/intervalStartNanoseconds()``), any other
    /// clock's reading. The cast is resolved when the loop is specialized for its clock.
    @inline(__always)
    private static func operationStart<Clock: MonotonicClock>(_ clock: Clock) -> UInt64 {
        if let counter = clock as? TimestampCounterClock { return counter.intervalStartNanoseconds() }
        return clock.nanoseconds()
    }

    /// Counts one finished operation as warm-up or measured; the warm-up ends once both its
    /// operation count and its time are reached, and what it recorded is discarded.
    @inline(__always)
    private func countCompleted(at ended: UInt64, warming: inout Bool) {
        guard warming else {
            measuredOperations += 1
            if measuredOperations & (RunResult.cpuChunkOperations - 1) == 0 { closeCPUChunk() }
            return
        }
        warmupOperations += 1
        if Int64(warmupOperations) >= warmupQuota && (warmupEnd.map { ended >= $0 } ?? true) {
            warming = false
            recorder.reset()
            leaveWarmup(at: ended)
        }
    }

    /// Runs one planned operation on the session; read-modify-write also times its halves.
    @inline(__always)
    private func execute<Clock: MonotonicClock>(_ operation: PlannedOperation, clock: Clock) -> OperationStatus {
        switch operation.kind {
        case .read:
            return read(operation)
        case .update:
            return session.update(operation)
        case .insert:
            let status = insertRetrying(operation, clock: clock)
            if phase == .run {
                // YCSB acknowledges failed inserts too, so the window keeps moving.
                do { try stream.acknowledgeInsert(operation.keyNumber) } catch { shared.fail(.workload(error)) }
            }
            return status
        case .scan:
            return session.scan(operation)
        case .delete:
            return session.delete(operation)
        case .readModifyWrite:
            // The session sees a plain read, then a plain update: network targets choose their
            // commands by kind, and a read-modify-write kind matched none of them
            // (NOT_IMPLEMENTED on every workload F operation against Redis and memcached).
            var readPart = operation
            readPart.kind = .read
            var updatePart = operation
            updatePart.kind = .update
            let t0 = clock.nanoseconds()
            let readStatus = read(readPart)
            let t1 = clock.nanoseconds()
            if let history { recordHistory(history, .read, operation.key, readStatus, t0, t1) }
            recorder.record(series: .read, nanos: t1 &- t0, status: readStatus)
            // With a history, the update's invocation is stamped after the read was recorded.
            let t1b = history == nil ? t1 : clock.nanoseconds()
            let updateStatus = session.update(updatePart)
            let t2 = clock.nanoseconds()
            if let history { recordHistory(history, .update, operation.key, updateStatus, t1b, t2) }
            recorder.record(series: .update, nanos: t2 &- t1b, status: updateStatus)
            return readStatus.isSuccess ? updateStatus : readStatus
        }
    }

    /// Inserts, and in the load phase retries a failed insert up to `insertRetryLimit` times after a pause
    /// of `core_workload_insertion_retry_interval` × U[0.8, 1.2), as YCSB's CoreWorkload.doInsert does.
    /// Each failed attempt is timed and recorded on its own (`INSERT-FAILED`, as YCSB's DBWrapper times
    /// every call); the last attempt is returned for the caller to record, so the operation counts once.
    @inline(__always)
    private func insertRetrying<Clock: MonotonicClock>(_ operation: PlannedOperation, clock: Clock) -> OperationStatus {
        guard insertRetryLimit > 0 else { return session.insert(operation) }
        var attempt = 0
        var began = clock.nanoseconds()
        while true {
            let status = session.insert(operation)
            if status.isSuccess || attempt >= insertRetryLimit || shared.stop.load(ordering: .relaxed) { return status }
            let ended = clock.nanoseconds()
            recorder.record(series: .insert, nanos: elapsedNanos(ended, since: began), status: status)
            attempt += 1
            let jitter = 0.8 + 0.4 * Double(retryRandom.next() >> 11) * 0x1p-53
            Pacing.sleep(until: ended &+ UInt64(insertRetryNanos * jitter), clock: clock, sleeper: sleeper)
            began = clock.nanoseconds()
        }
    }

    @inline(__always)
    private func read(_ operation: PlannedOperation) -> OperationStatus {
        let status = session.read(operation, verifier: verifier)
        if let verifier, status == .ok {
            // Verification is done while the record is in hand; its own time is negligible
            // next to the read and recorded as 0 µs, with YCSB's verdicts as statuses.
            recorder.record(series: .verify, nanos: 0, status: verifier.lastResult ? .ok : .unexpectedState)
        }
        return status
    }

    /// Records one operation in the history: reads (and updates that found no record) as
    /// reads of the record's digest or nil; updates and inserts as writes of the new record's
    /// digest; deletes as deletes. Scans are not recorded. A failed read is a `fail` (it
    /// constrains nothing) unless its connection was lost in flight (`info`, as every timeout);
    /// a failed write or delete is a `fail` if the session knows it surely had no effect
    /// (refused, or never sent), else `info` — and the recorder retires the process after an `info`.
    private func recordHistory(_ history: HistoryRecorder, _ kind: Workload.OperationKind, _ key: UnsafeRawBufferPointer,
                               _ status: OperationStatus, _ began: UInt64, _ ended: UInt64) {
        let digest = digests?.lastDigest
        let failure = digests?.lastFailure ?? .otherError
        let writeFailure: HistoryRecorder.Outcome = failure == .refused || failure == .notSent ? .fail : .info
        switch kind {
        case .read:
            switch status {
            case .ok: history.record(.read, key: key, digest: digest, outcome: .ok, invoked: began, completed: ended)
            case .notFound: history.record(.read, key: key, digest: nil, outcome: .ok, invoked: began, completed: ended)
            default: history.record(.read, key: key, digest: nil, outcome: failure == .lostInFlight ? .info : .fail,
                                    invoked: began, completed: ended)
            }
        case .update, .insert:
            switch status {
            case .ok: history.record(.write, key: key, digest: digest, outcome: .ok, invoked: began, completed: ended)
            case .notFound where kind == .update:
                history.record(.read, key: key, digest: nil, outcome: .ok, invoked: began, completed: ended)
            default: history.record(.write, key: key, digest: digest, outcome: writeFailure, invoked: began, completed: ended)
            }
        case .delete:
            let outcome: HistoryRecorder.Outcome = status == .ok || status == .notFound ? .ok : writeFailure
            history.record(.delete, key: key, digest: nil, outcome: outcome, invoked: began, completed: ended)
        case .scan, .readModifyWrite:
            break
        }
    }

    /// The loop for sessions with operations in flight: plan and queue up to `pipelineDepth`
    /// operations, drain them with one round trip, and time each from its own queueing to the
    /// batch's completion (as redis-benchmark times pipelined requests).
    private func runPipelined(_ pipelined: PipelinedTargetSession) {
        let clock = driver.clock
        let depth = pipelined.pipelineDepth
        var warming = warmupQuota > 0 || warmupEnd != nil
        if !warming { leaveWarmup(at: start) }
        var issued: Int64 = 0
        var nextStatus = statusNanos > 0 ? start + statusNanos : UInt64.max
        var publishedCompleted: UInt64 = 0
        var kinds: [PlannedKind] = [], keyNumbers: [Int64] = [], began: [UInt64] = [], intended: [UInt64] = []
        var statuses: [OperationStatus] = []
        kinds.reserveCapacity(depth); keyNumbers.reserveCapacity(depth); began.reserveCapacity(depth)
        intended.reserveCapacity(depth); statuses.reserveCapacity(depth)
        var exhausted = false

        func completed(at ended: UInt64) -> Bool {
            countCompleted(at: ended, warming: &warming)
            return !warming && measuredQuota > 0 && Int64(measuredOperations) >= measuredQuota && phase == .run
        }

        while !shared.stop.load(ordering: .relaxed) && !exhausted {
            kinds.removeAll(keepingCapacity: true); keyNumbers.removeAll(keepingCapacity: true)
            began.removeAll(keepingCapacity: true); intended.removeAll(keepingCapacity: true)
            var synchronous: PlannedOperation? = nil
            var synchronousIntended: UInt64 = 0
            let inFlightLimit = !warming && measuredQuota > 0 && phase == .run
                ? min(depth, Int(max(0, measuredQuota - Int64(measuredOperations)))) : depth
            if inFlightLimit == 0 { break }
            while kinds.count < inFlightLimit {
                var intendedStart: UInt64 = 0
                if tickNanos > 0 {
                    intendedStart = scheduleStart + UInt64(Double(issued) * tickNanos)
                    if kinds.isEmpty { Pacing.sleep(until: intendedStart, clock: clock, sleeper: sleeper) }
                    else if clock.nanoseconds() < intendedStart { break }
                }
                guard let operation = nextOperation() else { exhausted = true; break }
                issued += 1
                let now = clock.nanoseconds()
                if tickNanos == 0 { intendedStart = now }
                if pipelined.enqueue(operation) {
                    kinds.append(operation.kind)
                    keyNumbers.append(operation.keyNumber)
                    began.append(now)
                    intended.append(min(intendedStart, now))
                } else {
                    // Not pipelinable: drain what is queued, then run it on its own. Its buffers
                    // stay valid because nothing is planned before it runs.
                    synchronous = operation
                    synchronousIntended = intendedStart
                    break
                }
            }
            statuses.removeAll(keepingCapacity: true)
            if !kinds.isEmpty { pipelined.drain(into: &statuses) }
            var ended = clock.nanoseconds()
            var quotaReached = false
            for i in kinds.indices {
                let status = i < statuses.count ? statuses[i] : .error
                recorder.record(series: kinds[i].measured, nanos: elapsedNanos(ended, since: began[i]), intendedNanos: elapsedNanos(ended, since: intended[i]), status: status)
                if kinds[i] == .insert && phase == .run {
                    do { try stream.acknowledgeInsert(keyNumbers[i]) } catch { shared.fail(.workload(error)) }
                }
                if completed(at: ended) { quotaReached = true }
            }
            if let operation = synchronous {
                let t0 = clock.nanoseconds()
                let status = execute(operation, clock: clock)
                ended = clock.nanoseconds()
                let from = tickNanos > 0 ? min(synchronousIntended, t0) : t0
                recorder.record(series: operation.kind.measured, nanos: elapsedNanos(ended, since: t0), intendedNanos: elapsedNanos(ended, since: from), status: status)
                if completed(at: ended) { quotaReached = true }
            }
            if ended >= nextStatus {
                publishInterval(&publishedCompleted)
                while nextStatus <= ended { nextStatus += statusNanos }
            }
            if let deadline, ended >= deadline {
                stoppedByTimeLimit = true
                break
            }
            if quotaReached { break }
        }
        finishLoop(warming: warming, publishedCompleted: &publishedCompleted)
    }

    /// How long operations in flight at the time limit may still answer before they are
    /// abandoned. YCSB's terminator stops the workload at maxexecutiontime and then waits for the
    /// threads' operations to return (each within its binding's own timeout); kvlab waits this
    /// long at most instead, so a stalled server cannot hold the run for the I/O timeout, and
    /// records what is still unanswered as ERROR (never as a success). A healthy server answers
    /// in microseconds, so a healthy run loses nothing to it.
    static let timeLimitDrainNanos: UInt64 = 500_000_000

    /// The event loop for several connections (`--clients N`): every free slot gets its next
    /// operation at once, and each operation is recorded when its own reply arrives, timed from
    /// its own send (and, under `-target`, from its own tick: a slot with no tick due waits).
    /// Operations that cannot be multiplexed run synchronously on their slot's connection once it
    /// is idle. A slot whose connection is backing off gets no operation until the backoff ends.
    /// On a stop (time limit, quota, end of the load, `shared.stop`) nothing new is sent and the
    /// operations in flight are drained and recorded, each once; after a time limit the drain
    /// lasts at most `timeLimitDrainNanos`, then what is left is abandoned as ERROR. No wait
    /// outlasts the time limit or the next status interval.
    private func runMultiplexed(_ multiplexed: any MultiplexedTargetSession) {
        let clock = driver.clock
        let slots = multiplexed.slots
        var warming = warmupQuota > 0 || warmupEnd != nil
        if !warming { leaveWarmup(at: start) }
        var issued: Int64 = 0
        var nextStatus = statusNanos > 0 ? start + statusNanos : UInt64.max
        var publishedCompleted: UInt64 = 0
        var kinds = [PlannedKind](repeating: .read, count: slots)
        var keyNumbers = [Int64](repeating: 0, count: slots)
        var began = [UInt64](repeating: 0, count: slots)
        var intended = [UInt64](repeating: 0, count: slots)
        var free = Array((0..<slots).reversed())
        var inFlight = 0
        // The event loop's own blocking reads (the rest of a reply that arrived in part) end by
        // the drain's end too: a server that stalls mid-reply cannot hold the run for the I/O timeout.
        let runWaitLimit = deadline.map { $0 &+ Self.timeLimitDrainNanos }
        /// Bounds the session's blocking waits to end by `end` (nothing when there is no time limit).
        func limitWaits(until end: UInt64?) {
            guard let end else { return }
            let now = clock.nanoseconds()
            multiplexed.limitSynchronousWaits(toNanoseconds: end > now ? end - now : 0)
        }
        limitWaits(until: runWaitLimit)
        var completions: [MultiplexedCompletion] = []
        completions.reserveCapacity(slots)
        var stopping = false
        /// Set when the time limit stopped the loop: the drain of what is in flight ends here.
        var drainEnd: UInt64? = nil
        var abandoned = false
        /// When the thread last handed its counts to the status reporter.
        var handedOver = start

        /// Whether the measured quota is met once `pending` more operations complete.
        func quotaMet(pending: Int) -> Bool {
            !warming && measuredQuota > 0 && phase == .run && Int64(measuredOperations) + Int64(pending) >= measuredQuota
        }
        /// `wait` (nil: none) cut to the next status interval, the time limit and the drain's end.
        func bounded(_ wait: UInt64?) -> UInt64? {
            let now = clock.nanoseconds()
            var until = wait.map { now &+ $0 } ?? UInt64.max
            until = min(until, nextStatus)
            if let deadline, !stopping { until = min(until, deadline) }
            if let drainEnd { until = min(until, drainEnd) }
            return until == UInt64.max ? nil : (until > now ? until - now : 0)
        }
        /// Records each completion with its own times and frees its slot.
        func record(_ ended: UInt64) {
            for completion in completions {
                let slot = completion.slot
                recorder.record(series: kinds[slot].measured, nanos: elapsedNanos(ended, since: began[slot]),
                                intendedNanos: elapsedNanos(ended, since: intended[slot]), status: completion.status)
                if kinds[slot] == .insert && phase == .run {
                    // YCSB acknowledges failed inserts too, so the window keeps moving.
                    do { try stream.acknowledgeInsert(keyNumbers[slot]) } catch { shared.fail(.workload(error)) }
                }
                free.append(slot)
                inFlight -= 1
                countCompleted(at: ended, warming: &warming)
            }
        }
        /// Waits for completions (at most `timeout`, bounded as above), records them; past the
        /// drain's end, abandons what is still in flight.
        func collect(timeout: UInt64?) {
            completions.removeAll(keepingCapacity: true)
            if let drainEnd, !abandoned, clock.nanoseconds() >= drainEnd {
                multiplexed.abandonInFlight(into: &completions)
                // A session that cannot abandon completes its operations by its own timeouts.
                abandoned = true
            } else {
                multiplexed.poll(into: &completions, timeoutNanos: abandoned ? nil : bounded(timeout))
            }
            let ended = clock.nanoseconds()
            record(ended)
            after(ended)
        }
        /// Status intervals, the time limit and the quota, checked after every completion.
        func after(_ ended: UInt64) {
            if ended >= nextStatus {
                publishInterval(&publishedCompleted)
                handedOver = ended
                while nextStatus <= ended { nextStatus += statusNanos }
            }
            if let deadline, ended >= deadline, !stopping {
                stoppedByTimeLimit = true
                stopping = true
                drainEnd = ended &+ Self.timeLimitDrainNanos
            }
            if quotaMet(pending: 0) { stopping = true }
        }
        /// Moves a free slot that may take work now to the end of `free`; nil if every free slot
        /// is backing off, with `backoff` set to the wait until the first one may.
        func readySlot(backoff: inout UInt64?) -> Int? {
            guard let last = free.last else { return nil }
            if multiplexed.nanosecondsUntilReady(slot: last) == 0 { return last }
            var soonest = UInt64.max
            for i in free.indices.reversed() {
                let wait = multiplexed.nanosecondsUntilReady(slot: free[i])
                if wait == 0 {
                    free.swapAt(i, free.count - 1)
                    return free[free.count - 1]
                }
                soonest = min(soonest, wait)
            }
            backoff = soonest
            return nil
        }

        while true {
            if !stopping && shared.stop.load(ordering: .relaxed) { stopping = true }
            var wait: UInt64? = nil
            var backoff: UInt64? = nil
            // Keep every free slot that may take work busy.
            while !stopping, !quotaMet(pending: inFlight), let slot = readySlot(backoff: &backoff) {
                var intendedStart: UInt64 = 0
                if tickNanos > 0 {
                    intendedStart = scheduleStart + UInt64(Double(issued) * tickNanos)
                    let now = clock.nanoseconds()
                    if now < intendedStart {
                        // No tick due: wait for it, or for a reply until then.
                        if inFlight > 0 { wait = intendedStart - now; break }
                        if let deadline, intendedStart >= deadline {
                            // The next tick comes after the time limit: the run ends at the limit.
                            Pacing.sleep(until: deadline, clock: clock, sleeper: sleeper)
                            after(clock.nanoseconds())
                            break
                        }
                        Pacing.sleep(until: intendedStart, clock: clock, sleeper: sleeper)
                    }
                }
                guard let operation = nextOperation() else { stopping = true; break }
                issued += 1
                let now = clock.nanoseconds()
                let from = tickNanos > 0 ? min(intendedStart, now) : now
                if multiplexed.submit(operation, slot: slot) {
                    free.removeLast()
                    kinds[slot] = operation.kind
                    keyNumbers[slot] = operation.keyNumber
                    began[slot] = now
                    intended[slot] = from
                    inFlight += 1
                    continue
                }
                // Not multiplexable (a partial update's gets/cas, a scan): once the slot's
                // connection is idle, run it there synchronously. Its buffers stay valid:
                // nothing is planned before it runs.
                var idle = multiplexed.idleSession(forSlot: slot)
                while idle == nil && !stopping {
                    collect(timeout: nil)
                    idle = multiplexed.idleSession(forSlot: slot)
                }
                // The time limit came first: the operation was never sent and is not recorded.
                guard let idle, !(stoppedByTimeLimit && stopping) else { break }
                let t0 = clock.nanoseconds()
                // A synchronous request cannot stop at a status interval: hand over what completed
                // first (at most ten times an interval), so a status line during a stalled request
                // still counts it.
                if statusNanos > 0 && t0 &- handedOver >= statusNanos / 10 {
                    publishInterval(&publishedCompleted)
                    handedOver = t0
                }
                // Its waits end at the time limit (a stalled server fails it there, as ERROR).
                limitWaits(until: deadline)
                let status = executeSynchronously(operation, on: idle, clock: clock)
                limitWaits(until: runWaitLimit)
                let ended = clock.nanoseconds()
                recorder.record(series: operation.kind.measured, nanos: elapsedNanos(ended, since: t0),
                                intendedNanos: elapsedNanos(ended, since: tickNanos > 0 ? min(from, t0) : t0), status: status)
                countCompleted(at: ended, warming: &warming)
                after(ended)
            }
            if inFlight == 0 {
                if stopping || quotaMet(pending: 0) { break }
                if let backoff, let pause = bounded(backoff) {
                    // Every free slot is backing off and nothing is in flight: wait for the first.
                    Pacing.sleep(until: clock.nanoseconds() &+ pause, clock: clock, sleeper: sleeper)
                    after(clock.nanoseconds())
                }
                continue
            }
            if let backoff { wait = min(wait ?? backoff, backoff) }
            collect(timeout: wait)
        }
        finishLoop(warming: warming, publishedCompleted: &publishedCompleted)
    }

    /// Runs one operation on `target` with its synchronous methods (the multiplexed loop's
    /// operations that have no single-request form); a read-modify-write records its halves.
    private func executeSynchronously<Clock: MonotonicClock>(_ operation: PlannedOperation, on target: any TargetSession,
                                                             clock: Clock) -> OperationStatus {
        switch operation.kind {
        case .read: return target.read(operation, verifier: nil)
        case .update: return target.update(operation)
        case .scan: return target.scan(operation)
        case .delete: return target.delete(operation)
        case .insert:
            let status = target.insert(operation)
            if phase == .run {
                do { try stream.acknowledgeInsert(operation.keyNumber) } catch { shared.fail(.workload(error)) }
            }
            return status
        case .readModifyWrite:
            var readPart = operation
            readPart.kind = .read
            var updatePart = operation
            updatePart.kind = .update
            let t0 = clock.nanoseconds()
            let readStatus = target.read(readPart, verifier: nil)
            let t1 = clock.nanoseconds()
            recorder.record(series: .read, nanos: t1 &- t0, status: readStatus)
            let updateStatus = target.update(updatePart)
            let t2 = clock.nanoseconds()
            recorder.record(series: .update, nanos: t2 &- t1, status: updateStatus)
            return readStatus.isSuccess ? updateStatus : readStatus
        }
    }

    /// The next operation to run: the load phase's next insert (nil when the load is done) or
    /// the run phase's next transaction.
    @inline(__always)
    private func nextOperation() -> PlannedOperation? {
        phase == .load ? stream.nextLoadOperation() : stream.nextTransactionOperation()
    }

    private func leaveWarmup(at time: UInt64) {
        cpuAtMeasurementStart = driver.cpuClock.threadCPUNanoseconds()
        cpuAtChunkStart = cpuAtMeasurementStart
        shared.measurementStart.withLock { $0 = min($0 ?? time, time) }
    }

    @inline(never)
    private func closeCPUChunk() {
        guard let begin = cpuAtChunkStart, let now = driver.cpuClock.threadCPUNanoseconds() else { return }
        cpuChunkNanoseconds.append(now &- min(begin, now))
        cpuAtChunkStart = now
    }

    /// The end of every loop (one at a time, pipelined, multiplexed): the thread's CPU time, the
    /// last status interval, and the measurement start of a thread that never left warm-up.
    private func finishLoop(warming: Bool, publishedCompleted: inout UInt64) {
        finishCPUMeasurement(warming: warming)
        if statusNanos > 0 { publishInterval(&publishedCompleted) }
        if warming { leaveWarmup(at: driver.clock.nanoseconds()) }
    }

    /// Takes the CPU time of the measured loop; a thread still warming up measured nothing (0).
    private func finishCPUMeasurement(warming: Bool) {
        guard !warming else {
            measuredCPUNanoseconds = 0
            return
        }
        guard let begin = cpuAtMeasurementStart, let end = driver.cpuClock.threadCPUNanoseconds() else { return }
        measuredCPUNanoseconds = end &- min(begin, end)
    }

    private func publishInterval(_ publishedCompleted: inout UInt64) {
        let snapshot = recorder.takeIntervalSnapshot()
        let completed = warmupOperations + measuredOperations
        let delta = completed - publishedCompleted
        // The count goes in under the snapshot's lock: the status reporter reads both under it, so
        // a line's operation count and its histograms cover the same operations.
        shared.pendingSnapshot.withLock { pending in
            pending.merge(snapshot)
            shared.completed.add(delta, ordering: .relaxed)
        }
        publishedCompleted = completed
    }
}

/// Nanoseconds from `start` to `end`, or 0 when `end` reads earlier than `start` (a TSC read on
/// a CPU whose counter lags the first one's by a few ticks after a migration): a wrapped
/// difference would record a latency of centuries.
@inline(__always)
func elapsedNanos(_ end: UInt64, since start: UInt64) -> UInt64 {
    end > start ? end &- start : 0
}
