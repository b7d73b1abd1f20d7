// The sentinel's RESP replies and INFO parsing, without sockets.

import KVClient
import RESP
import Testing
@testable import Sentinel

@Suite("Sentinel commands")
struct CommandTests {
    func monitor() -> SentinelMonitor {
        var c = SentinelConfiguration(masterName: "mymaster", master: RedisEndpoint(host: "127.0.0.1", port: 6379), quorum: 2,
                                      peers: [RedisEndpoint(host: "127.0.0.1", port: 26380)], runID: String(repeating: "a", count: 40),
                                      announced: RedisEndpoint(host: "127.0.0.1", port: 26379))
        c.downAfterMilliseconds = 1000
        return SentinelMonitor(configuration: c, now: 0, seed: 1)
    }

    @Test("get-master-addr-by-name answers two bulk strings, or a null array for an unknown name")
    func masterAddress() {
        var m = monitor()
        #expect(m.execute(["SENTINEL", "get-master-addr-by-name", "mymaster"], now: 0, serverPort: 26379)
                == .array([.bulk("127.0.0.1"), .bulk("6379")]))
        #expect(m.execute(["sentinel", "GET-MASTER-ADDR-BY-NAME", "other"], now: 0, serverPort: 26379) == .nullArray)
        #expect(m.execute(["SENTINEL", "get-master-addr-by-name"], now: 0, serverPort: 26379).isError)
    }

    @Test("is-master-down-by-addr answers [down, leader, epoch] and validates its arguments")
    func isMasterDown() {
        var m = monitor()
        #expect(m.execute(["SENTINEL", "is-master-down-by-addr", "127.0.0.1", "6379", "0", "*"], now: 0, serverPort: 1)
                == .array([.integer(0), .bulk("*"), .integer(0)]))
        _ = m.tick(now: 100)  // sends the first PING, which is never answered
        _ = m.tick(now: 5000)  // SDOWN: silent for longer than down-after
        #expect(m.execute(["SENTINEL", "is-master-down-by-addr", "127.0.0.1", "6379", "3", "bbbb"], now: 5000, serverPort: 1)
                == .array([.integer(1), .bulk("bbbb"), .integer(3)]))
        #expect(m.execute(["SENTINEL", "is-master-down-by-addr", "127.0.0.1", "port", "3", "x"], now: 0, serverPort: 1)
                == .error("ERR invalid port 'port': expected 1..65535"))
        #expect(m.execute(["SENTINEL", "is-master-down-by-addr", "127.0.0.1", "6379", "-1", "x"], now: 0, serverPort: 1).isError)
    }

    @Test("masters, master, replicas and sentinels are flat field/value arrays with Redis's names")
    func stateShapes() {
        var m = monitor()
        _ = m.handle(.info(RedisEndpoint(host: "127.0.0.1", port: 6379),
                           "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=6380,state=online,offset=42,lag=0\r\n"), now: 10)
        guard case .array(let masters) = m.execute(["SENTINEL", "masters"], now: 10, serverPort: 1), masters.count == 1,
              let fields = masters[0].elements?.compactMap(\.text) else { Issue.record("masters is not an array of arrays"); return }
        var dict: [String: String] = [:]
        for k in stride(from: 0, to: fields.count - 1, by: 2) { dict[fields[k]] = fields[k + 1] }
        #expect(dict["name"] == "mymaster" && dict["ip"] == "127.0.0.1" && dict["port"] == "6379")
        #expect(dict["flags"] == "master" && dict["num-slaves"] == "1" && dict["num-other-sentinels"] == "1" && dict["quorum"] == "2")
        guard case .array(let replicas) = m.execute(["SENTINEL", "replicas", "mymaster"], now: 10, serverPort: 1), replicas.count == 1,
              let r = replicas[0].elements?.compactMap(\.text) else { Issue.record("replicas is not an array of arrays"); return }
        #expect(r.starts(with: ["name", "127.0.0.1:6380", "ip", "127.0.0.1", "port", "6380"]))
        #expect(m.execute(["SENTINEL", "slaves", "mymaster"], now: 10, serverPort: 1) == m.execute(["SENTINEL", "replicas", "mymaster"], now: 10, serverPort: 1))
        guard case .array(let sentinels) = m.execute(["SENTINEL", "sentinels", "mymaster"], now: 10, serverPort: 1) else { Issue.record("sentinels"); return }
        #expect(sentinels.count == 1)
        #expect(m.execute(["SENTINEL", "master", "nope"], now: 10, serverPort: 1) == .error("ERR No such master with that name"))
        #expect(m.execute(["SENTINEL", "reset", "my*"], now: 10, serverPort: 1) == .integer(1))
        #expect(m.replicas.isEmpty, "reset forgets the replicas")
        #expect(m.execute(["SENTINEL", "reset", "x*"], now: 10, serverPort: 1) == .integer(0))
        #expect(m.execute(["PING"], now: 0, serverPort: 1) == .simpleString("PONG"))
        #expect(m.execute(["NOSUCH"], now: 0, serverPort: 1).isError)
        #expect(m.execute(["INFO"], now: 0, serverPort: 26379).text?.contains("master0:name=mymaster,status=ok,address=127.0.0.1:6379,slaves=0,sentinels=2") == true)
    }

    @Test("INFO replication of a replica and of a primary parses into role, primary, offset, priority and replicas")
    func infoParsing() {
        let replica = NodeInfo(parsing: "# Server\r\nrun_id:abc\r\n\r\n# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:down\r\nmaster_link_down_since_seconds:12\r\nslave_repl_offset:4242\r\nslave_priority:7\r\nmaster_repl_offset:4242\r\n")
        #expect(replica.runID == "abc" && replica.role == .replica && replica.primary == RedisEndpoint(host: "10.0.0.1", port: 6379))
        #expect(!replica.linkUp && replica.linkDownSeconds == 12 && replica.offset == 4242 && replica.priority == 7)
        let primary = NodeInfo(parsing: "role:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.2,port=7001,state=online,offset=10,lag=0\r\nslave1:ip=127.0.0.3,port=7002,state=online,offset=9,lag=1\r\nmaster_repl_offset:10\r\n")
        #expect(primary.role == .master && primary.offset == 10)
        #expect(primary.replicas == [RedisEndpoint(host: "127.0.0.2", port: 7001), RedisEndpoint(host: "127.0.0.3", port: 7002)])
    }

    @Test("a configuration whose quorum no set of sentinels can reach is refused")
    func configurationProblems() {
        var c = monitor().configuration
        c.quorum = 3
        #expect(c.problems().contains { $0.contains("--quorum 3") })
        c.quorum = 2
        #expect(c.problems().isEmpty)
    }
}

