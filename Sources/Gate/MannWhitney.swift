// The Mann–Whitney U test and two effect sizes (Hodges–Lehmann shift, Cliff's delta) over small samples.
//
// Why nonparametric: benchmark repeats on a shared machine are skewed and heavy-tailed (a run that
// meets a compile job on the other core is 20% slow, never 20% fast), so a t-test's normality does
// not hold and one outlier moves a mean. The U test only uses ranks; the Hodges–Lehmann estimate
// (median of all pairwise differences) is the matching robust size of a shift.

import Foundation

/// Which difference the test looks for between sample `x` and sample `y`.
public enum TestAlternative: Sendable, Equatable {
    /// `x` tends to be greater than `y`.
    case greater
    /// `x` tends to be less than `y`.
    case less
    /// Either direction.
    case twoSided
}

/// How the p-value is computed.
public enum UTestMethod: Sendable, Equatable {
    /// Exact when there are no ties and the exact distribution is small enough, else asymptotic.
    case automatic
    /// The exact permutation distribution of U (valid only without ties).
    case exact
    /// The normal approximation with tie correction and continuity correction.
    case asymptotic
}

/// The result of a Mann–Whitney U test; numbers match `scipy.stats.mannwhitneyu`.
public struct MannWhitneyResult: Sendable, Equatable {
    /// U of the first sample: pairs (x, y) with x > y, ties counting one half.
    public let u: Double
    /// The p-value for the requested alternative.
    public let pValue: Double
    /// The method actually used (`automatic` resolves to one of the others).
    public let method: UTestMethod
    /// The smallest p-value these sample sizes can reach in one direction (`1 / C(n1+n2, n1)`):
    /// when it is above the significance level, no data of this size can show a difference.
    public let smallestAttainablePValue: Double
}

/// Sample sizes or values a test cannot use.
public enum StatisticsError: Error, Equatable, CustomStringConvertible {
    /// A sample is empty.
    case emptySample(String)
    /// A value is NaN or infinite.
    case nonFinite(sample: String, index: Int)
    /// The exact method was asked for with tied values.
    case exactWithTies

    public var description: String {
        switch self {
        case .emptySample(let name): "sample \(name) is empty; a test needs at least one value per side"
        case .nonFinite(let sample, let index): "sample \(sample) value \(index) is not a finite number"
        case .exactWithTies: "the exact Mann–Whitney distribution assumes no ties; use the asymptotic method"
        }
    }
}

/// The Mann–Whitney U test (Wilcoxon rank-sum) and related estimators.
public enum MannWhitney {
    /// Above this many permutations' worth of table (n1 × n2), `automatic` uses the normal approximation.
    static let exactLimit = 2_500

    /// Tests whether `x` and `y` come from distributions shifted against each other.
    /// - Parameters:
    ///   - x: the first sample.
    ///   - y: the second sample.
    ///   - alternative: the direction looked for (about `x` relative to `y`).
    ///   - method: exact, asymptotic, or automatic (exact without ties for n1 × n2 ≤ 2500).
    /// - Throws: `StatisticsError` for empty samples, non-finite values, or `exact` with ties.
    public static func test(_ x: [Double], _ y: [Double], alternative: TestAlternative = .twoSided,
                            method: UTestMethod = .automatic) throws(StatisticsError) -> MannWhitneyResult {
        try check(x, name: "x")
        try check(y, name: "y")
        let n1 = x.count, n2 = y.count
        let (ranks, tieTerm) = rank(x + y)
        let rankSumX = ranks[0..<n1].reduce(0, +)
        let u1 = rankSumX - Double(n1 * (n1 + 1)) / 2
        let u2 = Double(n1 * n2) - u1
        let hasTies = tieTerm > 0
        var resolved = method
        if method == .automatic { resolved = (!hasTies && n1 * n2 <= exactLimit) ? .exact : .asymptotic }
        if resolved == .exact && hasTies { throw .exactWithTies }
        let smallest = 1 / binomial(n1 + n2, n1)
        let p: Double
        switch resolved {
        case .exact:
            let distribution = exactDistribution(n1, n2)
            let total = distribution.reduce(0, +)
            // P(U >= u): U takes integer values without ties.
            func upperTail(_ u: Double) -> Double {
                let start = Swift.max(0, Int(u.rounded(.up)))
                guard start < distribution.count else { return 0 }
                return distribution[start...].reduce(0, +) / total
            }
            switch alternative {
            case .greater: p = upperTail(u1)
            case .less: p = upperTail(u2)
            case .twoSided: p = Swift.min(1, 2 * upperTail(Swift.max(u1, u2)))
            }
        default:
            let n = Double(n1 + n2)
            let mean = Double(n1 * n2) / 2
            let variance = Double(n1 * n2) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
            let sd = variance > 0 ? variance.squareRoot() : 0
            func upperTail(_ u: Double) -> Double {
                guard sd > 0 else { return u > mean ? 0 : 1 }
                let z = (u - mean - 0.5) / sd
                return 0.5 * erfc(z / 2.0.squareRoot())
            }
            switch alternative {
            case .greater: p = upperTail(u1)
            case .less: p = upperTail(u2)
            case .twoSided: p = Swift.min(1, 2 * upperTail(Swift.max(u1, u2)))
            }
        }
        return MannWhitneyResult(u: u1, pValue: Swift.min(1, Swift.max(0, p)), method: resolved, smallestAttainablePValue: smallest)
    }

