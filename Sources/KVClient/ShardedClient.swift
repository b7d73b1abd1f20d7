// A client of several independent RESP servers as one keyspace: each command goes to its key's node by a ShardRouter.

import RESP

/// A client that sends keyed commands to whichever server owns the key: a Redis Cluster
/// client, or a `ShardedClient` over a ring of plain servers.
public protocol KeyRoutedClient: AnyObject {
    /// Sends keyed commands, pipelined per node, returning each one's outcome in order.
    func pipelineResults(_ commands: [[[UInt8]]], keyIndex: Int) -> [Result<RESPValue, RESPClientError>]
    /// Closes every connection.
    func close()
}

extension RedisClusterClient: KeyRoutedClient {}

/// Client-side sharding over plain RESP servers (kvlab serve, Redis without cluster mode): one
/// connection per node, reopened with backoff when lost, each command routed by its key
/// (`arguments[keyIndex]`) through a `ShardRouter` built from the node list. Servers know
/// nothing of each other; every client computes the same owner from the same node list.
///
/// With a topology file (`ShardTargetOptions.topologyFile`) the node list can change while
/// clients run: the file is re-read at most every `pollSeconds`, and during a move
/// (`RingPhase.migrating`/`.switching`) a write goes to the key's owner under both the old and
/// the new node list (see `RingPhase`). A write is acknowledged only when every owner it went
/// to acknowledged it; a read goes to one owner.
///
/// One instance per thread (like `RESPConnection`).
public final class ShardedClient: KeyRoutedClient, @unchecked Sendable {
    public let options: ShardTargetOptions
    let password: String?
    let settings: ConnectionSettings
    let clock: any ClientClock
    /// The router reads use (and writes' first owner), and the other router writes also go to during a move.
    public private(set) var router: any ShardRouter
    public private(set) var secondary: (any ShardRouter)?
    /// Whether reads follow `router` (always) — kept for reports: the phase and epoch in force.
    public private(set) var phase: RingPhase = .stable
    public private(set) var epoch = -1
    /// The last error reading the topology file (the client keeps its previous routing meanwhile).
    public private(set) var topologyError: RingTopologyError?
    private var nextPoll: UInt64 = 0
    private var connections: [String: ReconnectingConnection] = [:]
    /// Commands sent to each node (tests and reports).
    public private(set) var commandsPerNode: [String: Int] = [:]

    /// - Parameters:
    ///   - nodes: the servers, in URL order (the node list used until a topology file says otherwise).
    ///   - options: router, hash, virtual nodes, weights and topology file.
    /// - Throws: `RESPClientError.invalidURL` when no router can be built over `nodes`, or the
    ///   topology file exists but cannot be read or parsed (a missing one is waited for).
    public init(nodes: [RedisEndpoint], options: ShardTargetOptions, password: String? = nil,
                settings: ConnectionSettings = ConnectionSettings(), clock: any ClientClock = SystemClientClock()) throws(RESPClientError) {
        self.options = options
        self.password = password
        self.settings = settings
        self.clock = clock
        do { router = try options.router.makeRouter(nodes: nodes.map(\.description), weights: options.weights) } catch {
            throw .invalidURL(nodes.map(\.description).joined(separator: ","), reason: error.description)
        }
        pollTopology(force: true)
        // A bad file at start is the user's mistake, not a rewrite in progress: before this,
        // a garbage topology file was ignored and the run routed by the URL's nodes silently.
        if let topologyError {
            throw .invalidURL(nodes.map(\.description).joined(separator: ","), reason: topologyError.description)
        }
    }

    /// Convenience: a client for a parsed `ring://` target.
    public convenience init(target: RedisTarget, settings: ConnectionSettings = ConnectionSettings(),
                            clock: any ClientClock = SystemClientClock()) throws(RESPClientError) {
        guard let shard = target.shard else { throw .invalidURL("\(target.endpoints)", reason: "not a ring:// target") }
        try self.init(nodes: target.endpoints, options: shard, password: target.password, settings: settings, clock: clock)
    }

    /// Re-reads the topology file when due (or now, with `force`), and rebuilds the routers when its epoch changed.
    public func pollTopology(force: Bool = false) {
        guard let path = options.topologyFile else { return }
        let now = clock.nanoseconds()
        guard force || now >= nextPoll else { return }
        nextPoll = now &+ UInt64(options.pollSeconds * 1e9)
        let topology: RingTopology?
        do { topology = try RingTopology.read(path: path) } catch {
            topologyError = error
            return
        }
        guard let topology, topology.epoch != epoch else { return }
        do {
            let current = try options.router.makeRouter(nodes: topology.nodes)
            let previous = try topology.previous.map { (p) throws(ShardRouterError) in try options.router.makeRouter(nodes: p) }
            switch topology.phase {
            case .stable: router = current; secondary = nil
            case .migrating: router = previous ?? current; secondary = current
            case .switching: router = current; secondary = previous
            }
            phase = topology.phase
            epoch = topology.epoch
            topologyError = nil
        } catch {
            topologyError = .malformed(file: path, line: 0, error.description)
        }
    }

