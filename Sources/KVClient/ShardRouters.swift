// Key-to-shard routers: a consistent-hash ring with virtual nodes, jump consistent hash, rendezvous hashing, Redis slots.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Maps a key to one of `nodes`. Every router here is a pure function of its node list (and
/// options): two clients built from the same list route every key alike, which is what lets
/// many independent driver processes share one sharded keyspace without talking to each other.
public protocol ShardRouter: Sendable {
    /// The nodes, by name ("host:port"); `node(forKey:)` returns an index into this list.
    var nodes: [String] { get }
    /// The index in `nodes` of the node that owns `key`.
    func node(forKey key: UnsafeRawBufferPointer) -> Int
}

extension ShardRouter {
    /// The index of the node that owns `key`.
    public func node(forKey key: [UInt8]) -> Int { key.withUnsafeBytes { node(forKey: $0) } }
    /// The index of the node that owns the UTF-8 bytes of `key`.
    public func node(forKey key: String) -> Int { node(forKey: Array(key.utf8)) }
}

/// Which routing algorithm a sharded target uses.
public enum RouterKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// A consistent-hash ring with virtual nodes (Karger et al.; ketama, Dynamo, Cassandra).
    case ring
    /// Jump consistent hash (Lamping & Veach 2014): no memory, perfect balance, but nodes are
    /// numbered: only the last one can leave.
    case jump
    /// Rendezvous / highest-random-weight hashing (Thaler & Ravishankar 1996): every node
    /// scores every key; O(nodes) per key.
    case rendezvous
    /// Redis Cluster's 16384 CRC16 slots, in contiguous even ranges as `redis-cli --cluster create` assigns them.
    case slots

    public var description: String { rawValue }
}

/// The most points one node may have on a consistent-hash ring (vnodes × weight).
let maximumRingPointsPerNode: Double = 1_048_576

/// Why a router could not be built.
public enum ShardRouterError: Error, Sendable, Equatable, CustomStringConvertible {
    case noNodes
    case duplicateNode(String)
    case weightCount(nodes: Int, weights: Int)
    case invalidWeight(node: String, weight: Double)
    case weightsUnsupported(RouterKind)
    case invalidVirtualNodes(Int)

    public var description: String {
        switch self {
        case .noNodes: "a router needs at least one node"
        case .duplicateNode(let n): "node \(n) is listed twice: expected distinct host:port names"
        case let .weightCount(nodes, weights): "\(weights) weights for \(nodes) nodes: expected one weight per node"
        case let .invalidWeight(node, weight): "weight \(weight) of node \(node): expected a finite number > 0 (and at most \(Int(maximumRingPointsPerNode)) ring points per node: vnodes × weight)"
        case .weightsUnsupported(let kind): "router \(kind) does not take weights: expected every weight to be 1 (use ring or rendezvous)"
        case .invalidVirtualNodes(let v): "vnodes=\(v): expected 1...65536 virtual nodes per node"
        }
    }
}

/// What a router is built from, apart from its node list: the algorithm and its options.
public struct RouterOptions: Sendable, Hashable, CustomStringConvertible {
    public var kind: RouterKind
    public var hash: KeyHashFunction
    /// Ring points per node of weight 1.
    public var virtualNodes: Int

    public static let defaultVirtualNodes = 160

    public init(kind: RouterKind = .ring, hash: KeyHashFunction = .xxh64, virtualNodes: Int = RouterOptions.defaultVirtualNodes) {
        self.kind = kind
        self.hash = hash
        self.virtualNodes = virtualNodes
    }

    /// Builds the router over `nodes` (weights default to 1 each).
    /// - Throws: `ShardRouterError` for an empty or duplicated node list, or bad weights.
    public func makeRouter(nodes: [String], weights: [Double]? = nil) throws(ShardRouterError) -> any ShardRouter {
        switch kind {
        case .ring: try ConsistentHashRing(nodes: nodes, weights: weights, virtualNodes: virtualNodes, hash: hash)
        case .rendezvous: try RendezvousRouter(nodes: nodes, weights: weights, hash: hash)
        case .jump: try JumpHashRouter(nodes: nodes, weights: weights, hash: hash)
        case .slots: try RedisSlotRouter(nodes: nodes, weights: weights)
        }
    }

    public var description: String {
        switch kind {
        case .ring: "ring(\(hash), vnodes=\(virtualNodes))"
        case .jump, .rendezvous: "\(kind)(\(hash))"
        case .slots: "redis-slots(crc16)"
        }
    }
}

func validate(nodes: [String], weights: [Double]?) throws(ShardRouterError) -> [Double] {
    guard !nodes.isEmpty else { throw .noNodes }
    var seen = Set<String>()
    for n in nodes where !seen.insert(n).inserted { throw .duplicateNode(n) }
    guard let weights else { return [Double](repeating: 1, count: nodes.count) }
    guard weights.count == nodes.count else { throw .weightCount(nodes: nodes.count, weights: weights.count) }
    for (n, w) in zip(nodes, weights) where !(w.isFinite && w > 0) { throw .invalidWeight(node: n, weight: w) }
    return weights
}

