# Attack 1c: a snapshot whose load takes longer than repl-timeout (here 1 s) must still converge.
import os, sys, shutil, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); from common import *
N = int(os.environ.get("N", 50000))
d = tempfile.mkdtemp(prefix="a1c-"); pp, rp = free_port(), free_port()
P = start(["serve", "--engine", "lsm", "--db", d + "/p", "--port", str(pp), "--repl-timeout", "1", "--repl-ping-replica-period", "0.2"], d + "/p.log"); pc = wait_port(pp)
pl = pc.pipeline(transaction=False)
for i in range(N):
    pl.set(f"k{i}", f"v{i}" * 20)
    if i % 5000 == 4999: pl.execute()
pl.execute()
t0 = time.time()
R = start(["serve", "--engine", "lsm", "--db", d + "/r", "--port", str(rp), "--repl-timeout", "1", "--repl-ping-replica-period", "0.2", "--replicaof", f"127.0.0.1:{pp}"], d + "/r.log"); rc = wait_port(rp)
rc = redis.Redis(port=rp, socket_timeout=120); ok = False
while time.time() - t0 < 90:
    i = rc.info("replication")
    if i.get("master_link_status") == "up" and rc.dbsize() == N: ok = True; break
    time.sleep(0.5)
print("converged" if ok else "NOT converged", round(time.time() - t0, 1), "s; full syncs on primary:", pc.info("stats").get("sync_full"))
for x in (P, R): os.killpg(x.pid, signal.SIGKILL); x.wait()
print(open(d + "/p.log").read().count("disconnecting a replica"), "primary-side drops;", open(d + "/r.log").read().count("link to the primary closed"), "replica-side link closes")
print(open(d + "/r.log").read()[-1500:]); print(open(d + "/p.log").read()[-1500:]); shutil.rmtree(d); sys.exit(0 if ok else 1)
