// Lexicographic comparison of byte strings: the order every ordered engine sorts by.

/// Compares two byte strings as unsigned bytes, shorter-prefix first (memcmp order).
public enum ByteOrder {
    /// Negative if `a < b`, zero if equal, positive if `a > b`.
    @inlinable
    public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0, let pa = a.baseAddress, let pb = b.baseAddress {
            let r = memcmpBytes(pa, pb, n)
            if r != 0 { return r }
        }
        return a.count - b.count
    }

    /// True if the two byte strings are equal.
    @inlinable
    public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        return memcmpBytes(pa, pb, a.count) == 0
    }

    @inlinable
    static func memcmpBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Int {
        // Compare 8 bytes at a time as big-endian words, then the tail bytewise.
        var i = 0
        while i + 8 <= n {
            let x = a.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let y = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if x != y {
                return x.bigEndian < y.bigEndian ? -1 : 1
            }
            i += 8
        }
        while i < n {
            let x = a.load(fromByteOffset: i, as: UInt8.self)
            let y = b.load(fromByteOffset: i, as: UInt8.self)
            if x != y { return Int(x) - Int(y) }
            i += 1
        }
        return 0
    }
}
