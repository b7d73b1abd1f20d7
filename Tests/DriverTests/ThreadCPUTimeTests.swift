// The driver's per-thread CPU time: read around the measured loop and per chunk, from the injected CPU clock.

import Driver
import Foundation
import KVCore
import KVEngines
import Measurement
import Synchronization
import Testing
import Workload

/// A CPU clock that advances 1000 ns on every read, so the recorded times count the reads.
final class SteppingCPUClock: ThreadCPUClock {
    let reads = Atomic<UInt64>(0)
    func threadCPUNanoseconds() -> UInt64? { reads.add(1, ordering: .relaxed).newValue * 1_000 }
}

/// A CPU clock that cannot be read (a platform without thread CPU clocks).
struct UnreadableCPUClock: ThreadCPUClock {
    func threadCPUNanoseconds() -> UInt64? { nil }
}

@Suite("Thread CPU time")
struct ThreadCPUTimeTests {
    func run(operations: Int, warmup: Int = 0, cpuClock: any ThreadCPUClock) throws -> RunResult {
        var overrides = ["recordcount=100", "operationcount=\(operations)", "threadcount=1"]
        if warmup > 0 { overrides.append("warmupops=\(warmup)") }
        let configuration = try workloadConfiguration("workloadc", overrides)
        let target = InProcessTarget(engine: try StandardEngines.registry.open("hash"))
        _ = try Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                       configuration: DriverConfiguration(phase: .load, workload: configuration)).run(metadata: metadata(.load))
        let driver = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                            configuration: DriverConfiguration(phase: .run, workload: configuration), cpuClock: cpuClock)
        return try driver.run(metadata: metadata(.run)).result
    }

    @Test("a run records one CPU reading at the start, one per 2048-operation chunk and one at the end")
    func chunksFromInjectedClock() throws {
        // 5000 operations: reads at start (1000), after 2048 (2000), after 4096 (3000), at the end (4000).
        let result = try run(operations: 5_000, cpuClock: SteppingCPUClock())
        #expect(result.threadCPUNanoseconds == 3_000)
        #expect(result.cpuChunkNanoseconds == [1_000, 1_000])
        #expect(result.cpuChunkMedianNanosecondsPerOperation == 1_000.0 / 2048)
        #expect(result.cpuNanosecondsPerOperation == 3_000.0 / 5_000)
    }

    @Test("warm-up operations are outside the CPU measurement")
    func warmupExcluded() throws {
        // The warm-up's 3000 operations read no CPU clock; measurement starts when it ends.
        let result = try run(operations: 2_048, warmup: 3_000, cpuClock: SteppingCPUClock())
        #expect(result.operations == 2_048)
        #expect(result.cpuChunkNanoseconds == [1_000])
        #expect(result.threadCPUNanoseconds == 2_000)
    }

    @Test("a CPU clock that cannot be read leaves the result without CPU time")
    func unreadableClock() throws {
        let result = try run(operations: 3_000, cpuClock: UnreadableCPUClock())
        #expect(result.threadCPUNanoseconds == nil)
        #expect(result.cpuChunkNanoseconds == nil)
        #expect(result.cpuChunkMedianNanosecondsPerOperation == nil)
    }

    @Test("the system thread CPU clock advances while the thread computes")
    func systemClockAdvances() throws {
        let clock = SystemThreadCPUClock()
        let before = try #require(clock.threadCPUNanoseconds())
        var x: UInt64 = 1
        for i in 0..<2_000_000 { x = x &* 6364136223846793005 &+ UInt64(i) }
        let after = try #require(clock.threadCPUNanoseconds())
        #expect(after > before, "no CPU time counted over 2M multiplications (x=\(x))")
    }
}
