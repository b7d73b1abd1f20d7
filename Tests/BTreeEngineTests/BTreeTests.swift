// The B-tree's structure under random operations: invariants, splits, merges, overflow pages,
// long keys, page sizes, reopening, and free-page reuse.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import BTreeEngine

@Suite("B-tree structure")
struct BTreeTests {
    @Test("random puts and deletes keep the invariants and match a dictionary, for several page sizes",
          arguments: [512, 1024, 4096])
    func randomOperationsKeepInvariants(pageSize: Int) throws {
        let seed = testSeed()
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)
        let fs = FaultInjectingFileSystem()
        var engine = try openTree(fs, pageSize: pageSize, cacheBytes: 32 * pageSize, commitBytes: 64 * pageSize)
        var model: [[UInt8]: [UInt8]] = [:]
        for step in 0..<6_000 {
            let k = key(Int(rng.next(below: 800)))
            switch rng.next(below: 10) {
            case 0..<5:
                let size = rng.next(below: 20) == 0 ? Int(rng.next(below: 3 * UInt64(pageSize))) : Int(rng.next(below: 60))
                let v = randomBytes(&rng, count: size)
                try engine.put(k, v, options: WriteOptions(sync: rng.next(below: 50) == 0))
                model[k] = v
            case 5..<9:
                #expect(try engine.delete(k) == (model.removeValue(forKey: k) != nil), "seed \(seed) step \(step)")
            default:
                #expect(try engine.get(k) == model[k], "seed \(seed) step \(step)")
            }
            if step % 500 == 0 {
                try engine.checkInvariants()
            }
            if step % 2_000 == 1_999 {
                try engine.close()
                engine = try openTree(fs, pageSize: pageSize, cacheBytes: 32 * pageSize, commitBytes: 64 * pageSize)
            }
        }
        try engine.checkInvariants()
        #expect(engine.count == model.count)
        let all = try engine.scan(from: [], limit: .max)
        #expect(all.map(\.key) == model.keys.sorted { $0.lexicographicallyPrecedes($1) })
        for pair in all { #expect(model[pair.key] == pair.value) }
        // Delete everything: the tree shrinks back to one empty leaf.
        for k in model.keys { try engine.delete(k) }
        try engine.checkInvariants()
        #expect(engine.height == 1)
        #expect(engine.count == 0)
        try engine.close()
    }

    @Test("keys longer than a page and values of many pages round-trip and scan in order")
    func longKeysAndValues() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try openTree(fs, pageSize: 1024, cacheBytes: 64 << 10)
        var rng = SeededRandom(seed: 7)
        var model: [[UInt8]: [UInt8]] = [:]
        let sharedPrefix = randomBytes(&rng, count: 1500)
        for i in 0..<300 {
            // Long keys sharing a 1,500-byte prefix: comparisons must read overflow pages.
            let k = i % 2 == 0 ? sharedPrefix + key(i) : key(i)
            let v = randomBytes(&rng, count: i % 5 == 0 ? 10_000 : Int(rng.next(below: 300)))
            try engine.put(k, v)
            model[k] = v
        }
        try engine.checkInvariants()
        for (k, v) in model { #expect(try engine.get(k) == v) }
        let scanned = try engine.scan(from: sharedPrefix, limit: .max).map(\.key)
        #expect(scanned == model.keys.filter { !$0.lexicographicallyPrecedes(sharedPrefix) }.sorted { $0.lexicographicallyPrecedes($1) })
        try engine.close()
        let reopened = try openTree(fs, pageSize: 1024, cacheBytes: 64 << 10)
        for (k, v) in model { #expect(try reopened.get(k) == v) }
        for k in model.keys { try reopened.delete(k) }
        try reopened.checkInvariants()
        try reopened.close()
    }

    @Test("an existing file keeps its page size whatever the option says")
    func pageSizeIsTheFiles() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try openTree(fs, pageSize: 2048)
        try engine.put([1], [2])
        try engine.close()
        let reopened = try openTree(fs, pageSize: 8192)
        #expect(reopened.pageSize == 2048)
        #expect(try reopened.get([1]) == [2])
        try reopened.close()
        #expect(throws: EngineError.self) { try openTree(FaultInjectingFileSystem(), pageSize: 3000) }
    }

