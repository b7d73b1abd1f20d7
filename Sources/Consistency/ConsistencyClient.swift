// One client thread of a consistency workload: picks operations, sends them, records each outcome.

import History
import KVClient
import KVCore
import RESP

/// One thread of `runConsistencyWorkload` (one Jepsen process at a time).
///
/// Not thread-safe: one thread runs it; the caller reads `events` after joining that thread.
final class ConsistencyClient: @unchecked Sendable {
    let index: Int
    let configuration: ConsistencyWorkloadConfiguration
    let resolve: @Sendable () throws -> RedisEndpoint
    let clock: any ClientClock
    /// The current process id: `index` at first, + clients after every `info`.
    private(set) var process: Int
    private(set) var events: [Event] = []
    private var random: SeededRandom
    private var connection: RESPConnection?
    private var consecutiveFailures = 0
    private var lastTime: Int64 = .min
    /// Set elements this thread added (element = index + clients × count: unique across threads).
    private var added: Int64 = 0

    init(index: Int, configuration: ConsistencyWorkloadConfiguration, resolve: @escaping @Sendable () throws -> RedisEndpoint,
         clock: any ClientClock, process: Int? = nil) {
        self.index = index
        self.configuration = configuration
        self.resolve = resolve
        self.clock = clock
        self.process = process ?? index
        // Each thread's stream is fixed by (seed, thread).
        random = SeededRandom(seed: configuration.seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1))
    }

    // MARK: The loop

    /// Runs operations until `deadline` (clock nanoseconds) or `stop()`, paced to the rate.
    func run(start: UInt64, deadline: UInt64, stop: () -> Bool) {
        let interval = configuration.operationsPerSecond > 0
            ? Double(configuration.clients) * 1e9 / configuration.operationsPerSecond : 0
        // Threads start spread over one interval, so a paced run does not send in bursts.
        let offset = interval * Double(index) / Double(configuration.clients)
        var issued = 0
        while !stop() {
            if interval > 0 {
                let scheduled = start &+ UInt64(offset + Double(issued) * interval)
                if scheduled >= deadline { break }
                clock.sleep(until: scheduled)
            }
            if clock.nanoseconds() >= deadline || stop() { break }
            perform(nextOperation())
            issued += 1
        }
    }

    /// A planned request.
    enum Operation {
        case read(key: Int)
        case write(key: Int, value: Int64)
        case cas(key: Int, old: Int64, new: Int64)
        case add(key: Int, element: Int64)
        case readSet(key: Int)

        var key: Int {
            switch self {
            case .read(let k), .write(let k, _), .cas(let k, _, _), .add(let k, _), .readSet(let k): k
            }
        }
        var function: String {
            switch self {
            case .read, .readSet: "read"
            case .write: "write"
            case .cas: "cas"
            case .add: "add"
            }
        }
        var writes: Bool { switch self { case .read, .readSet: false; default: true } }
        /// The invocation's value.
        var input: Value {
            switch self {
            case .read, .readSet: .null
            case .write(_, let v): .integer(v)
            case .cas(_, let old, let new): .list([.integer(old), .integer(new)])
            case .add(_, let element): .integer(element)
            }
        }
    }

    func nextOperation() -> Operation {
        let key = Int(random.next(below: UInt64(configuration.keys)))
        switch configuration.kind {
        case .set:
            let element = Int64(index) + Int64(configuration.clients) * added
            added += 1
            return .add(key: key, element: element)
        case .register:
            let values = UInt64(configuration.values)
            switch random.next(below: 3) {
            case 0: return .read(key: key)
            case 1: return .write(key: key, value: Int64(random.next(below: values)))
            default: return .cas(key: key, old: Int64(random.next(below: values)), new: Int64(random.next(below: values)))
            }
        }
    }

    // MARK: Recording

    /// The clock now, strictly after this thread's previous event (so merging by time keeps
    /// a thread's events in order).
    private func now() -> Int64 {
        let t = max(Int64(truncatingIfNeeded: clock.nanoseconds()), lastTime &+ 1)
        lastTime = t
        return t
    }

    private func record(_ kind: Event.Kind, _ operation: Operation, value: Value) {
        events.append(Event(kind, process: process, function: operation.function,
                            key: .string(configuration.keyName(operation.key)), value: value, time: now()))
    }

    /// Sends one operation and records its invocation and completion; retires the process after `info`.
    func perform(_ operation: Operation) {
        record(.invoke, operation, value: operation.input)
        let (kind, value) = execute(operation)
        record(kind, operation, value: value)
        if kind == .info { process += configuration.clients }
    }

    /// The final read of `key`: retried (each attempt recorded) until ok or `deadline`.
    func finalRead(key: Int, deadline: UInt64) {
        let operation: Operation = configuration.kind == .set ? .readSet(key: key) : .read(key: key)
        repeat {
            record(.invoke, operation, value: .null)
            let (kind, value) = execute(operation)
            record(kind, operation, value: value)
            if kind == .ok { return }
            if kind == .info { process += configuration.keys }
        } while clock.nanoseconds() < deadline
    }

    // MARK: Talking to the server

    /// A transport failure, and whether the operation's write may have reached the server.
    struct TransportFailure: Error {
        var maybeApplied: Bool
    }

    /// The open connection, or a new one to wherever `resolve()` points now (after the backoff
    /// that past failures call for); nil if that fails.
    private func openConnection() -> RESPConnection? {
        if let connection, connection.isOpen { return connection }
        connection = nil
        if consecutiveFailures > 0 {
            let backoff = Backoff(initialSeconds: 0.01, maximumSeconds: max(0.01, configuration.maximumBackoffSeconds))
            clock.sleep(until: clock.nanoseconds() &+ backoff.delayNanoseconds(afterFailures: consecutiveFailures))
        }
        do {
            let endpoint = try resolve()
            let c = try RESPConnection(endpoint: endpoint, password: configuration.password,
                                       timeoutSeconds: configuration.requestTimeoutSeconds,
                                       connectTimeoutSeconds: configuration.connectTimeoutSeconds,
                                       sourceHost: configuration.sourceHost)
            connection = c
            return c
        } catch {
            consecutiveFailures += 1
            return nil
        }
    }

    private func transportFailed() {
        connection?.close()
        connection = nil
        consecutiveFailures += 1
    }

    /// Runs `operation`: its outcome kind and the completion's value.
    func execute(_ operation: Operation) -> (Event.Kind, Value) {
        // No connection: nothing was sent, so the request surely did not happen.
        guard let c = openConnection() else { return (.fail, operation.input) }
        do {
            let result = try send(operation, on: c)
            // Still connected: the server answered as a primary would (READONLY dropped it).
            if connection != nil { consecutiveFailures = 0 }
            return result
        } catch {
            transportFailed()
            // A read that timed out is `info` too (it constrains nothing), so timeouts count alike.
            return (error.maybeApplied || !operation.writes ? .info : .fail, operation.input)
        }
    }

    private func call(_ c: RESPConnection, _ arguments: [String], writes: Bool) throws(TransportFailure) -> RESPValue {
        do { return try c.call(arguments) } catch { throw TransportFailure(maybeApplied: writes) }
    }

    private func errorOutcome(_ message: String, _ operation: Operation) -> (Event.Kind, Value) {
        // A node that says it is no primary (demoted after a failover, or a replica the
        // resolver named) will not become one again soon: look the primary up afresh, as
        // Sentinel-aware Redis clients do on READONLY, instead of writing to it until a
        // connection error happens.
        // Counted as a failure, so a resolver that keeps naming such a node is asked with backoff.
        if message.hasPrefix("READONLY") || message.hasPrefix("MASTERDOWN") { transportFailed() }
        return (ReplyClassification.outcome(ofError: message, writes: operation.writes), operation.input)
    }

    /// A write that succeeded, followed by `WAIT` when the configuration asks for it: `ok` only
    /// if enough replicas confirmed; otherwise `info`, since the write is applied on the primary
    /// and a failover may keep or lose it. A transport failure during WAIT is `info` as well.
    private func acknowledged(_ c: RESPConnection, _ operation: Operation) throws(TransportFailure) -> (Event.Kind, Value) {
        guard let wait = configuration.waitAfterWrite else { return (.ok, operation.input) }
        let reply = try call(c, ["WAIT", String(wait.replicas), String(wait.timeoutMilliseconds)], writes: true)
        if case .integer(let confirmed) = reply, confirmed >= wait.replicas { return (.ok, operation.input) }
        return (.info, operation.input)
    }

    static let casScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end
        """

    private func send(_ operation: Operation, on c: RESPConnection) throws(TransportFailure) -> (Event.Kind, Value) {
        let key = configuration.keyName(operation.key)
        switch operation {
        case .read:
            let reply = try call(c, ["GET", key], writes: false)
            switch reply {
            case .error(let m), .bulkError(let m): return errorOutcome(m, operation)
            case .null: return (.ok, .null)
            default:
                guard let text = reply.text else { return (.fail, .null) }
                // Anything but one of our integers is recorded as read, so the checker flags it.
                return (.ok, Int64(text).map(Value.integer) ?? .string(text))
            }
        case .write(_, let value):
            let reply = try call(c, ["SET", key, String(value)], writes: true)
            if case .error(let m) = reply { return errorOutcome(m, operation) }
            return reply == .simpleString("OK") ? try acknowledged(c, operation) : (.info, operation.input)
        case .cas(_, let old, let new):
            return configuration.casMethod == .watchMulti
                ? try casWithWatch(c, key: key, old: old, new: new, operation)
                : try casWithScript(c, key: key, old: old, new: new, operation)
        case .add(_, let element):
            let reply = try call(c, ["SADD", key, String(element)], writes: true)
            if case .error(let m) = reply { return errorOutcome(m, operation) }
            if case .integer = reply { return try acknowledged(c, operation) }
            return (.info, operation.input)
        case .readSet:
            let reply = try call(c, ["SMEMBERS", key], writes: false)
            if case .error(let m) = reply { return errorOutcome(m, operation) }
            guard let items = reply.elements else { return (.fail, .null) }
            let elements = items.map { item -> Value in
                let text = item.text ?? ""
                return Int64(text).map(Value.integer) ?? .string(text)
            }
            return (.ok, .set(elements.sorted { ($0.integer ?? .max, $0.description) < ($1.integer ?? .max, $1.description) }))
        }
    }

    /// One EVAL: 1 = swapped (ok), 0 = the value differed (fail: nothing written).
    private func casWithScript(_ c: RESPConnection, key: String, old: Int64, new: Int64,
                               _ operation: Operation) throws(TransportFailure) -> (Event.Kind, Value) {
        let reply = try call(c, ["EVAL", Self.casScript, "1", key, String(old), String(new)], writes: true)
        switch reply {
        case .integer(1): return try acknowledged(c, operation)
        case .integer(0): return (.fail, operation.input)
        case .error(let m): return errorOutcome(m, operation)
        default: return (.info, operation.input)
        }
    }

    /// WATCH, GET, compare; then MULTI SET EXEC, which the server aborts (null reply) if the
    /// key changed since WATCH. Until EXEC is sent nothing can have been written, so a transport
    /// failure before it is a `fail`.
    private func casWithWatch(_ c: RESPConnection, key: String, old: Int64, new: Int64,
                              _ operation: Operation) throws(TransportFailure) -> (Event.Kind, Value) {
        let watched = try call(c, ["WATCH", key], writes: false)
        if case .error(let m) = watched { return errorOutcome(m, operation) }
        let current = try call(c, ["GET", key], writes: false)
        guard current.text == String(old) else {
            _ = try call(c, ["UNWATCH"], writes: false)
            if case .error(let m) = current { return errorOutcome(m, operation) }
            return (.fail, operation.input)
        }
        c.append(["MULTI"])
        c.append(["SET", key, String(new)])
        c.append(["EXEC"])
        let replies: [RESPValue]
        do {
            try c.flush()
            replies = [try c.readReply(), try c.readReply(), try c.readReply()]
        } catch {
            throw TransportFailure(maybeApplied: true)
        }
        if case .error(let m) = replies[0] { return errorOutcome(m, operation) }
        switch replies[2] {
        case .nullArray, .null: return (.fail, operation.input)       // aborted: the key changed
        case .array(let results):
            if case .error(let m)? = results.first { return errorOutcome(m, operation) }
            return results.first == .simpleString("OK") ? try acknowledged(c, operation) : (.info, operation.input)
        case .error(let m):
            // EXECABORT (a queued command was refused) is a fail; anything else is unknown.
            return errorOutcome(m, operation)
        default: return (.info, operation.input)
        }
    }

    func close() {
        connection?.close()
        connection = nil
    }
}
