// Redis Cluster routing: CRC16 hash slots with hash tags, the CLUSTER SLOTS map, MOVED and ASK.

import RESP

/// Redis Cluster's key-to-slot function.
public enum ClusterSlot {
    public static let count = 16384

    /// CRC16-CCITT (XModem: polynomial 0x1021, initial 0), as Redis Cluster uses.
    public static func crc16(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var crc: UInt16 = 0
        for b in bytes {
            crc ^= UInt16(b) << 8
            for _ in 0..<8 { crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }

    /// The slot of `key`: CRC16 of the key, or of its hash tag — the bytes between the first
    /// `{` and the next `}` when that is not empty — modulo 16384.
    public static func slot(of key: UnsafeRawBufferPointer) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
           let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(UnsafeRawBufferPointer(rebasing: key[(open + 1)..<close]))) & (count - 1)
        }
        return Int(crc16(key)) & (count - 1)
    }

    public static func slot(of key: [UInt8]) -> Int { key.withUnsafeBytes { slot(of: $0) } }
    public static func slot(of key: String) -> Int { slot(of: Array(key.utf8)) }
}

/// A client of one Redis Cluster, for one thread: a connection per node, commands routed by
/// their key's slot, MOVED (the slot moved for good: the map is refreshed) and ASK (the slot is
/// migrating: ASKING, then the command, on the named node) followed up to `maxRedirections` times.
///
/// Under faults: a node that cannot be reached or drops the connection makes the client reload
/// the slot map (`CLUSTER SLOTS` from another node, at most once per `minimumRefreshSeconds`,
/// so a dead node does not turn every command into a map reload; a MOVED reloads it at once) and, when the command was
/// never sent and the slot now has another owner, send it there. Reconnecting to a node that
/// failed waits `settings.backoff`, growing while it keeps failing. `TRYAGAIN` (a multi-key
/// command during a resharding), `CLUSTERDOWN` (the cluster lost a slot range, e.g. while a
/// replica is being promoted) and `LOADING` (a node still loading its data) are retried after
/// the same backoff, up to `retryLimit` times; then the error reply is returned.
public final class RedisClusterClient: @unchecked Sendable {
    let password: String?
    public let settings: ConnectionSettings
    let clock: any ClientClock
    /// Owner of each slot, an index into `nodes`; -1 = unknown.
    var slotOwners = [Int](repeating: -1, count: ClusterSlot.count)
    private(set) var nodes: [RedisEndpoint] = []
    private var connections: [RedisEndpoint: RESPConnection] = [:]
    /// Consecutive failures and the earliest next connection attempt, per node that failed.
    private var nodeBackoff: [RedisEndpoint: (failures: Int, nextAttempt: UInt64)] = [:]
    let seeds: [RedisEndpoint]
    public let maxRedirections = 16
    /// Retries of TRYAGAIN, CLUSTERDOWN and LOADING before the error reply is returned.
    public let retryLimit: Int
    /// The least time between two slot map reloads caused by failures or redirections.
    public let minimumRefreshSeconds: Double
    private var lastRefresh: UInt64?
    /// Redirections followed so far (tests, reports).
    public private(set) var movedCount = 0
    public private(set) var askCount = 0
    /// Slot map reloads done (the initial one included).
    public private(set) var refreshCount = 0
    /// Commands re-sent after TRYAGAIN, CLUSTERDOWN or LOADING.
    public private(set) var retryCount = 0

    /// Connects to a seed node and loads the slot map with CLUSTER SLOTS.
    public convenience init(seeds: [RedisEndpoint], password: String? = nil, timeoutSeconds: Double = 30) throws(RESPClientError) {
        try self.init(seeds: seeds, password: password, settings: ConnectionSettings(ioTimeoutSeconds: timeoutSeconds))
    }

