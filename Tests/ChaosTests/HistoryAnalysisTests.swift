// The chaos analysis on small hand-built histories: per-second figures, lost writes, verdicts, split brain.

import Chaos
import History
import Testing

/// Seconds to nanoseconds on the test histories' clock (run start = 0).
private func s(_ seconds: Double) -> Int64 { Int64(seconds * 1e9) }

private func event(_ kind: Event.Kind, _ process: Int, _ function: String, key: String, _ value: Value, at time: Double) -> Event {
    Event(kind, process: process, function: function, key: .string(key), value: value, time: s(time))
}

@Suite("Chaos history analysis")
struct HistoryAnalysisTests {
    @Test("per-second counts follow completion times and latency percentiles come from ok operations only")
    func perSecondCountsAndLatency() throws {
        let history = History(events: [
            event(.invoke, 0, "write", key: "a", .integer(1), at: 0.1),
            event(.ok, 0, "write", key: "a", .integer(1), at: 0.11),          // 10 ms, second 0
            event(.invoke, 1, "write", key: "a", .integer(2), at: 0.5),
            event(.info, 1, "write", key: "a", .integer(2), at: 1.5),         // info, second 1
            event(.invoke, 0, "read", key: "a", .null, at: 2.2),
            event(.fail, 0, "read", key: "a", .null, at: 3.3),                // fail, second 3
            event(.invoke, 0, "read", key: "a", .null, at: 3.4),
            event(.ok, 0, "read", key: "a", .integer(1), at: 3.43),           // 30 ms, second 3
            event(.invoke, 2, "read", key: "a", .null, at: 3.5),              // never completes
        ])
        let (seconds, totals) = try HistoryAnalysis.perSecond(history, startTime: 0)
        #expect(seconds.map(\.second) == [0, 1, 2, 3])
        #expect(seconds.map(\.ok) == [1, 0, 0, 1])
        #expect(seconds.map(\.info) == [0, 1, 0, 0])
        #expect(seconds.map(\.fail) == [0, 0, 0, 1])
        #expect(seconds[0].p50Milliseconds == 10)
        #expect(seconds[1].p50Milliseconds == nil)
        #expect(seconds[3].p99Milliseconds == 30)
        #expect(totals.operations == 5 && totals.ok == 2 && totals.fail == 1 && totals.info == 1 && totals.pending == 1)
        #expect(totals.p99Milliseconds == 30)
    }

    @Test("an acknowledged add missing from its key's final read is lost, with its key and times")
    func lostWritesCarryKeyAndTimes() throws {
        let history = History(events: [
            event(.invoke, 0, "add", key: "s1", .integer(1), at: 0.1),
            event(.ok, 0, "add", key: "s1", .integer(1), at: 0.2),
            event(.invoke, 1, "add", key: "s2", .integer(2), at: 0.3),
            event(.ok, 1, "add", key: "s2", .integer(2), at: 0.4),
            event(.invoke, 0, "add", key: "s1", .integer(3), at: 1.0),
            event(.ok, 0, "add", key: "s1", .integer(3), at: 1.25),
            event(.invoke, 1, "add", key: "s2", .integer(4), at: 1.3),
            event(.info, 1, "add", key: "s2", .integer(4), at: 2.3),
            event(.invoke, 0, "read", key: "s1", .null, at: 5),
            event(.ok, 0, "read", key: "s1", .set([.integer(1)]), at: 5.1),
            event(.invoke, 3, "read", key: "s2", .null, at: 5),
            event(.ok, 3, "read", key: "s2", .set([.integer(2), .integer(4)]), at: 5.1),
        ])
        let analysis = try HistoryAnalysis.analyse(history, startTime: 0, workload: .set)
        let set = try #require(analysis.set)
        #expect(set.validity == "invalid")
        #expect(set.lost == [LostWrite(key: "s1", element: "3", invokedAt: 1.0, acknowledgedAt: 1.25)])
        #expect(set.recovered == [ReadElement(key: "s2", element: "4")])
        #expect(set.unexpected.isEmpty)
        #expect(set.keys.map(\.validity) == ["invalid", "valid"])
        #expect(set.attempted == 4 && set.acknowledged == 3)
    }

    @Test("a set history whose final reads hold every acknowledged add is valid")
    func noLostWritesIsValid() throws {
        let history = History(events: [
            event(.invoke, 0, "add", key: "s1", .integer(1), at: 0.1),
            event(.ok, 0, "add", key: "s1", .integer(1), at: 0.2),
            event(.invoke, 0, "read", key: "s1", .null, at: 1),
            event(.ok, 0, "read", key: "s1", .set([.integer(1)]), at: 1.1),
        ])
        let set = try #require(try HistoryAnalysis.analyse(history, startTime: 0, workload: .set).set)
        #expect(set.validity == "valid")
        #expect(set.lost.isEmpty)
    }

