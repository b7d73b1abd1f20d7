// KeyNamer's digit counting and digit writing checked against String(n) at every digit-count boundary.

import KVCore
import Testing
@testable import Workload

@Suite("Key naming: digit boundaries")
struct KeyNamingDigitsTests {
    /// 0, 1, and 10^k - 1, 10^k, 10^k + 1 for every k that fits, and the type's extremes.
    static var boundaries: [UInt64] {
        var values: [UInt64] = [0, 1, 2, 9, UInt64.max, UInt64.max - 1, UInt64(Int64.max), UInt64(Int64.max) + 1]
        var p: UInt64 = 10
        while true {
            values += [p - 1, p, p + 1]
            let (next, overflow) = p.multipliedReportingOverflow(by: 10)
            if overflow { break }
            p = next
        }
        return values
    }

    @Test("decimalDigits equals String(n).count at 0, 10^k - 1, 10^k, 10^k + 1 and UInt64.max")
    func decimalDigitsAtBoundaries() {
        for n in Self.boundaries {
            #expect(KeyNamer.decimalDigits(n) == String(n).count, "n = \(n)")
        }
    }

    @Test("ordered names equal \"user\" + String(n), padded, at every digit-count boundary and for negatives")
    func orderedNamesAtBoundaries() {
        var numbers: [Int64] = [Int64.min, Int64.min + 1, -1, -9, -10, -99, -100]
        numbers += Self.boundaries.filter { $0 <= UInt64(Int64.max) }.map { Int64($0) }
        for padding in [1, 10, 25] {
            let namer = KeyNamer(hashed: false, zeroPadding: padding)
            for n in numbers {
                let text = String(n)
                let expected = "user" + String(repeating: "0", count: max(0, padding - text.count)) + text
                #expect(namer.name(n) == expected, "n = \(n), zeropadding \(padding)")
                #expect(namer.bytes(n).count <= namer.maximumLength)
            }
        }
    }

    @Test("fourDigits writes every value below 10 000 as its four zero-padded decimal digits")
    func fourDigitsExhaustive() {
        for v in 0..<UInt64(10_000) {
            let word = KeyNamer.fourDigits(v)
            let bytes = withUnsafeBytes(of: word.littleEndian) { Array($0) }
            let text = String(v)
            #expect(String(decoding: bytes, as: UTF8.self) == String(repeating: "0", count: 4 - text.count) + text, "v = \(v)")
        }
    }

    @Test("eightDigits writes values below 10^8 (every multiple of 9 999 and 100 000 seeded random ones) as eight zero-padded digits")
    func eightDigitsMatchString() {
        var random = SeededRandom(seed: testSeed(18_0008))
        var values = Array(stride(from: UInt64(0), to: 100_000_000, by: 9_999)) + [99_999_999, 10_000, 9_999]
        for _ in 0..<100_000 { values.append(random.next(below: 100_000_000)) }
        for v in values {
            let bytes = withUnsafeBytes(of: KeyNamer.eightDigits(v).littleEndian) { Array($0) }
            let text = String(v)
            #expect(String(decoding: bytes, as: UTF8.self) == String(repeating: "0", count: 8 - text.count) + text, "v = \(v)")
        }
    }

    @Test("hashed and ordered names equal \"user\" + String(n) for 50 000 seeded random key numbers of every width")
    func randomNamesMatchString() {
        var random = SeededRandom(seed: testSeed(18_0018))
        let hashed = KeyNamer(hashed: true, zeroPadding: 1)
        let ordered = KeyNamer(hashed: false, zeroPadding: 1)
        for i in 0..<50_000 {
            // A random width (1 to 19 digits) so every loop and tail path is taken, and a sign.
            let width = Int(random.next(below: 19)) + 1
            var n = Int64(bitPattern: random.next() >> 1)
            var limit: Int64 = 1
            for _ in 0..<width where limit <= Int64.max / 10 { limit *= 10 }
            if width < 19 { n %= limit }
            if i % 7 == 0 { n = -n }
            #expect(ordered.name(n) == "user" + String(n), "n = \(n)")
            #expect(hashed.name(n) == "user" + String(fnvHash64(n)), "n = \(n)")
        }
    }
}

@Suite("Key naming: names of 16 to 19 digits")
struct KeyNamingLongNameTests {
    @Test("names of numbers from 10^15 up, written without a digit count, equal \"user\" + padding + String(n) for paddings 1 to 20")
    func longNamesMatchString() {
        var random = SeededRandom(seed: testSeed(18_0019))
        var numbers: [Int64] = [999_999_999_999_999, 1_000_000_000_000_000, 1_000_000_000_000_001, 9_999_999_999_999_999,
                                10_000_000_000_000_000, 99_999_999_999_999_999 / 10, 100_000_000_000_000_000,
                                999_999_999_999_999_999, 1_000_000_000_000_000_000, Int64.max, Int64.max - 1]
        for _ in 0..<5_000 { numbers.append(Int64(bitPattern: random.next() >> 1) / Int64(1 << random.next(below: 4))) }
        for padding in [1, 15, 16, 17, 19, 20] {
            let namer = KeyNamer(hashed: false, zeroPadding: padding)
            for n in numbers {
                let text = String(n)
                #expect(namer.name(n) == "user" + String(repeating: "0", count: max(0, padding - text.count)) + text,
                        "n = \(n), zeropadding \(padding)")
            }
        }
    }
}
