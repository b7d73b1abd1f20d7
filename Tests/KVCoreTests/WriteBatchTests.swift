// Write batches: encoding, iteration, and rejecting malformed encodings with an offset.

import KVCore
import Testing

@Suite("WriteBatch")
struct WriteBatchTests {
    @Test("operations come back in order, with empty keys and values intact")
    func roundTrip() throws {
        var batch = WriteBatch()
        batch.put([1, 2], [3])
        batch.delete([])
        batch.put([], [])
        batch.put([9], [UInt8](repeating: 7, count: 300))
        #expect(batch.count == 4)
        var seen: [String] = []
        batch.forEach { op in
            switch op {
            case let .put(k, v): seen.append("put \(Array(k)) \(v.count)")
            case let .delete(k): seen.append("delete \(Array(k))")
            }
        }
        #expect(seen == ["put [1, 2] 1", "delete []", "put [] 0", "put [9] 300"])
        let decoded = try WriteBatch(encoded: batch.encoded)
        #expect(decoded == batch)
    }

    @Test("a malformed encoding is rejected naming the byte offset")
    func malformed() {
        #expect(throws: EngineError.malformedBatch(offset: 0, detail: "expected operation tag 0 (delete) or 1 (put), found 7")) {
            try WriteBatch(encoded: [7])
        }
        #expect(throws: EngineError.malformedBatch(offset: 2, detail: "key length 5 runs past the end of the batch (1 bytes left)")) {
            try WriteBatch(encoded: [1, 5, 0])
        }
        #expect(throws: EngineError.malformedBatch(offset: 3, detail: "expected a varint value length")) {
            try WriteBatch(encoded: [1, 1, 65])
        }
    }
}
