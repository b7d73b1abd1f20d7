// The sentinel as a state machine: time, replies and peer messages in; actions out. No I/O.
//
// Why a state machine: the election rules (a majority is needed, one vote per sentinel per
// epoch, one winner per epoch, a minority cannot fail over) must be testable without real
// time or sockets. `SentinelMonitor` never reads a clock and never touches the network: the
// caller passes the time (milliseconds on any monotonic clock) to `tick(now:)`, which returns
// the actions due (PING a node, INFO, REPLICAOF, ask a peer for its vote, send a peer our
// configuration); the caller performs them however it likes — `SentinelRuntime` over real
// sockets, a test synchronously against fakes — and hands each outcome back with
// `handle(_:now:)`. Requests from peers and clients (`SENTINEL is-master-down-by-addr`, the
// hello) are methods too. Every random choice comes from a seeded generator.
//
// The rules are Redis Sentinel's (reference: docs/sentinel in Redis 7.0, sentinel.c), with
// one deliberate difference: peers are configured, not discovered over pub/sub, and the
// configuration is pushed to them with a kvlab `SENTINEL HELLO` command instead.

import KVClient

/// Something the monitor wants done; every action's outcome comes back as a `SentinelOutcome`.
public enum SentinelAction: Hashable, Sendable {
    /// `PING` a node.
    case ping(RedisEndpoint)
    /// `INFO server` + `INFO replication` of a node.
    case info(RedisEndpoint)
    /// `REPLICAOF host port` (or `REPLICAOF NO ONE` when `primary` is nil).
    case replicaOf(RedisEndpoint, primary: RedisEndpoint?)
    /// `SENTINEL is-master-down-by-addr` to a peer.
    case askPeer(RedisEndpoint, SentinelVoteRequest)
    /// `SENTINEL HELLO ...` to a peer: our epochs and our view of the primary.
    case hello(RedisEndpoint, SentinelHello)

    /// The server or peer the action talks to.
    public var target: RedisEndpoint {
        switch self {
        case .ping(let t), .info(let t), .replicaOf(let t, _), .askPeer(let t, _), .hello(let t, _): return t
        }
    }
}

/// What happened to an action.
public enum SentinelOutcome: Hashable, Sendable {
    /// The node's reply to PING was valid (`+PONG`, `-LOADING`, `-MASTERDOWN`) or not
    /// (another reply, or no reply at all).
    case pinged(RedisEndpoint, valid: Bool)
    /// The node's INFO text, or nil if it could not be read.
    case info(RedisEndpoint, String?)
    /// Whether REPLICAOF was accepted (`+OK`).
    case replicaOf(RedisEndpoint, primary: RedisEndpoint?, succeeded: Bool)
    /// A peer's reply to is-master-down-by-addr, or nil if it did not answer.
    case peerReplied(RedisEndpoint, SentinelVoteReply?)
    /// Whether a hello reached the peer.
    case helloSent(RedisEndpoint, delivered: Bool)
}

/// `SENTINEL is-master-down-by-addr <ip> <port> <current-epoch> <runid|*>`: `*` asks only
/// whether the peer sees the primary down; a run ID asks for the peer's vote in the epoch.
public struct SentinelVoteRequest: Hashable, Sendable {
    public var master: RedisEndpoint
    public var epoch: UInt64
    public var runID: String
    public init(master: RedisEndpoint, epoch: UInt64, runID: String) { self.master = master; self.epoch = epoch; self.runID = runID }
}

/// The reply: `[down 0|1, leader run ID or *, leader epoch]`.
public struct SentinelVoteReply: Hashable, Sendable {
    public var masterDown: Bool
    public var leader: String?
    public var leaderEpoch: UInt64
    public init(masterDown: Bool, leader: String?, leaderEpoch: UInt64) {
        self.masterDown = masterDown; self.leader = leader; self.leaderEpoch = leaderEpoch
    }
}

