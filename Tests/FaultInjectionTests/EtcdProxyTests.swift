// Header classification in the fault proxy, on echo sockets and on a real 3-member etcd cluster whose peers cannot bind a source address.

import Foundation
import KVClient
import KVCore
import Testing
@testable import FaultInjection

@Suite("FaultProxy header classification")
struct HeaderClassificationTests {
    @Test("a connection is assigned to the party its X-Server-From header names, also when the mapping comes later")
    func classifiesByHeader() throws {
        let echo = try EchoServer(host: "127.0.0.2")
        let proxy = try FaultProxy()
        defer { proxy.stop(); echo.stop() }
        let route = try proxy.addRoute(node: "n1.peer", targetHost: "127.0.0.2", targetPort: echo.port,
                                       classifier: .httpHeader("X-Server-From"))
        let request = "GET /raft/stream/message/1 HTTP/1.1\r\nHost: x\r\nX-Server-From: ABC123\r\n\r\n"
        // Both connect from 127.0.0.3 (as etcd's peers all do from 127.0.0.1): only the header tells them apart.
        let named = try TestClient(from: "127.0.0.3", to: route.publicPort)
        try named.send(request)
        #expect(named.read(count: request.utf8.count) == .data(request))
        let other = try TestClient(from: "127.0.0.3", to: route.publicPort)
        let plain = "GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
        try other.send(plain)
        #expect(other.read(count: plain.utf8.count) == .data(plain))

        // Mapped after the connection was classified: it moves to the link from 127.0.0.9.
        try proxy.setHeaderParties(["abc123": "127.0.0.9"])
        try proxy.setFault(.drop, from: "127.0.0.9", to: "n1.peer")
        #expect(named.read(count: 1) == .reset)
        try other.send("y")
        #expect(other.read(count: 1) == .data("y"))
        // A new connection with the header is reset once its headers are read.
        let again = try TestClient(from: "127.0.0.3", to: route.publicPort)
        try again.send(request)
        #expect(again.read(count: 1) == .reset)
        try proxy.healAll()
        let healed = try TestClient(from: "127.0.0.3", to: route.publicPort)
        try healed.send(request)
        #expect(healed.read(count: request.utf8.count) == .data(request))
    }

    @Test("a blackholed header link holds the first request and delivers it after heal")
    func blackholeHoldsFirstRequest() throws {
        let echo = try EchoServer(host: "127.0.0.2")
        let proxy = try FaultProxy()
        defer { proxy.stop(); echo.stop() }
        let route = try proxy.addRoute(node: "n1.peer", targetHost: "127.0.0.2", targetPort: echo.port,
                                       classifier: .httpHeader("X-Server-From"))
        try proxy.setHeaderParties(["7": "127.0.0.9"])
        try proxy.setFault(.blackhole, from: "127.0.0.9", to: "n1.peer")
        let client = try TestClient(from: "127.0.0.3", to: route.publicPort)
        let request = "POST /raft HTTP/1.1\r\nx-server-from: 7\r\nContent-Length: 0\r\n\r\n"
        try client.send(request)
        #expect(client.staysSilent(milliseconds: 300))
        try proxy.healAll()
        #expect(client.read(count: request.utf8.count) == .data(request))
    }
}

@Suite("etcd behind the fault proxy", .serialized)
struct EtcdProxyTests {
    @Test("an isolated etcd member stops receiving the leader's appends but still answers serializable reads, and catches up after heal",
          arguments: ["follower", "n1", "n2", "n3"])
    func isolatedMemberFallsBehind(choice: String) throws {
        let directory = temporaryRunDirectory("etcd-proxy")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try EtcdProxiedCluster.start(EtcdClusterConfiguration(runDirectory: directory))
        defer { cluster.stop() }
        let leader = try #require(cluster.currentLeader(timeoutSeconds: 2), "no leader elected")
        // Isolating a named member checks the header → member mapping for every member (the
        // leader included: the majority then elects another).
        let follower = choice == "follower" ? try #require(cluster.nodeNames.first { $0 != leader }) : choice
        let majority = cluster.nodeNames.filter { $0 != follower }
        let settings = ConnectionSettings(ioTimeoutSeconds: 3, connectTimeoutSeconds: 1)
        let writer = EtcdClient(endpoints: majority.compactMap { cluster.member($0)?.clientEndpoint }, settings: settings)
        defer { writer.close() }
        let key = Array("isolation-key".utf8)
        // A put right after the leader was cut off may time out while the majority elects
        // another: retried (bounded), as a client would.
        var retried: [String] = []
        func put(_ value: String) throws {
            for attempt in 1...10 {
                do { try writer.put(key, Array(value.utf8)); return } catch {
                    if attempt == 10 { throw error }
                    retried.append(value)
                    usleep(200_000)
                }
            }
        }
        try put("before")
        // Wait (bounded) until the follower has applied it.
        let reader = EtcdClient(endpoints: [try #require(cluster.member(follower)).clientEndpoint], settings: settings)
        defer { reader.close() }
        var applied = false
        for _ in 0..<50 where !applied {
            applied = (try? reader.range(key, serializable: true).first?.value) == Array("before".utf8)
            if !applied { usleep(100_000) }
        }
        #expect(applied, "the follower never applied the first write")

        try cluster.partition([[follower], majority])
        usleep(300_000)   // let anything already past the proxy land
        let isolatedIndex = try #require(cluster.status(of: follower)?.raftIndex)
        for i in 0..<20 { try put("after-\(i)") }
        let leaderIndex = try #require(cluster.status(of: cluster.currentLeader(timeoutSeconds: 2) ?? leader)?.raftIndex)
        let stillIsolated = try #require(cluster.status(of: follower)?.raftIndex)
        #expect(stillIsolated == isolatedIndex, "the isolated member's raft index moved: \(isolatedIndex) -> \(stillIsolated)")
        #expect(leaderIndex >= isolatedIndex + 20, "the leader's index \(leaderIndex) did not advance past \(isolatedIndex) + 20")
        // The isolated member still serves serializable reads, from its stale state.
        #expect(try reader.range(key, serializable: true).first?.value == Array("before".utf8))
        #expect(try writer.range(key).first?.value == Array("after-19".utf8))

        try cluster.healNetwork()
        // Caught up = the isolated member serves, from its own state, the value a linearizable
        // read through the majority returns, and its raft index reached the leader's. Not
        // "after-19": a put that timed out during the election (retried above) may still be
        // committed after the heal and overwrite it — a follower forwarded the proposal to the
        // cut-off leader, the blackhole held it, and on heal the old leader, now a follower,
        // forwarded it to the new one. That is etcd's indeterminate write, not a lag.
        var caughtUp = false
        var latest: [UInt8] = []
        for _ in 0..<100 where !caughtUp {
            if let current = try? writer.range(key).first?.value, let isolated = try? reader.range(key, serializable: true).first?.value,
               let index = cluster.status(of: follower)?.raftIndex {
                latest = current
                caughtUp = isolated == current && index >= leaderIndex
            }
            if !caughtUp { usleep(100_000) }
        }
        #expect(caughtUp, "the member did not catch up within 10 s of the heal")
        let final = String(decoding: latest, as: UTF8.self)
        #expect(final == "after-19" || retried.contains(final), "after heal the key holds \(final), neither the last write nor a retried one (\(retried))")
    }
}
