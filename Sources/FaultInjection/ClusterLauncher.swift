// Starts a replicated cluster with sentinels (real Redis, or kvlab's own) behind the fault proxy.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KVClient
import KVCore
import RESP

/// Which servers a cluster runs.
public enum ClusterKind: String, Sendable, CaseIterable {
    /// Debian's `redis-server` and `redis-sentinel` (7.0).
    case redis
    /// `kvlab serve --replicaof ...` and `kvlab sentinel`.
    case kvlab
}

/// How to start a cluster.
public struct ClusterConfiguration: Sendable {
    public var kind: ClusterKind
    /// Replicas besides the primary.
    public var replicas: Int
    public var sentinels: Int
    /// The kvlab engine (`--engine`) of kvlab nodes; ignored for Redis.
    public var engine: String
    /// Where config files, data and logs go (created; kept after `stop()` for the report).
    public var runDirectory: String
    /// The name sentinels monitor the primary under.
    public var masterName: String
    /// Sentinel quorum; nil = a majority of the sentinels.
    public var quorum: Int?
    public var downAfterMilliseconds: Int
    public var failoverTimeoutMilliseconds: Int
    /// Extra arguments for every node (Redis: `--name value` pairs; kvlab: options such as `--repl-ack sync`).
    public var extraNodeArguments: [String]
    /// The `kvlab` executable for `.kvlab` clusters.
    public var kvlabExecutable: String?
    /// Parties get addresses 127.0.0.K from K = this upward (nodes, then sentinels).
    public var firstPartyAddress: Int
    /// How long each start-up step may take.
    public var readinessTimeoutSeconds: Double
    /// kvlab nodes keep their engine's files in `<runDirectory>/<node>/db` (`--db`), so a
    /// restarted node recovers them. Persistent engines only (lsm, btree).
    public var persistentData: Bool
    /// kvlab nodes open their engine through the switchable disk-fault layer (`--disk-faults`),
    /// for the nemesis's disk kinds; implies `persistentData`. Refused for Redis (redis-server
    /// has no fault layer) and for in-memory engines (no disk to fail).
    public var diskFaults: Bool

    public init(kind: ClusterKind, replicas: Int = 2, sentinels: Int = 3, engine: String = "hash", runDirectory: String,
                masterName: String = "kvlab", quorum: Int? = nil, downAfterMilliseconds: Int = 1000,
                failoverTimeoutMilliseconds: Int = 3000, extraNodeArguments: [String] = [], kvlabExecutable: String? = nil,
                firstPartyAddress: Int = 2, readinessTimeoutSeconds: Double = 30, persistentData: Bool = false,
                diskFaults: Bool = false) {
        self.kind = kind
        self.replicas = replicas
        self.sentinels = sentinels
        self.engine = engine
        self.runDirectory = runDirectory
        self.masterName = masterName
        self.quorum = quorum
        self.downAfterMilliseconds = downAfterMilliseconds
        self.failoverTimeoutMilliseconds = failoverTimeoutMilliseconds
        self.extraNodeArguments = extraNodeArguments
        self.kvlabExecutable = kvlabExecutable
        self.firstPartyAddress = firstPartyAddress
        self.readinessTimeoutSeconds = readinessTimeoutSeconds
        self.persistentData = persistentData
        self.diskFaults = diskFaults
    }

    /// The engines whose nodes can keep files and take disk faults.
    public static let persistentEngines = ["lsm", "btree"]

    /// Why this configuration cannot have `persistentData`/`diskFaults`, or nil if it can.
    public var persistenceProblem: String? {
        guard persistentData || diskFaults else { return nil }
        let what = diskFaults ? "disk faults" : "persistent node data"
        if kind == .redis {
            return "\(what) need kvlab nodes: a real redis-server has no fault-injecting file layer (cluster kind redis)"
        }
        if !Self.persistentEngines.contains(engine) {
            return "\(what) need a persistent engine (\(Self.persistentEngines.joined(separator: " or "))): engine \(engine) keeps its data in memory"
        }
        return nil
    }
}

/// One process of a cluster and its addresses.
public struct ClusterMember: Sendable, Equatable {
    public enum Role: String, Sendable { case node, sentinel }
    /// "n1", "n2", ... for nodes, "s1", ... for sentinels.
    public var name: String
    public var role: Role
    /// Its own loopback address: it listens there and binds its outgoing connections to it.
    public var partyAddress: String
    /// Where it really listens.
    public var port: Int
    /// Its public address (the proxy's): what every other party uses.
    public var publicEndpoint: RedisEndpoint
}

