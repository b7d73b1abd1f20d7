// The client: slots, URLs, the pool, a real redis-server, and a real 3-node Redis Cluster.

import Foundation
import KVLabTestSupport
@testable import KVClient
import KVCore
import KVEngines
import KVServer
import Logging
import RESP
import Testing

@Suite("Cluster slots and URLs")
struct SlotAndURLTests {
    @Test("CRC16 and key slots match Redis Cluster's, hash tags included")
    func slots() {
        #expect(Array("123456789".utf8).withUnsafeBytes { ClusterSlot.crc16($0) } == 0x31C3)
        #expect(ClusterSlot.slot(of: "foo") == 12182)
        #expect(ClusterSlot.slot(of: "bar") == 5061)
        #expect(ClusterSlot.slot(of: "{user1000}.following") == ClusterSlot.slot(of: "{user1000}.followers"))
        #expect(ClusterSlot.slot(of: "{user1000}.following") == ClusterSlot.slot(of: "user1000"))
        #expect(ClusterSlot.slot(of: "foo{}{bar}") == Int(Array("foo{}{bar}".utf8).withUnsafeBytes { ClusterSlot.crc16($0) }) & 16383)
        #expect(ClusterSlot.slot(of: "foo{{bar}}zap") == ClusterSlot.slot(of: "{bar"))
    }

    @Test("redis:// and redis-cluster:// targets parse with passwords, ports and several seeds")
    func urls() throws {
        let a = try RedisTarget(url: "redis://127.0.0.1:6380")
        #expect(a.endpoints == [RedisEndpoint(host: "127.0.0.1", port: 6380)] && a.password == nil && !a.cluster)
        let b = try RedisTarget(url: "redis://:p%40ss@localhost")
        #expect(b.password == "p@ss" && b.endpoints[0].port == 6379)
        let c = try RedisTarget(url: "redis-cluster://10.0.0.1:7000,10.0.0.2:7001")
        #expect(c.cluster && c.endpoints.count == 2)
        #expect(throws: RESPClientError.self) { try RedisTarget(url: "http://x") }
        #expect(throws: RESPClientError.self) { try RedisTarget(url: "redis://host:99999") }
        #expect(throws: RESPClientError.self) { try RedisTarget(url: "redis://a:1,b:2") }
    }
}

@Suite("Client against servers", .serialized)
struct ClientServerTests {
    @Test("the pool reuses connections to kvlab's server and drops failed ones")
    func pool() throws {
        let keyspace = try Keyspace(factory: { () throws(EngineError) in try StandardEngines.registry.open("hash") })
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let server = RESPServer(executor: CommandExecutor(keyspace: keyspace, configuration: ServerConfiguration(port: 0, threads: 2), logger: quiet), logger: quiet)
        try server.start()
        defer { try? server.shutdown() }
        let pool = RESPConnectionPool(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port))
        for i in 0..<20 {
            let reply = try pool.withConnection { (c) throws(RESPClientError) in try c.call(["SET", "k\(i)", "v"]) }
            #expect(reply == .simpleString("OK"))
        }
        #expect(pool.connectionsCreated == 1)
        let c = try pool.checkout()
        c.append(["GET", "k1"])   // unread reply: not returned to the idle list
        pool.checkin(c)
        _ = try pool.withConnection { (c) throws(RESPClientError) in try c.call(["PING"]) }
        #expect(pool.connectionsCreated == 2)
        pool.close()
    }

    @Test("pipelines and error replies against a real redis-server")
    func realRedis() throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let c = try RESPConnection(endpoint: redis.endpoint, timeoutSeconds: 10)
        let replies = try c.pipeline((0..<1000).map { ["SET", "k\($0)", "\($0)"] } + [["INCR", "k7"], ["HGET", "k7", "f"], ["GET", "k999"]])
        #expect(replies.prefix(1000).allSatisfy { $0 == .simpleString("OK") })
        #expect(replies[1000] == .integer(8))
        #expect(replies[1001] == .error("WRONGTYPE Operation against a key holding the wrong kind of value"))
        #expect(replies[1002] == .bulk("999"))
    }

    @Test("a 3-node Redis Cluster: keys routed by slot, MOVED after a stale map, ASK during a migration")
    func cluster() throws {
        let cluster = try RedisClusterProcesses()
        defer { cluster.stop() }
        let client = try RedisClusterClient(seeds: [cluster.nodes[0].endpoint], timeoutSeconds: 10)
        #expect(Set(client.knownNodes).count == 3)
        for i in 0..<300 { #expect(try client.call(["SET", "key:\(i)", "v\(i)"]) == .simpleString("OK")) }
        #expect(client.movedCount == 0)
        // Every key landed on the node that owns its slot.
        var perNode: [Int: Int] = [:]
        for node in cluster.nodes {
            let c = try RESPConnection(endpoint: node.endpoint)
            if case .integer(let n) = try c.call(["DBSIZE"]) { perNode[node.port] = Int(n) }
        }
        #expect(perNode.values.reduce(0, +) == 300 && perNode.values.allSatisfy { $0 > 50 })

        // A stale map (everything on node 0): the client follows MOVED and learns the map again.
        client.slotOwners = [Int](repeating: 0, count: ClusterSlot.count)
        for i in 0..<300 { #expect(try client.call(["GET", "key:\(i)"]) == .bulk("v\(i)")) }
        #expect(client.movedCount > 0)
        let pipelined = try client.pipeline((0..<50).map { [Array("GET".utf8), Array("key:\($0)".utf8)] })
        #expect(pipelined == (0..<50).map { .bulk("v\($0)") })

        // Migrate one slot from its owner A to B: a missing key there is answered with ASK.
        let slot = ClusterSlot.slot(of: "migrating-key")
        let ownerEndpoint = try #require(client.owner(ofSlot: slot))
        let targetEndpoint = try #require(client.knownNodes.first { $0 != ownerEndpoint })
        let owner = try RESPConnection(endpoint: ownerEndpoint), target = try RESPConnection(endpoint: targetEndpoint)
        let ownerID = try #require(try owner.call(["CLUSTER", "MYID"]).text), targetID = try #require(try target.call(["CLUSTER", "MYID"]).text)
        #expect(try target.call(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", ownerID]) == .simpleString("OK"))
        #expect(try owner.call(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID]) == .simpleString("OK"))
        let asksBefore = client.askCount
        #expect(try client.call(["SET", "migrating-key", "moved-in"]) == .simpleString("OK"))
        #expect(client.askCount == asksBefore + 1)
        #expect(try target.call(["ASKING"]) == .simpleString("OK"))
        #expect(try target.call(["GET", "migrating-key"]) == .bulk("moved-in"))
        client.close()
    }
}
