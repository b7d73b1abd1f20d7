// MULTI/EXEC/WATCH, the expiry family with active expiry, and the commands added for real clients, without sockets.

import Dispatch
import KVCore
@testable import KVServer
import RESP
import Synchronization
import Testing

@Suite("Transactions, expiry and the commands real clients send")
struct TransactionAndExpiryTests {
    let executor: CommandExecutor
    let clock = ManualWallClock()
    var state: ConnectionState
    var other: ConnectionState

    init() throws {
        executor = try makeExecutor(engine: "skiplist", clock: clock)
        state = executor.makeConnectionState()
        other = executor.makeConnectionState()
    }

    mutating func run(_ words: String...) -> RESPValue { executor.execute(words, state: &state) }
    mutating func runOther(_ words: String...) -> RESPValue { executor.execute(words, state: &other) }

    @Test("MULTI queues, EXEC runs the queue in order, DISCARD drops it, with Redis's errors")
    mutating func multiExec() {
        #expect(run("EXEC") == .error("ERR EXEC without MULTI"))
        #expect(run("DISCARD") == .error("ERR DISCARD without MULTI"))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("MULTI") == .error("ERR MULTI calls can not be nested"))
        #expect(run("WATCH", "k") == .error("ERR WATCH inside MULTI is not allowed"))
        #expect(run("SET", "a", "1") == .simpleString("QUEUED"))
        #expect(run("INCR", "a") == .simpleString("QUEUED"))
        #expect(run("LPUSH", "a", "x") == .simpleString("QUEUED"))
        #expect(runOther("GET", "a") == .null)  // nothing ran yet
        #expect(run("EXEC") == .array([.simpleString("OK"), .integer(2), .error(CommandExecutor.wrongType)]))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("SET", "a", "9") == .simpleString("QUEUED"))
        #expect(run("DISCARD") == .simpleString("OK"))
        #expect(run("GET", "a") == .bulk("2"))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("EXEC") == .array([]))
    }

