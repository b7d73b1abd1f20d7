// YCSB's hotspot distribution: a fraction of operations on a fraction of the keys.

import KVCore

/// The first ⌊n * hotDataFraction⌋ values of [min, max] are hot: with probability
/// `hotOperationFraction` a draw is uniform over them, otherwise uniform over the rest.
public struct HotspotGenerator: Sendable {
    public let min: Int64
    public let hotCount: Int64
    public let coldCount: Int64
    /// hotOperationFraction scaled to 2^64 so the choice is one integer compare.
    let hotThreshold: UInt64
    public let hotOperationFraction: Double

    public init(min: Int64, max: Int64, hotDataFraction: Double, hotOperationFraction: Double) {
        precondition(max >= min, "hotspot range is empty")
        self.min = min
        let interval = max - min + 1
        hotCount = Int64(Double(interval) * hotDataFraction)
        coldCount = interval - hotCount
        self.hotOperationFraction = hotOperationFraction
        hotThreshold = hotOperationFraction >= 1 ? .max : UInt64(hotOperationFraction * 0x1p64)
    }

    /// A value in [min, max].
    @inline(__always)
    public mutating func next(using rng: inout SeededRandom) -> Int64 {
        let hot = rng.next() < hotThreshold
        if (hot && hotCount > 0) || coldCount == 0 {
            return min + Int64(rng.next(below: UInt64(hotCount)))
        }
        return min + hotCount + Int64(rng.next(below: UInt64(coldCount)))
    }
}
