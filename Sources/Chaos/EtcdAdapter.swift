// The chaos run on etcd: a 3-member cluster behind the fault proxy (leader = primary) and the register and set workloads over etcd's JSON gateway.

import FaultInjection
import Foundation
import History
import KVClient
import KVCore
import Synchronization

/// An `EtcdProxiedCluster` as the run loop sees it. "Primary" is the current Raft leader (the
/// one most members name in their status); a role sample asks each member whether it thinks
/// it leads. Faults map as for Redis: kill = SIGKILL and restart on the same data directory,
/// pause = SIGSTOP/SIGCONT, partitions blackhole the peer links between the groups (clients
/// still reach every member), lag delays every peer link.
public final class EtcdLaunchedCluster: ChaosCluster, @unchecked Sendable {
    public let cluster: EtcdProxiedCluster
    private let active = Mutex<(killed: Set<String>, paused: Set<String>, network: Bool)>(([], [], false))

    init(_ cluster: EtcdProxiedCluster) { self.cluster = cluster }

    /// Starts `replicas + 1` members under `runDirectory` and waits until a write succeeds.
    /// - Throws: `ChaosError.runFailed` naming what did not start (etcd missing included).
    public static func launch(_ e: Experiment, runDirectory: String) throws(ChaosError) -> EtcdLaunchedCluster {
        do {
            return EtcdLaunchedCluster(try EtcdProxiedCluster.start(EtcdClusterConfiguration(members: e.replicas + 1, runDirectory: runDirectory)))
        } catch {
            throw .runFailed(stage: "starting the etcd cluster", reason: "\(error)")
        }
    }

    /// The members' public client addresses, in member order.
    public var endpoints: [RedisEndpoint] { cluster.clientEndpoints }

    public var nodes: [String] { cluster.nodeNames }

    public func primaryNode() -> String? { cluster.currentLeader() }

    public func roles() -> [String: Bool] { cluster.leaderViews() }

    public func inject(_ fault: Experiment.FaultKind, target: String, lagMilliseconds: Int) throws -> String {
        let others = nodes.filter { $0 != target }
        switch fault {
        case .kill:
            try cluster.kill(node: target)
            active.withLock { _ = $0.killed.insert(target) }
            return "SIGKILL \(target)"
        case .pause:
            try cluster.pause(node: target)
            active.withLock { _ = $0.paused.insert(target) }
            return "SIGSTOP \(target)"
        case .partitionIsolateNode, .partitionPrimaryMinority:
            active.withLock { $0.network = true }
            try cluster.partition([[target], others])
            return "partition \(target) | \(others.joined(separator: " ")) (peer links blackholed both ways; clients reach every member)"
        case .partitionMajoritySplit:
            let minority = [target] + others.prefix(max(0, (nodes.count - 1) / 2 - 1))
            let majority = nodes.filter { !minority.contains($0) }
            active.withLock { $0.network = true }
            try cluster.partition([minority, majority])
            return "partition \(minority.joined(separator: " ")) | \(majority.joined(separator: " ")) (blackhole)"
        case .lagReplication:
            active.withLock { $0.network = true }
            try cluster.setReplicationDelay(milliseconds: lagMilliseconds)
            return "delay \(lagMilliseconds) ms on every peer link"
        case .lagThenKill:
            // As for Redis: what the delay still holds in the proxy would reach the followers
            // after the kill, so the target's peer links are reset first, discarding it.
            active.withLock { $0.network = true }
            try cluster.dropPeerLinks(of: target)
            try cluster.kill(node: target)
            active.withLock { _ = $0.killed.insert(target) }
            return "peer links of \(target) reset (in-flight bytes discarded), SIGKILL \(target)"
        case .diskFsyncError, .diskFull:
            // Experiment parsing refuses these for etcd; etcd has no fault-injecting file layer.
            throw ChaosError.runFailed(stage: "nemesis", reason: "\(fault.rawValue): etcd members have no disk-fault layer")
        }
    }