    @Test("a command refused while queueing makes EXEC answer EXECABORT and run nothing")
    mutating func execAbort() {
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("SET", "a", "1") == .simpleString("QUEUED"))
        #expect(run("FOO") == .error("ERR unknown command 'FOO', with args beginning with: "))
        #expect(run("GET") == .error("ERR wrong number of arguments for 'get' command"))
        #expect(run("EXEC") == .error("EXECABORT Transaction discarded because of previous errors."))
        #expect(run("GET", "a") == .null)
        #expect(run("EXEC") == .error("ERR EXEC without MULTI"))
    }

    @Test("WATCH: a write by another connection, an expiry, or FLUSHALL aborts EXEC; untouched keys do not")
    mutating func watch() {
        #expect(run("SET", "w", "1") == .simpleString("OK"))
        #expect(run("WATCH", "w") == .simpleString("OK"))
        #expect(runOther("SET", "w", "2") == .simpleString("OK"))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("SET", "w", "3") == .simpleString("QUEUED"))
        #expect(run("EXEC") == .nullArray)
        #expect(run("GET", "w") == .bulk("2"))
        // Untouched: EXEC runs. A write to another key does not abort it.
        #expect(run("WATCH", "w", "missing") == .simpleString("OK"))
        #expect(runOther("SET", "unrelated", "x") == .simpleString("OK"))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("INCR", "w") == .simpleString("QUEUED"))
        #expect(run("EXEC") == .array([.integer(3)]))
        // Creating a watched key that was absent aborts.
        #expect(run("WATCH", "missing") == .simpleString("OK"))
        #expect(runOther("SET", "missing", "now") == .simpleString("OK"))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("EXEC") == .nullArray)
        // Expiry of a watched key aborts, even with nobody touching it.
        #expect(run("SET", "e", "v", "PX", "100") == .simpleString("OK"))
        #expect(run("WATCH", "e") == .simpleString("OK"))
        clock.advance(by: 150)
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("EXEC") == .nullArray)
        // FLUSHALL aborts when the watched key existed.
        #expect(run("WATCH", "w") == .simpleString("OK"))
        #expect(runOther("FLUSHALL") == .simpleString("OK"))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("EXEC") == .nullArray)
        // UNWATCH forgets; DEL by the same connection before MULTI aborts too (any write).
        #expect(run("SET", "u", "1") == .simpleString("OK"))
        #expect(run("WATCH", "u") == .simpleString("OK"))
        #expect(runOther("SET", "u", "2") == .simpleString("OK"))
        #expect(run("UNWATCH") == .simpleString("OK"))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("GET", "u") == .simpleString("QUEUED"))
        #expect(run("EXEC") == .array([.bulk("2")]))
    }

    @Test("EXEC's aborted reply is a RESP3 null after HELLO 3")
    mutating func execNullRESP3() {
        _ = run("HELLO", "3")
        #expect(run("WATCH", "w") == .simpleString("OK"))
        #expect(runOther("SET", "w", "2") == .simpleString("OK"))
        #expect(run("MULTI") == .simpleString("OK"))
        #expect(run("EXEC") == .null)
    }

    @Test("EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX, XX, GT, LT; TTL, PTTL, PERSIST, SETEX, PSETEX")
    mutating func expiryFamily() {
        let now = clock.millisecondsSinceEpoch()
        #expect(run("EXPIRE", "none", "10") == .integer(0))
        #expect(run("SET", "b", "1") == .simpleString("OK"))
        #expect(run("EXPIRE", "b", "10", "XX") == .integer(0))
        #expect(run("EXPIRE", "b", "10", "GT") == .integer(0))
        #expect(run("EXPIRE", "b", "10", "NX") == .integer(1))
        #expect(run("EXPIRE", "b", "20", "NX") == .integer(0))
        #expect(run("TTL", "b") == .integer(10))
        #expect(run("EXPIRE", "b", "5", "GT") == .integer(0))
        #expect(run("EXPIRE", "b", "20", "GT") == .integer(1))
        #expect(run("PEXPIRE", "b", "30000", "LT") == .integer(0))
        #expect(run("PEXPIRE", "b", "1500", "LT") == .integer(1))
        #expect(run("PTTL", "b") == .integer(1500))
        #expect(run("EXPIREAT", "b", String(now / 1000 + 100)) == .integer(1))
        #expect(run("PEXPIREAT", "b", String(now + 7000)) == .integer(1))
        #expect(run("PTTL", "b") == .integer(7000))
        #expect(run("EXPIRE", "b", "10", "NX", "GT") == .error("ERR NX and XX, GT or LT options at the same time are not compatible"))
        #expect(run("EXPIRE", "b", "10", "GT", "LT") == .error("ERR GT and LT options at the same time are not compatible"))
        #expect(run("EXPIRE", "b", "10", "FOO") == .error("ERR Unsupported option FOO"))
        #expect(run("EXPIRE", "b", "abc") == .error("ERR value is not an integer or out of range"))
        #expect(run("EXPIRE", "b", "9999999999999999") == .error("ERR invalid expire time in 'expire' command"))
        #expect(run("PERSIST", "b") == .integer(1))
        #expect(run("PERSIST", "b") == .integer(0))
        #expect(run("TTL", "b") == .integer(-1))
        #expect(run("EXPIRE", "b", "10", "LT") == .integer(1))  // no deadline counts as infinite
        #expect(run("EXPIREAT", "b", "1") == .integer(1))       // in the past: deleted
        #expect(run("EXISTS", "b") == .integer(0))
        #expect(run("SETEX", "c", "0", "v") == .error("ERR invalid expire time in 'setex' command"))
        #expect(run("PSETEX", "c", "-1", "v") == .error("ERR invalid expire time in 'psetex' command"))
        #expect(run("SETEX", "c", "x", "v") == .error("ERR value is not an integer or out of range"))
        #expect(run("SETEX", "c", "3", "v") == .simpleString("OK"))
        #expect(run("PSETEX", "d", "250", "w") == .simpleString("OK"))
        #expect(run("TTL", "c") == .integer(3))
        clock.advance(by: 250)
        #expect(run("GET", "d") == .null)
        #expect(run("GET", "c") == .bulk("v"))
    }

    @Test("active expiry deletes keys nobody touches: DBSIZE and INFO keyspace drop, one cycle stays bounded")
    mutating func activeExpiry() {
        for i in 0..<1000 { _ = run("SET", "t\(i)", "v", "PX", String(100 + i % 50)) }
        for i in 0..<100 { _ = run("SET", "p\(i)", "v") }
        _ = run("SET", "p0", "v", "PX", "100")   // p0 gets a deadline, then loses it: stays
        _ = run("SET", "p0", "v")
        #expect(run("DBSIZE") == .integer(1100))
        #expect(executor.activeExpireCycle() == CommandExecutor.ActiveExpiryReport(sampled: 20, expired: 0, rounds: 1))
        clock.advance(by: 200)
        let first = executor.activeExpireCycle(keysPerRound: 20, maxRounds: 16)
        #expect(first.rounds <= 16 && first.sampled <= 320 && first.expired > 0)
        var cycles = 1
        while cycles < 2000, case .integer(let n) = run("DBSIZE"), n > 100 {
            executor.activeExpireCycle()
            cycles += 1
        }
        #expect(run("DBSIZE") == .integer(100), "after \(cycles) cycles")
        // p0 lost its deadline: the next sample that meets it drops it from the sampled set.
        executor.activeExpireCycle()
        let info = executor.info(sections: ["keyspace"], state: state)
        #expect(info.contains("db0:keys=100,expires=0,avg_ttl=0"), "\(info)")
        #expect(executor.info(sections: ["stats"], state: state).contains("expired_keys:1000\r\n"))
        #expect(run("GET", "p0") == .bulk("v"))
        #expect(executor.activeExpireCycle() == CommandExecutor.ActiveExpiryReport())
    }

    @Test("GETSET, GETDEL, INCRBYFLOAT, HINCRBY, EXISTS with several keys, KEYS, RENAME, TYPE")
    mutating func stringsAndKeys() {
        #expect(run("GETSET", "g", "1") == .null)
        #expect(run("SET", "g", "1", "PX", "5000") == .simpleString("OK"))
        #expect(run("GETSET", "g", "2") == .bulk("1"))
        #expect(run("TTL", "g") == .integer(-1))
        #expect(run("GETDEL", "g") == .bulk("2"))
        #expect(run("GETDEL", "g") == .null)
        #expect(run("SET", "f", "10.5") == .simpleString("OK"))
        #expect(run("INCRBYFLOAT", "f", "0.1") == .bulk("10.6"))
        // Long double arithmetic and "%.17Lf", digit for digit as redis-server 7.0.15 answers.
        #expect(run("INCRBYFLOAT", "f", "-5.0e3") == .bulk("-4989.39999999999999991"))
        #expect(run("INCRBYFLOAT", "f", "abc") == .error("ERR value is not a valid float"))
        #expect(run("INCRBYFLOAT", "f", "inf") == .error("ERR increment would produce NaN or Infinity"))
        #expect(run("SET", "one", "1") == .simpleString("OK"))
        #expect(run("INCRBYFLOAT", "one", "99999999999999999999") == .bulk("100000000000000000000"))
        #expect(run("HSET", "h", "f", "x") == .integer(1))
        #expect(run("HINCRBY", "h", "f", "1") == .error("ERR hash value is not an integer"))
        #expect(run("HINCRBY", "h", "g", "9223372036854775807") == .integer(Int64.max))
        #expect(run("HINCRBY", "h", "g", "1") == .error("ERR increment or decrement would overflow"))
        #expect(run("HINCRBY", "h", "g", "x") == .error("ERR value is not an integer or out of range"))
        #expect(run("GETDEL", "h") == .error(CommandExecutor.wrongType))
        #expect(run("EXISTS", "h", "f", "h", "none") == .integer(3))
        #expect(run("KEYS", "*") == .array([.bulk("f"), .bulk("h"), .bulk("one")]))
        #expect(run("KEYS", "o?e") == .array([.bulk("one")]))
        #expect(run("RENAME", "none", "x") == .error("ERR no such key"))
        #expect(run("SET", "src", "v", "PX", "9000") == .simpleString("OK"))
        #expect(run("RENAME", "src", "one") == .simpleString("OK"))
        #expect(run("GET", "one") == .bulk("v"))
        #expect(run("PTTL", "one") == .integer(9000))
        #expect(run("EXISTS", "src") == .integer(0))
        #expect(run("ZADD", "z", "1", "a", "2", "b") == .integer(2))
        #expect(run("RENAME", "z", "z2") == .simpleString("OK"))
        #expect(run("ZRANGEBYSCORE", "z2", "-inf", "+inf", "WITHSCORES") == .array([.bulk("a"), .bulk("1"), .bulk("b"), .bulk("2")]))
        #expect(run("ZCARD", "z") == .integer(0))
        #expect(run("RENAME", "z2", "z2") == .simpleString("OK"))
        _ = run("RPUSH", "l", "x")
        _ = run("SADD", "s", "x")
        #expect([run("TYPE", "h"), run("TYPE", "z2"), run("TYPE", "l"), run("TYPE", "s"), run("TYPE", "one"), run("TYPE", "no")]
                == ["hash", "zset", "list", "set", "string", "none"].map { .simpleString($0) })
    }

    @Test("lists, sets and ZPOPMIN answer as Redis 7 does")
    mutating func listsAndSets() {
        #expect(run("LPUSH", "l", "a", "b", "c") == .integer(3))
        #expect(run("RPUSH", "l", "d", "e") == .integer(5))
        #expect(run("LRANGE", "l", "0", "-1") == .array(["c", "b", "a", "d", "e"].map { .bulk($0) }))
        #expect(run("LRANGE", "l", "-2", "100") == .array(["d", "e"].map { .bulk($0) }))
        #expect(run("LRANGE", "l", "3", "1") == .array([]))
        #expect(run("LRANGE", "l", "x", "1") == .error("ERR value is not an integer or out of range"))
        #expect(run("LLEN", "l") == .integer(5))
        #expect(run("LPOP", "l") == .bulk("c"))
        #expect(run("RPOP", "l") == .bulk("e"))
        #expect(run("LPOP", "l", "2") == .array([.bulk("b"), .bulk("a")]))
        #expect(run("LPOP", "l", "-1") == .error("ERR value is out of range, must be positive"))
        #expect(run("LPOP", "l", "0") == .array([]))
        #expect(run("RPOP", "l", "5") == .array([.bulk("d")]))
        #expect(run("EXISTS", "l") == .integer(0))
        #expect(run("LPOP", "l") == .null)
        #expect(run("LPOP", "l", "2") == .nullArray)
        #expect(run("SADD", "s", "a", "b", "a") == .integer(2))
        #expect(run("SADD", "s", "b", "c") == .integer(1))
        #expect(run("SCARD", "s") == .integer(3))
        #expect(run("SISMEMBER", "s", "b") == .integer(1))
        #expect(run("SREM", "s", "b", "z") == .integer(1))
        #expect(run("SMEMBERS", "s") == .array([.bulk("a"), .bulk("c")]))
        guard case .bulkString(let popped) = run("SPOP", "s") else { Issue.record("SPOP gave no member"); return }
        #expect(["a", "c"].map { Array($0.utf8) }.contains(popped))
        #expect(run("SPOP", "s", "5").arrayCount == 1)
        #expect(run("SPOP", "s") == .null)
        #expect(run("SPOP", "s", "2") == .array([]))
        #expect(run("LPUSH", "s2", "x") == .integer(1))
        #expect(run("SADD", "s2", "x") == .error(CommandExecutor.wrongType))
        #expect(run("ZADD", "z", "3", "c", "1", "a", "2", "b") == .integer(3))
        #expect(run("ZPOPMIN", "z") == .array([.bulk("a"), .bulk("1")]))
        #expect(run("ZPOPMAX", "z", "5") == .array([.bulk("c"), .bulk("3"), .bulk("b"), .bulk("2")]))
        #expect(run("ZPOPMIN", "z") == .array([]))
        #expect(run("DBSIZE") == .integer(1))
    }

    @Test("MSET and MGET are atomic: concurrent MGETs never see half of an MSET")
    func multiKeyAtomicity() throws {
        let executor = self.executor
        let torn = Atomic<Int>(0)
        let done = DispatchGroup()
        DispatchQueue.global().async(group: done) {
            var s = executor.makeConnectionState()
            for i in 0..<3000 { _ = executor.execute(["MSET", "a\(i % 7)", "\(i)", "b", "\(i)", "c", "\(i)"], state: &s) }
        }
        DispatchQueue.global().async(group: done) {
            var s = executor.makeConnectionState()
            for _ in 0..<3000 {
                if case .array(let values) = executor.execute(["MGET", "b", "c"], state: &s), values[0] != values[1] {
                    torn.add(1, ordering: .relaxed)
                }
                _ = executor.execute(["DEL", "b", "c"], state: &s)
            }
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(torn.load(ordering: .relaxed) == 0)
    }
}

extension RESPValue {
    var arrayCount: Int? { if case .array(let a) = self { a.count } else { nil } }
}
