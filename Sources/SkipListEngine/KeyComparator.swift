// The pluggable key order of a SkipList: bytewise by default, custom for LSM internal keys.

import KVCore

/// A total order over byte-string keys.
///
/// `SkipList` takes the comparator as a generic parameter, so each comparison is a direct
/// (specializable) call, not a dynamic dispatch through an existential.
public protocol KeyComparator: Sendable {
    /// Negative if `a` sorts before `b`, zero if they are the same key, positive if after.
    /// Must be a strict weak order that is consistent for the lifetime of the list.
    func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int

    /// A 16-byte summary of `key` that agrees with `compare`: whenever
    /// `prefix(a) < prefix(b)`, `compare(a, b) < 0` (so equal keys have equal prefixes; equal
    /// prefixes say nothing). The skiplist stores it with each node and each tower pointer so a
    /// search decides most steps with two integer comparisons on memory it already holds.
    /// The default, all zeros, is always correct and never decides anything.
    func prefix(_ key: UnsafeRawBufferPointer) -> KeyPrefix
}

extension KeyComparator {
    /// All zeros: every key ties, so every step falls back to `compare`.
    @inlinable
    public func prefix(_ key: UnsafeRawBufferPointer) -> KeyPrefix { KeyPrefix(high: 0, low: 0) }
}

/// The first 16 bytes of a key as two big-endian words, zero-padded: comparing two prefixes
/// as integers is comparing those bytes with memcmp, and a shorter key pads with 0x00, which
/// sorts no later than any byte it stands for (so the order is never contradicted, only tied).
@frozen
public struct KeyPrefix: Sendable, Equatable {
    /// Bytes 0..<8, the first byte most significant.
    public var high: UInt64
    /// Bytes 8..<16, the first byte most significant.
    public var low: UInt64

    /// A prefix from its two words.
    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The prefix of `bytes` (bytewise order).
    @inlinable @inline(__always)
    public init(bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        if count >= 16, let base = bytes.baseAddress {
            high = UInt64(bigEndian: base.loadUnaligned(as: UInt64.self))
            low = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            return
        }
        // Short keys: assemble byte by byte (rare on the hot path: bench and YCSB keys are longer).
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<count {
            let byte = UInt64(bytes[i])
            if i < 8 { h |= byte << UInt64(56 - 8 * i) } else { l |= byte << UInt64(56 - 8 * (i - 8)) }
        }
        high = h
        low = l
    }

    /// True if `self` sorts strictly before `other` (as 16 big-endian bytes).
    @inlinable @inline(__always)
    public func isBefore(_ other: KeyPrefix) -> Bool {
        high < other.high || (high == other.high && low < other.low)
    }
}

/// Unsigned lexicographic order, shorter prefix first (memcmp order, `ByteOrder.compare`).
public struct BytewiseComparator: KeyComparator {
    public init() {}

    @inlinable
    public func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        ByteOrder.compare(a, b)
    }

    /// The key's first 16 bytes (`KeyPrefix(bytes:)`).
    @inlinable
    public func prefix(_ key: UnsafeRawBufferPointer) -> KeyPrefix { KeyPrefix(bytes: key) }
}
