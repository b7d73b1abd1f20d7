// One lock stripe of the hash engine: its lock, its slot table(s), its record slab.

import KVCore

/// A shard owns the records whose key hashes select it, and everything needed to reach them.
///
/// Records are `PackedRecord`s in chunks of the shard's `RecordArena`; the slot table holds
/// their 32-bit locators. Growing, shrinking or cleaning out tombstones is incremental, as in
/// Redis's dict: `startRehash()` puts a fresh table in front and keeps the old one, and every
/// later operation moves a bounded number of old slots (`writeMigrationStep` per write,
/// `readMigrationStep` per read) until the old table is empty and freed. Meanwhile lookups
/// try the new table, then the old; new keys go only to the new table; records never move
/// within a table (nor in memory: a migration copies only the 4-byte locator), so the
/// migration cursor stays valid.
///
/// Sizing keeps the new table from filling before migration ends: it gets at least twice the
/// live records and at least 1/16 of the old capacity, while migration finishes within
/// `oldCapacity / writeMigrationStep` writes, so it stays under a load of 0.75.
///
/// Not thread-safe by itself: every method other than `init` requires `lock` held.
final class HashShard: @unchecked Sendable {
    /// Guards every other property.
    let lock = Lock()
    /// Position among the engine's shards; reported in corruption errors.
    let index: Int
    /// The seed every key hash in this engine uses.
    let seed: UInt64
    /// The capacity the table never shrinks below (the presized capacity).
    let minimumCapacity: Int

    /// The table new records go into.
    @exclusivity(unchecked) var table: SlotTable
    /// The table being migrated out of, or nil.
    @exclusivity(unchecked) var oldTable: SlotTable?
    /// Old-table slots below this index have been migrated.
    @exclusivity(unchecked) var migrationCursor = 0
    /// Memory for the records.
    @exclusivity(unchecked) var records = RecordArena()
    /// False once `release()` has run; every engine call checks it under the lock.
    @exclusivity(unchecked) var isOpen = true

    /// Old-table slots moved per write during a migration.
    static let writeMigrationStep = 64
    /// Old-table slots moved per read: smaller, to bound read latency during a migration.
    static let readMigrationStep = 16

    init(index: Int, seed: UInt64, expectedRecords: Int) {
        self.index = index
        self.seed = seed
        minimumCapacity = SlotTable.capacity(forRecords: expectedRecords)
        do {
            table = try SlotTable(capacity: minimumCapacity)
        } catch {
            // The engine's initializer cannot throw; only a presize the system cannot hold gets here.
            preconditionFailure("hash shard \(index): no memory for a table presized to \(minimumCapacity) slots: \(error)")
        }
    }

    deinit { if isOpen { release() } }

    /// Live records in this shard.
    var count: Int { table.liveCount + (oldTable?.liveCount ?? 0) }

    /// Bytes the shard holds: record chunks plus slot tables.
    var memoryUsage: (bytesInUse: Int, bytesReserved: Int) {
        guard isOpen else { return (0, 0) }
        let tableBytes = table.byteCount + (oldTable?.byteCount ?? 0)
        return (records.bytesInUse + tableBytes, records.bytesReserved + tableBytes)
    }

    // MARK: - Operations (lock held)