/// A sentinel's configuration as it tells its peers (Redis's hello message fields).
public struct SentinelHello: Hashable, Sendable {
    public var sentinel: RedisEndpoint
    public var runID: String
    public var currentEpoch: UInt64
    public var masterName: String
    public var master: RedisEndpoint
    public var configEpoch: UInt64
    public init(sentinel: RedisEndpoint, runID: String, currentEpoch: UInt64, masterName: String, master: RedisEndpoint, configEpoch: UInt64) {
        self.sentinel = sentinel; self.runID = runID; self.currentEpoch = currentEpoch
        self.masterName = masterName; self.master = master; self.configEpoch = configEpoch
    }
}

/// A notable change, with Redis Sentinel's event name (`+sdown`, `+odown`, `+new-epoch`,
/// `+vote-for-leader`, `+elected-leader`, `+selected-slave`, `+promoted-slave`,
/// `+switch-master`, `+convert-to-slave`, `-failover-abort-...`, ...), for the CLI's log.
public struct SentinelEvent: Hashable, Sendable, CustomStringConvertible {
    /// Milliseconds, on the clock the caller passes in.
    public var time: Int64
    public var name: String
    public var detail: String
    public var description: String { "\(name) \(detail)" }
}

/// Where a failover is.
public enum FailoverState: String, Sendable {
    case none
    /// Started (epoch raised); waiting out the random delay, then for a majority of votes.
    case waitStart = "wait_start"
    /// Elected; choosing the replica to promote.
    case selectReplica = "select_slave"
    /// `REPLICAOF NO ONE` to the chosen replica.
    case sendReplicaOfNoOne = "send_slaveof_noone"
    /// Waiting for the chosen replica's INFO to say `role:master`.
    case waitPromotion = "wait_promotion"
    /// Pointing the other replicas at the new primary.
    case reconfigureReplicas = "reconf_slaves"
}

/// What a sentinel knows of one node (the primary or a replica).
public struct MonitoredNode: Sendable {
    public var address: RedisEndpoint
    public var info = NodeInfo()
    /// When the node last answered PING validly (or when monitoring began).
    public var lastValidReply: Int64
    public var lastPingSent: Int64?
    public var lastInfo: Int64?
    /// When the node's INFO role last changed (or was first read).
    public var roleReportedTime: Int64
    /// When the node became SDOWN, nil while it is up.
    public var subjectivelyDownSince: Int64?
    var pingInFlight = false
    /// The last PING got no valid reply (refused, timed out, or an error).
    var lastPingFailed = false
    var infoInFlight = false
    var replicaOfInFlight = false
    /// When we last told the node REPLICAOF (rate limit of reconfigurations).
    var lastReconfigured: Int64?

    init(address: RedisEndpoint, now: Int64) {
        self.address = address
        lastValidReply = now
        roleReportedTime = now
    }
}

/// What a sentinel knows of a peer.
public struct PeerSentinel: Sendable {
    public var address: RedisEndpoint
    public var runID: String?
    /// The peer's last answer to "is the primary down?", and when it came.
    public var saysMasterDown = false
    public var downReplyTime: Int64?
    /// The peer's vote as it last reported it, and the epoch of that vote.
    public var leader: String?
    public var leaderEpoch: UInt64 = 0
    public var lastReply: Int64?
    public var lastHello: Int64?
    var askInFlight = false
    var lastAsk: Int64?
    var helloInFlight = false
    var lastHelloSent: Int64?
}

/// One sentinel's state machine for one monitored group (see the file comment).
public struct SentinelMonitor: Sendable {
    public let configuration: SentinelConfiguration
    var random: SplitMix64

    /// The highest epoch this sentinel has seen or started.
    public internal(set) var currentEpoch: UInt64 = 0
    /// The epoch of the configuration (primary address) this sentinel holds.
    public internal(set) var configEpoch: UInt64 = 0
    /// The primary.
    public internal(set) var master: MonitoredNode
    /// The replicas, discovered from the primary's INFO (never forgotten until `reset`).
    public internal(set) var replicas: [RedisEndpoint: MonitoredNode] = [:]
    public internal(set) var peers: [RedisEndpoint: PeerSentinel] = [:]
    /// When the primary became objectively down (ODOWN), nil otherwise.
    public internal(set) var objectivelyDownSince: Int64?

