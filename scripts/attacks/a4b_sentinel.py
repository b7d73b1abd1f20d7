# Attack 4b: SENTINEL commands with huge/negative numbers, malformed HELLO; slow reader at a sentinel.
import os, sys, shutil, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); from common import *
d = tempfile.mkdtemp(prefix="a4b-"); pp, sp = free_port(), free_port()
P = start(["serve", "--port", str(pp)], d + "/p.log"); wait_port(pp)
S = start(["sentinel", "--port", str(sp), "--monitor", "m", f"127.0.0.1:{pp}", "--quorum", "1", "--down-after-ms", "1000"], d + "/s.log"); wait_port(sp)
cmds = [["SENTINEL"], ["SENTINEL", "is-master-down-by-addr", "127.0.0.1", str(pp), "-5", "*"],
 ["SENTINEL", "is-master-down-by-addr", "127.0.0.1", str(pp), "99999999999999999999", "x"],
 ["SENTINEL", "is-master-down-by-addr", "127.0.0.1", str(pp), "9223372036854775807", "abc"],
 ["SENTINEL", "is-master-down-by-addr", "127.0.0.1", "-1", "1", "*"], ["SENTINEL", "is-master-down-by-addr"],
 ["SENTINEL", "HELLO"], ["SENTINEL", "HELLO", "a", "b", "c", "d", "e", "f", "g", "h"],
 ["SENTINEL", "HELLO", "127.0.0.1", "99999", "id", "-1", "m", "127.0.0.1", "1", "-1"],
 ["SENTINEL", "HELLO", "127.0.0.1", "1", "id", "9223372036854775807", "m", "127.0.0.1", str(pp), "9223372036854775807"],
 ["SENTINEL", "get-master-addr-by-name", "nope"], ["SENTINEL", "get-master-addr-by-name", "m"],
 ["SENTINEL", "failover", "nope"], ["SENTINEL", "reset", "*" * 5000], ["SENTINEL", "ckquorum", "m"],
 ["SENTINEL", "master", "m"], ["SENTINEL", "replicas", "m"], ["SENTINEL", "sentinels", "m"], ["SENTINEL", "x" * 100000],
 ["HELLO", "4"], ["HELLO", "-1"], ["HELLO", "99999999999999999999"], ["INFO", "x" * 1000], ["ROLE", "extra"], ["PING", "a", "b"]]
for cmd in cmds:
    try: r = redis.Redis(port=sp, socket_timeout=5).execute_command(*cmd)
    except redis.ResponseError as e: r = "ERR:" + str(e)
    except Exception as e: r = "EXC:" + type(e).__name__ + " " + str(e)
    print(str(cmd)[:90], "->", str(r)[:160])
    try: redis.Redis(port=sp, socket_timeout=5).ping()
    except Exception as e: print("!!! SENTINEL DEAD after", cmd[:3], e); break
print("after abuse: get-master-addr", redis.Redis(port=sp).execute_command("SENTINEL", "get-master-addr-by-name", "m"))
# slow reader: pipeline many SENTINEL masters and never read
s = socket.create_connection(("127.0.0.1", sp)); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s.settimeout(5)
n = 0
try:
    for i in range(200): s.sendall(b"*2\r\n$8\r\nSENTINEL\r\n$7\r\nmasters\r\n" * 1000); n += 1000
except Exception as e: print("slow reader: send blocked after", n, type(e).__name__)
time.sleep(2); print("sentinel rss KB", rss(S.pid), flush=True)
t = time.time()
try: print("other client's PING:", redis.Redis(port=sp, socket_timeout=60).ping(), "in", round(time.time() - t, 2), "s; rss", rss(S.pid))
except Exception as e: print("!!! other client's PING failed after", round(time.time() - t, 1), "s", e)
s.close()
for x in (P, S): os.killpg(x.pid, signal.SIGKILL); x.wait()
print(open(d + "/s.log").read()[-600:]); shutil.rmtree(d)