    /// The Hodges–Lehmann estimate of the shift from `x` to `y`: the median of all `y[j] - x[i]`.
    public static func hodgesLehmannShift(from x: [Double], to y: [Double]) -> Double {
        var differences: [Double] = []
        differences.reserveCapacity(x.count * y.count)
        for a in x { for b in y { differences.append(b - a) } }
        return median(differences)
    }

    /// Cliff's delta of `y` against `x`: P(y > x) − P(y < x) over all pairs, in [−1, 1].
    public static func cliffsDelta(of y: [Double], against x: [Double]) -> Double {
        guard !x.isEmpty, !y.isEmpty else { return 0 }
        var greater = 0, less = 0
        for a in x {
            for b in y {
                if b > a { greater += 1 } else if b < a { less += 1 }
            }
        }
        return Double(greater - less) / Double(x.count * y.count)
    }

    /// The median (mean of the two middle values for an even count; NaN when empty).
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    // MARK: Internals

    private static func check(_ values: [Double], name: String) throws(StatisticsError) {
        guard !values.isEmpty else { throw .emptySample(name) }
        if let index = values.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(sample: name, index: index) }
    }

    /// Mid-ranks (1-based, ties share their average rank) and the tie term Σ(t³ − t).
    static func rank(_ values: [Double]) -> (ranks: [Double], tieTerm: Double) {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var tieTerm = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let averageRank = Double(start + end) / 2 + 1
            for position in start...end { ranks[order[position]] = averageRank }
            let t = Double(end - start + 1)
            tieTerm += t * t * t - t
            start = end + 1
        }
        return (ranks, tieTerm)
    }

    /// Frequencies of U = 0 ... n1·n2 over all C(n1+n2, n1) arrangements, from the generating
    /// function ∏_{i=1}^{n1} (1 − q^{n2+i}) / (1 − q^i) (exact in Double up to about n1 + n2 = 50).
    static func exactDistribution(_ n1: Int, _ n2: Int) -> [Double] {
        let size = n1 * n2 + 1
        var polynomial = [Double](repeating: 0, count: size)
        polynomial[0] = 1
        for i in stride(from: 1, through: n1, by: 1) {
            // Multiply by (1 − q^{n2+i}), from the top so each term uses the old coefficients.
            let shift = n2 + i
            if shift < size {
                for k in stride(from: size - 1, through: shift, by: -1) { polynomial[k] -= polynomial[k - shift] }
            }
            // Divide by (1 − q^i): b[k] = a[k] + b[k − i].
            if i < size {
                for k in i..<size { polynomial[k] += polynomial[k - i] }
            }
        }
        return polynomial.map { $0.rounded() }
    }

    /// C(n, k) as a Double.
    static func binomial(_ n: Int, _ k: Int) -> Double {
        var result = 1.0
        let k = Swift.min(k, n - k)
        guard k > 0 else { return 1 }
        for i in 1...k { result = result * Double(n - k + i) / Double(i) }
        return result.rounded()
    }
}
