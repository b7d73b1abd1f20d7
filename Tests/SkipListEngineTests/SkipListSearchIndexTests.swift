// The skiplist's search index: lookups through it against a sorted reference, rebuilt at small thresholds, in both modes and under concurrent writers.

import Foundation
import KVCore
import Synchronization
import Testing
@testable import SkipListEngine

@Suite("SkipList search index")
struct SkipListSearchIndexTests {
    /// An index over nodes of height ≥ 2, rebuilt after few inserts or retirements, so tests
    /// of a few thousand keys go through many builds and stale, partly retired indexes.
    static let eager = SearchIndexPolicy(level: 2, minimumEntries: 4, rebuildAfterInsertFraction: 0.05,
                                         rebuildAfterRetiredFraction: 0.02)

    static func key(_ random: inout SeededRandom) -> [UInt8] {
        // Mostly bench-like zero-padded decimal keys (first 10 bytes shared), some tricky ones.
        if random.next(below: 4) == 0 { return SkipListPrefixTests.trickyKey(&random) }
        let digits = String(random.next(below: 5000))
        return Array((String(repeating: "0", count: 16 - digits.count) + digits).utf8)
    }

    /// Checks lookups and seeks for `probes` random keys against `reference`.
    static func checkAgainst(_ list: SkipList<BytewiseComparator>, _ reference: [[UInt8]: [UInt8]],
                             _ random: inout SeededRandom, probes: Int, seed: UInt64) {
        let sorted = reference.keys.sorted { $0.lexicographicallyPrecedes($1) }
        for _ in 0..<probes {
            let target = key(&random)
            #expect(list.lookup(target) == reference[target], "lookup of \(target) (seed \(seed))")
            let at = SkipListPrefixTests.lowerBound(sorted, target)
            let found = list.withReadView { view in
                target.withUnsafeBytes { t in
                    let cursor = view.seek(t)
                    return cursor.isValid ? Array(cursor.key) : nil
                }
            }
            #expect(found == (at < sorted.count ? sorted[at] : nil), "seek to \(target) (seed \(seed))")
        }
    }

    @Test("lookups and seeks through an index rebuilt at small thresholds match a sorted reference under inserts, removes and replacements")
    func reclaimingMatchesReference() throws {
        let seed = testSeed()
        print("SkipList search index reclaiming seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let list = SkipList(comparator: BytewiseComparator(), random: SeededRandom(seed: seed &+ 1),
                            mode: .reclaiming, searchIndex: Self.eager)
        var reference: [[UInt8]: [UInt8]] = [:]
        for step in 0..<6000 {
            let k = Self.key(&random)
            switch random.next(below: 10) {
            case 0..<3:
                #expect(list.remove(k) == (reference.removeValue(forKey: k) != nil), "remove (seed \(seed))")
            default:
                let value = Array("v\(step)".utf8)
                #expect(list.insert(k, value) == (reference.updateValue(value, forKey: k) == nil), "insert (seed \(seed))")
            }
            if step % 500 == 499 {
                try list.checkInvariants()
                Self.checkAgainst(list, reference, &random, probes: 200, seed: seed)
            }
        }
        #expect(list.indexState.builds > 10, "the index was rebuilt (seed \(seed))")
        #expect(list.indexState.current != nil, "an index is published (seed \(seed))")
        try list.checkInvariants()
        Self.checkAgainst(list, reference, &random, probes: 2000, seed: seed)
        list.removeAll()
        #expect(list.lookup(Array("0000000000000001".utf8)) == nil)
        try list.checkInvariants()
    }

