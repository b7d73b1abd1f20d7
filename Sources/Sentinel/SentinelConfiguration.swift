// What one sentinel monitors and how fast: the group, its peers, and Redis Sentinel's timers.

import KVClient

/// The settings of one sentinel. Defaults are Redis Sentinel's, except where noted.
public struct SentinelConfiguration: Sendable, Equatable {
    /// The monitored group's name (`sentinel monitor NAME ...`).
    public var masterName: String
    /// The primary's address at start.
    public var master: RedisEndpoint
    /// How many sentinels must agree the primary is down (ODOWN) before a failover starts.
    public var quorum: Int
    /// The other sentinels. Redis discovers them through `__sentinel__:hello` pub/sub on the
    /// nodes; kvlab is told them explicitly and sends its hello to them directly.
    public var peers: [RedisEndpoint]
    /// This sentinel's run ID (40 hex characters), its identity in votes.
    public var runID: String
    /// The address peers and clients know this sentinel by (`--announce-ip/--announce-port`).
    public var announced: RedisEndpoint
    /// A primary or replica silent this long is subjectively down (SDOWN).
    public var downAfterMilliseconds: Int64 = 30_000
    /// Bounds each failover step; no new failover of the same group for twice this.
    public var failoverTimeoutMilliseconds: Int64 = 180_000
    /// PING period of every node and peer.
    public var pingIntervalMilliseconds: Int64 = 1000
    /// INFO period of the nodes (1 s for replicas while the primary is down or a failover runs).
    public var infoIntervalMilliseconds: Int64 = 10_000
    /// How often the configuration (epochs, primary) is sent to each peer.
    public var helloIntervalMilliseconds: Int64 = 2000
    /// How often peers are asked `is-master-down-by-addr` while the primary looks down.
    public var askPeriodMilliseconds: Int64 = 1000
    /// A node that claims the wrong role (an old primary back as master, a replica of the wrong
    /// primary) this long is reconfigured (Redis: 8 s for a returning master).
    public var reconfigureAfterMilliseconds: Int64 = 8000
    /// A failover waits a random delay up to this before asking for votes, so sentinels that
    /// saw the failure together rarely split the vote.
    public var maximumStartDelayMilliseconds: Int64 = 1000
    /// How long a vote request may go unanswered before the election is given up
    /// (min(10 s, failover timeout), as Redis).
    public var electionTimeoutMilliseconds: Int64 { min(10_000, failoverTimeoutMilliseconds) }

    /// - Parameters: see the properties; `announced` is this sentinel's own address.
    public init(masterName: String, master: RedisEndpoint, quorum: Int, peers: [RedisEndpoint], runID: String,
                announced: RedisEndpoint) {
        self.masterName = masterName
        self.master = master
        self.quorum = quorum
        self.peers = peers
        self.runID = runID
        self.announced = announced
    }

    /// The configuration's problems, empty when it is usable.
    public func problems() -> [String] {
        var out: [String] = []
        if masterName.isEmpty || masterName.contains(where: { $0 == " " || $0 == "\n" || $0 == "\r" }) {
            out.append("the group name '\(masterName)' must be non-empty without spaces")
        }
        if quorum < 1 { out.append("--quorum \(quorum): expected at least 1") }
        if quorum > peers.count + 1 {
            out.append("--quorum \(quorum): only \(peers.count + 1) sentinels are known (this one and \(peers.count) --sentinel), so the primary could never be agreed down")
        }
        if downAfterMilliseconds < 1 { out.append("--down-after-ms \(downAfterMilliseconds): expected at least 1") }
        if failoverTimeoutMilliseconds < 1 { out.append("--failover-timeout-ms \(failoverTimeoutMilliseconds): expected at least 1") }
        if pingIntervalMilliseconds < 1 { out.append("--ping-interval-ms \(pingIntervalMilliseconds): expected at least 1") }
        if infoIntervalMilliseconds < 1 { out.append("--info-interval-ms \(infoIntervalMilliseconds): expected at least 1") }
        if peers.contains(announced) { out.append("--sentinel \(announced) is this sentinel's own address") }
        return out
    }
}

/// SplitMix64: the seeded generator behind the start delays (one seed replays a run's choices).
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
