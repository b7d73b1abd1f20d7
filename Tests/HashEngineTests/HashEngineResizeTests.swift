// Incremental resizing: growth, shrinking and tombstone churn, checked between steps.

import Testing
@testable import HashEngine
import KVCore

@Suite("hash engine resizing")
struct HashEngineResizeTests {
    @Test("growing through several incremental resizes keeps every key readable mid-migration")
    func growthThroughMigrations() throws {
        let engine = HashEngine(shardCount: 2, initialCapacity: 0)
        var capacitiesSeen: Set<Int> = []
        var readsFromOldTable = 0
        var inserted = 0
        for step in 0..<160 {
            for _ in 0..<25 {
                try engine.put(key16(inserted), valueBytes(inserted, count: 10 + inserted % 40))
                inserted += 1
            }
            try engine.checkInvariants()
            let migrating = engine.shards.filter { shard in shard.lock.withLock { shard.oldTable != nil } }
            for shard in migrating { capacitiesSeen.insert(shard.lock.withLock { shard.table.capacity }) }
            if !migrating.isEmpty || step % 20 == 0 {
                for i in 0..<inserted {
                    if isInOldTable(engine, key16(i)) { readsFromOldTable += 1 }
                    let value = try engine.get(key16(i))
                    #expect(value == valueBytes(i, count: 10 + i % 40), "key \(i) of \(inserted) at step \(step)")
                }
                try engine.checkInvariants()
            }
        }
        #expect(engine.count == inserted)
        #expect(capacitiesSeen.count >= 5, "migrations into capacities \(capacitiesSeen.sorted())")
        #expect(readsFromOldTable > 100, "\(readsFromOldTable) reads found their key in a table being migrated")
    }

    /// True if `key` sits in its shard's old table, waiting to be migrated.
    func isInOldTable(_ engine: HashEngine, _ key: [UInt8]) -> Bool {
        key.withUnsafeBytes { raw in
            let hash = KeyHash.hash(raw, seed: engine.hashSeed)
            let shard = engine.shards[HashEngine.shardIndex(hash: hash, shardCount: engine.shards.count)]
            return shard.lock.withLock { shard.oldTable.map { $0.find(raw, hash: hash, bases: shard.records.bases) >= 0 } ?? false }
        }
    }

    @Test("deleting most keys shrinks the table incrementally")
    func shrinking() throws {
        let engine = HashEngine(shardCount: 1)
        for i in 0..<4000 { try engine.put(key16(i), [UInt8(truncatingIfNeeded: i)]) }
        let grown = engine.shards[0].table.capacity
        for i in 0..<3990 {
            #expect(try engine.delete(key16(i)))
            if i % 97 == 0 { try engine.checkInvariants() }
        }
        try engine.checkInvariants()
        // Finish any migration in progress with reads.
        for _ in 0..<100 { _ = try engine.get(key16(3999)) }
        #expect(engine.shards[0].table.capacity < grown / 8)
        for i in 3990..<4000 { #expect(try engine.get(key16(i)) == [UInt8(truncatingIfNeeded: i)]) }
    }

    @Test("insert and delete churn keeps tombstones and memory bounded")
    func tombstoneChurn() throws {
        let engine = HashEngine(shardCount: 2)
        let live = 2000
        for i in 0..<live { try engine.put(key16(i), valueBytes(i, count: 100)) }
        let baseline = engine.memoryUsage
        var next = live
        var peakInUse = 0, peakReserved = 0
        for cycle in 0..<40 {
            // Delete the oldest half and insert as many fresh keys: every delete leaves a
            // tombstone (or an empty slot), every insert a new key.
            for i in (next - live)..<(next - live / 2) { #expect(try engine.delete(key16(i))) }
            for _ in 0..<(live / 2) {
                try engine.put(key16(next), valueBytes(next, count: 100))
                next += 1
            }
            let usage = engine.memoryUsage
            peakInUse = max(peakInUse, usage.bytesInUse)
            peakReserved = max(peakReserved, usage.bytesReserved)
            if cycle % 8 == 0 { try engine.checkInvariants() }
            for shard in engine.shards {
                let (capacity, used) = shard.lock.withLock { (shard.table.capacity, shard.table.usedCount) }
                #expect(capacity <= 4096, "cycle \(cycle): capacity \(capacity)")
                #expect(used * 5 <= capacity * 4)
            }
        }
        #expect(engine.count == live)
        #expect(peakInUse <= baseline.bytesInUse * 3 / 2, "baseline \(baseline), peak in use \(peakInUse)")
        #expect(peakReserved <= baseline.bytesReserved * 3 / 2, "baseline \(baseline), peak reserved \(peakReserved)")
        for i in (next - live)..<next { #expect(try engine.get(key16(i)) == valueBytes(i, count: 100)) }
        try engine.checkInvariants()
    }

    @Test("random puts, overwrites and deletes agree with a dictionary")
    func randomModel() throws {
        let seed = testSeed()
        var random = SeededRandom(seed: seed)
        let engine = HashEngine(shardCount: 2)
        var model: [[UInt8]: [UInt8]] = [:]
        for step in 0..<30_000 {
            let key = Array(key16(Int(random.next(below: 3000))).prefix(Int(random.next(below: 17))))
            switch random.next(below: 10) {
            case 0..<5:
                let value = valueBytes(step, count: Int(random.next(below: 200)))
                try engine.put(key, value)
                model[key] = value
            case 5..<8:
                #expect(try engine.delete(key) == (model.removeValue(forKey: key) != nil), "seed \(seed), step \(step)")
            default:
                #expect(try engine.get(key) == model[key], "seed \(seed), step \(step)")
            }
            if step % 2000 == 0 { try engine.checkInvariants() }
        }
        #expect(engine.count == model.count, "seed \(seed)")
        for (key, value) in model { #expect(try engine.get(key) == value, "seed \(seed)") }
        try engine.checkInvariants()
    }
}
