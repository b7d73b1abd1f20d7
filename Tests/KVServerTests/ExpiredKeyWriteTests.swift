// Every write command on a key whose deadline has passed: issue 13's deadlock, one test per command.

import Dispatch
import KVCore
import KVClient
@testable import KVServer
import RESP
import Testing

/// Runs `body` on another thread and waits at most `seconds`: a hang fails the test (naming
/// `what`) instead of hanging the test run. The blocked thread is abandoned.
func withWatchdog<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () -> T) -> T? {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        box.set(body())
        done.signal()
    }
    guard done.wait(timeout: .now() + seconds) == .success else {
        Issue.record("\(what): no reply within \(seconds) s (hang or deadlock)")
        return nil
    }
    return box.get()
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    // @unchecked: written once before the semaphore is signalled, read after waiting on it.
    private var value: T?
    func set(_ v: T) { value = v }
    func get() -> T? { value }
}

/// One case: how to create the key (of the type the command works on), the command, its reply
/// on a key that is absent (which an expired key must be), and optionally a check after.
struct ExpiredWriteCase: Sendable, CustomStringConvertible {
    var setup: [String]
    var command: [String]
    var expected: RESPValue
    var after: [String]? = nil
    var afterExpected: RESPValue? = nil
    var description: String { command.joined(separator: " ") }
}

let expiredWriteCases: [ExpiredWriteCase] = [
    // Strings: SET with each option, the INCR/DECR family, APPEND, GETSET, GETDEL, SETEX, PSETEX.
    .init(setup: ["SET", "k", "old"], command: ["SET", "k", "v", "NX"], expected: .simpleString("OK"), after: ["GET", "k"], afterExpected: .bulk("v")),
    .init(setup: ["SET", "k", "old"], command: ["SET", "k", "v", "XX"], expected: .null, after: ["EXISTS", "k"], afterExpected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["SET", "k", "v", "GET"], expected: .null, after: ["GET", "k"], afterExpected: .bulk("v")),
    .init(setup: ["SET", "k", "old"], command: ["SET", "k", "v", "KEEPTTL"], expected: .simpleString("OK"), after: ["TTL", "k"], afterExpected: .integer(-1)),
    .init(setup: ["SET", "k", "old"], command: ["SET", "k", "v", "NX", "GET", "PX", "100"], expected: .null, after: ["GET", "k"], afterExpected: .bulk("v")),
    .init(setup: ["SET", "k", "old"], command: ["SET", "k", "v"], expected: .simpleString("OK"), after: ["TTL", "k"], afterExpected: .integer(-1)),
    .init(setup: ["SET", "k", "41"], command: ["INCR", "k"], expected: .integer(1)),
    .init(setup: ["SET", "k", "41"], command: ["DECR", "k"], expected: .integer(-1)),
    .init(setup: ["SET", "k", "41"], command: ["INCRBY", "k", "5"], expected: .integer(5)),
    .init(setup: ["SET", "k", "41"], command: ["DECRBY", "k", "5"], expected: .integer(-5)),
    .init(setup: ["SET", "k", "41"], command: ["INCRBYFLOAT", "k", "1.5"], expected: .bulk("1.5")),
    .init(setup: ["SET", "k", "old"], command: ["APPEND", "k", "xy"], expected: .integer(2), after: ["GET", "k"], afterExpected: .bulk("xy")),
    .init(setup: ["SET", "k", "old"], command: ["GETSET", "k", "v"], expected: .null, after: ["GET", "k"], afterExpected: .bulk("v")),
    .init(setup: ["SET", "k", "old"], command: ["GETDEL", "k"], expected: .null),
    .init(setup: ["SET", "k", "old"], command: ["SETEX", "k", "10", "v"], expected: .simpleString("OK"), after: ["TTL", "k"], afterExpected: .integer(10)),
    .init(setup: ["SET", "k", "old"], command: ["PSETEX", "k", "500", "v"], expected: .simpleString("OK"), after: ["PTTL", "k"], afterExpected: .integer(500)),
    .init(setup: ["SET", "k", "old"], command: ["MSET", "k", "v", "other", "w"], expected: .simpleString("OK"), after: ["GET", "k"], afterExpected: .bulk("v")),
    // Hashes.
    .init(setup: ["HSET", "k", "f", "1", "g", "2"], command: ["HSET", "k", "f", "v"], expected: .integer(1), after: ["HLEN", "k"], afterExpected: .integer(1)),
    .init(setup: ["HSET", "k", "f", "1"], command: ["HMSET", "k", "f", "v"], expected: .simpleString("OK"), after: ["HGET", "k", "f"], afterExpected: .bulk("v")),
    .init(setup: ["HSET", "k", "f", "1"], command: ["HDEL", "k", "f"], expected: .integer(0)),
    .init(setup: ["HSET", "k", "f", "1"], command: ["HINCRBY", "k", "f", "2"], expected: .integer(2)),
    // Sorted sets: the expired set's member records must not survive into the new one.
    .init(setup: ["ZADD", "k", "1", "m", "2", "n"], command: ["ZADD", "k", "5", "m"], expected: .integer(1), after: ["ZCARD", "k"], afterExpected: .integer(1)),
    .init(setup: ["ZADD", "k", "1", "m"], command: ["ZREM", "k", "m"], expected: .integer(0)),
    .init(setup: ["ZADD", "k", "1", "m"], command: ["ZPOPMIN", "k"], expected: .array([])),
    .init(setup: ["ZADD", "k", "1", "m"], command: ["ZPOPMAX", "k"], expected: .array([])),
    // Lists and sets.
    .init(setup: ["RPUSH", "k", "a", "b"], command: ["LPUSH", "k", "x"], expected: .integer(1), after: ["LRANGE", "k", "0", "-1"], afterExpected: .array([.bulk("x")])),
    .init(setup: ["RPUSH", "k", "a", "b"], command: ["RPUSH", "k", "x"], expected: .integer(1)),
    .init(setup: ["RPUSH", "k", "a"], command: ["LPOP", "k"], expected: .null),
    .init(setup: ["RPUSH", "k", "a"], command: ["RPOP", "k", "2"], expected: .nullArray),
    .init(setup: ["SADD", "k", "a", "b"], command: ["SADD", "k", "a"], expected: .integer(1), after: ["SCARD", "k"], afterExpected: .integer(1)),
    .init(setup: ["SADD", "k", "a"], command: ["SREM", "k", "a"], expected: .integer(0)),
    .init(setup: ["SADD", "k", "a"], command: ["SPOP", "k"], expected: .null),
    // Keys and deadlines.
    .init(setup: ["SET", "k", "old"], command: ["DEL", "k", "other"], expected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["UNLINK", "k"], expected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["EXISTS", "k", "k"], expected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["RENAME", "k", "dst"], expected: .error("ERR no such key")),
    .init(setup: ["SET", "k", "old"], command: ["EXPIRE", "k", "10"], expected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["PEXPIRE", "k", "10", "LT"], expected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["EXPIREAT", "k", "99999999999"], expected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["PEXPIREAT", "k", "99999999999999"], expected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["PERSIST", "k"], expected: .integer(0)),
    .init(setup: ["SET", "k", "old"], command: ["MGET", "k", "other"], expected: .array([.null, .null])),
    .init(setup: ["SET", "k", "old"], command: ["WATCH", "k"], expected: .simpleString("OK")),
    .init(setup: ["SET", "k", "old"], command: ["TYPE", "k"], expected: .simpleString("none")),
]

