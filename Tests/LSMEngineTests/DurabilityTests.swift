// The durability policies under power loss and process crashes (fault-injecting file system),
// and close/reopen after every kind of injected fault.

import Foundation
import KVCore
import KVStorage
import Synchronization
import Testing
@testable import LSMEngine

@Suite("LSM durability policies")
struct DurabilityTests {
    enum Op: Sendable { case put([UInt8], [UInt8]), delete([UInt8]), batch([([UInt8], [UInt8]?)]) }

    /// The writes a writer thread issued, and how many were acknowledged (guarded by `lock`).
    final class Journal: @unchecked Sendable {
        let lock = Lock()
        var issued: [Op] = []
        var acknowledged = 0
    }

    static func apply(_ op: Op, to state: inout [[UInt8]: [UInt8]]) {
        switch op {
        case let .put(k, v): state[k] = v
        case let .delete(k): state[k] = nil
        case let .batch(entries): for (k, v) in entries { state[k] = v }
        }
    }

    /// The recovered state must be the state after some prefix of `issued` at least `minimum` long.
    /// - Returns: the prefix length, or nil (and the nearest description) if none matches.
    static func matchingPrefix(_ recovered: [[UInt8]: [UInt8]], issued: [Op], minimum: Int) -> Int? {
        var state: [[UInt8]: [UInt8]] = [:]
        for op in issued.prefix(minimum) { apply(op, to: &state) }
        if state == recovered { return minimum }
        var length = minimum
        for op in issued.dropFirst(minimum) {
            apply(op, to: &state)
            length += 1
            if state == recovered { return length }
        }
        return nil
    }

    static func contents(_ engine: LSMEngine) throws -> [[UInt8]: [UInt8]] {
        var state: [[UInt8]: [UInt8]] = [:]
        for pair in try engine.scan(from: [], limit: .max) { state[pair.key] = pair.value }
        return state
    }

    /// Random puts, deletes and batches over a small key space, until the engine fails.
    static func write(_ engine: LSMEngine, _ journal: Journal, seed: UInt64, limit: Int) {
        var rng = SeededRandom(seed: seed)
        let keys = (0..<120).map { Array("key-\($0)".utf8) }
        for n in 0..<limit {
            let op: Op
            switch rng.next(below: 10) {
            case 0: op = .delete(keys[Int(rng.next(below: 120))])
            case 1: op = .batch((0..<3).map { _ in (keys[Int(rng.next(below: 120))], rng.next(below: 4) == 0 ? nil : Array("b\(n)".utf8)) })
            default: op = .put(keys[Int(rng.next(below: 120))], Array("v\(n)-".utf8) + [UInt8](repeating: UInt8(n % 251), count: Int(rng.next(below: 200))))
            }
            journal.lock.withLock { journal.issued.append(op) }
            do {
                switch op {
                case let .put(k, v): try engine.put(k, v)
                case let .delete(k): try engine.delete(k)
                case let .batch(entries):
                    var batch = WriteBatch()
                    for (k, v) in entries { if let v { batch.put(k, v) } else { batch.delete(k) } }
                    try engine.write(batch, options: WriteOptions())
                }
            } catch {
                return
            }
            journal.lock.withLock { journal.acknowledged = n + 1 }
        }
    }