    /// This sentinel's vote: for whom, in which epoch.
    public internal(set) var votedLeader: String?
    public internal(set) var votedLeaderEpoch: UInt64 = 0

    public internal(set) var failoverState: FailoverState = .none
    public internal(set) var failoverEpoch: UInt64 = 0
    /// When the last failover started (or, after voting for another sentinel, when we may
    /// have started one): no new failover until twice the failover timeout after it.
    public internal(set) var failoverStartTime: Int64
    var failoverStateChangeTime: Int64 = 0
    /// When this failover may ask for votes (its start plus the random delay).
    var voteRequestTime: Int64 = 0
    /// A failover asked for by `SENTINEL FAILOVER`: no agreement or election needed.
    var failoverForced = false
    /// The replica chosen for promotion.
    public internal(set) var promotedReplica: RedisEndpoint?
    var replicaOfNoOneSent = false
    /// Replicas told to follow the promoted one, and whether each answered.
    var reconfigured: [RedisEndpoint: Bool?] = [:]
    /// Events since the caller last drained them.
    var events: [SentinelEvent] = []

    /// Starts monitoring at `now` (ms). - Parameter seed: the start-delay generator's seed.
    public init(configuration: SentinelConfiguration, now: Int64, seed: UInt64) {
        self.configuration = configuration
        random = SplitMix64(seed: seed)
        master = MonitoredNode(address: configuration.master, now: now)
        for peer in configuration.peers { peers[peer] = PeerSentinel(address: peer) }
        // Far enough in the past that a failover may start as soon as the primary is ODOWN.
        failoverStartTime = now - 2 * configuration.failoverTimeoutMilliseconds - 1
    }

    /// The events recorded since the last call (oldest first), and forgets them.
    public mutating func drainEvents() -> [SentinelEvent] {
        defer { events.removeAll() }
        return events
    }

    mutating func event(_ name: String, _ detail: String, _ now: Int64) {
        events.append(SentinelEvent(time: now, name: name, detail: detail))
    }

    /// The primary address clients are given: the promoted replica as soon as the failover
    /// reconfigures replicas (as Redis does), else the monitored primary.
    public var reportedMaster: RedisEndpoint {
        if failoverState == .reconfigureReplicas, let promotedReplica { return promotedReplica }
        return master.address
    }

    /// Whether this sentinel sees the primary subjectively down.
    public var masterSubjectivelyDown: Bool { master.subjectivelyDownSince != nil }

    /// How many sentinels vote: this one and its peers.
    public var voters: Int { peers.count + 1 }

    // MARK: - Time

    /// Advances to `now`: updates SDOWN/ODOWN, moves the failover on, and returns the actions due.
    public mutating func tick(now: Int64) -> [SentinelAction] {
        var actions: [SentinelAction] = []
        let c = configuration
        let failoverRunning = failoverState != .none
        // Replicas are read every second while the primary is down or a failover runs (fresh
        // offsets for the choice, and the promotion seen quickly).
        let replicaInfoPeriod = (objectivelyDownSince != nil || failoverRunning || masterSubjectivelyDown)
            ? min(1000, c.infoIntervalMilliseconds) : c.infoIntervalMilliseconds
        schedule(&master, period: c.infoIntervalMilliseconds, now: now, into: &actions)
        for address in replicas.keys.sorted(by: Self.order) {
            schedule(&replicas[address]!, period: replicaInfoPeriod, now: now, into: &actions)
        }
        updateSubjectivelyDown(now: now)
        updateObjectivelyDown(now: now)
        // Redis asks the peers at once when a failover starts; here the ask waits for the start
        // delay (see `voteRequestTime`), so the first to start usually collects every vote.
        startFailoverIfNeeded(now: now)
        advanceFailover(now: now, into: &actions)
        askPeers(now: now, into: &actions)
        reconfigureStrayNodes(now: now, into: &actions)
        sendHellos(now: now, force: false, into: &actions)
        return actions
    }

