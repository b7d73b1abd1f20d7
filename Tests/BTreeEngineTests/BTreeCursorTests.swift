// The B+tree cursor (seek, then leaf to leaf without re-descending) and the page cache's
// lock-free reader path with epoch-based reclamation.

import Foundation
import KVCore
import KVStorage
import Synchronization
import Testing
@testable import BTreeEngine

@Suite("B-tree cursor and reader path")
struct BTreeCursorTests {
    /// Builds a tree of small pages through many splits, then deletes enough to merge pages.
    func churnedTree(pageSize: Int, seed: UInt64) throws -> (BTreeEngine, [[UInt8]: [UInt8]]) {
        var rng = SeededRandom(seed: seed)
        let engine = try openTree(FaultInjectingFileSystem(), pageSize: pageSize, cacheBytes: 16 * pageSize, commitBytes: 32 * pageSize)
        var model: [[UInt8]: [UInt8]] = [:]
        for _ in 0..<3_000 {
            let k = key(Int(rng.next(below: 5_000)))
            let size = rng.next(below: 40) == 0 ? Int(rng.next(below: 2 * UInt64(pageSize))) : Int(rng.next(below: 50))
            let v = randomBytes(&rng, count: size)
            try engine.put(k, v)
            model[k] = v
        }
        // Deleting two keys in three merges leaves into their neighbours.
        for k in model.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }).enumerated().filter({ $0.offset % 3 != 0 }).map(\.element) {
            #expect(try engine.delete(k))
            model[k] = nil
        }
        try engine.checkInvariants()
        return (engine, model)
    }

    @Test("a cursor walks every leaf in key order after splits and merges, for several page sizes",
          arguments: [512, 1024, 4096])
    func fullPassInOrder(pageSize: Int) throws {
        let seed = testSeed()
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        let (engine, model) = try churnedTree(pageSize: pageSize, seed: seed)
        let expected = model.keys.sorted { $0.lexicographicallyPrecedes($1) }
        var seen: [[UInt8]] = []
        try engine.withCursor { (cursor) throws(EngineError) in
            try [UInt8]().withBytes { (start) throws(EngineError) in try cursor.seek(start) }
            while cursor.isValid {
                let (k, v) = try cursor.withRecord { (Array($0), Array($1)) }
                #expect(model[k] == v, "seed \(seed): value of \(String(decoding: k, as: UTF8.self))")
                seen.append(k)
                try cursor.next()
            }
            #expect(try cursor.next() == false)
        }
        #expect(seen == expected, "seed \(seed): \(seen.count) records walked, \(expected.count) expected")
        try engine.close()
    }

    @Test("seek lands on the first key at or above the target: present, absent, before the first, after the last")
    func seekIsALowerBound() throws {
        let seed = testSeed()
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var rng = SeededRandom(seed: seed ^ 0x5EEC)
        let (engine, model) = try churnedTree(pageSize: 512, seed: seed)
        let sorted = model.keys.sorted { $0.lexicographicallyPrecedes($1) }
        var targets: [[UInt8]] = [[], Array("a".utf8), Array("z".utf8), sorted.first!, sorted.last!]
        for _ in 0..<300 { targets.append(key(Int(rng.next(below: 5_100)))) }
        for _ in 0..<50 { targets.append(key(Int(rng.next(below: 5_000))) + [0]) }  // between two keys
        try engine.withCursor { (cursor) throws(EngineError) in
            for target in targets {
                try target.withBytes { (t) throws(EngineError) in try cursor.seek(t) }
                let lowerBound = sorted.firstIndex { !$0.lexicographicallyPrecedes(target) }
                guard let lowerBound else {
                    #expect(!cursor.isValid, "seed \(seed): seek past the last key is valid")
                    continue
                }
                // The target's lower bound, then the next few keys in order (across leaves).
                for expected in sorted[lowerBound..<min(sorted.count, lowerBound + 40)] {
                    #expect(cursor.isValid)
                    let k = try cursor.withRecord { k, _ in Array(k) }
                    #expect(k == expected, "seed \(seed): after seek to \(String(decoding: target, as: UTF8.self))")
                    try cursor.next()
                }
            }
        }
        try engine.close()
    }

    @Test("a cursor keeps reading its snapshot while writes split and merge the pages under it")
    func cursorKeepsItsSnapshot() throws {
        let engine = try openTree(FaultInjectingFileSystem(), pageSize: 512, cacheBytes: 16 << 10, commitBytes: 8 << 10)
        let n = 3_000
        for i in 0..<n { try engine.put(key(i), Array("old-\(i)".utf8)) }
        var seen = 0
        try engine.withCursor { (cursor) throws(EngineError) in
            try [UInt8]().withBytes { (start) throws(EngineError) in try cursor.seek(start) }
            while cursor.isValid {
                let (k, v) = try cursor.withRecord { (Array($0), Array($1)) }
                #expect(k == key(seen) && v == Array("old-\(seen)".utf8))
                seen += 1
                // Every 500 records, rewrite the tree: deletes merge pages, long values split them.
                if seen % 500 == 0 {
                    for i in stride(from: 0, to: n, by: 2) { _ = try engine.delete(key(i)) }
                    for i in stride(from: 1, to: n, by: 2) { try engine.put(key(i), [UInt8](repeating: 7, count: 120)) }
                    for i in stride(from: 0, to: n, by: 2) { try engine.put(key(i), Array("new-\(i)".utf8)) }
                }
                try cursor.next()
            }
        }
        #expect(seen == n)
        #expect(try engine.get(key(1)) == [UInt8](repeating: 7, count: 120))
        try engine.checkInvariants()
        try engine.close()
    }

    @Test("a page evicted while a reader holds it stays readable, and is freed once readers have left")
    func epochsReclaimEvictedPages() throws {
        let cache = PageCache(capacity: 16)
        func page(_ n: UInt64) -> Page {
            let p = Page.make(number: n, size: 512)
            memset(p.bytes, Int32(n & 0xFF), 512)
            return p
        }
        for n in 2..<18 { cache.insert(page(UInt64(n))) }
        weak var evicted: Page?
        let parity = cache.enterReader()
        let bytes = try #require(cache.readerBytes(2))
        evicted = cache.readerPage(2)
        // 40 more pages evict page 2 (among others) while the reader is inside its epoch.
        for n in 18..<58 { cache.insert(page(UInt64(n))) }
        #expect(cache.readerBytes(2) == nil, "page 2 is still cached")
        #expect(evicted != nil, "page 2 was freed under a reader")
        #expect(bytes.load(fromByteOffset: 100, as: UInt8.self) == 2)
        #expect(cache.limboCount > 0)
        cache.exitReader(parity)
        // With no reader left, the next evictions move the epoch on twice and free the limbo.
        for n in 58..<98 { cache.insert(page(UInt64(n))) }
        #expect(evicted == nil, "page 2 outlived every reader")
        #expect(cache.limboCount <= 2 * 16)
    }

    @Test("readers and a scanner on their own threads see whole values with non-decreasing versions while a writer rewrites them through a small cache")
    func concurrentReadersWithEviction() throws {
        let seed = testSeed()
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        // 32 pages of 512 bytes for a tree of several hundred pages: reads evict constantly.
        let engine = try openTree(FaultInjectingFileSystem(), pageSize: 512, cacheBytes: 16 << 10)
        let n = 2_000
        for i in 0..<n { try engine.put(key(i), VersionedValue.make(key: i, version: 0)) }
        let failures = LockedRecords()
        let readerCount = 3
        let arrived = Atomic<Int>(0)
        let finished = DispatchSemaphore(value: 0)
        // Explicit threads released together: concurrentPerform on 2 cores may run the roles
        // one after another, and then no read ever overlaps a write.
        func spawn(_ body: @escaping @Sendable () -> Void) {
            let thread = Thread {
                arrived.wrappingAdd(1, ordering: .sequentiallyConsistent)
                while arrived.load(ordering: .sequentiallyConsistent) < readerCount + 2 { sched_yield() }
                body()
                finished.signal()
            }
            thread.start()
        }
        // The writer: bumps the version of random keys (each key's versions only grow).
        spawn {
            var rng = SeededRandom(seed: seed)
            var versions = [UInt64](repeating: 0, count: n)
            for _ in 0..<1_500 {
                let i = Int(rng.next(below: UInt64(n)))
                versions[i] += 1
                do { try engine.put(key(i), VersionedValue.make(key: i, version: versions[i])) } catch { failures.fail("writer: \(error)") }
            }
        }
        // Point readers: every value whole (checksum, its own key) and never older than the
        // version this reader saw before for that key.
        for t in 0..<readerCount {
            spawn {
                var rng = SeededRandom(seed: seed &+ UInt64(t) &+ 1)
                var seen = [UInt64](repeating: 0, count: n)
                for _ in 0..<2_500 {
                    let i = Int(rng.next(below: UInt64(n)))
                    do {
                        guard let v = try engine.get(key(i)) else { failures.fail("reader \(t): key \(i) missing"); continue }
                        switch VersionedValue.check(v, key: i) {
                        case .failure(let problem): failures.fail("reader \(t): key \(i): \(problem)")
                        case .success(let version):
                            if version < seen[i] { failures.fail("reader \(t): key \(i) went back from version \(seen[i]) to \(version)") }
                            seen[i] = version
                        }
                    } catch {
                        failures.fail("reader \(t): \(error)")
                    }
                }
            }
        }
        // A scanner: short scans through the cursor, every record whole and in key order.
        spawn {
            var rng = SeededRandom(seed: seed &+ 1_000)
            for _ in 0..<150 {
                let from = Int(rng.next(below: UInt64(n)))
                var expected = from
                do {
                    for record in try engine.scan(from: key(from), limit: 20) {
                        guard record.key == key(expected) else { failures.fail("scan from \(from): got \(String(decoding: record.key, as: UTF8.self)), expected key \(expected)"); break }
                        if case .failure(let problem) = VersionedValue.check(record.value, key: expected) { failures.fail("scan: key \(expected): \(problem)") }
                        expected += 1
                    }
                    if expected != min(from + 20, n) { failures.fail("scan from \(from) ended at \(expected)") }
                } catch {
                    failures.fail("scanner: \(error)")
                }
            }
        }
        for _ in 0..<(readerCount + 2) { finished.wait() }
        #expect(failures.failure == nil, "seed \(seed)")
        try engine.checkInvariants()
        try engine.close()
    }
}

