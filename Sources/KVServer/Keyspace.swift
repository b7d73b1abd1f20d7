// Redis's data types on a plain key-value engine: the record encoding and the locking around it.

import KVCore
import Synchronization

/// The type of a key's value, as TYPE names it.
public enum ValueKind: UInt8, Sendable {
    case string = 1
    case hash = 2
    case sortedSet = 3

    public var typeName: String {
        switch self {
        case .string: "string"
        case .hash: "hash"
        case .sortedSet: "zset"
        }
    }
}

/// The header of a key's main record, decoded.
struct RecordHeader {
    var kind: ValueKind
    /// Expiry deadline in milliseconds since the epoch, or nil for none.
    var expiresAt: Int64?
    /// Where the payload starts in the record.
    var payloadOffset: Int

    func isExpired(now: Int64) -> Bool { expiresAt.map { $0 <= now } ?? false }
}

/// The keyspace: Redis strings, hashes and sorted sets stored in one `KeyValueEngine`.
///
/// ## Encoding, byte by byte
///
/// Every engine key starts with a one-byte namespace, so user keys (any bytes) cannot collide
/// with the records that hold sorted-set members:
///
///     'k' (0x6B) | user key                                        -> main record
///     'm' (0x6D) | u32 BE key length | user key | member           -> member's score
///     's' (0x73) | u32 BE key length | user key | sortable score (8) | member -> empty
///
/// A **main record** value is a header and a payload:
///
///     byte 0       kind: 0x01 string, 0x02 hash, 0x03 sorted set
///     byte 1       flags: bit 0 set = an expiry deadline follows
///     bytes 2..9   (only with flag bit 0) deadline, milliseconds since the Unix epoch, Int64 LE
///     payload      string:     the value's bytes, as is
///                  hash:       varint fieldCount, then fieldCount × (varint fieldLength | field |
///                              varint valueLength | value), in insertion order
///                  sorted set: varint memberCount (the members are records of their own)
///
/// Varints are unsigned LEB128 (KVCore `Varint`). A string `SET k v` thus costs the engine one
/// record of `1 + |k|` key bytes and `2 + |v|` value bytes; a GET is one engine lookup.
///
/// A **sorted set** keeps two records per member: `m...` maps the member to its score (the
/// IEEE-754 bits of the Double, little-endian) for ZADD/ZREM lookups, and `s...` orders members
/// by (score, member) for ZRANGEBYSCORE: the sortable score is the Double's bits big-endian with
/// the sign bit flipped for positive values and every bit flipped for negative ones, so byte
/// order is numeric order. Sorted sets need an engine with ordered scans.
///
/// Expiry is lazy: a read that finds a deadline in the past treats the key as absent (and
/// deletes it); the deadline comes from the `WallClock` passed in.
///
/// ## Concurrency
///
/// Commands run on several event loops at once. Every write takes one of 1024 striped locks,
/// chosen by the user key's hash, so read-modify-write commands (INCR, APPEND, HSET, SET NX/GET,
/// ZADD) are atomic with respect to every other write of that key, as in single-threaded Redis;
/// plain reads take no lock (engine operations are atomic). Commands over several keys (MSET,
/// DEL k1 k2) lock one key at a time, so they are not atomic as a whole. FLUSHALL replaces the
/// engine with a fresh one under a reader-writer lock that every command holds shared.
public final class Keyspace: @unchecked Sendable {
    // @unchecked: `current` is only replaced under `engineLock` held exclusively, and read under it shared.
    private var current: any KeyValueEngine
    private let engineLock = ReadWriteLock()
    private let factory: @Sendable () throws(EngineError) -> any KeyValueEngine
    private let stripes: [Lock]
    /// Member and index records of sorted sets (engine.count minus these = keys).
    let auxiliaryRecords = Atomic<Int>(0)
    /// Whether the engine keeps keys in order (sorted sets and SCAN need it).
    public let ordered: Bool

    static let mainTag: UInt8 = 0x6B      // 'k'
    static let memberTag: UInt8 = 0x6D    // 'm'
    static let indexTag: UInt8 = 0x73     // 's'
    static let expiryFlag: UInt8 = 1

    /// - Parameter factory: opens the engine; called once now and again on every FLUSHALL.
    public init(factory: @escaping @Sendable () throws(EngineError) -> any KeyValueEngine) throws(EngineError) {
        self.factory = factory
        current = try factory()
        ordered = current.capabilities.contains(.orderedScan)
        stripes = (0..<1024).map { _ in Lock() }
    }

    /// The engine's name.
    public var engineName: String { withEngine { $0.name } }

    /// Runs `body` with the current engine (held shared against FLUSHALL).
    @inline(__always)
    func withEngine<R>(_ body: (any KeyValueEngine) throws(EngineError) -> R) throws(EngineError) -> R {
        try engineLock.withReadLock { () throws(EngineError) -> R in try body(current) }
    }

    /// Same, for bodies that cannot fail.
    @inline(__always)
    func withEngine<R>(_ body: (any KeyValueEngine) -> R) -> R {
        engineLock.withReadLock { body(current) }
    }