    /// PING and INFO for one node when due (one of each in flight at a time).
    private func schedule(_ node: inout MonitoredNode, period: Int64, now: Int64, into actions: inout [SentinelAction]) {
        // Redis pings at least as often as down-after, so one silent period is noticed in time.
        let period = min(configuration.pingIntervalMilliseconds, configuration.downAfterMilliseconds)
        if !node.pingInFlight, node.lastPingSent.map({ now - $0 >= period }) ?? true {
            node.pingInFlight = true
            node.lastPingSent = now
            actions.append(.ping(node.address))
        }
        if !node.infoInFlight, node.lastInfo.map({ now - $0 >= period }) ?? true {
            node.infoInFlight = true
            actions.append(.info(node.address))
        }
    }

    /// A stable order of addresses, so every run with the same inputs acts in the same order.
    static func order(_ a: RedisEndpoint, _ b: RedisEndpoint) -> Bool {
        a.host == b.host ? a.port < b.port : a.host < b.host
    }

    // MARK: - Outcomes

    /// Takes the outcome of an action `tick` returned; may return follow-up actions (the
    /// configuration pushed to peers once a promotion is seen).
    public mutating func handle(_ outcome: SentinelOutcome, now: Int64) -> [SentinelAction] {
        var actions: [SentinelAction] = []
        switch outcome {
        case let .pinged(address, valid):
            update(address) { node in
                node.pingInFlight = false
                node.lastPingFailed = !valid
                if valid { node.lastValidReply = now }
            }
        case let .info(address, text):
            var parsed: NodeInfo?
            update(address) { node in
                node.infoInFlight = false
                guard let text else { return }
                let info = NodeInfo(parsing: text)
                if info.role != node.info.role || node.lastInfo == nil { node.roleReportedTime = now }
                node.info = info
                node.lastInfo = now
                parsed = info
            }
            if let parsed { absorb(parsed, from: address, now: now, into: &actions) }
        case let .replicaOf(address, primary, succeeded):
            update(address) { $0.replicaOfInFlight = false }
            replicaOfFinished(address, primary: primary, succeeded: succeeded, now: now)
        case let .peerReplied(address, reply):
            guard var peer = peers[address] else { break }
            peer.askInFlight = false
            if let reply {
                peer.lastReply = now
                peer.saysMasterDown = reply.masterDown
                peer.downReplyTime = now
                // "*" means the peer did not vote on this request: keep its last known vote.
                if let leader = reply.leader {
                    peer.leader = leader
                    peer.leaderEpoch = reply.leaderEpoch
                }
            }
            peers[address] = peer
        case let .helloSent(address, delivered):
            peers[address]?.helloInFlight = false
            if delivered { peers[address]?.lastReply = now }
        }
        return actions
    }

    /// Applies `body` to the node at `address` (the primary or a replica), if known.
    mutating func update(_ address: RedisEndpoint, _ body: (inout MonitoredNode) -> Void) {
        if master.address == address { body(&master) }
        if replicas[address] != nil { body(&replicas[address]!) }
    }

    /// What INFO taught: the primary's replicas, and a promotion in progress.
    private mutating func absorb(_ info: NodeInfo, from address: RedisEndpoint, now: Int64, into actions: inout [SentinelAction]) {
        if address == master.address, info.role == .master {
            for replica in info.replicas where replica != master.address && replicas[replica] == nil {
                replicas[replica] = MonitoredNode(address: replica, now: now)
                event("+slave", "slave \(replica) \(configuration.masterName) \(master.address)", now)
            }
        }
        if failoverState == .waitPromotion, address == promotedReplica, info.role == .master {
            promotionSeen(now: now, into: &actions)
        }
    }

    // MARK: - Down states

