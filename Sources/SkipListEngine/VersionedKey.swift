// Multi-version keys for SkipListEngine: a user key plus a sequence number and a kind, newest first.

import KVCore

/// The key of every node in `SkipListEngine`'s list.
///
/// Byte layout: the user key's bytes, then an 8-byte little-endian trailer `sequence << 8 | kind`
/// (kind 0 = deletion, 1 = value), the same layout as the LSM's internal keys. Sequence numbers
/// fit in 56 bits.
enum VersionedKey {
    static let trailerSize = 8
    static let maxSequence: UInt64 = (1 << 56) - 1

    @inline(__always)
    static func trailer(sequence: UInt64, isDeletion: Bool) -> UInt64 { sequence << 8 | (isDeletion ? 0 : 1) }

    @inline(__always)
    static func userKey(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: key.baseAddress, count: key.count - trailerSize)
    }

    @inline(__always)
    static func trailer(_ key: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(littleEndian: key.baseAddress!.loadUnaligned(fromByteOffset: key.count - trailerSize, as: UInt64.self))
    }

    @inline(__always)
    static func sequence(_ key: UnsafeRawBufferPointer) -> UInt64 { trailer(key) >> 8 }

    @inline(__always)
    static func isDeletion(_ key: UnsafeRawBufferPointer) -> Bool { trailer(key) & 0xFF == 0 }

    /// Runs `body` with `userKey`@`sequence` (kind value, so it sorts first among the entries
    /// of `userKey` at that sequence) built in temporary memory.
    @inline(__always)
    static func with<R, E: Error>(_ userKey: UnsafeRawBufferPointer, sequence: UInt64, isDeletion: Bool = false,
                                  _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let count = userKey.count + trailerSize
        let result: Result<R, E> = withUnsafeTemporaryAllocation(byteCount: count, alignment: 8) { buffer in
            if userKey.count > 0 { buffer.baseAddress!.copyMemory(from: userKey.baseAddress!, byteCount: userKey.count) }
            buffer.baseAddress!.storeBytes(of: trailer(sequence: sequence, isDeletion: isDeletion).littleEndian,
                                           toByteOffset: userKey.count, as: UInt64.self)
            do throws(E) { return .success(try body(UnsafeRawBufferPointer(buffer))) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

/// User key ascending (bytewise), then sequence descending: the newest version comes first.
struct VersionedKeyComparator: KeyComparator {
    @inline(__always)
    func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let r = ByteOrder.compare(VersionedKey.userKey(a), VersionedKey.userKey(b))
        if r != 0 { return r }
        let ta = VersionedKey.trailer(a), tb = VersionedKey.trailer(b)
        return ta > tb ? -1 : (ta < tb ? 1 : 0)
    }

    /// The user key's first 16 bytes: user keys order first, so their prefix agrees.
    @inline(__always)
    func prefix(_ key: UnsafeRawBufferPointer) -> KeyPrefix { KeyPrefix(bytes: VersionedKey.userKey(key)) }
}

/// The search target `userKey`@`sequence` (kind value) without building that key: the first
/// stored version not before it is `userKey`'s newest version at or below `sequence`, if
/// `userKey` has one. Agrees with `VersionedKeyComparator`.
struct VersionedProbe: SkipListProbe {
    let userKey: UnsafeRawBufferPointer
    let trailer: UInt64
    let prefix: KeyPrefix

    @inline(__always)
    init(userKey: UnsafeRawBufferPointer, sequence: UInt64) {
        self.userKey = userKey
        prefix = KeyPrefix(bytes: userKey)
        trailer = VersionedKey.trailer(sequence: sequence, isDeletion: false)
    }

    @inline(__always)
    func isBefore(_ nodeKey: UnsafeRawBufferPointer) -> Bool {
        let r = ByteOrder.compare(VersionedKey.userKey(nodeKey), userKey)
        if r != 0 { return r < 0 }
        // Same user key: newer versions (larger trailers) come first.
        return VersionedKey.trailer(nodeKey) > trailer
    }
}
