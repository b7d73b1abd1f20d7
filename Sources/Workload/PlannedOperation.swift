// One operation chosen by the workload, ready for the driver to execute.

/// The kinds of operation, named as YCSB names their measurement series.
public enum OperationKind: UInt8, Sendable, CaseIterable, Hashable {
    case read, update, insert, scan, readModifyWrite, delete

    /// YCSB's series name: READ, UPDATE, INSERT, SCAN, READ-MODIFY-WRITE, DELETE.
    public var seriesName: String {
        switch self {
        case .read: "READ"
        case .update: "UPDATE"
        case .insert: "INSERT"
        case .scan: "SCAN"
        case .readModifyWrite: "READ-MODIFY-WRITE"
        case .delete: "DELETE"
        }
    }
}

/// Which fields a read (or scan, or the read half of read-modify-write) asks for.
public enum FieldSelection: Sendable, Equatable {
    /// No read.
    case none
    /// Every field, without naming them (YCSB passes a null field set).
    case all
    /// Every field, each named (`readallfieldsbyname` or `dataintegrity`).
    case allByName
    /// The one field with this index.
    case one(Int)
}

/// An operation planned by a `WorkloadThread`.
///
/// The key and the values point into buffers owned by the thread that planned the operation:
/// they stay valid until that thread plans its next operation, and nothing is allocated per
/// operation. Do not keep a `PlannedOperation` past that point or hand it to another thread.
public struct PlannedOperation {
    /// What to do.
    public var kind: OperationKind
    /// The key number (before naming/hashing).
    public var keyNumber: Int64
    /// The key's bytes, e.g. "user6284781860667377211".
    public var key: UnsafeRawBufferPointer
    /// Fields to read (read, scan, read-modify-write); `.none` otherwise.
    public var readFields: FieldSelection
    /// Indices of the fields to write (insert: all; update/read-modify-write: one or all);
    /// empty for read, scan and delete.
    public var writeFields: Range<Int>
    /// Number of records to scan (scan only, else 0).
    public var scanLength: Int

    @usableFromInline let valueBase: UnsafeMutablePointer<UInt8>
    @usableFromInline let valueStride: Int
    @usableFromInline let valueLengths: UnsafeMutablePointer<Int>

    init(kind: OperationKind, keyNumber: Int64, key: UnsafeRawBufferPointer, readFields: FieldSelection,
         writeFields: Range<Int>, scanLength: Int, buffers: OperationBuffers) {
        self.kind = kind
        self.keyNumber = keyNumber
        self.key = key
        self.readFields = readFields
        self.writeFields = writeFields
        self.scanLength = scanLength
        valueBase = buffers.values
        valueStride = buffers.valueStride
        valueLengths = buffers.valueLengths
    }

    /// The value to write to field `index` (one of `writeFields`).
    @inlinable
    public func value(ofField index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: valueBase + index * valueStride, count: valueLengths[index])
    }

    /// The key as a String (tests, messages; allocates).
    public var keyString: String { String(decoding: key, as: UTF8.self) }
}

/// The memory a thread plans operations into: one key and one value slot per field.
final class OperationBuffers {
    let key: UnsafeMutablePointer<UInt8>
    let keyCapacity: Int
    let values: UnsafeMutablePointer<UInt8>
    let valueStride: Int
    let valueLengths: UnsafeMutablePointer<Int>
    let fieldCount: Int

    init(keyCapacity: Int, fieldCount: Int, maximumValueLength: Int) {
        self.keyCapacity = keyCapacity
        key = .allocate(capacity: keyCapacity)
        key.initialize(repeating: 0, count: keyCapacity)
        self.fieldCount = fieldCount
        // Rounded up to 8 so values can be filled a word at a time.
        valueStride = (maximumValueLength + 7) & ~7
        values = .allocate(capacity: max(valueStride * fieldCount, 8))
        values.initialize(repeating: 0, count: max(valueStride * fieldCount, 8))
        valueLengths = .allocate(capacity: fieldCount)
        valueLengths.initialize(repeating: 0, count: fieldCount)
    }

    deinit {
        key.deallocate()
        values.deallocate()
        valueLengths.deallocate()
    }
}