/// Starts clusters: a primary, replicas and sentinels, each on its own loopback address, every
/// link through one `FaultProxy`, every process under one `ProcessSupervisor`.
public enum ClusterLauncher {
    /// Starts the cluster and returns once every replica is in sync and every sentinel knows the
    /// primary, its replicas and the other sentinels. On failure everything started is stopped.
    /// - Throws: `.missingTool` (redis-server, redis-sentinel, kvlab), `.notReady`, `.cluster`.
    public static func start(_ configuration: ClusterConfiguration) throws -> RunningCluster {
        let cluster = try RunningCluster(configuration: configuration)
        do {
            try cluster.launch()
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    /// Starts a cluster (see `start(_:)`).
    public static func start(kind: ClusterKind, replicas: Int = 2, sentinels: Int = 3, engine: String = "hash",
                             runDirectory: String) throws -> RunningCluster {
        try start(ClusterConfiguration(kind: kind, replicas: replicas, sentinels: sentinels, engine: engine, runDirectory: runDirectory))
    }

    static func tool(_ name: String) throws(FaultInjectionError) -> String {
        for directory in ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        throw .missingTool("\(name) is not installed: install Debian's redis-server package (it runs Sentinel too)")
    }
}

/// A started cluster: its members, the proxy, the supervisor, and the nemesis hooks.
public final class RunningCluster: NemesisHooks, @unchecked Sendable {
    public let configuration: ClusterConfiguration
    public let proxy: FaultProxy
    public let supervisor: ProcessSupervisor
    public let nodes: [ClusterMember]
    public let sentinels: [ClusterMember]
    private let lock = Lock()
    private var stopped = false

    init(configuration: ClusterConfiguration) throws {
        guard configuration.sentinels >= 1, configuration.replicas >= 0,
              configuration.firstPartyAddress >= 2, configuration.firstPartyAddress + configuration.replicas + configuration.sentinels <= 250 else {
            throw FaultInjectionError.cluster("cluster of \(configuration.replicas) replicas and \(configuration.sentinels) sentinels from 127.0.0.\(configuration.firstPartyAddress): expected at least one sentinel and addresses up to 127.0.0.250")
        }
        if let problem = configuration.persistenceProblem { throw FaultInjectionError.cluster(problem) }
        self.configuration = configuration
        proxy = try FaultProxy()
        do {
            supervisor = try ProcessSupervisor(runDirectory: configuration.runDirectory)
            var nodes: [ClusterMember] = [], sentinels: [ClusterMember] = []
            var address = configuration.firstPartyAddress
            for index in 0...configuration.replicas {
                nodes.append(try Self.member(name: "n\(index + 1)", role: .node, address: "127.0.0.\(address)", proxy: proxy))
                address += 1
            }
            for index in 0..<configuration.sentinels {
                sentinels.append(try Self.member(name: "s\(index + 1)", role: .sentinel, address: "127.0.0.\(address)", proxy: proxy))
                address += 1
            }
            self.nodes = nodes
            self.sentinels = sentinels
        } catch {
            proxy.stop()
            throw error
        }
    }

    deinit { stop() }

    private static func member(name: String, role: ClusterMember.Role, address: String, proxy: FaultProxy) throws -> ClusterMember {
        let port = try Sockets.freePort(host: address)
        let route = try proxy.addRoute(node: name, targetHost: address, targetPort: port)
        return ClusterMember(name: name, role: role, partyAddress: address, port: port,
                             publicEndpoint: RedisEndpoint(host: route.publicHost, port: route.publicPort))
    }

    /// Stops every process and the proxy (idempotent). The run directory stays.
    public func stop() {
        let first: Bool = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        supervisor.stopAll()
        proxy.stop()
    }

    // MARK: - Launch

    func launch() throws {
        let primary = nodes[0]
        for (index, node) in nodes.enumerated() {
            let directory = configuration.runDirectory + "/" + node.name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let replicaOf = index == 0 ? nil : primary.publicEndpoint
            let (executable, arguments) = try nodeCommand(node, directory: directory, replicaOf: replicaOf)
            try supervisor.spawn(name: node.name, executable: executable, arguments: arguments)
            try supervisor.waitForPort(node.name, host: node.partyAddress, port: node.port, timeoutSeconds: configuration.readinessTimeoutSeconds)
        }
        try waitUntil("every replica has its link to \(primary.name) up") {
            nodes.dropFirst().allSatisfy { replicationField($0, "master_link_status") == "up" }
        }
        for sentinel in sentinels {
            let directory = configuration.runDirectory + "/" + sentinel.name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let (executable, arguments) = try sentinelCommand(sentinel, directory: directory, primary: primary)
            try supervisor.spawn(name: sentinel.name, executable: executable, arguments: arguments)
            try supervisor.waitForPort(sentinel.name, host: sentinel.partyAddress, port: sentinel.port, timeoutSeconds: configuration.readinessTimeoutSeconds)
        }
        try waitUntil("every sentinel knows \(primary.name), its \(configuration.replicas) replicas and the other sentinels") {
            sentinels.allSatisfy { sentinel in
                guard let fields = masterFields(from: sentinel) else { return false }
                return fields["ip"] == primary.publicEndpoint.host && fields["port"] == String(primary.publicEndpoint.port)
                    && Int(fields["num-slaves"] ?? "") == configuration.replicas
                    && Int(fields["num-other-sentinels"] ?? "") == sentinels.count - 1
            }
        }
    }

    private var quorum: Int { configuration.quorum ?? (sentinels.count / 2 + 1) }

    private func nodeCommand(_ node: ClusterMember, directory: String, replicaOf: RedisEndpoint?) throws -> (String, [String]) {
        switch configuration.kind {
        case .redis:
            var lines = [
                "port \(node.port)", "bind \(node.partyAddress)", "bind-source-addr \(node.partyAddress)",
                "protected-mode no", "daemonize no", "dir \(directory)", "save \"\"", "appendonly no",
                "replica-announce-ip \(node.publicEndpoint.host)", "replica-announce-port \(node.publicEndpoint.port)",
                "repl-diskless-sync-delay 0", "loglevel notice",
            ]
            if let replicaOf { lines.append("replicaof \(replicaOf.host) \(replicaOf.port)") }
            let path = directory + "/redis.conf"
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return (try ClusterLauncher.tool("redis-server"), [path] + configuration.extraNodeArguments)
        case .kvlab:
            guard let executable = configuration.kvlabExecutable else { throw FaultInjectionError.cluster("a kvlab cluster needs kvlabExecutable") }
            var arguments = ["serve", "--engine", configuration.engine, "--port", String(node.port), "--bind", node.partyAddress,
                             "--replica-announce-ip", node.publicEndpoint.host, "--replica-announce-port", String(node.publicEndpoint.port)]
            if let replicaOf { arguments += ["--replicaof", "\(replicaOf.host):\(replicaOf.port)"] }
            if configuration.persistentData || configuration.diskFaults {
                let data = directory + "/db"
                try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
                arguments += ["--db", data]
            }
            if configuration.diskFaults { arguments.append("--disk-faults") }
            return (executable, arguments + configuration.extraNodeArguments)
        }
    }

    private func sentinelCommand(_ sentinel: ClusterMember, directory: String, primary: ClusterMember) throws -> (String, [String]) {
        let name = configuration.masterName
        switch configuration.kind {
        case .redis:
            let lines = [
                "port \(sentinel.port)", "bind \(sentinel.partyAddress)", "bind-source-addr \(sentinel.partyAddress)",
                "protected-mode no", "daemonize no", "dir \(directory)",
                "sentinel announce-ip \(sentinel.publicEndpoint.host)", "sentinel announce-port \(sentinel.publicEndpoint.port)",
                "sentinel monitor \(name) \(primary.publicEndpoint.host) \(primary.publicEndpoint.port) \(quorum)",
                "sentinel down-after-milliseconds \(name) \(configuration.downAfterMilliseconds)",
                "sentinel failover-timeout \(name) \(configuration.failoverTimeoutMilliseconds)",
                "sentinel parallel-syncs \(name) 1",
            ]
            let path = directory + "/sentinel.conf"   // Sentinel rewrites it: it must be writable
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            // `redis-server --sentinel` is what Debian's redis-sentinel (a link to redis-server) runs.
            return (try ClusterLauncher.tool("redis-server"), [path, "--sentinel"])
        case .kvlab:
            guard let executable = configuration.kvlabExecutable else { throw FaultInjectionError.cluster("a kvlab cluster needs kvlabExecutable") }
            var arguments = ["sentinel", "--port", String(sentinel.port), "--bind", sentinel.partyAddress,
                             "--monitor", name, "\(primary.publicEndpoint.host):\(primary.publicEndpoint.port)",
                             "--quorum", String(quorum),
                             "--down-after-ms", String(configuration.downAfterMilliseconds),
                             "--failover-timeout-ms", String(configuration.failoverTimeoutMilliseconds),
                             "--announce-ip", sentinel.publicEndpoint.host, "--announce-port", String(sentinel.publicEndpoint.port)]
            for other in sentinels where other.name != sentinel.name {
                arguments += ["--sentinel", "\(other.publicEndpoint.host):\(other.publicEndpoint.port)"]
            }
            return (executable, arguments)
        }
    }

    /// Polls `condition` every 100 ms until it holds or the readiness timeout passes.
    private func waitUntil(_ what: String, _ condition: () -> Bool) throws {
        let clock = SystemMonotonicClock()
        let deadline = clock.nanoseconds() + UInt64(configuration.readinessTimeoutSeconds * 1e9)
        while !condition() {
            if clock.nanoseconds() >= deadline {
                throw FaultInjectionError.cluster("cluster in \(configuration.runDirectory): not ready after \(configuration.readinessTimeoutSeconds) s: waiting until \(what)")
            }
            usleep(100_000)
        }
    }

    // MARK: - Queries (through the public addresses, from 127.0.0.1, which no partition names)

    /// One command to a member's public address; nil on any failure.
    public func call(_ member: ClusterMember, _ arguments: [String], timeoutSeconds: Double = 1) -> RESPValue? {
        guard let connection = try? RESPConnection(endpoint: member.publicEndpoint, timeoutSeconds: timeoutSeconds, connectTimeoutSeconds: timeoutSeconds),
              let reply = try? connection.call(arguments), !reply.isError else { return nil }
        return reply
    }

    /// A field of the node's `INFO replication`.
    public func replicationField(_ node: ClusterMember, _ field: String) -> String? {
        guard let text = call(node, ["INFO", "replication"])?.text else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix(field + ":") {
            return String(line.dropFirst(field.count + 1)).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// The node's role as it says itself ("master" or "slave"), nil if it does not answer.
    public func role(of node: ClusterMember) -> String? {
        call(node, ["ROLE"])?.elements?.first?.text
    }

    /// The sentinel's view of the monitored primary (`SENTINEL masters`, as field → value).
    public func masterFields(from sentinel: ClusterMember) -> [String: String]? {
        guard let masters = call(sentinel, ["SENTINEL", "masters"])?.elements else { return nil }
        for master in masters {
            guard let flat = master.elements?.compactMap(\.text), flat.count % 2 == 0 else { continue }
            var fields: [String: String] = [:]
            for i in stride(from: 0, to: flat.count, by: 2) { fields[flat[i]] = flat[i + 1] }
            if fields["name"] == configuration.masterName { return fields }
        }
        return nil
    }

    /// The node a sentinel names as primary (`SENTINEL get-master-addr-by-name`).
    public func primaryNamed(by sentinel: ClusterMember) -> ClusterMember? {
        guard let reply = call(sentinel, ["SENTINEL", "get-master-addr-by-name", configuration.masterName])?.elements,
              reply.count == 2, let host = reply[0].text, let port = reply[1].text.flatMap(Int.init) else { return nil }
        return nodes.first { $0.publicEndpoint == RedisEndpoint(host: host, port: port) }
    }

    /// The node that is primary now: the one most sentinels name, confirmed by its own `ROLE`.
    public func currentPrimaryMember() -> ClusterMember? {
        var votes: [String: Int] = [:]
        for sentinel in sentinels {
            if let node = primaryNamed(by: sentinel) { votes[node.name, default: 0] += 1 }
        }
        for (name, _) in votes.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            if let node = member(name), role(of: node) == "master" { return node }
        }
        return nil
    }

    /// A member by name.
    public func member(_ name: String) -> ClusterMember? {
        (nodes + sentinels).first { $0.name == name }
    }

    // MARK: - NemesisHooks

    public var nodeNames: [String] { nodes.map(\.name) }

    public func currentPrimary() -> String? { currentPrimaryMember()?.name }

    public func kill(node: String) throws { try supervisor.kill(node) }

    public func restart(node: String) throws {
        try supervisor.restart(node)
        guard let member = member(node) else { throw FaultInjectionError.unknownNode(node) }
        try supervisor.waitForPort(node, host: member.partyAddress, port: member.port, timeoutSeconds: configuration.readinessTimeoutSeconds)
    }

    public func pause(node: String) throws { try supervisor.pause(node) }

    public func resume(node: String) throws { try supervisor.resume(node) }

    /// Partitions the nodes; sentinel i stands with node i (as when each runs on its node's
    /// host), and sentinels beyond the node count stand with the first group.
    public func partition(_ groups: [[String]]) throws {
        var parties = groups
        for (index, sentinel) in sentinels.enumerated() {
            let companion = index < nodes.count ? nodes[index].name : nil
            let group = parties.firstIndex { group in companion.map(group.contains) ?? false } ?? 0
            parties[group].append(sentinel.name)
        }
        try proxy.healAll()
        try proxy.partition(parties, with: .blackhole)
    }

    /// Delays every node-to-node link (replication and its acks) by `milliseconds`.
    public func setReplicationDelay(milliseconds: Int) throws {
        let links = nodes.flatMap { source in
            nodes.filter { $0.name != source.name }.map { ProxyLink(source: source.partyAddress, destination: $0.name) }
        }
        try proxy.setDelay(milliseconds: milliseconds, on: links)
    }

    public func healNetwork() throws { try proxy.healAll() }

    /// Sends `DEBUG DISKFAULT fsync-error|disk-full` to the node's own port.
    public func setDiskFault(node: String, _ fault: NemesisDiskFault) throws {
        try debugDiskFault(node, fault.rawValue)
    }

    /// Sends `DEBUG DISKFAULT none` to the node's own port, then restarts the node if its engine
    /// failed while the fault was on: kvlab's engines never retry after an I/O error (a failed
    /// fsync may have dropped pages a retry would report as durable), so only a restart, which
    /// recovers from the files, brings the node back. A failed engine shows as
    /// `aof_last_write_status:err` (a client's write failed) or, on a replica, as a replication
    /// link that is down (applying the primary's stream failed).
    public func healDiskFault(node: String) throws -> String {
        try debugDiskFault(node, "none")
        guard let member = member(node) else { throw FaultInjectionError.unknownNode(node) }
        let persistence = directInfo(member, "persistence")
        let replication = directInfo(member, "replication")
        var reason: String?
        if persistence["aof_last_write_status"] == "err" {
            reason = "aof_last_write_status:err"
        } else if replication["role"] == "slave", replication["master_link_status"] != "up" {
            reason = "replica with master_link_status:\(replication["master_link_status"] ?? "?")"
        }
        guard let reason else { return "DEBUG DISKFAULT none on \(node)" }
        try restart(node: node)
        return "DEBUG DISKFAULT none on \(node); its engine had failed (\(reason)): restarted \(node)"
    }

    /// One `DEBUG DISKFAULT mode` to the node's real port: the proxy is not in the way, so the
    /// switch works whatever network fault is on.
    private func debugDiskFault(_ node: String, _ mode: String) throws {
        guard configuration.diskFaults else {
            throw FaultInjectionError.cluster("\(node): DEBUG DISKFAULT \(mode): the cluster was started without disk faults")
        }
        guard let member = member(node), member.role == .node else { throw FaultInjectionError.unknownNode(node) }
        let connection = try RESPConnection(endpoint: RedisEndpoint(host: member.partyAddress, port: member.port),
                                            timeoutSeconds: 5, connectTimeoutSeconds: 5)
        defer { connection.close() }
        let reply = try connection.call(["DEBUG", "DISKFAULT", mode])
        guard !reply.isError, reply.text == "OK" else {
            throw FaultInjectionError.cluster("\(node) (\(member.partyAddress):\(member.port)): DEBUG DISKFAULT \(mode) answered \(reply.text ?? "\(reply)")")
        }
    }

    /// An INFO section of the node, asked on its real port, as field → value (empty on failure).
    private func directInfo(_ member: ClusterMember, _ section: String) -> [String: String] {
        guard let connection = try? RESPConnection(endpoint: RedisEndpoint(host: member.partyAddress, port: member.port),
                                                   timeoutSeconds: 2, connectTimeoutSeconds: 2) else { return [:] }
        defer { connection.close() }
        guard let text = (try? connection.call(["INFO", section]))?.text else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}