/// SplitMix64's finalizer: a bijective 64-bit mixer, used to combine a key hash with a node hash.
@inlinable
public func mix64(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A consistent-hash ring: each node owns `virtualNodes × weight` points, placed at the hash of
/// "name#i"; a key belongs to the first point at or after its hash, wrapping around.
///
/// Because a node's points depend only on its own name, adding a node takes over only the arcs
/// just before its points (≈ 1/(N+1) of the keys) and moves nothing between existing nodes.
/// More points per node smooth the balance: the spread of a node's share shrinks roughly as
/// 1/√vnodes (with 160, per-node load stays within about ±10–15% of the mean).
public struct ConsistentHashRing: ShardRouter {
    public let nodes: [String]
    public let weights: [Double]
    public let virtualNodes: Int
    public let hash: KeyHashFunction
    /// Ring points in ascending order, and each point's node.
    let points: [UInt64]
    let owners: [UInt32]

    /// - Throws: `ShardRouterError` for no nodes, duplicates, bad weights or a bad vnode count.
    public init(nodes: [String], weights: [Double]? = nil, virtualNodes: Int = RouterOptions.defaultVirtualNodes,
                hash: KeyHashFunction = .xxh64) throws(ShardRouterError) {
        let w = try validate(nodes: nodes, weights: weights)
        guard (1...65536).contains(virtualNodes) else { throw .invalidVirtualNodes(virtualNodes) }
        self.nodes = nodes
        self.weights = w
        self.virtualNodes = virtualNodes
        self.hash = hash
        var all: [(UInt64, UInt32)] = []
        for (i, name) in nodes.enumerated() {
            // A huge weight from a URL must not trap converting to Int nor allocate without bound.
            let points = (Double(virtualNodes) * w[i]).rounded()
            guard points <= maximumRingPointsPerNode else { throw .invalidWeight(node: name, weight: w[i]) }
            let count = max(1, Int(points))
            for v in 0..<count {
                all.append((hash.hash("\(name)#\(v)"), UInt32(i)))
            }
        }
        // Ties (two points at one position) go to the node listed first, whatever the insertion order.
        all.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        points = all.map(\.0)
        owners = all.map(\.1)
    }

    public func node(forKey key: UnsafeRawBufferPointer) -> Int { node(forHash: hash.hash(key)) }

    /// The node owning ring position `h`.
    public func node(forHash h: UInt64) -> Int {
        var low = 0, high = points.count
        while low < high {
            let mid = (low + high) / 2
            if points[mid] < h { low = mid + 1 } else { high = mid }
        }
        return Int(owners[low == points.count ? 0 : low])
    }

    /// The fraction of the hash space each node owns (the expected share of uniformly hashed keys).
    public var ownership: [Double] {
        var share = [Double](repeating: 0, count: nodes.count)
        for i in points.indices {
            let previous = i == 0 ? points[points.count - 1] : points[i - 1]
            let arc = points[i] &- previous
            share[Int(owners[i])] += Double(arc) / 18_446_744_073_709_551_616.0
        }
        if points.count == 1 { share[Int(owners[0])] = 1 }
        return share
    }
}

/// Jump consistent hash over numbered nodes: `jump(hash(key), N)`. Growing from N to N+1 moves
/// exactly the keys that go to the new last node (expected 1/(N+1)); removing any node but the last
/// renumbers the rest, so it suits shards that only grow (or replicated shards that never leave).
public struct JumpHashRouter: ShardRouter {
    public let nodes: [String]
    public let hash: KeyHashFunction

    /// - Throws: `ShardRouterError` for no nodes or duplicates, or weights other than 1.
    public init(nodes: [String], weights: [Double]? = nil, hash: KeyHashFunction = .xxh64) throws(ShardRouterError) {
        let w = try validate(nodes: nodes, weights: weights)
        guard w.allSatisfy({ $0 == 1 }) else { throw .weightsUnsupported(.jump) }
        self.nodes = nodes
        self.hash = hash
    }

    /// Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014), figure 1.
    public static func bucket(forHash key: UInt64, buckets: Int) -> Int {
        var k = key
        var b: Int64 = -1
        var j: Int64 = 0
        while j < Int64(buckets) {
            b = j
            k = k &* 2_862_933_555_777_941_757 &+ 1
            j = Int64(Double(b + 1) * (Double(Int64(1) << 31) / Double((k >> 33) + 1)))
        }
        return Int(b)
    }

    public func node(forKey key: UnsafeRawBufferPointer) -> Int {
        Self.bucket(forHash: hash.hash(key), buckets: nodes.count)
    }
}

/// Rendezvous (highest random weight) hashing: each node scores the key with
/// mix64(hash(key) ^ hash(node)); the highest score wins. With weights, the score is
/// −w / ln(u) for u the score scaled into (0, 1) (Schindelhauer & Schomaker's logarithmic
/// method), so a node's share is proportional to its weight. A join moves only keys the new
/// node now wins (≈ 1/(N+1)); a leave moves only the leaving node's keys.
public struct RendezvousRouter: ShardRouter {
    public let nodes: [String]
    public let weights: [Double]
    public let hash: KeyHashFunction
    let nodeHashes: [UInt64]
    let weighted: Bool

    /// - Throws: `ShardRouterError` for no nodes, duplicates or bad weights.
    public init(nodes: [String], weights: [Double]? = nil, hash: KeyHashFunction = .xxh64) throws(ShardRouterError) {
        self.weights = try validate(nodes: nodes, weights: weights)
        self.nodes = nodes
        self.hash = hash
        nodeHashes = nodes.map { hash.hash($0) }
        weighted = self.weights.contains { $0 != 1 }
    }

    public func node(forKey key: UnsafeRawBufferPointer) -> Int { node(forHash: hash.hash(key)) }

    /// The node that wins a key whose hash is `h`.
    public func node(forHash h: UInt64) -> Int {
        var best = 0
        if !weighted {
            var bestScore: UInt64 = 0
            for i in nodeHashes.indices {
                let s = mix64(h ^ nodeHashes[i])
                if i == 0 || s > bestScore { bestScore = s; best = i }
            }
            return best
        }
        var bestScore = -Double.infinity
        for i in nodeHashes.indices {
            let u = (Double(mix64(h ^ nodeHashes[i]) >> 11) + 0.5) / 9_007_199_254_740_992.0
            let s = -weights[i] / log(u)
            if s > bestScore { bestScore = s; best = i }
        }
        return best
    }
}

/// Redis Cluster's slots as a router: CRC16(key or hash tag) mod 16384, each node owning a
/// slot table entry. Built over N nodes it assigns contiguous even ranges (as
/// `redis-cli --cluster create` does); `addingNode` moves slots to a new node as
/// `redis-cli --cluster rebalance` would (an even share, taken from every node's surplus).
public struct RedisSlotRouter: ShardRouter {
    public let nodes: [String]
    /// Owner (index into `nodes`) of each of the 16384 slots.
    public let slotOwners: [Int]

    /// Even contiguous ranges over `nodes`.
    /// - Throws: `ShardRouterError` for no nodes or duplicates, or weights other than 1.
    public init(nodes: [String], weights: [Double]? = nil) throws(ShardRouterError) {
        let w = try validate(nodes: nodes, weights: weights)
        guard w.allSatisfy({ $0 == 1 }) else { throw .weightsUnsupported(.slots) }
        self.nodes = nodes
        // redis-cli's clusterManagerNodeArrayInit split: ranges end at round(cursor + share - 1).
        var owners = [Int](repeating: 0, count: ClusterSlot.count)
        let share = Double(ClusterSlot.count) / Double(nodes.count)
        var first = 0
        var cursor = 0.0
        for node in nodes.indices {
            var last = Int((cursor + share - 1).rounded())
            if last > ClusterSlot.count - 1 || node == nodes.count - 1 { last = ClusterSlot.count - 1 }
            if last >= first { for s in first...last { owners[s] = node } }
            first = last + 1
            cursor += share
        }
        slotOwners = owners
    }

    /// A router with an explicit slot table (e.g. from CLUSTER SLOTS).
    public init(nodes: [String], slotOwners: [Int]) {
        self.nodes = nodes
        self.slotOwners = slotOwners
    }

    public func node(forKey key: UnsafeRawBufferPointer) -> Int { slotOwners[ClusterSlot.slot(of: key)] }

    /// This table with `name` added, given an even share of the slots taken from the nodes
    /// that own more than their new share (their highest slots first), as a rebalance does.
    public func addingNode(_ name: String) -> RedisSlotRouter {
        let n = nodes.count + 1
        var counts = [Int](repeating: 0, count: nodes.count)
        for o in slotOwners { counts[o] += 1 }
        var owners = slotOwners
        let newIndex = nodes.count
        for node in nodes.indices {
            let target = ClusterSlot.count * (node + 1) / n - ClusterSlot.count * node / n
            var surplus = counts[node] - target
            var s = ClusterSlot.count - 1
            while surplus > 0 && s >= 0 {
                if owners[s] == node { owners[s] = newIndex; surplus -= 1 }
                s -= 1
            }
        }
        return RedisSlotRouter(nodes: nodes + [name], slotOwners: owners)
    }

    /// This table without its last node, whose slots are dealt out evenly to the others in
    /// contiguous runs (as a rebalance before removing a node would).
    public func removingLastNode() -> RedisSlotRouter {
        guard nodes.count > 1 else { return self }
        let last = nodes.count - 1
        let moving = slotOwners.indices.filter { slotOwners[$0] == last }
        var owners = slotOwners
        for (i, s) in moving.enumerated() { owners[s] = i * last / max(1, moving.count) }
        return RedisSlotRouter(nodes: Array(nodes.dropLast()), slotOwners: owners)
    }
}

