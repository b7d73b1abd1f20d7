// Replication between kvlab servers on loopback: full and partial resync, the live stream, READONLY, WAIT, sync acks, min-replicas, failover, redis-py.

import Foundation
import KVClient
import KVCore
import KVLabTestSupport
@testable import KVServer
import RESP
import Synchronization
import Testing

// MARK: - Helpers

/// A server on a free port of `host`, primary or replica of `replicaOf`, with the replication settings `adjust` makes.
func startReplicationNode(replicaOf primary: RESPServer? = nil, host: String = "127.0.0.1", engine: String = "skiplist",
                          _ adjust: (inout ReplicationConfiguration) -> Void = { _ in }) throws -> RESPServer {
    var configuration = ServerConfiguration(host: host, port: 0, threads: 1)
    if let primary { configuration.replication.replicaOf = ReplicationEndpoint(host: "127.0.0.1", port: primary.port) }
    configuration.replication.ackIntervalMilliseconds = 50
    adjust(&configuration.replication)
    return try startServer(engine: engine, configuration: configuration)
}

func connect(_ server: RESPServer, host: String = "127.0.0.1") throws -> RESPConnection {
    try RESPConnection(endpoint: RedisEndpoint(host: host, port: server.port), timeoutSeconds: 20)
}

/// INFO `section` as a dictionary.
func infoFields(_ connection: RESPConnection, _ section: String) throws -> [String: String] {
    let text = try connection.call(["INFO", section]).text ?? ""
    var fields: [String: String] = [:]
    for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
    }
    return fields
}

