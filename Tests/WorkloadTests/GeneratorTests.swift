// The shape of every key, scan-length and field-length distribution, checked statistically.

import Foundation
import KVCore
import Testing
@testable import Workload

@Suite("Generators")
struct GeneratorTests {
    @Test("uniform draws pass a chi-square test over 100 buckets")
    func uniform() {
        var rng = SeededRandom(seed: testSeed(11))
        var g = UniformGenerator(min: 1000, max: 1099)
        var counts = [Int](repeating: 0, count: 100)
        for _ in 0..<100_000 {
            let v = g.next(using: &rng)
            #expect((1000...1099).contains(v))
            counts[Int(v - 1000)] += 1
        }
        // 99 degrees of freedom: the 0.1% critical value is 148.2.
        #expect(chiSquareUniform(counts) < 148.2)
    }

    @Test("zeta is exact for small n and matches YCSB's precomputed value for 10^10 items")
    func zeta() {
        var exact = 0.0
        for i in 1...5_000_000 { exact += 1 / pow(Double(i), 0.99) }
        #expect(abs(Zeta.of(5_000_000, theta: 0.99) - exact) < 1e-9)
        #expect(abs(Zeta.of(10_000_000_000, theta: 0.99) - ScrambledZipfianGenerator.precomputedZetan) < 1e-9)
        #expect(abs(Zeta.extend(Zeta.of(100, theta: 0.5), from: 100, to: 300, theta: 0.5) - Zeta.of(300, theta: 0.5)) < 1e-12)
    }