    /// Runs `body` holding the write lock of `key`'s stripe.
    @inline(__always)
    func withKeyLock<R, E: Error>(_ key: UnsafeRawBufferPointer, _ body: () throws(E) -> R) throws(E) -> R {
        let lock = stripes[Int(Self.stripe(of: key))]
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    @inline(__always)
    static func stripe(of key: UnsafeRawBufferPointer) -> UInt64 {
        // FNV-1a, folded to 10 bits.
        var h: UInt64 = 0xcbf29ce484222325
        for b in key { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return (h ^ (h >> 32)) & 1023
    }

    /// Number of keys (main records), counting expired keys not yet removed, as Redis does.
    /// In-memory engines count cheaply; a persistent engine (whose sorted-set records survive a
    /// restart that the in-memory tally does not) has its main records counted by a scan.
    public var keyCount: Int {
        withEngine { engine in
            if let count = engine.count, !engine.capabilities.contains(.persistent) {
                return max(0, count - auxiliaryRecords.load(ordering: .relaxed))
            }
            guard engine.capabilities.contains(.orderedScan) else { return 0 }
            var keys = 0
            let prefix = [Self.mainTag]
            _ = try? prefix.withBytes { (start) throws(EngineError) in
                try engine.scan(from: start, limit: .max) { key, _ in
                    guard key.first == Self.mainTag else { return false }
                    keys += 1
                    return true
                }
            }
            return keys
        }
    }

    /// Removes every key (FLUSHALL). An in-memory engine is replaced by a fresh one; a persistent
    /// engine (a fresh one from the factory would reopen the same files) has every record
    /// deleted, in batches, then flushed.
    public func flushAll() throws(EngineError) {
        try engineLock.withWriteLock { () throws(EngineError) in
            if current.capabilities.contains(.persistent) {
                while true {
                    var batch = WriteBatch()
                    try current.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: 4096) { key, _ in
                        batch.delete(key)
                        return true
                    }
                    if batch.isEmpty { break }
                    try current.write(batch, options: .default)
                }
                try current.flush()
            } else {
                let fresh = try factory()
                let old = current
                current = fresh
                try old.close()
            }
            auxiliaryRecords.store(0, ordering: .relaxed)
        }
    }

    /// Flushes the engine to stable storage (shutdown).
    public func flush() throws(EngineError) { try withEngine { (e) throws(EngineError) in try e.flush() } }

    /// Flushes and closes the engine.
    public func close() throws(EngineError) {
        try engineLock.withWriteLock { () throws(EngineError) in
            try current.flush()
            try current.close()
        }
    }

    // MARK: - Encoding helpers

    /// `'k' | key` into `out`.
    @inline(__always)
    static func mainKey(_ key: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(mainTag)
        out.append(contentsOf: key)
    }

    /// `tag | u32 BE length | key` into `out` (the prefix of a sorted set's member or index records).
    static func auxiliaryPrefix(_ tag: UInt8, _ key: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(tag)
        let n = UInt32(key.count)
        out.append(UInt8(n >> 24)); out.append(UInt8((n >> 16) & 0xFF)); out.append(UInt8((n >> 8) & 0xFF)); out.append(UInt8(n & 0xFF))
        out.append(contentsOf: key)
    }

    /// Appends the main-record header.
    @inline(__always)
    static func appendHeader(kind: ValueKind, expiresAt: Int64?, to out: inout [UInt8]) {
        out.append(kind.rawValue)
        if let expiresAt {
            out.append(expiryFlag)
            withUnsafeBytes(of: expiresAt.littleEndian) { out.append(contentsOf: $0) }
        } else {
            out.append(0)
        }
    }

    /// Decodes a main-record header; nil if the record is too short or has an unknown kind.
    @inline(__always)
    static func header(of record: UnsafeRawBufferPointer) -> RecordHeader? {
        guard record.count >= 2, let kind = ValueKind(rawValue: record[0]) else { return nil }
        if record[1] & expiryFlag != 0 {
            guard record.count >= 10 else { return nil }
            var deadline: Int64 = 0
            withUnsafeMutableBytes(of: &deadline) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: record[2..<10])) }
            return RecordHeader(kind: kind, expiresAt: Int64(littleEndian: deadline), payloadOffset: 10)
        }
        return RecordHeader(kind: kind, expiresAt: nil, payloadOffset: 2)
    }

    /// The 8 bytes whose byte order is the numeric order of `score`.
    static func sortableBytes(_ score: Double) -> UInt64 {
        let bits = score.bitPattern
        return (bits & (1 << 63)) != 0 ? ~bits : bits | (1 << 63)
    }

    static func score(fromSortable sortable: UInt64) -> Double {
        let bits = (sortable & (1 << 63)) != 0 ? sortable & ~(1 << 63) : ~sortable
        return Double(bitPattern: bits)
    }

    static func appendBigEndian(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    static func readBigEndian(_ raw: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(raw[offset + i]) }
        return v
    }
}
