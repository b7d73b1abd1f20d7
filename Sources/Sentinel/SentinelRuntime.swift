// Runs a SentinelMonitor for real: a clock, a 100 ms tick, and each action performed over RESP.

import Dispatch
import KVClient
import RESP
import Synchronization

/// Performs one action and reports its outcome. Implementations block; the runtime calls
/// each target's actions one at a time, in order.
public protocol SentinelLinks: Sendable {
    func perform(_ action: SentinelAction) -> SentinelOutcome
}

/// A sentinel in a process: the state machine behind a lock, fed by a tick thread, with every
/// action run on a serial queue per target (a node or peer that hangs delays only its own
/// actions). Thread-safe. The library does not print: events go to `onEvent`.
public final class SentinelNode: Sendable {
    private let state: Mutex<SentinelMonitor>
    private let links: any SentinelLinks
    private let clock: any ClientClock
    private let queues = Mutex<[RedisEndpoint: DispatchQueue]>([:])
    private let onEvent: @Sendable (SentinelEvent) -> Void
    private let running = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// The port this sentinel's server listens on (INFO's tcp_port), set once it is bound.
    let serverPort = Atomic<Int>(0)
    /// How often the state machine is advanced (Redis's 10 Hz timer).
    public let tickMilliseconds: Int64

    /// - Parameters:
    ///   - seed: seeds the start delays (print it to replay a run's choices).
    ///   - onEvent: called with each event (`+sdown`, `+switch-master`, ...), outside the lock.
    public init(configuration: SentinelConfiguration, links: any SentinelLinks, clock: any ClientClock = SystemClientClock(),
                seed: UInt64, tickMilliseconds: Int64 = 100, onEvent: @escaping @Sendable (SentinelEvent) -> Void = { _ in }) {
        self.links = links
        self.clock = clock
        self.onEvent = onEvent
        self.tickMilliseconds = max(1, tickMilliseconds)
        state = Mutex(SentinelMonitor(configuration: configuration, now: Int64(clock.nanoseconds() / 1_000_000), seed: seed))
    }

    /// Milliseconds on the node's clock.
    public func now() -> Int64 { Int64(clock.nanoseconds() / 1_000_000) }

    /// Reads the state machine (for status and tests).
    public func withMonitor<R>(_ body: (SentinelMonitor) -> R) -> R { state.withLock { body($0) } }

    /// Advances the state machine once and starts the actions due.
    public func tick() {
        let now = self.now()
        let (actions, events) = state.withLock { m in (m.tick(now: now), m.drainEvents()) }
        for e in events { onEvent(e) }
        submit(actions)
    }

    /// Executes a command received over RESP (`resp3`: the connection said `HELLO 3`).
    public func execute(_ arguments: [String], resp3: Bool = false) -> RESPValue {
        let now = self.now()
        let port = serverPort.load(ordering: .relaxed)
        let (reply, events) = state.withLock { m in (m.execute(arguments, now: now, serverPort: port, resp3: resp3), m.drainEvents()) }
        for e in events { onEvent(e) }
        return reply
    }

    private func submit(_ actions: [SentinelAction]) {
        for action in actions {
            let queue = queues.withLock { q in
                if let existing = q[action.target] { return existing }
                let created = DispatchQueue(label: "kvlab.sentinel.\(action.target)")
                q[action.target] = created
                return created
            }
            queue.async { [self] in
                guard !stopped.load(ordering: .relaxed) else { return }
                let outcome = links.perform(action)
                deliver(outcome)
            }
        }
    }

    private func deliver(_ outcome: SentinelOutcome) {
        let now = self.now()
        let (actions, events) = state.withLock { m in (m.handle(outcome, now: now), m.drainEvents()) }
        for e in events { onEvent(e) }
        submit(actions)
    }

    /// Ticks every `tickMilliseconds` on a thread of its own until `stop()`.
    public func startTicking() {
        guard !running.exchange(true, ordering: .relaxed) else { return }
        let thread = DispatchQueue(label: "kvlab.sentinel.timer")
        thread.async { [self] in
            var next = clock.nanoseconds()
            while !stopped.load(ordering: .relaxed) {
                tick()
                next &+= UInt64(tickMilliseconds) * 1_000_000
                clock.sleep(until: next)
            }
        }
    }

