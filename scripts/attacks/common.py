# Helpers for the attack scripts: free ports, starting kvlab under its own session, RSS.
import os, socket, subprocess, time, signal, redis, random
KV = os.environ.get("KVLAB", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.build/debug/kvlab"))
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def start(args, log):
    return subprocess.Popen([KV] + args, stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True)
def wait_port(port, t=30):
    end = time.time() + t
    while time.time() < end:
        try:
            r = redis.Redis(port=port, socket_timeout=2); r.ping(); return r
        except Exception: time.sleep(0.1)
    raise SystemExit(f"port {port} never answered")
def rss(pid):
    try: return int(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0])
    except Exception: return -1
def info_repl(r):
    return r.info("replication")
