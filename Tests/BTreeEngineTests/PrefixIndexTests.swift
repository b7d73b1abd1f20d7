// The in-memory prefix index of B-tree pages: same answers as the cell search and a sorted
// reference on awkward keys, never out of date after writes, rebuilt after reopening.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import BTreeEngine

/// The overflow-key loader of a page whose keys are all inline: never called.
func noOverflow(_ key: CellKey) throws(EngineError) -> [UInt8] { throw .closed(engine: "test page") }

@Suite("B-tree page prefix index")
struct PrefixIndexTests {
    /// A sorted set of distinct keys built to stress the index: long shared prefixes, keys that
    /// are prefixes of each other, the empty key, runs of 0x00 and 0xFF, lengths 0...40.
    func awkwardKeys(_ rng: inout SeededRandom, count: Int) -> [[UInt8]] {
        let alphabet: [UInt8] = [0x00, 0x01, 0x30, 0x39, 0x7F, 0x80, 0xFE, 0xFF]
        let stem = (0..<Int(rng.next(below: 30))).map { _ in alphabet[Int(rng.next(below: UInt64(alphabet.count)))] }
        var keys = Set<[UInt8]>()
        if rng.next(below: 3) == 0 { keys.insert([]) }
        while keys.count < count {
            var k: [UInt8]
            switch rng.next(below: 4) {
            case 0: k = Array(stem.prefix(Int(rng.next(below: UInt64(stem.count + 1)))))  // prefixes of the stem
            case 1: k = stem + [UInt8](repeating: rng.next(below: 2) == 0 ? 0x00 : 0xFF, count: Int(rng.next(below: 8)))
            default: k = stem + (0..<Int(rng.next(below: 10))).map { _ in alphabet[Int(rng.next(below: UInt64(alphabet.count)))] }
            }
            if k.count <= 40 { keys.insert(k) }
        }
        return keys.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// A page of `type` holding `keys` (sorted) in inline cells.
    func page(_ type: PageType, keys: [[UInt8]], size: Int) -> Page {
        let page = Page.make(number: 2, size: size)
        page.node.initialize(type)
        for (i, k) in keys.enumerated() {
            var cell: [UInt8] = [0]
            if type == .branch { cell += [UInt8](repeating: UInt8(i & 0xFF), count: 8) }
            cell.append(UInt8(k.count))
            if type == .leaf { cell.append(1) }
            cell += k
            if type == .leaf { cell.append(0xAB) }
            #expect(page.node.insert(cell, at: i), "cell \(i) should fit")
        }
        return page
    }

    /// Targets: every key, each key with a byte appended or the last byte moved by one, bytes
    /// around the common prefix, and random strings.
    func targets(_ keys: [[UInt8]], _ rng: inout SeededRandom) -> [[UInt8]] {
        var out: [[UInt8]] = [[], [0x00], [0xFF], [UInt8](repeating: 0xFF, count: 41)]
        for k in keys {
            out.append(k)
            out.append(k + [0x00])
            out.append(k + [0xFF])
            if let last = k.last {
                var up = k, down = k
                up[up.count - 1] = last &+ 1
                down[down.count - 1] = last &- 1
                out.append(up)
                out.append(down)
                out.append(Array(k.dropLast()))
            }
        }
        for _ in 0..<200 {
            let base = keys.isEmpty ? [] : keys[Int(rng.next(below: UInt64(keys.count)))]
            let cut = Int(rng.next(below: UInt64(base.count + 1)))
            out.append(Array(base.prefix(cut)) + randomBytes(&rng, count: Int(rng.next(below: 6))))
        }
        return out
    }

    /// Position of the first key >= `target` in sorted `keys`, and whether it is equal.
    func reference(_ keys: [[UInt8]], _ target: [UInt8]) -> (Int, Bool) {
        let i = keys.firstIndex { !$0.lexicographicallyPrecedes(target) } ?? keys.count
        return (i, i < keys.count && keys[i] == target)
    }

    /// `Node.search` over the cells (no key here overflows; nil if it throws anyway).
    func cellSearch(_ node: Node, _ target: [UInt8]) -> (index: Int, found: Bool)? {
        target.withUnsafeBytes { raw -> (index: Int, found: Bool)? in
            do { return try node.search(raw, fullKey: noOverflow) } catch { return nil }
        }
    }

    @Test("the index finds what the cell search and a sorted reference find, on leaf and branch pages of awkward keys")
    func indexMatchesReference() throws {
        let seed = testSeed()
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)
        var indexed = 0
        for round in 0..<300 {
            let type: PageType = round % 2 == 0 ? .leaf : .branch
            let count = 1 + Int(rng.next(below: 60))  // 60 cells of up to 46 bytes fit a 4 KiB page
            let keys = awkwardKeys(&rng, count: count)
            let p = page(type, keys: keys, size: 4096)
            let index = p.prefixIndex
            for t in targets(keys, &rng) {
                let expected = reference(keys, t)
                let viaCells = cellSearch(p.node, t)
                let viaIndex = t.withUnsafeBytes { index.search(p.node, $0) }
                #expect(viaCells?.index == expected.0 && viaCells?.found == expected.1, "seed \(seed) round \(round): cell search for \(t)")
                if let viaIndex {
                    #expect(viaIndex.index == expected.0 && viaIndex.found == expected.1,
                            "seed \(seed) round \(round) \(type): index gave \(viaIndex) for \(t), expected \(expected); keys \(keys)")
                }
            }
            #expect(index.currentState == PrefixIndex.ready, "seed \(seed) round \(round): \(keys.count) inline keys should be indexed")
            #expect(index.staleness(p.node) == nil)
            if index.currentState == PrefixIndex.ready { indexed += 1 }
        }
        #expect(indexed == 300)
    }

    @Test("a page with more keys than the index holds, or with no keys, is searched by its cells")
    func unusablePagesFallBack() throws {
        let many = (0..<(PrefixIndex.capacity(4096) + 1)).map { [UInt8(0x41), UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        let big = page(.leaf, keys: many, size: 4096)
        #expect([UInt8(0x41), 0, 5].withUnsafeBytes { big.prefixIndex.search(big.node, $0) } == nil)
        #expect(big.prefixIndex.currentState == PrefixIndex.unusable)
        let empty = page(.leaf, keys: [], size: 4096)
        #expect([UInt8(1)].withUnsafeBytes { empty.prefixIndex.search(empty.node, $0) } == nil)
        #expect(empty.prefixIndex.currentState == PrefixIndex.unusable)
    }

    @Test("gets between splits, merges, overwrites and deletes never see an out-of-date index, in every durability mode",
          arguments: ["buffered", "periodic", "always"])
    func indexFollowsWrites(mode: String) throws {
        let seed = testSeed()
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)
        let fs = FaultInjectingFileSystem()
        let durability: DurabilityPolicy = mode == "buffered" ? .buffered : mode == "always" ? .always : periodicByHand
        var engine = try openTree(fs, pageSize: 4096, cacheBytes: 64 * 4096, durability: durability, commitBytes: 32 * 4096)
        var model: [[UInt8]: [UInt8]] = [:]
        // Decimal keys with a long shared stem, like the benchmark's, plus a few short ones.
        func k(_ i: Int) -> [UInt8] { i % 97 == 0 ? Array(String(i).utf8) : key(i, width: 15) }
        for step in 0..<5_000 {
            let i = Int(rng.next(below: 1_500))
            switch rng.next(below: 10) {
            case 0..<5:
                let v = randomBytes(&rng, count: Int(rng.next(below: 120)))
                try engine.put(k(i), v)
                model[k(i)] = v
            case 5..<7:
                #expect(try engine.delete(k(i)) == (model.removeValue(forKey: k(i)) != nil), "seed \(seed) step \(step)")
            default:
                // Gets index the pages they pass; the writes after them change those pages.
                for j in [i, i + 1, i + 37] { #expect(try engine.get(k(j)) == model[k(j)], "seed \(seed) step \(step) key \(j)") }
            }
            if step % 250 == 0 { try engine.checkInvariants() }
            if step == 2_500 {
                try engine.close()
                engine = try openTree(fs, pageSize: 4096, cacheBytes: 64 * 4096, durability: durability, commitBytes: 32 * 4096)
            }
        }
        try engine.checkInvariants()
        for (key, value) in model { #expect(try engine.get(key) == value, "seed \(seed)") }
        try engine.checkInvariants()
        #expect(try contents(engine) == model, "seed \(seed)")
        try engine.close()
    }

    @Test("after reopening, pages read back from the file are indexed afresh and gets match what was written")
    func indexAfterReopen() throws {
        let fs = FaultInjectingFileSystem()
        var engine = try openTree(fs, pageSize: 4096, cacheBytes: 256 * 4096)
        var model: [[UInt8]: [UInt8]] = [:]
        for i in stride(from: 0, to: 4_000, by: 1) {
            let key = key((i * 7_919) % 4_000, width: 15), value = Array("value \(i)".utf8)
            try engine.put(key, value)
            model[key] = value
        }
        for (key, value) in model { #expect(try engine.get(key) == value) }
        try engine.close()
        engine = try openTree(fs, pageSize: 4096, cacheBytes: 256 * 4096)
        for (key, value) in model { #expect(try engine.get(key) == value) }
        #expect(try engine.get(key(4_000, width: 15)) == nil)
        #expect(try engine.get(Array(key(17, width: 15).dropLast())) == nil)
        try engine.checkInvariants()
        try engine.close()
    }
}
