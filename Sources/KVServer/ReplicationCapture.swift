// The engine mutations a primary ships to its replicas: captured below the commands, so every write ships as its effect.

import KVCore
import Synchronization

/// One engine mutation, as the replication stream carries it.
enum ReplicatedOperation: Sendable, Equatable {
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])
    /// FLUSHALL: every record goes (whatever the engine did record by record).
    case flushAll
}

/// Engine mutations not yet shipped, in the order the engine applied them.
///
/// Why effects and not the commands: kvlab runs commands on several threads, and a command
/// replayed on a replica later than it ran on the primary can see a different world: a key
/// whose deadline passed in between (an APPEND that made "vx" on the primary would make "x",
/// without a deadline, on a lagging replica), SPOP's random choice, a float's formatting. The
/// records a command wrote are the same on every node by construction: deadlines are stored
/// absolute, a MULTI/EXEC block is the mutations of its commands, and nothing on the replica
/// depends on when it applies them. Redis gets the same guarantee by rewriting commands
/// (EXPIRE into PEXPIREAT, SPOP into SREM...) and by never expiring keys on replicas.
///
/// Order: every mutation of a key happens under that key's stripe lock (see `Keyspace`), and
/// `record` is called inside the same engine call, so the log's order for one key is the
/// engine's order. Write commands drain the log under the replication order lock
/// (`ReplicationController.withWriteOrder`), so a command's unit holds its own mutations and
/// possibly earlier stray ones (deletes of expired keys by lazy or active expiry).
final class MutationLog: Sendable {
    private let pending = Mutex<[ReplicatedOperation]>([])
    /// Off on a replica: it ships its primary's stream verbatim and applies without capture.
    let capturing = Atomic<Bool>(true)

    @inline(__always)
    func record(_ operation: @autoclosure () -> ReplicatedOperation) {
        guard capturing.load(ordering: .relaxed) else { return }
        let op = operation()
        pending.withLock { $0.append(op) }
    }

    /// Takes every pending mutation.
    func drain() -> [ReplicatedOperation] {
        pending.withLock { log in
            guard !log.isEmpty else { return [] }
            let taken = log
            log.removeAll(keepingCapacity: true)
            return taken
        }
    }

    /// FLUSHALL: what was pending is superseded by one `.flushAll`.
    func replaceAllWithFlush() {
        guard capturing.load(ordering: .relaxed) else { return }
        pending.withLock { $0 = [.flushAll] }
    }

    /// Drops what is pending (a replica stops capturing).
    func discard() { pending.withLock { $0.removeAll() } }
}

/// An engine that records each mutation in a `MutationLog` after applying it; reads pass through.
final class CapturingEngine: KeyValueEngine {
    let base: any KeyValueEngine
    let log: MutationLog

    init(base: any KeyValueEngine, log: MutationLog) {
        self.base = base
        self.log = log
    }

    var name: String { base.name }
    var capabilities: EngineCapabilities { base.capabilities }
    var count: Int? { base.count }

    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        try base.get(key, body)
    }

    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        try base.put(key, value, options: options)
        log.record(.put(key: Array(key), value: Array(value)))
    }

    func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        let existed = try base.delete(key, options: options)
        if existed { log.record(.delete(key: Array(key))) }
        return existed
    }

    func scan(from start: UnsafeRawBufferPointer, limit: Int, _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try base.scan(from: start, limit: limit, visit)
    }

    func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) {
        try base.write(batch, options: options)
        guard log.capturing.load(ordering: .relaxed) else { return }
        batch.forEach { operation in
            switch operation {
            case .put(let key, let value): log.record(.put(key: Array(key), value: Array(value)))
            case .delete(let key): log.record(.delete(key: Array(key)))
            }
        }
    }

    func flush() throws(EngineError) { try base.flush() }
    func close() throws(EngineError) { try base.close() }
    func checkInvariants() throws(EngineError) { try base.checkInvariants() }
}
