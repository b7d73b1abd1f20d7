// Draws from SeededRandom that the generators share.

import KVCore

extension SeededRandom {
    /// A uniform double in [0, 1) with 53 random bits, as Java's `nextDouble`.
    @inline(__always)
    mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }
}