    @Test("an insert-only list's lookups through stale and rebuilt indexes match a sorted reference")
    func insertOnlyMatchesReference() throws {
        let seed = testSeed()
        print("SkipList search index insert-only seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let list = SkipList(comparator: BytewiseComparator(), random: SeededRandom(seed: seed &+ 1),
                            mode: .insertOnly, towerGrowth: .quarter, searchIndex: Self.eager)
        var reference: [[UInt8]: [UInt8]] = [:]
        for step in 0..<5000 {
            let k = Self.key(&random)
            if reference[k] == nil {
                reference[k] = Array("v\(step)".utf8)
                #expect(list.insert(k, reference[k]!), "insert (seed \(seed))")
            }
            if step % 1000 == 999 {
                try list.checkInvariants()
                Self.checkAgainst(list, reference, &random, probes: 200, seed: seed)
            }
        }
        #expect(list.indexState.builds > 5, "the index was rebuilt (seed \(seed))")
        // A cursor from insertOnlySeek (no read section) lands where the reference says.
        let sorted = reference.keys.sorted { $0.lexicographicallyPrecedes($1) }
        for _ in 0..<500 {
            let target = Self.key(&random)
            let cursor = target.withUnsafeBytes { list.insertOnlySeek($0) }
            let at = SkipListPrefixTests.lowerBound(sorted, target)
            #expect((cursor.isValid ? Array(cursor.key) : nil) == (at < sorted.count ? sorted[at] : nil), "seek (seed \(seed))")
        }
        try list.checkInvariants()
    }

