// Real crashes, for every persistent engine: `CrashTest` (the library of `kvlab crash-test`)
// runs a few cycles of a `kvlab crash-writer` child SIGKILLed at random moments, each recovery
// checked against the expected-values oracle; and the oracle itself on hand-made recoveries.

import CrashTesting
import Foundation
import KVCore
import KVEngines
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A persistent engine and the options its crash run uses (small memtables make the LSM flush
/// and compact while it is being killed).
struct PersistentEngine: Sendable, CustomTestStringConvertible {
    var name: String
    var options: [String: String]
    var testDescription: String { name }

    static let all = [
        PersistentEngine(name: "lsm", options: ["memtable-size": "64K"]),
        PersistentEngine(name: "btree", options: [:]),
    ]
}

@Suite("Crash safety: SIGKILL of a writing process")
struct ProcessCrashTests {
    static var kvlabExecutable: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("kvlab").path
    }

    static func seed() -> UInt64 {
        ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    }

    @Test("a few kill cycles under each durability policy recover a legal state: acknowledged writes kept, no deleted key back",
          arguments: PersistentEngine.all, [DurabilityPolicy.always, .periodic(intervalMilliseconds: 1000), .buffered])
    func killCyclesPassTheOracle(subject: PersistentEngine, policy: DurabilityPolicy) throws {
        let seed = Self.seed()
        print("\(subject.name) \(policy.name): seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var configuration = CrashTestConfiguration(engine: subject.name, durability: policy, durationSeconds: 20, maxCycles: 3, seed: seed,
                                                   executable: Self.kvlabExecutable, engineOptions: subject.options,
                                                   killDelayMilliseconds: 150...400)
        // A loaded machine can take longer than 400 ms to open the engine: every cycle must write.
        configuration.killAfterFirstAcknowledgement = true
        let summary = CrashTest(configuration: configuration).run()
        #expect(summary.failure == nil, "\(summary.failure.map { "\($0)" } ?? "")")
        #expect(summary.cycles == 3)
        #expect(summary.operations > 0, "no writer acknowledged anything in 3 cycles: the kill came before the engine opened")
    }
}

@Suite("The crash test's oracle")
struct CrashOracleTests {
    /// Finds operations of the stream with the wanted shape (the stream is a function of the seed).
    static func operations(seed: UInt64, count: Int) -> [CrashOperation] {
        (0..<count).map { CrashOperation.make(number: $0, seed: seed, keyCount: 50) }
    }

    static func recovered(_ state: ExpectedState) -> RecoveredState {
        var r = RecoveredState()
        r.values = state.values
        return r
    }

    static func state(after operations: ArraySlice<CrashOperation>) -> ExpectedState {
        var s = ExpectedState()
        for op in operations { s.apply(op) }
        return s
    }

    @Test("under periodic, a recovery missing the last acknowledged operation is illegal; with it, or with the one in flight, legal")
    func periodicNeedsEveryAcknowledgedOperation() {
        let ops = Self.operations(seed: 11, count: 41)
        // 40 acknowledged, the 41st in flight.
        let legal = CrashOracle.legalPrefixes(policy: .periodic(intervalMilliseconds: 1000), operations: ops, acknowledged: 40)
        #expect(legal == 40...41)
        for applied in [40, 41] {
            let verdict = CrashOracle.check(start: ExpectedState(), operations: ops, legal: legal, recovered: Self.recovered(Self.state(after: ops[..<applied])))
            #expect(verdict == .legal(appliedCount: applied, state: Self.state(after: ops[..<applied])))
        }
        // Find a prefix whose state differs from the full one (an operation that changed something).
        let lost = (0..<40).reversed().first { Self.state(after: ops[..<$0]) != Self.state(after: ops[..<40]) && Self.state(after: ops[..<$0]) != Self.state(after: ops[..<41]) }!
        let verdict = CrashOracle.check(start: ExpectedState(), operations: ops, legal: legal, recovered: Self.recovered(Self.state(after: ops[..<lost])))
        guard case .illegal(let message) = verdict else { Issue.record("a lost acknowledged write passed: \(verdict)"); return }
        #expect(message.contains("expected"))
    }

