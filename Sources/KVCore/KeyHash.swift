// A fast 64-bit hash of byte strings for in-memory hash tables (not for on-disk formats).

/// Hashes keys 8 bytes at a time with a multiply-xorshift mix (wyhash-style folding).
/// Seeded, so a table can use a per-process seed; deterministic for a given seed.
public enum KeyHash {
    @usableFromInline static let p0: UInt64 = 0xa076_1d64_78bd_642f
    @usableFromInline static let p1: UInt64 = 0xe703_7ed1_a0b4_28db
    @usableFromInline static let p2: UInt64 = 0x8ebc_6af0_9c88_c6e3

    @inlinable
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }

    /// The hash of `bytes` under `seed`.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let count = bytes.count
        var h = seed ^ p0 ^ UInt64(truncatingIfNeeded: count)
        guard let base = bytes.baseAddress else { return mix(h, p1) }
        var i = 0
        while i + 16 <= count {
            let a = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let b = base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
            h = mix(a ^ p1, b ^ h)
            i += 16
        }
        if i + 8 <= count {
            let a = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = mix(a ^ p1, h ^ p2)
            i += 8
        }
        if i < count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < count {
                tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = mix(tail ^ p2, h ^ p1)
        }
        return mix(h ^ p0, UInt64(truncatingIfNeeded: count) ^ p2)
    }
}
