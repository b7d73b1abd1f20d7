// The `hash` engine: a lock-striped, incrementally resized open-addressing hash table in memory.

import KVCore
import Synchronization

/// An in-memory hash table engine: fast point reads and writes, no key order.
///
/// **Layout.** Keys are spread over `shardCount` shards (a power of two) by the high bits of
/// their 64-bit `KeyHash`; each shard is a lock stripe with its own `Lock`, its own slot
/// table(s) and its own `RecordArena`. A record is one `PackedRecord` chunk of the arena:
///
///     varint keyLength | varint valueLength | key bytes | value bytes
///
/// in 64 KiB slabs with 8-byte size classes, named by a 32-bit locator (slab index << 13 |
/// offset / 8). The shard's table is an array of 64-byte groups, each one cache line:
///
///     12 tag bytes (0 empty, 1 tombstone, 2...255 hash bits 32...39) | 4 unused bytes |
///     12 UInt32 locators
///
/// probed group by group from the multiply-shift home group of the hash's low 32 bits; a
/// lookup compares 12 tags at once (SWAR) and reads a record only when its tag agrees.
///
/// Tables grow, shrink and shed tombstones incrementally, as Redis's dict does: the shard
/// keeps the old table beside the new one and moves 64 old slots per write (16 per read)
/// until it is empty (see `HashShard`). A table is rebuilt when live + tombstones would pass
/// 0.8 of its slots, at twice its live records (so it grows 1.6x, from a load of 0.8 to 0.5;
/// group counts need not be powers of two). A batch locks every shard it touches, in shard
/// order, so it is atomic (except that a put failing with `tooLarge` when a shard's 2^19-entry
/// record directory is full or a record exceeds 4 GiB, or with `io` when the system gives no
/// memory, leaves the batch's earlier operations applied).
///
/// **Memory per record**, for a 16-byte key and a 100-byte value (116 raw bytes):
/// - record: 1 + 1 varint header bytes + 116 = 118, rounded to a 120-byte chunk: 4 bytes
///   over; slabs carry no header (546 chunks fill 65,520 of 65,536 bytes): +0.03;
/// - slot: 64/12 = 5.33 bytes at a load between 0.5 (just after growing) and 0.8 (just
///   before): 6.7 to 10.7 bytes per record;
/// - so 126.7 to 130.7 bytes, 1.09x to 1.13x of raw. While a shard migrates, its old and new
///   tables together cost up to 17.4 bytes of slots per record (6.7 + 10.7): 137.4 bytes,
///   1.18x. Each shard also holds up to one partly filled 64 KiB slab per size class in use
///   (only its touched pages resident), and a directory of 8 + 28 bytes per slab. Slabs and
///   tables of 64 KiB or more are mmapped, so they leave the resident set as soon as they are
///   freed; malloc's statistics do not see them, so they are counted in `DirectMappings`,
///   which the memory reports add to the allocated bytes.
///   In-place updates: an overwrite whose record keeps its chunk size rewrites the chunk;
///   otherwise the new chunk comes from the class's free list first. Slabs emptied by
///   deletes or size changes are unmapped (fragmentation policy of `RecordArena`).
///   (Measured, 1M records over 64 shards: slot tables at a load of 0.56, 9.5 B/record;
///   137.1 B/record resident, 1.18x, `Benchmarks/reference/memory.sh`; results/read-paths.md,
///   "Hash memory, second pass".)
public final class HashEngine: KeyValueEngine {
    public let name = "hash"
    public let capabilities: EngineCapabilities = [.storesData, .atomicBatch]

    /// The lock stripes, indexed by the high bits of a key's hash.
    let shards: [HashShard]
    /// `64 - log2(shardCount)`: a hash shifted right by this is its shard index.
    private let shardShift: UInt64
    /// The seed of every key hash.
    let hashSeed: UInt64
    private let isClosed = Atomic<Bool>(false)

    /// The most shards an engine uses: shard bits must stay clear of the tag bits (32...47).
    public static let maximumShardCount = 1 << 16

    /// Creates an empty engine.
    /// - Parameters:
    ///   - shardCount: Lock stripes, rounded up to a power of two (1...65536).
    ///   - initialCapacity: Expected number of records; tables are presized for it and never
    ///     shrink below that size.
    ///   - hashSeed: Seed of the key hash.
    public init(shardCount: Int = 64, initialCapacity: Int = 0, hashSeed: UInt64 = 0x6b76_6c61_6268_6173) {
        let count = SlotTable.powerOfTwo(atLeast: min(max(shardCount, 1), Self.maximumShardCount))
        let perShard = (max(initialCapacity, 0) + count - 1) / count
        // A little slack: shards do not receive exactly the average number of keys.
        let expected = perShard + perShard / 16
        shards = (0..<count).map { HashShard(index: $0, seed: hashSeed, expectedRecords: expected) }
        shardShift = UInt64(64 - count.trailingZeroBitCount)
        self.hashSeed = hashSeed
    }

