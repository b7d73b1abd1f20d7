// Seeded pseudo-random numbers, so every random test and benchmark replays from its seed.

/// xoshiro256** seeded through SplitMix64: fast, 256-bit state, reproducible across runs.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    // @usableFromInline so `next()` can be inlined into other modules: the driver draws 2 to 16
    // numbers per operation, and a call per draw cost about 23 instructions (callgrind).
    @usableFromInline var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose whole stream is fixed by `seed`.
    public init(seed: UInt64) {
        var sm = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(&sm); s1 = splitMix(&sm); s2 = splitMix(&sm); s3 = splitMix(&sm)
    }

    // Always inlined: the optimizer kept it as a call in some inlined copies of `next()`
    // (19 instructions each, twice per operation).
    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    // Always inlined: with @inlinable alone the optimizer still called it, and
    // `next(below:)`, from the workload's planning code (six call sites in the release build).
    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = SeededRandom.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = SeededRandom.rotl(s3, 45)
        return result
    }

    /// A uniformly distributed integer in `0..<bound` (bound > 0), by Lemire's method.
    @inlinable @inline(__always)
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }
}
