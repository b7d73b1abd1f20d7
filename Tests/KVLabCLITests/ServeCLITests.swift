// `kvlab serve` as a process, and YCSB workloads through `--server` against kvlab's server,
// a real redis-server and a real 3-node Redis Cluster.

import Foundation
import KVLabTestSupport
import KVClient
import RESP
import Testing

/// `kvlab serve ... --port P` as a child process (P = 0: a free port); the bound port comes
/// from its first stdout line.
final class ServeProcess {
    let process = Process()
    let output = Pipe()
    let port: Int

    init(_ arguments: [String], port requested: Int = 0) throws {
        process.executableURL = KVLabProcess.executable
        process.arguments = ["serve", "--port", String(requested)] + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while !text.contains("\n") && Date() < deadline && process.isRunning {
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        guard let range = text.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(text[range].split(separator: ":").last ?? "") else {
            process.terminate()
            throw RedisProcessError.notReady("kvlab serve printed no port: \(text)")
        }
        self.port = port
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// Sends `signal` and returns the exit status and the rest of stdout.
    func stop(signal: Int32 = SIGTERM) -> (Int32, String) {
        kill(process.processIdentifier, signal)
        let rest = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: rest, as: UTF8.self))
    }
}

@Suite("kvlab serve and --server", .serialized)
struct ServeCLITests {
    func ycsb(_ phase: String, _ workload: String, _ extra: [String]) throws -> KVLabRun {
        try KVLabProcess.run([phase, "-P", workloads.appendingPathComponent(workload).path, "-p", "recordcount=400", "-p", "operationcount=1000", "-threads", "2"] + extra)
    }

    @Test("kvlab serve answers redis-cli, runs YCSB A and E through --server, and stops cleanly on SIGTERM")
    func serveAndDrive() throws {
        let cli = try redisTool("redis-cli")
        let server = try ServeProcess(["--engine", "skiplist", "--threads", "2"])
        let ping = Process()
        ping.executableURL = URL(fileURLWithPath: cli)
        ping.arguments = ["-p", String(server.port), "PING"]
        let out = Pipe()
        ping.standardOutput = out
        try ping.run()
        ping.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "PONG\n")

        let load = try ycsb("load", "workloada", ["--server", server.url, "-p", "dataintegrity=true"])
        #expect(load.status == 0, "\(load.stderr)")
        #expect(load.stdout.contains("[INSERT], Return=OK, 400"), "\(load.stdout)")
        let run = try ycsb("run", "workloada", ["--server", server.url, "-p", "dataintegrity=true", "--pipeline", "1"])
        #expect(run.status == 0 && run.stdout.contains("[VERIFY], Return=OK"), "\(run.stdout)\(run.stderr)")
        #expect(!run.stdout.contains("UNEXPECTED_STATE"), "\(run.stdout)")
        let scans = try ycsb("run", "workloade", ["--server", server.url])
        #expect(scans.status == 0 && scans.stdout.contains("[SCAN], Return=OK"), "\(scans.stdout)\(scans.stderr)")
        #expect(!scans.stdout.contains("Return=ERROR"), "\(scans.stdout)")
        let piped = try ycsb("run", "workloada", ["--server", server.url, "--pipeline", "8"])
        #expect(piped.status == 0 && piped.stdout.contains("[READ], Return=OK"), "\(piped.stdout)\(piped.stderr)")
        // Several connections per thread (memtier's --clients): 2 threads x 4 connections x depth 2.
        let multiplexed = try ycsb("run", "workloada", ["--server", server.url, "--clients", "4", "--pipeline", "2"])
        #expect(multiplexed.status == 0, "\(multiplexed.stderr)")
        let returns = multiplexed.stdout.split(separator: "\n").filter { $0.contains("Return=") }
        #expect(returns.allSatisfy { $0.contains("Return=OK") }, "\(multiplexed.stdout)")
        let counted = returns.compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
        #expect(counted == 1000, "\(multiplexed.stdout)")
        let strings = try ycsb("load", "workloada", ["--server", server.url, "--mapping", "string", "-p", "insertstart=400", "-p", "recordcount=800", "-p", "insertcount=400"])
        #expect(strings.status == 0 && strings.stdout.contains("[INSERT], Return=OK, 400"), "\(strings.stdout)\(strings.stderr)")

