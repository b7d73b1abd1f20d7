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
}

/// Unsigned lexicographic order, shorter prefix first (memcmp order, `ByteOrder.compare`).
public struct BytewiseComparator: KeyComparator {
    public init() {}

    @inlinable
    public func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        ByteOrder.compare(a, b)
    }
}
