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
public final class RedisClusterClient: @unchecked Sendable {
    let password: String?
    let timeoutSeconds: Double
    /// Owner of each slot, an index into `nodes`; -1 = unknown.
    var slotOwners = [Int](repeating: -1, count: ClusterSlot.count)
    private(set) var nodes: [RedisEndpoint] = []
    private var connections: [RedisEndpoint: RESPConnection] = [:]
    let seeds: [RedisEndpoint]
    public let maxRedirections = 16
    /// Redirections followed so far (tests, reports).
    public private(set) var movedCount = 0
    public private(set) var askCount = 0

    /// Connects to a seed node and loads the slot map with CLUSTER SLOTS.
    public init(seeds: [RedisEndpoint], password: String? = nil, timeoutSeconds: Double = 30) throws(RESPClientError) {
        self.seeds = seeds
        self.password = password
        self.timeoutSeconds = timeoutSeconds
        try refreshSlots()
    }

    /// The known nodes (masters owning slots).
    public var knownNodes: [RedisEndpoint] { nodes }

    /// The node that owns `slot` in the current map.
    public func owner(ofSlot slot: Int) -> RedisEndpoint? {
        let i = slotOwners[slot]
        return i >= 0 ? nodes[i] : nil
    }

    /// A connection to `endpoint`, opened on first use.
    public func connection(to endpoint: RedisEndpoint) throws(RESPClientError) -> RESPConnection {
        if let c = connections[endpoint], c.isOpen { return c }
        let c = try RESPConnection(endpoint: endpoint, password: password, timeoutSeconds: timeoutSeconds)
        connections[endpoint] = c
        return c
    }

    /// Reloads the slot map from any reachable node (seeds first, then known nodes).
    public func refreshSlots() throws(RESPClientError) {
        var lastError: RESPClientError = .cluster("no seed node given")
        for endpoint in seeds + nodes {
            do {
                let reply = try connection(to: endpoint).call(["CLUSTER", "SLOTS"])
                try apply(slots: reply, from: endpoint)
                return
            } catch {
                lastError = error
                connections[endpoint]?.close()
                connections[endpoint] = nil
            }
        }
        throw lastError
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

    /// Sends a command whose key is `arguments[keyIndex]` to the slot's owner, following redirections.
    public func call(_ arguments: [[UInt8]], keyIndex: Int = 1) throws(RESPClientError) -> RESPValue {
        let slot = arguments.count > keyIndex ? ClusterSlot.slot(of: arguments[keyIndex]) : 0
        guard var target = owner(ofSlot: slot) ?? nodes.first ?? seeds.first else { throw .cluster("no node owns slot \(slot)") }
        var asking = false
        for _ in 0...maxRedirections {
            let c = try connection(to: target)
            if asking { c.append(["ASKING"]) }
            c.append(arguments: arguments)
            if asking { _ = try c.readReply() }
            let reply = try c.readReply()
            guard case .error(let message) = reply, let r = Self.redirection(message) else { return reply }
            if r.ask {
                askCount += 1
                asking = true
            } else {
                movedCount += 1
                asking = false
                // The slot moved: learn the new owner now, and the whole new map.
                if let i = nodes.firstIndex(of: r.endpoint) { slotOwners[r.slot] = i } else {
                    nodes.append(r.endpoint)
                    slotOwners[r.slot] = nodes.count - 1
                }
                try? refreshSlots()
            }
            target = r.endpoint
        }
        throw .cluster("more than \(maxRedirections) redirections for slot \(slot)")
    }

    /// Text-argument form of `call`.
    public func call(_ arguments: [String], keyIndex: Int = 1) throws(RESPClientError) -> RESPValue {
        try call(arguments.map { Array($0.utf8) }, keyIndex: keyIndex)
    }

    /// Sends several keyed commands, pipelined per node, and returns their replies in order.
    /// Commands answered with MOVED or ASK are re-sent one at a time through `call`.
    public func pipeline(_ commands: [[[UInt8]]], keyIndex: Int = 1) throws(RESPClientError) -> [RESPValue] {
        var byNode: [RedisEndpoint: [Int]] = [:]
        for (i, c) in commands.enumerated() {
            let slot = c.count > keyIndex ? ClusterSlot.slot(of: c[keyIndex]) : 0
            guard let node = owner(ofSlot: slot) ?? nodes.first else { throw .cluster("no node owns slot \(slot)") }
            byNode[node, default: []].append(i)
        }
        var replies = [RESPValue](repeating: .null, count: commands.count)
        for (node, indices) in byNode {
            let c = try connection(to: node)
            for i in indices { c.append(arguments: commands[i]) }
            try c.flush()
            for i in indices { replies[i] = try c.readReply() }
        }
        for i in replies.indices {
            if case .error(let m) = replies[i], Self.redirection(m) != nil {
                replies[i] = try call(commands[i], keyIndex: keyIndex)
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
