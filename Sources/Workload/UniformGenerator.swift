// Uniform and constant integer generators.

import KVCore

/// Uniform integers in [min, max].
public struct UniformGenerator: Sendable {
    public let min: Int64
    let range: UInt64

    public init(min: Int64, max: Int64) {
        precondition(max >= min, "uniform range is empty")
        self.min = min
        range = UInt64(max - min) + 1
    }

    /// A value in [min, max].
    @inline(__always)
    public mutating func next(using rng: inout SeededRandom) -> Int64 {
        min &+ Int64(bitPattern: rng.next(below: range))
    }
}

/// Always the same value.
public struct ConstantGenerator: Sendable {
    public let value: Int64
    public init(_ value: Int64) { self.value = value }
    public mutating func next(using rng: inout SeededRandom) -> Int64 { value }
}
