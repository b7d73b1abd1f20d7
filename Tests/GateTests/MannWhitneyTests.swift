// The U test and effect sizes against values computed with scipy.stats.mannwhitneyu 1.17.1.

import Testing
@testable import Gate

@Suite("Mann–Whitney U")
struct MannWhitneyTests {
    // scipy: mannwhitneyu(x, y, alternative=..., method='exact') -> statistic 2.0
    let x = [1.1, 2.3, 3.0, 4.7, 5.2]
    let y = [6.1, 7.4, 8.2, 9.9, 10.5, 3.5]

    @Test("exact p-values match scipy for every alternative")
    func exactMatchesScipy() throws {
        let two = try MannWhitney.test(x, y, alternative: .twoSided, method: .exact)
        #expect(two.u == 2)
        #expect(abs(two.pValue - 0.017316017316017316) < 1e-12)
        let less = try MannWhitney.test(x, y, alternative: .less, method: .exact)
        #expect(abs(less.pValue - 0.008658008658008658) < 1e-12)
        let greater = try MannWhitney.test(x, y, alternative: .greater, method: .exact)
        #expect(abs(greater.pValue - 0.9956709956709956) < 1e-12)
        #expect(two.method == .exact)
    }

    @Test("the normal approximation with tie and continuity correction matches scipy")
    func asymptoticMatchesScipy() throws {
        let a: [Double] = [1, 2, 2, 3, 3, 3, 4, 5]
        let b: [Double] = [3, 4, 4, 5, 5, 6, 7, 7, 8]
        let two = try MannWhitney.test(a, b, alternative: .twoSided)
        #expect(two.method == .asymptotic)   // ties force it
        #expect(two.u == 7.5)
        #expect(abs(two.pValue - 0.006373133838085873) < 1e-12)
        #expect(abs(try MannWhitney.test(a, b, alternative: .less).pValue - 0.0031865669190429364) < 1e-12)
        #expect(abs(try MannWhitney.test(a, b, alternative: .greater).pValue - 0.9976386658073535) < 1e-12)
    }

    @Test("twenty runs per side: exact and asymptotic p-values both match scipy")
    func twentyPerSide() throws {
        let a = (0..<20).map { 100.0 + Double($0) * 1.3 }
        let b = (0..<20).map { 97.15 + Double($0) * 1.1 }
        let exact = try MannWhitney.test(a, b, alternative: .greater, method: .exact)
        #expect(exact.u == 270)
        #expect(abs(exact.pValue - 0.029781915780851795) < 1e-12)
        let asymptotic = try MannWhitney.test(a, b, alternative: .greater, method: .asymptotic)
        #expect(abs(asymptotic.pValue - 0.030055320881444313) < 1e-12)
    }

    @Test("the exact distribution of U sums to the number of arrangements and is symmetric")
    func exactDistribution() {
        let distribution = MannWhitney.exactDistribution(4, 6)
        #expect(distribution.reduce(0, +) == MannWhitney.binomial(10, 4))
        #expect(distribution == distribution.reversed())
        #expect(distribution.count == 25)
    }

    @Test("the smallest attainable p-value and the runs needed follow 1 / C(2n, n)")
    func attainability() throws {
        let two = try MannWhitney.test([1, 2], [3, 4], alternative: .less)
        #expect(abs(two.smallestAttainablePValue - 1.0 / 6) < 1e-12)
        #expect(abs(two.pValue - 1.0 / 6) < 1e-12)
        // C(8,4) = 70 -> 1/70 < 0.05 but C(6,3) = 20 -> 1/20 is not below 0.05.
        #expect(RegressionGate.repeatsNeeded(significance: 0.05) == 4)
        #expect(RegressionGate.repeatsNeeded(significance: 0.01) == 5)
    }

    @Test("Hodges–Lehmann shift and Cliff's delta of a clean shift")
    func effectSizes() {
        let base = [10.0, 11, 12, 13]
        let new = [15.0, 16, 17, 18]
        #expect(MannWhitney.hodgesLehmannShift(from: base, to: new) == 5)
        #expect(MannWhitney.cliffsDelta(of: new, against: base) == 1)
        #expect(MannWhitney.cliffsDelta(of: base, against: new) == -1)
        #expect(MannWhitney.cliffsDelta(of: base, against: base) == 0)
        #expect(MannWhitney.median([3, 1, 2, 10]) == 2.5)
    }

    @Test("empty samples, non-finite values and exact-with-ties are refused")
    func refusals() {
        #expect(throws: StatisticsError.emptySample("x")) { try MannWhitney.test([], [1]) }
        #expect(throws: StatisticsError.nonFinite(sample: "y", index: 1)) { try MannWhitney.test([1], [2, .nan]) }
        #expect(throws: StatisticsError.exactWithTies) { try MannWhitney.test([1, 2], [2, 3], method: .exact) }
    }
}
