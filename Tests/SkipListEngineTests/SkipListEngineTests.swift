// SkipListEngine through the KeyValueEngine contract: scans, deletes, batches, close.

import Foundation
import KVCore
import Synchronization
import Testing
@testable import SkipListEngine

@Suite("SkipListEngine")
struct SkipListEngineTests {
    @Test("the engine names itself skiplist and offers ordered scans and atomic batches")
    func identity() {
        let engine = SkipListEngine()
        #expect(engine.name == "skiplist")
        #expect(engine.capabilities == [.storesData, .orderedScan, .atomicBatch])
    }

    @Test("scan visits keys at or after the start in ascending order, up to the limit")
    func scanFromAndLimit() throws {
        let engine = SkipListEngine(seed: 1)
        for i in stride(from: 0, to: 100, by: 2) { try engine.put([UInt8(i)], [UInt8(i), 1]) }
        #expect(try engine.scan(from: [11], limit: 3).map(\.key) == [[12], [14], [16]])
        #expect(try engine.scan(from: [], limit: 2).map(\.key) == [[0], [2]])
        #expect(try engine.scan(from: [98], limit: 10).map(\.key) == [[98]])
        #expect(try engine.scan(from: [99], limit: 10).isEmpty)
        #expect(try engine.scan(from: [0], limit: 0).isEmpty)
        var seen: [[UInt8]] = []
        try [UInt8(50)].withBytes { (start) throws(EngineError) in
            try engine.scan(from: start, limit: 100) { key, _ in
                seen.append(Array(key))
                return seen.count < 4
            }
        }
        #expect(seen == [[50], [52], [54], [56]])
        #expect(try engine.scan(from: [], limit: .max).count == 50)
    }

    @Test("delete reports whether the key existed and count tracks live records")
    func deleteAndCount() throws {
        let engine = SkipListEngine()
        try engine.put([1], [10])
        try engine.put([2], [20])
        try engine.put([1], [11])
        #expect(engine.count == 2)
        #expect(try engine.get([1]) == [11])
        #expect(try engine.delete([1]))
        #expect(try !engine.delete([1]))
        #expect(try engine.get([1]) == nil)
        #expect(engine.count == 1)
        try engine.checkInvariants()
    }

    @Test("a write batch applies its puts and deletes in order")
    func batchInOrder() throws {
        let engine = SkipListEngine()
        try engine.put([9], [9])
        var batch = WriteBatch()
        batch.put([1], [1])
        batch.put([2], [2])
        batch.delete([1])
        batch.delete([9])
        batch.put([2], [3, 3])
        try engine.write(batch, options: .default)
        #expect(try engine.scan(from: [], limit: 10) == [KeyValuePair(key: [2], value: [3, 3])])
        try engine.checkInvariants()
    }

    @Test("after close every call throws closed, and closing again is fine")
    func closeSemantics() throws {
        let engine = SkipListEngine()
        try engine.put([1], [1])
        try engine.close()
        try engine.close()
        let closed = EngineError.closed(engine: "skiplist")
        #expect(throws: closed) { _ = try engine.get([1]) }
        #expect(throws: closed) { try engine.put([1], [2]) }
        #expect(throws: closed) { try engine.delete([1]) }
        #expect(throws: closed) { _ = try engine.scan(from: [], limit: 1) }
        #expect(throws: closed) { try engine.write(WriteBatch(), options: .default) }
        #expect(throws: closed) { try engine.flush() }
        #expect(throws: closed) { try engine.checkInvariants() }
        #expect(engine.memoryUsage == (0, 0))
    }

    @Test("memory usage grows with records and returns to zero when they are deleted")
    func memoryUsage() throws {
        let engine = SkipListEngine()
        #expect(engine.memoryUsage.bytesInUse == 0)
        for i in 0..<1000 { try engine.put(withUnsafeBytes(of: UInt32(i)) { Array($0) }, [UInt8](repeating: 0, count: 100)) }
        let used = engine.memoryUsage
        #expect(used.bytesInUse >= 1000 * 104 && used.bytesInUse <= used.bytesReserved)
        for i in 0..<1000 { try engine.delete(withUnsafeBytes(of: UInt32(i)) { Array($0) }) }
        #expect(engine.memoryUsage.bytesInUse == 0)
    }
}