    @Test("under buffered, any prefix keeping the synced operations is legal; one that drops a synced operation is not")
    func bufferedKeepsSyncedOperations() {
        let ops = Self.operations(seed: 3, count: 200)
        let lastSynced = ops.prefix(150).lastIndex(where: \.synced)!
        let legal = CrashOracle.legalPrefixes(policy: .buffered, operations: Array(ops.prefix(151)), acknowledged: 150)
        #expect(legal == (lastSynced + 1)...151)
        let keep = lastSynced + 1 + (150 - lastSynced) / 2
        let verdict = CrashOracle.check(start: ExpectedState(), operations: Array(ops.prefix(151)), legal: legal,
                                        recovered: Self.recovered(Self.state(after: ops[..<keep])))
        guard case .legal = verdict else { Issue.record("a legal buffered prefix was refused: \(verdict)"); return }
        // Dropping the synced operation itself (if it changed the state) must be refused.
        let before = Self.state(after: ops[..<lastSynced])
        if (lastSynced...151).allSatisfy({ Self.state(after: ops[..<$0]) != before }) {
            let dropped = CrashOracle.check(start: ExpectedState(), operations: Array(ops.prefix(151)), legal: legal, recovered: Self.recovered(before))
            guard case .illegal = dropped else { Issue.record("a recovery without a synced write passed"); return }
        }
    }

    @Test("a deleted key that comes back, and a damaged value, are illegal")
    func resurrectedAndDamagedValuesAreIllegal() throws {
        let ops = Self.operations(seed: 5, count: 300)
        let full = Self.state(after: ops[...])
        // A key whose last operation deleted it, brought back with the value it held before.
        var resurrected: (key: Int, tag: ValueTag)?
        var history = ExpectedState()
        for op in ops {
            let before = history
            history.apply(op)
            for entry in op.entries {
                if case .delete(let key) = entry, let tag = before.values[key], full.values[key] == nil { resurrected = (key, tag) }
            }
        }
        let (key, tag) = try #require(resurrected)
        var back = Self.recovered(full)
        back.values[key] = tag
        let legal = CrashOracle.legalPrefixes(policy: .always, operations: ops, acknowledged: 300)
        guard case .illegal = CrashOracle.check(start: ExpectedState(), operations: ops, legal: legal, recovered: back) else {
            Issue.record("a deleted key came back unnoticed"); return
        }
        // A value with one flipped byte does not name its writer.
        var value = CrashOperation.value(operation: 7, index: 0, key: 3)
        #expect(value.withUnsafeBytes { CrashOperation.writer(of: $0, key: 3) } == ValueTag(operation: 7, index: 0))
        value[value.count - 1] ^= 1
        #expect(value.withUnsafeBytes { CrashOperation.writer(of: $0, key: 3) } == nil)
    }
}

@Suite("Persistent engines lock their directory")
struct DirectoryLockTests {
    @Test("a second engine on an open database is refused with a clear error; after close it opens",
          arguments: PersistentEngine.all)
    func secondOpenIsRefused(subject: PersistentEngine) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-lock-\(subject.name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let options = EngineOptions(["directory": dir])
        let first = try StandardEngines.registry.open(subject.name, options: options)
        try first.put([1], [2])
        do {
            let second = try StandardEngines.registry.open(subject.name, options: options)
            try? second.close()
            Issue.record("\(subject.name): a second engine opened the same directory")
        } catch {
            #expect("\(error)".contains("in use"), "\(error)")
            #expect("\(error)".contains("\(dir)/LOCK"), "\(error)")
        }
        try first.close()
        let again = try StandardEngines.registry.open(subject.name, options: options)
        #expect(try again.get([1]) == [2])
        try again.close()
    }
}
