// The chaos run's clients: Jepsen-style set (unique SADDs) and register (GET/SET/CAS) workloads over RESP, recording a history.

import Foundation
import History
import KVClient
import KVCore
import RESP
import Synchronization

/// The clients of `ack = wait N` experiments: the Consistency module's workloads have no
/// `WAIT`, so this one, otherwise the same in spirit, sends `WAIT n timeout` after each write
/// and counts the write as acknowledged only if enough replicas confirmed. It finds the primary
/// through the sentinels (confirmed with `ROLE`), runs the set or register workload, and
/// records every operation with its outcome:
/// - `ok` when the reply says it took effect;
/// - `fail` when it certainly did not (`READONLY`, fencing's `NOREPLICAS Not enough good
///   replicas`, a CAS whose compare failed or whose transaction aborted, an error before the
///   write was sent);
/// - `info` when it may have (a timeout or dropped connection after sending, a sync ack or
///   `WAIT` that fell short, any other error reply), after which the process id is retired
///   (new id = old + clients), as Jepsen does.
///
/// CAS is `WATCH k; GET k; MULTI; SET k new; EXEC` (kvlab serve has no EVAL; Redis runs the
/// same), so the same workload runs on both kinds of cluster.
public final class ClientWorkload: ChaosWorkload, @unchecked Sendable {
    public enum Kind: Sendable { case set, register }

    let kind: Kind
    let clients: Int
    let keys: Int
    let sentinels: [RedisEndpoint]
    let masterName: String
    let requestTimeout: Double
    /// `WAIT n timeout` after each write (nil: none).
    let waitReplicas: (count: Int, timeoutMilliseconds: Int)?
    let rateLimit: Double
    let seed: UInt64
    let clock: any MonotonicClock
    let resolver: PrimaryResolver
    let nextElement = Atomic<Int64>(0)
    let nextFinalProcess = Atomic<Int>(0)

    public init(kind: Kind, clients: Int, keys: Int, sentinels: [RedisEndpoint], masterName: String, requestTimeoutSeconds: Double,
                waitReplicas: (count: Int, timeoutMilliseconds: Int)? = nil, rateLimit: Double = 0, seed: UInt64,
                clock: any MonotonicClock = SystemMonotonicClock()) {
        self.kind = kind
        self.clients = clients
        self.keys = keys
        self.sentinels = sentinels
        self.masterName = masterName
        self.resolver = PrimaryResolver(sentinels: sentinels, masterName: masterName)
        self.requestTimeout = requestTimeoutSeconds
        self.waitReplicas = waitReplicas
        self.rateLimit = rateLimit
        self.seed = seed
        self.clock = clock
    }

    func keyName(_ index: Int) -> String { kind == .set ? "chaos:set:\(index)" : "chaos:reg:\(index)" }

    // MARK: - Finding the primary

    /// The primary the sentinels name, confirmed by its own `ROLE`; nil if none answers so.
    func resolvePrimary() -> RedisEndpoint? { try? resolver.resolve() }

