# Attack 1b: kill the replica mid full resync (200k keys) and mid partial resync; check it converges.
import os, sys, shutil, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); from common import *
seed = int(os.environ.get("SEED", random.randrange(1 << 30))); rnd = random.Random(seed); print("seed", seed)
N = int(os.environ.get("N", 200000))
d = tempfile.mkdtemp(prefix="a1b-"); pp, rp = free_port(), free_port()
pargs = ["serve", "--engine", "lsm", "--db", d + "/p", "--port", str(pp), "--repl-backlog-size", "16kb"]
rargs = ["serve", "--engine", "lsm", "--db", d + "/r", "--port", str(rp), "--replicaof", f"127.0.0.1:{pp}"]
P = start(pargs, d + "/p.log"); pc = wait_port(pp)
t0 = time.time(); pl = pc.pipeline(transaction=False)
for i in range(N):
    pl.set(f"k{i}", f"v{i}" * 5)
    if i % 5000 == 4999: pl.execute()
pl.execute(); print("loaded", N, "in", round(time.time() - t0, 1), "s")
for attempt in range(3):
    R = start(rargs, d + "/r.log"); wait_port(rp)
    time.sleep(rnd.uniform(0.05, 1.5))
    st = redis.Redis(port=rp).info("replication").get("master_link_status")
    print("kill replica during", st); os.killpg(R.pid, signal.SIGKILL); R.wait()
R = start(rargs, d + "/r.log"); rc = wait_port(rp)
end = time.time() + 120
while time.time() < end and info_repl(rc).get("master_link_status") != "up": time.sleep(0.2)
print("full sync up after", round(time.time() - t0, 1))
# partial resync: writes while killing replica
for attempt in range(3):
    pl = pc.pipeline(transaction=False)
    for i in range(3000): pl.set(f"p{attempt}:{i}", "x" * rnd.randrange(1, 50)); pl.delete(f"k{rnd.randrange(N)}")
    pl.execute()
    os.killpg(R.pid, signal.SIGKILL); R.wait()
    pl = pc.pipeline(transaction=False)
    for i in range(200): pl.set(f"q{attempt}:{i}", "y")
    pl.execute()
    R = start(rargs, d + "/r.log"); rc = wait_port(rp)
while info_repl(rc).get("master_link_status") != "up": time.sleep(0.2)
time.sleep(1)
po = info_repl(pc)["master_repl_offset"]
while info_repl(rc)["slave_repl_offset"] < po: time.sleep(0.2)
def dump(c):
    out = {}; cur = 0
    while True:
        cur, ks = c.scan(cur, count=1000)
        vs = c.mget(ks) if ks else []
        out.update(zip(ks, vs))
        if cur == 0: return out
a, b = dump(pc), dump(rc)
print("dbsize", pc.dbsize(), rc.dbsize(), "scan", len(a), len(b), "equal", a == b)
print(rc.info("stats").get("sync_full"), pc.info("stats").get("sync_full"), pc.info("stats").get("sync_partial_ok"), pc.info("stats").get("sync_partial_err"))
for x in (P, R): os.killpg(x.pid, signal.SIGKILL); x.wait()
if a != b: print("FAIL", d, len(set(a) ^ set(b))); sys.exit(1)
shutil.rmtree(d); print("OK")
