// Command execution as plain function calls: no sockets, no event loops.

import KVCore
@testable import KVServer
import RESP
import Testing

@Suite("Commands without sockets")
struct CommandExecutionTests {
    let executor: CommandExecutor
    let clock = ManualWallClock()
    var state: ConnectionState

    init() throws {
        executor = try makeExecutor(engine: "skiplist", clock: clock)
        state = executor.makeConnectionState()
    }

    mutating func run(_ words: String...) -> RESPValue { executor.execute(words, state: &state) }

    @Test("PING, ECHO, SELECT and unknown commands answer as Redis does")
    mutating func basics() {
        #expect(run("PING") == .simpleString("PONG"))
        #expect(run("ping", "hi") == .bulk("hi"))
        #expect(run("ECHO", "x y") == .bulk("x y"))
        #expect(run("SELECT", "0") == .simpleString("OK"))
        #expect(run("SELECT", "1") == .error("ERR DB index is out of range"))
        #expect(run("SELECT", "x") == .error("ERR value is not an integer or out of range"))
        #expect(run("FOO", "a", "b") == .error("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "))
        #expect(run("GET") == .error("ERR wrong number of arguments for 'get' command"))
        #expect(run("SET", "k") == .error("ERR wrong number of arguments for 'set' command"))
        #expect(run("MSET", "a", "1", "b") == .error("ERR wrong number of arguments for 'mset' command"))
    }

    @Test("SET and GET with NX, XX, GET, KEEPTTL, and expiry by the clock passed in")
    mutating func setOptions() {
        #expect(run("GET", "k") == .null)
        #expect(run("SET", "k", "v1") == .simpleString("OK"))
        #expect(run("GET", "k") == .bulk("v1"))
        #expect(run("SET", "k", "v2", "NX") == .null)
        #expect(run("SET", "n", "v", "XX") == .null)
        #expect(run("SET", "k", "v2", "XX", "GET") == .bulk("v1"))
        #expect(run("SET", "k", "v", "NX", "XX") == .error("ERR syntax error"))
        #expect(run("SET", "k", "v", "EX", "0") == .error("ERR invalid expire time in 'set' command"))
        #expect(run("SET", "k", "v", "EX", "ten") == .error("ERR value is not an integer or out of range"))
        #expect(run("SET", "e", "v", "PX", "1500") == .simpleString("OK"))
        #expect(run("PTTL", "e") == .integer(1500))
        #expect(run("SET", "e", "w", "KEEPTTL") == .simpleString("OK"))
        #expect(run("TTL", "e") == .integer(2))
        clock.advance(by: 1499)
        #expect(run("GET", "e") == .bulk("w"))
        clock.advance(by: 1)
        #expect(run("GET", "e") == .null)
        #expect(run("EXISTS", "e") == .integer(0))
        #expect(run("TTL", "k") == .integer(-1))
        #expect(run("TTL", "missing") == .integer(-2))
    }

    @Test("INCR, DECR, INCRBY, APPEND, STRLEN, MGET, MSET, DEL and EXISTS")
    mutating func stringCommands() {
        #expect(run("INCR", "c") == .integer(1))
        #expect(run("INCRBY", "c", "41") == .integer(42))
        #expect(run("DECR", "c") == .integer(41))
        #expect(run("SET", "s", "abc") == .simpleString("OK"))
        #expect(run("INCR", "s") == .error("ERR value is not an integer or out of range"))
        #expect(run("SET", "big", String(Int64.max)) == .simpleString("OK"))
        #expect(run("INCR", "big") == .error("ERR increment or decrement would overflow"))
        #expect(run("APPEND", "s", "def") == .integer(6))
        #expect(run("STRLEN", "s") == .integer(6))
        #expect(run("STRLEN", "none") == .integer(0))
        #expect(run("MSET", "a", "1", "b", "2") == .simpleString("OK"))
        #expect(run("MGET", "a", "nope", "b") == .array([.bulk("1"), .null, .bulk("2")]))
        #expect(run("EXISTS", "a", "a", "nope") == .integer(2))
        #expect(run("DEL", "a", "b", "nope") == .integer(2))
        #expect(run("DBSIZE") == .integer(3))
    }

