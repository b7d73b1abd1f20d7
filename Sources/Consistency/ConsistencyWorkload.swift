// Jepsen-style client workloads over RESP (a register with cas, a set of unique adds) that record a History.
//
// Why a module of its own: the YCSB driver measures throughput and records digests of whole
// records; a consistency test wants the opposite trade-off — few keys, small values a checker
// can reason about, every request's outcome classified as ok / fail / info (Jepsen's
// vocabulary), processes retired after an indeterminate request, and the server's address
// looked up again after each connection error so a failover is followed. The histories it
// produces are checked by the Linearizability module (`kvlab check --model cas-register`, per
// key, and `--model set`).

import Foundation
import History
import KVClient

/// What a consistency workload does and how hard it pushes.
public struct ConsistencyWorkloadConfiguration: Sendable {
    /// Which workload.
    public enum Kind: String, Sendable, CaseIterable {
        /// Jepsen's register: `read`, `write` and `cas [old new]` of small integers on a few
        /// independent keys (one third each); checked as a cas-register per key.
        case register
        /// Jepsen's set: `add` of unique integers (SADD) to a few keys, then one final read
        /// (SMEMBERS) per key; checked for lost and unexpected elements per key.
        case set
    }

    /// How a register cas is made atomic on the server.
    public enum CASMethod: String, Sendable, CaseIterable {
        /// Ask the server once at the start: EVAL if it knows it, else WATCH/MULTI.
        case automatic
        /// One `EVAL` of a Lua script (GET, compare, SET): Redis.
        case eval
        /// `WATCH k`, `GET k`, then `MULTI SET k new EXEC` (aborted if k changed): servers
        /// without Lua, such as `kvlab serve`.
        case watchMulti = "watch-multi"
    }

    /// A `WAIT numreplicas timeout` sent after each write that succeeded (Redis's way to ask
    /// for synchronous replication per write).
    public struct WaitStep: Sendable, Equatable {
        /// Replicas that must confirm the write (WAIT's `numreplicas`).
        public var replicas: Int
        /// How long WAIT may block, in milliseconds (WAIT's `timeout`; 0 blocks forever, which
        /// the request timeout then cuts short).
        public var timeoutMilliseconds: Int

        public init(replicas: Int, timeoutMilliseconds: Int) {
            self.replicas = replicas
            self.timeoutMilliseconds = timeoutMilliseconds
        }
    }

    public var kind: Kind
    /// After every write that succeeded (set, SADD, a cas that swapped), `WAIT` for this many
    /// replicas: the write is `ok` only if WAIT reports at least that many, else `info` (it
    /// stays applied on the primary, but is not known to be on the replicas). nil: no WAIT.
    public var waitAfterWrite: WaitStep?
    /// Client threads (Jepsen's concurrency); thread t starts as process t.
    public var clients: Int = 5
    /// Keys the operations spread over (registers, or sets).
    public var keys: Int = 3
    /// Register values are drawn from `0..<values`.
    public var values: Int = 5
    /// How long the workload runs (the final reads come after).
    public var durationSeconds: Double = 10
    /// How long one request may wait for its reply (and for a send); longer is a timeout (`info`).
    public var requestTimeoutSeconds: Double = 1
    /// How long a TCP connect may take.
    public var connectTimeoutSeconds: Double = 1
    /// Seeds each thread's choice of operations, keys and values.
    public var seed: UInt64 = 0
    /// Total requests per second over all clients; 0 = as fast as replies come.
    public var operationsPerSecond: Double = 0
    /// The local address every connection binds to before connecting (the fault proxy tells
    /// parties apart by source IP); nil lets the kernel choose.
    public var sourceHost: String?
    /// AUTH password, if the server wants one.
    public var password: String?
    /// Prefix of the keys used: key i is `keyPrefix + i`.
    public var keyPrefix: String
    /// How a cas is made atomic (register workload).
    public var casMethod: CASMethod = .automatic
    /// Delete the workload's keys before starting, so every register starts as nil and every
    /// set empty (the checker's initial state).
    public var resetKeys: Bool = true
    /// Let `runConsistencyWorkload` do the final reads itself (set: required for a verdict).
    /// Turn off to heal faults first and then call `finalReads`.
    public var performsFinalReads: Bool = true
    /// How long the final reads keep retrying a key that does not answer.
    public var finalReadTimeoutSeconds: Double = 10
    /// The longest wait between reconnection attempts after errors (waits start at 10 ms and double).
    public var maximumBackoffSeconds: Double = 0.25

    /// A workload of `kind` with the defaults above (keys `kvlab:register:N` or `kvlab:set:N`).
    public init(kind: Kind) {
        self.kind = kind
        keyPrefix = "kvlab:\(kind.rawValue):"
    }

