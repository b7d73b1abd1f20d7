// Varints, byte order and hashing: the primitives every engine leans on.

import KVCore
import Testing

@Suite("KVCore primitives")
struct VarintAndOrderTests {
    @Test("varints round-trip at every length boundary, and truncated or overlong input is rejected")
    func varints() {
        let values: [UInt64] = [0, 1, 127, 128, 16_383, 16_384, 1 << 35, UInt64.max]
        for value in values {
            var bytes: [UInt8] = []
            Varint.append(value, to: &bytes)
            #expect(bytes.count == Varint.encodedLength(value))
            let decoded = bytes.withUnsafeBytes { Varint.read($0, at: 0) }
            #expect(decoded?.value == value && decoded?.length == bytes.count)
            let truncated = Array(bytes.dropLast())
            #expect(truncated.withUnsafeBytes { Varint.read($0, at: 0) } == nil)
        }
        let overlong = [UInt8](repeating: 0xFF, count: 10) + [0x01]
        #expect(overlong.withUnsafeBytes { Varint.read($0, at: 0) } == nil)
    }

    @Test("byte order is unsigned and shorter prefixes sort first")
    func byteOrder() {
        func cmp(_ a: [UInt8], _ b: [UInt8]) -> Int {
            a.withUnsafeBytes { x in b.withUnsafeBytes { y in ByteOrder.compare(x, y) } }
        }
        #expect(cmp([], []) == 0)
        #expect(cmp([], [0]) < 0)
        #expect(cmp([0x80], [0x7F]) > 0)
        #expect(cmp([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 10]) < 0)
        #expect(cmp([1, 2, 3, 4, 5, 6, 7, 9], [1, 2, 3, 4, 5, 6, 7, 8, 0]) > 0)
        var rng = SeededRandom(seed: 11)
        for _ in 0..<2000 {
            let a = (0..<Int(rng.next(below: 20))).map { _ in UInt8(rng.next(below: 4)) }
            let b = (0..<Int(rng.next(below: 20))).map { _ in UInt8(rng.next(below: 4)) }
            let expected = a == b ? 0 : (a.lexicographicallyPrecedes(b) ? -1 : 1)
            #expect(cmp(a, b).signum() == expected, "\(a) vs \(b)")
        }
    }

    @Test("the key hash spreads sequential keys evenly over buckets")
    func keyHashSpread() {
        var buckets = [Int](repeating: 0, count: 64)
        let n = 64_000
        for i in 0..<n {
            let key = Array("user\(i)".utf8)
            let h = key.withUnsafeBytes { KeyHash.hash($0) }
            buckets[Int(h >> 58)] += 1
        }
        // Chi-square with 63 degrees of freedom; 99.9th percentile is about 103.4.
        let expected = Double(n) / 64
        let chi = buckets.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        #expect(chi < 103.4, "chi-square \(chi)")
    }

    @Test("the seeded generator is reproducible and next(below:) stays in range")
    func seededRandom() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42), c = SeededRandom(seed: 43)
        let x = (0..<10).map { _ in a.next() }
        #expect(x == (0..<10).map { _ in b.next() })
        #expect(x != (0..<10).map { _ in c.next() })
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[Int(a.next(below: 7))] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 }, "\(counts)")
    }
}
