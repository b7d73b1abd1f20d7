// Command execution as a plain function of (connection state, command) -> reply bytes.

import KVCore
import Logging
import NIOCore
import RESP

/// One entry of the command table.
struct CommandSpec: Sendable {
    typealias Handler = @Sendable (CommandExecutor, RESPCommand, inout ConnectionState, inout Reply) -> Void
    let name: String
    /// Redis's arity: N = exactly N arguments (the name included), -N = at least N.
    let arity: Int
    let flags: [String]
    let firstKey: Int, lastKey: Int, step: Int
    /// Runs holding the command lock exclusively: no other command runs meanwhile (EXEC, FLUSHALL).
    var exclusive = false
    /// Runs at once inside MULTI instead of being queued (MULTI, EXEC, DISCARD, WATCH, QUIT).
    var immediateInTransaction = false
    /// Flagged `write`: refused on a replica (READONLY) and under unmet min-replicas (NOREPLICAS).
    let isWrite: Bool
    /// Runs holding the replication order lock, and ships what it wrote (writes, EXEC, PSYNC).
    let replicationOrdered: Bool
    /// Runs without the command lock (REPLICAOF, which takes the replication order lock itself).
    var lockFree = false
    let handler: Handler

    init(name: String, arity: Int, flags: [String], firstKey: Int, lastKey: Int, step: Int,
         exclusive: Bool = false, immediateInTransaction: Bool = false, lockFree: Bool = false, handler: @escaping Handler) {
        self.name = name
        self.arity = arity
        self.flags = flags
        self.firstKey = firstKey
        self.lastKey = lastKey
        self.step = step
        self.exclusive = exclusive
        self.immediateInTransaction = immediateInTransaction
        self.lockFree = lockFree
        isWrite = flags.contains("write")
        replicationOrdered = isWrite || name == "exec" || name == "psync"
        self.handler = handler
    }
}

/// Executes commands against a `Keyspace`. No sockets: the NIO transport, tests, the executor
/// harness and the `FuzzExecutor` fuzz target all call `execute` the same way.
///
/// Commands from many connections run at once on several threads; `Keyspace`'s documentation
/// ("Threading model, against Redis's single thread") says how each command, MULTI/EXEC block
/// and expiry stays atomic as it is in Redis.
public final class CommandExecutor: Sendable {
    public let keyspace: Keyspace
    public let configuration: ServerConfiguration
    public let statistics: ServerStatistics
    public let clock: any WallClock
    let logger: Logger
    let commands: [String: CommandSpec]
    let cursors = ScanCursorTable()
    /// Randomness for SPOP and active expiry's sampling, seeded (replayable).
    let random: Mutex<SeededRandom>
    /// The port actually bound (INFO, CONFIG GET port); set by the server after binding.
    let boundPort = AtomicPort()
    /// appendfsync mode and the fsync barrier's counters (Persistence.swift).
    public let persistence: PersistenceMonitor
    /// Role, stream, backlog, replicas and waiters (Replication*.swift).
    public let replication: ReplicationController

    public init(keyspace: Keyspace, configuration: ServerConfiguration, clock: any WallClock = SystemWallClock(),
                logger: Logger = Logger(label: "kvlab.server"), seed: UInt64 = UInt64.random(in: 0...UInt64.max)) {
        random = Mutex(SeededRandom(seed: seed))
        self.keyspace = keyspace
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        statistics = ServerStatistics(startMilliseconds: clock.millisecondsSinceEpoch())
        var table: [String: CommandSpec] = [:]
        for spec in CommandExecutor.allCommands { table[spec.name] = spec }
        commands = table
        boundPort.set(configuration.port)
        persistence = PersistenceMonitor(durability: configuration.durability)
        replication = ReplicationController(configuration: configuration.replication, keyspace: keyspace, clock: clock, logger: logger,
                                            serverHost: configuration.host, boundPort: boundPort, seed: seed)
    }

    /// A state for a new connection.
    public func makeConnectionState(peer: String = "") -> ConnectionState {
        ConnectionState(id: statistics.makeClientID(), authenticated: configuration.requirePassword == nil, peer: peer)
    }

