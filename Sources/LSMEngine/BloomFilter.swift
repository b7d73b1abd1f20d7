// The per-table bloom filter over user keys: about 10 bits per key, near 1% false positives.

/// A bloom filter in LevelDB's layout: `bitCount / 8` bytes of bits, then one byte holding the
/// number of probes `k`. Probe `i` of a key sets bit `(h + i * delta) mod bitCount`, where `h` is
/// `BloomFilter.hash` of the user key and `delta = (h >> 17) | (h << 15)` (double hashing).
///
/// `hash` is part of the on-disk format: a 32-bit fold of 64-bit multiply-xorshift rounds over
/// the key's 8-byte little-endian words (tail zero-padded), seeded with the key's length; see
/// the code, which must not change without changing the table magic number.
struct BloomFilter {
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(key.count)
        let count = key.count
        var i = 0
        @inline(__always) func mix(_ x: UInt64) {
            h = (h ^ x) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }
        if let base = key.baseAddress {
            while i + 8 <= count {
                mix(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                i += 8
            }
            if i < count {
                var tail: UInt64 = 0
                var shift: UInt64 = 0
                while i < count { tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift; shift += 8; i += 1 }
                mix(tail)
            }
        }
        h = (h ^ (h >> 29)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 32
        return UInt32(truncatingIfNeeded: h)
    }

    /// The filter bytes for keys with the given hashes.
    static func build(hashes: [UInt32], bitsPerKey: Int) -> [UInt8] {
        let k = max(1, min(30, Int(Double(bitsPerKey) * 0.69)))
        let bits = max(64, hashes.count * bitsPerKey)
        let bytes = (bits + 7) / 8
        let bitCount = bytes * 8
        var out = [UInt8](repeating: 0, count: bytes + 1)
        for var h in hashes {
            let delta = (h >> 17) | (h << 15)
            for _ in 0..<k {
                let bit = Int(h % UInt32(bitCount))
                out[bit / 8] |= 1 << UInt8(bit % 8)
                h = h &+ delta
            }
        }
        out[bytes] = UInt8(k)
        return out
    }

    /// False only if the key is certainly absent. A filter too short or with an unknown probe
    /// count says "maybe" (the table is then searched).
    static func mayContain(_ filter: UnsafeRawBufferPointer, hash: UInt32) -> Bool {
        guard filter.count >= 2 else { return true }
        let k = Int(filter[filter.count - 1])
        guard k >= 1 && k <= 30 else { return true }
        let bitCount = UInt32((filter.count - 1) * 8)
        var h = hash
        let delta = (h >> 17) | (h << 15)
        for _ in 0..<k {
            let bit = Int(h % bitCount)
            if filter[bit / 8] & (1 << UInt8(bit % 8)) == 0 { return false }
            h = h &+ delta
        }
        return true
    }
}