    /// The shard of a key with hash `hash` among `shardCount` shards.
    static func shardIndex(hash: UInt64, shardCount: Int) -> Int {
        Int(truncatingIfNeeded: hash >> UInt64(64 - shardCount.trailingZeroBitCount))
    }

    @inline(__always)
    private func shard(for hash: UInt64) -> HashShard {
        // `>>` (not `&>>`): a shift by 64 with one shard gives 0.
        shards[Int(truncatingIfNeeded: hash >> shardShift)]
    }

    /// Bytes held, summed over shards: record chunks handed out plus slot arrays
    /// (`bytesInUse`), and slabs obtained from the system plus slot arrays (`bytesReserved`).
    public var memoryUsage: (bytesInUse: Int, bytesReserved: Int) {
        var inUse = 0
        var reserved = 0
        for shard in shards {
            let usage = shard.lock.withLock { shard.memoryUsage }
            inUse += usage.bytesInUse
            reserved += usage.bytesReserved
        }
        return (inUse, reserved)
    }

    // MARK: - KeyValueEngine

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        let hash = KeyHash.hash(key, seed: hashSeed)
        let shard = shard(for: hash)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        guard shard.isOpen else { throw .closed(engine: name) }
        guard let record = shard.find(key, hash: hash) else { return nil }
        return body(PackedRecord.read(record).value)
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        let hash = KeyHash.hash(key, seed: hashSeed)
        let shard = shard(for: hash)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        guard shard.isOpen else { throw .closed(engine: name) }
        try shard.put(key, value, hash: hash)
    }

    public func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        let hash = KeyHash.hash(key, seed: hashSeed)
        let shard = shard(for: hash)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        guard shard.isOpen else { throw .closed(engine: name) }
        return shard.delete(key, hash: hash)
    }

    /// Always throws: a hash table keeps no key order.
    /// - Throws: `EngineError.unsupported`, or `.closed` after `close()`.
    public func scan(from start: UnsafeRawBufferPointer, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try checkOpen()
        throw .unsupported(engine: name, operation: "ordered scan",
                           reason: "a hash table keeps no key order; use skiplist, btree or lsm")
    }

    /// Applies `batch` atomically: every shard it touches is locked, in shard order (so
    /// concurrent batches cannot deadlock), for the whole batch.
    public func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) {
        try checkOpen()
        if batch.isEmpty { return }
        var hashes: [UInt64] = []
        hashes.reserveCapacity(batch.count)
        var touched = [Bool](repeating: false, count: shards.count)
        batch.forEach { operation in
            let hash = KeyHash.hash(operation.key, seed: hashSeed)
            hashes.append(hash)
            touched[Int(truncatingIfNeeded: hash >> shardShift)] = true
        }
        for i in touched.indices where touched[i] { shards[i].lock.lock() }
        defer { for i in touched.indices where touched[i] { shards[i].lock.unlock() } }
        for i in touched.indices where touched[i] && !shards[i].isOpen { throw .closed(engine: name) }
        var n = 0
        try batch.forEach { (operation) throws(EngineError) in
            let hash = hashes[n]
            n += 1
            switch operation {
            case let .put(key, value): try shard(for: hash).put(key, value, hash: hash)
            case let .delete(key): _ = shard(for: hash).delete(key, hash: hash)
            }
        }
    }

    /// Nothing to make durable; throws only after `close()`.
    public func flush() throws(EngineError) { try checkOpen() }

    /// Frees every record and table. Later calls throw `EngineError.closed`.
    public func close() throws(EngineError) {
        isClosed.store(true, ordering: .releasing)
        for shard in shards { shard.lock.withLock { shard.release() } }
    }

    /// Live records (0 after `close()`).
    public var count: Int? {
        var total = 0
        for shard in shards { total += shard.lock.withLock { shard.isOpen ? shard.count : 0 } }
        return total
    }

    /// Checks every shard's accounting, record reachability and slab bytes.
    /// - Throws: `EngineError.corruption` with `file` `<memory>` and `offset` the shard index.
    public func checkInvariants() throws(EngineError) {
        try checkOpen()
        for shard in shards {
            try shard.lock.withLock { () throws(EngineError) in
                guard shard.isOpen else { throw .closed(engine: name) }
                try shard.checkInvariants(shardCount: shards.count)
            }
        }
    }

    @inline(__always)
    func checkOpen() throws(EngineError) {
        if isClosed.load(ordering: .acquiring) { throw .closed(engine: name) }
    }
}

extension WriteBatch.Operation {
    /// The key the operation writes.
    var key: UnsafeRawBufferPointer {
        switch self {
        case let .put(key, _): return key
        case let .delete(key): return key
        }
    }
}