struct ConditionNotReached: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` every 20 ms until it holds, for at most `seconds` (a bound, not a timing assertion).
func eventually(_ what: String, within seconds: Double = 20, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw ConditionNotReached(description: "not reached within \(seconds) s: \(what)")
}

/// Waits until `replica`'s link is up and its offset equals `primary`'s.
func waitInSync(_ primary: RESPServer, _ replica: RESPServer) throws {
    try eventually("replica in sync with the primary") {
        !replica.executor.replication.isReplica ? false
            : replica.executor.replication.state.withLock { $0.linkState == .connected }
            && replica.executor.replication.offset == primary.executor.replication.offset
    }
}

// MARK: - Tests

@Suite("Replication between kvlab servers", .serialized)
struct ReplicationTests {
    @Test("a new replica takes a full snapshot of an existing dataset, then the live stream; it refuses writes with READONLY")
    func fullSyncAndStream() throws {
        let primary = try startReplicationNode()
        defer { try? primary.shutdown() }
        let p = try connect(primary)
        _ = try p.call(["SET", "s", "v1"])
        _ = try p.call(["HSET", "h", "f1", "a", "f2", "b"])
        _ = try p.call(["ZADD", "z", "1", "one", "2", "two"])
        _ = try p.call(["RPUSH", "l", "x", "y"])
        _ = try p.call(["SADD", "set", "m"])
        _ = try p.call(["SET", "e", "x", "EX", "1000"])
        for i in 0..<200 { _ = try p.call(["SET", "k\(i)", "\(i)"]) }

        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        try waitInSync(primary, replica)
        let r = try connect(replica)
        #expect(try r.call(["GET", "s"]).text == "v1")
        #expect(try r.call(["HGET", "h", "f2"]).text == "b")
        #expect(try r.call(["ZSCORE", "z", "two"]).text == "2")
        #expect(try r.call(["LRANGE", "l", "0", "-1"]) == .array([.bulk("x"), .bulk("y")]))
        #expect(try r.call(["SISMEMBER", "set", "m"]) == .integer(1))
        #expect(try r.call(["DBSIZE"]) == p.call(["DBSIZE"]))
        // The deadline travelled as an absolute time: within a second of the primary's.
        if case .integer(let pt) = try p.call(["PTTL", "e"]), case .integer(let rt) = try r.call(["PTTL", "e"]) {
            #expect(pt > 990_000 && abs(pt - rt) < 5_000, "PTTL primary \(pt), replica \(rt)")
        } else {
            Issue.record("PTTL did not answer integers")
        }

        // Live stream, MULTI/EXEC included.
        _ = try p.call(["SET", "s", "v2"])
        _ = try p.call(["INCR", "counter"])
        _ = try p.pipeline([["MULTI"], ["SET", "t1", "a"], ["DEL", "k0"], ["ZREM", "z", "one"], ["EXEC"]])
        try waitInSync(primary, replica)
        #expect(try r.call(["GET", "s"]).text == "v2")
        #expect(try r.call(["GET", "counter"]).text == "1")
        #expect(try r.call(["GET", "t1"]).text == "a")
        #expect(try r.call(["EXISTS", "k0"]) == .integer(0))
        #expect(try r.call(["ZSCORE", "z", "one"]) == .null)
        #expect(try r.call(["DBSIZE"]) == p.call(["DBSIZE"]))

        #expect(try r.call(["SET", "s", "no"]) == .error("READONLY You can't write against a read only replica."))
        let replies = try r.pipeline([["MULTI"], ["SET", "a", "1"], ["EXEC"]])
        #expect(replies.last?.text?.hasPrefix("EXECABORT") == true, "\(replies)")
        #expect(try infoFields(p, "stats")["sync_full"] == "1")
        let info = try infoFields(r, "replication")
        #expect(info["role"] == "slave" && info["master_link_status"] == "up")
        #expect(info["master_replid"] == (try infoFields(p, "replication"))["master_replid"])
    }

    @Test("a replica whose link dropped resumes with PSYNC +CONTINUE and gets the writes it missed")
    func partialResyncAfterDrop() throws {
        let primary = try startReplicationNode()
        defer { try? primary.shutdown() }
        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        let p = try connect(primary)
        _ = try p.call(["SET", "before", "1"])
        try waitInSync(primary, replica)
        primary.executor.replication.disconnectReplicas()
        for i in 0..<50 { _ = try p.call(["SET", "during\(i)", "\(i)"]) }
        try waitInSync(primary, replica)
        let r = try connect(replica)
        #expect(try r.call(["GET", "during49"]).text == "49")
        #expect(try r.call(["GET", "before"]).text == "1")
        let stats = try infoFields(p, "stats")
        #expect(stats["sync_full"] == "1", "\(stats)")
        #expect(stats["sync_partial_ok"] == "1", "\(stats)")
    }

    @Test("a replica that fell behind more than the backlog holds gets a full resync")
    func fullResyncWhenBacklogOverrun() throws {
        let primary = try startReplicationNode { $0.backlogSize = 16 * 1024 }
        defer { try? primary.shutdown() }
        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        let p = try connect(primary)
        _ = try p.call(["SET", "before", "1"])
        try waitInSync(primary, replica)
        // Point the replica at a closed port: its link is down and it keeps its history.
        let closed = try startServer()
        let closedPort = closed.port
        try closed.shutdown()
        let r = try connect(replica)
        #expect(try r.call(["REPLICAOF", "127.0.0.1", String(closedPort)]).text == "OK")
        let value = String(repeating: "v", count: 1000)
        for i in 0..<40 { _ = try p.call(["SET", "big\(i)", value]) }  // 40 KB > the 16 KB backlog
        #expect(try r.call(["REPLICAOF", "127.0.0.1", String(primary.port)]).text == "OK")
        try waitInSync(primary, replica)
        #expect(try r.call(["GET", "big39"]).text == value)
        let stats = try infoFields(p, "stats")
        #expect(stats["sync_full"] == "2", "\(stats)")
        #expect(stats["sync_partial_err"] == "1", "\(stats)")
        #expect(stats["sync_partial_ok"] == "0", "\(stats)")
    }

    @Test("WAIT returns the number of replicas that acknowledged this connection's writes, after its timeout when too few did")
    func waitCounts() throws {
        let primary = try startReplicationNode()
        defer { try? primary.shutdown() }
        let r1 = try startReplicationNode(replicaOf: primary)
        defer { try? r1.shutdown() }
        let r2 = try startReplicationNode(replicaOf: primary)
        defer { try? r2.shutdown() }
        try waitInSync(primary, r1)
        try waitInSync(primary, r2)
        let p = try connect(primary)
        _ = try p.call(["SET", "k", "v"])
        #expect(try p.call(["WAIT", "2", "10000"]) == .integer(2))
        _ = try p.call(["SET", "k", "w"])
        #expect(try p.call(["WAIT", "3", "200"]) == .integer(2))
        #expect(try p.call(["WAIT", "0", "0"]) == .integer(2))
        // The connection goes on after a wait, and the replicas refuse WAIT.
        #expect(try p.call(["GET", "k"]).text == "w")
        #expect(try connect(r1).call(["WAIT", "1", "10"]).text?.hasPrefix("ERR WAIT cannot be used with replica instances") == true)
    }

    @Test("under --repl-ack sync a write too few replicas acknowledged in time gets an error but stays applied")
    func syncModeTimeout() throws {
        let primary = try startReplicationNode { $0.ackMode = .sync; $0.syncReplicas = 2; $0.syncTimeoutMilliseconds = 300 }
        defer { try? primary.shutdown() }
        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        try waitInSync(primary, replica)
        let p = try connect(primary)
        let reply = try p.call(["SET", "k", "v"])
        #expect(reply.text?.hasPrefix("NOREPLICAS Not enough replicas acknowledged the write in time (1 of 2") == true, "\(reply)")
        #expect(try p.call(["GET", "k"]).text == "v")
        try waitInSync(primary, replica)
        #expect(try connect(replica).call(["GET", "k"]).text == "v")
    }

    @Test("under --repl-ack sync a write acknowledged by enough replicas gets its own reply")
    func syncModeAcknowledged() throws {
        let primary = try startReplicationNode { $0.ackMode = .sync; $0.syncReplicas = 1; $0.syncTimeoutMilliseconds = 10_000 }
        defer { try? primary.shutdown() }
        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        try waitInSync(primary, replica)
        let p = try connect(primary)
        #expect(try p.call(["SET", "k", "v"]).text == "OK")
        // Acknowledged means applied on the replica already.
        #expect(try connect(replica).call(["GET", "k"]).text == "v")
        #expect(try p.call(["INCR", "n"]) == .integer(1))
    }

    @Test("min-replicas-to-write refuses writes with NOREPLICAS until a replica acknowledges")
    func minReplicasFencing() throws {
        let primary = try startReplicationNode { $0.minReplicasToWrite = 1; $0.minReplicasMaxLagSeconds = 10 }
        defer { try? primary.shutdown() }
        let p = try connect(primary)
        #expect(try p.call(["SET", "k", "v"]) == .error("NOREPLICAS Not enough good replicas to write."))
        #expect(try p.call(["GET", "k"]) == .null)
        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        try waitInSync(primary, replica)
        #expect(try p.call(["SET", "k", "v"]).text == "OK")
        #expect(try infoFields(p, "replication")["min_slaves_good_slaves"] == "1")
    }

    @Test("after REPLICAOF NO ONE on one replica, another replica repointed to it resyncs partially and follows it")
    func failoverPartialResync() throws {
        let primary = try startReplicationNode()
        defer { try? primary.shutdown() }
        let r1 = try startReplicationNode(replicaOf: primary)
        defer { try? r1.shutdown() }
        let r2 = try startReplicationNode(replicaOf: primary)
        defer { try? r2.shutdown() }
        let p = try connect(primary)
        for i in 0..<20 { _ = try p.call(["SET", "k\(i)", "\(i)"]) }
        let oldID = try infoFields(p, "replication")["master_replid"]
        // As in a real failover the old primary is gone first, and both replicas stopped at the
        // same offset: the primary's first PING can otherwise reach r2 but not r1 before the
        // promotion, and then r2 is ahead of r1's history and rightly needs a full resync.
        try eventually("both replicas at the primary's offset") {
            let target = primary.executor.replication.offset
            return r1.executor.replication.offset == target && r2.executor.replication.offset == target
        }
        try primary.shutdown()
        usleep(200_000)  // let bytes already sent reach both replicas
        try eventually("both replicas stopped at one offset") {
            r1.executor.replication.offset == r2.executor.replication.offset
        }
        let c1 = try connect(r1), c2 = try connect(r2)
        #expect(try c1.call(["REPLICAOF", "NO", "ONE"]).text == "OK")
        let promoted = try infoFields(c1, "replication")
        #expect(promoted["role"] == "master")
        #expect(promoted["master_replid2"] == oldID && promoted["master_replid"] != oldID)
        #expect(try c2.call(["SLAVEOF", "127.0.0.1", String(r1.port)]).text == "OK")
        try waitInSync(r1, r2)
        #expect(try c1.call(["SET", "after", "failover"]).text == "OK")
        try waitInSync(r1, r2)
        #expect(try c2.call(["GET", "after"]).text == "failover")
        #expect(try c2.call(["GET", "k19"]).text == "19")
        let stats = try infoFields(c1, "stats")
        #expect(stats["sync_partial_ok"] == "1" && stats["sync_full"] == "0", "\(stats)")
        let role = try c1.call(["ROLE"])
        if case .array(let parts) = role, parts.count == 3, case .array(let replicas) = parts[2] {
            #expect(parts[0].text == "master" && replicas.count == 1)
        } else {
            Issue.record("ROLE on the promoted replica: \(role)")
        }
        // r1 may append a PING or GETACK between the two reads, so the replica's offset is
        // bounded by r1's offsets before and after the ROLE call rather than equal to one.
        let before = r1.executor.replication.offset
        try waitInSync(r1, r2)
        let replicaRole = try c2.call(["ROLE"])
        let after = r1.executor.replication.offset
        if case .array(let fields) = replicaRole, fields.count == 5, case .integer(let offset) = fields[4] {
            #expect(Array(fields.prefix(4)) == [.bulk("slave"), .bulk("127.0.0.1"), .integer(Int64(r1.port)), .bulk("connected")])
            #expect(offset >= before && offset <= after, "replica offset \(offset) outside [\(before), \(after)]")
        } else {
            Issue.record("ROLE on the repointed replica: \(replicaRole)")
        }
    }

    @Test("the replica binds its link to its own address and announces the address and port it is given")
    func sourceAddressAndAnnouncedPort() throws {
        let primary = try startReplicationNode()
        defer { try? primary.shutdown() }
        let replica = try startReplicationNode(replicaOf: primary, host: "127.0.0.7") { $0.announcePort = 16_379 }
        defer { try? replica.shutdown() }
        try waitInSync(primary, replica)
        let announced = try startReplicationNode(replicaOf: primary) { $0.announceIP = "10.9.8.7" }
        defer { try? announced.shutdown() }
        try waitInSync(primary, announced)
        let info = try infoFields(try connect(primary), "replication")
        #expect(info["slave0"]?.hasPrefix("ip=127.0.0.7,port=16379,state=online,offset=") == true, "\(info)")
        #expect(info["slave1"]?.hasPrefix("ip=10.9.8.7,port=\(announced.port),state=online,offset=") == true, "\(info)")
    }

    @Test("on a replica, a WATCHed key changed by the stream aborts EXEC")
    func watchOnReplica() throws {
        let primary = try startReplicationNode()
        defer { try? primary.shutdown() }
        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        let p = try connect(primary), r = try connect(replica)
        _ = try p.call(["SET", "k", "1"])
        try waitInSync(primary, replica)
        #expect(try r.call(["WATCH", "k"]).text == "OK")
        _ = try p.call(["SET", "k", "2"])
        try waitInSync(primary, replica)
        let replies = try r.pipeline([["MULTI"], ["GET", "k"], ["EXEC"]])
        #expect(replies.last == .nullArray, "\(replies)")
    }

    @Test("the hash engine (no ordered scan) replicates its snapshot too")
    func hashEngineSnapshot() throws {
        let primary = try startReplicationNode(engine: "hash")
        defer { try? primary.shutdown() }
        let p = try connect(primary)
        for i in 0..<300 { _ = try p.call(["SET", "k\(i)", "\(i)"]) }
        let replica = try startReplicationNode(replicaOf: primary, engine: "hash")
        defer { try? replica.shutdown() }
        try waitInSync(primary, replica)
        let r = try connect(replica)
        #expect(try r.call(["DBSIZE"]) == .integer(300))
        #expect(try r.call(["GET", "k299"]).text == "299")
    }

    @Test("redis-py reads INFO replication and ROLE from a kvlab primary and replica")
    func redisPyReadsReplicationInfo() throws {
        let primary = try startReplicationNode()
        defer { try? primary.shutdown() }
        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        _ = try connect(primary).call(["SET", "k", "v"])
        try waitInSync(primary, replica)
        let script = #"""
        import sys
        try:
            import redis
        except ImportError as e:
            sys.exit("redis-py is not installed for python3 (pip install redis): %s" % e)
        p = redis.Redis(port=int(sys.argv[1])); r = redis.Redis(port=int(sys.argv[2]))
        info = p.info("replication")
        assert info["role"] == "master", info
        assert info["connected_slaves"] == 1, info
        s = info["slave0"]
        assert s["ip"] == "127.0.0.1" and s["port"] == int(sys.argv[2]) and s["state"] == "online", s
        assert isinstance(s["offset"], int) and isinstance(s["lag"], int), s
        assert len(info["master_replid"]) == 40 and info["master_repl_offset"] > 0, info
        rinfo = r.info("replication")
        assert rinfo["role"] == "slave" and rinfo["master_link_status"] == "up", rinfo
        assert rinfo["master_port"] == int(sys.argv[1]) and rinfo["slave_repl_offset"] == info["master_repl_offset"], (rinfo, info)
        role = r.role()
        assert role[0] == b"slave" and role[3] == b"connected", role
        try:
            r.set("x", 1)
            raise AssertionError("a write on the replica succeeded")
        except redis.exceptions.ReadOnlyError:
            pass
        print("OK")
        """#
        let run = try runTool("/usr/bin/env", ["python3", "-c", script, String(primary.port), String(replica.port)], timeout: 60)
        #expect(run.status == 0, "redis-py: \(run.stderr)")
        #expect(run.stdout.hasPrefix("OK"), "\(run.stdout) \(run.stderr)")
    }
}

/// Errors collected from client threads.
final class FailureList: Sendable {
    private let items = Mutex<[String]>([])
    func add(_ item: String) { items.withLock { $0.append(item) } }
    var all: [String] { items.withLock { $0 } }
}

@Suite("Replication under concurrent random writes", .serialized)
struct ReplicationRandomizedTests {
    /// One random write command over a few keys of every type (long deadlines: nothing expires during the test).
    static func randomCommand(_ random: inout SeededRandom, client: Int) -> [String] {
        let key = "k\(random.next() % 12)"
        let n = String(random.next() % 100)
        switch random.next() % 16 {
        case 0: return ["SET", key, n]
        case 1: return ["SET", key, n, "EX", "1000"]
        case 2: return ["INCR", "c\(random.next() % 3)"]
        case 3: return ["APPEND", "a\(random.next() % 3)", n]
        case 4: return ["HSET", "h\(random.next() % 3)", "f\(n)", n]
        case 5: return ["HDEL", "h\(random.next() % 3)", "f\(n)"]
        case 6: return ["ZADD", "z\(random.next() % 3)", n, "m\(n)"]
        case 7: return ["ZREM", "z\(random.next() % 3)", "m\(n)"]
        case 8: return ["RPUSH", "l\(random.next() % 3)", n]
        case 9: return ["LPOP", "l\(random.next() % 3)"]
        case 10: return ["SADD", "s\(random.next() % 3)", n]
        case 11: return ["SPOP", "s\(random.next() % 3)"]
        case 12: return ["DEL", key]
        case 13: return ["EXPIRE", key, "2000"]
        case 14: return ["INCRBYFLOAT", "f\(random.next() % 3)", "0.1"]
        default: return ["MSET", key, n, "k\(random.next() % 12)", String(client)]
        }
    }

    /// Every engine record, in the snapshot encoding (key order on the skiplist engine).
    static func records(_ server: RESPServer) throws -> [UInt8] {
        let keyspace = server.executor.keyspace
        return try keyspace.withCommandLock(exclusive: true) { () throws(EngineError) in
            try keyspace.withEngine { (e) throws(EngineError) in try ReplicationStream.snapshot(of: e) }
        }
    }

    @Test("after concurrent random writes, MULTI/EXEC blocks and dropped links, a replica's records equal the primary's byte for byte")
    func replicaConvergesToPrimary() throws {
        let seed = harnessSeed("replicaConvergesToPrimary")
        let primary = try startReplicationNode { $0.backlogSize = 16 * 1024 }
        defer { try? primary.shutdown() }
        let replica = try startReplicationNode(replicaOf: primary)
        defer { try? replica.shutdown() }
        try waitInSync(primary, replica)
        let failures = FailureList()
        let threads = (0..<3).map { client in
            Thread {
                var random = SeededRandom(seed: seed &+ UInt64(client))
                do {
                    let c = try connect(primary)
                    for i in 0..<300 {
                        if random.next() % 10 == 0 {
                            let block = (0..<3).map { _ in ReplicationRandomizedTests.randomCommand(&random, client: client) }
                            _ = try c.pipeline([["MULTI"]] + block + [["EXEC"]])
                        } else {
                            _ = try c.call(ReplicationRandomizedTests.randomCommand(&random, client: client))
                        }
                        if client == 0 && i % 100 == 50 { primary.executor.replication.disconnectReplicas() }
                    }
                } catch {
                    failures.add("client \(client): \(error)")
                }
            }
        }
        for t in threads { t.start() }
        try eventually("clients done", within: 120) { threads.allSatisfy { $0.isFinished } }
        #expect(failures.all.isEmpty, "seed \(seed): \(failures.all)")
        try waitInSync(primary, replica)
        let (a, b) = (try Self.records(primary), try Self.records(replica))
        #expect(a == b, "seed \(seed) (replay with KVLAB_SEED=\(seed)): primary \(a.count) bytes of records, replica \(b.count)")
        #expect(try connect(replica).call(["DBSIZE"]) == connect(primary).call(["DBSIZE"]))
    }
}

@Suite("Replication stream and backlog, without sockets")
struct ReplicationStreamTests {
    @Test("a MULTI/EXEC block ships as one unit, and a relative expiry ships as the absolute deadline")
    func transactionIsOneUnitAndExpiryIsAbsolute() throws {
        let clock = ManualWallClock(milliseconds: 1_700_000_000_000)
        let executor = try makeExecutor(clock: clock)
        var state = executor.makeConnectionState()
        _ = executor.execute(["MULTI"], state: &state)
        _ = executor.execute(["SET", "a", "1"], state: &state)
        _ = executor.execute(["SET", "b", "2", "EX", "100"], state: &state)
        _ = executor.execute(["EXEC"], state: &state)
        let bytes = executor.replication.state.withLock { $0.backlog.bytes(from: 1) }
        var parser = RESPCommandParser()
        var command = RESPCommand()
        let consumed = try bytes.withUnsafeBytes { (raw) throws(RESPParseError) in try parser.parse(raw, into: &command) }
        #expect(consumed == bytes.count, "one command in the stream")
        let ops = try ReplicationStream.decode(command)
        #expect(ops.count == 2)
        guard ops.count == 2, case .put(let key, let record) = ops[1] else { Issue.record("\(ops)"); return }
        #expect(key == Array("kb".utf8))
        let deadline: Int64 = record.withUnsafeBytes { Keyspace.header(of: $0)?.expiresAt ?? -1 }
        #expect(deadline == Int64(1_700_000_000_000 + 100_000))
        #expect(state.lastWriteOffset == Int64(bytes.count))
    }

    @Test("the backlog keeps the last bytes across wrap-around and knows which offsets it holds")
    func backlogRing() {
        var backlog = ReplicationBacklog(capacity: 10, endOffset: 0)
        backlog.append(Array(0..<7))
        backlog.append(Array(7..<15))
        #expect(backlog.endOffset == 15 && backlog.historyLength == 10 && backlog.firstByteOffset == 6)
        #expect(backlog.bytes(from: 6) == Array(5..<15))
        #expect(backlog.bytes(from: 14) == [13, 14])
        #expect(backlog.holds(from: 16) && !backlog.holds(from: 5) && !backlog.holds(from: 17))
        #expect(backlog.bytes(from: 16) == [])
    }

    @Test("a snapshot decodes to the records it was built from, and a truncated one names the byte offset")
    func snapshotRoundTrip() throws {
        let executor = try makeExecutor(engine: "hash")
        var state = executor.makeConnectionState()
        for i in 0..<50 { _ = executor.execute(["SET", "k\(i)", "v\(i)"], state: &state) }
        let snapshot = try executor.keyspace.withCommandLock(exclusive: false) { () throws(EngineError) in
            try executor.keyspace.withEngine { (e) throws(EngineError) in try ReplicationStream.snapshot(of: e) }
        }
        var count = 0
        try ReplicationStream.records(of: snapshot) { _, _ in count += 1 }
        #expect(count == 50)
        #expect(throws: ReplicationError.self) { try ReplicationStream.records(of: Array(snapshot.dropLast(3))) { _, _ in } }
    }
}

@Suite("kvlab serve processes replicating", .serialized)
struct ReplicationProcessTests {
    @Test("--replicaof with --bind-source-addr: the link comes from that address, drops after --repl-timeout while the primary is stopped, and resumes partially")
    func processesWithTimeoutAndResume() throws {
        let primary = try KVLabServeProcess(["--threads", "1", "--repl-ping-replica-period", "0.1"])
        defer { primary.stop() }
        let replica = try KVLabServeProcess(["--threads", "1", "--replicaof", "127.0.0.1:\(primary.port)", "--bind-source-addr", "127.0.0.9",
                                             "--repl-timeout", "0.5"], host: "127.0.0.8")
        defer { replica.stop() }
        let p = try RESPConnection(endpoint: primary.endpoint, timeoutSeconds: 20)
        let r = try RESPConnection(endpoint: replica.endpoint, timeoutSeconds: 20)
        _ = try p.call(["SET", "k", "1"])
        try eventually("replica up") { try infoFields(r, "replication")["master_link_status"] == "up" && r.call(["GET", "k"]).text == "1" }
        #expect(try infoFields(p, "replication")["slave0"]?.hasPrefix("ip=127.0.0.9,port=\(replica.port),state=online") == true)

        kill(primary.process.processIdentifier, SIGSTOP)
        var stoppedResumed = false
        defer { if !stoppedResumed { kill(primary.process.processIdentifier, SIGCONT) } }
        try eventually("replica notices the silent primary") { try infoFields(r, "replication")["master_link_status"] == "down" }
        kill(primary.process.processIdentifier, SIGCONT)
        stoppedResumed = true
        _ = try p.call(["SET", "k", "2"])
        try eventually("replica back in sync") { try infoFields(r, "replication")["master_link_status"] == "up" && r.call(["GET", "k"]).text == "2" }
        let stats = try infoFields(p, "stats")
        #expect(stats["sync_full"] == "1" && stats["sync_partial_ok"] == "1", "\(stats)")
        #expect(try r.call(["INFO", "server"]).text?.contains("run_id:") == true)
    }
}
