// Crash safety: a fault-injecting file system cut at random points, and real SIGKILLs of a
// child process writing with sync: true.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import LSMEngine

@Suite("LSM crash safety")
struct CrashTests {
    enum Op { case put([UInt8], [UInt8]), delete([UInt8]) }

    @Test("after a crash at a random point every synced write is there, nothing deleted returns, the engine opens")
    func faultInjectedCrashes() throws {
        let seed = LSMTest.seed(0xC4A5, "faultInjectedCrashes")
        var rng = SeededRandom(seed: seed)
        let fs = FaultInjectingFileSystem()
        var model: [[UInt8]: [UInt8]] = [:]   // the state recovered by the last open
        // One round's operations, checked at the next open.
        var history: [Op] = []
        var syncedPrefix = 0
        var base: [[UInt8]: [UInt8]] = [:]
        let keys = (0..<150).map { Array("key-\($0)".utf8) }
        for round in 0..<40 {
            let engine: LSMEngine
            do {
                engine = try LSMEngine(options: LSMTest.options(fs, memtable: 4 << 10 + Int(rng.next(below: 16 << 10))))
            } catch {
                Issue.record("round \(round) (seed \(seed)): the engine did not open: \(error)")
                return
            }
            // The recovered state must equal the state after some prefix of the last round's
            // operations that includes every synced one.
            var recovered: [[UInt8]: [UInt8]] = [:]
            for pair in try engine.scan(from: [], limit: .max) { recovered[pair.key] = pair.value }
            try engine.checkInvariants()
            model = try Self.checkPrefix(recovered: recovered, base: base, history: history, syncedPrefix: syncedPrefix, round: round, seed: seed)
            // Faults for this round.
            switch rng.next(below: 4) {
            case 0: fs.failSync(after: 1 + Int(rng.next(below: 40)))
            case 1: fs.failWrites(afterBytes: Int(rng.next(below: 200_000)))
            default: break
            }
            history = []
            syncedPrefix = 0
            base = model
            let steps = 50 + Int(rng.next(below: 500))
            for _ in 0..<steps {
                let key = keys[Int(rng.next(below: UInt64(keys.count)))]
                let sync = rng.next(below: 8) == 0
                let op: Op = rng.next(below: 4) == 0 ? .delete(key) : .put(key, Array("v\(round)-\(rng.next(below: 1000))".utf8) + [UInt8](repeating: 7, count: Int(rng.next(below: 300))))
                history.append(op)
                do {
                    switch op {
                    case let .put(k, v): try engine.put(k, v, options: WriteOptions(sync: sync))
                    case let .delete(k): try engine.delete(k, options: WriteOptions(sync: sync))
                    }
                    if sync { syncedPrefix = history.count }
                } catch {
                    break  // a failed write may or may not be there; later ones are not attempted
                }
            }
            engine.abandon()
            fs.crash(tearingWith: &rng)
        }
    }

    private static func checkPrefix(recovered: [[UInt8]: [UInt8]], base: [[UInt8]: [UInt8]], history: [Op], syncedPrefix: Int,
                                    round: Int, seed: UInt64) throws -> [[UInt8]: [UInt8]] {
        var state = base
        func apply(_ op: Op) {
            switch op {
            case let .put(k, v): state[k] = v
            case let .delete(k): state[k] = nil
            }
        }
        for op in history.prefix(syncedPrefix) { apply(op) }
        if state == recovered { return recovered }
        for op in history.dropFirst(syncedPrefix) {
            apply(op)
            if state == recovered { return recovered }
        }
        var missing = 0, extra = 0
        var synced = base
        for op in history.prefix(syncedPrefix) {
            switch op { case let .put(k, v): synced[k] = v; case let .delete(k): synced[k] = nil }
        }
        for (k, v) in synced where recovered[k] != v { missing += 1 }
        for k in recovered.keys where synced[k] == nil { extra += 1 }
        Issue.record("round \(round) (seed \(seed); replay with KVLAB_SEED=\(seed)): recovered state is no prefix of the history that includes the \(syncedPrefix) synced operations of \(history.count): \(missing) keys differ from the synced state, \(extra) keys present that it lacks")
        return recovered
    }
}

@Suite("LSM torn log tail")
struct TornLogTests {
    @Test("a torn log tail is truncated on open, not fatal: synced writes stay and unsynced ones are a prefix")
    func tornTailTruncated() throws {
        var tornSeen = 0
        for seed in UInt64(1)...8 {
            let fs = FaultInjectingFileSystem()
            let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 4 << 20))
            for i in 0..<50 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0), options: .synced) }
            // Unsynced writes large enough to leave the log writer's buffer for the file.
            let big = [UInt8](repeating: 9, count: 1500)
            for i in 50..<250 { try engine.put(LSMTest.key(i), big) }
            engine.abandon()
            var rng = SeededRandom(seed: seed)
            fs.crash(tearingWith: &rng)
            let logName = try #require(try fs.list("/db").first { $0.hasSuffix(".log") })
            var reader = try LogReader(file: try fs.open("/db/" + logName, mode: .readOnly), checksumFailureAtEndIsTorn: true)
            while try reader.next() != nil {}
            if reader.tornTail != nil { tornSeen += 1 }

            let reopened = try LSMEngine(options: LSMTest.options(fs, memtable: 4 << 20))
            for i in 0..<50 { #expect(try reopened.get(LSMTest.key(i)) == LSMTest.value(i, version: 0), "seed \(seed) key \(i)") }
            let present = try (50..<250).map { try reopened.get(LSMTest.key($0)) != nil }
            let firstMissing = present.firstIndex(of: false) ?? present.count
            #expect(present[firstMissing...].allSatisfy { !$0 }, "seed \(seed): unsynced writes recovered out of order")
            try reopened.close()
            // The damaged log was replayed, written to a table and removed.
            #expect(!fs.exists("/db/" + logName))
        }
        #expect(tornSeen > 0, "no seed tore a record; the test did not exercise a torn tail")
    }
}
