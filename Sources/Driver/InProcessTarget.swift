// Runs YCSB operations against a kvlab engine in this process: one record is one engine value.

import History
import KVCore
import Measurement
import Workload

/// A `KeyValueEngine` as a driver target. Records are `RecordCodec`-encoded engine values.
///
/// Semantics follow YCSB's RocksDB binding: `update` reads the stored record, replaces the
/// updated fields and writes it back, answering `NOT_FOUND` if there is no record (so the
/// read-merge-write of two concurrent updates of one record can lose one field's update, as
/// there); `read` of one field answers `NOT_FOUND` if the record or the field is missing;
/// `scan` on an engine without ordered scans answers `NOT_IMPLEMENTED` (the driver refuses
/// such runs up front); an engine error answers `ERROR`.
public struct InProcessTarget: DriverTarget {
    public let engine: any KeyValueEngine
    /// Durability of each write.
    public let writeOptions: WriteOptions

    public init(engine: any KeyValueEngine, writeOptions: WriteOptions = .default) {
        self.engine = engine
        self.writeOptions = writeOptions
    }

    public var description: String { "engine '\(engine.name)'" }
    public var supportsOrderedScan: Bool { engine.capabilities.contains(.orderedScan) }

    public func makeSession(thread: Int) throws(DriverError) -> any TargetSession {
        InProcessSession(engine: engine, writeOptions: writeOptions)
    }
}

final class InProcessSession: HistoryDigestingSession {
    let engine: any KeyValueEngine
    let writeOptions: WriteOptions
    // One driver thread uses a session, so the dynamic exclusivity check is dropped (it cost
    // about 75 instructions per operation in callgrind).
    /// Reused for every encoded record, so writes do not allocate.
    @exclusivity(unchecked) var buffer: [UInt8] = []
    @exclusivity(unchecked) var computesDigests = false
    @exclusivity(unchecked) var lastDigest: UInt64?

    init(engine: any KeyValueEngine, writeOptions: WriteOptions) {
        self.engine = engine
        self.writeOptions = writeOptions
        buffer.reserveCapacity(4096)
    }

    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus {
        let key = operation.key
        let selection = operation.readFields
        let digests = computesDigests
        if digests { lastDigest = nil }
        do {
            let status = try engine.get(key) { (record) -> OperationStatus in
                if digests { self.lastDigest = ValueDigest.of(record) }
                do {
                    switch selection {
                    case .one(let field):
                        guard let value = try RecordCodec.field(field, in: record) else { return .notFound }
                        if let verifier {
                            verifier.begin()
                            verifier.check(key: key, field: field, value: value)
                        }
                    case .all, .allByName, .none:
                        if let verifier {
                            verifier.begin()
                            var seen = 0
                            try RecordCodec.forEachField(in: record) { field in
                                seen += 1
                                verifier.check(key: key, field: field.index, value: field.value)
                            }
                            if seen != verifier.workload.configuration.fieldCount { verifier.fail() }
                        } else {
                            _ = try RecordCodec.validate(record)
                        }
                    }
                    return .ok
                } catch {
                    return .error
                }
            }
            return status ?? .notFound
        } catch {
            return .error
        }
    }

    func update(_ operation: PlannedOperation) -> OperationStatus {
        let key = operation.key
        if computesDigests { lastDigest = nil }
        do {
            let merged: Bool? = try engine.get(key) { existing in
                do {
                    try RecordCodec.merge(existing: existing, update: operation, into: &buffer)
                    return true
                } catch {
                    return false
                }
            }
            guard let merged else { return .notFound }
            guard merged else { return .error }
            if computesDigests { lastDigest = buffer.withUnsafeBytes { ValueDigest.of($0) } }
            try buffer.withBytes { (value) throws(EngineError) in try engine.put(key, value, options: writeOptions) }
            return .ok
        } catch {
            return .error
        }
    }

    func insert(_ operation: PlannedOperation) -> OperationStatus {
        RecordCodec.encode(operation, into: &buffer)
        if computesDigests { lastDigest = buffer.withUnsafeBytes { ValueDigest.of($0) } }
        do {
            try buffer.withBytes { (value) throws(EngineError) in try engine.put(operation.key, value, options: writeOptions) }
            return .ok
        } catch {
            return .error
        }
    }

    func scan(_ operation: PlannedOperation) -> OperationStatus {
        let selection = operation.readFields
        var malformed = false
        do {
            try engine.scan(from: operation.key, limit: operation.scanLength) { _, record in
                do {
                    switch selection {
                    case .one(let field): _ = try RecordCodec.field(field, in: record)
                    default: _ = try RecordCodec.validate(record)
                    }
                } catch {
                    malformed = true
                }
                return true
            }
        } catch {
            if case .unsupported = error { return .notImplemented }
            return .error
        }
        return malformed ? .error : .ok
    }

    func delete(_ operation: PlannedOperation) -> OperationStatus {
        if computesDigests { lastDigest = nil }
        do {
            return try engine.delete(operation.key, options: writeOptions) ? .ok : .notFound
        } catch {
            return .error
        }
    }

    func close() {}
}
