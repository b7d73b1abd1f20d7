// Runs YCSB operations against a memcached server over its text protocol, pipelined like memtier.

import KVClient
import Measurement
import Workload

/// A memcached server as a driver target; each driver thread gets its own connection (or
/// `clientsPerThread` of them, multiplexed).
///
/// Record layout: one item per record, key = the YCSB key, value = the record's fields in
/// `RecordCodec`'s encoding (as the Redis target's `string` mapping), flags 0, no expiry.
/// - read: `get key` (the whole record; one field is cut out of it client-side);
/// - insert, and an update of every field: `set key` (a re-run load overwrites, where YCSB's
///   memcached binding uses `add` and fails on existing keys);
/// - an update of some fields: `gets key`, merge, `cas key … unique`, retried (at most 16 times)
///   while another client changed the item in between — atomic, unlike the Redis string mapping;
/// - delete: `delete key` (`NOT_FOUND` is NOT_FOUND);
/// - scan: NOT_IMPLEMENTED, as in YCSB's binding: memcached has no key order or ranges, so
///   workload E does not apply.
///
/// Faults: a lost connection fails the operations in flight on it (ERROR); the next operation
/// reconnects after the backoff of `connection`.
public struct MemcachedTarget: DriverTarget {
    public let url: MemcachedURL
    /// Operations each connection keeps in flight (1 = one round trip per operation).
    public let pipeline: Int
    /// Connections each driver thread drives (memtier's `--clients`).
    public let clientsPerThread: Int
    public let connection: ConnectionSettings
    let fieldCount: Int
    let clock: any ClientClock
    let text: String

    /// - Parameters:
    ///   - url: `memcached://host[:port]`.
    ///   - fieldCount: the workload's field count (a full read checks every field is there).
    public init(url: String, pipeline: Int = 1, clientsPerThread: Int = 1, fieldCount: Int,
                connection: ConnectionSettings = ConnectionSettings(), clock: any ClientClock = SystemClientClock()) throws(RESPClientError) {
        self.url = try MemcachedURL(url)
        text = url
        self.pipeline = max(1, pipeline)
        self.clientsPerThread = max(1, clientsPerThread)
        self.fieldCount = fieldCount
        self.connection = connection
        self.clock = clock
    }

    public var description: String {
        "\(text)\(pipeline > 1 ? " (pipeline \(pipeline))" : "")\(clientsPerThread > 1 ? " (\(clientsPerThread) clients per thread)" : "")"
    }

    /// memcached has no key order: scans are not supported.
    public var supportsOrderedScan: Bool { false }

    public func makeSession(thread: Int) throws(DriverError) -> any TargetSession {
        var sessions: [MemcachedSession] = []
        for _ in 0..<clientsPerThread {
            do {
                let c = try MemcachedConnection(endpoint: url.endpoint, settings: connection, clock: clock)
                sessions.append(MemcachedSession(connection: c, pipeline: pipeline, fieldCount: fieldCount))
            } catch {
                for s in sessions { s.close() }
                throw .invalid("cannot open a session on \(description): \(error)")
            }
        }
        // Several connections per thread run event-driven: each connection's next request is
        // sent as soon as its reply arrived (memcaslap's and memtier's event loop).
        return sessions.count == 1 ? sessions[0] : MemcachedEventSession(sessions, clock: clock)
    }
}

/// One driver thread's connection to memcached.
final class MemcachedSession: PipelinedTargetSession {
    let connection: MemcachedConnection
    let pipelineDepth: Int
    let fieldCount: Int
    // @exclusivity(unchecked): one driver thread owns the session; the dynamic exclusivity
    // checks on these properties ran several times per operation (callgrind).
    /// Kinds of the queued operations (nil: it could not be queued, it is an ERROR).
    @exclusivity(unchecked) private var queued: [Workload.OperationKind?] = []
    @exclusivity(unchecked) private var sendFailed = false
    @exclusivity(unchecked) private var buffer: [UInt8] = []
    @exclusivity(unchecked) private var single: [OperationStatus] = []
    /// How often a partial update retries its gets/cas when another client got in between.
    static let casAttempts = 16

    init(connection: MemcachedConnection, pipeline: Int, fieldCount: Int) {
        self.connection = connection
        pipelineDepth = pipeline
        self.fieldCount = fieldCount
        queued.reserveCapacity(pipeline)
    }

