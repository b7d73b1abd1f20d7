// SkipList as an ordered map: agreement with a sorted reference, seeks, edge sizes, comparators.

import KVCore
import Testing
@testable import SkipListEngine

@Suite("SkipList")
struct SkipListTests {
    @Test("ordered iteration matches a sorted reference after thousands of random inserts and removes")
    func randomAgainstReference() throws {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let list = SkipList(random: SeededRandom(seed: seed ^ 1))
        var reference: [[UInt8]: [UInt8]] = [:]
        for step in 0..<6000 {
            // Short keys over a small alphabet, so keys repeat, share prefixes and may be empty.
            let key = (0..<Int(random.next(below: 5))).map { _ in UInt8(random.next(below: 4)) + 0x61 }
            if random.next(below: 3) == 0 {
                let existed = reference.removeValue(forKey: key) != nil
                #expect(list.remove(key) == existed, "remove at step \(step), seed \(seed)")
            } else {
                let value = (0..<Int(random.next(below: 40))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                let isNew = reference.updateValue(value, forKey: key) == nil
                #expect(list.insert(key, value) == isNew, "insert at step \(step), seed \(seed)")
            }
            if step % 500 == 499 {
                let expected = reference.sorted { $0.key.lexicographicallyPrecedes($1.key) }
                    .map { KeyValuePair(key: $0.key, value: $0.value) }
                try #require(list.entries() == expected, "iteration differs at step \(step), seed \(seed)")
                #expect(list.visited(from: []) == expected, "seed \(seed)")
                #expect(list.count == reference.count, "seed \(seed)")
                try list.checkInvariants()
            }
        }
        for (key, value) in reference {
            #expect(list.lookup(key) == value, "lookup \(key.debugText), seed \(seed)")
        }
    }

    @Test("seek finds the first key at or after the target")
    func seekSemantics() {
        let list = SkipList()
        for key in ["b", "d", "f"] { list.insert([UInt8](key), [UInt8](key + "!")) }
        func seek(_ target: String) -> String? {
            list.withReadView { view in
                let cursor = [UInt8](target).withUnsafeBytes { view.seek($0) }
                return cursor.isValid ? String(decoding: cursor.key, as: UTF8.self) : nil
            }
        }
        #expect(seek("d") == "d")   // exact
        #expect(seek("c") == "d")   // between keys
        #expect(seek("cz") == "d")
        #expect(seek("") == "b")    // before the first
        #expect(seek("a") == "b")
        #expect(seek("f") == "f")
        #expect(seek("g") == nil)   // after the last
        #expect(seek("f\u{0}") == nil)
        // Walking forward from a seek visits the rest in order, then becomes invalid.
        let walked: [String] = list.withReadView { view in
            var cursor = [UInt8]("c").withUnsafeBytes { view.seek($0) }
            var keys: [String] = []
            while cursor.isValid {
                keys.append(String(decoding: cursor.key, as: UTF8.self) + "=" + String(decoding: cursor.value, as: UTF8.self))
                cursor.next()
            }
            return keys
        }
        #expect(walked == ["d=d!", "f=f!"])
        #expect(list.withReadView { $0.first().isValid })
        #expect(!SkipList().withReadView { $0.first().isValid })
    }

    @Test("an empty key and an empty value are ordinary records")
    func emptyKeyAndValue() throws {
        let list = SkipList()
        #expect(list.insert([], [1, 2, 3]))
        #expect(list.insert([0], []))
        #expect(list.lookup([]) == [1, 2, 3])
        #expect(list.lookup([0]) == [])
        #expect(list.lookup([1]) == nil)
        #expect(list.entries().map(\.key) == [[], [0]])
        #expect(!list.insert([], []))
        #expect(list.lookup([]) == [])
        #expect(list.remove([]))
        #expect(!list.remove([]))
        #expect(list.entries().map(\.key) == [[0]])
        try list.checkInvariants()
    }

    @Test("a 1 MiB value is stored, replaced and freed")
    func largeValue() throws {
        let list = SkipList()
        let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        list.insert([UInt8]("big"), big)
        list.insert([UInt8]("small"), [7])
        #expect(list.lookup([UInt8]("big")) == big)
        #expect(list.memoryUsage.bytesInUse > 1 << 20)
        let bigger = big + big
        list.insert([UInt8]("big"), bigger)
        #expect(list.lookup([UInt8]("big")) == bigger)
        list.insert([UInt8]("big"), [1])
        #expect(list.lookup([UInt8]("big")) == [1])
        #expect(list.memoryUsage.bytesInUse < 1024)
        #expect(list.memoryUsage.bytesReserved < 1 << 20)
        list.insert([UInt8]("big"), big)
        try list.checkInvariants()
        list.removeAll()
        #expect(list.count == 0)
        #expect(list.memoryUsage == (0, 0))
    }

    @Test("replacing a value with larger and smaller ones keeps the key, order and count")
    func replaceWithDifferentSizes() throws {
        let list = SkipList(random: SeededRandom(seed: 42))
        for i in 0..<200 { list.insert([UInt8(i >> 8), UInt8(i & 0xFF)], [UInt8](repeating: 1, count: 10)) }
        let sizes = [0, 1, 10, 11, 17, 200, 5000, 3, 4096, 9]
        for (round, size) in sizes.enumerated() {
            for i in stride(from: round % 3, to: 200, by: 3) {
                #expect(!list.insert([UInt8(i >> 8), UInt8(i & 0xFF)], [UInt8](repeating: UInt8(round), count: size)))
            }
            try list.checkInvariants()
            #expect(list.count == 200)
            for i in stride(from: round % 3, to: 200, by: 3) {
                #expect(list.lookup([UInt8(i >> 8), UInt8(i & 0xFF)]) == [UInt8](repeating: UInt8(round), count: size))
            }
        }
        let keys = list.entries().map(\.key)
        #expect(keys == (0..<200).map { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })
    }

    @Test("an LSM internal-key comparator orders by user key, then newest sequence first")
    func customComparator() throws {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let list = SkipList(comparator: InternalKeyComparator(), random: SeededRandom(seed: seed))
        var expected: [(String, UInt64)] = []
        for user in ["", "a", "ab", "b", "zz"] {
            for sequence in [1, 5, 9, 200, 70000] as [UInt64] { expected.append((user, sequence)) }
        }
        var shuffled = expected
        shuffled.shuffle(using: &random)
        for (user, sequence) in shuffled {
            #expect(list.insert(InternalKeyComparator.key(user, sequence), [UInt8]("\(user)@\(sequence)")))
        }
        try list.checkInvariants()
        let order = list.entries().map { String(decoding: $0.value, as: UTF8.self) }
        let wanted = expected.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 > $1.1 }.map { "\($0.0)@\($0.1)" }
        #expect(order == wanted, "seed \(seed)")
        // A memtable lookup: seek to (user, snapshot) finds the newest version <= snapshot.
        func newest(_ user: String, atOrBefore snapshot: UInt64) -> String? {
            list.withReadView { view in
                let cursor = InternalKeyComparator.key(user, snapshot).withUnsafeBytes { view.seek($0) }
                guard cursor.isValid, Array(cursor.key.dropLast(8)) == [UInt8](user) else { return nil }
                return String(decoding: cursor.value, as: UTF8.self)
            }
        }
        #expect(newest("ab", atOrBefore: 100) == "ab@9")
        #expect(newest("ab", atOrBefore: 9) == "ab@9")
        #expect(newest("ab", atOrBefore: .max) == "ab@70000")
        #expect(newest("ab", atOrBefore: 0) == nil)
        #expect(newest("aa", atOrBefore: .max) == nil)
    }

