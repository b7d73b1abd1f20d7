// The hash shard's self-check: table accounting, reachability of every record, arena bytes.

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
            for i in 0..<migrationCursor where Tag.isLive(old.tag(at: i)) {
                throw corruption("old table slot \(i) is below the migration cursor \(migrationCursor) but still holds a record")
            }
            if old.liveCount == 0 { throw corruption("an old table with no records was kept") }
        } else if migrationCursor != 0 {
            throw corruption("migration cursor is \(migrationCursor) with no old table")
        }
        if context.chunkBytes != records.bytesInUse {
            throw corruption("records occupy \(context.chunkBytes) bytes of chunks but the arena counts \(records.bytesInUse) in use")
        }
        if context.largeRecords != records.largeChunkCount {
            throw corruption("found \(context.largeRecords) records larger than a slab chunk, the arena holds \(records.largeChunkCount)")
        }
        if records.bytesInUse > records.bytesReserved {
            throw corruption("arena has \(records.bytesInUse) bytes in use but only \(records.bytesReserved) reserved")
        }
    }

    private func check(_ t: SlotTable, name: String, other: SlotTable?,
                       context: inout (shardCount: Int, chunkBytes: Int, largeRecords: Int)) throws(EngineError) {
        var live = 0
        var tombstones = 0
        for i in 0..<t.capacity {
            let tag = t.tag(at: i)
            if tag == Tag.empty { continue }
            if tag == Tag.tombstone { tombstones += 1; continue }
            live += 1
            let locator = t.locator(at: i)
            if !records.isHeld(locator) {
                throw corruption("\(name) slot \(i) holds locator \(locator), which names no chunk of the arena")
            }
            let (key, _, size) = PackedRecord.read(records.address(locator))
            let hash = KeyHash.hash(key, seed: seed)
            if HashEngine.shardIndex(hash: hash, shardCount: context.shardCount) != index {
                throw corruption("\(name) slot \(i) holds key \(Array(key).debugText), which belongs to shard \(HashEngine.shardIndex(hash: hash, shardCount: context.shardCount))")
            }
            if tag != Tag.of(hash) {
                throw corruption("\(name) slot \(i) has tag \(tag), key \(Array(key).debugText) hashes to tag \(Tag.of(hash))")
            }
            let found = t.find(key, hash: hash, bases: records.bases)
            if found != i {
                let what = found < 0 ? "not found" : "found at slot \(found) first (a duplicate key)"
                throw corruption("\(name) slot \(i) holds key \(Array(key).debugText), but probing from its home group \(t.homeGroup(hash)): \(what)")
            }
            if let other, other.find(key, hash: hash, bases: records.bases) >= 0 {
                throw corruption("key \(Array(key).debugText) in \(name) slot \(i) is also in the other table")
            }
            context.chunkBytes += RecordArena.chunkSize(for: size)
            if size > RecordArena.maxChunkSize { context.largeRecords += 1 }
        }
        if live != t.liveCount { throw corruption("\(name) holds \(live) records but counts \(t.liveCount)") }
        if tombstones != t.tombstoneCount {
            throw corruption("\(name) holds \(tombstones) tombstones but counts \(t.tombstoneCount)")
        }
        if !(0..<t.groupCount).contains(where: { t.groupHasEmpty($0) }) {
            throw corruption("\(name) has no group with an empty slot (capacity \(t.capacity)): probes would not end")
        }
        // A group with an empty slot was never full, so it may hold no tombstone.
        for g in 0..<t.groupCount where t.groupHasEmpty(g) {
            for lane in 0..<SlotTable.slotsPerGroup where t.tag(at: g * SlotTable.slotsPerGroup + lane) == Tag.tombstone {
                throw corruption("\(name) group \(g) holds a tombstone at slot \(g * SlotTable.slotsPerGroup + lane) beside an empty slot")
            }
        }
    }

    private func corruption(_ detail: String) -> EngineError {
        .corruption(file: "<memory>", offset: Int64(index), detail: "shard \(index): " + detail)
    }
}