@Suite("Write commands on expired keys")
struct ExpiredKeyWriteTests {
    @Test("each write command on an expired key answers as on an absent key, without hanging", arguments: expiredWriteCases)
    func writeAfterExpiry(_ c: ExpiredWriteCase) throws {
        let clock = ManualWallClock()
        let executor = try makeExecutor(engine: "skiplist", clock: clock)
        var state = executor.makeConnectionState()
        #expect(executor.execute(c.setup, state: &state).isError == false)
        #expect(executor.execute(["PEXPIRE", "k", "100"], state: &state) == .integer(1))
        clock.advance(by: 101)
        let initial = state
        let result = withWatchdog(2, c.description) { () -> (RESPValue, RESPValue?) in
            var s = initial
            let reply = executor.execute(c.command, state: &s)
            let after = c.after.map { executor.execute($0, state: &s) }
            return (reply, after)
        }
        guard let (reply, after) = result else { return }
        #expect(reply == c.expected, "\(c)")
        if let afterExpected = c.afterExpected { #expect(after == afterExpected, "\(c) then \(c.after ?? [])") }
    }

    @Test("the two-command hang of issue 13 answers over a socket, and PING still answers")
    func issueReproduction() throws {
        let server = try startServer()
        defer { try? server.shutdown() }
        let port = server.port
        let replies = withWatchdog(5, "SET k v PXAT 1; INCR k; PING") { () -> [RESPValue] in
            do {
                let c = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: port), timeoutSeconds: 4)
                let other = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: port), timeoutSeconds: 4)
                return [try c.call(["SET", "k", "v", "PXAT", "1"]), try c.call(["INCR", "k"]), try other.call(["PING"]),
                        try c.call(["SET", "lock", "tok", "PXAT", "1"]), try c.call(["SET", "lock", "tok", "NX", "PX", "30000"])]
            } catch {
                return [.error("client: \(error)")]
            }
        }
        #expect(replies == [.simpleString("OK"), .integer(1), .simpleString("PONG"), .simpleString("OK"), .simpleString("OK")])
    }
}
