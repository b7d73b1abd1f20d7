# Attack 1: SIGKILL the primary (or replica) while 20 clients write unique keys with sync ack.
import os, sys, threading, shutil, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); from common import *
seed = int(os.environ.get("SEED", random.randrange(1 << 30))); rnd = random.Random(seed); print("seed", seed)
victim = sys.argv[1] if len(sys.argv) > 1 else "primary"
d = tempfile.mkdtemp(prefix="a1-"); pp, rp = free_port(), free_port()
pargs = ["serve", "--engine", "lsm", "--db", d + "/p", "--appendfsync", "always", "--port", str(pp), "--repl-ack", "sync", "--sync-replicas", "1", "--sync-timeout", "3000"]
rargs = ["serve", "--engine", "lsm", "--db", d + "/r", "--appendfsync", "always", "--port", str(rp), "--replicaof", f"127.0.0.1:{pp}"]
P = start(pargs, d + "/p.log"); wait_port(pp)
R = start(rargs, d + "/r.log"); rc = wait_port(rp)
while info_repl(rc).get("master_link_status") != "up": time.sleep(0.1)
acked = set(); indet = set(); lock = threading.Lock(); stop = threading.Event()
def writer(i):
    c = redis.Redis(port=pp, socket_timeout=10); n = 0
    while not stop.is_set():
        k = f"t{i}:{n}"; n += 1
        try:
            c.set(k, k * 3); 
            with lock: acked.add(k)
        except Exception as e:
            with lock: indet.add(k)
            if not isinstance(e, redis.ResponseError): return
ts = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
for t in ts: t.start()
time.sleep(rnd.uniform(1.5, 4))
if victim == "primary":
    os.killpg(P.pid, signal.SIGKILL); P.wait()
else:
    os.killpg(R.pid, signal.SIGKILL); R.wait(); time.sleep(0.5)
    R = start(rargs, d + "/r.log"); wait_port(rp); time.sleep(rnd.uniform(0.5, 2))
    os.killpg(P.pid, signal.SIGKILL); P.wait()
time.sleep(0.5); stop.set()
for t in ts: t.join(15)
print("acked", len(acked), "indeterminate", len(indet), "alive threads", sum(t.is_alive() for t in ts))
rc = redis.Redis(port=rp, socket_timeout=10)
missing_r = [k for k in acked if rc.get(k) != (k * 3).encode()]
print("missing on replica", len(missing_r), missing_r[:5])
P = start(pargs, d + "/p.log"); pc = wait_port(pp)
missing_p = [k for k in acked if pc.get(k) != (k * 3).encode()]
print("missing on restarted primary", len(missing_p), missing_p[:5])
time.sleep(2)
print("dbsize p", pc.dbsize(), "r", rc.dbsize(), "repl", info_repl(rc).get("master_link_status"))
for x in (P, R): os.killpg(x.pid, signal.SIGKILL); x.wait()
if missing_r or missing_p: print("FAIL", d); sys.exit(1)
shutil.rmtree(d); print("OK")