    public func healAll() throws -> String {
        let (killed, paused, network) = active.withLock { state in
            defer { state = ([], [], false) }
            return (state.killed.sorted(), state.paused.sorted(), state.network)
        }
        var done: [String] = []
        var failures: [String] = []
        if network {
            do {
                try cluster.setReplicationDelay(milliseconds: 0)
                try cluster.healNetwork()
                done.append("network healed")
            } catch { failures.append("network: \(error)") }
        }
        for node in paused {
            do { try cluster.resume(node: node); done.append("SIGCONT \(node)") } catch { failures.append("resume \(node): \(error)") }
        }
        for node in killed {
            do { try cluster.restart(node: node); done.append("restarted \(node)") } catch { failures.append("restart \(node): \(error)") }
        }
        if !failures.isEmpty {
            throw ChaosError.runFailed(stage: "healing", reason: failures.joined(separator: "; "))
        }
        return done.isEmpty ? "nothing to heal" : done.joined(separator: ", ")
    }

    public func stop() { cluster.stop() }
}

/// The register and set workloads on etcd, recording a history as the Consistency workloads do on
/// Redis (same operation mix, keys, values and outcome rules), through etcd's JSON gateway:
/// - register: read = a range of the key (linearizable, or serializable: the member's local
///   state), write = a put, cas `[old new]` = a transaction comparing the value with `old`;
/// - set: add `e` to set `k` = a put of key `chaos:set:k/e` (etcd has no sets; one key per
///   element keeps every add independent); the final read is a range over the prefix.
/// Outcomes: `ok` when etcd answered success; `fail` when it certainly did not apply (a cas
/// whose compare failed, a request that reached no member, a read that failed); `info` when it
/// may have (timeout or lost answer after sending, "leader changed", "request timed out"),
/// and the process is retired (new id = old + clients).
///
/// Clients fail over across members (the EtcdClient's rule) unless pinned: a pinned client
/// talks to member `client mod members` only, so clients of an isolated member keep using it.
public final class EtcdChaosWorkload: ChaosWorkload, @unchecked Sendable {
    public enum Kind: Sendable { case set, register }

    let kind: Kind
    let clients: Int
    let keys: Int
    let endpoints: [RedisEndpoint]
    let requestTimeout: Double
    let rateLimit: Double
    let seed: UInt64
    let serializableReads: Bool
    let pinned: Bool
    /// Register values are drawn from `0..<values`.
    let values: Int
    let clock: any MonotonicClock
    let nextElement = Atomic<Int64>(0)
    let nextFinalProcess = Atomic<Int>(0)

    public init(kind: Kind, clients: Int, keys: Int, endpoints: [RedisEndpoint], requestTimeoutSeconds: Double,
                rateLimit: Double = 0, seed: UInt64, serializableReads: Bool = false, pinnedClients: Bool = false,
                values: Int = 5, clock: any MonotonicClock = SystemMonotonicClock()) {
        precondition(!endpoints.isEmpty, "an etcd workload needs at least one member")
        self.kind = kind
        self.clients = clients
        self.keys = keys
        self.endpoints = endpoints
        self.requestTimeout = requestTimeoutSeconds
        self.rateLimit = rateLimit
        self.seed = seed
        self.serializableReads = serializableReads
        self.pinned = pinnedClients
        self.values = max(2, values)
        self.clock = clock
    }

    func keyName(_ index: Int) -> String { kind == .set ? "chaos:set:\(index)" : "chaos:reg:\(index)" }

    var settings: ConnectionSettings {
        ConnectionSettings(ioTimeoutSeconds: requestTimeout, connectTimeoutSeconds: min(1, requestTimeout),
                           backoff: Backoff(initialSeconds: 0.01, maximumSeconds: 0.2))
    }