    @Test("a reverse comparator iterates in descending byte order")
    func reverseComparator() throws {
        let list = SkipList(comparator: ReverseComparator(), random: SeededRandom(seed: 3))
        for key in ["m", "a", "z", "", "mm"] { list.insert([UInt8](key), []) }
        try list.checkInvariants()
        #expect(list.entries(from: [UInt8]("m")).map { String(decoding: $0.key, as: UTF8.self) } == ["m", "a", ""])
    }

    @Test("invariants hold after heavy churn and removing everything")
    func invariantsAfterChurn() throws {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let list = SkipList(random: SeededRandom(seed: seed))
        var live = Set<UInt32>()
        for _ in 0..<20000 {
            let k = UInt32(random.next(below: 3000))
            let key = withUnsafeBytes(of: k.bigEndian) { Array($0) }
            if random.next(below: 2) == 0 {
                list.insert(key, [UInt8](repeating: 0, count: Int(random.next(below: 64))))
                live.insert(k)
            } else {
                #expect(list.remove(key) == (live.remove(k) != nil), "seed \(seed)")
            }
        }
        try list.checkInvariants()
        #expect(list.count == live.count)
        for k in live { list.remove(withUnsafeBytes(of: k.bigEndian) { Array($0) }) }
        try list.checkInvariants()
        #expect(list.count == 0)
        #expect(list.memoryUsage.bytesInUse == 0)
        #expect(list.height == 1)
    }

    @Test("a record of 16-byte key and 100-byte value takes under twice its raw bytes")
    func memoryPerRecord() throws {
        let list = SkipList(random: SeededRandom(seed: 7))
        let records = 20000
        var random = SeededRandom(seed: 7)
        let value = [UInt8](repeating: 0xAB, count: 100)
        for _ in 0..<records {
            let key = (0..<2).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
            list.insert(key, value)
        }
        try list.checkInvariants()
        let usage = list.memoryUsage
        let raw = Double(list.count * 116)
        // 168 bytes expected per record since nodes carry 16-byte key prefixes and p = 1/2
        // (1.45x; it was 131, 1.13x, before): see "Memory per record" on SkipList.
        #expect(Double(usage.bytesInUse) / raw < 1.5)
        #expect(Double(usage.bytesReserved) / raw < 2.0)
    }
}

/// LevelDB's internal-key order: user key ascending, then the trailing 8-byte big-endian
/// sequence number descending (newest first).
struct InternalKeyComparator: KeyComparator {
    func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let userA = UnsafeRawBufferPointer(rebasing: a[..<(a.count - 8)])
        let userB = UnsafeRawBufferPointer(rebasing: b[..<(b.count - 8)])
        let byUser = ByteOrder.compare(userA, userB)
        if byUser != 0 { return byUser }
        let sequenceA = a.loadUnaligned(fromByteOffset: a.count - 8, as: UInt64.self).bigEndian
        let sequenceB = b.loadUnaligned(fromByteOffset: b.count - 8, as: UInt64.self).bigEndian
        return sequenceA == sequenceB ? 0 : (sequenceA > sequenceB ? -1 : 1)
    }

    static func key(_ user: String, _ sequence: UInt64) -> [UInt8] {
        [UInt8](user) + withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
    }
}

/// Descending byte order.
struct ReverseComparator: KeyComparator {
    func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int { ByteOrder.compare(b, a) }
}
