// Real clients against kvlab's server: redis-py's MULTI/EXEC pipelines and WATCH transactions, redis-benchmark's default suite.

import Foundation
import KVLabTestSupport
@testable import KVServer
import Testing

/// redis-py against the server on `argv[1]`, protocol `argv[2]`: prints "OK ..." or raises.
let redisPyScript = #"""
import sys, threading
try:
    import redis
except ImportError as e:
    sys.exit("redis-py is not installed for python3 (pip install redis): %s" % e)

port, proto = int(sys.argv[1]), int(sys.argv[2])
def client():
    return redis.Redis(host="127.0.0.1", port=port, protocol=proto, socket_timeout=10)
r = client()
r.flushall()

# pipeline() is MULTI/EXEC by default.
p = r.pipeline()
p.set("a", 1); p.incr("a"); p.get("a"); p.rpush("l", "x", "y"); p.lrange("l", 0, -1); p.expire("a", 100); p.ttl("a")
res = p.execute()
assert res == [True, 2, b"2", 2, [b"x", b"y"], True, 100], res

# A runtime error inside EXEC is that command's reply; the others still run.
p = r.pipeline()
p.set("s", "x"); p.incr("s"); p.set("t", "y")
res = p.execute(raise_on_error=False)
assert res[0] is True and isinstance(res[1], redis.ResponseError) and res[2] is True, res

# A queueing error aborts the whole transaction (EXECABORT).
p = r.pipeline()
p.set("u", "1"); p.execute_command("NOSUCHCOMMAND")
try:
    p.execute()
    raise AssertionError("EXECABORT expected")
except redis.ResponseError as e:
    assert "EXECABORT" in str(e) or "unknown command" in str(e), e
assert r.get("u") is None

# WATCH: a write by another client between WATCH and EXEC raises WatchError, and nothing runs.
with r.pipeline() as pipe:
    pipe.watch("w")
    client().set("w", "other")
    pipe.multi()
    pipe.set("w", "mine")
    try:
        pipe.execute()
        raise AssertionError("WatchError expected")
    except redis.WatchError:
        pass
assert r.get("w") == b"other"

# Optimistic increments from four clients at once: none lost, conflicts retried.
retries = [0]
lock = threading.Lock()
def increment(pipe):
    value = int(pipe.get("counter") or 0)
    pipe.multi()
    pipe.set("counter", value + 1)
def worker():
    c = client()
    for _ in range(50):
        while True:
            try:
                with c.pipeline() as pipe:
                    pipe.watch("counter")
                    increment(pipe)
                    pipe.execute()
                    break
            except redis.WatchError:
                with lock:
                    retries[0] += 1
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert int(r.get("counter")) == 200, r.get("counter")

# The expiry family through redis-py's own argument names.
r.set("e", "v", px=5000)
assert 0 < r.pttl("e") <= 5000
assert r.expire("e", 100, gt=True) and not r.expire("e", 10, gt=True) and r.persist("e") and r.ttl("e") == -1
assert r.getdel("e") == b"v" and r.exists("e", "a", "a") == 2
print("OK retries=%d" % retries[0])
"""#

@Suite("Real Redis clients against kvlab's server", .serialized)
struct RedisClientCompatibilityTests {
    @Test("redis-py: default pipeline() (MULTI/EXEC) and WATCH transactions work in RESP2 and RESP3", arguments: [2, 3])
    func redisPy(protocolVersion: Int) throws {
        // python3 from PATH (redis-py may live in a pyenv or venv); a missing python3 or redis-py
        // fails below with env's or the script's message.
        let server = try startServer()
        defer { try? server.shutdown() }
        let run = try runTool("/usr/bin/env", ["python3", "-c", redisPyScript, String(server.port), String(protocolVersion)], timeout: 120)
        #expect(run.status == 0, "redis-py RESP\(protocolVersion): \(run.stderr)")
        #expect(run.stdout.hasPrefix("OK"), "\(run.stdout) \(run.stderr)")
    }

    @Test("redis-benchmark -q with no -t runs every default test with no error")
    func redisBenchmarkDefaultSuite() throws {
        let benchmark = try redisTool("redis-benchmark")
        let server = try startServer()
        defer { try? server.shutdown() }
        // redis-benchmark 7 exits at the first error reply; every default test must report a rate.
        // -n 1000 keeps the debug build's run short (LRANGE_600 walks 600 elements per request);
        // the README gives the -n 10000 run against a release `kvlab serve`.
        let run = try runTool(benchmark, ["-p", String(server.port), "-q", "-n", "1000"], timeout: 600)
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).map(String.init)
        let tests = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET", "SPOP",
                     "ZADD", "ZPOPMIN", "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
                     "LRANGE_300 (first 300 elements)", "LRANGE_500 (first 500 elements)", "LRANGE_600 (first 600 elements)",
                     "MSET (10 keys)"]
        for test in tests {
            #expect(lines.contains { $0.hasPrefix("\(test): ") && $0.contains("requests per second") }, "\(test) missing from:\n\(run.stdout)")
        }
        #expect(!run.stdout.contains("ERR") && !run.stdout.lowercased().contains("error"), "\(run.stdout)")
    }

    @Test("keys given a deadline vanish from a running server without being touched")
    func activeExpiryOnAServer() throws {
        let server = try startServer()
        defer { try? server.shutdown() }
        let cli = try redisTool("redis-cli")
        let port = String(server.port)
        var input = ""
        // 1 s: long enough that none expires while redis-cli is still sending them on a loaded machine.
        for i in 0..<200 { input += "SET t\(i) v PX 1000\n" }
        input += "SET keep v\nDBSIZE\n"
        let set = try runTool(cli, ["-p", port], input: input)
        #expect(set.stdout.hasSuffix("201\n"), "\(set.stdout.suffix(40))")
        // Bounded: at most 15 s for the 100 ms cycle to find them; only DBSIZE is asked, which touches no key.
        var size = ""
        for _ in 0..<150 {
            size = try runTool(cli, ["-p", port, "DBSIZE"]).stdout
            if size == "1\n" { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(size == "1\n")
        #expect(try runTool(cli, ["-p", port, "INFO", "keyspace"]).stdout.contains("db0:keys=1,expires=0"))
    }
}
