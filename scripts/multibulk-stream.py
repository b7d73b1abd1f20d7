#!/usr/bin/env python3
# Streams one large multibulk command (PING with N arguments of 10 bytes: parsed in full, then
# answered with an arity error) to a RESP server in 64 KiB writes, and prints the seconds from
# the first byte sent to the reply. A parser that re-reads the frame from its start on every
# read costs time quadratic in the frame's size; an incremental one, linear.
# Usage: scripts/multibulk-stream.py PORT MEGABYTES [MEGABYTES...]
import socket, sys, time

def frame(megabytes):
    element = b"$10\r\n0123456789\r\n"
    count = megabytes * 1024 * 1024 // len(element)
    return b"*%d\r\n$4\r\nPING\r\n" % (count + 1) + element * count, count + 1

def run(port, megabytes):
    data, elements = frame(megabytes)
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(600)
    start = time.monotonic()
    view = memoryview(data)
    for i in range(0, len(data), 65536):
        s.sendall(view[i:i + 65536])
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    elapsed = time.monotonic() - start
    s.close()
    return elapsed, elements, len(data), reply.strip().decode(errors="replace")

port = int(sys.argv[1])
for mb in map(int, sys.argv[2:]):
    elapsed, elements, size, reply = run(port, mb)
    print(f"{mb} MB\t{elements} arguments\t{size} bytes\t{elapsed:.2f} s\t{reply[:60]}", flush=True)