@Suite("SkipListEngine versions")
struct SkipListEngineVersionTests {
    @Test("a search by user key and snapshot lands on the node a search by the built versioned key finds")
    func probeSearchAgreesWithComparatorSearch() {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let list = SkipList(comparator: VersionedKeyComparator(), random: SeededRandom(seed: seed ^ 1))
        // Short keys over a two-letter alphabet: many shared prefixes, empty keys, and several
        // versions (values and tombstones) per user key.
        func randomKey() -> [UInt8] {
            (0..<Int(random.next(below: 4))).map { _ in UInt8(97 + random.next(below: 2)) }
        }
        for _ in 0..<400 {
            let key = randomKey()
            let sequence = 1 + random.next(below: 50)
            let isDeletion = random.next(below: 4) == 0
            key.withUnsafeBytes { user in
                VersionedKey.with(user, sequence: sequence, isDeletion: isDeletion) { versioned in
                    _ = list.insert(versioned, UnsafeRawBufferPointer(start: nil, count: 0))
                }
            }
        }
        var mismatches = 0
        for step in 0..<2_000 {
            let key = randomKey()
            let sequence = random.next(below: 52)
            let (byProbe, byKey) = key.withUnsafeBytes { user in
                list.withReadView { _ in
                    (list.findFirst(notBefore: VersionedProbe(userKey: user, sequence: sequence), recordingPredecessors: false),
                     VersionedKey.with(user, sequence: sequence) { list.findGreaterOrEqual($0, recordingPredecessors: false) })
                }
            }
            if byProbe != byKey {
                mismatches += 1
                if mismatches <= 3 { Issue.record("step \(step): \(key)@\(sequence) found different nodes, seed \(seed)") }
            }
        }
        #expect(mismatches == 0, "seed \(seed)")
    }

    @Test("versions hidden while a scan is open stay readable to it and are freed once it ends")
    func hiddenVersionsAreCollectedAfterTheScan() throws {
        let engine = SkipListEngine(seed: 11)
        defer { try? engine.close() }
        let keys = (0..<100).map { withUnsafeBytes(of: UInt32($0).bigEndian) { Array($0) } }
        for key in keys { try engine.put(key, [0]) }
        let baseline = engine.memoryUsage.bytesInUse
        #expect(engine.storedVersions == 100)
        var seen: [UInt8] = []
        var versionsDuringScan = 0
        try engine.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: .max) { _, value in
            if seen.isEmpty {
                // Same thread, no lock held by the scan: overwrite every key twice, delete half.
                for round in 1...2 { for key in keys { try? engine.put(key, [UInt8(round)]) } }
                for key in keys.prefix(50) { _ = try? engine.delete(key) }
                versionsDuringScan = engine.storedVersions
            }
            seen.append(value.first ?? 255)
            return true
        }
        #expect(seen == [UInt8](repeating: 0, count: 100), "the scan is one snapshot: the first versions only")
        #expect(versionsDuringScan == 100 * 3 + 50, "nothing is unlinked while the scan may need it")
        #expect(engine.count == 50)
        // The scan's end collected a bounded share only (a reader leaving does a capped,
        // non-blocking collection), so no one pays for the whole backlog at once.
        #expect(engine.storedVersions > 50, "one reader's exit unlinked the whole backlog")
        // No write comes: reads alone finish the job (a bounded number of them).
        for _ in 0..<20 { _ = try engine.get(keys[99]) }
        #expect(engine.storedVersions == 50, "versions hidden during the scan outlived it without writes")
        #expect(engine.memoryUsage.bytesInUse < baseline)
        try engine.checkInvariants()
        for key in keys.prefix(50) { _ = try engine.delete(key) }
        for key in keys.suffix(50) { _ = try engine.delete(key) }
        #expect(engine.storedVersions == 0)
        #expect(engine.memoryUsage.bytesInUse == 0)
    }
}

