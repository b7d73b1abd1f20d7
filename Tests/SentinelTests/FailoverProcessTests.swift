// Real processes: three `kvlab sentinel`s fail over a redis-server primary with two replicas;
// redis-py's Sentinel client and kvlab's SentinelDiscovery find the primary through them.

import Foundation
import KVClient
import KVLabTestSupport
import RESP
import Testing

/// A child process whose output goes to a log file (shown when a test fails), SIGKILLed by `stop`.
final class ChildProcess {
    let process = Process()
    let log: URL

    init(_ executable: String, _ arguments: [String], name: String) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-\(name)-\(UUID().uuidString.prefix(8)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { if process.isRunning { kill(process.processIdentifier, sig) } }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop(); try? FileManager.default.removeItem(at: log) }
}

/// The kvlab executable built next to the test bundle.
func kvlabExecutable() throws -> String {
    let path = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("kvlab").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw RedisProcessError.missingTool("the kvlab executable is not at \(path): run the tests with `swift test`, which builds it")
    }
    return path
}

/// redis-server on a given port (so a killed primary can come back on its address).
func startRedis(port: Int, directory: URL, extra: [String] = []) throws -> ChildProcess {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let child = try ChildProcess(try redisTool("redis-server"),
                                 ["--port", String(port), "--bind", "127.0.0.1", "--protected-mode", "no", "--save", "", "--appendonly", "no",
                                  "--dir", directory.path, "--daemonize", "no", "--loglevel", "warning"] + extra, name: "redis-\(port)")
    try waitFor("redis-server on \(port) answers PING", seconds: 10) {
        (try? RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: port), timeoutSeconds: 1).call(["PING"])) == .simpleString("PONG")
    }
    return child
}

struct Timeout: Error, CustomStringConvertible { var description: String }

/// Polls `condition` every 50 ms until it holds, or throws after `seconds`.
func waitFor(_ what: String, seconds: Double, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return }
        usleep(50_000)
    }
    throw Timeout(description: "timed out after \(seconds) s waiting until \(what)")
}

/// One command on a fresh connection (nil if the server does not answer).
func ask(_ port: Int, _ command: [String], host: String = "127.0.0.1") -> RESPValue? {
    guard let c = try? RESPConnection(endpoint: RedisEndpoint(host: host, port: port), timeoutSeconds: 2, connectTimeoutSeconds: 2) else { return nil }
    return try? c.call(command)
}

/// A field of a node's `INFO replication`.
func replicationField(_ port: Int, _ name: String) -> String? {
    guard let text = ask(port, ["INFO", "replication"])?.text else { return nil }
    return text.split(whereSeparator: \.isNewline).first { $0.hasPrefix(name + ":") }.map { String($0.dropFirst(name.count + 1)) }
}

@Suite("Sentinel processes", .serialized)
struct FailoverProcessTests {
    @Test("three kvlab sentinels fail a killed redis-server primary over to the replica with the highest offset, and the old primary rejoins as a replica")
    func realFailover() throws {
        try failover(kind: "redis-server") { port, directory, primary in
            try startRedis(port: port, directory: directory, extra: primary.map { ["--replicaof", "127.0.0.1", String($0)] } ?? [])
        } cutReplicaLinks: { primaryPort in
            // A stopped process still receives into its socket buffer: cut every replica's link
            // (only B, not stopped, reconnects).
            _ = ask(primaryPort, ["CLIENT", "KILL", "TYPE", "replica"])
        }
    }

    @Test("three kvlab sentinels fail a killed kvlab serve primary over to the replica with the highest offset, and the old primary rejoins as a replica")
    func kvlabServeFailover() throws {
        let kvlab = try kvlabExecutable()
        try failover(kind: "kvlab serve") { port, directory, primary in
            // A short repl-timeout: the primary drops a stopped replica's link within 0.5 s.
            let child = try ChildProcess(kvlab, ["serve", "--engine", "hash", "--port", String(port), "--threads", "1",
                                                 "--repl-timeout", "0.5", "--repl-ping-replica-period", "0.1"]
                                                 + (primary.map { ["--replicaof", "127.0.0.1:\($0)"] } ?? []), name: "serve-\(port)")
            try waitFor("kvlab serve on \(port) answers PING", seconds: 15) { ask(port, ["PING"]) == .simpleString("PONG") }
            return child
        } cutReplicaLinks: { _ in }
    }

