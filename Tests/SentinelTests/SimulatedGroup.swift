// A deterministic simulation for the election tests: fake nodes, sentinels, links with seeded
// delays and partitions, and a virtual clock. No sockets, no threads, no real time.

import KVClient
import RESP
@testable import Sentinel

/// A fake Redis node: its role, its primary, its processed offset.
struct FakeNode {
    var address: RedisEndpoint
    var alive = true
    var isPrimary: Bool
    var primary: RedisEndpoint?
    var offset: Int64
    var priority = 100
    var runID: String
}

/// Sentinels and nodes on a virtual clock. Every action is performed after a seeded delay
/// (0–`maxLatency` ms) and its outcome comes back after another, so requests of different
/// sentinels interleave differently for each seed.
struct SimulatedGroup {
    var nodes: [RedisEndpoint: FakeNode] = [:]
    var sentinels: [SentinelMonitor] = []
    var addresses: [RedisEndpoint] = []
    var now: Int64 = 0
    var random: SplitMix64
    let maxLatency: Int64
    /// Pairs (from sentinel index, to address) whose messages are lost (a partition).
    var cut: Set<[String]> = []
    /// Everything each sentinel did: its events, and the REPLICAOF commands it sent.
    var events: [[SentinelEvent]] = []
    var replicaOfSent: [(sentinel: Int, node: RedisEndpoint, primary: RedisEndpoint?)] = []
    /// Pending deliveries: (time, sequence, sentinel index, action or outcome).
    private var pending: [(time: Int64, seq: Int, sentinel: Int, item: Item)] = []
    private var sequence = 0

    enum Item { case action(SentinelAction), outcome(SentinelOutcome) }

    static let primary = RedisEndpoint(host: "10.0.0.1", port: 6379)
    static let replicaA = RedisEndpoint(host: "10.0.0.2", port: 6379)
    static let replicaB = RedisEndpoint(host: "10.0.0.3", port: 6379)

    /// A primary with two replicas (offsets `offsetA`, `offsetB`) and `count` sentinels.
    init(sentinels count: Int, quorum: Int, seed: UInt64, maxLatency: Int64 = 40, offsetA: Int64 = 1000, offsetB: Int64 = 900,
         tune: (inout SentinelConfiguration) -> Void = { _ in }) {
        random = SplitMix64(seed: seed)
        self.maxLatency = maxLatency
        nodes[Self.primary] = FakeNode(address: Self.primary, isPrimary: true, offset: max(offsetA, offsetB), runID: "p000")
        nodes[Self.replicaA] = FakeNode(address: Self.replicaA, isPrimary: false, primary: Self.primary, offset: offsetA, runID: "a000")
        nodes[Self.replicaB] = FakeNode(address: Self.replicaB, isPrimary: false, primary: Self.primary, offset: offsetB, runID: "b000")
        addresses = (0..<count).map { RedisEndpoint(host: "10.0.1.\($0 + 1)", port: 26379) }
        for i in 0..<count {
            var c = SentinelConfiguration(masterName: "mymaster", master: Self.primary, quorum: quorum,
                                          peers: addresses.filter { $0 != addresses[i] },
                                          runID: String(repeating: String(i + 1), count: 40), announced: addresses[i])
            c.downAfterMilliseconds = 1000
            c.failoverTimeoutMilliseconds = 6000
            c.infoIntervalMilliseconds = 1000
            c.reconfigureAfterMilliseconds = 2000
            tune(&c)
            sentinels.append(SentinelMonitor(configuration: c, now: 0, seed: seed &+ UInt64(i) &* 7919))
        }
        events = Array(repeating: [], count: count)
    }

    func runID(_ i: Int) -> String { sentinels[i].configuration.runID }

    /// Loses every message between sentinel `i` and `address` (both ways).
    mutating func partition(sentinel i: Int, from address: RedisEndpoint) { cut.insert([String(i), address.description]) }

    func reachable(_ i: Int, _ address: RedisEndpoint) -> Bool {
        if cut.contains([String(i), address.description]) { return false }
        if let j = addresses.firstIndex(of: address), cut.contains([String(j), addresses[i].description]) { return false }
        return true
    }

    private mutating func latency() -> Int64 { Int64.random(in: 0...maxLatency, using: &random) }

    /// Keeps `pending` sorted by (time, sequence): a binary search for the insertion point.
    private mutating func enqueue(_ sentinel: Int, _ item: Item, at time: Int64) {
        var low = 0, high = pending.count
        while low < high {
            let mid = (low + high) / 2
            if pending[mid].time <= time { low = mid + 1 } else { high = mid }
        }
        pending.insert((time, sequence, sentinel, item), at: low)
        sequence += 1
    }