    /// Executes `command` for the connection `state`, appending its reply to `reply`. Inside
    /// MULTI, a valid command is queued (`+QUEUED`) and a refused one fails the transaction.
    public func execute(_ command: RESPCommand, state: inout ConnectionState, reply: inout Reply) {
        guard !command.isEmpty else { return }
        reply.version = state.protocolVersion
        state.pendingCommands += 1
        let name = Self.lowercasedName(command)
        guard let spec = commands[name] else {
            var args = ""
            for i in 1..<command.count where args.count < 128 { args += "'\(command.string(i).prefix(128))' " }
            refuse("ERR unknown command '\(command.string(0).prefix(128))', with args beginning with: \(args)", &state, &reply)
            return
        }
        if !state.authenticated && name != "auth" && name != "hello" && name != "quit" {
            refuse("NOAUTH Authentication required.", &state, &reply)
            return
        }
        if spec.arity > 0 ? command.count != spec.arity : command.count < -spec.arity {
            refuse("ERR wrong number of arguments for '\(name)' command", &state, &reply)
            return
        }
        if spec.isWrite, let refusal = replication.writeRefusal() {
            refuse(refusal, &state, &reply)
            return
        }
        if state.queued != nil && !spec.immediateInTransaction {
            state.queued!.append(command)
            reply.simple("QUEUED")
            return
        }
        if spec.replicationOrdered {
            executeOrdered(spec, command, &state, &reply)
        } else if spec.lockFree {
            spec.handler(self, command, &state, &reply)
        } else {
            keyspace.withCommandLock(exclusive: spec.exclusive) {
                spec.handler(self, command, &state, &reply)
            }
        }
        noteWriteCommand(spec, &state)
    }

    /// An error for a command refused before running; inside MULTI it also dooms the
    /// transaction (EXEC then answers EXECABORT), as Redis's `flagTransaction`.
    private func refuse(_ message: String, _ state: inout ConnectionState, _ reply: inout Reply) {
        if state.queued != nil { state.transactionFailed = true }
        reply.error(message)
    }

    /// `execute` for tests and tools: runs one command and returns its decoded reply.
    public func execute(_ words: [String], state: inout ConnectionState) -> RESPValue {
        execute(RESPCommand(words), state: &state)
    }

    /// `execute` for tests and tools: runs one command and returns its decoded reply. A wait
    /// for replicas (WAIT, a sync-mode write) is resolved at once with the acks already in,
    /// and a PSYNC's replica feed is dropped after its reply.
    public func execute(_ command: RESPCommand, state: inout ConnectionState) -> RESPValue {
        var reply = Reply(buffer: ByteBufferAllocator().buffer(capacity: 256), version: state.protocolVersion)
        execute(command, state: &state, reply: &reply)
        if let request = state.waitRequest {
            state.waitRequest = nil
            completeWait(request, count: replication.ackedCount(request.targetOffset), reply: &reply)
        }
        // No transport carries a stream from here: a PSYNC's feed would only pile up bytes.
        if let feed = state.replicaFeed {
            replication.detach(feed)
            state.replicaFeed = nil
        }
        let bytes = reply.buffer.readBytes(length: reply.buffer.readableBytes) ?? []
        guard !bytes.isEmpty else { return .null }
        do {
            return try RESPValueParser().parse(bytes)?.value ?? .error("kvlab: incomplete reply")
        } catch {
            return .error("kvlab: unparsable reply: \(error)")
        }
    }

    /// The command name, lowercased (small names stay in a small string: no allocation).
    static func lowercasedName(_ command: RESPCommand) -> String {
        command.withArgument(0) { raw in
            String(unsafeUninitializedCapacity: raw.count) { out in
                for i in 0..<raw.count {
                    let b = raw[i]
                    out[i] = (b >= 65 && b <= 90) ? b + 32 : b
                }
                return raw.count
            }
        }
    }

    /// An engine failure, as an error reply.
    func engineFailed(_ error: EngineError, _ reply: inout Reply) {
        logger.error("engine error: \(error)")
        persistence.noteWrite(failed: true)
        reply.error("ERR engine error: \(error)")
    }
}

/// The bound port, shared with the executor.
final class AtomicPort: Sendable {
    private let value = Synchronization.Atomic<Int>(0)
    func set(_ port: Int) { value.store(port, ordering: .relaxed) }
    var port: Int { value.load(ordering: .relaxed) }
}

import Synchronization

// MARK: - Argument parsing

