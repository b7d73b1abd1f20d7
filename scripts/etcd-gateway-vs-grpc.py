#!/usr/bin/env python3
# Usage: pip install etcd3 grpcio; python3 scripts/etcd-gateway-vs-grpc.py 127.0.0.1 PORT N  (a member started by `kvlab store etcd --members 1`).
# Prints markdown rows: requests/s over gRPC (python etcd3) and over the JSON gateway (http.client), and their ratio.
# Same client language, same member, same request: etcd's gRPC API vs its JSON gateway (sequential, one connection each).
import base64, http.client, json, sys, time, os
os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
import etcd3
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
value = b"x" * 100
c = etcd3.client(host=host, port=port)
c.put("gwbench", value)
conn = http.client.HTTPConnection(host, port)
def gw(path, body):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse(); d = r.read(); assert r.status == 200, d; return json.loads(d)
k64, v64 = base64.b64encode(b"gwbench").decode(), base64.b64encode(value).decode()
def timeit(f):
    for _ in range(50): f()
    t = time.perf_counter()
    for _ in range(n): f()
    return n / (time.perf_counter() - t)
rows = [
 ("serializable range", lambda: c.get("gwbench", serializable=True), lambda: gw("/v3/kv/range", {"key": k64, "serializable": True})),
 ("linearizable range", lambda: c.get("gwbench"), lambda: gw("/v3/kv/range", {"key": k64})),
 ("put", lambda: c.put("gwbench", value), lambda: gw("/v3/kv/put", {"key": k64, "value": v64})),
]
for name, g, h in rows:
    for rep in range(2):
        a, b = timeit(g), timeit(h)
        print(f"| {name} | {rep+1} | {a:.0f} | {b:.0f} | {b/a:.2f} |", flush=True)