@Suite("SkipListEngine collection and teardown")
struct SkipListEngineTeardownTests {
    @Test("a write after a long scan unlinks a bounded share of the backlog, not all of it")
    func writeCollectsABoundedShare() throws {
        let engine = SkipListEngine(seed: 12)
        defer { try? engine.close() }
        let keys = (0..<200).map { withUnsafeBytes(of: UInt32($0).bigEndian) { Array($0) } }
        for key in keys { try engine.put(key, [0]) }
        try engine.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: 1) { _, _ in
            for key in keys { try? engine.put(key, [1]) }  // hides 200 versions under the scan
            return true
        }
        // The scan's exit collected up to collectPerRead; the next put its own share.
        let afterScan = engine.storedVersions
        #expect(afterScan >= 400 - SkipListEngine.collectPerRead)
        try engine.put(keys[0], [2])
        let after = engine.storedVersions
        #expect(afterScan + 1 - after <= 2 * 1 + SkipListEngine.collectPerWrite + 1, "one put unlinked \(afterScan + 1 - after) versions")
        for _ in 0..<50 { try engine.put(keys[1], [3]) }
        #expect(engine.storedVersions == 200)
        #expect(engine.count == 200)
    }

    @Test("count moves once per published batch: a batch that adds and removes keys never shows its middle")
    func countMovesAtPublication() throws {
        let engine = SkipListEngine(seed: 14)
        defer { try? engine.close() }
        for i in 0..<10 { try engine.put([0, UInt8(i)], [1]) }
        let done = Atomic<Bool>(false)
        let oddCounts = Mutex<[Int]>([])
        let reader = DispatchSemaphore(value: 0)
        Thread {
            defer { reader.signal() }
            var n = 0
            while n < 5_000_000 && !done.load(ordering: .relaxed) {
                n += 1
                if let c = engine.count, c != 10 { oddCounts.withLock { if $0.count < 10 { $0.append(c) } } }
            }
        }.start()
        for round in 0..<3000 {
            var batch = WriteBatch()
            let key: [UInt8] = [1, UInt8(round & 0xFF)]
            batch.put(key, [2])  // the count would go to 11 here without deferral...
            batch.delete(key)    // ...and back to 10 here
            try engine.write(batch, options: .default)
        }
        done.store(true, ordering: .relaxed)
        reader.wait()
        #expect(oddCounts.withLock { $0 }.isEmpty, "a reader saw counts \(oddCounts.withLock { $0 }) from inside a batch")
        #expect(engine.count == 10)
    }

    @Test("close returns while reader threads keep entering, overlapping and retrying on the closed engine")
    func closeIsNotHeldUpByReaders() throws {
        let engine = SkipListEngine(seed: 13)
        for i in 0..<200 { try engine.put([UInt8(i)], [UInt8(i)]) }
        let stop = Atomic<Bool>(false)
        let readers = DispatchGroup()
        for r in 0..<3 {
            readers.enter()
            Thread {
                defer { readers.leave() }
                var n = 0
                // Bounded in count; stops early once close has returned.
                while n < 2_000_000 && !stop.load(ordering: .relaxed) {
                    n += 1
                    if r == 0 { _ = try? engine.scan(from: [0], limit: 50) } else { _ = try? engine.get([UInt8(n & 0xFF)]) }
                }
            }.start()
        }
        let closed = DispatchSemaphore(value: 0)
        Thread { try? engine.close(); closed.signal() }.start()
        let returned = closed.wait(timeout: .now() + 60) == .success
        stop.store(true, ordering: .relaxed)
        readers.wait()
        if !returned { closed.wait() }
        #expect(returned, "close() did not return within 60 s while readers kept entering")
        #expect(throws: EngineError.self) { try engine.get([1]) }
    }
}

@Suite("Epoch grace period")
struct EpochGracePeriodTests {
    @Test("a grace period ends while a reader that entered after it began is still inside")
    func gracePeriodIgnoresLaterReaders() {
        let reclaimer = EpochReclaimer()
        let first = reclaimer.enter()
        let done = DispatchSemaphore(value: 0)
        Thread { reclaimer.waitForGracePeriod(); done.signal() }.start()
        // Wait (bounded) until the waiter has moved the epoch once.
        let deadline = Date().addingTimeInterval(30)
        while reclaimer.epoch.load(ordering: .sequentiallyConsistent) == first && Date() < deadline { sched_yield() }
        #expect(reclaimer.epoch.load(ordering: .sequentiallyConsistent) != first, "the grace period never moved the epoch")
        // Enter again before leaving: from here on some reader is inside at every instant, which
        // a wait for "no reader at all" never gets past.
        let second = reclaimer.enter()
        reclaimer.leave(first)
        let ended = done.wait(timeout: .now() + 30) == .success
        reclaimer.leave(second)
        if !ended { done.wait() }
        #expect(ended, "the grace period waited for a reader that entered after it began")
    }
}
