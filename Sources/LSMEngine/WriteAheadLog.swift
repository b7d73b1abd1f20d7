// The write-ahead log's record: one write group (a batch of puts and deletes) and its sequence.

import KVCore
import KVStorage

/// Each write group is one record of a `LogFormat` file (`NNNNNN.log`). Byte by byte, the
/// record's payload is:
///
///     offset 0   sequence number of the first operation   UInt64 LE
///     offset 8   number of operations | 0x8000_0000        UInt32 LE
///                (the high bit says a synced-through mark follows)
///     offset 12  synced-through: bytes of this log file    UInt64 LE
///                known durable (a successful fsync covered them) when the record was made
///     offset 20  the operations in `WriteBatch` encoding:
///                tag (1 = put, 0 = delete) | varint keyLength | key | [varint valueLength | value]
///
/// Older versions wrote a 12-byte header (no high bit, no mark: the operations at offset 12);
/// `decode` still reads those, so an upgrade opens a database whose logs hold records. A
/// record without the mark proves nothing synced (`syncedThrough` is nil). Records written
/// briefly with the 20-byte header but without the high bit are read too (the 12-byte
/// reading is tried first, then the 20-byte one).
///
/// Operation i gets sequence number `first + i`. A log is replayed at open into a memtable and
/// written out as a level-0 table, then deleted once a durable manifest edit no longer needs it.
///
/// Synced-through is what lets recovery tell the two kinds of damage apart: damage before the
/// synced-through of an intact later record is in data an fsync made durable (bit rot, a bug:
/// reported, the open fails); damage past every such mark is in the unsynced tail that a power
/// loss may leave torn, zeroed or garbage (cut off, reported in `recoveryEvents`).
enum WriteAheadLog {
    static let headerSize = 20
    /// The header of records written before the synced-through mark.
    static let legacyHeaderSize = 12
    /// Set in the count field of records that carry the synced-through mark.
    static let markFlag: UInt32 = 0x8000_0000

    /// Starts a record in `out` (cleared) for a group whose first sequence is `sequence`.
    static func begin(_ out: inout [UInt8], sequence: UInt64, syncedThrough: Int64) {
        out.removeAll(keepingCapacity: true)
        withUnsafeBytes(of: sequence.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(0)) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(syncedThrough).littleEndian) { out.append(contentsOf: $0) }
    }

    /// The synced-through mark of an intact record, or nil if it is too short to hold one.
    static func syncedThrough(_ record: [UInt8]) -> Int64? {
        guard record.count >= headerSize,
              record.withUnsafeBytes({ UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }) & markFlag != 0
        else { return nil }
        return record.withUnsafeBytes { Int64(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 12, as: UInt64.self))) }
    }

    static func setCount(_ out: inout [UInt8], _ count: Int) {
        precondition(count < Int(markFlag), "a write group of \(count) operations")
        withUnsafeBytes(of: (UInt32(count) | markFlag).littleEndian) { raw in
            for i in 0..<4 { out[8 + i] = raw[i] }
        }
    }

    static func appendPut(_ out: inout [UInt8], _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        out.append(1)
        Varint.append(UInt64(key.count), to: &out)
        out.append(contentsOf: key)
        Varint.append(UInt64(value.count), to: &out)
        out.append(contentsOf: value)
    }

    static func appendDelete(_ out: inout [UInt8], _ key: UnsafeRawBufferPointer) {
        out.append(0)
        Varint.append(UInt64(key.count), to: &out)
        out.append(contentsOf: key)
    }

    /// Decodes a record read from `path` at `offset`: the current format (count's high bit set,
    /// 20-byte header) or a 12-byte-header record of older versions.
    static func decode(_ record: [UInt8], path: String, offset: Int64) throws(EngineError) -> (sequence: UInt64, batch: WriteBatch) {
        guard record.count >= legacyHeaderSize else {
            throw .corruption(file: path, offset: offset, detail: "log record of \(record.count) bytes is shorter than its \(legacyHeaderSize)-byte header")
        }
        let sequence = record.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let field = record.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        func operations(from start: Int, count: UInt32) throws(EngineError) -> WriteBatch {
            guard record.count >= start else {
                throw .corruption(file: path, offset: offset, detail: "log record of \(record.count) bytes is shorter than its \(start)-byte header")
            }
            let batch: WriteBatch
            do {
                batch = try WriteBatch(encoded: Array(record[start...]))
            } catch {
                throw .corruption(file: path, offset: offset, detail: "log record: \(error)")
            }
            guard batch.count == Int(count) else {
                throw .corruption(file: path, offset: offset, detail: "log record says \(count) operations, holds \(batch.count)")
            }
            return batch
        }
        if field & markFlag != 0 {
            return (sequence, try operations(from: headerSize, count: field & ~markFlag))
        }
        // No mark: the 12-byte header of older versions (or, failing that, the unflagged
        // 20-byte header some builds wrote before the flag existed).
        do {
            return (sequence, try operations(from: legacyHeaderSize, count: field))
        } catch {
            if let batch = try? operations(from: headerSize, count: field) { return (sequence, batch) }
            throw error
        }
    }
}
