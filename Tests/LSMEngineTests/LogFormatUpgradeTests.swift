// Upgrading: a database whose logs were written with the 12-byte record header of older
// versions (no synced-through mark) must open and replay them.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import LSMEngine

@Suite("LSM log format upgrade")
struct LogFormatUpgradeTests {
    /// Rewrites every record of the log at `path` as `convert` says (same framing).
    static func rewriteLog(_ fs: FaultInjectingFileSystem, _ path: String, _ convert: ([UInt8]) -> [UInt8]) throws {
        let input = try fs.open(path, mode: .readOnly)
        var reader = try LogReader(file: input)
        var records: [[UInt8]] = []
        while let record = try reader.next() { records.append(record) }
        try input.close()
        let output = try fs.open(path, mode: .truncate)
        let writer = LogWriter(file: output)
        for record in records { try writer.append(convert(record)) }
        try writer.sync()
        try writer.close()
    }

    /// The record in the 12-byte format of older versions: sequence, count, operations.
    static func legacy(_ record: [UInt8]) -> [UInt8] {
        var out = Array(record[0..<8])
        let field = record.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        withUnsafeBytes(of: (field & 0x7FFF_FFFF).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: record[20...])
        return out
    }

    /// The 20-byte record without the flag bit (builds before the flag existed).
    static func unflagged(_ record: [UInt8]) -> [UInt8] {
        var out = record
        out[11] &= 0x7F
        return out
    }

    func replay(seed: UInt64, convert: @escaping ([UInt8]) -> [UInt8]) throws {
        var rng = SeededRandom(seed: seed)
        let fs = FaultInjectingFileSystem()
        let options = LSMTest.options(fs, memtable: 1 << 20)
        let engine = try LSMEngine(options: options)
        var expected: [[UInt8]: [UInt8]] = [:]
        for n in 0..<(50 + Int(rng.next(below: 200))) {
            let key = LSMTest.key(Int(rng.next(below: 80)))
            switch rng.next(below: 6) {
            case 0:
                _ = try engine.delete(key, options: WriteOptions())
                expected[key] = nil
            case 1:
                var batch = WriteBatch()
                let other = LSMTest.key(Int(rng.next(below: 80)))
                batch.put(key, LSMTest.value(n, version: 1))
                batch.delete(other)
                try engine.write(batch, options: WriteOptions())
                expected[key] = LSMTest.value(n, version: 1)
                expected[other] = nil
            default:
                let value = LSMTest.value(n, version: Int(rng.next(below: 3)))
                try engine.put(key, value, options: WriteOptions())
                expected[key] = value
            }
        }
        // A killed process: the records are in the log (periodic wrote them), nowhere else.
        engine.abandon()
        let logs = try fs.list("/db").filter { $0.hasSuffix(".log") }
        #expect(!logs.isEmpty)
        for name in logs { try Self.rewriteLog(fs, "/db/" + name, convert) }
        let reopened = try LSMEngine(options: options)
        var recovered: [[UInt8]: [UInt8]] = [:]
        for pair in try reopened.scan(from: [], limit: .max) { recovered[pair.key] = pair.value }
        #expect(recovered == expected, "seed \(seed) (replay with KVLAB_SEED=\(seed))")
        #expect(reopened.recoveryEvents.isEmpty)
        try reopened.close()
    }

    @Test("a log of 12-byte-header records (older versions) replays on open")
    func legacyLogReplays() throws {
        let base = LSMTest.seed(0x01D1, "legacyLogReplays")
        for seed in base..<(base + 8) { try replay(seed: seed, convert: Self.legacy) }
    }

    @Test("a log of 20-byte-header records without the flag bit replays on open")
    func unflaggedLogReplays() throws {
        let base = LSMTest.seed(0x20B7, "unflaggedLogReplays")
        for seed in base..<(base + 8) { try replay(seed: seed, convert: Self.unflagged) }
    }

    @Test("a legacy record's operation bytes are not read as a synced-through mark")
    func legacyRecordHasNoMark() {
        var batch = WriteBatch()
        batch.put(Array(repeating: 0x41, count: 30), Array(repeating: 0x7F, count: 30))
        var record = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: UInt32(1).littleEndian) { record.append(contentsOf: $0) }
        record.append(contentsOf: batch.encoded)
        #expect(WriteAheadLog.syncedThrough(record) == nil)
    }
}