    @Test("zipfian ranks 1 and 2 follow i^-theta / zeta, rank 3 Gray's approximation, and counts decrease", arguments: [0.99, 0.7])
    func zipfian(theta: Double) {
        var rng = SeededRandom(seed: testSeed(12))
        let n: Int64 = 1000
        var g = ZipfianGenerator(min: 0, max: n - 1, theta: theta)
        var counts = [Int](repeating: 0, count: Int(n))
        let draws = 200_000
        for _ in 0..<draws {
            let v = g.next(using: &rng)
            #expect((0..<n).contains(v))
            counts[Int(v)] += 1
        }
        let zetan = Zeta.of(n, theta: theta)
        for rank in 1...2 {
            let expected = pow(Double(rank), -theta) / zetan
            let observed = Double(counts[rank - 1]) / Double(draws)
            #expect(abs(observed - expected) / expected < 0.03, "rank \(rank): \(observed) vs \(expected)")
        }
        // Gray's formula is exact for ranks 1 and 2 only. A draw u gives rank ≥ 3 when
        // u ≥ 1 - (1 - (3/n)^(1-theta)) / eta, and rank ≥ 2 when u ≥ zeta(2)/zeta(n).
        let eta = (1 - pow(2 / Double(n), 1 - theta)) / (1 - Zeta.of(2, theta: theta) / zetan)
        let rank3 = (1 - (1 - pow(3 / Double(n), 1 - theta)) / eta) - Zeta.of(2, theta: theta) / zetan
        let observed3 = Double(counts[2]) / Double(draws)
        #expect(abs(observed3 - rank3) / rank3 < 0.03, "rank 3: \(observed3) vs \(rank3)")
        #expect(abs(rank3 - pow(3, -theta) / zetan) / rank3 < 0.2)
        for i in 0..<9 { #expect(counts[i] > counts[i + 1], "rank \(i + 1) vs \(i + 2)") }
        // The tail is much colder than the head.
        #expect(counts[0] > 20 * counts[900..<1000].reduce(0, +) / 100)
    }

    @Test("zipfian zeta grows incrementally when the item count grows")
    func zipfianIncremental() {
        var rng = SeededRandom(seed: 13)
        var g = ZipfianGenerator(min: 0, max: 99)
        for _ in 0..<1000 { #expect(g.next(itemCount: 250, using: &rng) < 250) }
        #expect(abs(g.zetan - Zeta.of(250, theta: 0.99)) < 1e-12)
        #expect(g.countForZeta == 250)
    }

    @Test("scrambled zipfian spreads the hottest keys over the range but stays skewed")
    func scrambledZipfian() {
        var rng = SeededRandom(seed: testSeed(14))
        var g = ScrambledZipfianGenerator(min: 0, max: 999)
        var counts = [Int](repeating: 0, count: 1000)
        for _ in 0..<200_000 {
            let v = g.next(using: &rng)
            #expect((0...999).contains(v))
            counts[Int(v)] += 1
        }
        let hottest = counts.indices.sorted { counts[$0] > counts[$1] }.prefix(10)
        #expect(hottest.max()! - hottest.min()! > 500, "hottest keys \(Array(hottest)) are clustered")
        #expect(hottest.filter { $0 < 100 }.count < 5)
        #expect(counts[hottest.first!] > 10 * 200, "hottest key has \(counts[hottest.first!]) draws, mean is 200")
        // A custom theta works without YCSB's precomputed zeta.
        var flat = ScrambledZipfianGenerator(min: 0, max: 999, theta: 0.5)
        for _ in 0..<1000 { #expect((0...999).contains(flat.next(using: &rng))) }
    }

    @Test("hotspot sends hotspotopnfraction of draws to the hot set")
    func hotspot() {
        var rng = SeededRandom(seed: testSeed(15))
        var g = HotspotGenerator(min: 0, max: 999, hotDataFraction: 0.2, hotOperationFraction: 0.8)
        var hot = 0
        var hotCounts = [Int](repeating: 0, count: 200)
        let draws = 100_000
        for _ in 0..<draws {
            let v = g.next(using: &rng)
            #expect((0...999).contains(v))
            if v < 200 { hot += 1; hotCounts[Int(v)] += 1 }
        }
        #expect(abs(Double(hot) / Double(draws) - 0.8) < 0.01)
        #expect(chiSquareUniform(hotCounts) < 270)  // 199 df, 0.1% critical ≈ 267.5
    }

    @Test("exponential puts exponential.percentile of draws below the range, with the right median")
    func exponential() {
        var rng = SeededRandom(seed: testSeed(16))
        let range = 1000 * 0.8571428571
        var g = ExponentialGenerator(percentile: 95, range: range)
        let draws = 100_000
        var values = (0..<draws).map { _ in g.next(using: &rng) }
        values.sort()
        let below = values.filter { Double($0) < range }.count
        #expect(abs(Double(below) / Double(draws) - 0.95) < 0.005)
        let median = Double(values[draws / 2])
        let expectedMedian = log(2) / g.gamma
        #expect(abs(median - expectedMedian) / expectedMedian < 0.03)
    }

    @Test("sequential counts through the range and wraps")
    func sequential() {
        var g = SequentialGenerator(min: 5, max: 8)
        #expect((0..<10).map { _ in g.next() } == [5, 6, 7, 8, 5, 6, 7, 8, 5, 6])
    }

    @Test("uniform scan lengths stay in [min, max] and are flat")
    func scanLength() throws {
        var rng = SeededRandom(seed: testSeed(17))
        let c = try configuration("recordcount=10\nminscanlength=1\nmaxscanlength=100")
        var g = try CoreWorkload(configuration: c).scanLengthPrototype
        var counts = [Int](repeating: 0, count: 100)
        for _ in 0..<100_000 {
            let v = g.next(using: &rng)
            #expect((1...100).contains(v))
            counts[Int(v - 1)] += 1
        }
        #expect(chiSquareUniform(counts) < 148.2)
        var z = try CoreWorkload(configuration: configuration("recordcount=10\nmaxscanlength=100\nscanlengthdistribution=zipfian")).scanLengthPrototype
        var zc = [Int](repeating: 0, count: 101)
        for _ in 0..<10_000 { zc[Int(z.next(using: &rng))] += 1 }
        #expect(zc[1] > zc[2] && zc[2] > zc[50] && zc[0] == 0)
    }

    @Test("field lengths follow fieldlengthdistribution")
    func fieldLengths() throws {
        var rng = SeededRandom(seed: testSeed(18))
        var uniform = try CoreWorkload(configuration: configuration("recordcount=10\nfieldlengthdistribution=uniform\nminfieldlength=10\nfieldlength=20")).fieldLengthPrototype
        var seen = Set<Int64>()
        for _ in 0..<10_000 { seen.insert(uniform.next(using: &rng)) }
        #expect(seen == Set(10...20))
        #expect(uniform.maximum == 20)
        var histogram = FieldLengthGenerator.histogram(try HistogramGenerator(contents: "BlockSize\t4\n0\t1\n1\t0\n2\t3\n", path: "h"))
        var counts: [Int64: Int] = [:]
        for _ in 0..<40_000 { counts[histogram.next(using: &rng), default: 0] += 1 }
        #expect(Set(counts.keys) == [4, 12])
        #expect(abs(Double(counts[12]!) / 40_000 - 0.75) < 0.01)
    }
}
