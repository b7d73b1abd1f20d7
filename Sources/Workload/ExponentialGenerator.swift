// YCSB's exponential distribution: offsets back from the newest key, most of them small.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVCore

/// Draws ⌊-ln(U)/gamma⌋ with gamma = -ln(1 - percentile/100) / range, so `percentile` percent
/// of draws fall below `range` (YCSB: range = recordcount * exponential.frac).
public struct ExponentialGenerator: Sendable {
    public let gamma: Double

    public init(percentile: Double, range: Double) {
        gamma = -log(1 - percentile / 100) / range
    }

    /// A non-negative offset.
    @inline(__always)
    public mutating func next(using rng: inout SeededRandom) -> Int64 {
        // 1 - U is in (0, 1], so the log is finite.
        let value = -log(1 - rng.nextUnitDouble()) / gamma
        return value >= 0x1p62 ? Int64(1) << 62 : Int64(value)
    }
}
