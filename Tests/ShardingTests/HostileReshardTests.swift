// Regressions from attacking kvlab reshard (results/hostile-attacks.md): each test failed before its fix.

import Foundation
import KVClient
import KVLabTestSupport
import RESP
import Sharding
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Hostile resharding", .serialized)
struct HostileReshardTests {
    @Test("a reshard to a node that is down fails before it publishes anything, leaving the ring stable")
    func downTargetIsFoundBeforeMigrating() throws {
        let servers = try (0..<2).map { _ in try RedisServerProcess() }
        defer { for s in servers { s.stop() } }
        // A port with no listener: bind one, read its number, close it.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
        let deadPort = Int(UInt16(bigEndian: address.sin_port))
        close(probe)
        let dead = RedisEndpoint(host: "127.0.0.1", port: deadPort)

        let topology = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-reshard-dead-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: topology) }
        let old = servers.map(\.endpoint)
        let configuration = ReshardConfiguration(from: old, to: old + [dead], router: RouterOptions(), topologyFile: topology,
                                                 graceSeconds: 0.05)
        #expect {
            _ = try RingResharder.run(configuration)
        } throws: { error in
            "\(error)".contains(dead.description)
        }
        // Before the fix the file said `migrating` towards the dead node, and only a rerun with
        // that same node list was accepted.
        #expect(try RingTopology.read(path: topology) == nil)
        let retry = ReshardConfiguration(from: old, to: old, router: RouterOptions(), topologyFile: topology, graceSeconds: 0.05)
        #expect(throws: Never.self) { _ = try RingResharder.run(retry) }
    }
}