    /// The server-side name of key `index`.
    public func keyName(_ index: Int) -> String { keyPrefix + String(index) }

    /// Checks that every field is usable.
    /// - Throws: `ConsistencyError.invalidConfiguration` naming the first field that is not.
    public func validate() throws(ConsistencyError) {
        func bad(_ field: String, _ value: Any, _ expected: String) -> ConsistencyError {
            .invalidConfiguration(field: field, value: "\(value)", expected: expected)
        }
        guard clients >= 1 && clients <= 1024 else { throw bad("clients", clients, "1 to 1024 client threads") }
        guard keys >= 1 else { throw bad("keys", keys, "at least 1 key") }
        guard values >= 2 else { throw bad("values", values, "at least 2 register values") }
        for (name, value) in [("durationSeconds", durationSeconds), ("requestTimeoutSeconds", requestTimeoutSeconds),
                              ("connectTimeoutSeconds", connectTimeoutSeconds), ("finalReadTimeoutSeconds", finalReadTimeoutSeconds),
                              ("maximumBackoffSeconds", maximumBackoffSeconds)] {
            guard value.isFinite && value >= 0 && value <= 1e6 else { throw bad(name, value, "a finite number of seconds from 0 to 1000000") }
        }
        guard requestTimeoutSeconds >= 0.001 else { throw bad("requestTimeoutSeconds", requestTimeoutSeconds, "at least 0.001 s") }
        guard operationsPerSecond.isFinite && operationsPerSecond >= 0 else {
            throw bad("operationsPerSecond", operationsPerSecond, "a rate >= 0 (0 = unthrottled)")
        }
        guard !keyPrefix.isEmpty else { throw bad("keyPrefix", "\"\"", "a non-empty key prefix") }
        if let wait = waitAfterWrite {
            guard wait.replicas >= 1 && wait.replicas <= 1024 else { throw bad("waitAfterWrite.replicas", wait.replicas, "1 to 1024 replicas") }
            guard wait.timeoutMilliseconds >= 0 && wait.timeoutMilliseconds <= 86_400_000 else {
                throw bad("waitAfterWrite.timeoutMilliseconds", wait.timeoutMilliseconds, "0 to 86400000 ms")
            }
        }
    }
}

/// Why a consistency workload could not run.
public enum ConsistencyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A configuration field is out of range.
    case invalidConfiguration(field: String, value: String, expected: String)
    /// The server could not be reached (or refused the setup) before the workload started.
    case setup(String)

    public var description: String {
        switch self {
        case let .invalidConfiguration(field, value, expected): "consistency workload: \(field) = \(value): expected \(expected)"
        case let .setup(message): "consistency workload: setup failed: \(message)"
        }
    }
}

/// Runs a consistency workload and returns its history.
///
/// Each of `configuration.clients` threads opens its own connection to `resolve()`, and calls
/// `resolve()` again after every connection error and every `READONLY`/`MASTERDOWN` reply (so a
/// resolver that asks Sentinel follows a failover), waiting a growing backoff between failed attempts. Every request is recorded as an
/// invocation and a completion (`ok`, `fail` or `info`, see `ReplyClassification`) with `time`
/// in nanoseconds of `clock` (CLOCK_MONOTONIC by default, so a nemesis reading the same clock can
/// place its events on the same axis). After an `info`, the thread continues as a new process
/// (old id + clients), as Jepsen does, so no process has two operations open.
///
/// The run stops after `durationSeconds`, or sooner once `stop()` returns true (checked before
/// each request); a request in flight ends within the request timeout. Then, if
/// `performsFinalReads`, each key is read once more (see `finalReads`).
///
/// - Parameters:
///   - configuration: the workload.
///   - resolve: where the server (the current primary) is; called at the start and after every
///     connection error. A throw counts as a failed connection attempt.
///   - stop: asked before each request; true ends the run early.
///   - clock: the time source for event times, pacing and backoff.
/// - Returns: the events of every thread, merged in time order.
/// - Throws: `ConsistencyError` for a bad configuration, or when the server cannot be reached
///   (or the keys reset) at the start.
public func runConsistencyWorkload(_ configuration: ConsistencyWorkloadConfiguration,
                                   resolve: @escaping @Sendable () throws -> RedisEndpoint,
                                   stop: @escaping @Sendable () -> Bool = { false },
                                   clock: any ClientClock = SystemClientClock()) throws(ConsistencyError) -> History {
    try configuration.validate()
    var settings = configuration
    settings.casMethod = try prepareServer(configuration, resolve: resolve)
    let start = clock.nanoseconds()
    let deadline = start &+ UInt64(configuration.durationSeconds * 1e9)
    let loops = (0..<configuration.clients).map { ConsistencyClient(index: $0, configuration: settings, resolve: resolve, clock: clock) }
    runThreads(loops.map { loop in { loop.run(start: start, deadline: deadline, stop: stop) } })
    for loop in loops { loop.close() }
    let history = History(events: mergeByTime(loops.map(\.events)))
    guard configuration.performsFinalReads else { return history }
    return finalReads(configuration, resolve: resolve, appendingTo: history, clock: clock)
}