    @Test("the index takes as start only entries whose cut prefix is strictly below the target's")
    func countBelowIsExact() {
        let seed = testSeed()
        print("SkipList search index countBelow seed: \(seed)")
        var random = SeededRandom(seed: seed)
        for round in 0..<40 {
            // Prefixes sharing a random number of leading bits (0...128), some equal.
            let shared = Int(random.next(below: 129))
            let stem = KeyPrefix(high: random.next(), low: random.next())
            func variant() -> KeyPrefix {
                let noise = KeyPrefix(high: random.next(), low: random.next())
                func mix(_ s: UInt64, _ n: UInt64, keep: Int) -> UInt64 {
                    keep >= 64 ? s : keep <= 0 ? n : (s & ~(UInt64.max >> UInt64(keep))) | (n & (UInt64.max >> UInt64(keep)))
                }
                return KeyPrefix(high: mix(stem.high, noise.high, keep: shared), low: mix(stem.low, noise.low, keep: shared - 64))
            }
            let count = 1 + Int(random.next(below: 700))
            var prefixes = (0..<count).map { _ in random.next(below: 5) == 0 ? stem : variant() }
            prefixes.sort { $0.isBefore($1) }
            // A chain of bare height-2 nodes with these prefixes on level 1 (keys are not read).
            let empty = UnsafeRawBufferPointer(start: nil, count: 0)
            func node(_ prefix: KeyPrefix) -> SkipListNode {
                let chunk = UnsafeMutableRawPointer.allocate(byteCount: SkipListNode.size(height: 2, keyCount: 0, valueCount: 0), alignment: 8)
                return SkipListNode.initialize(chunk: chunk, height: 2, prefix: prefix, key: empty, value: empty)
            }
            let head = node(KeyPrefix(high: 0, low: 0))
            let chain = prefixes.map(node)
            var previous = head
            for next in chain {
                previous.setNext(1, next)
                previous = next
            }
            defer { for n in [head] + chain { n.chunk.deallocate() } }
            guard let built = SkipListSearchIndex.build(head: head, level: 1, count: count,
                                                        first: prefixes[0], last: prefixes[count - 1]) else {
                Issue.record("no index built over \(count) entries")
                continue
            }
            defer { built.index.deallocate() }
            #expect((0..<count).allSatisfy { built.index.references[$0] == Int(bitPattern: chain[$0].reference) })
            let index = built.index
            for _ in 0..<300 {
                let target = random.next(below: 3) == 0 ? prefixes[Int(random.next(below: UInt64(count)))] : variant()
                let below = index.countBelow(target)
                // Every counted entry is strictly below; the next one is not, or only ties on its cut key.
                for i in 0..<below where !prefixes[i].isBefore(target) {
                    Issue.record("round \(round): entry \(i) counted below a target it is not below (seed \(seed))")
                }
                if below < count && prefixes[below].isBefore(target) {
                    let s = index.shift
                    #expect(SkipListSearchIndex.cut(prefixes[below], shift: s) == SkipListSearchIndex.cut(target, shift: s),
                            "round \(round): entry \(below) is below the target but was not counted (seed \(seed))")
                }
            }
        }
    }

    @Test("readers through the index never miss a key that was present before the read began while a writer inserts, removes, replaces and rebuilds")
    func concurrentReadersFindStableKeys() throws {
        let seed = testSeed()
        print("SkipList search index concurrency seed: \(seed)")
        let list = SkipList(comparator: BytewiseComparator(), random: SeededRandom(seed: seed),
                            mode: .reclaiming, searchIndex: Self.eager)
        // Even keys are stable (inserted now, later only replaced); odd keys churn.
        @Sendable func key(_ i: Int) -> [UInt8] { Array(String(format: "%016d", i).utf8) }
        let keyCount = 3000
        for i in stride(from: 0, to: keyCount, by: 2) { list.insert(key(i), Array("s\(i)".utf8)) }
        let log = ProblemLog()
        let writerDone = DoneFlag()
        let done = DispatchGroup()
        done.enter()
        Thread {
            defer { done.leave(); writerDone.value.store(true, ordering: .releasing) }
            var random = SeededRandom(seed: seed &+ 7)
            for step in 0..<40000 {
                let i = Int(random.next(below: UInt64(keyCount)))
                if i % 2 == 0 {
                    list.insert(key(i), Array("s\(i)-\(step)".utf8))
                } else if random.next(below: 2) == 0 {
                    list.insert(key(i), Array("c\(i)".utf8))
                } else {
                    list.remove(key(i))
                }
            }
        }.start()
        for reader in 0..<2 {
            done.enter()
            Thread {
                defer { done.leave() }
                var random = SeededRandom(seed: seed &+ UInt64(100 + reader))
                var rounds = 0
                while rounds < 200_000 && !(writerDone.value.load(ordering: .acquiring) && rounds > 1000) {
                    rounds += 1
                    let i = 2 * Int(random.next(below: UInt64(keyCount / 2)))
                    let expected = "s\(i)"
                    let found = list.lookup(key(i)).map { String(decoding: $0, as: UTF8.self) }
                    if found == nil || !(found == expected || found!.hasPrefix(expected + "-")) {
                        log.report("reader \(reader): stable key \(i) read as \(found ?? "absent") (seed \(seed))")
                    }
                }
            }.start()
        }
        // Bounded: a reader lost in freed or cyclic memory must fail the test, not hang the suite.
        guard done.wait(timeout: .now() + 300) == .success else {
            Issue.record("readers and writer did not finish within 300 s (seed \(seed))")
            return
        }
        #expect(log.all.isEmpty, "\(log.all.prefix(5))")
        #expect(list.indexState.builds > 3, "the index was rebuilt during the run (seed \(seed))")
        try list.checkInvariants()
    }

    @Test("the engine's reads through the index match a model under overwrites and deletes")
    func engineMatchesModel() throws {
        let seed = testSeed()
        print("SkipListEngine search index seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let engine = SkipListEngine(seed: seed, searchIndex: Self.eager)
        var model: [[UInt8]: [UInt8]] = [:]
        for step in 0..<8000 {
            let k = Self.key(&random)
            if random.next(below: 5) == 0 {
                _ = try engine.delete(k)
                model[k] = nil
            } else {
                let value = Array("e\(step)".utf8)
                try engine.put(k, value)
                model[k] = value
            }
            if step % 1000 == 999 {
                try engine.checkInvariants()
                for _ in 0..<200 {
                    let target = Self.key(&random)
                    #expect(try engine.get(target) == model[target], "get \(target) (seed \(seed))")
                }
            }
        }
        #expect(engine.list.indexState.builds > 5, "the index was rebuilt (seed \(seed))")
        for (k, v) in model { #expect(try engine.get(k) == v, "get \(k) (seed \(seed))") }
    }
}

/// A flag a thread raises when it is done (an `Atomic` cannot be captured by an escaping closure).
final class DoneFlag: Sendable {
    let value = Atomic<Bool>(false)
}
