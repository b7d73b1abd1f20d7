// `kvlab ring` as a library: load balance and key movement of each router over a key stream, N nodes at a time.

import KVClient

/// How one router spreads a set of keys over N nodes, and how many keys move when a node joins
/// (N → N+1) or the last node leaves (N → N−1).
///
/// Balance: per-node key counts, the largest and smallest over the mean (1 is perfect) and the
/// coefficient of variation (standard deviation / mean). Movement: the fraction of all keys
/// whose owner changes; the ideal is 1/(N+1) for a join and 1/N for a leave (only the keys the
/// new node takes, or the leaving node had).
public struct PlacementRow: Sendable, Codable, Equatable {
    public var router: String
    public var nodes: Int
    public var keys: Int
    public var perNode: [Int]
    public var maxOverMean: Double
    public var minOverMean: Double
    public var coefficientOfVariation: Double
    public var joinMoved: Double
    public var joinIdeal: Double
    public var leaveMoved: Double
    public var leaveIdeal: Double
    /// Whether every key that moved on the join went to the new node (none moved between old nodes).
    public var joinMovesOnlyToNewNode: Bool
}

/// Why an analysis could not run.
public enum PlacementAnalysisError: Error, Sendable, Equatable, CustomStringConvertible {
    case noKeys
    case nodeCounts(ClosedRange<Int>)
    case router(ShardRouterError)

    public var description: String {
        switch self {
        case .noKeys: "no keys to place: expected a workload with recordcount > 0"
        case .nodeCounts(let r): "node counts \(r.lowerBound)...\(r.upperBound): expected 2 ≤ N ≤ 1024"
        case .router(let e): "\(e)"
        }
    }
}

public enum PlacementAnalysis {
    /// The routers `kvlab ring` compares by default: the ring at several virtual-node counts
    /// (xxHash64) and with each other hash at 160, jump, rendezvous and Redis's slots.
    public static let defaultRouters: [RouterOptions] = [
        RouterOptions(kind: .ring, hash: .xxh64, virtualNodes: 1),
        RouterOptions(kind: .ring, hash: .xxh64, virtualNodes: 10),
        RouterOptions(kind: .ring, hash: .xxh64, virtualNodes: 40),
        RouterOptions(kind: .ring, hash: .xxh64, virtualNodes: 160),
        RouterOptions(kind: .ring, hash: .xxh64, virtualNodes: 640),
        RouterOptions(kind: .ring, hash: .murmur3, virtualNodes: 160),
        RouterOptions(kind: .ring, hash: .fnv1a, virtualNodes: 160),
        RouterOptions(kind: .jump, hash: .xxh64),
        RouterOptions(kind: .rendezvous, hash: .xxh64),
        RouterOptions(kind: .slots),
    ]

    /// Node names as a loopback deployment would have them: 127.0.0.1:7000, :7001, ...
    public static func nodeName(_ i: Int) -> String { "127.0.0.1:\(7000 + i)" }

    /// Places `keys` with each router for every N in `nodeCounts`.
    /// - Returns: one row per router and N, routers in the given order.
    /// - Throws: `PlacementAnalysisError` for no keys, a bad range or a router that cannot be built.
    public static func analyze(keys: [[UInt8]], nodeCounts: ClosedRange<Int>, routers: [RouterOptions] = defaultRouters,
                               nodeName: (Int) -> String = nodeName) throws(PlacementAnalysisError) -> [PlacementRow] {
        guard !keys.isEmpty else { throw .noKeys }
        guard nodeCounts.lowerBound >= 2, nodeCounts.upperBound <= 1024 else { throw .nodeCounts(nodeCounts) }
        // Hash each key once per hash function (and slot once): the routers then work on hashes.
        var hashes: [KeyHashFunction: [UInt64]] = [:]
        for h in Set(routers.filter { $0.kind != .slots }.map(\.hash)) {
            hashes[h] = keys.map { h.hash($0) }
        }
        let slots = routers.contains { $0.kind == .slots } ? keys.map { UInt16(ClusterSlot.slot(of: $0)) } : []
        var rows: [PlacementRow] = []
        for options in routers {
            // Owners for N-1 ... N+1 of every N in range, each computed once.
            var owners: [Int: [UInt16]] = [:]
            func assignment(_ n: Int) throws(PlacementAnalysisError) -> [UInt16] {
                if let a = owners[n] { return a }
                let names = (0..<n).map(nodeName)
                let a: [UInt16]
                do {
                    switch options.kind {
                    case .ring:
                        let ring = try ConsistentHashRing(nodes: names, virtualNodes: options.virtualNodes, hash: options.hash)
                        a = hashes[options.hash]!.map { UInt16(ring.node(forHash: $0)) }
                    case .jump:
                        a = hashes[options.hash]!.map { UInt16(JumpHashRouter.bucket(forHash: $0, buckets: n)) }
                    case .rendezvous:
                        let r = try RendezvousRouter(nodes: names, hash: options.hash)
                        a = hashes[options.hash]!.map { UInt16(r.node(forHash: $0)) }
                    case .slots:
                        let table = try RedisSlotRouter(nodes: names).slotOwners
                        a = slots.map { UInt16(table[Int($0)]) }
                    }
                } catch {
                    throw .router(error)
                }
                owners[n] = a
                return a
            }
            for n in nodeCounts {
                let current = try assignment(n)
                let joined: [UInt16]
                let left: [UInt16]
                if options.kind == .slots {
                    // A cluster grows and shrinks by moving slots (redis-cli --cluster rebalance),
                    // not by recomputing even ranges: compare against that.
                    let names = (0..<n).map(nodeName)
                    let base: RedisSlotRouter
                    do { base = try RedisSlotRouter(nodes: names) } catch { throw .router(error) }
                    let grown = base.addingNode(nodeName(n)).slotOwners
                    let shrunk = base.removingLastNode().slotOwners
                    joined = slots.map { UInt16(grown[Int($0)]) }
                    left = slots.map { UInt16(shrunk[Int($0)]) }
                } else {
                    joined = try assignment(n + 1)
                    left = try assignment(n - 1)
                }
                var counts = [Int](repeating: 0, count: n)
                for o in current { counts[Int(o)] += 1 }
                var joinMoved = 0, leaveMoved = 0
                var onlyToNew = true
                for i in current.indices {
                    if joined[i] != current[i] {
                        joinMoved += 1
                        if Int(joined[i]) != n { onlyToNew = false }
                    }
                    if left[i] != current[i] { leaveMoved += 1 }
                }
                let mean = Double(keys.count) / Double(n)
                let variance = counts.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n)
                rows.append(PlacementRow(
                    router: options.description, nodes: n, keys: keys.count, perNode: counts,
                    maxOverMean: Double(counts.max()!) / mean, minOverMean: Double(counts.min()!) / mean,
                    coefficientOfVariation: variance.squareRoot() / mean,
                    joinMoved: Double(joinMoved) / Double(keys.count), joinIdeal: 1 / Double(n + 1),
                    leaveMoved: Double(leaveMoved) / Double(keys.count), leaveIdeal: 1 / Double(n),
                    joinMovesOnlyToNewNode: onlyToNew))
            }
        }
        return rows
    }
}
