// YCSB's scrambled zipfian: zipfian popularity, with the popular items spread over the range.

import KVCore

/// Draws a zipfian rank over 10^10 items and maps it into [min, max] by FNV hash, so the
/// popular keys are scattered instead of clustered at the low end (YCSB `requestdistribution=zipfian`).
public struct ScrambledZipfianGenerator: Sendable {
    /// YCSB's item count for the underlying zipfian.
    public static let zipfianItems: Int64 = 10_000_000_000
    /// YCSB's precomputed zeta for 10^10 items at theta 0.99.
    public static let precomputedZetan = 26.46902820178302

    public let min: Int64
    public let itemCount: Int64
    var zipfian: ZipfianGenerator

    /// - Parameters:
    ///   - min: smallest value.
    ///   - max: largest value (inclusive).
    ///   - theta: skew; at 0.99 YCSB's precomputed zeta is used, otherwise zeta is computed
    ///     (fast, see `Zeta`).
    public init(min: Int64, max: Int64, theta: Double = ZipfianGenerator.defaultTheta) {
        precondition(max >= min, "scrambled zipfian range is empty")
        self.min = min
        itemCount = max - min + 1
        let items = Self.zipfianItems + 1
        let zetan = theta == ZipfianGenerator.defaultTheta ? Self.precomputedZetan : Zeta.of(items, theta: theta)
        zipfian = ZipfianGenerator(min: 0, max: Self.zipfianItems, theta: theta, zetan: zetan)
    }

    /// A value in [min, max].
    @inline(__always)
    public mutating func next(using rng: inout SeededRandom) -> Int64 {
        let rank = zipfian.next(using: &rng)
        return min + fnvHash64(rank) % itemCount
    }
}
