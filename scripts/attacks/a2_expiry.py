# Attack 2: expiring keys and replication: SET PX/EX, EXPIRE, PEXPIREAT in the past, keys expiring
# during a full resync; SCAN/KEYS/RANDOMKEY/DBSIZE while many keys expire on primary and replica.
import os, sys, shutil, tempfile, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); from common import *
seed = int(os.environ.get("SEED", random.randrange(1 << 30))); rnd = random.Random(seed); print("seed", seed)
d = tempfile.mkdtemp(prefix="a2-"); pp, rp = free_port(), free_port()
P = start(["serve", "--engine", os.environ.get("ENGINE", "skiplist"), "--port", str(pp)], d + "/p.log"); pc = wait_port(pp)
pl = pc.pipeline(transaction=False)
for i in range(30000):
    k = f"e{i}"; m = i % 5
    if m == 0: pl.set(k, "v", px=rnd.randrange(1, 3000))
    elif m == 1: pl.set(k, "v", ex=rnd.randrange(1, 4))
    elif m == 2: pl.set(k, "v"); pl.pexpireat(k, int(time.time() * 1000) - 1000)
    elif m == 3: pl.set(k, "v"); pl.expire(k, rnd.randrange(1, 4))
    else: pl.set(k, "v")
pl.execute()
R = start(["serve", "--engine", os.environ.get("ENGINE", "skiplist"), "--port", str(rp), "--replicaof", f"127.0.0.1:{pp}"], d + "/r.log"); wait_port(rp)
stop = threading.Event(); errors = []
def reader(port, name):
    c = redis.Redis(port=port, socket_timeout=20); n = 0
    while not stop.is_set():
        try:
            op = n % 5; n += 1
            if op == 0: c.scan(0, count=500)
            elif op == 1: c.keys("e1*")
            elif op == 2: c.randomkey()
            elif op == 3: c.dbsize()
            else:
                c.get(f"e{rnd.randrange(30000)}")
        except Exception as e: errors.append((name, op, str(e))); return
def writer():
    c = redis.Redis(port=pp, socket_timeout=20); n = 0
    while not stop.is_set():
        k = f"w{n % 2000}"; n += 1
        try: c.set(k, "x", px=rnd.randrange(1, 500))
        except Exception as e: errors.append(("writer", repr(e))); return
ts = [threading.Thread(target=reader, args=(pp, "primary")) for _ in range(3)] + [threading.Thread(target=reader, args=(rp, "replica")) for _ in range(3)] + [threading.Thread(target=writer)]
for t in ts: t.start()
time.sleep(8); stop.set()
for t in ts: t.join(30)
print("hung threads", sum(t.is_alive() for t in ts), "errors", errors[:5])
# stale values on the replica: keys whose deadline passed >200ms ago on the primary
rc = redis.Redis(port=rp, socket_timeout=20)
time.sleep(4)
po = pc.info("replication")["master_repl_offset"]
end = time.time() + 20
while time.time() < end and rc.info("replication")["slave_repl_offset"] < po: time.sleep(0.2)
servedstale = [k for k in (f"e{i}" for i in range(30000)) if rc.exists(k) and not pc.exists(k)]
print("keys served by replica but gone on primary:", len(servedstale), servedstale[:5])
print("dbsize p", pc.dbsize(), "r", rc.dbsize(), "keys p", len(pc.keys("*")), "r", len(rc.keys("*")))
for x in (P, R): os.killpg(x.pid, signal.SIGKILL); x.wait()
shutil.rmtree(d)