    /// Runs until `until` ms, ticking every sentinel every 100 ms (in a seeded order).
    mutating func run(until: Int64) {
        while now < until {
            let next = now + 10
            // Deliver everything due before the next step, in time order.
            while let first = pending.first, first.time <= next {
                let p = pending.removeFirst()
                now = max(now, p.time)
                deliver(p.sentinel, p.item)
            }
            now = next
            if now % 100 == 0 {
                var order = Array(sentinels.indices)
                order.shuffle(using: &random)
                for i in order {
                    let actions = sentinels[i].tick(now: now)
                    collect(i)
                    for a in actions { enqueue(i, .action(a), at: now + latency()) }
                }
            }
        }
    }

    private mutating func collect(_ i: Int) { events[i] += sentinels[i].drainEvents() }

    private mutating func deliver(_ i: Int, _ item: Item) {
        switch item {
        case .outcome(let outcome):
            let follow = sentinels[i].handle(outcome, now: now)
            collect(i)
            for a in follow { enqueue(i, .action(a), at: now + latency()) }
        case .action(let action):
            let outcome = perform(i, action)
            enqueue(i, .outcome(outcome), at: now + latency())
        }
    }

    /// What the fake world answers to sentinel `i`'s action.
    private mutating func perform(_ i: Int, _ action: SentinelAction) -> SentinelOutcome {
        let target = action.target
        let up = reachable(i, target)
        switch action {
        case .ping(let n):
            return .pinged(n, valid: up && nodes[n]?.alive == true)
        case .info(let n):
            guard up, let node = nodes[n], node.alive else { return .info(n, nil) }
            return .info(n, infoText(node))
        case let .replicaOf(n, primary):
            guard up, nodes[n]?.alive == true else { return .replicaOf(n, primary: primary, succeeded: false) }
            replicaOfSent.append((i, n, primary))
            nodes[n]!.isPrimary = primary == nil
            nodes[n]!.primary = primary
            if let primary, let offset = nodes[primary]?.offset { nodes[n]!.offset = offset }
            return .replicaOf(n, primary: primary, succeeded: true)
        case let .askPeer(peer, request):
            guard up, let j = addresses.firstIndex(of: peer) else { return .peerReplied(peer, nil) }
            let reply = sentinels[j].answerVoteRequest(request, now: now)
            collect(j)
            return .peerReplied(peer, reply)
        case let .hello(peer, hello):
            guard up, let j = addresses.firstIndex(of: peer) else { return .helloSent(peer, delivered: false) }
            sentinels[j].receiveHello(hello, now: now)
            collect(j)
            return .helloSent(peer, delivered: true)
        }
    }

    func infoText(_ node: FakeNode) -> String {
        var lines = ["# Server", "run_id:\(node.runID)", "", "# Replication"]
        if node.isPrimary {
            lines.append("role:master")
            let followers = nodes.values.filter { $0.primary == node.address && $0.alive }.sorted { $0.address.host < $1.address.host }
            lines.append("connected_slaves:\(followers.count)")
            for (k, f) in followers.enumerated() {
                lines.append("slave\(k):ip=\(f.address.host),port=\(f.address.port),state=online,offset=\(f.offset),lag=0")
            }
            lines.append("master_repl_offset:\(node.offset)")
        } else {
            let linkUp = node.primary.flatMap { nodes[$0]?.alive } ?? false
            lines += ["role:slave", "master_host:\(node.primary?.host ?? "?")", "master_port:\(node.primary?.port ?? 0)",
                      "master_link_status:\(linkUp ? "up" : "down")", "slave_repl_offset:\(node.offset)",
                      "slave_priority:\(node.priority)", "master_repl_offset:\(node.offset)"]
        }
        return lines.joined(separator: "\r\n")
    }

    /// Every (epoch, winner) of `+elected-leader` events across sentinels.
    var elections: [(epoch: UInt64, sentinel: Int)] {
        var out: [(UInt64, Int)] = []
        for (i, list) in events.enumerated() {
            for e in list where e.name == "+elected-leader" {
                if let epoch = e.detail.split(separator: " ").last.flatMap({ UInt64($0) }) { out.append((epoch, i)) }
            }
        }
        return out
    }

    /// What each sentinel answers to get-master-addr-by-name.
    var reportedPrimaries: [RedisEndpoint] { sentinels.map(\.reportedMaster) }
}
