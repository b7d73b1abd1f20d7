// Per-thread start spreading and pacing through a clock that sleeps in virtual time.

import Driver
import Foundation
import Glibc
import KVCore
import Measurement
import Synchronization
import Testing
import Workload

/// A virtual clock with one timeline per OS thread: sleeping jumps the calling thread's time to the
/// deadline and the fake store adds its service time, so each driver thread sees exactly its own schedule.
final class PerThreadVirtualClock: SleepingClock, @unchecked Sendable {
    let base: UInt64 = 5_000_000_000
    let times = Mutex<[UInt: UInt64]>([:])
    private var key: UInt { UInt(pthread_self()) }
    func nanoseconds() -> UInt64 { let k = key; return times.withLock { $0[k, default: base] } }
    func sleep(until deadline: UInt64) { let k = key; times.withLock { $0[k] = max($0[k, default: base], deadline) } }
    func spend(_ nanos: UInt64) { let k = key; times.withLock { $0[k, default: base] += nanos } }
}

/// A fake store that notes, per driver thread, the virtual time of every operation it runs.
///
/// Each thread's last operation waits until every thread has reached its own last one, so all driver
/// threads are alive together and no thread id (the clock's timeline key) is reused by a later thread.
final class TimelineTarget: DriverTarget, @unchecked Sendable {
    let clock: PerThreadVirtualClock
    let perThread: Int
    let threads: Int
    let starts = Mutex<[Int: [UInt64]]>([:])
    let finished = Atomic<Int>(0)
    init(clock: PerThreadVirtualClock, perThread: Int, threads: Int) {
        self.clock = clock
        self.perThread = perThread
        self.threads = threads
    }
    var description: String { "timeline fake store" }
    var supportsOrderedScan: Bool { true }
    func makeSession(thread: Int) throws(DriverError) -> any TargetSession { Session(target: self, thread: thread) }

    final class Session: TargetSession {
        let target: TimelineTarget
        let thread: Int
        init(target: TimelineTarget, thread: Int) { self.target = target; self.thread = thread }
        func work() -> OperationStatus {
            let now = target.clock.nanoseconds() - target.clock.base
            let done = target.starts.withLock { starts in
                starts[thread, default: []].append(now)
                return starts[thread]!.count
            }
            target.clock.spend(10_000)
            if done == target.perThread {
                target.finished.add(1, ordering: .sequentiallyConsistent)
                // Bounded wait (at most ~20 s of real time) for the other threads' last operations.
                for _ in 0..<200_000 where target.finished.load(ordering: .sequentiallyConsistent) < target.threads { usleep(100) }
            }
            return .ok
        }
        func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus { work() }
        func update(_ operation: PlannedOperation) -> OperationStatus { work() }
        func insert(_ operation: PlannedOperation) -> OperationStatus { work() }
        func scan(_ operation: PlannedOperation) -> OperationStatus { work() }
        func delete(_ operation: PlannedOperation) -> OperationStatus { work() }
        func close() {}
    }
}

/// Runs `operations` reads on 4 threads at `target` ops/s in virtual time; returns each thread's operation start times.
func timelines(target rate: Int, operations: Int, seed: UInt64) throws -> [Int: [UInt64]] {
    let clock = PerThreadVirtualClock()
    let target = TimelineTarget(clock: clock, perThread: operations / 4, threads: 4)
    let properties = WorkloadProperties(["recordcount": "100", "operationcount": String(operations), "readproportion": "1",
                                         "updateproportion": "0", "threadcount": "4", "target": String(rate),
                                         "seed": String(seed)])
    let configuration = try CoreWorkloadConfiguration(properties: properties)
    let driver = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                        configuration: DriverConfiguration(phase: .run, workload: configuration), clock: clock)
    _ = try driver.run(metadata: RunMetadata(kvlabVersion: "test", engine: "fake", threads: 4, startTime: Date(),
                                             machineCores: 2, phase: .run))
    return target.starts.withLock { $0 }
}

@Suite("Pacing")
struct PacingTests {
    @Test("at 10 ops/s per thread each thread starts after its own seeded random delay below one tick, then keeps its tick")
    func lowRateThreadsStartSpread() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["KVLAB_SEED"] ?? "") ?? 42
        print("PacingTests seed \(seed) (replay with KVLAB_SEED=\(seed))")
        let tick: UInt64 = 100_000_000  // 4 threads at 40 ops/s: 10 ops/s each
        let starts = try timelines(target: 40, operations: 12, seed: seed)
        #expect(starts.count == 4)
        var firsts: [UInt64] = []
        for thread in 0..<4 {
            let times = try #require(starts[thread])
            #expect(times.count == 3)
            var random = SeededRandom(seed: ThreadStartSpread.seed(workloadSeed: seed, thread: thread))
            let delay = ThreadStartSpread.initialDelay(tickNanos: Double(tick), random: &random)
            #expect(delay < tick)
            // Operation i starts exactly at delay + i × tick on the thread's own timeline.
            #expect(times == [delay, delay + tick, delay + 2 * tick], "thread \(thread)")
            firsts.append(times[0])
        }
        // The threads do not fire together: four draws below 100 ms are all different.
        #expect(Set(firsts).count == 4, "first starts \(firsts)")
        // The same seed replays the same starts; another seed moves them.
        #expect(try timelines(target: 40, operations: 12, seed: seed) == starts)
        #expect(try timelines(target: 40, operations: 12, seed: seed &+ 1) != starts)
    }

    @Test("above 1000 ops/s per thread every thread starts at once, as YCSB's ClientThread does")
    func highRateThreadsStartTogether() throws {
        let starts = try timelines(target: 40_000, operations: 8, seed: 7)
        for thread in 0..<4 {
            // 10k ops/s per thread: a 100 µs tick from time 0.
            #expect(try #require(starts[thread]) == [0, 100_000], "thread \(thread)")
        }
    }

    @Test("the start delay is drawn only for ticks of at least 1 ms, and always below the tick")
    func initialDelayBounds() {
        var random = SeededRandom(seed: 1)
        #expect(ThreadStartSpread.initialDelay(tickNanos: 0, random: &random) == 0)
        #expect(ThreadStartSpread.initialDelay(tickNanos: 999_999, random: &random) == 0)
        for _ in 0..<1000 {
            #expect(ThreadStartSpread.initialDelay(tickNanos: 1_000_000, random: &random) < 1_000_000)
        }
    }
}