    /// A primary and two replicas started by `startNode(port, directory, primary port or nil)`,
    /// three kvlab sentinels; replica A misses the last writes (stopped while the primary drops
    /// its link: `cutReplicaLinks` helps where the server will not notice by itself), the
    /// primary is SIGKILLed; B must be promoted, A follow it, and the restarted old primary
    /// become B's replica.
    func failover(kind: String, startNode: (Int, URL, Int?) throws -> ChildProcess, cutReplicaLinks: (Int) -> Void) throws {
        let kvlab = try kvlabExecutable()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-sentinel-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: base) }
        let primaryPort = freePort(), portA = freePort(), portB = freePort()
        var primary = try startNode(primaryPort, base.appendingPathComponent("p"), nil)
        let replicaA = try startNode(portA, base.appendingPathComponent("a"), primaryPort)
        let replicaB = try startNode(portB, base.appendingPathComponent("b"), primaryPort)
        // Each sentinel has its own loopback address, as the fault-injection contract wants.
        let hosts = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
        let ports = [freePort(), freePort(), freePort()]
        var sentinels: [ChildProcess] = []
        defer {
            replicaA.signal(SIGCONT)
            for s in sentinels { s.stop() }
            primary.stop(); replicaA.stop(); replicaB.stop()
        }
        for i in 0..<3 {
            var args = ["sentinel", "--port", String(ports[i]), "--bind", hosts[i], "--monitor", "mymaster", "127.0.0.1:\(primaryPort)",
                        "--quorum", "2", "--down-after-ms", "1000", "--failover-timeout-ms", "6000", "--ping-interval-ms", "250",
                        "--info-interval-ms", "1000", "--reconfigure-after-ms", "1000", "--seed", String(100 + i)]
            for j in 0..<3 where j != i { args += ["--sentinel", "\(hosts[j]):\(ports[j])"] }
            sentinels.append(try ChildProcess(kvlab, args, name: "sentinel-\(i)"))
        }
        func logs() -> String { sentinels.enumerated().map { "--- sentinel \($0.offset)\n\($0.element.output)" }.joined(separator: "\n") }
        do {
            try waitFor("both replicas are linked", seconds: 15) {
                replicationField(portA, "master_link_status") == "up" && replicationField(portB, "master_link_status") == "up"
            }
            try waitFor("every sentinel knows both replicas", seconds: 15) {
                (0..<3).allSatisfy { ask(ports[$0], ["SENTINEL", "replicas", "mymaster"], host: hosts[$0])?.elements?.count == 2 }
            }
            // Outgoing connections come from each sentinel's --bind address.
            if kind == "redis-server" {
                let clients = ask(primaryPort, ["CLIENT", "LIST"])?.text ?? ""
                #expect(hosts.allSatisfy { clients.contains("addr=\($0):") }, "the primary sees connections from 127.0.0.11-13: \(clients)")
            }

            // Replica A falls behind: stopped, its link dropped, while the writes reach B only.
            replicaA.signal(SIGSTOP)
            cutReplicaLinks(primaryPort)
            try waitFor("only replica B is linked", seconds: 30) {
                (ask(primaryPort, ["INFO", "replication"])?.text ?? "").contains("connected_slaves:1")
                    && replicationField(portB, "master_link_status") == "up"
            }
            let writer = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: primaryPort), timeoutSeconds: 2)
            _ = try writer.pipeline((0..<200).map { ["SET", "key\($0)", "value\($0)"] })
            let target = Int(replicationField(primaryPort, "master_repl_offset") ?? "") ?? -1
            try waitFor("replica B has every write", seconds: 30) { (Int(replicationField(portB, "slave_repl_offset") ?? "") ?? -1) >= target }
            primary.signal(SIGKILL)
            primary.stop()
            replicaA.signal(SIGCONT)
            try waitFor("replica A reports its lower offset", seconds: 30) {
                (Int(replicationField(portA, "slave_repl_offset") ?? "") ?? .max) < target
            }

            try waitFor("every sentinel names replica B", seconds: 30) {
                (0..<3).allSatisfy {
                    ask(ports[$0], ["SENTINEL", "get-master-addr-by-name", "mymaster"], host: hosts[$0])
                        == .array([.bulk("127.0.0.1"), .bulk(String(portB))])
                }
            }
            #expect(replicationField(portB, "role") == "master")
            try waitFor("replica A follows B", seconds: 30) { replicationField(portA, "master_port") == String(portB) }
            #expect(ask(portB, ["GET", "key199"]) == .bulk("value199"), "the promoted replica has the last write")

            var discovery = SentinelDiscovery(sentinels: (0..<3).map { RedisEndpoint(host: hosts[$0], port: ports[$0]) }, masterName: "mymaster")
            #expect(try discovery.primary() == RedisEndpoint(host: "127.0.0.1", port: portB))

            // The old primary comes back empty, as a master; the sentinels make it B's replica.
            primary = try startNode(primaryPort, base.appendingPathComponent("p2"), nil)
            try waitFor("the old primary is a replica of B", seconds: 20) {
                replicationField(primaryPort, "role") == "slave" && replicationField(primaryPort, "master_port") == String(portB)
            }
            #expect(logs().contains("+switch-master mymaster 127.0.0.1 \(primaryPort) 127.0.0.1 \(portB)"))
            #expect(logs().contains("+convert-to-slave"))
            let elected = logs().split(separator: "\n").filter { $0.contains("+elected-leader") }
            #expect(Set(elected.compactMap { $0.split(separator: " ").last }).count == elected.count, "one leader per epoch: \(elected)")
        } catch {
            Issue.record("\(kind): \(error)\n\(logs())")
        }
    }

    @Test("redis-py's Sentinel client and a sentinel-resolved connection find the primary through kvlab sentinel")
    func clientsDiscoverThePrimary() throws {
        let kvlab = try kvlabExecutable()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-sentinel-py-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: base) }
        let primaryPort = freePort(), replicaPort = freePort(), sentinelPort = freePort()
        let primary = try startRedis(port: primaryPort, directory: base.appendingPathComponent("p"))
        let replica = try startRedis(port: replicaPort, directory: base.appendingPathComponent("r"), extra: ["--replicaof", "127.0.0.1", String(primaryPort)])
        let sentinel = try ChildProcess(kvlab, ["sentinel", "--port", String(sentinelPort), "--monitor", "mymaster", "127.0.0.1:\(primaryPort)",
                                                "--quorum", "1", "--info-interval-ms", "500"], name: "sentinel-py")
        defer { sentinel.stop(); replica.stop(); primary.stop() }
        do {
            try waitFor("the sentinel knows the replica", seconds: 15) {
                ask(sentinelPort, ["SENTINEL", "replicas", "mymaster"])?.elements?.count == 1
            }
            let script = """
            import sys
            try:
                from redis.sentinel import Sentinel
            except ImportError:
                print("python3 cannot import redis (redis-py): pip install redis"); sys.exit(3)
            s = Sentinel([("127.0.0.1", \(sentinelPort))], socket_timeout=2)
            master = s.discover_master("mymaster")
            replicas = s.discover_slaves("mymaster")
            m = s.master_for("mymaster", socket_timeout=2)
            m.set("py-key", "py-value")
            print("master", master[0], master[1])
            print("replicas", ",".join(f"{h}:{p}" for h, p in replicas))
            print("get", m.get("py-key").decode())
            """
            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            python.arguments = ["python3", "-c", script]
            let pipe = Pipe()
            python.standardOutput = pipe
            python.standardError = pipe
            try python.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            python.waitUntilExit()
            #expect(python.terminationStatus == 0, "python3 with redis-py failed (CI needs python3 and redis-py): \(output)")
            #expect(output.contains("master 127.0.0.1 \(primaryPort)"), "\(output)")
            #expect(output.contains("replicas 127.0.0.1:\(replicaPort)"), "\(output)")
            #expect(output.contains("get py-value"), "\(output)")

            // kvlab's own client: a connection that asks the sentinel which server to use.
            let discovery = SentinelDiscovery(sentinels: [RedisEndpoint(host: "127.0.0.1", port: sentinelPort)], masterName: "mymaster")
            let connection = try ReconnectingConnection(resolver: { () throws(RESPClientError) in var d = discovery; return try d.primary() })
            #expect(connection.endpoint.port == primaryPort)
            #expect(try connection.connection().call(["GET", "py-key"]) == .bulk("py-value"))
            var unknown = SentinelDiscovery(sentinels: [RedisEndpoint(host: "127.0.0.1", port: sentinelPort)], masterName: "nosuch")
            #expect(throws: RESPClientError.self) { try unknown.primary() }
        } catch {
            Issue.record("\(error)\n\(sentinel.output)")
        }
    }
}
