// Single-threaded behaviour of the hash engine: reads, writes, sizes, errors.

import Testing
@testable import HashEngine
import KVCore

@Suite("hash engine basics")
struct HashEngineBasicTests {
    @Test("a put is read back, overwritten in place or moved, and deleted")
    func putGetOverwriteDelete() throws {
        let engine = HashEngine(shardCount: 4)
        try engine.put(Array("alpha".utf8), Array("one".utf8))
        #expect(try engine.get(Array("alpha".utf8)) == Array("one".utf8))
        #expect(try engine.get(Array("beta".utf8)) == nil)

        // Same chunk size: the record is rewritten where it is.
        let before = engine.memoryUsage.bytesInUse
        try engine.put(Array("alpha".utf8), Array("two".utf8))
        #expect(try engine.get(Array("alpha".utf8)) == Array("two".utf8))
        #expect(engine.memoryUsage.bytesInUse == before)

        // A larger value needs a larger chunk; the old one is freed.
        let long = valueBytes(7, count: 300)
        try engine.put(Array("alpha".utf8), long)
        #expect(try engine.get(Array("alpha".utf8)) == long)
        #expect(engine.count == 1)
        try engine.checkInvariants()

        #expect(try engine.delete(Array("alpha".utf8)))
        #expect(try !engine.delete(Array("alpha".utf8)))
        #expect(try engine.get(Array("alpha".utf8)) == nil)
        #expect(engine.count == 0)
        try engine.checkInvariants()
    }

    @Test("an empty key and an empty value are stored like any other")
    func emptyKeyAndValue() throws {
        let engine = HashEngine(shardCount: 2)
        try engine.put([], Array("for the empty key".utf8))
        try engine.put(Array("k".utf8), [])
        #expect(try engine.get([]) == Array("for the empty key".utf8))
        #expect(try engine.get(Array("k".utf8)) == [])
        try engine.put([], [])
        #expect(try engine.get([]) == [])
        #expect(engine.count == 2)
        try engine.checkInvariants()
        #expect(try engine.delete([]))
        #expect(try engine.get([]) == nil)
        try engine.checkInvariants()
    }

    @Test("a 1 MiB value goes through malloc and is freed on overwrite and delete")
    func oneMebibyteValue() throws {
        let engine = HashEngine(shardCount: 1)
        let big = valueBytes(3, count: 1 << 20)
        try engine.put(Array("big".utf8), big)
        #expect(try engine.get(Array("big".utf8)) == big)
        #expect(engine.memoryUsage.bytesInUse > 1 << 20)
        try engine.checkInvariants()

        try engine.put(Array("big".utf8), Array("small".utf8))
        #expect(try engine.get(Array("big".utf8)) == Array("small".utf8))
        #expect(engine.memoryUsage.bytesInUse < 64 * 1024)
        try engine.put(Array("big".utf8), big)
        try engine.checkInvariants()
        #expect(try engine.delete(Array("big".utf8)))
        #expect(engine.memoryUsage.bytesInUse < 64 * 1024)
        try engine.checkInvariants()
        // close() must free the large record a live table still points to.
        try engine.put(Array("big again".utf8), big)
        try engine.close()
    }

    @Test("scan reports that a hash table has no key order")
    func scanIsUnsupported() throws {
        let engine = HashEngine()
        try engine.put(Array("a".utf8), Array("1".utf8))
        #expect(throws: EngineError.unsupported(engine: "hash", operation: "ordered scan",
                                                reason: "a hash table keeps no key order; use skiplist, btree or lsm")) {
            _ = try engine.scan(from: [], limit: 10)
        }
        #expect(!engine.supportsOrderedScan)
        #expect(engine.capabilities == [.storesData, .atomicBatch])
    }

    @Test("every call after close throws closed, and closing twice is fine")
    func useAfterClose() throws {
        let engine = HashEngine(shardCount: 8)
        for i in 0..<100 { try engine.put(key16(i), valueBytes(i, count: 100)) }
        try engine.close()
        try engine.close()
        let closed = EngineError.closed(engine: "hash")
        #expect(throws: closed) { _ = try engine.get(key16(1)) }
        #expect(throws: closed) { try engine.put(key16(1), []) }
        #expect(throws: closed) { _ = try engine.delete(key16(1)) }
        #expect(throws: closed) { _ = try engine.scan(from: [], limit: 1) }
        #expect(throws: closed) { try engine.flush() }
        #expect(throws: closed) { try engine.checkInvariants() }
        var batch = WriteBatch()
        batch.put(key16(1), [1])
        #expect(throws: closed) { try engine.write(batch, options: .default) }
        #expect(throws: closed) { try engine.write(WriteBatch(), options: .default) }
        #expect(engine.count == 0)
        #expect(engine.memoryUsage == (0, 0))
    }

    @Test("a write batch applies its puts and deletes in order across shards")
    func writeBatch() throws {
        let engine = HashEngine(shardCount: 16)
        try engine.put(key16(0), [0])
        var batch = WriteBatch()
        for i in 1...50 { batch.put(key16(i), valueBytes(i, count: 20)) }
        batch.delete(key16(0))
        batch.put(key16(7), [7, 7])
        batch.delete(key16(8))
        batch.put(key16(8), [8])
        try engine.write(batch, options: .synced)
        #expect(try engine.get(key16(0)) == nil)
        #expect(try engine.get(key16(7)) == [7, 7])
        #expect(try engine.get(key16(8)) == [8])
        #expect(try engine.get(key16(9)) == valueBytes(9, count: 20))
        #expect(engine.count == 50)
        try engine.checkInvariants()
    }

    @Test("checkInvariants reports a wrong live count with the shard's index")
    func invariantViolationIsReported() throws {
        let engine = HashEngine(shardCount: 4)
        for i in 0..<40 { try engine.put(key16(i), [UInt8(i)]) }
        try engine.checkInvariants()
        engine.shards[2].table.liveCount += 1
        do {
            try engine.checkInvariants()
            Issue.record("expected a corruption error")
        } catch {
            guard case let .corruption(file, offset, detail) = error else { Issue.record("\(error)"); return }
            #expect(file == "<memory>")
            #expect(offset == 2)
            #expect(detail.contains("counts"))
        }
        engine.shards[2].table.liveCount -= 1
        try engine.checkInvariants()
    }

    @Test("a 16-byte key with a 100-byte value costs at most 1.5x its 116 raw bytes")
    func memoryPerRecord() throws {
        let records = 50_000
        for (shards, presize) in [(4, records), (4, 0)] {
            let engine = HashEngine(shardCount: shards, initialCapacity: presize)
            for i in 0..<records { try engine.put(key16(i), valueBytes(i, count: 100)) }
            let perRecord = Double(engine.memoryUsage.bytesInUse) / Double(records)
            #expect(perRecord <= 1.5 * 116, "\(perRecord) bytes per record (shards \(shards), presize \(presize))")
        }
    }
}
