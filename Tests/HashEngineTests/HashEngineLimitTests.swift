// The hash engine at its size limits: huge records fail with a typed error, sizes cross the slab/large boundary.

import Testing
@testable import HashEngine
import KVCore

@Suite("hash engine limits")
struct HashEngineLimitTests {
    @Test("a put of a record too large to allocate fails with a typed error and the engine stays usable")
    func hugeValueIsATypedError() throws {
        let engine = HashEngine(shardCount: 2)
        try engine.put(key16(1), valueBytes(1, count: 10))
        // A value claiming 1 TiB: the engine must refuse it before reading it (the bytes behind
        // the pointer are only 8; reading them all would fault, which the test would show).
        var small = [UInt8](repeating: 7, count: 8)
        let key = key16(2)
        var thrown: EngineError?
        small.withUnsafeMutableBytes { value in
            key.withUnsafeBytes { k in
                let claimed = UnsafeRawBufferPointer(start: value.baseAddress, count: 1 << 40)
                do throws(EngineError) {
                    try engine.put(k, claimed, options: .default)
                } catch {
                    thrown = error
                }
            }
        }
        guard case .tooLarge(_, let size, let limit)? = thrown else {
            Issue.record("expected EngineError.tooLarge, got \(String(describing: thrown))")
            return
        }
        #expect(size > limit)
        #expect(try engine.get(key) == nil)
        #expect(try engine.get(key16(1)) == valueBytes(1, count: 10))
        try engine.put(key, valueBytes(2, count: 5000))
        #expect(try engine.get(key) == valueBytes(2, count: 5000))
        try engine.checkInvariants()
    }

    @Test("one key rewritten through empty, slab-boundary and large values reads back each value, then frees everything")
    func sizesAcrossTheLargeRecordBoundary() throws {
        let engine = HashEngine(shardCount: 1)
        let sizes = [0, 1, 4_088, 4_093, 4_094, 4_095, 4_096, 4_097, 70_000, 0, 70_000, 70_001, 5, 4_100, 0]
        let neighbours = (0..<50).map { key16(1_000 + $0) }
        for (n, k) in neighbours.enumerated() { try engine.put(k, valueBytes(n, count: n * 90)) }
        let shard = engine.shards[0]
        let before = shard.lock.withLock { shard.records.bytesInUse }
        for (step, size) in sizes.enumerated() {
            try engine.put(key16(7), valueBytes(step, count: size))
            #expect(try engine.get(key16(7)) == valueBytes(step, count: size), "step \(step), \(size) bytes")
            try engine.checkInvariants()
        }
        // Delete, reinsert at a large size, delete again: the neighbours are untouched.
        #expect(try engine.delete(key16(7)))
        #expect(try engine.get(key16(7)) == nil)
        try engine.put(key16(7), valueBytes(99, count: 9_000))
        #expect(try engine.get(key16(7)) == valueBytes(99, count: 9_000))
        #expect(try engine.delete(key16(7)))
        for (n, k) in neighbours.enumerated() { #expect(try engine.get(k) == valueBytes(n, count: n * 90)) }
        // Record bytes only: the table may have grown meanwhile.
        #expect(shard.lock.withLock { shard.records.bytesInUse } == before)
        #expect(shard.lock.withLock { shard.records.largeChunkCount } == neighbours.indices.filter { $0 * 90 + 18 > 4096 }.count)
        try engine.checkInvariants()
    }
}
