// A 3-member etcd cluster behind the fault proxy: client and peer traffic through it, peers told apart by rafthttp's X-Server-From header.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KVClient
import KVCore

/// How to start an etcd cluster behind the proxy.
public struct EtcdClusterConfiguration: Sendable {
    public var members: Int
    /// Where data directories and logs go (created; kept after `stop()` for the report).
    public var runDirectory: String
    /// etcd's `--heartbeat-interval` and `--election-timeout` (its defaults 100 and 1000 ms).
    public var heartbeatMilliseconds: Int
    public var electionTimeoutMilliseconds: Int
    /// Members get addresses 127.0.0.K from K = this upward.
    public var firstPartyAddress: Int
    /// How long each start-up step may take.
    public var readinessTimeoutSeconds: Double

    public init(members: Int = 3, runDirectory: String, heartbeatMilliseconds: Int = 100, electionTimeoutMilliseconds: Int = 1000,
                firstPartyAddress: Int = 2, readinessTimeoutSeconds: Double = 30) {
        self.members = members
        self.runDirectory = runDirectory
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.electionTimeoutMilliseconds = electionTimeoutMilliseconds
        self.firstPartyAddress = firstPartyAddress
        self.readinessTimeoutSeconds = readinessTimeoutSeconds
    }
}

/// One etcd member and its addresses.
public struct EtcdMemberAddresses: Sendable, Equatable {
    /// "n1", "n2", ...: the proxy's client route; its peer route is `name + ".peer"`.
    public var name: String
    /// Where it listens (client and peer ports), 127.0.0.K.
    public var partyAddress: String
    public var clientPort: Int
    public var peerPort: Int
    /// The proxy's listener for its clients (its advertised client URL).
    public var clientEndpoint: RedisEndpoint
    /// The proxy's listener for its peers (its advertised peer URL, in `--initial-cluster`).
    public var peerEndpoint: RedisEndpoint

    /// The proxy route of its peer listener.
    public var peerRoute: String { name + ".peer" }
}

/// A running etcd cluster whose every link passes through one `FaultProxy`.
///
/// Why the header: etcd's peer dialer cannot bind a source address (unlike Redis's
/// `bind-source-addr`), so every member's connections to a peer come from 127.0.0.1 and the
/// source-IP proxy cannot tell which member dialed. But etcd 3.4's peer traffic is plain HTTP
/// (rafthttp) and every request — the long-lived streams (`GET /raft/stream/msgappv2/<id>`,
/// `/raft/stream/message/<id>`) and the pipeline's `POST /raft` — carries `X-Server-From:
/// <member id hex>`. The peer routes classify connections by that header; once the cluster
/// runs, the member ids (from each member's status) are mapped to the members' addresses, so a
/// peer link is (dialing member's address, `nK.peer`) and partitions, lag and drops work as for
/// Redis. Raft messages flow both ways on a stream (the dialer receives on the response), so a
/// partition faults both directions of every link between the groups. Client connections go
/// through the client routes, classified by source address as before; partitions leave them up.
public final class EtcdProxiedCluster: NemesisHooks, @unchecked Sendable {
    public let configuration: EtcdClusterConfiguration
    public let proxy: FaultProxy
    public let supervisor: ProcessSupervisor
    public let members: [EtcdMemberAddresses]
    private let lock = Lock()
    private var stopped = false
    private var memberIDs: [String: UInt64] = [:]

