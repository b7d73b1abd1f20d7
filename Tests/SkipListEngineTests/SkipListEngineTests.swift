// SkipListEngine through the KeyValueEngine contract: scans, deletes, batches, close.

import KVCore
import Testing
@testable import SkipListEngine

@Suite("SkipListEngine")
struct SkipListEngineTests {
    @Test("the engine names itself skiplist and offers ordered scans and atomic batches")
    func identity() {
        let engine = SkipListEngine()
        #expect(engine.name == "skiplist")
        #expect(engine.capabilities == [.storesData, .orderedScan, .atomicBatch])
    }

    @Test("scan visits keys at or after the start in ascending order, up to the limit")
    func scanFromAndLimit() throws {
        let engine = SkipListEngine(seed: 1)
        for i in stride(from: 0, to: 100, by: 2) { try engine.put([UInt8(i)], [UInt8(i), 1]) }
        #expect(try engine.scan(from: [11], limit: 3).map(\.key) == [[12], [14], [16]])
        #expect(try engine.scan(from: [], limit: 2).map(\.key) == [[0], [2]])
        #expect(try engine.scan(from: [98], limit: 10).map(\.key) == [[98]])
        #expect(try engine.scan(from: [99], limit: 10).isEmpty)
        #expect(try engine.scan(from: [0], limit: 0).isEmpty)
        var seen: [[UInt8]] = []
        try [UInt8(50)].withBytes { (start) throws(EngineError) in
            try engine.scan(from: start, limit: 100) { key, _ in
                seen.append(Array(key))
                return seen.count < 4
            }
        }
        #expect(seen == [[50], [52], [54], [56]])
        #expect(try engine.scan(from: [], limit: .max).count == 50)
    }

    @Test("delete reports whether the key existed and count tracks live records")
    func deleteAndCount() throws {
        let engine = SkipListEngine()
        try engine.put([1], [10])
        try engine.put([2], [20])
        try engine.put([1], [11])
        #expect(engine.count == 2)
        #expect(try engine.get([1]) == [11])
        #expect(try engine.delete([1]))
        #expect(try !engine.delete([1]))
        #expect(try engine.get([1]) == nil)
        #expect(engine.count == 1)
        try engine.checkInvariants()
    }

    @Test("a write batch applies its puts and deletes in order")
    func batchInOrder() throws {
        let engine = SkipListEngine()
        try engine.put([9], [9])
        var batch = WriteBatch()
        batch.put([1], [1])
        batch.put([2], [2])
        batch.delete([1])
        batch.delete([9])
        batch.put([2], [3, 3])
        try engine.write(batch, options: .default)
        #expect(try engine.scan(from: [], limit: 10) == [KeyValuePair(key: [2], value: [3, 3])])
        try engine.checkInvariants()
    }

    @Test("after close every call throws closed, and closing again is fine")
    func closeSemantics() throws {
        let engine = SkipListEngine()
        try engine.put([1], [1])
        try engine.close()
        try engine.close()
        let closed = EngineError.closed(engine: "skiplist")
        #expect(throws: closed) { _ = try engine.get([1]) }
        #expect(throws: closed) { try engine.put([1], [2]) }
        #expect(throws: closed) { try engine.delete([1]) }
        #expect(throws: closed) { _ = try engine.scan(from: [], limit: 1) }
        #expect(throws: closed) { try engine.write(WriteBatch(), options: .default) }
        #expect(throws: closed) { try engine.flush() }
        #expect(throws: closed) { try engine.checkInvariants() }
        #expect(engine.memoryUsage == (0, 0))
    }

    @Test("memory usage grows with records and returns to zero when they are deleted")
    func memoryUsage() throws {
        let engine = SkipListEngine()
        #expect(engine.memoryUsage.bytesInUse == 0)
        for i in 0..<1000 { try engine.put(withUnsafeBytes(of: UInt32(i)) { Array($0) }, [UInt8](repeating: 0, count: 100)) }
        let used = engine.memoryUsage
        #expect(used.bytesInUse >= 1000 * 104 && used.bytesInUse <= used.bytesReserved)
        for i in 0..<1000 { try engine.delete(withUnsafeBytes(of: UInt32(i)) { Array($0) }) }
        #expect(engine.memoryUsage.bytesInUse == 0)
    }
}

@Suite("SkipListEngine versions")
struct SkipListEngineVersionTests {
    @Test("versions hidden while a scan is open stay readable to it and are freed once it ends")
    func hiddenVersionsAreCollectedAfterTheScan() throws {
        let engine = SkipListEngine(seed: 11)
        defer { try? engine.close() }
        let keys = (0..<100).map { withUnsafeBytes(of: UInt32($0).bigEndian) { Array($0) } }
        for key in keys { try engine.put(key, [0]) }
        let baseline = engine.memoryUsage.bytesInUse
        #expect(engine.storedVersions == 100)
        var seen: [UInt8] = []
        var versionsDuringScan = 0
        try engine.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: .max) { _, value in
            if seen.isEmpty {
                // Same thread, no lock held by the scan: overwrite every key twice, delete half.
                for round in 1...2 { for key in keys { try? engine.put(key, [UInt8(round)]) } }
                for key in keys.prefix(50) { _ = try? engine.delete(key) }
                versionsDuringScan = engine.storedVersions
            }
            seen.append(value.first ?? 255)
            return true
        }
        #expect(seen == [UInt8](repeating: 0, count: 100), "the scan is one snapshot: the first versions only")
        #expect(versionsDuringScan == 100 * 3 + 50, "nothing is unlinked while the scan may need it")
        #expect(engine.count == 50)
        try engine.put(keys[99], [9])  // the next write collects what the finished scan held
        #expect(engine.storedVersions == 50)
        #expect(engine.memoryUsage.bytesInUse < baseline)
        try engine.checkInvariants()
        for key in keys.prefix(50) { _ = try engine.delete(key) }
        for key in keys.suffix(50) { _ = try engine.delete(key) }
        #expect(engine.storedVersions == 0)
        #expect(engine.memoryUsage.bytesInUse == 0)
    }
}