    /// Connects to a seed node and loads the slot map with CLUSTER SLOTS.
    /// - Parameters:
    ///   - retryLimit: retries of TRYAGAIN, CLUSTERDOWN and LOADING replies (6 waits of the
    ///     default backoff add up to about 0.6 s).
    ///   - minimumRefreshSeconds: the least time between failure-driven slot map reloads.
    public init(seeds: [RedisEndpoint], password: String? = nil, settings: ConnectionSettings,
                retryLimit: Int = 6, minimumRefreshSeconds: Double = 0.1,
                clock: any ClientClock = SystemClientClock()) throws(RESPClientError) {
        self.seeds = seeds
        self.password = password
        self.settings = settings
        self.retryLimit = max(0, retryLimit)
        self.minimumRefreshSeconds = max(0, minimumRefreshSeconds)
        self.clock = clock
        try refreshSlots()
    }

    /// The known nodes (masters owning slots).
    public var knownNodes: [RedisEndpoint] { nodes }

    /// The node that owns `slot` in the current map.
    public func owner(ofSlot slot: Int) -> RedisEndpoint? {
        let i = slotOwners[slot]
        return i >= 0 ? nodes[i] : nil
    }

    /// A connection to `endpoint`, opened on first use. Reopening one to a node that failed
    /// waits out that node's backoff first (or, with `waiting` false, fails at once).
    public func connection(to endpoint: RedisEndpoint, waiting: Bool = true) throws(RESPClientError) -> RESPConnection {
        if let c = connections[endpoint], c.isOpen { return c }
        connections[endpoint] = nil
        if let backoff = nodeBackoff[endpoint] {
            if !waiting && clock.nanoseconds() < backoff.nextAttempt {
                throw .connect(endpoint: endpoint.description, message: "backing off after \(backoff.failures) failures")
            }
            clock.sleep(until: backoff.nextAttempt)
        }
        do {
            let c = try RESPConnection(endpoint: endpoint, password: password, timeoutSeconds: settings.ioTimeoutSeconds,
                                       connectTimeoutSeconds: settings.connectTimeoutSeconds, sourceHost: settings.sourceHost)
            connections[endpoint] = c
            return c
        } catch {
            nodeFailed(endpoint)
            throw error
        }
    }

    /// Records a failure of `endpoint` (connect or I/O): its connection is dropped and the
    /// next attempt waits longer.
    private func nodeFailed(_ endpoint: RedisEndpoint) {
        connections[endpoint]?.close()
        connections[endpoint] = nil
        let failures = (nodeBackoff[endpoint]?.failures ?? 0) + 1
        nodeBackoff[endpoint] = (failures, clock.nanoseconds() &+ settings.backoff.delayNanoseconds(afterFailures: failures))
    }

    private func nodeAnswered(_ endpoint: RedisEndpoint) {
        if nodeBackoff[endpoint] != nil { nodeBackoff[endpoint] = nil }
    }

