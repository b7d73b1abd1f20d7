// Sharding through the CLI: ring:// over three kvlab servers, --client I/N with kvlab merge, and kvlab ring's outputs.

import Foundation
import KVClient
import KVLabTestSupport
import Measurement
import RESP
import Testing

/// `kvlab ARGS` started without waiting, its output in files (several run at once).
final class BackgroundKVLab {
    let process = Process()
    let stdoutFile: URL
    let stderrFile: URL

    init(_ arguments: [String], directory: URL, name: String) throws {
        stdoutFile = directory.appendingPathComponent("\(name).out")
        stderrFile = directory.appendingPathComponent("\(name).err")
        FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.executableURL = KVLabProcess.executable
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        try process.run()
    }

    /// Waits for the exit; returns the status, stdout and stderr.
    func finish() -> (Int32, String, String) {
        process.waitUntilExit()
        let out = (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
        return (process.terminationStatus, out, err)
    }
}

@Suite("sharding through the CLI", .serialized)
struct ShardCLITests {
    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-shard-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("the driver shards a workload over three kvlab servers by the ring, and each server holds exactly the keys the ring gives it")
    func ringRouting() throws {
        let servers = try (0..<3).map { _ in try ServeProcess(["--engine", "skiplist"]) }
        defer { for s in servers { _ = s.stop() } }
        let nodes = servers.map { "127.0.0.1:\($0.port)" }
        let url = "ring://" + nodes.joined(separator: ",") + "?hash=murmur3&vnodes=100"
        let common = ["-P", workloads.appendingPathComponent("workloada").path, "-p", "recordcount=400", "-p", "operationcount=1000",
                      "-threads", "2", "--server", url, "--mapping", "string", "-p", "dataintegrity=true"]
        let load = try KVLabProcess.run(["load"] + common)
        #expect(load.status == 0 && load.stdout.contains("[INSERT], Return=OK, 400"), "\(load.stdout)\(load.stderr)")
        let run = try KVLabProcess.run(["run"] + common + ["--pipeline", "4"])
        #expect(run.status == 0 && run.stdout.contains("[VERIFY], Return=OK"), "\(run.stdout)\(run.stderr)")
        #expect(!run.stdout.contains("Return=ERROR") && !run.stdout.contains("Return=NOT_FOUND"), "\(run.stdout)")

        let ring = try ConsistentHashRing(nodes: nodes, virtualNodes: 100, hash: .murmur3)
        var total = 0
        for (i, server) in servers.enumerated() {
            let c = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port))
            let keys = try c.call(["KEYS", "*"]).elements?.compactMap(\.bytes) ?? []
            total += keys.count
            #expect(keys.count > 50, "server \(i) holds \(keys.count) of 400 keys")
            let strangers = keys.filter { ring.node(forKey: $0) != i }
            #expect(strangers.isEmpty, "server \(i) holds keys the ring gives to another node: \(strangers.prefix(3).map { String(decoding: $0, as: UTF8.self) })")
        }
        #expect(total == 400)
    }

    @Test("four --client i/4 loads insert every record once, and four --client i/4 runs merged count exactly the operations of one run")
    func clientSlices() throws {
        let server = try ServeProcess(["--engine", "hash"])
        defer { _ = server.stop() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["-P", workloads.appendingPathComponent("workloada").path, "-p", "recordcount=2000", "-p", "operationcount=4000",
                      "-threads", "1", "--server", server.url, "--mapping", "string"]
        let loads = try (0..<4).map { try BackgroundKVLab(["load"] + common + ["--client", "\($0)/4"], directory: dir, name: "load\($0)") }
        for (i, l) in loads.enumerated() {
            let (status, out, err) = l.finish()
            #expect(status == 0 && out.contains("[INSERT], Return=OK, 500"), "client \(i): \(out)\(err)")
        }
        let c = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port))
        #expect(try c.call(["DBSIZE"]) == .integer(2000))

        let one = try KVLabProcess.run(["run"] + common + ["--export", "json", dir.appendingPathComponent("one.json").path])
        #expect(one.status == 0, "\(one.stderr)")
        let runs = try (0..<4).map {
            try BackgroundKVLab(["run"] + common + ["--client", "\($0)/4", "--export", "json", dir.appendingPathComponent("c\($0).json").path],
                                directory: dir, name: "run\($0)")
        }
        for (i, r) in runs.enumerated() {
            let (status, out, err) = r.finish()
            #expect(status == 0, "client \(i): \(out)\(err)")
            #expect(try ResultFile.read(contentsOf: dir.appendingPathComponent("c\(i).json")).operations == 1000)
        }
        let merge = try KVLabProcess.run(["merge"] + (0..<4).map { dir.appendingPathComponent("c\($0).json").path }
                                         + ["--output", dir.appendingPathComponent("merged.json").path])
        #expect(merge.status == 0, "\(merge.stderr)")
        let single = try ResultFile.read(contentsOf: dir.appendingPathComponent("one.json"))
        let merged = try ResultFile.read(contentsOf: dir.appendingPathComponent("merged.json"))
        #expect(merged.operations == single.operations && single.operations == 4000)
        // Every operation is in exactly one series' histogram, in both.
        let count: (RunResult) -> UInt64 = { r in r.series.filter { ["READ", "UPDATE"].contains($0.name) }.reduce(0) { $0 + $1.histogram.totalCount } }
        #expect(count(merged) == 4000 && count(single) == 4000)
        #expect(merged.metadata.threads == 4 && merged.metadata.mergedFrom.count == 4)
        // The clients drew different keys: their seeds differ.
        let seeds = try (0..<4).map { try ResultFile.read(contentsOf: dir.appendingPathComponent("c\($0).json")).metadata.properties["seed"] }
        #expect(Set(seeds).count == 4, "\(seeds)")
    }

    @Test("kvlab ring writes the table, JSON and an HTML page with SVG charts")
    func ringCommand() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try KVLabProcess.run(["ring", "-P", workloads.appendingPathComponent("workloada").path, "-p", "recordcount=3000",
                                      "--nodes", "3...5", "--routers", "ring:fnv1a:40,jump,rendezvous,slots", "--out", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("ring(fnv1a, vnodes=40)") && r.stdout.contains("redis-slots(crc16)"), "\(r.stdout)")
        let html = try String(contentsOf: dir.appendingPathComponent("ring.html"), encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("rendezvous(xxh64)"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("ring.json").path))
        let bad = try KVLabProcess.run(["ring", "--nodes", "5...3"])
        #expect(bad.status != 0 && bad.stderr.contains("--nodes 5...3"), "\(bad.stderr)")
        let client = try KVLabProcess.run(["load", "--client", "4/4"])
        #expect(client.status != 0 && client.stderr.contains("--client 4/4"), "\(client.stderr)")
    }
}