    /// Commands that only read: they go to one owner.
    static let readCommands: Set<[UInt8]> = Set(["GET", "MGET", "HGET", "HMGET", "HGETALL", "EXISTS", "TYPE", "TTL", "PTTL",
                                                 "STRLEN", "ZSCORE", "ZRANGE", "ZRANGEBYSCORE", "ZCARD", "SMEMBERS", "SISMEMBER",
                                                 "SCARD", "LRANGE", "LLEN", "HLEN", "HEXISTS", "GETRANGE", "DUMP"].map { Array($0.utf8) })

    static func isRead(_ command: [[UInt8]]) -> Bool {
        guard let name = command.first else { return true }
        if name.allSatisfy({ $0 < 0x61 || $0 > 0x7A }) { return readCommands.contains(name) }
        return readCommands.contains(name.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 32 : $0 })
    }

    /// The connection to `node`, created on first use.
    func link(_ node: String) -> ReconnectingConnection {
        if let c = connections[node] { return c }
        let parts = node.split(separator: ":")
        let endpoint = RedisEndpoint(host: parts.dropLast().joined(separator: ":"), port: Int(parts.last ?? "") ?? 6379)
        let c = ReconnectingConnection(unconnected: endpoint, password: password, settings: settings, clock: clock)
        connections[node] = c
        return c
    }

    /// The node names a command goes to: its owner, and during a move the other owner of a write.
    public func owners(of command: [[UInt8]], keyIndex: Int = 1) -> [String] {
        let key = command.count > keyIndex ? command[keyIndex] : []
        let first = router.nodes[router.node(forKey: key)]
        guard let secondary, !Self.isRead(command) else { return [first] }
        let second = secondary.nodes[secondary.node(forKey: key)]
        return second == first ? [first] : [first, second]
    }

    /// Sends several keyed commands, pipelined per node, and returns each one's outcome in order:
    /// the reply of its first owner, unless an owner could not be reached, lost the reply or
    /// answered an error, in which case that failure (an unacknowledged write is not a success).
    public func pipelineResults(_ commands: [[[UInt8]]], keyIndex: Int = 1) -> [Result<RESPValue, RESPClientError>] {
        pollTopology()
        var results = [Result<RESPValue, RESPClientError>](repeating: .success(.null), count: commands.count)
        // Per node, in send order: (command index, is the first owner).
        var byNode: [String: [(Int, Bool)]] = [:]
        var order: [String] = []
        for (i, c) in commands.enumerated() {
            for (n, node) in owners(of: c, keyIndex: keyIndex).enumerated() {
                if byNode[node] == nil { order.append(node) }
                byNode[node, default: []].append((i, n == 0))
            }
        }
        var secondFailures: [Int: Result<RESPValue, RESPClientError>] = [:]
        // Write to every node before reading any reply, so the nodes work in parallel.
        var sent: [String: Bool] = [:]
        for node in order {
            let r = link(node)
            do {
                let c = try r.connection()
                for (i, _) in byNode[node]! { c.append(arguments: commands[i]) }
                try c.flush()
                sent[node] = true
                commandsPerNode[node, default: 0] += byNode[node]!.count
            } catch {
                r.failed()
                sent[node] = false
                for (i, first) in byNode[node]! {
                    if first { results[i] = .failure(error) } else { secondFailures[i] = .failure(error) }
                }
            }
        }
        for node in order where sent[node] == true {
            let r = link(node)
            let entries = byNode[node]!
            var read = 0
            do {
                let c = try r.connection()
                for (i, first) in entries {
                    let reply = try c.readReply()
                    read += 1
                    if first { results[i] = .success(reply) } else if reply.isError { secondFailures[i] = .success(reply) }
                }
                r.succeeded()
            } catch {
                r.failed()
                for (i, first) in entries[read...] {
                    if first { results[i] = .failure(error) } else { secondFailures[i] = .failure(error) }
                }
            }
        }
        for (i, failure) in secondFailures {
            if case .success(let reply) = results[i], !reply.isError { results[i] = failure }
        }
        return results
    }

    /// Sends one keyed command to its owner(s) and returns the reply (see `pipelineResults`).
    /// - Throws: the connection error if an owner could not be reached or its reply was lost.
    public func call(_ arguments: [[UInt8]], keyIndex: Int = 1) throws(RESPClientError) -> RESPValue {
        try pipelineResults([arguments], keyIndex: keyIndex)[0].get()
    }

    /// Text-argument form of `call`.
    public func call(_ arguments: [String], keyIndex: Int = 1) throws(RESPClientError) -> RESPValue {
        try call(arguments.map { Array($0.utf8) }, keyIndex: keyIndex)
    }

    public func close() {
        for c in connections.values { c.close() }
        connections = [:]
    }
}