    public func run(stop: @escaping @Sendable () -> Bool) throws -> History {
        let recorders = (0..<clients).map { EventRecorder(thread: $0) }
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

    enum Outcome { case ok(Value), fail, info }

    func runClient(_ client: Int, recorder: EventRecorder, stop: @escaping @Sendable () -> Bool) {
        var random = SeededRandom(seed: seed &+ UInt64(client) &* 0x9E37_79B9_7F4A_7C15)
        var process = client
        let members = pinned ? [endpoints[client % endpoints.count]] : endpoints
        let connection = EtcdClient(endpoints: members, settings: settings, startingAt: client)
        defer { connection.close() }
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
                case 2: (function, value) = ("write", .integer(Int64(random.next(below: UInt64(values)))))
                default: (function, value) = ("cas", .list([.integer(Int64(random.next(below: UInt64(values)))),
                                                            .integer(Int64(random.next(below: UInt64(values))))]))
                }
            }
            recorder.record(Event(.invoke, process: process, function: function, key: .string(key), value: value,
                                  time: Int64(clock.nanoseconds())))
            let outcome = perform(function, key: key, value: value, on: connection)
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
            if interval > 0 {
                let next = begun + UInt64(interval * 1e9)
                while clock.nanoseconds() < next && !stop() { Thread.sleep(forTimeInterval: 0.001) }
            }
        }
    }

    /// `fail` if the request surely did not apply, `info` if it may have.
    static func writeError(_ error: EtcdError) -> Outcome { error.mayHaveTakenEffect ? .info : .fail }

    func perform(_ function: String, key: String, value: Value, on c: EtcdClient) -> Outcome {
        do throws(EtcdError) {
            switch function {
            case "add":
                try c.put(Array("\(key)/\(value.description)".utf8), Array("1".utf8))
                return .ok(value)
            case "write":
                try c.put(Array(key.utf8), Array(value.description.utf8))
                return .ok(value)
            case "read":
                do throws(EtcdError) {
                    let text = try c.range(Array(key.utf8), serializable: serializableReads).first.map { String(decoding: $0.value, as: UTF8.self) }
                    guard let text else { return .ok(.null) }
                    guard let n = Int64(text) else { return .fail }
                    return .ok(.integer(n))
                } catch {
                    return .fail   // a read changes nothing
                }
            case "cas":
                guard let pair = value.elements, pair.count == 2 else { return .fail }
                let succeeded = try c.compareAndPut(Array(key.utf8), .valueEquals(Array(pair[0].description.utf8)),
                                                    Array(pair[1].description.utf8))
                return succeeded ? .ok(value) : .fail
            default:
                return .fail
            }
        } catch {
            return Self.writeError(error)
        }
    }

    /// The prefix range of set `key`: keys `key/...`, up to `key0` ('/' + 1).
    static func setRange(_ key: String) -> (start: [UInt8], end: [UInt8]) {
        (Array("\(key)/".utf8), Array("\(key)0".utf8))
    }

    /// One linearizable read per key through any member (retried for up to 10 s per key), as
    /// ordinary `read` operations of fresh processes.
    public func finalReads(appendingTo history: History) throws -> History {
        var events: [Event] = []
        let firstFinalProcess = (history.events.map(\.process).max() ?? -1) + 1
        let client = EtcdClient(endpoints: endpoints, settings: settings)
        defer { client.close() }
        for index in 0..<keys {
            let key = keyName(index)
            let deadline = clock.nanoseconds() + 10_000_000_000
            while clock.nanoseconds() < deadline {
                let process = firstFinalProcess + nextFinalProcess.add(1, ordering: .relaxed).oldValue
                let invoked = Int64(clock.nanoseconds())
                var result: Value?
                switch kind {
                case .set:
                    let (start, end) = Self.setRange(key)
                    if let pairs = try? client.range(start, rangeEnd: end) {
                        let elements = pairs.compactMap { Int64(String(decoding: $0.key.dropFirst(start.count), as: UTF8.self)) }
                        result = .set(elements.sorted().map(Value.integer))
                    }
                case .register:
                    if let pairs = try? client.range(Array(key.utf8)) {
                        if let first = pairs.first {
                            result = Int64(String(decoding: first.value, as: UTF8.self)).map(Value.integer)
                        } else {
                            result = .null
                        }
                    }
                }
                let completed = Int64(clock.nanoseconds())
                guard let result else { Thread.sleep(forTimeInterval: 0.05); continue }
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

/// One etcd client's recorded events, each with its sequence number for a stable merge.
final class EventRecorder: @unchecked Sendable {  // one client thread writes it; read after it finished
    var events: [(time: Int64, thread: Int, index: Int, event: Event)] = []
    let thread: Int
    init(thread: Int) { self.thread = thread }
    func record(_ event: Event) {
        events.append((event.time ?? 0, thread, events.count, event))
    }
}