        let (status, rest) = server.stop()
        #expect(status == 0)
        #expect(rest.contains("kvlab serve: stopped"))
    }

    @Test("INFO memory reports Redis's fields from the allocator; used_memory grows with data and falls after FLUSHALL")
    func infoMemory() throws {
        // A server process of its own, so no other test's allocations move its figures.
        let server = try ServeProcess(["--engine", "hash"])
        defer { _ = server.stop() }
        let connection = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port))
        defer { connection.close() }
        func memory() throws -> [String: String] {
            let text = try connection.call(["INFO", "memory"]).text ?? ""
            var fields: [String: String] = [:]
            for line in text.split(whereSeparator: \.isNewline) where line.contains(":") {
                let parts = line.split(separator: ":", maxSplits: 1)
                fields[String(parts[0])] = String(parts[1])
            }
            return fields
        }
        let before = try memory()
        for field in ["used_memory", "used_memory_human", "used_memory_rss", "used_memory_peak", "mem_fragmentation_ratio",
                      "allocator_allocated", "allocator_active", "allocator_resident", "mem_allocator"] {
            #expect(before[field] != nil, "INFO memory lacks \(field)")
        }
        #expect(before["mem_allocator"]?.hasPrefix("jemalloc-") == true, "kvlab serve runs on jemalloc: \(before["mem_allocator"] ?? "")")
        let value = String(repeating: "x", count: 1000)
        for batch in 0..<50 {
            let commands = (0..<1000).map { ["SET", "key:\(batch * 1000 + $0)", value] }
            _ = try connection.pipeline(commands)
        }
        let filled = try memory()
        let usedBefore = Int(before["used_memory"] ?? "") ?? 0
        let usedFilled = Int(filled["used_memory"] ?? "") ?? 0
        #expect(usedFilled - usedBefore >= 50_000 * 1000, "50,000 values of 1,000 bytes: used_memory \(usedBefore) -> \(usedFilled)")
        #expect(Int(filled["used_memory_peak"] ?? "") ?? 0 >= usedFilled)
        #expect(try connection.call(["FLUSHALL"]) == .simpleString("OK"))
        let flushed = try memory()
        let usedFlushed = Int(flushed["used_memory"] ?? "") ?? 0
        #expect(usedFilled - usedFlushed >= 40_000 * 1000, "FLUSHALL: used_memory \(usedFilled) -> \(usedFlushed)")
        #expect(Double(flushed["mem_fragmentation_ratio"] ?? "") ?? 0 > 0)
    }

    @Test("the same workload against kvlab's server and a real redis-server compares with kvlab compare")
    func compareWithRedis() throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let server = try ServeProcess(["--engine", "hash"])
        defer { _ = server.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-compare-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, url) in [("redis", "redis://127.0.0.1:\(redis.port)"), ("kvlab", server.url)] {
            let load = try ycsb("load", "workloadb", ["--server", url, "--no-scan-index"])
            #expect(load.status == 0, "\(name): \(load.stderr)")
            let run = try ycsb("run", "workloadb", ["--server", url, "--no-scan-index", "--pipeline", "4", "--export", "json", dir.appendingPathComponent("\(name).json").path])
            #expect(run.status == 0 && run.stdout.contains("[READ], Return=OK"), "\(name): \(run.stdout)\(run.stderr)")
        }
        let compare = try KVLabProcess.run(["compare", dir.appendingPathComponent("redis.json").path, dir.appendingPathComponent("kvlab.json").path,
                                            "--max-throughput-drop", "100%", "--max-p99-rise", "100000%"])
        #expect(compare.status == 0, "\(compare.stdout)\(compare.stderr)")
        #expect(compare.stdout.contains("verdict: pass"))
    }

    @Test("YCSB through --server redis-cluster:// against a 3-node Redis Cluster")
    func clusterTarget() throws {
        let cluster = try RedisClusterProcesses()
        defer { cluster.stop() }
        let load = try ycsb("load", "workloada", ["--server", cluster.seedURL, "-p", "dataintegrity=true"])
        #expect(load.status == 0 && load.stdout.contains("[INSERT], Return=OK, 400"), "\(load.stdout)\(load.stderr)")
        let run = try ycsb("run", "workloada", ["--server", cluster.seedURL, "-p", "dataintegrity=true"])
        #expect(run.status == 0 && run.stdout.contains("[VERIFY], Return=OK"), "\(run.stdout)\(run.stderr)")
        #expect(!run.stdout.contains("Return=ERROR") && !run.stdout.contains("UNEXPECTED_STATE"), "\(run.stdout)")
        let piped = try ycsb("run", "workloada", ["--server", cluster.seedURL, "--pipeline", "8", "--mapping", "hash"])
        #expect(piped.status == 0 && piped.stdout.contains("[UPDATE], Return=OK"), "\(piped.stdout)\(piped.stderr)")
        #expect(!piped.stdout.contains("Return=ERROR"), "\(piped.stdout)")
        // The records are spread over the three nodes.
        for node in cluster.nodes {
            let c = try RESPConnection(endpoint: node.endpoint)
            guard case .integer(let n) = try c.call(["DBSIZE"]) else { Issue.record("DBSIZE failed"); continue }
            #expect(n > 50)
        }
    }
}