    /// Reloads the slot map from any reachable node: seeds first, then known nodes, nodes in
    /// backoff last and without waiting for them.
    public func refreshSlots() throws(RESPClientError) {
        lastRefresh = clock.nanoseconds()
        var lastError: RESPClientError = .cluster("no seed node given")
        var candidates: [RedisEndpoint] = []
        for e in seeds + nodes where !candidates.contains(e) { candidates.append(e) }
        let healthy = candidates.filter { nodeBackoff[$0] == nil }
        let failing = candidates.filter { nodeBackoff[$0] != nil }
        for endpoint in healthy + failing {
            let reply: RESPValue
            do {
                reply = try connection(to: endpoint, waiting: false).call(["CLUSTER", "SLOTS"])
            } catch {
                if case .io = error { nodeFailed(endpoint) } else if case .closed = error { nodeFailed(endpoint) }
                lastError = error
                continue
            }
            nodeAnswered(endpoint)
            do {
                try apply(slots: reply, from: endpoint)
                refreshCount += 1
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// Reloads the map unless one was loaded less than `minimumRefreshSeconds` ago; a failure
    /// to reload keeps the old map (the next failure tries again).
    /// - Returns: whether a reload succeeded.
    @discardableResult
    func refreshIfDue() -> Bool {
        if let lastRefresh, clock.nanoseconds() &- lastRefresh < UInt64(minimumRefreshSeconds * 1e9) { return false }
        do { try refreshSlots(); return true } catch { return false }
    }

    private func apply(slots reply: RESPValue, from endpoint: RedisEndpoint) throws(RESPClientError) {
        if case .error(let message) = reply { throw .cluster("CLUSTER SLOTS on \(endpoint): \(message)") }
        guard let ranges = reply.elements else { throw .cluster("CLUSTER SLOTS on \(endpoint): expected an array, got \(reply)") }
        var owners = [Int](repeating: -1, count: ClusterSlot.count)
        var list: [RedisEndpoint] = []
        for range in ranges {
            guard let items = range.elements, items.count >= 3,
                  case .integer(let start) = items[0], case .integer(let end) = items[1],
                  let master = items[2].elements, master.count >= 2, case .integer(let port) = master[1],
                  start >= 0, end < ClusterSlot.count, start <= end else {
                throw .cluster("CLUSTER SLOTS on \(endpoint): malformed entry \(range)")
            }
            var host = master[0].text ?? ""
            if host.isEmpty || host == "?" { host = endpoint.host }
            let node = RedisEndpoint(host: host, port: Int(port))
            let index: Int
            if let i = list.firstIndex(of: node) { index = i } else { index = list.count; list.append(node) }
            for s in Int(start)...Int(end) { owners[s] = index }
        }
        slotOwners = owners
        nodes = list
    }

    /// Parses "MOVED 3999 127.0.0.1:6381" / "ASK ..." into the slot and endpoint.
    static func redirection(_ message: String) -> (ask: Bool, slot: Int, endpoint: RedisEndpoint)? {
        let parts = message.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]),
              let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]) else { return nil }
        return (parts[0] == "ASK", slot, RedisEndpoint(host: String(parts[2][..<colon]), port: port))
    }

    /// Whether an error reply is one a cluster client retries after a wait: TRYAGAIN,
    /// CLUSTERDOWN (the cluster is down or a slot is unbound) and LOADING.
    public static func isRetryable(_ message: String) -> Bool {
        message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN") || message.hasPrefix("LOADING")
    }

    /// Learns that `slot` moved to `endpoint` (from MOVED), and reloads the whole map: a MOVED
    /// comes from a live node and says the map changed (a resharding moves many slots, a
    /// failover a whole range), so, unlike a failure, it is not rate-limited.
    private func learnMoved(slot: Int, to endpoint: RedisEndpoint) {
        movedCount += 1
        if let i = nodes.firstIndex(of: endpoint) { slotOwners[slot] = i } else {
            nodes.append(endpoint)
            slotOwners[slot] = nodes.count - 1
        }
        try? refreshSlots()
    }

    /// Sends a command whose key is `arguments[keyIndex]` to the slot's owner, following
    /// redirections and retrying TRYAGAIN, CLUSTERDOWN and LOADING (see the type's comment).
    /// - Throws: the connection error when the command could not be sent to any owner, or was
    ///   sent and its reply lost (it may have been executed: it is not re-sent).
    public func call(_ arguments: [[UInt8]], keyIndex: Int = 1) throws(RESPClientError) -> RESPValue {
        let slot = arguments.count > keyIndex ? ClusterSlot.slot(of: arguments[keyIndex]) : 0
        guard var target = owner(ofSlot: slot) ?? nodes.first ?? seeds.first else { throw .cluster("no node owns slot \(slot)") }
        var asking = false
        var redirections = 0
        var retries = 0
        while true {
            let c: RESPConnection
            do {
                c = try connection(to: target)
            } catch {
                // Not sent: reload the map, and go to the slot's new owner if it has one.
                refreshIfDue()
                if !asking, let owner = owner(ofSlot: slot), owner != target, redirections < maxRedirections {
                    redirections += 1
                    target = owner
                    continue
                }
                throw error
            }
            let reply: RESPValue
            do {
                if asking { c.append(["ASKING"]) }
                c.append(arguments: arguments)
                if asking { _ = try c.readReply() }
                reply = try c.readReply()
            } catch {
                nodeFailed(target)
                refreshIfDue()
                throw error
            }
            nodeAnswered(target)
            guard case .error(let message) = reply else { return reply }
            if let r = Self.redirection(message) {
                redirections += 1
                guard redirections <= maxRedirections else { break }
                if r.ask {
                    askCount += 1
                    asking = true
                } else {
                    asking = false
                    learnMoved(slot: r.slot, to: r.endpoint)
                }
                target = r.endpoint
                continue
            }
            guard Self.isRetryable(message), retries < retryLimit else { return reply }
            retries += 1
            retryCount += 1
            clock.sleep(until: clock.nanoseconds() &+ settings.backoff.delayNanoseconds(afterFailures: retries))
            if message.hasPrefix("CLUSTERDOWN") && !asking {
                // A failover may have given the slot to another node: ask for the map again.
                refreshIfDue()
                target = owner(ofSlot: slot) ?? target
            }
        }
        throw .cluster("more than \(maxRedirections) redirections for slot \(slot)")
    }

    /// Text-argument form of `call`.
    public func call(_ arguments: [String], keyIndex: Int = 1) throws(RESPClientError) -> RESPValue {
        try call(arguments.map { Array($0.utf8) }, keyIndex: keyIndex)
    }

    /// Sends several keyed commands, pipelined per node, and returns each one's outcome in
    /// order: a reply, or the error that kept it from being sent or its reply from arriving
    /// (a node's failure fails only the commands routed to it). Commands answered with MOVED,
    /// ASK, TRYAGAIN, CLUSTERDOWN or LOADING, and commands that could not be sent, are then
    /// re-sent one at a time through `call`; commands whose reply was lost are not.
    public func pipelineResults(_ commands: [[[UInt8]]], keyIndex: Int = 1) -> [Result<RESPValue, RESPClientError>] {
        var byNode: [RedisEndpoint: [Int]] = [:]
        var results = [Result<RESPValue, RESPClientError>](repeating: .success(.null), count: commands.count)
        var unsent: [Int] = []
        for (i, c) in commands.enumerated() {
            let slot = c.count > keyIndex ? ClusterSlot.slot(of: c[keyIndex]) : 0
            guard let node = owner(ofSlot: slot) ?? nodes.first else {
                results[i] = .failure(.cluster("no node owns slot \(slot)"))
                continue
            }
            byNode[node, default: []].append(i)
        }
        var anyFailed = false
        for (node, indices) in byNode {
            let c: RESPConnection
            do { c = try connection(to: node) } catch {
                anyFailed = true
                unsent += indices
                for i in indices { results[i] = .failure(error) }
                continue
            }
            for i in indices { c.append(arguments: commands[i]) }
            var read = 0
            do {
                try c.flush()
                for i in indices {
                    results[i] = .success(try c.readReply())
                    read += 1
                }
                nodeAnswered(node)
            } catch {
                anyFailed = true
                nodeFailed(node)
                for i in indices[read...] { results[i] = .failure(error) }
            }
        }
        if anyFailed { refreshIfDue() }
        for i in unsent.sorted() {
            do { results[i] = .success(try call(commands[i], keyIndex: keyIndex)) } catch { results[i] = .failure(error) }
        }
        for i in results.indices {
            if case .success(.error(let m)) = results[i], Self.redirection(m) != nil || Self.isRetryable(m) {
                do { results[i] = .success(try call(commands[i], keyIndex: keyIndex)) } catch { results[i] = .failure(error) }
            }
        }
        return results
    }

    /// Sends several keyed commands, pipelined per node, and returns their replies in order
    /// (see `pipelineResults`). - Throws: the first command's error, if any failed.
    public func pipeline(_ commands: [[[UInt8]]], keyIndex: Int = 1) throws(RESPClientError) -> [RESPValue] {
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for result in pipelineResults(commands, keyIndex: keyIndex) {
            switch result {
            case .success(let reply): replies.append(reply)
            case .failure(let error): throw error
            }
        }
        return replies
    }

    /// Closes every connection.
    public func close() {
        for c in connections.values { c.close() }
        connections = [:]
    }
}
