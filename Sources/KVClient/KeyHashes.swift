// Non-cryptographic key hashes for sharding: xxHash64, MurmurHash3 (x86_32, x64_128) and FNV-1a 64.

/// The hash a router places keys (and ring points) with.
///
/// All three are fast, well-mixed, non-cryptographic hashes that other systems use for the same
/// job: xxHash64 (the default: fastest on long keys), MurmurHash3 x64_128's first 64 bits (what
/// Cassandra's Murmur3Partitioner uses), and FNV-1a 64 (simplest; the weakest mixing on short,
/// similar keys, which `kvlab ring` makes visible).
public enum KeyHashFunction: String, Sendable, CaseIterable, CustomStringConvertible {
    case xxh64
    case murmur3
    case fnv1a

    /// The 64-bit hash of `bytes`.
    @inlinable
    public func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        switch self {
        case .xxh64: XXHash64.hash(bytes, seed: seed)
        case .murmur3: MurmurHash3.x64_128(bytes, seed: UInt32(truncatingIfNeeded: seed)).0
        case .fnv1a: FNV1a.hash64(bytes, seed: seed)
        }
    }

    /// The 64-bit hash of `bytes`.
    public func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 { bytes.withUnsafeBytes { hash($0, seed: seed) } }

    /// The 64-bit hash of a string's UTF-8 bytes.
    public func hash(_ text: String, seed: UInt64 = 0) -> UInt64 { hash(Array(text.utf8), seed: seed) }

    public var description: String { rawValue }
}

