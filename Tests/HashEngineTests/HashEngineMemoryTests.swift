// The hash engine's memory layout: bytes per record, chunk reuse, bounded churn.

import Testing
@testable import HashEngine
import KVCore

@Suite("hash engine memory")
struct HashEngineMemoryTests {
    @Test("a 16-byte key with a 100-byte value stays within 1.2x raw at every size, migrations included")
    func bytesPerRecordThroughGrowth() throws {
        // No presizing: the tables go through a dozen 1.6x resizes, each checked mid-migration.
        let engine = HashEngine(shardCount: 4)
        var migrationsSeen = 0
        for i in 0..<120_000 {
            try engine.put(key16(i), valueBytes(i, count: 100))
            let records = i + 1
            guard records >= 5_000, records % 500 == 0 else { continue }
            let usage = engine.memoryUsage
            let perRecord = Double(usage.bytesInUse) / Double(records)
            #expect(perRecord <= 1.2 * 116, "\(perRecord) bytes per record at \(records) records")
            // Slots alone: 64-byte groups of 12 at a load of at least 0.5 outside migrations.
            var tableBytes = 0
            for shard in engine.shards {
                shard.lock.withLock {
                    tableBytes += shard.table.byteCount + (shard.oldTable?.byteCount ?? 0)
                    if shard.oldTable != nil { migrationsSeen += 1 }
                }
            }
            #expect(Double(tableBytes) / Double(records) <= 6.7 + 10.7 + 0.5,
                    "\(Double(tableBytes) / Double(records)) slot bytes per record at \(records) records")
        }
        #expect(migrationsSeen > 0, "no checkpoint fell inside a migration")
        try engine.checkInvariants()
    }

    @Test("the record arena reuses freed chunks first and gives emptied slabs back")
    func arenaReuse() throws {
        var arena = RecordArena()
        let perSlab = RecordArena.slabSize / 120
        var locators: [UInt32] = []
        for _ in 0..<(3 * perSlab) { locators.append(try arena.allocate(118)) }
        #expect(arena.bytesInUse == 3 * perSlab * 120)
        #expect(arena.bytesReserved == 3 * RecordArena.slabSize)
        // Locators name distinct, non-overlapping 120-byte chunks.
        let addresses = Set(locators.map { UInt(bitPattern: arena.address($0)) })
        #expect(addresses.count == locators.count)
        #expect(locators.allSatisfy { arena.isHeld($0) })

        // A freed chunk is handed out again before any new memory.
        let freed = locators.remove(at: 10)
        arena.deallocate(freed, size: 118)
        #expect(try arena.allocate(117) == freed)
        locators.append(freed)

        // Freeing every chunk of all but one slab returns those slabs.
        for locator in locators { arena.deallocate(locator, size: 118) }
        #expect(arena.bytesInUse == 0)
        #expect(arena.bytesReserved == RecordArena.slabSize, "one empty slab kept per size class in use")

        // A record over 4 KiB is one block of its own, freed with it.
        let big = try arena.allocate(10_000)
        #expect(arena.largeChunkCount == 1)
        #expect(arena.bytesReserved == RecordArena.slabSize + 10_000)
        arena.deallocate(big, size: 10_000)
        #expect(arena.largeChunkCount == 0)
        #expect(arena.bytesReserved == RecordArena.slabSize)
        arena.releaseAll()
        #expect(arena.bytesReserved == 0)
    }

    @Test("updates and deletes of changing sizes reuse memory: reserved bytes stay bounded over churn")
    func churnKeepsMemoryBounded() throws {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let engine = HashEngine(shardCount: 2)
        let keys = 4_000
        for i in 0..<keys { try engine.put(key16(i), valueBytes(i, count: 100)) }
        let settled = engine.memoryUsage
        var model = [Int](repeating: 100, count: keys)  // value size per key, -1 deleted
        var peakReserved = 0
        for round in 0..<20 {
            for step in 0..<4_000 {
                let k = Int(random.next(below: UInt64(keys)))
                switch random.next(below: 4) {
                case 0:
                    // Same chunk size: rewritten in place, no memory moves.
                    let before = engine.memoryUsage.bytesInUse
                    if model[k] >= 0 {
                        try engine.put(key16(k), valueBytes(round &* 7 &+ step, count: model[k]))
                        #expect(engine.memoryUsage.bytesInUse == before, "seed \(seed)")
                    }
                case 1:
                    // Another size class: a new chunk, the old one freed.
                    model[k] = [20, 100, 300, 1_000, 5_000][Int(random.next(below: 5))]
                    try engine.put(key16(k), valueBytes(k, count: model[k]))
                case 2:
                    #expect(try engine.delete(key16(k)) == (model[k] >= 0), "seed \(seed), round \(round)")
                    model[k] = -1
                default:
                    if model[k] < 0 {
                        model[k] = 100
                        try engine.put(key16(k), valueBytes(k, count: 100))
                    }
                }
            }
            // Reserved memory follows the live records: freed chunks are reused and emptied slabs
            // returned, so at most half of it is free space (plus one slab per class and shard).
            let usage = engine.memoryUsage
            #expect(usage.bytesReserved <= 2 * usage.bytesInUse + 10 * RecordArena.slabSize,
                    "seed \(seed), round \(round): \(usage)")
            peakReserved = max(peakReserved, usage.bytesReserved)
            try engine.checkInvariants()
        }
        // Put everything back to 100-byte values: memory returns near the settled size.
        for k in 0..<keys { try engine.put(key16(k), valueBytes(k, count: 100)) }
        let end = engine.memoryUsage
        #expect(engine.count == keys, "seed \(seed)")
        // A leak would hold every chunk ever replaced: about 20 x 4,000 / 4 x 1,300 B = 26 MB.
        #expect(peakReserved < 12_000_000, "seed \(seed): peak reserved \(peakReserved)")
        // One partly used slab per size class and shard may remain (5 classes x 2 shards).
        #expect(end.bytesReserved <= settled.bytesReserved + 10 * RecordArena.slabSize + 200_000,
                "seed \(seed): settled \(settled), end \(end)")
        for k in 0..<keys { #expect(try engine.get(key16(k)) == valueBytes(k, count: 100), "seed \(seed)") }
        try engine.checkInvariants()
    }
}
