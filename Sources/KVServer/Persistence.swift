// Redis's `appendfsync` on kvlab's engines: the policy mapping, the fsync barrier before replies, and its counters.

import KVCore
import Synchronization

/// Redis's `appendfsync` values, with Redis's meaning.
///
/// | appendfsync | engine policy | a reply is sent after |
/// |---|---|---|
/// | `always` | `periodic`, plus the server's fsync barrier | the write is fsynced (one fsync per read of pipelined commands) |
/// | `everysec` (default) | `periodic(1000)` | the write reached the OS (write(2)); fsync every second |
/// | `no` | `periodic(3_600_000)` | the write reached the OS; the OS decides when it reaches the disk |
///
/// In every mode an acknowledged write survives a kill of the server process (it is in the
/// kernel's page cache); only a machine crash can lose the writes not yet fsynced. `no` is not
/// the engines' `buffered` policy, which would keep acknowledged writes in user space.
public enum AppendFsync: String, Sendable, CaseIterable, CustomStringConvertible {
    case always, everysec, no

    /// The option values, for messages.
    public static let optionValues = "always, everysec or no"

    public var description: String { rawValue }

    /// The `sync-interval` (milliseconds) that stands for "the OS decides" under `no`: the largest
    /// the engines take. Linux writes dirty pages back within about 30 s on its own.
    public static let osDecidesIntervalMilliseconds = 3_600_000

    /// The engine policy this mode stands for, as a user would write it with `--option durability=`.
    public var equivalentPolicy: DurabilityPolicy {
        switch self {
        case .always: .always
        case .everysec: .periodic(intervalMilliseconds: 1000)
        case .no: .periodic(intervalMilliseconds: Self.osDecidesIntervalMilliseconds)
        }
    }
}

/// How the server makes writes durable, resolved from `--appendfsync` and the engine options.
public struct ServerDurability: Sendable, Hashable {
    /// The Redis name of the mode (`always`, `everysec`, `no`), or nil when the engine's own
    /// options chose a policy that has no Redis name (e.g. `durability=buffered`).
    public var appendfsync: AppendFsync?
    /// The policy the engine is opened with.
    public var enginePolicy: DurabilityPolicy
    /// True when the server fsyncs (one engine `flush()`) after a read's write commands and
    /// before any of their replies: `appendfsync always`.
    public var fsyncBeforeReply: Bool

    public init(appendfsync: AppendFsync?, enginePolicy: DurabilityPolicy, fsyncBeforeReply: Bool) {
        self.appendfsync = appendfsync
        self.enginePolicy = enginePolicy
        self.fsyncBeforeReply = fsyncBeforeReply
    }

    /// What a reply promises, in words (INFO and the startup line).
    public var summary: String {
        if fsyncBeforeReply { return "appendfsync always: replies after fsync (one fsync per read of pipelined commands)" }
        switch enginePolicy {
        case .always: return "durability=always: every write fsynced by the engine before its reply"
        case .periodic(let ms):
            if appendfsync == .no { return "appendfsync no: replies after write(2); the OS decides when to write back" }
            return "appendfsync \(appendfsync?.rawValue ?? "periodic"): replies after write(2); fsync every \(ms) ms"
        case .buffered: return "durability=buffered: acknowledged writes may stay in user space (LOST if the process is killed)"
        }
    }

    /// Resolves the server's durability from `--appendfsync` and the engine options, and sets
    /// the engine options (`durability`, `sync-interval`) the engine must be opened with.
    ///
    /// Under `always` the engine is opened with `periodic` and the server fsyncs: an engine under
    /// `durability=always` fsyncs each write on its own, so a pipeline of 16 SETs would cost 16
    /// fsyncs; with the barrier it costs one, as in Redis (which fsyncs once per event-loop turn).
    ///
    /// - Parameters:
    ///   - appendfsync: the `--appendfsync` value, nil when not given.
    ///   - options: the engine options; on return they carry the policy to open the engine with.
    ///   - engine: the engine name, for messages.
    ///   - persistent: true when the engine keeps its data in files (a persistent engine with a directory).
    /// - Returns: nil for an in-memory engine without `--appendfsync` (nothing to make durable).
    /// - Throws: `PersistenceError` when `--appendfsync` is given for an in-memory engine, when
    ///   it contradicts `--option durability=`/`sync-interval=`, or when those options are invalid.
    public static func resolve(appendfsync: AppendFsync?, options: inout EngineOptions, engine: String,
                               persistent: Bool) throws(PersistenceError) -> ServerDurability? {
        let explicit = options["durability"] != nil || options["sync-interval"] != nil
        guard persistent else {
            if let appendfsync { throw .inMemoryEngine(engine: engine, appendfsync: appendfsync) }
            return nil
        }
        var userPolicy: DurabilityPolicy?
        if explicit || options["sync"] != nil {
            do { userPolicy = try options.durabilityPolicy(engine: engine) } catch { throw .invalidEngineOption(error) }
        }
        guard let appendfsync else {
            guard let userPolicy else { return try resolve(appendfsync: .everysec, options: &options, engine: engine, persistent: true) }
            // The engine's own option decides; name it in Redis's terms where it has a name.
            let name: AppendFsync? = AppendFsync.allCases.first { $0.equivalentPolicy == userPolicy }
            return ServerDurability(appendfsync: name, enginePolicy: userPolicy, fsyncBeforeReply: false)
        }
        if let userPolicy, userPolicy != appendfsync.equivalentPolicy {
            throw .contradictsEngineOption(appendfsync: appendfsync, enginePolicy: userPolicy)
        }
        let enginePolicy: DurabilityPolicy = switch appendfsync {
        case .always: .periodic(intervalMilliseconds: 1000)
        case .everysec, .no: appendfsync.equivalentPolicy
        }
        options["durability"] = enginePolicy.name
        if case .periodic(let ms) = enginePolicy { options["sync-interval"] = String(ms) }
        return ServerDurability(appendfsync: appendfsync, enginePolicy: enginePolicy, fsyncBeforeReply: appendfsync == .always)
    }
}

