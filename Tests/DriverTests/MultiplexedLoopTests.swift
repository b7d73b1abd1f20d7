// The driver's event loop over a multiplexed session whose replies arrive out of order, in virtual time.

import Driver
import Foundation
import KVCore
import Measurement
import Synchronization
import Testing
import Workload

/// A clock only the fake session moves.
final class ManualClock: MonotonicClock, @unchecked Sendable {
    let now = Atomic<UInt64>(1_000_000_000)
    func nanoseconds() -> UInt64 { now.load(ordering: .relaxed) }
    func advance(_ nanos: UInt64) { now.add(nanos, ordering: .relaxed) }
}

/// Four slots; each poll advances the clock by (slot + 1) µs and completes the highest busy slot,
/// so slot 3 answers before slot 0, and the low slots wait until the drain. It notes every
/// submission and completion and the latency each completed operation should be recorded with.
final class OutOfOrderSession: MultiplexedTargetSession, SynchronousOperationsForbidden, @unchecked Sendable {
    let clock: ManualClock
    let slots = 4
    var submittedAt = [UInt64?](repeating: nil, count: 4)
    var submits = 0
    var order: [Int] = []
    var latencies: [UInt64] = []
    var violations: [String] = []
    init(clock: ManualClock) { self.clock = clock }

    func submit(_ operation: PlannedOperation, slot: Int) -> Bool {
        if !(0..<slots).contains(slot) || submittedAt[slot] != nil { violations.append("submit on busy or unknown slot \(slot)") }
        submittedAt[slot] = clock.nanoseconds()
        submits += 1
        return true
    }
    func poll(into completions: inout [MultiplexedCompletion], timeoutNanos: UInt64?) {
        guard let slot = (0..<slots).last(where: { submittedAt[$0] != nil }) else { return }
        clock.advance(UInt64(slot + 1) * 100_000)
        latencies.append(clock.nanoseconds() - submittedAt[slot]!)
        submittedAt[slot] = nil
        order.append(slot)
        completions.append(MultiplexedCompletion(slot: slot, status: .ok))
    }
    func idleSession(forSlot slot: Int) -> (any TargetSession)? { submittedAt[slot] == nil ? self : nil }
}

/// A fake multiplexed session on which the loop must never run an operation synchronously:
/// each such call is recorded in `violations` (scans are not implemented, as for memcached).
protocol SynchronousOperationsForbidden: AnyObject, TargetSession {
    var violations: [String] { get set }
}

extension SynchronousOperationsForbidden {
    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus { violations.append("synchronous read"); return .error }
    func update(_ operation: PlannedOperation) -> OperationStatus { violations.append("synchronous update"); return .error }
    func insert(_ operation: PlannedOperation) -> OperationStatus { violations.append("synchronous insert"); return .error }
    func scan(_ operation: PlannedOperation) -> OperationStatus { .notImplemented }
    func delete(_ operation: PlannedOperation) -> OperationStatus { violations.append("synchronous delete"); return .error }
    func close() {}
}

final class OutOfOrderTarget: DriverTarget, @unchecked Sendable {
    let session: OutOfOrderSession
    init(clock: ManualClock) { session = OutOfOrderSession(clock: clock) }
    var description: String { "out-of-order fake" }
    var supportsOrderedScan: Bool { true }
    func makeSession(thread: Int) throws(DriverError) -> any TargetSession { session }
}

@Suite("multiplexed event loop")
struct MultiplexedLoopTests {
    func run(_ overrides: [String: String], cpuClock: any ThreadCPUClock = SystemThreadCPUClock()) throws -> (DriverOutcome, OutOfOrderSession) {
        let clock = ManualClock()
        let target = OutOfOrderTarget(clock: clock)
        var properties = ["recordcount": "100", "readproportion": "0.5", "updateproportion": "0.5", "writeallfields": "true",
                          "threadcount": "1", "seed": "7"]
        properties.merge(overrides) { $1 }
        let configuration = try CoreWorkloadConfiguration(properties: WorkloadProperties(properties))
        let driver = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                            configuration: DriverConfiguration(phase: .run, workload: configuration), clock: clock,
                            cpuClock: cpuClock)
        let outcome = try driver.run(metadata: RunMetadata(kvlabVersion: "test", engine: "fake", threads: 1, startTime: Date(),
                                                           machineCores: 2, phase: .run))
        return (outcome, target.session)
    }

    /// The recorded service-time histograms (READ and UPDATE) merged: count, min, max, mean in ns.
    func recorded(_ outcome: DriverOutcome) -> (totalCount: UInt64, min: UInt64, max: UInt64, mean: Double) {
        var merged = LatencyHistogram.make()
        for series in outcome.result.series where series.name == "READ" || series.name == "UPDATE" { merged.add(series.histogram) }
        return (merged.totalCount, merged.min, merged.max, merged.mean)
    }

    @Test("replies out of order (slot 3 before slot 0) are each recorded once with their own latency, and operationcount is exact")
    func outOfOrder() throws {
        let (outcome, session) = try run(["operationcount": "103"])
        #expect(session.violations.isEmpty, "\(session.violations)")
        #expect(session.order.first == 3)
        #expect(session.order.firstIndex(of: 3)! < session.order.firstIndex(of: 0)!)
        #expect(session.submits == 103)
        #expect(session.latencies.count == 103)
        #expect(session.submittedAt.allSatisfy { $0 == nil }, "operations left in flight")
        #expect(outcome.result.operations == 103)
        let histogram = recorded(outcome)
        #expect(histogram.totalCount == 103)
        // Slot 3 answers in 400 µs each time; slot 0 waited for the whole run (drained last).
        let expectedMin = session.latencies.min()!, expectedMax = session.latencies.max()!
        #expect(expectedMin == 400_000)
        #expect(expectedMax > 100 * 400_000)
        #expect(histogram.min <= expectedMin && Double(histogram.min) >= Double(expectedMin) * 0.99)
        #expect(Double(histogram.max) >= Double(expectedMax) * 0.99 && Double(histogram.max) <= Double(expectedMax) * 1.01)
        let mean = Double(session.latencies.reduce(0, +)) / Double(session.latencies.count)
        #expect(abs(histogram.mean - mean) <= mean * 0.01, "recorded mean \(histogram.mean) ns, expected \(mean)")
    }

    @Test("a stop by time limit drains the operations in flight: every submitted operation is recorded exactly once")
    func timeLimit() throws {
        let (outcome, session) = try run(["operationcount": "100000000", "maxexecutiontime": "1"])
        #expect(session.violations.isEmpty, "\(session.violations)")
        #expect(outcome.stoppedByTimeLimit)
        #expect(session.submittedAt.allSatisfy { $0 == nil }, "operations left in flight")
        // ~1 s of virtual time at 400 µs per completion, plus the drain.
        #expect(session.submits > 2000)
        #expect(session.latencies.count == session.submits)
        #expect(outcome.result.operations == UInt64(session.submits))
        #expect(recorded(outcome).totalCount == UInt64(session.submits))
    }

    @Test("the multiplexed loop records its thread's CPU time and chunks, as the other loops do")
    func recordsCPUTime() throws {
        let (outcome, _) = try run(["operationcount": "5000"], cpuClock: SteppingCPUClock())
        #expect(outcome.result.operations == 5000)
        #expect((outcome.result.threadCPUNanoseconds ?? 0) > 0)
        #expect(outcome.result.cpuChunkNanoseconds?.count == 5000 / Int(RunResult.cpuChunkOperations))
    }
}