/// Values that carry their key, a version and a checksum, so a torn, stale or misplaced read
/// shows. Every 40th key's value is long enough to spill into an overflow chain.
enum VersionedValue {
    static func make(key i: Int, version: UInt64) -> [UInt8] {
        let length = i % 40 == 0 ? 1_200 + Int(version % 7) * 50 : 16 + Int((version &+ UInt64(i)) % 40)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length + 20)
        withUnsafeBytes(of: version.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(i).littleEndian) { bytes.append(contentsOf: $0) }
        for j in 0..<length { bytes.append(UInt8(truncatingIfNeeded: j &* 31 &+ Int(version) &+ i)) }
        withUnsafeBytes(of: checksum(bytes).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    struct Problem: Error, CustomStringConvertible { let description: String }

    /// The version in `bytes` if they are a whole value of key `i`.
    static func check(_ bytes: [UInt8], key i: Int) -> Result<UInt64, Problem> {
        guard bytes.count >= 20 else { return .failure(Problem(description: "\(bytes.count) bytes, expected at least 20")) }
        let body = Array(bytes[..<(bytes.count - 8)])
        let stored = bytes[(bytes.count - 8)...].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        guard UInt64(littleEndian: stored) == checksum(body) else { return .failure(Problem(description: "checksum mismatch over \(bytes.count) bytes")) }
        let owner = body.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        guard owner == UInt32(i) else { return .failure(Problem(description: "value of key \(owner)")) }
        return .success(body.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
    }

    /// FNV-1a 64.
    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }
}