    @Test("a register read that goes back to an older value after a newer one was read is a violation with a counterexample")
    func registerRollbackIsAViolation() throws {
        let history = History(events: [
            event(.invoke, 0, "write", key: "r1", .integer(1), at: 0.1),
            event(.ok, 0, "write", key: "r1", .integer(1), at: 0.2),
            event(.invoke, 0, "write", key: "r1", .integer(2), at: 0.3),
            event(.ok, 0, "write", key: "r1", .integer(2), at: 0.4),
            event(.invoke, 1, "read", key: "r1", .null, at: 0.5),
            event(.ok, 1, "read", key: "r1", .integer(2), at: 0.6),
            event(.invoke, 1, "read", key: "r1", .null, at: 0.7),
            event(.ok, 1, "read", key: "r1", .integer(1), at: 0.8),
            event(.invoke, 2, "write", key: "r2", .integer(7), at: 0.1),
            event(.ok, 2, "write", key: "r2", .integer(7), at: 0.2),
            event(.invoke, 2, "cas", key: "r2", .list([.integer(7), .integer(8)]), at: 0.3),
            event(.ok, 2, "cas", key: "r2", .list([.integer(7), .integer(8)]), at: 0.4),
        ])
        let register = try #require(try HistoryAnalysis.analyse(history, startTime: 0, workload: .register).register)
        #expect(register.verdict == "violation")
        #expect(register.keys.map(\.key) == ["r1", "r2"])
        #expect(register.keys.map(\.verdict) == ["violation", "linearizable"])
        let counterexample = register.keys[0].counterexample
        #expect(!counterexample.isEmpty)
        #expect(counterexample.contains { $0.operation.contains("read r1 -> 1") })
        #expect(counterexample.allSatisfy { $0.invokedAt != nil && $0.completedAt != nil })
    }

    @Test("overlapping primary claims form a split-brain window that counts the writes acknowledged and lost in it")
    func splitBrainWindow() throws {
        let history = History(events: [
            event(.invoke, 0, "add", key: "s", .integer(1), at: 0.5),
            event(.ok, 0, "add", key: "s", .integer(1), at: 0.6),
            event(.invoke, 0, "add", key: "s", .integer(2), at: 2.5),
            event(.ok, 0, "add", key: "s", .integer(2), at: 2.6),
            event(.invoke, 1, "add", key: "s", .integer(3), at: 2.7),
            event(.ok, 1, "add", key: "s", .integer(3), at: 2.8),
            event(.invoke, 0, "read", key: "s", .null, at: 6),
            event(.ok, 0, "read", key: "s", .set([.integer(1), .integer(3)]), at: 6.1),
        ])
        let roles = [
            RoleSample(time: s(1), node: "n1", isPrimary: true), RoleSample(time: s(1), node: "n2", isPrimary: false),
            RoleSample(time: s(2), node: "n1", isPrimary: true), RoleSample(time: s(2), node: "n2", isPrimary: true),
            RoleSample(time: s(3), node: "n1", isPrimary: true), RoleSample(time: s(3), node: "n2", isPrimary: true),
            RoleSample(time: s(4), node: "n1", isPrimary: false), RoleSample(time: s(4), node: "n2", isPrimary: true),
        ]
        let faults = [FaultWindow(kind: "partition-isolate-node", targets: ["n1"], start: 1.5, end: 4, detail: "")]
        let analysis = try HistoryAnalysis.analyse(history, startTime: 0, workload: .set, faults: faults, roles: roles)
        #expect(analysis.splitBrain.windows == [
            DualPrimaryWindow(start: 2, end: 4, primaries: ["n1", "n2"], acknowledgedWrites: 2, lostWrites: 1),
        ])
        #expect(analysis.splitBrain.dualPrimarySeconds == 2)
        #expect(analysis.faultLosses == [
            FaultLoss(kind: "partition-isolate-node", start: 1.5, end: 4, lostWrites: 1, firstLostOffset: 1.1, lastLostOffset: 1.1),
        ])
    }

    @Test("a write lost before any fault began is charged to the next fault with a negative offset")
    func lossBeforeTheFaultIsChargedToIt() {
        let lost = [LostWrite(key: "s", element: "9", invokedAt: 4.8, acknowledgedAt: 4.9)]
        let faults = [FaultWindow(kind: "kill", targets: ["n1"], start: 5, end: 8, detail: ""),
                      FaultWindow(kind: "kill", targets: ["n2"], start: 15, end: 18, detail: "")]
        let losses = HistoryAnalysis.faultLosses(faults, lost: lost)
        #expect(losses.map(\.lostWrites) == [1, 0])
        #expect(losses[0].firstLostOffset == -0.1)
    }

    @Test("an event without a time is an error naming its place")
    func eventWithoutTimeIsAnError() {
        let history = History(events: [Event(.invoke, process: 0, function: "read", key: .string("a"))])
        #expect(throws: HistoryError.self) { try HistoryAnalysis.perSecond(history, startTime: 0) }
    }
}