@usableFromInline
func loadLittleEndian64(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

@usableFromInline
func loadLittleEndian32(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

@usableFromInline
func rotateLeft(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

@usableFromInline
func rotateLeft(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }

/// XXH64, as specified in xxHash's `doc/xxhash_spec.md` (little-endian lanes, 32-byte stripes).
public enum XXHash64 {
    @usableFromInline static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    @usableFromInline static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    @usableFromInline static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    @usableFromInline static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    @usableFromInline static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    @usableFromInline
    static func round(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        rotateLeft(accumulator &+ lane &* prime2, 31) &* prime1
    }

    @usableFromInline
    static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* prime1 &+ prime4
    }

    /// XXH64 of `input` with `seed`.
    @inlinable
    public static func hash(_ input: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let length = input.count
        var offset = 0
        var h: UInt64
        if length >= 32 {
            var v1 = seed &+ prime1 &+ prime2, v2 = seed &+ prime2, v3 = seed, v4 = seed &- prime1
            while offset + 32 <= length {
                v1 = round(v1, loadLittleEndian64(input, offset))
                v2 = round(v2, loadLittleEndian64(input, offset + 8))
                v3 = round(v3, loadLittleEndian64(input, offset + 16))
                v4 = round(v4, loadLittleEndian64(input, offset + 24))
                offset += 32
            }
            h = rotateLeft(v1, 1) &+ rotateLeft(v2, 7) &+ rotateLeft(v3, 12) &+ rotateLeft(v4, 18)
            h = merge(h, v1); h = merge(h, v2); h = merge(h, v3); h = merge(h, v4)
        } else {
            h = seed &+ prime5
        }
        h = h &+ UInt64(length)
        while offset + 8 <= length {
            h ^= round(0, loadLittleEndian64(input, offset))
            h = rotateLeft(h, 27) &* prime1 &+ prime4
            offset += 8
        }
        if offset + 4 <= length {
            h ^= UInt64(loadLittleEndian32(input, offset)) &* prime1
            h = rotateLeft(h, 23) &* prime2 &+ prime3
            offset += 4
        }
        while offset < length {
            h ^= UInt64(input[offset]) &* prime5
            h = rotateLeft(h, 11) &* prime1
            offset += 1
        }
        h ^= h >> 33; h = h &* prime2
        h ^= h >> 29; h = h &* prime3
        h ^= h >> 32
        return h
    }
}

/// MurmurHash3 by Austin Appleby (SMHasher's `MurmurHash3.cpp`), little-endian blocks.
public enum MurmurHash3 {
    @usableFromInline
    static func fmix32(_ value: UInt32) -> UInt32 {
        var h = value
        h ^= h >> 16; h = h &* 0x85EB_CA6B
        h ^= h >> 13; h = h &* 0xC2B2_AE35
        h ^= h >> 16
        return h
    }

    @usableFromInline
    static func fmix64(_ value: UInt64) -> UInt64 {
        var k = value
        k ^= k >> 33; k = k &* 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33; k = k &* 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }

    /// MurmurHash3_x86_32.
    public static func x86_32(_ input: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        let c1: UInt32 = 0xCC9E_2D51, c2: UInt32 = 0x1B87_3593
        let length = input.count
        let blocks = length / 4
        var h1 = seed
        for i in 0..<blocks {
            var k1 = loadLittleEndian32(input, i * 4)
            k1 = k1 &* c1; k1 = rotateLeft(k1, 15); k1 = k1 &* c2
            h1 ^= k1
            h1 = rotateLeft(h1, 13); h1 = h1 &* 5 &+ 0xE654_6B64
        }
        let tail = blocks * 4
        var k1: UInt32 = 0
        let rest = length & 3
        if rest >= 3 { k1 ^= UInt32(input[tail + 2]) << 16 }
        if rest >= 2 { k1 ^= UInt32(input[tail + 1]) << 8 }
        if rest >= 1 {
            k1 ^= UInt32(input[tail])
            k1 = k1 &* c1; k1 = rotateLeft(k1, 15); k1 = k1 &* c2; h1 ^= k1
        }
        h1 ^= UInt32(truncatingIfNeeded: length)
        return fmix32(h1)
    }

    /// MurmurHash3_x64_128: the two 64-bit halves (h1, h2) in the order the reference writes them.
    @inlinable
    public static func x64_128(_ input: UnsafeRawBufferPointer, seed: UInt32 = 0) -> (UInt64, UInt64) {
        let c1: UInt64 = 0x87C3_7B91_1142_53D5, c2: UInt64 = 0x4CF5_AD43_2745_937F
        let length = input.count
        let blocks = length / 16
        var h1 = UInt64(seed), h2 = UInt64(seed)
        for i in 0..<blocks {
            var k1 = loadLittleEndian64(input, i * 16)
            var k2 = loadLittleEndian64(input, i * 16 + 8)
            k1 = k1 &* c1; k1 = rotateLeft(k1, 31); k1 = k1 &* c2; h1 ^= k1
            h1 = rotateLeft(h1, 27); h1 = h1 &+ h2; h1 = h1 &* 5 &+ 0x52DC_E729
            k2 = k2 &* c2; k2 = rotateLeft(k2, 33); k2 = k2 &* c1; h2 ^= k2
            h2 = rotateLeft(h2, 31); h2 = h2 &+ h1; h2 = h2 &* 5 &+ 0x3849_5AB5
        }
        let tail = blocks * 16
        let rest = length & 15
        var k1: UInt64 = 0, k2: UInt64 = 0
        if rest > 8 {
            for i in stride(from: rest - 1, through: 8, by: -1) { k2 ^= UInt64(input[tail + i]) << UInt64((i - 8) * 8) }
            k2 = k2 &* c2; k2 = rotateLeft(k2, 33); k2 = k2 &* c1; h2 ^= k2
        }
        if rest > 0 {
            for i in stride(from: min(rest, 8) - 1, through: 0, by: -1) { k1 ^= UInt64(input[tail + i]) << UInt64(i * 8) }
            k1 = k1 &* c1; k1 = rotateLeft(k1, 31); k1 = k1 &* c2; h1 ^= k1
        }
        h1 ^= UInt64(length); h2 ^= UInt64(length)
        h1 = h1 &+ h2; h2 = h2 &+ h1
        h1 = fmix64(h1); h2 = fmix64(h2)
        h1 = h1 &+ h2; h2 = h2 &+ h1
        return (h1, h2)
    }
}

/// FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
public enum FNV1a {
    public static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01B3

    /// FNV-1a 64 of `input`; a nonzero `seed` is folded into the offset basis (seed 0 = the standard hash).
    @inlinable
    public static func hash64(_ input: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var h = offsetBasis ^ seed
        for b in input { h = (h ^ UInt64(b)) &* prime }
        return h
    }
}