    @Test("hashes: HSET, HMSET, HGET, HMGET, HGETALL, HDEL, and WRONGTYPE across types")
    mutating func hashes() {
        #expect(run("HSET", "h", "f1", "a", "f2", "b") == .integer(2))
        #expect(run("HSET", "h", "f2", "B", "f3", "c") == .integer(1))
        #expect(run("HMSET", "h", "f4", "d") == .simpleString("OK"))
        #expect(run("HGET", "h", "f2") == .bulk("B"))
        #expect(run("HGET", "h", "zz") == .null)
        #expect(run("HMGET", "h", "f1", "zz", "f4") == .array([.bulk("a"), .null, .bulk("d")]))
        #expect(run("HGETALL", "h") == .array(["f1", "a", "f2", "B", "f3", "c", "f4", "d"].map { .bulk($0) }))
        #expect(run("HGETALL", "none") == .array([]))
        #expect(run("HDEL", "h", "f1", "zz") == .integer(1))
        #expect(run("HSET", "h", "odd") == .error("ERR wrong number of arguments for 'hset' command"))
        #expect(run("GET", "h") == .error(CommandExecutor.wrongType))
        #expect(run("SET", "str", "x") == .simpleString("OK"))
        #expect(run("HGET", "str", "f") == .error(CommandExecutor.wrongType))
        #expect(run("TYPE", "h") == .simpleString("hash"))
        #expect(run("HDEL", "h", "f2", "f3", "f4") == .integer(3))
        #expect(run("EXISTS", "h") == .integer(0))
    }

