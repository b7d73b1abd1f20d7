// The multiplexed loop against a session that never answers, in virtual time: waits bounded by the time limit, in-flight operations abandoned once.

import Driver
import Foundation
import Measurement
import Testing
import Workload

/// Four slots that never complete: `poll` advances the manual clock by the wait it is given (a
/// real poll would sleep that long) and notes it; `abandonInFlight` fails what is in flight.
final class StalledSession: MultiplexedTargetSession, SynchronousOperationsForbidden, @unchecked Sendable {
    let clock: ManualClock
    let slots = 4
    var inFlight: Set<Int> = []
    var submits = 0
    var waits: [UInt64?] = []
    var abandoned = 0
    var violations: [String] = []
    init(clock: ManualClock) { self.clock = clock }

    func submit(_ operation: PlannedOperation, slot: Int) -> Bool {
        if inFlight.contains(slot) { violations.append("submit on busy slot \(slot)") }
        inFlight.insert(slot)
        submits += 1
        return true
    }
    func poll(into completions: inout [MultiplexedCompletion], timeoutNanos: UInt64?) {
        waits.append(timeoutNanos)
        guard !inFlight.isEmpty else { return }
        // An unbounded poll here would be the I/O timeout (30 s) of a real session.
        clock.advance(timeoutNanos ?? 30_000_000_000)
    }
    func abandonInFlight(into completions: inout [MultiplexedCompletion]) {
        for slot in inFlight.sorted() { completions.append(MultiplexedCompletion(slot: slot, status: .error)) }
        abandoned += inFlight.count
        inFlight.removeAll()
    }
    func idleSession(forSlot slot: Int) -> (any TargetSession)? { inFlight.contains(slot) ? nil : self }
}

final class StalledTarget: DriverTarget, @unchecked Sendable {
    let session: StalledSession
    init(clock: ManualClock) { session = StalledSession(clock: clock) }
    var description: String { "stalled fake" }
    var supportsOrderedScan: Bool { true }
    func makeSession(thread: Int) throws(DriverError) -> any TargetSession { session }
}

@Suite("multiplexed loop against a stalled server")
struct MultiplexedStallTests {
    @Test("no poll waits past the time limit or the next status interval; 0.5 s after the limit the 4 operations in flight are recorded once as ERROR")
    func stalledTimeLimit() throws {
        let clock = ManualClock()
        let start = clock.nanoseconds()
        let target = StalledTarget(clock: clock)
        let properties = ["recordcount": "100", "readproportion": "0.5", "updateproportion": "0.5", "writeallfields": "true",
                          "threadcount": "1", "seed": "7", "operationcount": "100000000", "maxexecutiontime": "3",
                          "status.interval": "1"]
        let configuration = try CoreWorkloadConfiguration(properties: WorkloadProperties(properties))
        var driverConfiguration = DriverConfiguration(phase: .run, workload: configuration)
        driverConfiguration.recordsIntervalLog = true
        let driver = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                            configuration: driverConfiguration, clock: clock)
        let outcome = try driver.run(metadata: RunMetadata(kvlabVersion: "test", engine: "fake", threads: 1, startTime: Date(),
                                                           machineCores: 2, phase: .run))
        let session = target.session
        #expect(session.violations.isEmpty, "\(session.violations)")
        #expect(outcome.stoppedByTimeLimit)
        #expect(session.submits == 4)
        #expect(session.abandoned == 4)
        #expect(outcome.result.operations == 4)
        let statuses = outcome.result.series.filter { $0.name == "READ" || $0.name == "UPDATE" }
            .reduce(into: [String: UInt64]()) { total, s in for (k, v) in s.returns { total[k, default: 0] += v } }
        #expect(statuses == ["ERROR": 4], "\(statuses)")
        // Every wait was bounded, and by at most a status interval (1 s).
        #expect(session.waits.allSatisfy { $0 != nil && $0! <= 1_000_000_000 }, "\(session.waits)")
        // Virtual time: the run ended 0.5 s after the 3 s limit, not after a 30 s I/O timeout.
        let ended = clock.nanoseconds() - start
        #expect(ended >= 3_500_000_000 && ended < 3_600_000_000, "ended after \(ended) ns")
        // Polls: one per status interval, one at the limit, one at the end of the drain; no spin.
        #expect(session.waits.count <= 8, "\(session.waits.count) polls")
    }
}
