// YCSB's "latest" distribution: recently inserted keys are the most popular.

import KVCore

/// Draws `limit - zipfian(limit)` where `limit` is the highest acknowledged key number, so the
/// newest acknowledged record is the most popular and popularity decays with age.
public struct SkewedLatestGenerator: Sendable {
    var zipfian: ZipfianGenerator

    /// - Parameters:
    ///   - initialLimit: the acknowledged limit at start (recordcount - 1).
    ///   - theta: zipfian skew.
    ///   - zetan: zeta(initialLimit) if already known.
    public init(initialLimit: Int64, theta: Double = ZipfianGenerator.defaultTheta, zetan: Double? = nil) {
        zipfian = ZipfianGenerator(min: 0, max: Swift.max(initialLimit, 1) - 1, theta: theta, zetan: zetan)
    }

    /// A key number in [1, limit] (limit - a zipfian draw over `limit` items), or 0 when
    /// `limit` < 1. Like YCSB, key 0 is never drawn once limit ≥ 1.
    @inline(__always)
    public mutating func next(limit: Int64, using rng: inout SeededRandom) -> Int64 {
        guard limit >= 1 else { return 0 }
        return limit - zipfian.next(itemCount: limit, using: &rng)
    }
}
