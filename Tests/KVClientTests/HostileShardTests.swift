// Regressions from attacking ring:// targets with bad topology files (results/hostile-attacks.md).

import Foundation
import KVClient
import Testing

@Suite("Hostile ring targets")
struct HostileShardTests {
    @Test("a ring client refuses a garbage topology file at start, naming the file, instead of silently routing by the URL")
    func garbageTopologyFileIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-garbage-topology-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data([0, 0xFF, 0xFE, 0x7B, 0x0A, 0x67, 0x61, 0x72, 0x62, 0x61, 0x67, 0x65, 0x0A]).write(to: URL(fileURLWithPath: path))
        let target = try RedisTarget(url: "ring://127.0.0.1:7001,127.0.0.1:7002?topology=\(path)")
        #expect {
            _ = try ShardedClient(target: target)
        } throws: { error in
            "\(error)".contains(path)
        }
        // A missing file is still accepted: clients may start before kvlab reshard writes it.
        try FileManager.default.removeItem(atPath: path)
        let client = try ShardedClient(target: target)
        #expect(client.topologyError == nil)
    }
}