    func enqueue(_ operation: PlannedOperation) -> Bool {
        do {
            guard try queueRequest(operation) else { return false }
            queued.append(operation.kind)
        } catch {
            queued.append(nil)
        }
        return true
    }

    func sendQueued() {
        guard connection.isConnected else { return }
        do { try connection.flush() } catch { sendFailed = true }
    }

    func receiveQueued(into statuses: inout [OperationStatus]) {
        defer { queued.removeAll(keepingCapacity: true); sendFailed = false }
        if sendFailed || !connection.isConnected {
            for _ in queued { statuses.append(.error) }
            if sendFailed { connection.failed() }
            return
        }
        var failed = false
        var answered = false
        for kind in queued {
            guard let kind, !failed else { statuses.append(.error); continue }
            do {
                statuses.append(try readReply(kind))
                answered = true
            } catch {
                statuses.append(.error)
                failed = true
            }
        }
        if failed { connection.failed() } else if answered { connection.succeeded() }
    }

    /// Reads the reply of one queued operation of `kind` (shared with the event-driven session).
    @inline(__always)
    func readReply(_ kind: Workload.OperationKind) throws(SocketError) -> OperationStatus {
        switch kind {
        case .read:
            return try connection.readGet { value, _ in
                guard let value else { return OperationStatus.notFound }
                return (try? RecordCodec.validate(value)) != nil ? .ok : .error
            }
        case .insert, .update:
            return try connection.readStore() == .stored ? .ok : .error
        case .delete:
            return try connection.readDelete() ? .ok : .notFound
        default:
            return .error
        }
    }

    /// Queues `operation` without recording it (the event-driven session tracks its own);
    /// false if it has no single-request form.
    func queueRequest(_ operation: PlannedOperation) throws -> Bool {
        switch operation.kind {
        case .read:
            try connection.queueGet(operation.key)
        case .insert:
            RecordCodec.encode(operation, into: &buffer)
            try buffer.withUnsafeBytes { try connection.queueSet(operation.key, value: $0) }
        case .update where operation.writeFields.count == fieldCount:
            RecordCodec.encode(operation, into: &buffer)
            try buffer.withUnsafeBytes { try connection.queueSet(operation.key, value: $0) }
        case .delete:
            try connection.queueDelete(operation.key)
        default:
            return false
        }
        return true
    }

    private func roundTrip(_ operation: PlannedOperation) -> OperationStatus {
        guard enqueue(operation) else { return .notImplemented }
        single.removeAll(keepingCapacity: true)
        drain(into: &single)
        return single.first ?? .error
    }

    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus {
        guard let verifier else { return roundTrip(operation) }
        do {
            try connection.queueGet(operation.key)
            let status = try connection.readGet { value, _ -> OperationStatus in
                guard let value else { return .notFound }
                do {
                    return try verifier.checkEncodedRecord(value, of: operation, fieldCount: fieldCount)
                } catch {
                    return .error
                }
            }
            connection.succeeded()
            return status
        } catch {
            connection.failed()
            return .error
        }
    }

    func update(_ operation: PlannedOperation) -> OperationStatus {
        if operation.writeFields.count == fieldCount { return roundTrip(operation) }
        // Some fields: gets, merge, cas; another writer in between makes the cas answer EXISTS.
        do {
            for _ in 0..<Self.casAttempts {
                try connection.queueGet(operation.key, cas: true)
                let unique: UInt64? = try connection.readGet { value, unique -> UInt64? in
                    guard let value, (try? RecordCodec.merge(existing: value, update: operation, into: &buffer)) != nil else { return nil }
                    return unique
                }
                guard let unique else { connection.succeeded(); return .notFound }
                try buffer.withUnsafeBytes { try connection.queueSet(operation.key, value: $0, casUnique: unique) }
                let result = try connection.readStore()
                connection.succeeded()
                switch result {
                case .stored: return .ok
                case .exists: continue
                case .notFound: return .notFound
                case .error: return .error
                }
            }
            return .error
        } catch {
            connection.failed()
            return .error
        }
    }

    func insert(_ operation: PlannedOperation) -> OperationStatus { roundTrip(operation) }
    func delete(_ operation: PlannedOperation) -> OperationStatus { roundTrip(operation) }
    func scan(_ operation: PlannedOperation) -> OperationStatus { .notImplemented }
    func close() { connection.close() }
}
