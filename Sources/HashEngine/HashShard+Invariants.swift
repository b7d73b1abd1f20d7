// The hash shard's self-check: table accounting, reachability of every record, slab bytes.

import KVCore

extension HashShard {
    /// Verifies the shard's accounting against its contents (lock held).
    ///
    /// - Throws: `EngineError.corruption` with `file` `<memory>`, `offset` the shard index and
    ///   the first violation found.
    func checkInvariants(shardCount: Int) throws(EngineError) {
        var context = (shardCount: shardCount, chunkBytes: 0, largeRecords: 0)
        try check(table, name: "table", other: oldTable, context: &context)
        if let old = oldTable {
            try check(old, name: "old table", other: table, context: &context)
            for i in 0..<migrationCursor where Slot.isLive(old.slots[i]) {
                throw corruption("old table slot \(i) is below the migration cursor \(migrationCursor) but still holds a record")
            }
            if old.liveCount == 0 { throw corruption("an old table with no records was kept") }
        } else if migrationCursor != 0 {
            throw corruption("migration cursor is \(migrationCursor) with no old table")
        }
        if context.chunkBytes != slab.bytesInUse {
            throw corruption("records occupy \(context.chunkBytes) bytes of chunks but the slab counts \(slab.bytesInUse) in use")
        }
        if context.largeRecords != slab.largeChunkCount {
            throw corruption("found \(context.largeRecords) records larger than a slab chunk, the slab holds \(slab.largeChunkCount)")
        }
        if slab.bytesInUse > slab.bytesReserved {
            throw corruption("slab has \(slab.bytesInUse) bytes in use but only \(slab.bytesReserved) reserved")
        }
    }

    private func check(_ t: SlotTable, name: String, other: SlotTable?,
                       context: inout (shardCount: Int, chunkBytes: Int, largeRecords: Int)) throws(EngineError) {
        var live = 0
        var tombstones = 0
        for i in 0..<t.capacity {
            let slot = t.slots[i]
            if slot == Slot.empty { continue }
            if slot == Slot.tombstone { tombstones += 1; continue }
            live += 1
            let record = Slot.record(slot)
            if UInt(bitPattern: record) >> 47 != 0 || UInt(bitPattern: record) & 7 != 0 {
                throw corruption("\(name) slot \(i) holds an invalid record address \(record)")
            }
            let (key, _, size) = PackedRecord.read(record)
            let hash = KeyHash.hash(key, seed: seed)
            if HashEngine.shardIndex(hash: hash, shardCount: context.shardCount) != index {
                throw corruption("\(name) slot \(i) holds key \(Array(key).debugText), which belongs to shard \(HashEngine.shardIndex(hash: hash, shardCount: context.shardCount))")
            }
            if !Slot.hasTag(slot, Slot.tagBits(hash)) {
                throw corruption("\(name) slot \(i) has tag \(slot >> 48), key \(Array(key).debugText) hashes to tag \(Slot.tagBits(hash) >> 48)")
            }
            let found = t.find(key, hash: hash)
            if found != i {
                let what = found < 0 ? "not found" : "found at slot \(found) first (a duplicate key)"
                throw corruption("\(name) slot \(i) holds key \(Array(key).debugText), but probing from its home slot \(Int(truncatingIfNeeded: hash) & t.mask): \(what)")
            }
            if let other, other.find(key, hash: hash) >= 0 {
                throw corruption("key \(Array(key).debugText) in \(name) slot \(i) is also in the other table")
            }
            context.chunkBytes += SlabAllocator.chunkSize(for: size)
            if size > SlabAllocator.maxChunkSize { context.largeRecords += 1 }
        }
        if live != t.liveCount { throw corruption("\(name) holds \(live) records but counts \(t.liveCount)") }
        if tombstones != t.tombstoneCount {
            throw corruption("\(name) holds \(tombstones) tombstones but counts \(t.tombstoneCount)")
        }
        if live + tombstones >= t.capacity { throw corruption("\(name) has no empty slot (capacity \(t.capacity))") }
    }

    private func corruption(_ detail: String) -> EngineError {
        .corruption(file: "<memory>", offset: Int64(index), detail: "shard \(index): " + detail)
    }
}