    /// A connection to the primary, or nil after trying for about a request timeout.
    func connectToPrimary(until stop: () -> Bool) -> RESPConnection? {
        let deadline = clock.nanoseconds() + UInt64(max(0.2, requestTimeout) * 1e9)
        while !stop() && clock.nanoseconds() < deadline {
            if let endpoint = resolvePrimary(),
               let connection = try? RESPConnection(endpoint: endpoint, timeoutSeconds: requestTimeout,
                                                    connectTimeoutSeconds: min(1, requestTimeout)) {
                return connection
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    // MARK: - Running

    /// One client's recorded events, each with its sequence number for a stable merge.
    final class Recorder: @unchecked Sendable {  // one client thread writes it; read after it finished
        var events: [(time: Int64, thread: Int, index: Int, event: Event)] = []
        let thread: Int
        init(thread: Int) { self.thread = thread }
        func record(_ event: Event) {
            events.append((event.time ?? 0, thread, events.count, event))
        }
    }

    enum Outcome { case ok(Value), fail, info }

    public func run(stop: @escaping @Sendable () -> Bool) throws -> History {
        let recorders = (0..<clients).map { Recorder(thread: $0) }
        let group = DispatchGroup()
        for client in 0..<clients {
            group.enter()
            let recorder = recorders[client]
            Thread { [self] in
                defer { group.leave() }
                runClient(client, recorder: recorder, stop: stop)
            }.start()
        }
        group.wait()
        let merged = recorders.flatMap(\.events).sorted { ($0.time, $0.thread, $0.index) < ($1.time, $1.thread, $1.index) }
        return History(events: merged.map(\.event))
    }

    func runClient(_ client: Int, recorder: Recorder, stop: @escaping @Sendable () -> Bool) {
        var random = SeededRandom(seed: seed &+ UInt64(client) &* 0x9E37_79B9_7F4A_7C15)
        var process = client
        var connection: RESPConnection?
        let interval = rateLimit > 0 ? Double(clients) / rateLimit : 0
        while !stop() {
            let begun = clock.nanoseconds()
            let key = keyName(Int(random.next(below: UInt64(keys))))
            let (function, value): (String, Value)
            switch kind {
            case .set:
                function = "add"
                value = .integer(nextElement.add(1, ordering: .relaxed).newValue)
            case .register:
                switch random.next(below: 4) {
                case 0, 1: (function, value) = ("read", .null)
                case 2: (function, value) = ("write", .integer(Int64(random.next(below: 5))))
                default: (function, value) = ("cas", .list([.integer(Int64(random.next(below: 5))), .integer(Int64(random.next(below: 5)))]))
                }
            }
            recorder.record(Event(.invoke, process: process, function: function, key: .string(key), value: value,
                                  time: Int64(clock.nanoseconds())))
            if connection == nil { connection = connectToPrimary(until: stop) }
            let outcome: Outcome
            if let c = connection {
                outcome = perform(function, key: key, value: value, on: c)
            } else {
                outcome = .fail  // nothing was sent
            }
            let now = Int64(clock.nanoseconds())
            switch outcome {
            case .ok(let result):
                recorder.record(Event(.ok, process: process, function: function, key: .string(key), value: result, time: now))
            case .fail:
                recorder.record(Event(.fail, process: process, function: function, key: .string(key), value: value, time: now))
            case .info:
                recorder.record(Event(.info, process: process, function: function, key: .string(key), value: value, time: now))
                process += clients
            }
            if case .ok = outcome {} else {
                // After any trouble, ask the sentinels again: the primary may have moved.
                connection?.close()
                connection = nil
            }
            if interval > 0 {
                let next = begun + UInt64(interval * 1e9)
                while clock.nanoseconds() < next && !stop() { Thread.sleep(forTimeInterval: 0.001) }
            }
        }
        connection?.close()
    }

    /// How an error reply to a write is recorded: refused before it applied (fail) or unknown (info).
    static func writeErrorOutcome(_ message: String) -> Outcome {
        if message.hasPrefix("READONLY") || message.contains("Not enough good replicas") || message.hasPrefix("MASTERDOWN")
            || message.hasPrefix("LOADING") || message.hasPrefix("ERR") || message.hasPrefix("WRONGTYPE") {
            return .fail
        }
        return .info  // e.g. kvlab's sync ack timing out after the local apply
    }

    /// `WAIT n timeout` after a write: ok only if enough replicas confirmed.
    func confirm(on c: RESPConnection, _ result: Value) -> Outcome {
        guard let wait = waitReplicas else { return .ok(result) }
        guard let reply = try? c.call(["WAIT", String(wait.count), String(wait.timeoutMilliseconds)]),
              case .integer(let confirmed) = reply else { return .info }
        return confirmed >= wait.count ? .ok(result) : .info
    }

    func perform(_ function: String, key: String, value: Value, on c: RESPConnection) -> Outcome {
        switch function {
        case "add":
            guard let reply = try? c.call(["SADD", key, value.description]) else { return .info }
            if case .integer = reply { return confirm(on: c, value) }
            return reply.isError ? ClientWorkload.writeErrorOutcome(reply.text ?? "") : .info
        case "write":
            guard let reply = try? c.call(["SET", key, value.description]) else { return .info }
            if reply.text == "OK" && !reply.isError { return confirm(on: c, value) }
            return reply.isError ? ClientWorkload.writeErrorOutcome(reply.text ?? "") : .info
        case "read":
            // A read that fails had no effect: fail, not info (Jepsen does the same).
            guard let reply = try? c.call(["GET", key]), !reply.isError else { return .fail }
            switch reply {
            case .null, .nullArray: return .ok(.null)
            default:
                guard let text = reply.text, let n = Int64(text) else { return .fail }
                return .ok(.integer(n))
            }
        case "cas":
            guard let pair = value.elements, pair.count == 2 else { return .fail }
            guard let watched = try? c.call(["WATCH", key]), !watched.isError else { return .fail }
            guard let current = try? c.call(["GET", key]), !current.isError else { return .fail }
            let currentValue: Value = current.text.flatMap(Int64.init).map(Value.integer) ?? .null
            guard currentValue == pair[0] else {
                _ = try? c.call(["UNWATCH"])
                return .fail
            }
            // Sent from here on: a lost reply leaves the outcome unknown.
            guard let multi = try? c.call(["MULTI"]), !multi.isError else { return .fail }
            guard let queued = try? c.call(["SET", key, pair[1].description]) else { return .info }
            if queued.isError { _ = try? c.call(["DISCARD"]); return ClientWorkload.writeErrorOutcome(queued.text ?? "") }
            guard let exec = try? c.call(["EXEC"]) else { return .info }
            switch exec {
            case .nullArray, .null: return .fail   // the key changed after WATCH: aborted
            case .array(let replies):
                if replies.first?.isError == true { return ClientWorkload.writeErrorOutcome(replies.first?.text ?? "") }
                return confirm(on: c, value)
            default:
                return exec.isError ? ClientWorkload.writeErrorOutcome(exec.text ?? "") : .info
            }
        default:
            return .fail
        }
    }

    // MARK: - Final reads

    /// One read per key on the primary (retried for up to 10 s per key), as ordinary `read`
    /// operations of fresh processes: SMEMBERS for sets, GET for registers.
    public func finalReads(appendingTo history: History) throws -> History {
        var events: [Event] = []
        // Readers are new processes, numbered after every process of the run.
        let firstFinalProcess = (history.events.map(\.process).max() ?? -1) + 1
        for index in 0..<keys {
            let key = keyName(index)
            let deadline = clock.nanoseconds() + 10_000_000_000
            while clock.nanoseconds() < deadline {
                let process = firstFinalProcess + nextFinalProcess.add(1, ordering: .relaxed).oldValue
                let invoked = Int64(clock.nanoseconds())
                guard let c = connectToPrimary(until: { false }) else { continue }
                defer { c.close() }
                let reply = try? c.call(kind == .set ? ["SMEMBERS", key] : ["GET", key])
                let completed = Int64(clock.nanoseconds())
                var result: Value?
                switch (kind, reply) {
                case (.set, .some(let r)) where !r.isError:
                    if let members = r.elements {
                        result = .set(members.compactMap { $0.text.flatMap(Int64.init).map(Value.integer) }
                            .sorted { ($0.integer ?? 0) < ($1.integer ?? 0) })
                    }
                case (.register, .some(.null)), (.register, .some(.nullArray)): result = .null
                case (.register, .some(let r)) where !r.isError: result = r.text.flatMap(Int64.init).map(Value.integer)
                default: result = nil
                }
                guard let result else { continue }
                events.append(Event(.invoke, process: process, function: "read", key: .string(key), value: .null, time: invoked))
                events.append(Event(.ok, process: process, function: "read", key: .string(key), value: result, time: completed))
                break
            }
        }
        var result = history
        result.events += events
        return result
    }
}
