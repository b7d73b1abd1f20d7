// Key prefixes in the skiplist's search: keys that tie on their first 8 or 16 bytes, short, empty and 0x00/0xFF keys against a sorted reference.

import KVCore
import Testing
@testable import SkipListEngine

@Suite("SkipList key prefixes")
struct SkipListPrefixTests {
    /// A key built to stress prefix ties: a shared 16-byte or 8-byte stem ("0000…", as the
    /// bench's zero-padded keys have) plus a tail over 0x00, 0x01, 0x7F, 0xFF; or a key shorter
    /// than 8 bytes over the same bytes; or the empty key.
    static func trickyKey(_ random: inout SeededRandom) -> [UInt8] {
        let alphabet: [UInt8] = [0x00, 0x01, 0x30, 0x7F, 0xFF]
        func tail(_ count: Int) -> [UInt8] { (0..<count).map { _ in alphabet[Int(random.next(below: 5))] } }
        switch random.next(below: 6) {
        case 0: return [UInt8](repeating: 0x30, count: 16) + tail(Int(random.next(below: 4)))
        case 1: return [UInt8](repeating: 0x30, count: 8) + tail(Int(random.next(below: 11)))
        case 2: return [UInt8](repeating: 0x30, count: 15) + tail(Int(random.next(below: 3)))
        case 3: return tail(Int(random.next(below: 8)))
        case 4: return [UInt8](repeating: 0xFF, count: 8 + Int(random.next(below: 10)))
        default: return random.next(below: 4) == 0 ? [] : [UInt8](repeating: 0x00, count: Int(random.next(below: 18)))
        }
    }

    /// The index of the first reference key `>= target` (lower bound).
    static func lowerBound(_ sorted: [[UInt8]], _ target: [UInt8]) -> Int {
        sorted.firstIndex { !$0.lexicographicallyPrecedes(target) } ?? sorted.count
    }

    @Test("a key prefix never orders two keys against their bytewise order")
    func prefixAgreesWithBytewiseOrder() {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let comparator = BytewiseComparator()
        for _ in 0..<20000 {
            let a = Self.trickyKey(&random), b = Self.trickyKey(&random)
            a.withUnsafeBytes { x in
                b.withUnsafeBytes { y in
                    let order = comparator.compare(x, y)
                    let (pa, pb) = (comparator.prefix(x), comparator.prefix(y))
                    if pa.isBefore(pb) { #expect(order < 0, "\(a.debugText) vs \(b.debugText), seed \(seed)") }
                    if pb.isBefore(pa) { #expect(order > 0, "\(a.debugText) vs \(b.debugText), seed \(seed)") }
                    if order == 0 { #expect(pa == pb, "\(a.debugText), seed \(seed)") }
                }
            }
        }
        // Padding: "ab" and "ab\0" tie on the prefix, and the tie is left to the full compare.
        let short: [UInt8] = [0x61, 0x62], padded: [UInt8] = [0x61, 0x62, 0x00]
        short.withUnsafeBytes { x in padded.withUnsafeBytes { y in #expect(comparator.prefix(x) == comparator.prefix(y)) } }
    }

    @Test("lookups, seeks and iteration over keys that tie on their first 8 or 16 bytes match a sorted reference")
    func tiesAgainstReference() throws {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let list = SkipList(random: SeededRandom(seed: seed ^ 0x18C))
        var reference: [[UInt8]: [UInt8]] = [:]
        for step in 0..<4000 {
            let key = Self.trickyKey(&random)
            switch random.next(below: 4) {
            case 0:
                let existed = reference.removeValue(forKey: key) != nil
                #expect(list.remove(key) == existed, "remove \(key.debugText) at step \(step), seed \(seed)")
            default:
                let value = [UInt8(truncatingIfNeeded: step), UInt8(truncatingIfNeeded: step >> 8)]
                let isNew = reference.updateValue(value, forKey: key) == nil
                #expect(list.insert(key, value) == isNew, "insert \(key.debugText) at step \(step), seed \(seed)")
            }
            if step % 400 == 399 {
                let sorted = reference.keys.sorted { $0.lexicographicallyPrecedes($1) }
                try #require(list.entries().map(\.key) == sorted, "iteration differs at step \(step), seed \(seed)")
                try list.checkInvariants()
                for _ in 0..<200 {
                    let probe = Self.trickyKey(&random)
                    #expect(list.lookup(probe) == reference[probe], "lookup \(probe.debugText), seed \(seed)")
                    let bound = Self.lowerBound(sorted, probe)
                    let found = list.entries(from: probe).first?.key
                    #expect(found == (bound < sorted.count ? sorted[bound] : nil),
                            "seek \(probe.debugText) at step \(step), seed \(seed)")
                }
            }
        }
    }

    @Test("the engine finds every version of keys that differ only after byte 16")
    func engineWithTiedPrefixes() throws {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let engine = SkipListEngine(seed: seed)
        var reference: [[UInt8]: [UInt8]] = [:]
        for step in 0..<2000 {
            let key = Self.trickyKey(&random)
            if random.next(below: 4) == 0 {
                reference[key] = nil
                try engine.delete(key)
            } else {
                let value = [UInt8(truncatingIfNeeded: step)]
                reference[key] = value
                try engine.put(key, value)
            }
        }
        for key in reference.keys { #expect(try engine.get(key) == reference[key], "get \(key.debugText), seed \(seed)") }
        for _ in 0..<500 {
            let probe = Self.trickyKey(&random)
            #expect(try engine.get(probe) == reference[probe], "get \(probe.debugText), seed \(seed)")
        }
    }
}
