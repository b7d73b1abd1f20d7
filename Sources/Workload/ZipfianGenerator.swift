// Gray et al.'s zipfian generator ("Quickly generating billion-record synthetic databases", 1994).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVCore

/// Integers in [min, max], the smallest the most popular, P(min + i) ∝ (i + 1)^-theta.
///
/// As YCSB's `ZipfianGenerator`: alpha = 1/(1-theta), eta = (1 - (2/n)^(1-theta)) /
/// (1 - zeta(2)/zeta(n)); a draw u gives min if u*zeta(n) < 1, min+1 if below 1 + 0.5^theta,
/// else min + ⌊n (eta u - eta + 1)^alpha⌋. zeta(n) is computed once; when a caller draws over
/// a larger item count (the `latest` distribution), zeta is extended incrementally and eta keeps
/// the original n, exactly as YCSB does.
public struct ZipfianGenerator: Sendable {
    /// YCSB's default theta.
    public static let defaultTheta = 0.99

    public let base: Int64
    /// The item count the generator was built for.
    public let items: Int64
    public let theta: Double
    let alpha: Double
    let zeta2: Double
    let halfPowTheta: Double
    let twoOverItemsTerm: Double
    /// The item count `zetan` currently sums over.
    public private(set) var countForZeta: Int64
    public private(set) var zetan: Double
    var eta: Double

    /// - Parameters:
    ///   - min: the smallest (most popular) value.
    ///   - max: the largest value (inclusive, ≥ min).
    ///   - theta: skew, in (0, 1).
    ///   - zetan: zeta(max - min + 1, theta) if already known (saves the O(n) sum).
    public init(min: Int64, max: Int64, theta: Double = defaultTheta, zetan: Double? = nil) {
        precondition(max >= min, "zipfian range is empty")
        precondition(theta > 0 && theta < 1, "zipfian theta must be in (0, 1)")
        base = min
        items = max - min + 1
        self.theta = theta
        alpha = 1 / (1 - theta)
        zeta2 = Zeta.of(2, theta: theta)
        halfPowTheta = pow(0.5, theta)
        twoOverItemsTerm = 1 - pow(2 / Double(items), 1 - theta)
        countForZeta = items
        self.zetan = zetan ?? Zeta.of(items, theta: theta)
        eta = twoOverItemsTerm / (1 - zeta2 / self.zetan)
    }

    /// A value in [min, max].
    @inline(__always)
    public mutating func next(using rng: inout SeededRandom) -> Int64 {
        draw(u: rng.nextUnitDouble(), itemCount: countForZeta)
    }

    /// A value in [min, min + itemCount), extending (or recomputing) zeta when the count changed.
    public mutating func next(itemCount: Int64, using rng: inout SeededRandom) -> Int64 {
        if itemCount != countForZeta { resize(to: itemCount) }
        return draw(u: rng.nextUnitDouble(), itemCount: itemCount)
    }

    @inline(__always)
    func draw(u: Double, itemCount: Int64) -> Int64 {
        let uz = u * zetan
        if uz < 1 { return base }
        if uz < 1 + halfPowTheta { return base + 1 }
        return base + Int64(Double(itemCount) * pow(eta * u - eta + 1, alpha))
    }

    mutating func resize(to itemCount: Int64) {
        if itemCount > countForZeta {
            zetan = Zeta.extend(zetan, from: countForZeta, to: itemCount, theta: theta)
        } else {
            // YCSB recomputes from scratch when the count shrinks; it is rare and O(n).
            zetan = Zeta.of(itemCount, theta: theta)
        }
        countForZeta = itemCount
        eta = twoOverItemsTerm / (1 - zeta2 / zetan)
    }
}
