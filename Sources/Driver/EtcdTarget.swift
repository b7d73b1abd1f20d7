// Runs YCSB operations against an etcd cluster through its v3 JSON gateway.

import KVClient
import Measurement
import Workload

/// How etcd serves reads.
public enum EtcdReadConsistency: String, Sendable, CaseIterable {
    /// etcd's default: the member confirms its leader's commit index with a quorum first (a
    /// ReadIndex round), so a read sees every write acknowledged before it started.
    case linearizable
    /// The member answers from its own state at once: cheaper, and possibly stale (a member cut
    /// off from the leader keeps answering with what it had).
    case serializable
}

/// An etcd cluster as a driver target; each driver thread gets its own `EtcdClient` (one
/// keep-alive HTTP connection), threads spread over the members round-robin.
///
/// Record layout: one etcd key per record, key = the YCSB key, value = the record's fields in
/// `RecordCodec`'s encoding (as the Redis target's `string` mapping).
/// - read: a range request for the key (linearizable, or serializable with
///   `readConsistency`); one field is cut out client-side;
/// - insert, and an update of every field: put;
/// - an update of some fields: read, merge, then a transaction that puts only if the key's
///   mod_revision is still the one read, retried (at most 16 times) on conflict — atomic;
/// - delete: deleterange of the key (0 deleted is NOT_FOUND);
/// - scan: one range request from the key to the end of the keyspace, `limit` = scan length:
///   key order, as YCSB's SCAN means.
///
/// Faults: see `EtcdClient` — a member that cannot be reached is skipped; an operation whose
/// outcome is unknown is an ERROR.
public struct EtcdTarget: DriverTarget {
    public let url: EtcdURL
    public let readConsistency: EtcdReadConsistency
    public let connection: ConnectionSettings
    let fieldCount: Int
    let clock: any ClientClock
    let text: String

    /// - Parameters:
    ///   - url: `etcd://host:port[,host:port...]`.
    ///   - fieldCount: the workload's field count.
    public init(url: String, readConsistency: EtcdReadConsistency = .linearizable, fieldCount: Int,
                connection: ConnectionSettings = ConnectionSettings(), clock: any ClientClock = SystemClientClock()) throws(RESPClientError) {
        self.url = try EtcdURL(url)
        text = url
        self.readConsistency = readConsistency
        self.fieldCount = fieldCount
        self.connection = connection
        self.clock = clock
    }

    public var description: String { "\(text) (\(readConsistency.rawValue) reads)" }

    /// A range request returns keys in byte order.
    public var supportsOrderedScan: Bool { true }

    public func makeSession(thread: Int) throws(DriverError) -> any TargetSession {
        let client = EtcdClient(endpoints: url.endpoints, settings: connection, clock: clock, startingAt: thread)
        return EtcdSession(client: client, serializable: readConsistency == .serializable, fieldCount: fieldCount)
    }
}

/// One driver thread's client of the etcd cluster.
final class EtcdSession: TargetSession {
    let client: EtcdClient
    let serializable: Bool
    let fieldCount: Int
    private var buffer: [UInt8] = []
    static let casAttempts = 16
    /// Every key from the scan's start on (`range_end` "\0").
    static let toTheEnd: [UInt8] = [0]

    init(client: EtcdClient, serializable: Bool, fieldCount: Int) {
        self.client = client
        self.serializable = serializable
        self.fieldCount = fieldCount
    }

    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus {
        do {
            guard let kv = try client.range(Array(operation.key), serializable: serializable).first else { return .notFound }
            return kv.value.withUnsafeBytes { value -> OperationStatus in
                do {
                    guard let verifier else { _ = try RecordCodec.validate(value); return .ok }
                    return try verifier.checkEncodedRecord(value, of: operation, fieldCount: fieldCount)
                } catch {
                    return .error
                }
            }
        } catch {
            return .error
        }
    }

    func update(_ operation: PlannedOperation) -> OperationStatus {
        if operation.writeFields.count == fieldCount { return insert(operation) }
        let key = Array(operation.key)
        do {
            for _ in 0..<Self.casAttempts {
                guard let kv = try client.range(key).first else { return .notFound }
                let merged = kv.value.withUnsafeBytes { (try? RecordCodec.merge(existing: $0, update: operation, into: &buffer)) != nil }
                guard merged else { return .error }
                if try client.compareAndPut(key, .modRevisionEquals(kv.modRevision), buffer) { return .ok }
            }
            return .error
        } catch {
            return .error
        }
    }

    func insert(_ operation: PlannedOperation) -> OperationStatus {
        RecordCodec.encode(operation, into: &buffer)
        do {
            try client.put(Array(operation.key), buffer)
            return .ok
        } catch {
            return .error
        }
    }

    func delete(_ operation: PlannedOperation) -> OperationStatus {
        do { return try client.delete(Array(operation.key)) > 0 ? .ok : .notFound } catch { return .error }
    }

    func scan(_ operation: PlannedOperation) -> OperationStatus {
        do {
            let kvs = try client.range(Array(operation.key), rangeEnd: Self.toTheEnd, limit: operation.scanLength, serializable: serializable)
            for kv in kvs {
                let valid = kv.value.withUnsafeBytes { (try? RecordCodec.validate($0)) != nil }
                if !valid { return .error }
            }
            return .ok
        } catch {
            return .error
        }
    }

    func close() { client.close() }
}
