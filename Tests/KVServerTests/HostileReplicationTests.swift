// Regressions from attacking running replicated servers (results/hostile-attacks.md): each test failed before its fix.

import Foundation
import KVClient
import KVCore
@testable import KVServer
import RESP
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A clock that moves forward by `step` ms on every reading, so code that checks elapsed time
/// between two readings sees time pass however fast the machine runs it.
final class SteppingWallClock: WallClock {
    private let now = Atomic<Int64>(1_700_000_000_000)
    let step: Int64
    init(step: Int64) { self.step = step }
    func millisecondsSinceEpoch() -> Int64 { now.add(step, ordering: .relaxed).newValue }
}

@Suite("Hostile replication: big snapshots and slow replicas", .serialized)
struct HostileReplicationTests {
    @Test("a replica that sends keep-alive newlines but no ACK (it is loading a snapshot) is not dropped by repl-timeout")
    func keepAliveNewlinesHoldTheReplicaLink() throws {
        let primary = try startReplicationNode { $0.timeoutMilliseconds = 1000 }
        defer { try? primary.shutdown() }
        let replica = try RawSocket(host: "127.0.0.1", port: primary.port)
        defer { replica.close() }
        try replica.send("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
        let reply = replica.receiveText(quiet: 0.3).text
        #expect(reply.hasPrefix("+FULLRESYNC"))
        // 3 s of newlines every 100 ms against a 1 s timeout: before the fix only REPLCONF ACK
        // counted and the primary closed the link after 1 s.
        for _ in 0..<30 {
            try replica.send("\n")
            usleep(100_000)
        }
        #expect(primary.executor.replication.state.withLock { $0.replicas.count } == 1)
        // Newlines claim no offset: the replica is not counted by WAIT.
        #expect(primary.executor.replication.ackedCount(1) == 0)
    }

    @Test("loading a snapshot calls the keep-alive as time passes and leaves the link's last I/O fresh")
    func snapshotLoadSendsKeepAlives() throws {
        let source = try makeExecutor()
        var state = source.makeConnectionState()
        for i in 0..<3000 { _ = source.execute(["SET", "k\(i)", "v\(i)"], state: &state) }
        let snapshot = try source.keyspace.withEngine { (e) throws(EngineError) in try ReplicationStream.snapshot(of: e) }

        var configuration = ServerConfiguration(port: 0, threads: 1)
        configuration.replication.ackIntervalMilliseconds = 100
        configuration.replication.timeoutMilliseconds = 1000
        let clock = SteppingWallClock(step: 50)
        let replica = try makeExecutor(clock: clock, configuration: configuration)
        let controller = replica.replication
        let generation = controller.state.withLock { s in
            s.role = .replica(ReplicationEndpoint(host: "127.0.0.1", port: 1))
            s.linkState = .sync
            s.lastIOMilliseconds = clock.millisecondsSinceEpoch()
            return s.linkGeneration
        }
        var keepAlives = 0
        try controller.loadSnapshot(snapshot, replicationID: String(repeating: "a", count: 40), offset: 0,
                                    generation: generation) { keepAlives += 1 }
        // 3000 records = 11 progress points, each at least 100 ms of this clock after the last.
        #expect(keepAlives >= 5)
        let (lastIO, now) = controller.state.withLock { ($0.lastIOMilliseconds, clock.millisecondsSinceEpoch()) }
        #expect(now - lastIO < 1000, "the replica would drop its own link after a long load")
        var r = replica.makeConnectionState()
        #expect(replica.execute(["DBSIZE"], state: &r) == .integer(3000))
    }

    @Test("repl-timeout starts once the snapshot is written, not while a slow replica is still receiving it")
    func timeoutWaitsForTheSnapshotTransfer() throws {
        let primary = try startReplicationNode { $0.timeoutMilliseconds = 500 }
        defer { try? primary.shutdown() }
        let p = try connect(primary)
        let value = String(repeating: "s", count: 1024)
        for batch in 0..<16 { _ = try p.pipeline((0..<512).map { ["SET", "k\(batch)-\($0)", value] }) }  // 8 MiB
        let replica = try RawSocket(host: "127.0.0.1", port: primary.port)
        defer { replica.close() }
        // Default buffers: a socket nobody reads keeps its small initial window, so most of the
        // 8 MiB waits on the primary's side (a shrunk SO_RCVBUF made the later drain take minutes).
        try replica.send("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
        // Reads nothing for 2 s (four timeouts): before the fix the primary dropped it after
        // 0.5 s, mid-transfer, and a big dataset never finished a full resync.
        usleep(2_000_000)
        #expect(primary.executor.replication.state.withLock { $0.replicas.count } == 1)
        var received = 0
        while received < 8 << 20 {
            let r = replica.receive(quiet: 1, limit: 1 << 20)
            received += r.bytes.count
            if r.closed || r.bytes.isEmpty { break }
        }
        #expect(received > 8 << 20)
        // Transfer done, and this replica sends neither ACK nor newline: now the timeout applies.
        try eventually("the silent replica dropped after its transfer", within: 10) {
            primary.executor.replication.state.withLock { $0.replicas.count } == 0
        }
    }
}