    /// The record stored under `key`, or nil.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UnsafeMutableRawPointer? {
        if oldTable != nil { migrate(slotBudget: Self.readMigrationStep) }
        let bases = records.bases
        let i = table.find(key, hash: hash, bases: bases)
        if i >= 0 { return RecordArena.address(table.locator(at: i), in: bases) }
        if let old = oldTable {
            let j = old.find(key, hash: hash, bases: bases)
            if j >= 0 { return RecordArena.address(old.locator(at: j), in: bases) }
        }
        return nil
    }

    /// Stores `value` under `key`.
    /// - Throws: `EngineError.tooLarge` if the shard's record directory is full or the record
    ///   exceeds 4 GiB; `EngineError.io` if the system gives no memory. The shard is unchanged then.
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, hash: UInt64) throws(EngineError) {
        if oldTable != nil { migrate(slotBudget: Self.writeMigrationStep) }
        let (found, vacancy) = table.probe(key, hash: hash, bases: records.bases)
        if found >= 0 {
            try replaceValue(in: table, at: found, key: key, value: value)
            return
        }
        if let old = oldTable {
            let j = old.find(key, hash: hash, bases: records.bases)
            if j >= 0 {
                try replaceValue(in: old, at: j, key: key, value: value)
                return
            }
        }
        var target = vacancy
        if table.tag(at: target) == Tag.empty && table.isFull {
            if oldTable != nil {
                // Unreachable by the sizing argument above; kept so a table can never fill.
                migrate(slotBudget: Int.max)
            }
            // Before the record is allocated, so a table allocation failure leaks nothing.
            try startRehash()
            target = table.vacancy(hash: hash)
        }
        let locator = try allocateRecord(key, value)
        table.fill(target, tag: Tag.of(hash), locator: locator)
    }

    /// Removes `key`; true if it was present.
    func delete(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        if oldTable != nil { migrate(slotBudget: Self.writeMigrationStep) }
        let i = table.find(key, hash: hash, bases: records.bases)
        if i >= 0 {
            freeRecord(table.locator(at: i))
            table.remove(at: i)
            if oldTable == nil && table.capacity > minimumCapacity && table.liveCount * 8 < table.capacity {
                try? startRehash()  // mostly empty: shrink (if there is no memory for the smaller table, stay as is)
            }
            return true
        }
        guard oldTable != nil else { return false }
        let j = oldTable!.find(key, hash: hash, bases: records.bases)
        guard j >= 0 else { return false }
        freeRecord(oldTable!.locator(at: j))
        oldTable!.remove(at: j)
        if oldTable!.liveCount == 0 { finishMigration() }
        return true
    }

    // MARK: - Records

    /// Packs `key` and `value` into a new chunk; returns its locator.
    @inline(__always)
    private func allocateRecord(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(EngineError) -> UInt32 {
        let size = PackedRecord.size(keyCount: key.count, valueCount: value.count)
        let locator = try records.allocate(size)
        PackedRecord.write(key: key, value: value, to: records.address(locator))
        return locator
    }

    @inline(__always)
    private func freeRecord(_ locator: UInt32) {
        let size = PackedRecord.read(records.address(locator)).size
        records.deallocate(locator, size: size)
    }

    /// Gives the record in slot `index` of `t` the value `value`: in place when the chunk size
    /// stays the same (no allocation, no free), else in a new chunk the slot then names.
    @inline(__always)
    private func replaceValue(in t: SlotTable, at index: Int, key: UnsafeRawBufferPointer,
                              value: UnsafeRawBufferPointer) throws(EngineError) {
        let locator = t.locator(at: index)
        let record = records.address(locator)
        let oldSize = PackedRecord.read(record).size
        let newSize = PackedRecord.size(keyCount: key.count, valueCount: value.count)
        if RecordArena.chunkSize(for: oldSize) == RecordArena.chunkSize(for: newSize) {
            PackedRecord.write(key: key, value: value, to: record)
            return
        }
        t.setLocator(try allocateRecord(key, value), at: index)
        records.deallocate(locator, size: oldSize)
    }

    // MARK: - Incremental rehash

    /// Puts a new table in front of the current one and starts migrating into it.
    ///
    /// One rule sizes it for all three reasons to rehash: twice the live records (so a full
    /// table, at a load of 0.8, grows 1.6x to a load of 0.5; a tombstone-ridden one is rebuilt
    /// smaller or at the same size; a mostly empty one shrinks), never below the presized
    /// capacity nor below 1/16 of the current capacity.
    /// - Throws: `EngineError.io` when the system gives no memory for the new table; nothing changes then.
    func startRehash() throws(EngineError) {
        precondition(oldTable == nil, "a rehash started while another was in progress")
        let live = table.liveCount
        let capacity = max(minimumCapacity, 2 * (live + 1), table.capacity / 16)
        let fresh = try SlotTable(capacity: capacity)
        oldTable = table
        table = fresh
        migrationCursor = 0
        if live == 0 { finishMigration() }
    }

    /// Moves up to `slotBudget` old-table slots into the current table; frees the old table
    /// when it holds no more records.
    func migrate(slotBudget: Int) {
        guard var old = oldTable else { return }
        var cursor = migrationCursor
        let end = slotBudget >= old.capacity - cursor ? old.capacity : cursor + slotBudget
        while cursor < end && old.liveCount > 0 {
            let tag = old.tag(at: cursor)
            if Tag.isLive(tag) {
                let locator = old.locator(at: cursor)
                let hash = KeyHash.hash(PackedRecord.key(records.address(locator)), seed: seed)
                table.insertAbsent(tag: tag, locator: locator, hash: hash)
                old.remove(at: cursor)
            }
            cursor += 1
        }
        oldTable = old
        migrationCursor = cursor
        if old.liveCount == 0 { finishMigration() }
    }

    /// Frees the old table, which holds no records.
    private func finishMigration() {
        guard let old = oldTable else { return }
        precondition(old.liveCount == 0, "freeing an old table that still holds \(old.liveCount) records")
        old.deallocate()
        oldTable = nil
        migrationCursor = 0
    }

    // MARK: - Release

    /// Frees every record and table. The shard is closed afterwards.
    func release() {
        guard isOpen else { return }
        records.releaseAll()   // slabs and large (malloc'd) records alike
        table.deallocate()
        oldTable?.deallocate()
        oldTable = nil
        isOpen = false
    }
}
