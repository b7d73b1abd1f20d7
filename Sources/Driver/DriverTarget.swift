// What the driver runs operations against: an engine in this process, or a Redis-protocol server or cluster.

import History
import Measurement
import Workload

/// A store the driver can run a workload against. One `TargetSession` per driver thread.
public protocol DriverTarget: Sendable {
    /// What the target is, for reports ("engine skiplist", "redis://127.0.0.1:6379").
    var description: String { get }
    /// Whether scans return records in key order (YCSB's SCAN needs it).
    var supportsOrderedScan: Bool { get }
    /// Opens the connection or state one driver thread uses.
    func makeSession(thread: Int) throws(DriverError) -> any TargetSession
}

/// One driver thread's handle on a target. Each method performs one YCSB database operation
/// and returns its status; none throws, as YCSB's DB interface returns a Status instead.
public protocol TargetSession: AnyObject {
    /// Reads the record (all fields, or `operation.readFields`); with `verify`, checks each
    /// field's value and reports the outcome through `verified`.
    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus
    /// Replaces the fields `operation.writeFields` of an existing record.
    func update(_ operation: PlannedOperation) -> OperationStatus
    /// Writes a new record with every field.
    func insert(_ operation: PlannedOperation) -> OperationStatus
    /// Reads up to `operation.scanLength` records from `operation.key` in key order.
    func scan(_ operation: PlannedOperation) -> OperationStatus
    /// Removes the record.
    func delete(_ operation: PlannedOperation) -> OperationStatus
    /// Releases the session's resources.
    func close()
}

/// A session that can report a digest of each record it reads or writes, so a run can be
/// recorded as a history a linearizability checker understands (a read returns the digest
/// of the last write).
public protocol HistoryDigestingSession: TargetSession {
    /// Whether to compute digests (off by default: it costs a hash of the record per operation).
    var computesDigests: Bool { get set }
    /// After an operation: the `ValueDigest` of the whole record read, or written; nil if
    /// the record was not found (or nothing was read or written).
    var lastDigest: UInt64? { get }
    /// After an operation that returned `.error`: what is known of its effect (a history records
    /// a refused or unsent write as `fail`, one lost in flight as `info`).
    var lastFailure: OperationFailure { get }
}

extension HistoryDigestingSession {
    /// Sessions that cannot tell failures apart report `.otherError` (a write's effect unknown).
    public var lastFailure: OperationFailure { .otherError }
}

/// Why an operation failed, as far as its effect on the store is concerned.
public enum OperationFailure: Sendable, Equatable {
    /// The server refused it before running it (READONLY, min-replicas NOREPLICAS, MOVED, ...):
    /// surely no effect.
    case refused
    /// It was never sent (no connection could be made): surely no effect.
    case notSent
    /// The connection was lost or timed out after it was sent: it may have taken effect.
    case lostInFlight
    /// Any other error reply or local failure: its effect is unknown.
    case otherError
}

/// Checks field values read back under `dataintegrity=true`, counting the verdicts.
public final class RecordVerifier {
    let workload: CoreWorkload
    /// Verdict of the last `check` run: true if every field matched.
    public private(set) var lastResult = true

    public init(workload: CoreWorkload) { self.workload = workload }

    /// Starts checking one record.
    public func begin() { lastResult = true }

    /// Checks one field of the record under `key`.
    public func check(key: UnsafeRawBufferPointer, field: Int, value: UnsafeRawBufferPointer) {
        if !workload.verify(key: key, field: field, value: value) { lastResult = false }
    }

    /// Marks the record as wrong (e.g. a field missing).
    public func fail() { lastResult = false }

    /// Checks a record a store returned as one `RecordCodec` value (the memcached and etcd
    /// mappings): the field `operation` asked for, or every field and their count.
    /// - Returns: `.notFound` when the requested field is absent, else `.ok` (the verdict is in `lastResult`).
    /// - Throws: `RecordCodec`'s error for a malformed value.
    func checkEncodedRecord(_ value: UnsafeRawBufferPointer, of operation: PlannedOperation, fieldCount: Int) throws -> OperationStatus {
        begin()
        if case .one(let f) = operation.readFields {
            guard let v = try RecordCodec.field(f, in: value) else { return .notFound }
            check(key: operation.key, field: f, value: v)
        } else {
            var seen = 0
            try RecordCodec.forEachField(in: value) { seen += 1; check(key: operation.key, field: $0.index, value: $0.value) }
            if seen != fieldCount { fail() }
        }
        return .ok
    }
}