    /// Stops ticking; actions already running finish, queued ones are dropped.
    public func stop() { stopped.store(true, ordering: .relaxed) }
}

/// Actions over RESP connections, one kept open per target (reopened after a failure), every
/// socket bound to `sourceHost` when given. PING succeeds on `+PONG`, `-LOADING` or
/// `-MASTERDOWN`; REPLICAOF is followed by `CLIENT KILL TYPE normal` (as Redis Sentinel does,
/// so clients of a demoted or promoted node reconnect and ask again; an error is ignored).
public final class RESPSentinelLinks: SentinelLinks {
    private let connections = Mutex<[RedisEndpoint: RESPConnection]>([:])
    let sourceHost: String?
    let timeoutSeconds: Double
    let password: String?

    /// - Parameters:
    ///   - sourceHost: the local address every outgoing socket is bound to (`--bind`).
    ///   - timeoutSeconds: connect and reply timeout of each call.
    ///   - password: the data nodes' password (AUTH), if any; peers are asked without one.
    public init(sourceHost: String?, timeoutSeconds: Double, password: String? = nil) {
        self.sourceHost = sourceHost
        self.timeoutSeconds = timeoutSeconds
        self.password = password
    }

    public func perform(_ action: SentinelAction) -> SentinelOutcome {
        switch action {
        case .ping(let node):
            let reply = call(node, [["PING"]], auth: true)?.first
            let valid = reply == .simpleString("PONG") || (reply?.text.map { $0.hasPrefix("LOADING") || $0.hasPrefix("MASTERDOWN") } ?? false)
            return .pinged(node, valid: valid)
        case .info(let node):
            guard let replies = call(node, [["INFO", "server"], ["INFO", "replication"]], auth: true),
                  replies.allSatisfy({ !$0.isError }) else { return .info(node, nil) }
            return .info(node, replies.compactMap(\.text).joined(separator: "\r\n"))
        case let .replicaOf(node, primary):
            let command = primary.map { ["REPLICAOF", $0.host, String($0.port)] } ?? ["REPLICAOF", "NO", "ONE"]
            let replies = call(node, [command, ["CLIENT", "KILL", "TYPE", "normal"]], auth: true)
            return .replicaOf(node, primary: primary, succeeded: replies.map { !$0[0].isError } ?? false)
        case let .askPeer(peer, request):
            let replies = call(peer, [["SENTINEL", "is-master-down-by-addr", request.master.host, String(request.master.port),
                                       String(request.epoch), request.runID]], auth: false)
            guard let r = replies?.first?.elements, r.count == 3, case .integer(let down) = r[0], let leader = r[1].text,
                  case .integer(let epoch) = r[2], epoch >= 0 else { return .peerReplied(peer, nil) }
            return .peerReplied(peer, SentinelVoteReply(masterDown: down == 1, leader: leader == "*" ? nil : leader, leaderEpoch: UInt64(epoch)))
        case let .hello(peer, h):
            let replies = call(peer, [["SENTINEL", "HELLO", h.sentinel.host, String(h.sentinel.port), h.runID, String(h.currentEpoch),
                                       h.masterName, h.master.host, String(h.master.port), String(h.configEpoch)]], auth: false)
            return .helloSent(peer, delivered: replies?.first.map { !$0.isError } ?? false)
        }
    }

    /// Sends `commands` pipelined on the target's connection; nil (and the connection dropped)
    /// if the transport failed.
    private func call(_ target: RedisEndpoint, _ commands: [[String]], auth: Bool) -> [RESPValue]? {
        let cached = connections.withLock { $0.removeValue(forKey: target) }
        do {
            let connection = try cached ?? RESPConnection(endpoint: target, password: auth ? password : nil, timeoutSeconds: timeoutSeconds,
                                                          connectTimeoutSeconds: timeoutSeconds, sourceHost: sourceHost)
            let replies = try connection.pipeline(commands)
            connections.withLock { $0[target] = connection }
            return replies
        } catch {
            cached?.close()
            return nil
        }
    }
}