    mutating func updateSubjectivelyDown(now: Int64) {
        let c = configuration
        /// The node's new SDOWN start, and the event to log if it changed.
        func check(_ node: MonitoredNode, isMaster: Bool) -> (since: Int64?, changed: String?) {
            // Silence is measured as Redis does: from the unanswered PING in flight, or from
            // the last valid reply once a PING failed; a node whose last PING was answered is
            // not silent, however long ago it was (so reply latency cannot make it flap).
            let silence: Int64
            if node.pingInFlight, let sent = node.lastPingSent { silence = now - min(sent, node.lastPingFailed ? node.lastValidReply : sent) }
            else if node.lastPingFailed || node.lastPingSent == nil { silence = now - node.lastValidReply }
            else { silence = 0 }
            var down = silence > c.downAfterMilliseconds
            // A primary that says it is a replica for long is down too (as Redis).
            if isMaster, node.info.role == .replica,
               now - node.roleReportedTime > c.downAfterMilliseconds + 2 * c.infoIntervalMilliseconds {
                down = true
            }
            if down, node.subjectivelyDownSince == nil { return (now, "+sdown") }
            if !down, node.subjectivelyDownSince != nil { return (nil, "-sdown") }
            return (node.subjectivelyDownSince, nil)
        }
        let m = check(master, isMaster: true)
        master.subjectivelyDownSince = m.since
        if let name = m.changed { event(name, "master \(c.masterName) \(master.address)", now) }
        for address in replicas.keys.sorted(by: Self.order) {
            let r = check(replicas[address]!, isMaster: false)
            replicas[address]!.subjectivelyDownSince = r.since
            if let name = r.changed { event(name, "slave \(address)", now) }
        }
    }

    /// How long a peer's "down" answer counts (Redis: five ask periods).
    var peerReplyValidity: Int64 { 5 * configuration.askPeriodMilliseconds }

    /// The number of sentinels (this one included) that currently say the primary is down.
    public func sentinelsAgreeingDown(now: Int64) -> Int {
        guard masterSubjectivelyDown else { return 0 }
        return 1 + peers.values.filter { $0.saysMasterDown && ($0.downReplyTime.map { now - $0 <= peerReplyValidity } ?? false) }.count
    }

    mutating func updateObjectivelyDown(now: Int64) {
        let odown = masterSubjectivelyDown && sentinelsAgreeingDown(now: now) >= configuration.quorum
        if odown, objectivelyDownSince == nil {
            objectivelyDownSince = now
            event("+odown", "master \(configuration.masterName) \(master.address) #quorum \(sentinelsAgreeingDown(now: now))/\(configuration.quorum)", now)
        } else if !odown, objectivelyDownSince != nil {
            objectivelyDownSince = nil
            event("-odown", "master \(configuration.masterName) \(master.address)", now)
        }
    }

    // MARK: - Peers

    /// Asks each peer whether the primary is down (`*`), or for its vote once our failover's
    /// start delay has passed. Only while this sentinel sees the primary down, once per ask
    /// period per peer; answers older than `peerReplyValidity` are forgotten.
    mutating func askPeers(now: Int64, into actions: inout [SentinelAction]) {
        for address in peers.keys.sorted(by: Self.order) {
            var peer = peers[address]!
            defer { peers[address] = peer }
            if let t = peer.downReplyTime, now - t > peerReplyValidity {
                peer.saysMasterDown = false
                peer.leader = nil
                peer.downReplyTime = nil
            }
            guard masterSubjectivelyDown, !peer.askInFlight else { continue }
            let requestingVotes = failoverState != .none && !failoverForced && now >= voteRequestTime
            // A vote request goes out as soon as the delay ends; plain asks once per period.
            let due = peer.lastAsk.map { now - $0 >= configuration.askPeriodMilliseconds
                                                || (requestingVotes && $0 < voteRequestTime) } ?? true
            guard due else { continue }
            peer.askInFlight = true
            peer.lastAsk = now
            actions.append(.askPeer(address, SentinelVoteRequest(master: master.address, epoch: currentEpoch,
                                                                 runID: requestingVotes ? configuration.runID : "*")))
        }
    }