    @Test("sorted sets: ZADD, ZRANGEBYSCORE with bounds, scores and LIMIT, ZREM")
    mutating func sortedSets() {
        #expect(run("ZADD", "z", "1", "a", "2", "b", "-3.5", "c", "+inf", "d") == .integer(4))
        #expect(run("ZADD", "z", "2.5", "a") == .integer(0))
        #expect(run("ZADD", "z", "CH", "3", "a") == .integer(1))
        #expect(run("ZADD", "z", "NX", "XX", "1", "a") == .error("ERR XX and NX options at the same time are not compatible"))
        #expect(run("ZADD", "z", "x", "a") == .error("ERR value is not a valid float"))
        #expect(run("ZRANGEBYSCORE", "z", "-inf", "+inf") == .array(["c", "b", "a", "d"].map { .bulk($0) }))
        #expect(run("ZRANGEBYSCORE", "z", "(2", "3", "WITHSCORES") == .array([.bulk("a"), .bulk("3")]))
        #expect(run("ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "1", "2")
                == .array([.bulk("b"), .bulk("2"), .bulk("a"), .bulk("3")]))
        #expect(run("ZRANGEBYSCORE", "z", "a", "1") == .error("ERR min or max is not a float"))
        #expect(run("ZCARD", "z") == .integer(4))
        #expect(run("ZREM", "z", "a", "nope") == .integer(1))
        #expect(run("ZSCORE", "z", "c") == .bulk("-3.5"))
        #expect(run("DBSIZE") == .integer(1))
        #expect(run("SET", "z", "now a string") == .simpleString("OK"))
        #expect(run("DBSIZE") == .integer(1))
        #expect(run("ZRANGEBYSCORE", "z", "0", "1") == .error(CommandExecutor.wrongType))
    }

    @Test("sorted sets and SCAN on the unordered hash engine answer a clear error")
    func unorderedEngine() throws {
        let executor = try makeExecutor(engine: "hash")
        var state = executor.makeConnectionState()
        #expect(executor.execute(["SET", "k", "v"], state: &state) == .simpleString("OK"))
        #expect(executor.execute(["ZADD", "z", "1", "a"], state: &state).text?.hasPrefix("ERR ZADD needs an engine with ordered scans") == true)
        #expect(executor.execute(["SCAN", "0"], state: &state).isError)
        #expect(executor.execute(["DBSIZE"], state: &state) == .integer(1))
    }

    @Test("SCAN with a cursor visits every key once, with MATCH and TYPE filters")
    mutating func scan() {
        for i in 0..<95 { _ = run("SET", "key:\(i)", "v") }
        _ = run("HSET", "hash:1", "f", "v")
        var cursor = "0"
        var seen: [String] = []
        var rounds = 0
        repeat {
            let reply = run("SCAN", cursor, "COUNT", "10")
            guard let parts = reply.elements, parts.count == 2, let keys = parts[1].elements else { Issue.record("bad reply \(reply)"); return }
            cursor = parts[0].text ?? "0"
            seen += keys.compactMap(\.text)
            rounds += 1
        } while cursor != "0" && rounds < 100
        #expect(seen.count == 96 && Set(seen).count == 96)
        #expect(run("SCAN", "0", "MATCH", "hash:*", "COUNT", "1000") == .array([.bulk("0"), .array([.bulk("hash:1")])]))
        #expect(run("SCAN", "0", "TYPE", "hash", "COUNT", "1000") == .array([.bulk("0"), .array([.bulk("hash:1")])]))
        #expect(run("SCAN", "12345") == .error("ERR invalid cursor"))
    }

    @Test("HELLO 3 switches to RESP3 maps; HELLO 4 is NOPROTO; CLIENT names and ids")
    mutating func helloAndClient() {
        let hello = run("HELLO", "3")
        guard case .map(let pairs) = hello else { Issue.record("expected a map, got \(hello)"); return }
        #expect(pairs.contains(RESPPair(.bulk("proto"), .integer(3))))
        #expect(state.protocolVersion == .resp3)
        _ = run("HSET", "h", "f", "v")
        #expect(run("HGETALL", "h") == .map([RESPPair(.bulk("f"), .bulk("v"))]))
        #expect(run("GET", "nothing") == .null)
        #expect(run("HELLO", "4") == .error("NOPROTO unsupported protocol version"))
        #expect(run("CLIENT", "SETNAME", "bench") == .simpleString("OK"))
        #expect(run("CLIENT", "GETNAME") == .bulk("bench"))
        #expect(run("CLIENT", "SETNAME", "a b") == .error("ERR Client names cannot contain spaces, newlines or special characters."))
        #expect(run("CLIENT", "ID") == .integer(state.id))
    }

    @Test("INFO reports real counts; CONFIG GET answers what redis-benchmark asks; FLUSHALL empties")
    mutating func infoConfigFlush() {
        _ = run("SET", "a", "1")
        _ = run("GET", "a")
        _ = run("GET", "missing")
        let info = run("INFO").text ?? ""
        #expect(info.contains("# Server") && info.contains("# Clients") && info.contains("# Stats") && info.contains("# Keyspace"))
        #expect(info.contains("db0:keys=1,"))
        #expect(info.contains("keyspace_hits:1\r\n") && info.contains("keyspace_misses:1\r\n"))
        #expect(info.contains("total_commands_processed:4\r\n"))
        #expect(run("CONFIG", "GET", "save") == .array([.bulk("save"), .bulk("")]))
        #expect(run("CONFIG", "GET", "appendonly") == .array([.bulk("appendonly"), .bulk("no")]))
        #expect(run("FLUSHALL") == .simpleString("OK"))
        #expect(run("DBSIZE") == .integer(0))
        #expect(run("COMMAND", "COUNT").isError == false)
    }

    @Test("requirepass: NOAUTH until AUTH, WRONGPASS for a bad password, HELLO AUTH works")
    func authentication() throws {
        let executor = try makeExecutor(configuration: ServerConfiguration(port: 0, requirePassword: "s3cret"))
        var state = executor.makeConnectionState()
        #expect(executor.execute(["GET", "k"], state: &state) == .error("NOAUTH Authentication required."))
        #expect(executor.execute(["AUTH", "wrong"], state: &state) == .error("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(executor.execute(["AUTH", "s3cret"], state: &state) == .simpleString("OK"))
        #expect(executor.execute(["GET", "k"], state: &state) == .null)
        var other = executor.makeConnectionState()
        #expect(executor.execute(["HELLO", "3", "AUTH", "default", "s3cret"], state: &other).isError == false)
        #expect(other.authenticated && other.protocolVersion == .resp3)
        let open = try makeExecutor()
        var s = open.makeConnectionState()
        #expect(open.execute(["AUTH", "x"], state: &s).text?.hasPrefix("ERR AUTH <password> called without any password configured") == true)
    }
}
