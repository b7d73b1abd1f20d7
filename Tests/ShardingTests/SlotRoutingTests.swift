// RedisSlotRouter against a real 3-primary Redis Cluster: the slot table it computes is the one redis-cli builds.

import Foundation
import KVClient
import KVLabTestSupport
import RESP
import Testing

@Suite("slot routing on a real cluster", .serialized)
struct SlotRoutingTests {
    @Test("keys written through the cluster client sit on the primary RedisSlotRouter predicts for redis-cli's even split")
    func slotRouterMatchesRedis() throws {
        let cluster = try RedisClusterProcesses()
        defer { cluster.stop() }
        let client = try RedisClusterClient(seeds: [cluster.nodes[0].endpoint])
        defer { client.close() }
        let keys = (0..<300).map { "user\($0 * 7919)" }
        let replies = try client.pipeline(keys.map { [Array("SET".utf8), Array($0.utf8), Array("v".utf8)] })
        #expect(replies.allSatisfy { $0 == .simpleString("OK") })
        let names = cluster.nodes.map(\.endpoint.description)
        let router = try RedisSlotRouter(nodes: names)
        for (i, node) in cluster.nodes.enumerated() {
            let c = try RESPConnection(endpoint: node.endpoint)
            let held = try c.call(["KEYS", "*"]).elements?.compactMap(\.text) ?? []
            #expect(held.count > 50, "\(names[i]) holds \(held.count) keys")
            for k in held { #expect(router.node(forKey: k) == i, "\(k) (slot \(ClusterSlot.slot(of: k))) on \(names[i])") }
            // And the owner of every slot the node serves is that node in the router's table.
            for range in try c.call(["CLUSTER", "SLOTS"]).elements ?? [] {
                guard let r = range.elements, case .integer(let a) = r[0], case .integer(let b) = r[1],
                      let master = r[2].elements, case .integer(let port) = master[1] else { continue }
                let owner = names.firstIndex(of: "127.0.0.1:\(port)")
                #expect(router.slotOwners[Int(a)] == owner && router.slotOwners[Int(b)] == owner, "slots \(a)-\(b)")
            }
        }
    }
}