/// Reads every key of the workload once, after the run (and after the nemesis healed), and
/// returns `history` with those reads appended: SMEMBERS per set (an `ok` read whose value is
/// the set of integers), GET per register. A key whose read fails or times out is retried,
/// with backoff, until it answers or `finalReadTimeoutSeconds` pass; every attempt is recorded.
/// Readers are new processes, numbered after the highest process in `history`.
public func finalReads(_ configuration: ConsistencyWorkloadConfiguration,
                       resolve: @escaping @Sendable () throws -> RedisEndpoint,
                       appendingTo history: History,
                       clock: any ClientClock = SystemClientClock()) -> History {
    let firstProcess = (history.events.map(\.process).max() ?? -1) + 1
    let reader = ConsistencyClient(index: 0, configuration: configuration, resolve: resolve, clock: clock, process: firstProcess)
    let deadline = clock.nanoseconds() &+ UInt64(configuration.finalReadTimeoutSeconds * 1e9)
    for key in 0..<configuration.keys {
        reader.finalRead(key: key, deadline: deadline)
    }
    reader.close()
    var result = history
    result.events += reader.events
    return result
}

/// Connects once before the threads start: finds the cas method, and deletes the keys.
func prepareServer(_ configuration: ConsistencyWorkloadConfiguration,
                   resolve: @Sendable () throws -> RedisEndpoint) throws(ConsistencyError) -> ConsistencyWorkloadConfiguration.CASMethod {
    let connection: RESPConnection
    do {
        let endpoint = try resolve()
        connection = try RESPConnection(endpoint: endpoint, password: configuration.password,
                                        timeoutSeconds: max(configuration.requestTimeoutSeconds, 1),
                                        connectTimeoutSeconds: configuration.connectTimeoutSeconds,
                                        sourceHost: configuration.sourceHost)
    } catch {
        throw .setup("cannot reach the server: \(error)")
    }
    defer { connection.close() }
    do {
        if configuration.resetKeys {
            let reply = try connection.call(["DEL"] + (0..<configuration.keys).map(configuration.keyName))
            if case .error(let message) = reply { throw ConsistencyError.setup("DEL of the workload's keys: \(message)") }
        }
        guard configuration.kind == .register, configuration.casMethod == .automatic else { return configuration.casMethod }
        return try detectCASMethod(connection)
    } catch let error as ConsistencyError {
        throw error
    } catch {
        throw .setup("\(connection.endpoint): \(error)")
    }
}

/// EVAL if the server runs Lua scripts, WATCH/MULTI if it does not know EVAL.
/// - Throws: `ConsistencyError.setup` if it knows neither, or the connection fails.
public func detectCASMethod(_ connection: RESPConnection) throws -> ConsistencyWorkloadConfiguration.CASMethod {
    let eval = try connection.call(["EVAL", "return 1", "0"])
    if eval == .integer(1) { return .eval }
    let watch = try connection.call(["WATCH", "kvlab:consistency:probe"])
    _ = try connection.call(["UNWATCH"])
    if watch == .simpleString("OK") { return .watchMulti }
    throw ConsistencyError.setup("\(connection.endpoint) runs neither EVAL (\(eval)) nor WATCH (\(watch)): no atomic cas")
}

/// Runs each body on its own thread and waits for all of them.
func runThreads(_ bodies: [@Sendable () -> Void]) {
    let group = DispatchGroup()
    for body in bodies {
        group.enter()
        let thread = Thread {
            body()
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
}

/// Merges per-thread event lists into one, by time; at equal times an invocation comes before a
/// completion, so such operations count as concurrent. (Each thread's own times strictly
/// increase, so a thread's events keep their order.)
func mergeByTime(_ lists: [[Event]]) -> [Event] {
    var all: [(event: Event, list: Int, index: Int)] = []
    all.reserveCapacity(lists.reduce(0) { $0 + $1.count })
    for (l, list) in lists.enumerated() {
        for (i, e) in list.enumerated() { all.append((e, l, i)) }
    }
    all.sort { a, b in
        let ta = a.event.time ?? 0, tb = b.event.time ?? 0
        if ta != tb { return ta < tb }
        let ia = a.event.kind == .invoke, ib = b.event.kind == .invoke
        if ia != ib { return ia }
        return (a.list, a.index) < (b.list, b.index)
    }
    return all.map(\.event)
}
