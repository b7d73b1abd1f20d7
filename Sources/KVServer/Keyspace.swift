// Redis's data types on a plain key-value engine: the record encoding and the locking around it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVCore
import Synchronization

/// The type of a key's value, as TYPE names it.
public enum ValueKind: UInt8, Sendable {
    case string = 1
    case hash = 2
    case sortedSet = 3
    case list = 4
    case set = 5

    public var typeName: String {
        switch self {
        case .string: "string"
        case .hash: "hash"
        case .sortedSet: "zset"
        case .list: "list"
        case .set: "set"
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

/// The keyspace: Redis strings, hashes, lists, sets and sorted sets stored in one `KeyValueEngine`.
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
///     byte 0       kind: 0x01 string, 0x02 hash, 0x03 sorted set, 0x04 list, 0x05 set
///     byte 1       flags: bit 0 set = an expiry deadline follows
///     bytes 2..9   (only with flag bit 0) deadline, milliseconds since the Unix epoch, Int64 LE
///     payload      string:     the value's bytes, as is
///                  hash:       varint fieldCount, then fieldCount × (varint fieldLength | field |
///                              varint valueLength | value), in insertion order
///                  sorted set: varint memberCount (the members are records of their own)
///                  list:       varint count, then count × (varint length | element | length as
///                              u32 LE), head first (the trailing length lets RPOP step backwards)
///                  set:        varint count, then count × (varint length | member), in insertion order
///
/// Lists and sets live in their main record, so any engine holds them and a push or pop
/// rewrites the record (O(n) in the list's bytes; Redis's quicklist is O(1) at the ends): fine
/// for the sizes redis-benchmark and tests use, not for million-element lists.
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
/// Expiry is lazy and active, as in Redis: a read that finds a deadline in the past treats the
/// key as absent (and deletes it), and a periodic cycle (`CommandExecutor.activeExpireCycle`)
/// samples the keys that were given a deadline and deletes the expired ones, so keys nobody
/// touches go too. The deadline comes from the `WallClock` passed in.
///
/// ## Threading model, against Redis's single thread
///
/// Redis runs every command on one thread, so each command, MULTI/EXEC block and expiry
/// deletion is atomic by construction. kvlab runs commands on several event loops at once and
/// recovers the same guarantees with two kinds of lock, always taken in this order:
///
/// 1. **The command lock**, a writer-preferring reader-writer lock. `CommandExecutor.execute`
///    holds it shared for every ordinary command, and exclusively for the few commands that must
///    see no other command at all: EXEC (a transaction runs alone, as in Redis) and FLUSHALL
///    (the engine is replaced). Engine access inside a command needs no further lock; the
///    public methods of this type that touch the engine take the command lock themselves.
/// 2. **Key stripes**: 1024 mutexes chosen by the user key's hash. A command that reads and then
///    writes a key (INCR, APPEND, HSET, SET NX/GET, ZADD, EXPIRE, lists, sets) holds the key's
///    stripe across the read and the write, so it is atomic with respect to every other write of
///    that key. Commands over several keys (MSET, DEL, MGET, RENAME, EXISTS) take all their
///    stripes at once, in ascending stripe order (so two of them cannot deadlock), making them
///    atomic with respect to every other locking command. The stripes a connection holds are
///    recorded in its `ConnectionState`, so the lazy-expiry path inside a locked section deletes
///    the expired record directly instead of re-taking the (non-recursive) stripe lock: that
///    re-lock was the deadlock of issue 13.
///
/// Single-key reads of records (GET, HGET, TYPE... through `CommandExecutor.read`) take the
/// key's stripe too, so a GET never sees part of an MSET or a multi-key DEL: the cost is one
/// uncontended mutex per read.
/// Every write bumps a version counter of the key's stripe slot (16 slots per stripe) under the
/// stripe's lock; WATCH records those versions and EXEC, running alone, compares them, so a
/// write to a watched key always aborts the transaction (a write to another key that shares
/// the slot does too, rarely: clients retry on an aborted EXEC anyway).
public final class Keyspace: @unchecked Sendable {
    // @unchecked: `current` is only replaced under `commandLock` held exclusively, and read
    // under it shared; `versions[i]` is only touched under the lock of stripe i / 16.
    private var current: any KeyValueEngine
    private let commandLock = CommandLock()
    private let factory: @Sendable () throws(EngineError) -> any KeyValueEngine
    /// Every mutation the engine applied, for the replication stream (ReplicationCapture.swift).
    let mutations = MutationLog()
    private let stripes: [Lock]
    private let versions: UnsafeMutablePointer<UInt64>
    /// Bumped by every FLUSHALL (WATCH aborts when it moved and the watched key existed).
    let flushEpoch = Atomic<UInt64>(0)
    /// Keys that were given a deadline, for active expiry to sample.
    let expiryCandidates = ExpiryCandidates()
    /// Member and index records of sorted sets (engine.count minus these = keys).
    let auxiliaryRecords = Atomic<Int>(0)
    /// Whether the engine keeps keys in order (sorted sets and SCAN need it).
    public let ordered: Bool
    /// The engine's name.
    public let engineName: String

    static let stripeCount = 1024
    static let versionSlotsPerStripe = 16

    static let mainTag: UInt8 = 0x6B      // 'k'
    static let memberTag: UInt8 = 0x6D    // 'm'
    static let indexTag: UInt8 = 0x73     // 's'
    static let expiryFlag: UInt8 = 1

    /// - Parameter factory: opens the engine; called once now and again on every FLUSHALL.
    public init(factory: @escaping @Sendable () throws(EngineError) -> any KeyValueEngine) throws(EngineError) {
        self.factory = factory
        current = CapturingEngine(base: try factory(), log: mutations)
        ordered = current.capabilities.contains(.orderedScan)
        engineName = current.name
        stripes = (0..<Self.stripeCount).map { _ in Lock() }
        versions = .allocate(capacity: Self.stripeCount * Self.versionSlotsPerStripe)
        versions.initialize(repeating: 0, count: Self.stripeCount * Self.versionSlotsPerStripe)
    }

    deinit { versions.deallocate() }

    /// Runs `body` holding the command lock: shared for ordinary commands, exclusively for
    /// commands that must run alone (EXEC, FLUSHALL). Never nested.
    @inline(__always)
    func withCommandLock<R, E: Error>(exclusive: Bool, _ body: () throws(E) -> R) throws(E) -> R {
        exclusive ? try commandLock.withWriteLock(body) : try commandLock.withReadLock(body)
    }

    /// Runs `body` with the current engine. The caller holds the command lock (every command
    /// handler does), so FLUSHALL cannot replace the engine meanwhile.
    @inline(__always)
    func withEngine<R>(_ body: (any KeyValueEngine) throws(EngineError) -> R) throws(EngineError) -> R {
        try body(current)
    }

    /// Same, for bodies that cannot fail.
    @inline(__always)
    func withEngine<R>(_ body: (any KeyValueEngine) -> R) -> R {
        body(current)
    }

    /// The stripe (0..<1024) of a user key.
    @inline(__always)
    static func stripe(of key: UnsafeRawBufferPointer) -> Int {
        Int(hash(of: key) & 1023)
    }

    /// The version slot of a user key: its stripe's 16 slots, picked by other bits of the hash.
    @inline(__always)
    static func versionSlot(of key: UnsafeRawBufferPointer) -> Int {
        let h = hash(of: key)
        return Int(h & 1023) * versionSlotsPerStripe + Int((h >> 10) & 15)
    }

    @inline(__always)
    static func hash(of key: UnsafeRawBufferPointer) -> UInt64 {
        // FNV-1a, folded.
        var h: UInt64 = 0xcbf29ce484222325
        for b in key { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h ^ (h >> 32)
    }

    @inline(__always) func lockStripe(_ stripe: Int) { stripes[stripe].lock() }
    @inline(__always) func unlockStripe(_ stripe: Int) { stripes[stripe].unlock() }

    /// Records a write of `key` for WATCH. The caller holds the key's stripe.
    @inline(__always)
    func touch(_ key: UnsafeRawBufferPointer) {
        versions[Self.versionSlot(of: key)] &+= 1
    }

    /// The write version of `key`'s slot. The caller holds the key's stripe, or the command lock exclusively.
    func version(of key: UnsafeRawBufferPointer) -> UInt64 {
        versions[Self.versionSlot(of: key)]
    }

    /// Number of keys (main records), counting expired keys not yet removed, as Redis does.
    public var keyCount: Int { withCommandLock(exclusive: false) { heldKeyCount } }

    /// `keyCount` for a caller that holds the command lock.
    /// In-memory engines count cheaply; a persistent engine (whose sorted-set records survive a
    /// restart that the in-memory tally does not) has its main records counted by a scan.
    var heldKeyCount: Int {
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
        try withCommandLock(exclusive: true) { () throws(EngineError) in try heldFlushAll() }
    }

    /// `flushAll` for a caller that holds the command lock exclusively (FLUSHALL, EXEC).
    func heldFlushAll() throws(EngineError) {
        do {
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
                let fresh = CapturingEngine(base: try factory(), log: mutations)
                let old = current
                current = fresh
                try old.close()
            }
            auxiliaryRecords.store(0, ordering: .relaxed)
            expiryCandidates.removeAll()
            flushEpoch.add(1, ordering: .relaxed)
            mutations.replaceAllWithFlush()
        }
    }

    /// Flushes the engine to stable storage (shutdown).
    public func flush() throws(EngineError) {
        try withCommandLock(exclusive: false) { () throws(EngineError) in try current.flush() }
    }

    /// Flushes and closes the engine.
    public func close() throws(EngineError) {
        try withCommandLock(exclusive: true) { () throws(EngineError) in
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

// MARK: - The command lock

/// A reader-writer lock that prefers writers, so an EXEC or FLUSHALL waiting for the lock is not
/// starved by a steady stream of ordinary commands (glibc's default prefers readers). Readers
/// must not nest: with a writer queued, a second shared acquisition would wait for it.
final class CommandLock: @unchecked Sendable {
    private let rwlock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        rwlock = .allocate(capacity: 1)
        rwlock.initialize(to: pthread_rwlock_t())
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        #if canImport(Glibc)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        #endif
        precondition(pthread_rwlock_init(rwlock, &attributes) == 0, "pthread_rwlock_init failed")
        pthread_rwlockattr_destroy(&attributes)
    }

    deinit {
        pthread_rwlock_destroy(rwlock)
        rwlock.deallocate()
    }

    @inline(__always)
    func withReadLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_rdlock(rwlock)
        defer { pthread_rwlock_unlock(rwlock) }
        return try body()
    }

    @inline(__always)
    func withWriteLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_wrlock(rwlock)
        defer { pthread_rwlock_unlock(rwlock) }
        return try body()
    }
}

// MARK: - Keys with a deadline

/// The keys that were given an expiry deadline: what active expiry samples (Redis keeps them in
/// `db->expires`). A superset: a key that lost its deadline (SET without KEEPTTL, PERSIST, DEL)
/// stays until a sample finds it without one and drops it, so the write path pays nothing for
/// keys without deadlines. Sampling is by index into a dense array (swap-remove on deletion).
final class ExpiryCandidates: Sendable {
    private struct Table {
        var keys: [[UInt8]] = []
        var positions: [[UInt8]: Int] = [:]
    }
    private let table = Mutex(Table())

    /// Adds `key` (no-op if present).
    func insert(_ key: UnsafeRawBufferPointer) {
        let k = Array(key)
        table.withLock { t in
            guard t.positions[k] == nil else { return }
            t.positions[k] = t.keys.count
            t.keys.append(k)
        }
    }

    func remove(_ key: [UInt8]) {
        table.withLock { t in
            guard let at = t.positions.removeValue(forKey: key) else { return }
            let last = t.keys.removeLast()
            if at < t.keys.count {
                t.keys[at] = last
                t.positions[last] = at
            }
        }
    }

    func removeAll() { table.withLock { $0 = Table() } }

    var count: Int { table.withLock { $0.keys.count } }

    /// Up to `count` keys picked at random (with replacement) by `random`.
    func sample(_ count: Int, using random: inout SeededRandom) -> [[UInt8]] {
        table.withLock { t in
            guard !t.keys.isEmpty else { return [] }
            return (0..<Swift.min(count, t.keys.count)).map { _ in t.keys[Int(random.next() % UInt64(t.keys.count))] }
        }
    }
}
