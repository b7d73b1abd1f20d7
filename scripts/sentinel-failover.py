#!/usr/bin/env python3
"""Failover time of kvlab sentinel vs Redis's own Sentinel, same group shape, side by side.

Usage: scripts/sentinel-failover.py KVLAB_BINARY [ROUNDS]
Each round, for each implementation in turn: a redis-server primary with two replicas and three
sentinels (quorum 2, down-after 1000 ms, failover-timeout 5000 ms) on free loopback ports;
once every sentinel knows both replicas (and, for redis-sentinel, the two other sentinels),
the primary is SIGKILLed and the script polls (every 10 ms) until every sentinel answers
get-master-addr-by-name with a replica and that replica says role:master. Prints each time
and the medians. Needs redis-server (Debian's, `redis-server --sentinel` is Redis Sentinel)
and redis-py.
"""
import os, signal, socket, statistics, subprocess, sys, tempfile, time
import redis

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def wait(what, seconds, cond):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if cond(): return
        except redis.RedisError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting until {what}")

def redis_node(port, d, extra=()):
    return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", d, "--loglevel", "warning", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def one_round(kind, kvlab, d):
    pp, pa, pb = free_port(), free_port(), free_port()
    procs = [redis_node(pp, d)]
    time.sleep(0.2)
    procs += [redis_node(pa, d, ["--replicaof", "127.0.0.1", str(pp)]), redis_node(pb, d, ["--replicaof", "127.0.0.1", str(pp)])]
    sports = [free_port() for _ in range(3)]
    try:
        for i, sp in enumerate(sports):
            if kind == "kvlab":
                args = [kvlab, "sentinel", "--port", str(sp), "--monitor", "mymaster", f"127.0.0.1:{pp}", "--quorum", "2",
                        "--down-after-ms", "1000", "--failover-timeout-ms", "5000"]
                for sq in sports:
                    if sq != sp: args += ["--sentinel", f"127.0.0.1:{sq}"]
            else:
                conf = os.path.join(d, f"sentinel-{sp}.conf")
                with open(conf, "w") as f:
                    f.write(f"port {sp}\nbind 127.0.0.1\ndir {d}\nsentinel monitor mymaster 127.0.0.1 {pp} 2\n"
                            "sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n")
                args = ["redis-server", conf, "--sentinel"]
            procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        clients = [redis.Redis(port=sp, socket_timeout=1, protocol=2) for sp in sports]
        wait("the sentinels know the group", 30, lambda: all(
            len(c.sentinel_slaves("mymaster")) == 2 and (kind == "kvlab" or len(c.sentinel_sentinels("mymaster")) == 2)
            for c in clients))
        primary = procs[0]
        primary.send_signal(signal.SIGKILL); primary.wait()
        start = time.monotonic()
        def switched():
            addrs = {tuple(c.sentinel_get_master_addr_by_name("mymaster") or ()) for c in clients}
            if len(addrs) != 1: return False
            host, port = next(iter(addrs))
            if int(port) == pp: return False
            return redis.Redis(port=int(port), socket_timeout=1).role()[0] in (b"master", "master")
        wait("every sentinel names a promoted replica", 60, switched)
        return (time.monotonic() - start) * 1000
    finally:
        for p in procs:
            if p.poll() is None: p.kill(); p.wait()

def main():
    kvlab = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    times = {"kvlab": [], "redis": []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(rounds):
            for kind in ("kvlab", "redis"):
                ms = one_round(kind, kvlab, d)
                times[kind].append(ms)
                print(f"round {r + 1} {kind:5} sentinel: {ms:7.0f} ms from SIGKILL to every sentinel naming the promoted primary", flush=True)
    for kind, t in times.items():
        print(f"{kind:5} sentinel: median {statistics.median(t):.0f} ms over {len(t)} rounds (min {min(t):.0f}, max {max(t):.0f})")
    print(f"ratio kvlab/redis (medians): {statistics.median(times['kvlab']) / statistics.median(times['redis']):.2f}")

main()