    @Test("durability=always: after a power loss at a random moment, every acknowledged write is there (many seeds)")
    func alwaysSurvivesPowerLoss() throws {
        let base = LSMTest.seed(0xA1A7, "alwaysSurvivesPowerLoss")
        for seed in base..<(base + 16) {
            var rng = SeededRandom(seed: seed)
            let fs = FaultInjectingFileSystem()
            var options = LSMTest.options(fs, memtable: 4 << 10 + Int(rng.next(below: 8 << 10)))
            options.durability = .always
            let engine = try LSMEngine(options: options)
            let journal = Journal()
            let writerSeed = rng.next()
            let writer = Thread { Self.write(engine, journal, seed: writerSeed, limit: 5000) }
            writer.start()
            // The power goes at a random moment while the writer (and the background thread) run.
            let target = 20 + Int(rng.next(below: 400))
            _ = ReviewDefectTests.eventually { journal.lock.withLock { journal.acknowledged >= target } }
            if rng.next(below: 2) == 0 { fs.crash(independentWritesWith: &rng) } else { fs.crash(tearingWith: &rng) }
            engine.abandon()
            _ = ReviewDefectTests.eventually { writer.isFinished }
            let (issued, acknowledged) = journal.lock.withLock { (journal.issued, journal.acknowledged) }
            let reopened: LSMEngine
            do { reopened = try LSMEngine(options: options) } catch {
                Issue.record("seed \(seed) (replay with KVLAB_SEED=\(seed)): no open after the power loss: \(error)")
                continue
            }
            let recovered = try Self.contents(reopened)
            #expect(Self.matchingPrefix(recovered, issued: issued, minimum: acknowledged) != nil,
                    "seed \(seed) (replay with KVLAB_SEED=\(seed)): the recovered state is not the state after the \(acknowledged) acknowledged writes (or one more in flight)")
            try reopened.checkInvariants()
            try reopened.close()
        }
    }

    @Test("durability=periodic: a power loss loses at most the writes after the last background fsync, and those as a suffix")
    func periodicLosesAtMostTheInterval() throws {
        let base = LSMTest.seed(0x9E71, "periodicLosesAtMostTheInterval")
        var lostSome = 0
        for seed in base..<(base + 12) {
            var rng = SeededRandom(seed: seed)
            let fs = FaultInjectingFileSystem()
            // The background thread's timer never fires on its own here: the test fires it
            // (`syncLogInBackground`, the timer's body) at chosen moments.
            var options = LSMTest.options(fs, memtable: 64 << 10)
            options.durability = .periodic(intervalMilliseconds: 3_600_000)
            let engine = try LSMEngine(options: options)
            let journal = Journal()
            var syncedBefore = 0
            let rounds = 1 + Int(rng.next(below: 4))
            var n = 0
            for round in 0..<rounds {
                let count = 1 + Int(rng.next(below: 300))
                for _ in 0..<count {
                    let key = Array("key-\(rng.next(below: 200))".utf8)
                    let op = Op.put(key, Array("r\(round)-\(n)".utf8))
                    journal.issued.append(op)
                    try engine.put(key, Array("r\(round)-\(n)".utf8))
                    n += 1
                }
                if round < rounds - 1 || rng.next(below: 3) == 0 {
                    #expect(!engine.syncLogInBackground(), "seed \(seed): the background fsync failed")
                    syncedBefore = n
                }
            }
            engine.abandon()
            fs.crash(independentWritesWith: &rng)
            let reopened = try LSMEngine(options: options)
            let recovered = try Self.contents(reopened)
            let prefix = Self.matchingPrefix(recovered, issued: journal.issued, minimum: syncedBefore)
            #expect(prefix != nil, "seed \(seed) (replay with KVLAB_SEED=\(seed)): writes before the last background fsync (\(syncedBefore) of \(n)) are missing, or the rest is no prefix")
            if let prefix, prefix < n { lostSome += 1 }
            try reopened.close()
        }
        // Writes after the last fsync are at risk and some runs do lose them (else the test shows nothing).
        #expect(lostSome > 0)
    }

    @Test("durability=periodic: the background thread fsyncs the log on its own within its interval")
    func periodicThreadSyncs() throws {
        let fs = FaultInjectingFileSystem()
        var options = LSMTest.options(fs, memtable: 4 << 20)
        options.durability = .periodic(intervalMilliseconds: 10)
        let engine = try LSMEngine(options: options)
        for i in 0..<50 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        let log = try #require(try fs.list("/db").first { $0.hasSuffix(".log") })
        let written = try #require(fs.contents(of: "/db/" + log))
        #expect(ReviewDefectTests.eventually { fs.durableContents(of: "/db/" + log) == written },
                "the log was not fsynced by the background thread")
        try engine.close()
    }

    @Test("a process crash loses nothing acknowledged under periodic and always, and does lose writes under buffered",
          arguments: ["always", "periodic", "buffered"])
    func processCrash(policy: String) throws {
        let fs = FaultInjectingFileSystem()
        var options = LSMTest.options(fs, memtable: 32 << 10)
        options.durability = try EngineOptions(["durability": policy, "sync-interval": "3600000"]).durabilityPolicy(engine: "lsm")
        let engine = try LSMEngine(options: options)
        let count = 700
        for i in 0..<count { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        // The process dies: what it handed the OS stays, what it kept in user space does not.
        engine.abandon()
        fs.processCrash()
        let reopened = try LSMEngine(options: options)
        let missing = try (0..<count).filter { try reopened.get(LSMTest.key($0)) != LSMTest.value($0, version: 0) }
        if policy == "buffered" {
            #expect(!missing.isEmpty, "buffered lost nothing: the test did not leave writes in the buffer")
            #expect(missing == Array((count - missing.count)..<count), "buffered lost more than a suffix")
        } else {
            #expect(missing.isEmpty, "\(policy): \(missing.count) acknowledged writes lost to a process crash")
        }
        try reopened.close()
    }

    @Test("after each kind of injected fault the engine fails cleanly, closes, and reopens (no crash) with every acknowledged write",
          arguments: ["log write", "log fsync", "table fsync", "manifest fsync", "directory fsync", "remove", "rename at open"])
    func closeAndReopenAfterFault(fault: String) throws {
        let base = LSMTest.seed(0xFA17, "closeAndReopenAfterFault")
        for seed in base..<(base + 4) {
            var rng = SeededRandom(seed: seed)
            let fs = FaultInjectingFileSystem()
            var options = LSMTest.options(fs, memtable: 8 << 10)
            options.durability = rng.next(below: 2) == 0 ? .always : .periodic(intervalMilliseconds: 3_600_000)
            let skip = Int(rng.next(below: 6))
            var engine: LSMEngine
            if fault == "rename at open" {
                try LSMEngine(options: options).close()
                fs.inject(.rename)
                #expect(throws: EngineError.self) { try LSMEngine(options: options) }
                engine = try LSMEngine(options: options)     // the fault was once only
            } else {
                engine = try LSMEngine(options: options)
                switch fault {
                case "log write": fs.inject(.write, skip: skip * 20, where: { $0.hasSuffix(".log") })
                case "log fsync": fs.inject(.sync, skip: skip, where: { $0.hasSuffix(".log") })
                case "table fsync": fs.inject(.sync, skip: skip, where: { $0.hasSuffix(".sst") })
                case "manifest fsync": fs.inject(.sync, skip: skip, where: { $0.contains("MANIFEST-") })
                case "directory fsync": fs.inject(.syncDirectory, skip: skip)
                default: fs.inject(.remove, skip: skip, times: nil)
                }
            }
            var acknowledged = 0
            for i in 0..<1500 {
                do { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) } catch { break }
                acknowledged = i + 1
            }
            engine.waitForBackgroundWork()
            try? engine.close()
            fs.clearFaults()
            let reopened = try LSMEngine(options: options)
            for i in 0..<acknowledged where try reopened.get(LSMTest.key(i)) != LSMTest.value(i, version: 0) {
                Issue.record("\(fault), seed \(seed) (replay with KVLAB_SEED=\(seed)): acknowledged key \(i) of \(acknowledged) lost")
                break
            }
            try reopened.checkInvariants()
            // And it works on: more writes, a clean close, a clean open.
            try reopened.put(LSMTest.key(1_000_000), LSMTest.value(0, version: 9))
            try reopened.close()
            let again = try LSMEngine(options: options)
            #expect(try again.get(LSMTest.key(1_000_000)) == LSMTest.value(0, version: 9))
            #expect(again.recoveryEvents.isEmpty, "\(fault): a clean close left damage: \(again.recoveryEvents)")
            try again.close()
        }
    }
}