    @Test("inserting, deleting and inserting other keys reuses free pages: the file does not double")
    func freePagesAreReused() throws {
        // KVLAB_BTREE_SPACE_KEYS scales it up, on the real file system with default options
        // (the README's figure: 1,000,000 in release).
        let scaled = ProcessInfo.processInfo.environment["KVLAB_BTREE_SPACE_KEYS"].flatMap { Int($0) }
        let n = scaled ?? 20_000
        let dir = temporaryDirectory("space")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let engine = scaled == nil
            ? try openTree(FaultInjectingFileSystem(), pageSize: 4096, cacheBytes: 64 << 20, commitBytes: 16 << 20)
            : try BTreeEngine(directory: dir)
        let value = [UInt8](repeating: 7, count: 100)
        // Random order, as in a real fill; 16-byte keys.
        var rng = SeededRandom(seed: 5)
        var order = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next(below: UInt64(i + 1)))) }
        let start = ContinuousClock.now
        for i in order { try engine.put(key(i, width: 15), value) }
        try engine.flush()
        let afterFirst = engine.pageCount
        for i in order { try engine.delete(key(i, width: 15)) }
        try engine.flush()
        let afterDelete = (engine.pageCount, engine.freePageCount)
        for i in order { try engine.put(key(n + i, width: 15), value) }
        try engine.flush()
        let afterSecond = engine.pageCount
        try engine.checkInvariants()
        print("space: \(n) keys; pages after first fill \(afterFirst) (\(afterFirst * 4096) bytes), after deleting all \(afterDelete.0) (\(afterDelete.1) free), after inserting \(n) others \(afterSecond) (\(afterSecond * 4096) bytes), ratio \(Double(afterSecond) / Double(afterFirst)); \(ContinuousClock.now - start)")
        #expect(Double(afterSecond) < 1.5 * Double(afterFirst))
        try engine.close()
    }

    @Test("the data file lives inside the directory option, on the real file system")
    func realDirectory() throws {
        let dir = temporaryDirectory("dir")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let engine = try BTreeEngine(directory: dir)
        try engine.put(Array("a".utf8), Array("b".utf8), options: .synced)
        try engine.close()
        #expect(FileManager.default.fileExists(atPath: dir + "/" + BTreeEngine.fileName))
        let reopened = try BTreeEngine(directory: dir)
        #expect(try reopened.get(Array("a".utf8)) == Array("b".utf8))
        try reopened.close()
    }

    @Test("readers on other threads see every write batch whole or not at all")
    func readersSeeWholeBatches() async throws {
        let engine = try openTree(FaultInjectingFileSystem(), pageSize: 1024, cacheBytes: 1 << 20)
        let keys = (0..<50).map { key($0) }
        var first = WriteBatch()
        for k in keys { first.put(k, [0]) }
        try engine.write(first, options: .default)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for round in 1...200 {
                    var batch = WriteBatch()
                    for k in keys { batch.put(k, [UInt8(truncatingIfNeeded: round)] + [UInt8](repeating: 1, count: round % 40)) }
                    try engine.write(batch, options: .default)
                }
            }
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<300 {
                        let records = try engine.scan(from: [], limit: .max)
                        let rounds = Set(records.map { $0.value[0] })
                        #expect(records.count == keys.count)
                        #expect(rounds.count == 1, "a scan saw parts of two batches")
                    }
                }
            }
            try await group.waitForAll()
        }
        try engine.checkInvariants()
        try engine.close()
    }

    @Test("a scan paused mid-way keeps its snapshot while a writer deletes, rewrites and commits everything")
    func scanKeepsItsSnapshot() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try openTree(fs, pageSize: 512, cacheBytes: 16 << 10, commitBytes: 8 << 10)
        let n = 2_000
        for i in 0..<n { try engine.put(key(i), Array("old-\(i)".utf8)) }
        try engine.flush()
        let paused = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
        let seen = LockedRecords()
        let reader = Thread {
            var count = 0
            do {
                let empty: [UInt8] = []
                try empty.withBytes { (start) throws(EngineError) in
                  try engine.scan(from: start, limit: .max) { k, v in
                    seen.append(Array(k), Array(v))
                    count += 1
                    if count == 10 { paused.signal(); resume.wait() }
                    return true
                  }
                }
            } catch {
                seen.fail("\(error)")
            }
            paused.signal()
        }
        reader.start()
        paused.wait()
        // The writer is not held back by the paused scan: it replaces every record, in several
        // commits, freeing the pages the scan still reads.
        for i in 0..<n { try engine.delete(key(i)) }
        try engine.flush()
        for i in 0..<n { try engine.put(key(i), Array("new-\(i)".utf8), options: WriteOptions(sync: i % 500 == 0)) }
        try engine.flush()
        try engine.checkInvariants()
        resume.signal()
        paused.wait()
        #expect(seen.failure == nil)
        let records = seen.records
        #expect(records.count == n)
        #expect(records.allSatisfy { String(decoding: $0.value, as: UTF8.self).hasPrefix("old-") })
        #expect(try engine.get(key(5)) == Array("new-5".utf8))
        try engine.checkInvariants()
        try engine.close()
    }
}

/// Records collected on another thread.
final class LockedRecords: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [KeyValuePair] = []
    private var error: String?

    func append(_ key: [UInt8], _ value: [UInt8]) { lock.lock(); items.append(KeyValuePair(key: key, value: value)); lock.unlock() }
    func fail(_ message: String) { lock.lock(); error = message; lock.unlock() }
    var records: [KeyValuePair] { lock.lock(); defer { lock.unlock() }; return items }
    var failure: String? { lock.lock(); defer { lock.unlock() }; return error }
}