/// Why `--appendfsync` cannot be applied.
public enum PersistenceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `--appendfsync` was given for an engine that keeps its data in memory.
    case inMemoryEngine(engine: String, appendfsync: AppendFsync)
    /// `--appendfsync` and `--option durability=`/`sync-interval=` say different things.
    case contradictsEngineOption(appendfsync: AppendFsync, enginePolicy: DurabilityPolicy)
    /// The engine's durability options are invalid.
    case invalidEngineOption(EngineError)

    public var description: String {
        switch self {
        case .inMemoryEngine(let engine, let mode):
            "--appendfsync \(mode): engine '\(engine)' keeps its data in memory (no --db directory), so there is nothing to fsync; drop --appendfsync or give a persistent engine a --db directory"
        case .contradictsEngineOption(let mode, let policy):
            "--appendfsync \(mode) means --option durability=\(Self.spelling(mode.equivalentPolicy)), but the engine options say durability=\(Self.spelling(policy)); give one of them"
        case .invalidEngineOption(let error):
            error.description
        }
    }

    private static func spelling(_ policy: DurabilityPolicy) -> String {
        if case .periodic(let ms) = policy { return "periodic sync-interval=\(ms)" }
        return policy.name
    }
}

/// The server's persistence state at run time: the resolved mode and what the barrier has done.
public final class PersistenceMonitor: Sendable {
    /// The mode, or nil for an in-memory engine.
    public let durability: ServerDurability?
    /// Server fsync barriers run (appendfsync always), and the write commands they covered.
    public let barriers = Atomic<Int>(0)
    public let barrierWriteCommands = Atomic<Int>(0)
    /// Failed barriers and engine errors. Redis's `aof_last_write_status` is `err` after one,
    /// until a barrier succeeds: kvlab's engines refuse further writes after an I/O failure, so
    /// an engine error under everysec/no means the data path is broken, as in Redis.
    public let writeFailures = Atomic<Int>(0)
    let lastWriteFailed = Atomic<Bool>(false)

    public init(durability: ServerDurability?) {
        self.durability = durability
    }

    /// True when write commands must be followed by a barrier before their replies.
    @inline(__always)
    public var fsyncBeforeReply: Bool { durability?.fsyncBeforeReply ?? false }

    func noteWrite(failed: Bool) {
        lastWriteFailed.store(failed, ordering: .relaxed)
        if failed { writeFailures.add(1, ordering: .relaxed) }
    }

    /// Redis's `aof_last_write_status`: `ok`, or `err` after a failed write or fsync.
    public var lastWriteStatus: String { lastWriteFailed.load(ordering: .relaxed) ? "err" : "ok" }
}

extension CommandExecutor {
    /// The durability barrier, called by the transport before it sends the replies of a read:
    /// under `appendfsync always`, if the read's commands wrote, one engine `flush()` (an fsync,
    /// shared by concurrent connections through the engine's group commit) makes all of them
    /// durable before any of their replies leaves. Other modes need nothing here: every write
    /// reached the OS before its command returned.
    ///
    /// If the fsync fails, the replies of this read are replaced by one error and the connection
    /// is closed: the client must not take those writes as durable (Redis exits in that case).
    public func completeWrites(state: inout ConnectionState, reply: inout Reply) {
        guard state.unsyncedWriteCommands > 0 else { return }
        guard persistence.fsyncBeforeReply else { state.unsyncedWriteCommands = 0; return }
        let failure = durabilityBarrier(writeCommands: state.unsyncedWriteCommands)
        completeWrites(state: &state, reply: &reply, barrierFailure: failure)
    }

    /// One fsync covering `writeCommands` write commands, of one or several connections
    /// (`ReplyBarrier` runs one per event-loop turn, as Redis fsyncs once per turn).
    /// - Returns: nil on success, else the engine's error.
    public func durabilityBarrier(writeCommands: Int) -> EngineError? {
        do {
            try keyspace.flush()
            persistence.barriers.add(1, ordering: .relaxed)
            persistence.barrierWriteCommands.add(writeCommands, ordering: .relaxed)
            persistence.noteWrite(failed: false)
            return nil
        } catch {
            persistence.noteWrite(failed: true)
            logger.error("fsync before reply failed", metadata: ["error": "\(error)"])
            return error
        }
    }

    /// Settles a connection's writes after `durabilityBarrier`: on failure its pending replies
    /// are replaced by one error and the connection is marked for closing.
    public func completeWrites(state: inout ConnectionState, reply: inout Reply, barrierFailure: EngineError?) {
        let writes = state.unsyncedWriteCommands
        state.unsyncedWriteCommands = 0
        guard let barrierFailure, writes > 0 else { return }
        reply.buffer.clear()
        reply.error("IOERR fsync failed (appendfsync always): the \(writes) write(s) of this pipeline may not be durable: \(barrierFailure)")
        state.shouldClose = true
    }

    /// Notes that a command flagged `write` ran, so its reply waits for the barrier.
    @inline(__always)
    func noteWriteCommand(_ spec: CommandSpec, _ state: inout ConnectionState) {
        if persistence.fsyncBeforeReply && spec.flags.contains("write") { state.unsyncedWriteCommands += 1 }
    }
}
