// One lock stripe of the hash engine: its lock, its slot table(s), its record slab.

import KVCore

/// A shard owns the records whose key hashes select it, and everything needed to reach them.
///
/// Records are `PackedRecord`s in chunks of the shard's `SlabAllocator`; the slot table
/// points at them. Growing, shrinking or cleaning out tombstones is incremental, as in
/// Redis's dict: `startRehash()` puts a fresh table in front and keeps the old one, and every
/// later operation moves a bounded number of old slots (`writeMigrationStep` per write,
/// `readMigrationStep` per read) until the old table is empty and freed. Meanwhile lookups
/// try the new table, then the old; new keys go only to the new table; records never move
/// within a table, so the migration cursor stays valid.
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
    @exclusivity(unchecked) var slab = SlabAllocator()
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
        table = SlotTable(capacity: minimumCapacity)
    }

    deinit { if isOpen { release() } }

    /// Live records in this shard.
    var count: Int { table.liveCount + (oldTable?.liveCount ?? 0) }

    /// Bytes the shard holds: record chunks plus slot arrays.
    var memoryUsage: (bytesInUse: Int, bytesReserved: Int) {
        guard isOpen else { return (0, 0) }
        let tableBytes = table.byteCount + (oldTable?.byteCount ?? 0)
        return (slab.bytesInUse + tableBytes, slab.bytesReserved + tableBytes)
    }

    // MARK: - Operations (lock held)

    /// The record stored under `key`, or nil.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UnsafeMutableRawPointer? {
        if oldTable != nil { migrate(slotBudget: Self.readMigrationStep) }
        let i = table.find(key, hash: hash)
        if i >= 0 { return Slot.record(table.slots[i]) }
        if let old = oldTable {
            let j = old.find(key, hash: hash)
            if j >= 0 { return Slot.record(old.slots[j]) }
        }
        return nil
    }

    /// Stores `value` under `key`.
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, hash: UInt64) {
        if oldTable != nil { migrate(slotBudget: Self.writeMigrationStep) }
        let tag = Slot.tagBits(hash)
        let (found, vacancy) = table.probe(key, hash: hash)
        if found >= 0 {
            replaceValue(of: table.slots + found, key: key, value: value, tagBits: tag)
            return
        }
        if let old = oldTable {
            let j = old.find(key, hash: hash)
            if j >= 0 {
                replaceValue(of: old.slots + j, key: key, value: value, tagBits: tag)
                return
            }
        }
        var target = vacancy
        if table.slots[target] == Slot.empty && table.isFull {
            if oldTable != nil {
                // Unreachable by the sizing argument above; kept so a table can never fill.
                migrate(slotBudget: Int.max)
            }
            startRehash()
            target = table.vacancy(hash: hash)
        }
        table.fill(target, with: Slot.make(tagBits: tag, record: allocateRecord(key, value)))
    }

    /// Removes `key`; true if it was present.
    func delete(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        if oldTable != nil { migrate(slotBudget: Self.writeMigrationStep) }
        let i = table.find(key, hash: hash)
        if i >= 0 {
            freeRecord(Slot.record(table.slots[i]))
            table.remove(at: i)
            if oldTable == nil && table.capacity > minimumCapacity && table.liveCount * 8 < table.capacity {
                startRehash()  // mostly empty: shrink
            }
            return true
        }
        guard oldTable != nil else { return false }
        let j = oldTable!.find(key, hash: hash)
        guard j >= 0 else { return false }
        freeRecord(Slot.record(oldTable!.slots[j]))
        oldTable!.remove(at: j)
        if oldTable!.liveCount == 0 { finishMigration() }
        return true
    }

    // MARK: - Records

    /// Packs `key` and `value` into a new chunk.
    @inline(__always)
    private func allocateRecord(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
        let size = PackedRecord.size(keyCount: key.count, valueCount: value.count)
        let record = slab.allocate(size)
        PackedRecord.write(key: key, value: value, to: record)
        return record
    }

    @inline(__always)
    private func freeRecord(_ record: UnsafeMutableRawPointer) {
        let size = PackedRecord.read(record).size
        slab.deallocate(record, size: size)
    }

    /// Gives the record behind `slot` the value `value`: in place when the chunk size stays
    /// the same, else in a new chunk that the slot then points to.
    @inline(__always)
    private func replaceValue(of slot: UnsafeMutablePointer<UInt64>, key: UnsafeRawBufferPointer,
                              value: UnsafeRawBufferPointer, tagBits: UInt64) {
        let record = Slot.record(slot.pointee)
        let oldSize = PackedRecord.read(record).size
        let newSize = PackedRecord.size(keyCount: key.count, valueCount: value.count)
        if SlabAllocator.chunkSize(for: oldSize) == SlabAllocator.chunkSize(for: newSize) {
            PackedRecord.write(key: key, value: value, to: record)
            return
        }
        slot.pointee = Slot.make(tagBits: tagBits, record: allocateRecord(key, value))
        freeRecord(record)
    }

    // MARK: - Incremental rehash

    /// Puts a new table in front of the current one and starts migrating into it.
    ///
    /// One rule sizes it for all three reasons to rehash: twice the live records (so a full
    /// table doubles, a tombstone-ridden one is rebuilt at the same size, a mostly empty one
    /// shrinks), never below the presized capacity nor below 1/16 of the current capacity.
    func startRehash() {
        precondition(oldTable == nil, "a rehash started while another was in progress")
        let live = table.liveCount
        let capacity = SlotTable.powerOfTwo(atLeast: max(minimumCapacity, 2 * (live + 1), table.capacity / 16))
        oldTable = table
        table = SlotTable(capacity: capacity)
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
            let slot = old.slots[cursor]
            if Slot.isLive(slot) {
                let hash = KeyHash.hash(PackedRecord.key(Slot.record(slot)), seed: seed)
                table.insertAbsent(slot, hash: hash)
                // A tombstone, not an empty slot: keys further along this probe path are
                // still found in the old table.
                old.slots[cursor] = Slot.tombstone
                old.liveCount -= 1
                old.tombstoneCount += 1
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
        slab.releaseAll()   // slabs and large (malloc'd) records alike
        table.deallocate()
        oldTable?.deallocate()
        oldTable = nil
        isOpen = false
    }
}
