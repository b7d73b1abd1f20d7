// Internal keys: a user key plus a sequence number and a value type, ordered newest first.

import KVCore
import SkipListEngine

/// What an internal key's entry holds.
enum ValueType: UInt8 {
    /// A tombstone: the user key was deleted at this sequence number.
    case deletion = 0
    /// A value.
    case value = 1
}

/// The key every memtable and sorted table entry is stored under.
///
/// Byte layout: the user key's bytes, then an 8-byte little-endian trailer
/// `sequence << 8 | type` (type 0 = deletion, 1 = value). Sequence numbers fit in 56 bits.
enum InternalKey {
    static let trailerSize = 8
    /// The largest sequence number (56 bits).
    static let maxSequence: UInt64 = (1 << 56) - 1

    @inline(__always)
    static func trailer(sequence: UInt64, type: ValueType) -> UInt64 { sequence << 8 | UInt64(type.rawValue) }

    /// The user key part of an internal key.
    @inline(__always)
    static func userKey(_ internalKey: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: internalKey.baseAddress, count: internalKey.count - trailerSize)
    }

    @inline(__always)
    static func trailer(_ internalKey: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(littleEndian: internalKey.baseAddress!.loadUnaligned(fromByteOffset: internalKey.count - trailerSize, as: UInt64.self))
    }

    @inline(__always)
    static func sequence(_ internalKey: UnsafeRawBufferPointer) -> UInt64 { trailer(internalKey) >> 8 }

    @inline(__always)
    static func type(_ internalKey: UnsafeRawBufferPointer) -> ValueType {
        UInt8(truncatingIfNeeded: trailer(internalKey)) == 0 ? .deletion : .value
    }

    /// Appends `userKey` + trailer to `out`.
    @inline(__always)
    static func append(_ userKey: UnsafeRawBufferPointer, sequence: UInt64, type: ValueType, to out: inout [UInt8]) {
        out.append(contentsOf: userKey)
        withUnsafeBytes(of: trailer(sequence: sequence, type: type).littleEndian) { out.append(contentsOf: $0) }
    }

    /// Runs `body` with the internal key `userKey`@`sequence` built in temporary memory: the
    /// key that sorts first among the entries of `userKey` visible at `sequence`.
    @inline(__always)
    static func withLookupKey<R>(_ userKey: UnsafeRawBufferPointer, sequence: UInt64, _ body: (UnsafeRawBufferPointer) throws(EngineError) -> R) throws(EngineError) -> R {
        let count = userKey.count + trailerSize
        let result: Result<R, EngineError> = withUnsafeTemporaryAllocation(byteCount: count, alignment: 8) { buffer in
            if userKey.count > 0 { buffer.baseAddress!.copyMemory(from: userKey.baseAddress!, byteCount: userKey.count) }
            buffer.baseAddress!.storeBytes(of: trailer(sequence: sequence, type: .value).littleEndian, toByteOffset: userKey.count, as: UInt64.self)
            do throws(EngineError) { return .success(try body(UnsafeRawBufferPointer(buffer))) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// A readable rendering for error messages.
    static func describe(_ internalKey: [UInt8]) -> String {
        guard internalKey.count >= trailerSize else { return "malformed internal key \(internalKey.debugText)" }
        return internalKey.withUnsafeBytes { raw in
            "\(Array(userKey(raw)).debugText)@\(sequence(raw))\(type(raw) == .deletion ? " (deletion)" : "")"
        }
    }
}

/// Orders internal keys: user key ascending (bytewise), then sequence number descending, so
/// the newest entry of a user key comes first.
struct InternalKeyComparator: KeyComparator {
    @inline(__always)
    func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let r = ByteOrder.compare(InternalKey.userKey(a), InternalKey.userKey(b))
        if r != 0 { return r }
        let ta = InternalKey.trailer(a), tb = InternalKey.trailer(b)
        return ta > tb ? -1 : (ta < tb ? 1 : 0)
    }

    /// The user key's first 16 bytes (user keys order first), for the memtable skiplist's search.
    @inline(__always)
    func prefix(_ key: UnsafeRawBufferPointer) -> KeyPrefix { KeyPrefix(bytes: InternalKey.userKey(key)) }
}