enum Arguments {
    /// Redis's `string2ll`: an optional '-', digits, no leading zeros or spaces, in Int64 range.
    static func int64(_ raw: UnsafeRawBufferPointer) -> Int64? {
        guard !raw.isEmpty, raw.count <= 20 else { return nil }
        var i = 0
        var negative = false
        if raw[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
            guard raw.count > 1 else { return nil }
        }
        if raw[i] == UInt8(ascii: "0") && raw.count > i + 1 { return nil }
        if raw[i] == UInt8(ascii: "0") && negative { return nil }
        var magnitude: UInt64 = 0
        while i < raw.count {
            let d = raw[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return nil }
            magnitude = a
            i += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    static func int64(_ command: RESPCommand, _ index: Int) -> Int64? {
        command.withArgument(index) { int64($0) }
    }

    /// A score or float: a decimal or exponent number, or inf/+inf/-inf; never NaN.
    static func double(_ text: String) -> Double? {
        switch text.lowercased() {
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default:
            guard !text.isEmpty, !text.contains(where: { $0 == " " }), let d = Double(text), !d.isNaN else { return nil }
            return d
        }
    }

    /// True if argument `index` equals `word` ignoring ASCII case.
    static func matches(_ command: RESPCommand, _ index: Int, _ word: StaticString) -> Bool {
        command.withArgument(index) { raw in
            guard raw.count == word.utf8CodeUnitCount else { return false }
            let w = word.utf8Start
            for i in 0..<raw.count {
                var b = raw[i]
                if b >= 65 && b <= 90 { b += 32 }
                var c = w[i]
                if c >= 65 && c <= 90 { c += 32 }
                if b != c { return false }
            }
            return true
        }
    }
}

// MARK: - Glob patterns (Redis's stringmatchlen)

enum GlobPattern {
    /// Whether `string` matches the glob `pattern` (`*`, `?`, `[abc]`, `[^a-z]`, `\x`).
    static func matches(_ pattern: [UInt8], _ string: [UInt8], caseInsensitive: Bool = false) -> Bool {
        matches(pattern[...], string[...], caseInsensitive, depth: 0)
    }

    private static func fold(_ b: UInt8, _ ci: Bool) -> UInt8 { ci && b >= 65 && b <= 90 ? b + 32 : b }

    private static func matches(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>, _ ci: Bool, depth: Int) -> Bool {
        guard depth < 1000 else { return false }
        var p = p, s = s
        while let c = p.first {
            switch c {
            case UInt8(ascii: "*"):
                while p.first == UInt8(ascii: "*") { p = p.dropFirst() }
                if p.isEmpty { return true }
                var rest = s
                while true {
                    if matches(p, rest, ci, depth: depth + 1) { return true }
                    if rest.isEmpty { return false }
                    rest = rest.dropFirst()
                }
            case UInt8(ascii: "?"):
                guard !s.isEmpty else { return false }
                s = s.dropFirst(); p = p.dropFirst()
            case UInt8(ascii: "["):
                guard let ch = s.first else { return false }
                p = p.dropFirst()
                let negate = p.first == UInt8(ascii: "^")
                if negate { p = p.dropFirst() }
                var matched = false
                while let pc = p.first, pc != UInt8(ascii: "]") {
                    if pc == UInt8(ascii: "\\") && p.count >= 2 {
                        p = p.dropFirst()
                        if fold(p.first!, ci) == fold(ch, ci) { matched = true }
                        p = p.dropFirst()
                    } else if p.count >= 3 && p[p.startIndex + 1] == UInt8(ascii: "-") {
                        var lo = fold(pc, ci), hi = fold(p[p.startIndex + 2], ci)
                        if lo > hi { swap(&lo, &hi) }
                        let f = fold(ch, ci)
                        if f >= lo && f <= hi { matched = true }
                        p = p.dropFirst(3)
                    } else {
                        if fold(pc, ci) == fold(ch, ci) { matched = true }
                        p = p.dropFirst()
                    }
                }
                if !p.isEmpty { p = p.dropFirst() }
                if negate { matched = !matched }
                guard matched else { return false }
                s = s.dropFirst()
            case UInt8(ascii: "\\") where p.count >= 2:
                p = p.dropFirst()
                guard let ch = s.first, fold(ch, ci) == fold(p.first!, ci) else { return false }
                s = s.dropFirst(); p = p.dropFirst()
            default:
                guard let ch = s.first, fold(ch, ci) == fold(c, ci) else { return false }
                s = s.dropFirst(); p = p.dropFirst()
            }
        }
        return s.isEmpty
    }
}