    /// Starts the members and returns once a write succeeds and every member's id is known (and
    /// mapped in the proxy). On failure everything started is stopped.
    /// - Throws: `FaultInjectionError.missingTool` (etcd), `.cluster` (not ready in time).
    public static func start(_ configuration: EtcdClusterConfiguration) throws -> EtcdProxiedCluster {
        let cluster = try EtcdProxiedCluster(configuration: configuration)
        do {
            try cluster.launch()
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    init(configuration: EtcdClusterConfiguration) throws {
        guard configuration.members >= 1, configuration.firstPartyAddress >= 2, configuration.firstPartyAddress + configuration.members <= 250 else {
            throw FaultInjectionError.cluster("etcd cluster of \(configuration.members) members from 127.0.0.\(configuration.firstPartyAddress): expected at least one member and addresses up to 127.0.0.250")
        }
        self.configuration = configuration
        proxy = try FaultProxy()
        do {
            supervisor = try ProcessSupervisor(runDirectory: configuration.runDirectory)
            var list: [EtcdMemberAddresses] = []
            for index in 0..<configuration.members {
                let name = "n\(index + 1)"
                let address = "127.0.0.\(configuration.firstPartyAddress + index)"
                let clientPort = try Sockets.freePort(host: address)
                var peerPort = try Sockets.freePort(host: address)
                while peerPort == clientPort { peerPort = try Sockets.freePort(host: address) }
                let client = try proxy.addRoute(node: name, targetHost: address, targetPort: clientPort)
                let peer = try proxy.addRoute(node: name + ".peer", targetHost: address, targetPort: peerPort,
                                              classifier: .httpHeader("X-Server-From"))
                proxy.registerParty(name, address: address)
                list.append(EtcdMemberAddresses(name: name, partyAddress: address, clientPort: clientPort, peerPort: peerPort,
                                                clientEndpoint: RedisEndpoint(host: client.publicHost, port: client.publicPort),
                                                peerEndpoint: RedisEndpoint(host: peer.publicHost, port: peer.publicPort)))
            }
            members = list
        } catch {
            proxy.stop()
            throw error
        }
    }

    deinit { stop() }

    /// Stops every member and the proxy (idempotent). The run directory stays.
    public func stop() {
        let first: Bool = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        supervisor.stopAll()
        proxy.stop()
    }

    /// The members' public client addresses (what clients use), in member order.
    public var clientEndpoints: [RedisEndpoint] { members.map(\.clientEndpoint) }

    /// A member by name.
    public func member(_ name: String) -> EtcdMemberAddresses? { members.first { $0.name == name } }

    // MARK: - Launch

    static func etcdExecutable() throws(FaultInjectionError) -> String {
        for directory in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/etcd") {
            return "\(directory)/etcd"
        }
        throw .missingTool("etcd is not installed: install Debian's etcd-server package")
    }

    func launch() throws {
        let executable = try Self.etcdExecutable()
        let token = "kvlab-\(getpid())-\(UInt64(SystemMonotonicClock().nanoseconds()) % 1_000_000)"
        let initialCluster = members.map { "\($0.name)=http://\($0.peerEndpoint.host):\($0.peerEndpoint.port)" }.joined(separator: ",")
        for member in members {
            let directory = configuration.runDirectory + "/" + member.name
            try FileManager.default.createDirectory(atPath: configuration.runDirectory, withIntermediateDirectories: true)
            let arguments = [
                "--name", member.name,
                "--data-dir", directory,
                "--listen-client-urls", "http://\(member.partyAddress):\(member.clientPort)",
                "--advertise-client-urls", "http://\(member.clientEndpoint.host):\(member.clientEndpoint.port)",
                "--listen-peer-urls", "http://\(member.partyAddress):\(member.peerPort)",
                "--initial-advertise-peer-urls", "http://\(member.peerEndpoint.host):\(member.peerEndpoint.port)",
                "--initial-cluster", initialCluster,
                "--initial-cluster-state", "new",   // ignored on restart: the data directory exists
                "--initial-cluster-token", token,
                "--heartbeat-interval", String(configuration.heartbeatMilliseconds),
                "--election-timeout", String(configuration.electionTimeoutMilliseconds),
                "--logger", "zap", "--log-level", "warn",
            ]
            try supervisor.spawn(name: member.name, executable: executable, arguments: arguments)
        }
        for member in members {
            try supervisor.waitForPort(member.name, host: member.partyAddress, port: member.clientPort,
                                       timeoutSeconds: configuration.readinessTimeoutSeconds)
        }
        try waitUntil("a write through the proxy succeeds") {
            let client = EtcdClient(endpoints: clientEndpoints, settings: Self.querySettings)
            defer { client.close() }
            return (try? client.put(Array("kvlab-ready".utf8), Array("1".utf8))) != nil
        }
        try waitUntil("every member reports its id") {
            for member in members where lock.withLock({ memberIDs[member.name] }) == nil {
                guard let status = status(of: member.name) else { return false }
                lock.withLock { memberIDs[member.name] = status.member }
            }
            return true
        }
        // X-Server-From carries the id in hex (etcd's types.ID.String()).
        var mapping: [String: String] = [:]
        for (name, id) in lock.withLock({ memberIDs }) { mapping[String(id, radix: 16)] = name }
        try proxy.setHeaderParties(mapping)
    }

    static let querySettings = ConnectionSettings(ioTimeoutSeconds: 1, connectTimeoutSeconds: 0.5,
                                                  backoff: Backoff(initialSeconds: 0.02, maximumSeconds: 0.05))

    /// Polls `condition` every 100 ms until it holds or the readiness timeout passes.
    private func waitUntil(_ what: String, _ condition: () -> Bool) throws {
        let clock = SystemMonotonicClock()
        let deadline = clock.nanoseconds() + UInt64(configuration.readinessTimeoutSeconds * 1e9)
        while !condition() {
            if clock.nanoseconds() >= deadline {
                let logs = members.map { "[\($0.name)] " + supervisor.logTail($0.name, bytes: 400) }.joined(separator: "\n")
                throw FaultInjectionError.cluster("etcd cluster in \(configuration.runDirectory): not ready after \(configuration.readinessTimeoutSeconds) s: waiting until \(what); logs end:\n\(logs)")
            }
            usleep(100_000)
        }
    }

    // MARK: - Queries (through the client routes, from 127.0.0.1, which no partition names)

    /// A member's status (raft index and term, its leader), nil if it does not answer in time.
    public func status(of name: String, timeoutSeconds: Double = 1) -> EtcdClient.MemberStatus? {
        guard let member = member(name) else { return nil }
        var settings = Self.querySettings
        settings.ioTimeoutSeconds = timeoutSeconds
        let client = EtcdClient(endpoints: [member.clientEndpoint], settings: settings)
        defer { client.close() }
        return try? client.memberStatus()
    }

    /// The member's id (known once the cluster started).
    public func id(of name: String) -> UInt64? { lock.withLock { memberIDs[name] } }

    /// The member with this id.
    public func name(ofID id: UInt64) -> String? { lock.withLock { memberIDs.first { $0.value == id }?.key } }

    /// Each answering member's own view: true if it says it is the leader.
    public func leaderViews(timeoutSeconds: Double = 0.5) -> [String: Bool] {
        var views: [String: Bool] = [:]
        for member in members {
            if let status = status(of: member.name, timeoutSeconds: timeoutSeconds) {
                views[member.name] = status.leader != 0 && status.leader == status.member
            }
        }
        return views
    }

    /// The leader most answering members name (ties to the lower name); nil if none names one.
    public func currentLeader(timeoutSeconds: Double = 0.5) -> String? {
        var votes: [String: Int] = [:]
        for member in members {
            if let status = status(of: member.name, timeoutSeconds: timeoutSeconds), status.leader != 0, let name = name(ofID: status.leader) {
                votes[name, default: 0] += 1
            }
        }
        return votes.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.first?.key
    }

    // MARK: - NemesisHooks

    public var nodeNames: [String] { members.map(\.name) }

    public func currentPrimary() -> String? { currentLeader() }

    public func kill(node: String) throws { try supervisor.kill(node) }

    /// Starts the member again with its arguments and data directory (it rejoins from its WAL).
    public func restart(node: String) throws {
        guard let member = member(node) else { throw FaultInjectionError.unknownNode(node) }
        try supervisor.restart(node)
        try supervisor.waitForPort(node, host: member.partyAddress, port: member.clientPort, timeoutSeconds: configuration.readinessTimeoutSeconds)
    }

    public func pause(node: String) throws { try supervisor.pause(node) }

    public func resume(node: String) throws { try supervisor.resume(node) }

    /// Blackholes every peer link between members of different groups, both ways (client
    /// links stay up: clients reach every member, as in Jepsen's partitions between servers).
    public func partition(_ groups: [[String]]) throws {
        var changes: [ProxyLink: LinkFault?] = [:]
        for (i, group) in groups.enumerated() {
            for (j, other) in groups.enumerated() where i != j {
                for source in group {
                    guard let from = member(source) else { throw FaultInjectionError.unknownNode(source) }
                    for destination in other {
                        guard let to = member(destination) else { throw FaultInjectionError.unknownNode(destination) }
                        changes.updateValue(.blackhole, forKey: ProxyLink(source: from.partyAddress, destination: to.peerRoute))
                    }
                }
            }
        }
        try proxy.healAll()
        try proxy.setFaults(changes)
    }

    /// Delays every peer link (raft appends, heartbeats and their answers) by `milliseconds`.
    public func setReplicationDelay(milliseconds: Int) throws {
        let links = members.flatMap { source in
            members.filter { $0.name != source.name }.map { ProxyLink(source: source.partyAddress, destination: $0.peerRoute) }
        }
        try proxy.setDelay(milliseconds: milliseconds, on: links)
    }

    /// Resets every peer connection to and from `node` (bytes the proxy still holds for them are
    /// discarded), and refuses new ones until healed.
    public func dropPeerLinks(of node: String) throws {
        guard let target = member(node) else { throw FaultInjectionError.unknownNode(node) }
        var changes: [ProxyLink: LinkFault?] = [:]
        for other in members where other.name != node {
            changes.updateValue(.drop, forKey: ProxyLink(source: other.partyAddress, destination: target.peerRoute))
            changes.updateValue(.drop, forKey: ProxyLink(source: target.partyAddress, destination: other.peerRoute))
        }
        try proxy.setFaults(changes)
    }

    public func healNetwork() throws { try proxy.healAll() }
}
