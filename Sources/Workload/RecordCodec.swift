// A whole YCSB record (fieldcount named fields) as one compact engine value.

import KVCore

/// A malformed encoded record, with the byte offset where decoding failed.
public enum RecordCodecError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(offset: Int, reason: String)

    public var description: String {
        switch self {
        case .malformed(let offset, let reason): "malformed record at byte \(offset): \(reason)"
        }
    }
}

/// The encoding of a record as one engine value (in-process targets), byte by byte:
///
///     varint fieldCount
///     fieldCount times: varint fieldIndex | varint length | length bytes
///
/// Varints are unsigned LEB128 (KVCore `Varint`). Field indices are strictly increasing, so
/// a field appears at most once; names are not stored (field i is fieldnameprefix + i). Ten
/// 100-byte fields take 1 + 10 × (1 + 1 + 100) = 1021 bytes.
public enum RecordCodec {
    /// One decoded field: its index and its bytes (pointing into the encoded input).
    public typealias Field = (index: Int, value: UnsafeRawBufferPointer)

    // MARK: Encoding

    /// Encodes the fields `operation.writeFields` of `operation` into `out` (replacing its
    /// contents; capacity is kept, so a reused buffer does not allocate).
    public static func encode(_ operation: PlannedOperation, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        Varint.append(UInt64(operation.writeFields.count), to: &out)
        for field in operation.writeFields {
            append(field: field, value: operation.value(ofField: field), to: &out)
        }
    }

    /// Encodes `fields` (index, bytes), which must have strictly increasing indices.
    public static func encode(_ fields: [(index: Int, value: [UInt8])], into out: inout [UInt8]) {
        precondition(zip(fields, fields.dropFirst()).allSatisfy { $0.index < $1.index }, "field indices must increase")
        out.removeAll(keepingCapacity: true)
        Varint.append(UInt64(fields.count), to: &out)
        for (index, value) in fields {
            value.withUnsafeBytes { append(field: index, value: $0, to: &out) }
        }
    }

    @inline(__always)
    static func append(field: Int, value: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        Varint.append(UInt64(field), to: &out)
        Varint.append(UInt64(value.count), to: &out)
        out.append(contentsOf: value)
    }

    // MARK: Decoding

    /// Calls `visit` for every field of `record`, in index order, after checking the whole
    /// record is well formed (so `visit` never sees a partial record).
    /// - Throws: `RecordCodecError.malformed` with the offset of the first bad byte.
    public static func forEachField(in record: UnsafeRawBufferPointer, _ visit: (Field) -> Void) throws(RecordCodecError) {
        let count = try validate(record)
        var offset = Varint.read(record, at: 0)!.length
        for _ in 0..<count {
            let (index, a) = Varint.read(record, at: offset)!
            let (length, b) = Varint.read(record, at: offset + a)!
            let start = offset + a + b
            visit((Int(index), UnsafeRawBufferPointer(rebasing: record[start..<(start + Int(length))])))
            offset = start + Int(length)
        }
    }

    /// The fields of `record`, copied out.
    public static func decode(_ record: UnsafeRawBufferPointer) throws(RecordCodecError) -> [(index: Int, value: [UInt8])] {
        var result: [(index: Int, value: [UInt8])] = []
        try forEachField(in: record) { result.append(($0.index, Array($0.value))) }
        return result
    }

    /// `decode` on an array.
    public static func decode(_ record: [UInt8]) throws(RecordCodecError) -> [(index: Int, value: [UInt8])] {
        let result = record.withUnsafeBytes { r in Result { () throws(RecordCodecError) in try decode(r) } }
        return try result.get()
    }

    /// The bytes of field `index` in `record`, or nil if absent (pointing into `record`).
    public static func field(_ index: Int, in record: UnsafeRawBufferPointer) throws(RecordCodecError) -> UnsafeRawBufferPointer? {
        var found: UnsafeRawBufferPointer? = nil
        try forEachField(in: record) { if $0.index == index { found = $0.value } }
        return found
    }

    /// Checks `record` and returns its field count.
    @discardableResult
    public static func validate(_ record: UnsafeRawBufferPointer) throws(RecordCodecError) -> Int {
        guard let (count, first) = Varint.read(record, at: 0) else {
            throw .malformed(offset: 0, reason: record.isEmpty ? "empty input: expected a field count" : "bad field count varint")
        }
        guard count <= UInt64(record.count) else {
            throw .malformed(offset: 0, reason: "field count \(count) exceeds the \(record.count)-byte record")
        }
        var offset = first
        var previous = -1
        for i in 0..<Int(count) {
            guard let (index, a) = Varint.read(record, at: offset) else {
                throw .malformed(offset: offset, reason: "field \(i) of \(count): bad or missing field index varint")
            }
            guard index <= UInt64(Int32.max), Int(index) > previous else {
                throw .malformed(offset: offset, reason: "field index \(index) after \(previous): expected strictly increasing indices")
            }
            guard let (length, b) = Varint.read(record, at: offset + a) else {
                throw .malformed(offset: offset + a, reason: "field \(index): bad or missing length varint")
            }
            let start = offset + a + b
            guard length <= UInt64(record.count - start) else {
                throw .malformed(offset: start, reason: "field \(index): length \(length) runs past the end (\(record.count - start) bytes left)")
            }
            previous = Int(index)
            offset = start + Int(length)
        }
        guard offset == record.count else {
            throw .malformed(offset: offset, reason: "\(record.count - offset) trailing bytes after \(count) fields")
        }
        return Int(count)
    }

    // MARK: Merging

    /// Writes into `out` the record `existing` with the fields `update.writeFields` replaced by
    /// (or added from) `update`'s values: an update of one field of a stored record.
    /// - Throws: `RecordCodecError.malformed` if `existing` is malformed.
    public static func merge(existing: UnsafeRawBufferPointer, update: PlannedOperation, into out: inout [UInt8]) throws(RecordCodecError) {
        try validate(existing)
        let updated = update.writeFields
        // Count the result's fields: existing ones outside the update, plus the updated ones.
        var kept = 0
        try forEachField(in: existing) { if !updated.contains($0.index) { kept += 1 } }
        out.removeAll(keepingCapacity: true)
        Varint.append(UInt64(kept + updated.count), to: &out)
        var next = updated.lowerBound
        try forEachField(in: existing) { field in
            while next < updated.upperBound && next < field.index {
                append(field: next, value: update.value(ofField: next), to: &out)
                next += 1
            }
            if !updated.contains(field.index) { append(field: field.index, value: field.value, to: &out) }
        }
        while next < updated.upperBound {
            append(field: next, value: update.value(ofField: next), to: &out)
            next += 1
        }
    }
}
