// Growing a ring of real redis-servers with RingResharder while a client keeps writing: every acknowledged write survives.

import Foundation
import KVClient
import KVLabTestSupport
import RESP
import Sharding
import Synchronization
import Testing

/// What the writer thread shares with the test.
final class WriterState: Sendable {
    let done = Atomic<Bool>(false)
    let acknowledged = Mutex<[String: String]>([:])
}

@Suite("resharding", .serialized)
struct ResharderTests {
    @Test("adding a fourth node copies the moving keys, switches clients over, and loses no acknowledged write made during the move")
    func growUnderWrites() throws {
        let servers = try (0..<4).map { _ in try RedisServerProcess() }
        defer { for s in servers { s.stop() } }
        let old = servers.prefix(3).map(\.endpoint), all = servers.map(\.endpoint)
        let topology = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-reshard-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: topology) }
        let options = ShardTargetOptions(router: RouterOptions(kind: .ring, hash: .xxh64, virtualNodes: 64), topologyFile: topology)

        // 600 keys on the three-node ring.
        let loader = try ShardedClient(nodes: old, options: options)
        let keys = (0..<600).map { "key\($0)" }
        let loaded = loader.pipelineResults(keys.map { [Array("SET".utf8), Array($0.utf8), Array("v0-\($0)".utf8)] })
        #expect(loaded.allSatisfy { (try? $0.get()) == .simpleString("OK") })
        loader.close()

        // A writer overwrites keys in a loop during the move and remembers its acknowledged values.
        let shared = WriterState()
        let writer = Thread {
            guard let client = try? ShardedClient(nodes: old, options: options) else { return }
            var round = 1
            // Bounded: stops when the move ends, or after 200 rounds.
            while !shared.done.load(ordering: .acquiring) && round <= 200 {
                let batch = keys.enumerated().filter { $0.offset % 7 == round % 7 }.map(\.element)
                let results = client.pipelineResults(batch.map { [Array("SET".utf8), Array($0.utf8), Array("v\(round)-\($0)".utf8)] })
                shared.acknowledged.withLock { map in
                    for (k, r) in zip(batch, results) where (try? r.get()) == .simpleString("OK") { map[k] = "v\(round)-\(k)" }
                }
                round += 1
                usleep(2000)
            }
            client.close()
        }
        writer.start()
        var phases: [RingPhase] = []
        let report = try RingResharder.run(ReshardConfiguration(from: old, to: all, router: options.router, topologyFile: topology,
                                                                graceSeconds: 0.2, batch: 100)) { event in
            if case .phase(let p, _) = event { phases.append(p) }
        }
        shared.done.store(true, ordering: .releasing)
        while !writer.isFinished { usleep(1000) }

        #expect(phases == [.migrating, .switching, .stable])
        #expect(report.movingKeys > 60 && report.movingKeys < 300, "about a quarter of 600 keys move: \(report)")
        #expect(report.copiedKeys + report.alreadyPresentKeys == report.movingKeys)
        #expect(report.deletedKeys == report.movingKeys)
        #expect(try RingTopology.read(path: topology) == RingTopology(epoch: 3, phase: .stable, nodes: all.map(\.description)))

        // Each key is on its owner in the four-node ring, and only there, with its last acknowledged value.
        let ring = try ConsistentHashRing(nodes: all.map(\.description), virtualNodes: 64, hash: .xxh64)
        let expected = shared.acknowledged.withLock { $0 }
        let connections = try all.map { try RESPConnection(endpoint: $0) }
        var lost: [String] = []
        for k in keys {
            let owner = ring.node(forKey: k)
            for (i, c) in connections.enumerated() {
                let value = try c.call(["GET", k])
                if i == owner {
                    if value.text != (expected[k] ?? "v0-\(k)") { lost.append("\(k): \(value) on its owner, expected \(expected[k] ?? "v0-\(k)")") }
                } else {
                    #expect(value == .null, "\(k) left behind on \(all[i])")
                }
            }
        }
        #expect(lost.isEmpty, "\(lost.prefix(5))")
        #expect(!expected.isEmpty, "the writer made acknowledged writes during the move")
    }
}

@Suite("resharding reruns", .serialized)
struct ResharderRerunTests {
    @Test("rerunning a finished move is refused and leaves the topology and every key where they are")
    func rerunAfterFinish() throws {
        let servers = try (0..<3).map { _ in try RedisServerProcess() }
        defer { for s in servers { s.stop() } }
        let old = servers.prefix(2).map(\.endpoint), all = servers.map(\.endpoint)
        let topology = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-rerun-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: topology) }
        let options = ShardTargetOptions(router: RouterOptions(kind: .ring, hash: .xxh64, virtualNodes: 64), topologyFile: topology)
        let loader = try ShardedClient(nodes: old, options: options)
        let keys = (0..<100).map { "key\($0)" }
        _ = loader.pipelineResults(keys.map { [Array("SET".utf8), Array($0.utf8), Array("v-\($0)".utf8)] })
        loader.close()
        let configuration = ReshardConfiguration(from: old, to: all, router: options.router, topologyFile: topology, graceSeconds: 0.05, batch: 50)
        let first = try RingResharder.run(configuration)
        #expect(first.movingKeys > 0)
        let after = try RingTopology.read(path: topology)
        var phases: [RingPhase] = []
        do {
            _ = try RingResharder.run(configuration) { event in if case .phase(let p, _) = event { phases.append(p) } }
            Issue.record("a second identical move ran")
        } catch {
            guard case .inconsistent(let message) = error else { Issue.record("expected inconsistent, got \(error)"); return }
            #expect(message.contains("already stable"))
        }
        #expect(phases.isEmpty, "the rerun published \(phases): clients would read the old nodes again")
        #expect(try RingTopology.read(path: topology) == after)
        // Every key is still readable through a client of the finished ring.
        let reader = try ShardedClient(nodes: all, options: options)
        defer { reader.close() }
        let values = reader.pipelineResults(keys.map { [Array("GET".utf8), Array($0.utf8)] })
        #expect(zip(keys, values).allSatisfy { (try? $0.1.get())?.text == "v-\($0.0)" })
    }
}
