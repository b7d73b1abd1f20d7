// Intended latency exceeds service time when the target stalls: coordinated omission, shown deterministically.

import Driver
import Foundation
import KVCore
import Measurement
import Synchronization
import Testing
import Workload

/// A clock that moves only when read (by `step`), when the fake store spends time, or when the
/// driver sleeps on it (it jumps to the deadline: no real time passes, so the run is deterministic).
final class SteppingClock: SleepingClock, @unchecked Sendable {
    let now = Atomic<UInt64>(1_000_000_000)
    let step: UInt64
    init(step: UInt64) { self.step = step }
    func nanoseconds() -> UInt64 { now.add(step, ordering: .relaxed).newValue }
    func spend(_ nanos: UInt64) { now.add(nanos, ordering: .relaxed) }
    func sleep(until deadline: UInt64) {
        var current = now.load(ordering: .relaxed)
        while current < deadline {
            let (exchanged, original) = now.compareExchange(expected: current, desired: deadline, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// A store whose every operation takes `service` ns of fake time, and operation `stallAt` takes `stall` more.
struct StallingTarget: DriverTarget {
    let clock: SteppingClock
    let service: UInt64
    let stallAt: Int
    let stall: UInt64
    var description: String { "stalling fake store" }
    var supportsOrderedScan: Bool { true }
    func makeSession(thread: Int) throws(DriverError) -> any TargetSession { Session(target: self) }

    final class Session: TargetSession {
        let target: StallingTarget
        var operations = 0
        init(target: StallingTarget) { self.target = target }
        func work() -> OperationStatus {
            operations += 1
            target.clock.spend(target.service + (operations == target.stallAt ? target.stall : 0))
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

@Suite("Intended latency")
struct IntendedLatencyTests {
    @Test("a 50 ms stall at a 1000 ops/s target shows in intended latency, not in service time")
    func stallShowsInIntendedLatency() throws {
        // The clock advances 300 µs per reading, so the driver's pacing reaches each 1 ms slot in a
        // few readings; a fake operation costs 20 µs and the 10th costs 50 ms more.
        let clock = SteppingClock(step: 300_000)
        let target = StallingTarget(clock: clock, service: 20_000, stallAt: 10, stall: 50_000_000)
        let properties = WorkloadProperties(["recordcount": "10", "operationcount": "100", "readproportion": "1",
                                             "updateproportion": "0", "threadcount": "1", "target": "1000"])
        let configuration = try CoreWorkloadConfiguration(properties: properties)
        let settings = DriverConfiguration(phase: .run, workload: configuration)
        let driver = Driver(workload: try CoreWorkload(configuration: configuration), target: target, configuration: settings,
                            clock: clock, wallClock: { Date(timeIntervalSince1970: 0) })
        let metadata = RunMetadata(kvlabVersion: "test", engine: "fake", threads: 1, startTime: Date(timeIntervalSince1970: 0),
                                   machineCores: 1, phase: .run)
        let result = try driver.run(metadata: metadata).result
        let service = try #require(result.series(named: "READ"))
        let intended = try #require(result.series(named: "Intended-READ"))
        #expect(service.operations == 100)
        #expect(intended.operations == 100)
        // Service time: the stalled operation itself is ~50 ms; every other one is under 1 ms.
        #expect(LatencyStatistics(service.histogram, percentiles: [90]).percentiles[0].value < 1_000_000)
        // Intended: the ~45 operations scheduled during the stall all waited; their latency counts from the schedule.
        let intendedP90 = LatencyStatistics(intended.histogram, percentiles: [90]).percentiles[0].value
        #expect(intendedP90 > 10_000_000)
        #expect(intended.histogram.max >= service.histogram.max)
        #expect(intended.histogram.mean > 5 * service.histogram.mean)
    }
}