@Suite("Sentinel targets")
struct SentinelTargetTests {
    @Test("sentinel:// URLs name the sentinels (port 26379 by default) and the group")
    func parsesSentinelURL() throws {
        let t = try RedisTarget(url: "sentinel://127.0.0.1:26379,10.0.0.2/mymaster")
        #expect(t.sentinelMasterName == "mymaster" && !t.cluster)
        #expect(t.endpoints == [RedisEndpoint(host: "127.0.0.1", port: 26379), RedisEndpoint(host: "10.0.0.2", port: 26379)])
        #expect(throws: RESPClientError.self) { try RedisTarget(url: "sentinel://127.0.0.1:26379") }
        #expect(throws: RESPClientError.self) { try RedisTarget(url: "sentinel://127.0.0.1:26379/") }
        #expect(try RedisTarget(url: "redis://h:1").sentinelMasterName == nil)
    }
}

@Suite("Sentinel RESP3")
struct SentinelRESP3Tests {
    @Test("HELLO 3 switches to RESP3, where states are maps; other versions are refused")
    func hello() {
        var m = CommandTests().monitor()
        guard case .map(let pairs) = m.execute(["HELLO", "3"], now: 0, serverPort: 1) else { Issue.record("HELLO 3 is not a map"); return }
        #expect(pairs.contains(RESPPair(.bulk("proto"), .integer(3))) && pairs.contains(RESPPair(.bulk("mode"), .bulk("sentinel"))))
        #expect(m.execute(["HELLO", "4"], now: 0, serverPort: 1) == .error("NOPROTO unsupported protocol version"))
        guard case .array(let masters) = m.execute(["SENTINEL", "masters"], now: 0, serverPort: 1, resp3: true),
              case .map(let state) = masters.first else { Issue.record("SENTINEL masters in RESP3 is not an array of maps"); return }
        #expect(state.first == RESPPair(.bulk("name"), .bulk("mymaster")))
    }
}

@Suite("Sentinel commands: epochs from the network")
struct EpochBoundTests {
    @Test("an epoch beyond a signed 64-bit integer is refused, in a vote request and in a hello, instead of trapping")
    func hugeEpochsAreRefused() {
        var c = SentinelConfiguration(masterName: "mymaster", master: RedisEndpoint(host: "127.0.0.1", port: 6379), quorum: 2,
                                      peers: [RedisEndpoint(host: "127.0.0.1", port: 26380)], runID: String(repeating: "a", count: 40),
                                      announced: RedisEndpoint(host: "127.0.0.1", port: 26379))
        c.downAfterMilliseconds = 1000
        var m = SentinelMonitor(configuration: c, now: 0, seed: 1)
        let huge = String(UInt64.max)
        // Before the fix: the vote was cast in epoch UInt64.max and its reply trapped in Int64(_:).
        #expect(m.execute(["SENTINEL", "is-master-down-by-addr", "127.0.0.1", "6379", huge, "bbbb"], now: 0, serverPort: 1).isError)
        // Before the fix: the hello set currentEpoch to UInt64.max and the next failover's `+= 1` trapped.
        #expect(m.execute(["SENTINEL", "HELLO", "127.0.0.1", "26380", "bbbb", huge, "mymaster", "127.0.0.1", "6379", "0"],
                          now: 0, serverPort: 1).isError)
        #expect(m.currentEpoch == 0 && m.votedLeader == nil)
        // A node's absurd link-down time does not trap the replica choice.
        let info = NodeInfo(parsing: "role:slave\r\nmaster_link_down_since_seconds:\(Int64.max)\r\n")
        #expect(info.linkDownSeconds == Int64.max / 1000)
    }
}
