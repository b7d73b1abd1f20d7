# Attack 3: clients that never read, half frames, 2000 connections; watch server RSS.
import os, sys, shutil, tempfile, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); from common import *
d = tempfile.mkdtemp(prefix="a3-"); pp = free_port()
P = start(["serve", "--port", str(pp)], d + "/p.log"); pc = wait_port(pp)
pc.set("big", "x" * 100_000)
print("rss start", rss(P.pid))
# 1) pipeline 1M GETs of a 100 KB value; never read
s = socket.create_connection(("127.0.0.1", pp)); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(10)
frame = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 1000
sent = 0
try:
    for i in range(1000): s.sendall(frame); sent += 1000
except Exception as e: print("send stopped after", sent, "GETs:", type(e).__name__)
time.sleep(2); print("rss after 1M-GET pipeline never read", rss(P.pid), "KB; server answers:", redis.Redis(port=pp, socket_timeout=5).ping())
s.close(); time.sleep(1)
# 2) fake replica: PSYNC ? -1 then never reads, while writes flow
f = socket.create_connection(("127.0.0.1", pp)); f.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
f.sendall(b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
w = pc.pipeline(transaction=False)
for i in range(2000):
    w.set(f"w{i % 50}", "y" * 10_000)
    if i % 200 == 199: w.execute()
w.execute()
time.sleep(1); print("rss after 20 MB of stream to a replica that never reads", rss(P.pid), "KB; connected_slaves", pc.info("replication")["connected_slaves"])
f.close()
# 3) half frame then sleep
h = socket.create_connection(("127.0.0.1", pp)); h.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$100\r\nabc")
print("half frame: other clients fine", redis.Redis(port=pp, socket_timeout=5).ping())
# 4) half frame claiming a huge bulk
h2 = socket.create_connection(("127.0.0.1", pp)); h2.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2000000000\r\n"); h2.settimeout(3)
try: print("huge bulk claim ->", h2.recv(200))
except Exception as e: print("huge bulk claim: no reply", e)
# 5) 2000 connections at once
conns = []; errs = 0
for i in range(2000):
    try: conns.append(socket.create_connection(("127.0.0.1", pp), timeout=5))
    except Exception as e: errs += 1
print("opened", len(conns), "errors", errs, "rss", rss(P.pid))
ok = 0
for c in conns[:: 50]:
    try: c.sendall(b"PING\r\n"); c.settimeout(10); ok += c.recv(10).startswith(b"+PONG")
    except Exception as e: pass
print("pongs from sampled conns", ok, "of", len(conns[::50]), "; new client ping:", redis.Redis(port=pp, socket_timeout=5).ping())
for c in conns: c.close()
time.sleep(1); print("rss end", rss(P.pid))
os.killpg(P.pid, signal.SIGKILL); P.wait(); print(open(d + "/p.log").read()[-800:]); shutil.rmtree(d)
