// Every engine, randomized operation sequences checked step by step against the reference model.

import KVCore
import Testing

@Suite("Engine conformance: model test")
struct ModelConformanceTests {
    @Test("random get/put/delete/scan/batch sequences match the reference model",
          arguments: EngineUnderTest.all, ConformanceRunner.seeds)
    func randomSequencesMatchTheModel(subject: EngineUnderTest, seed: UInt64) throws {
        let runner = ConformanceRunner(subject: subject, seed: seed, operations: 6_000)
        let failure = try runner.run()
        #expect(failure == nil, "\(failure?.description ?? "")")
    }

    @Test("an empty key and an empty value are stored and told apart from absence",
          arguments: EngineUnderTest.storing)
    func emptyKeyAndValue(subject: EngineUnderTest) throws {
        let engine = try subject.open()
        defer { try? engine.close() }
        #expect(try engine.get([]) == nil)
        try engine.put([], [])
        #expect(try engine.get([]) == [])
        try engine.put([0], [])
        #expect(try engine.get([0]) == [])
        #expect(try engine.delete([]))
        #expect(try engine.get([]) == nil)
        #expect(try engine.get([0]) == [])
    }

    @Test("a value larger than a megabyte round-trips byte for byte", arguments: EngineUnderTest.storing)
    func largeValue(subject: EngineUnderTest) throws {
        let engine = try subject.open()
        defer { try? engine.close() }
        let value = (0..<(3 << 19)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        try engine.put(Array("big".utf8), value)
        #expect(try engine.get(Array("big".utf8)) == value)
        try engine.put(Array("big".utf8), [1, 2, 3])
        #expect(try engine.get(Array("big".utf8)) == [1, 2, 3])
    }

    @Test("every operation after close throws closed, and closing twice is allowed", arguments: EngineUnderTest.all)
    func useAfterClose(subject: EngineUnderTest) throws {
        let engine = try subject.open()
        try engine.put([1], [2])
        try engine.close()
        try engine.close()
        #expect(throws: EngineError.closed(engine: engine.name)) { try engine.get([1]) }
        #expect(throws: EngineError.closed(engine: engine.name)) { try engine.put([1], [3]) }
        #expect(throws: EngineError.closed(engine: engine.name)) { try engine.delete([1]) }
        #expect(throws: EngineError.closed(engine: engine.name)) { try engine.write(WriteBatch(), options: .default) }
    }

    @Test("a write batch applies its operations in order", arguments: EngineUnderTest.storing)
    func batchOrder(subject: EngineUnderTest) throws {
        let engine = try subject.open()
        defer { try? engine.close() }
        var batch = WriteBatch()
        batch.put([1], [10])
        batch.put([2], [20])
        batch.delete([1])
        batch.put([2], [21])
        batch.put([3], [])
        try engine.write(batch, options: .synced)
        #expect(try engine.get([1]) == nil)
        #expect(try engine.get([2]) == [21])
        #expect(try engine.get([3]) == [])
    }

    @Test("ordered engines scan in unsigned byte order from the start key",
          arguments: EngineUnderTest.storing.filter { (try? $0.open().supportsOrderedScan) == true })
    func orderedScan(subject: EngineUnderTest) throws {
        let engine = try subject.open()
        defer { try? engine.close() }
        let keys: [[UInt8]] = [[0xFF], [0x00], [], [0x00, 0x00], [0x7F], [0x80], [0x00, 0x01], [0x01]]
        for (i, key) in keys.enumerated() { try engine.put(key, [UInt8(i)]) }
        let all = try engine.scan(from: [], limit: 100).map(\.key)
        #expect(all == [[], [0x00], [0x00, 0x00], [0x00, 0x01], [0x01], [0x7F], [0x80], [0xFF]])
        #expect(try engine.scan(from: [0x00, 0x00, 0x00], limit: 2).map(\.key) == [[0x00, 0x01], [0x01]])
        #expect(try engine.scan(from: [0xFF, 0x00], limit: 10).isEmpty)
        #expect(try engine.scan(from: [], limit: 0).isEmpty)
    }
}
