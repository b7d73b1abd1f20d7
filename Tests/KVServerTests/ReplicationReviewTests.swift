// Review findings in replication: replica output limits that hold with a stopped replica, and WAITs of clients that left.

import Foundation
import KVClient
@testable import KVServer
import RESP
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A replica that sends PSYNC and then reads nothing (a SIGSTOPped or wedged replica).
private func stalledReplica(of primary: RESPServer) throws -> RawSocket {
    let socket = try RawSocket(host: "127.0.0.1", port: primary.port)
    var small: Int32 = 4096
    setsockopt(socket.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
    try socket.send("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
    let reply = socket.receiveText(quiet: 0.3).text
    guard reply.hasPrefix("+FULLRESYNC") else { throw ConditionNotReached(description: "PSYNC answered '\(reply.prefix(80))'") }
    return socket
}

private func replicaCount(_ server: RESPServer) -> Int { server.executor.replication.state.withLock { $0.replicas.count } }

@Suite("Replication review: bounded replica buffers and abandoned waits", .serialized)
struct ReplicationReviewTests {
    @Test("a replica that stops reading is disconnected once the bytes NIO holds for it pass the output limit")
    func stoppedReplicaHitsTheOutputLimit() throws {
        let primary = try startReplicationNode { $0.replicaOutputLimit = 256 * 1024; $0.timeoutMilliseconds = 600_000 }
        defer { try? primary.shutdown() }
        let replica = try stalledReplica(of: primary)
        defer { replica.close() }
        #expect(replicaCount(primary) == 1)
        let p = try connect(primary)
        let value = String(repeating: "v", count: 64 * 1024)
        // 16 MB of stream, one write per round trip: each unit is flushed to the channel before
        // the next, so before the fix the feed's own queue never passed the limit and NIO's
        // outbound buffer grew with every write.
        for i in 0..<256 where replicaCount(primary) > 0 {
            #expect(try p.call(["SET", "k\(i % 8)", value]) == .simpleString("OK"))
        }
        try eventually("the stalled replica disconnected", within: 10) { replicaCount(primary) == 0 }
        #expect(try p.call(["PING"]) == .simpleString("PONG"))
    }

    @Test("a replica whose queue passes the limit within one burst is closed without deadlocking the writer on its own event loop")
    func overflowInOneBurstDoesNotDeadlock() throws {
        // threads: 1, so the writer and the replica's channel share the event loop: before the
        // fix the close ran channelInactive -> detach inside the feed and state locks.
        let primary = try startReplicationNode { $0.replicaOutputLimit = 4096; $0.timeoutMilliseconds = 600_000 }
        defer { try? primary.shutdown() }
        let replica = try stalledReplica(of: primary)
        defer { replica.close() }
        let p = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: primary.port), timeoutSeconds: 10)
        let value = String(repeating: "w", count: 512)
        let replies = try p.pipeline((0..<64).map { ["SET", "b\($0)", value] })
        #expect(replies.allSatisfy { $0 == .simpleString("OK") })
        try eventually("the overflowing replica disconnected", within: 10) { replicaCount(primary) == 0 }
        #expect(try p.call(["GET", "b63"]).text == value)
    }

    @Test("a client that disconnects during WAIT with no timeout leaves no waiter behind")
    func abandonedWaitIsDropped() throws {
        let primary = try startReplicationNode()
        defer { try? primary.shutdown() }
        let client = try RawSocket(host: "127.0.0.1", port: primary.port)
        try client.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n")
        try eventually("WAIT parked", within: 10) { primary.executor.replication.waiterCount == 1 }
        client.close()
        try eventually("the waiter of the closed connection dropped", within: 10) { primary.executor.replication.waiterCount == 0 }
    }
}
