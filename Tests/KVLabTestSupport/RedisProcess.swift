// Real redis-server processes for tests: one server, or a 3-node cluster, on free loopback ports.
// Shared by the test targets that talk to Redis (a library target, so it is written once).

import Foundation
import KVClient
import RESP

/// A free TCP port on 127.0.0.1 (bound and released; a race with other processes is unlikely).
public func freePort() -> Int {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(s) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// True if `port` can be bound on 127.0.0.1 right now.
public func portIsFree(_ port: Int) -> Bool {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(s) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

/// A free port P below 55535 whose cluster bus port P+10000 is free too (cluster nodes need both).
public func freeClusterPort() -> Int {
    for _ in 0..<1000 {
        let p = Int.random(in: 20000..<30000)
        if portIsFree(p) && portIsFree(p + 10000) { return p }
    }
    return freePort()
}

/// A Redis tool (redis-server, redis-cli, redis-benchmark). A missing tool is an error that fails
/// the test (not a skip): CI installs them.
public func redisTool(_ name: String) throws -> String {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    throw RedisProcessError.missingTool("\(name) is not installed: install Debian's redis-server and redis-tools (.ci/run does)")
}

public enum RedisProcessError: Error { case missingTool(String), notReady(String) }

/// `redis-server --port P --save "" --appendonly no` in a temporary directory; `stop()` ends it.
public final class RedisServerProcess {
    public let process = Process()
    public let port: Int
    public let directory: URL

    public init(extraArguments: [String] = [], cluster: Bool = false) throws {
        port = cluster ? freeClusterPort() : freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-redis-\(port)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: try redisTool("redis-server"))
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", directory.path, "--daemonize", "no", "--loglevel", "warning"] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let c = try? RESPConnection(endpoint: endpoint, timeoutSeconds: 2), (try? c.call(["PING"])) == .simpleString("PONG") { return }
            usleep(50_000)
        }
        stop()
        throw RedisProcessError.notReady("redis-server on port \(port) did not answer PING within 10 s")
    }

    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    public func stop() {
        if process.isRunning {
            // SIGKILL: a child of the test runner may inherit a mask that blocks SIGTERM, and a
            // redis-server without persistence has nothing to save.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Cluster-enabled redis-servers joined with `redis-cli --cluster create`: three primaries, and
/// with `replicas: 1` a replica of each (six processes), ready when every node says
/// `cluster_state:ok` and every replica's link to its primary is up.
public final class RedisClusterProcesses {
    public let nodes: [RedisServerProcess]

    /// - Parameters:
    ///   - replicas: replicas per primary.
    ///   - nodeTimeoutMilliseconds: `cluster-node-timeout`: how long a silent primary takes to be
    ///     declared failed (a replica is promoted soon after).
    public init(replicas: Int = 0, nodeTimeoutMilliseconds: Int = 5000) throws {
        var started: [RedisServerProcess] = []
        do {
            for _ in 0..<(3 * (1 + replicas)) {
                started.append(try RedisServerProcess(extraArguments: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                                                       "--cluster-node-timeout", String(nodeTimeoutMilliseconds)], cluster: true))
            }
            let cli = Process()
            cli.executableURL = URL(fileURLWithPath: try redisTool("redis-cli"))
            cli.arguments = ["--cluster", "create"] + started.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", String(replicas), "--cluster-yes"]
            cli.standardOutput = FileHandle.nullDevice
            cli.standardError = FileHandle.nullDevice
            try cli.run()
            cli.waitUntilExit()
            guard cli.terminationStatus == 0 else { throw RedisProcessError.notReady("redis-cli --cluster create exited \(cli.terminationStatus)") }
            let deadline = Date().addingTimeInterval(20)
            var ready = false
            while Date() < deadline && !ready {
                ready = started.allSatisfy { node in
                    guard let c = try? RESPConnection(endpoint: node.endpoint, timeoutSeconds: 2),
                          let info = try? c.call(["CLUSTER", "INFO"]).text, info.contains("cluster_state:ok"),
                          let replication = try? c.call(["INFO", "replication"]).text else { return false }
                    // A replica is ready once its first sync is done (it can then be promoted).
                    return replication.contains("role:master") || replication.contains("master_link_status:up")
                }
                if !ready { usleep(100_000) }
            }
            guard ready else { throw RedisProcessError.notReady("cluster_state did not become ok within 20 s") }
        } catch {
            for n in started { n.stop() }
            throw error
        }
        nodes = started
    }

    public var seedURL: String { "redis-cluster://127.0.0.1:\(nodes[0].port)" }

    /// The node's role from `INFO replication` ("master" or "slave"), nil if it does not answer.
    public static func role(of node: RedisServerProcess) -> String? {
        guard let c = try? RESPConnection(endpoint: node.endpoint, timeoutSeconds: 2),
              let text = try? c.call(["INFO", "replication"]).text,
              let line = text.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("role:") }) else { return nil }
        return String(line.dropFirst("role:".count))
    }

    /// The port of the primary `replica` replicates (`master_port` of `INFO replication`).
    public static func primaryPort(of replica: RedisServerProcess) -> Int? {
        guard let c = try? RESPConnection(endpoint: replica.endpoint, timeoutSeconds: 2),
              let text = try? c.call(["INFO", "replication"]).text,
              let line = text.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("master_port:") }) else { return nil }
        return Int(line.dropFirst("master_port:".count).trimmingCharacters(in: .whitespaces))
    }

    public func stop() { for n in nodes { n.stop() } }
}
