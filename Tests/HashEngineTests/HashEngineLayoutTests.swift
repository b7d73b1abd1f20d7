// The hash engine's memory layout: slot tables grown by 1.33x stay 0.6 to 0.8 full, and the
// accounting adds up to record chunks plus slot arrays.

import Testing
@testable import HashEngine
import KVCore

@Suite("hash engine layout")
struct HashEngineLayoutTests {
    @Test("growing a shard by inserts keeps its slot table between 0.6 and 0.8 full once each resize ends")
    func growthKeepsTheLoadBand() throws {
        let engine = HashEngine(shardCount: 1)
        let shard = engine.shards[0]
        var resizesSeen = 0
        var lastCapacity = shard.lock.withLock { shard.table.capacity }
        for i in 0..<60_000 {
            try engine.put(key16(i), valueBytes(i, count: 8))
            let (capacity, live, migrating) = shard.lock.withLock { (shard.table.capacity, shard.table.liveCount, shard.oldTable != nil) }
            #expect(live * 5 <= capacity * 4, "record \(i): \(live) live in \(capacity) slots")
            #expect(capacity % 16 == 0, "capacity \(capacity) is not a multiple of 16")
            if capacity != lastCapacity && lastCapacity >= 256 {
                resizesSeen += 1
                // A new table starts 0.6 full (of the records it will hold once migrated).
                let total = engine.count ?? 0
                #expect(Double(total) / Double(capacity) >= 0.58, "record \(i): resized to \(capacity) for \(total) records")
                #expect(capacity * 3 <= lastCapacity * 4 + 64, "record \(i): grew from \(lastCapacity) to \(capacity), more than 1.33x")
            }
            lastCapacity = capacity
            if !migrating && capacity > SlotTable.minimumCapacity * 8 {
                #expect(live * 10 >= capacity * 5, "record \(i): \(live) live in \(capacity) slots, under half full")
            }
        }
        #expect(resizesSeen >= 10, "\(resizesSeen) resizes")
        try engine.checkInvariants()
    }

    @Test("memory in use is the record chunks plus the slot arrays, about 133 bytes per 16/100 B record")
    func accountingAddsUp() throws {
        let engine = HashEngine(shardCount: 4)
        let n = 40_000
        for i in 0..<n { try engine.put(key16(i), valueBytes(i, count: 100)) }
        for _ in 0..<64 { _ = try engine.get(key16(0)) }  // let reads finish any migration
        var chunks = 0, slots = 0
        for shard in engine.shards {
            shard.lock.withLock {
                chunks += shard.slab.bytesInUse
                slots += shard.table.byteCount + (shard.oldTable?.byteCount ?? 0)
            }
        }
        #expect(engine.memoryUsage.bytesInUse == chunks + slots)
        // A 16 B key and a 100 B value pack into 118 bytes, a 120-byte chunk.
        #expect(chunks == n * 120)
        // Slots at a load of 0.6 to 0.8 (plus rounding): 10 to 13.4 bytes per record.
        let slotBytesPerRecord = Double(slots) / Double(n)
        #expect(slotBytesPerRecord >= 9.9 && slotBytesPerRecord <= 13.6, "\(slotBytesPerRecord) slot bytes per record")
        try engine.checkInvariants()
    }

    @Test("tables of any multiple of 16 slots find every key from its scaled home slot, through wrap-around")
    func scaledHomeSlots() throws {
        let table = SlotTable(capacity: 48)
        defer { table.deallocate() }
        // Home slots spread over the whole table, the last one included.
        var homes = Set<Int>()
        for h in stride(from: UInt64(0), to: 1 << 32, by: 1 << 24) { homes.insert(table.home(h)) }
        #expect(homes.min() == 0 && homes.max() == 47)
        #expect(table.next(47) == 0 && table.previous(0) == 47)
        // A mapped table (64 KiB and up) starts empty like a calloc'd one.
        let big = SlotTable(capacity: 16 * 1024)
        defer { big.deallocate() }
        #expect((0..<big.capacity).allSatisfy { big.slots[$0] == Slot.empty })
    }
}