    /// Our hello to every peer, every hello interval (or now, when `force`). It names the
    /// promoted replica as soon as the failover reconfigures replicas, with the failover's
    /// epoch as config epoch (as Redis's hello does).
    mutating func sendHellos(now: Int64, force: Bool, into actions: inout [SentinelAction]) {
        let hello = SentinelHello(sentinel: configuration.announced, runID: configuration.runID, currentEpoch: currentEpoch,
                                  masterName: configuration.masterName, master: reportedMaster, configEpoch: configEpoch)
        for address in peers.keys.sorted(by: Self.order) {
            guard !peers[address]!.helloInFlight else { continue }
            guard force || peers[address]!.lastHelloSent.map({ now - $0 >= configuration.helloIntervalMilliseconds }) ?? true else { continue }
            peers[address]!.helloInFlight = true
            peers[address]!.lastHelloSent = now
            actions.append(.hello(address, hello))
        }
    }

    /// A peer's hello: learn its run ID, adopt a higher epoch, and adopt its primary if its
    /// configuration is newer (higher config epoch) — how every sentinel comes to name the
    /// promoted replica, and how a partition converges on its highest configuration.
    public mutating func receiveHello(_ hello: SentinelHello, now: Int64) {
        if var peer = peers[hello.sentinel] {
            peer.runID = hello.runID
            peer.lastHello = now
            peers[hello.sentinel] = peer
        } else if let address = peers.first(where: { $0.value.runID == hello.runID })?.key {
            peers[address]?.lastHello = now
        }
        if hello.currentEpoch > currentEpoch {
            currentEpoch = hello.currentEpoch
            event("+new-epoch", "\(currentEpoch)", now)
        }
        guard hello.masterName == configuration.masterName, hello.configEpoch > configEpoch else { return }
        let old = master.address
        configEpoch = hello.configEpoch
        if hello.master != old {
            event("+config-update-from", "sentinel \(hello.sentinel) \(hello.runID) \(configuration.masterName) \(old)", now)
            switchMaster(to: hello.master, now: now)
        } else {
            abortFailover(reason: nil, now: now)
        }
    }

    // MARK: - Reconfiguring nodes that disagree

    /// Outside a failover, with a healthy primary: a replica that says it is a master (the old
    /// primary back) or follows another primary is told `REPLICAOF` the current one, once it
    /// has done so for `reconfigureAfterMilliseconds` (and again at that period while it does).
    mutating func reconfigureStrayNodes(now: Int64, into actions: inout [SentinelAction]) {
        let c = configuration
        guard failoverState == .none, !masterSubjectivelyDown, master.info.role == .master,
              let masterInfoTime = master.lastInfo, now - masterInfoTime <= 3 * c.infoIntervalMilliseconds else { return }
        for address in replicas.keys.sorted(by: Self.order) {
            var node = replicas[address]!
            guard node.subjectivelyDownSince == nil, !node.replicaOfInFlight, let role = node.info.role, node.lastInfo != nil else { continue }
            let stray = role == .master || node.info.primary != master.address
            guard stray, now - node.roleReportedTime > c.reconfigureAfterMilliseconds,
                  node.lastReconfigured.map({ now - $0 > c.reconfigureAfterMilliseconds }) ?? true else { continue }
            node.replicaOfInFlight = true
            node.lastReconfigured = now
            replicas[address] = node
            event(role == .master ? "+convert-to-slave" : "+fix-slave-config", "slave \(address) \(c.masterName) \(master.address)", now)
            actions.append(.replicaOf(address, primary: master.address))
        }
    }

    // MARK: - Reset

    /// `SENTINEL RESET`: forgets the replicas, the peers' answers and any failover in progress;
    /// replicas are rediscovered from the primary's next INFO.
    public mutating func reset(now: Int64) {
        replicas.removeAll()
        for address in peers.keys {
            let runID = peers[address]!.runID
            peers[address] = PeerSentinel(address: address)
            peers[address]!.runID = runID
        }
        abortFailover(reason: nil, now: now)
        master = MonitoredNode(address: master.address, now: now)
        objectivelyDownSince = nil
        event("+reset-master", "master \(configuration.masterName) \(master.address)", now)
    }
}
