# Attack 4: protocol abuse of replication/sentinel commands by a normal client. Nothing may crash; errors Redis-shaped.
import os, sys, shutil, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); from common import *
d = tempfile.mkdtemp(prefix="a4-"); pp, rp = free_port(), free_port()
P = start(["serve", "--port", str(pp)], d + "/p.log"); pc = wait_port(pp)
R = start(["serve", "--port", str(rp), "--replicaof", f"127.0.0.1:{pp}"], d + "/r.log"); rc = wait_port(rp)
cmds = [
 ["REPLAPPLY"], ["REPLAPPLY", "garbage"], ["REPLAPPLY", "\x00\x01\x02\x03" * 10], ["REPLCONF"], ["REPLCONF", "ACK", "99999999999999"],
 ["REPLCONF", "ACK", "-5"], ["REPLCONF", "GETACK", "*"], ["REPLCONF", "listening-port", "-1"], ["REPLCONF", "listening-port", "999999"],
 ["REPLCONF", "ip-address"], ["REPLCONF", "nonsense", "x"],
 ["WAIT", "-1", "0"], ["WAIT", "1", "-1"], ["WAIT", "99999999999999999999", "1"], ["WAIT", "1", "99999999999999999999"], ["WAIT", "0", "0"],
 ["WAIT", "1000000000", "10"], ["WAIT", "a", "b"], ["WAIT"],
 ["REPLICAOF", "127.0.0.1", "0"], ["REPLICAOF", "127.0.0.1", "70000"], ["REPLICAOF", "127.0.0.1", "-1"], ["REPLICAOF", "127.0.0.1", "abc"],
 ["REPLICAOF", "", "1"], ["REPLICAOF"], ["REPLICAOF", "no"], ["REPLICAOF", "NO", "ONE"],
 ["DEBUG", "DISKFAULT"], ["DEBUG", "DISKFAULT", "junk"], ["DEBUG", "DISKFAULT", "fsync-error"], ["DEBUG"], ["DEBUG", "x" * 10000],
 ["SYNC"], ["PSYNC"], ["PSYNC", "x"], ["PSYNC", "x", "notanumber"], ["PSYNC", "?", "-99999999999999999999"],
]
def probe(c, name):
    for cmd in cmds:
        c2 = redis.Redis(port=c, socket_timeout=5)
        try: r = c2.execute_command(*cmd); 
        except redis.ResponseError as e: r = "ERR:" + str(e)
        except Exception as e: r = "EXC:" + type(e).__name__ + " " + str(e)
        print(name, cmd[:3] if len(str(cmd)) < 80 else cmd[0], "->", str(r)[:150])
        try: redis.Redis(port=c, socket_timeout=5).ping()
        except Exception as e: print("!!! DEAD after", cmd[:3], e); return False
    return True
ok = probe(rp, "replica")
# revert replica role to follow P again (REPLICAOF NO ONE was sent)
redis.Redis(port=rp).execute_command("REPLICAOF", "127.0.0.1", str(pp))
ok = probe(pp, "primary") and ok
# cycle: A replicaof B while B replicaof A
redis.Redis(port=pp).execute_command("REPLICAOF", "127.0.0.1", str(rp))
time.sleep(3)
for port in (pp, rp):
    c = redis.Redis(port=port, socket_timeout=5)
    try: print("cycle", port, c.info("replication")["role"], c.info("replication").get("master_link_status"), c.set("x", "1") if False else "")
    except Exception as e: print("cycle probe", port, e)
print("rss", rss(P.pid), rss(R.pid), "alive", P.poll(), R.poll())
for x in (P, R): os.killpg(x.pid, signal.SIGKILL); x.wait()
print(open(d + "/p.log").read()[-1500:]); print(open(d + "/r.log").read()[-1500:])
