#!/usr/bin/env bash
# Hostile attack on the memcached event loop (issue 19): stalled server, kill -9 + restart, SIGSTOP, garbage replies, -target.
# Usage: KVLAB=path/to/kvlab scripts/attacks/m1_memcached_event_loop.sh [scenario...]
#   scenarios: stall3 stall-default kill-restart sigstop garbage target (default: all)
# Every kvlab run is under `timeout 60`; each prints its wall time, exit status, the
# [OVERALL] lines and every Return= line, and the status lines (-s) with their operation counts.
set -uo pipefail
cd "$(dirname "$0")/../.."
KVLAB=${KVLAB:-.build/release/kvlab}
TMP=$(mktemp -d /tmp/kvlab-m1.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
memcached_on() { memcached -l 127.0.0.1 -p "$1" -m 64 -t 2 -U 0 -u root >/dev/null 2>&1 & echo $!; }
wait_port() { for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened"; return 1; }
# A server that accepts and never answers (mode stall) or answers every line with garbage (mode garbage).
fake_server() {
    python3 - "$1" "$2" >/dev/null 2>&1 <<'EOF' &
import socket, sys, threading
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(512)
held = []
def serve(c):
    while True:
        d = c.recv(65536)
        if not d: return
        if mode == "garbage":
            c.sendall(b"VALUE user1 0 999999999999\r\nHELLO\r\n\x00\xff garbage\r\nEND\r\n" * max(1, d.count(b"\r\n") // 2))
while True:
    c, _ = s.accept(); held.append(c)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
    echo $!
}
summarize() {  # $1 = log, $2 = wall seconds, $3 = exit status
    echo "  wall ${2}s, exit $3"
    grep -E '^\[OVERALL\]|Return=' "$1" | sed 's/^/  /'
    grep -E ' sec: ' "$1" | sed -E 's/^.* ([0-9]+ sec: [0-9]+ operations;).*/  status: \1/' | head -20
}
run_kvlab() {  # $1 = log; rest = kvlab arguments
    local log=$1; shift
    local t0; t0=$(date +%s.%N)
    timeout 60 "$KVLAB" "$@" >"$log" 2>&1
    local rc=$?
    local t1; t1=$(date +%s.%N)
    summarize "$log" "$(python3 -c "print(round($t1-$t0,1))")" "$rc"
}
RUN=(run -P workloads/workloada -threads 2 --clients 16 -s -p status.interval=1)

stall() {  # $1 = extra arguments label; rest = arguments
    local port; port=$(free_port)
    local pid; pid=$(fake_server "$port" stall); PIDS+=("$pid"); wait_port "$port"
    echo "== stalled server: $*"
    run_kvlab "$TMP/stall.log" "${RUN[@]}" --server "memcached://127.0.0.1:$port" -p operationcount=100000000 "$@"
    kill -9 "$pid"
}

for scenario in ${@:-stall3 stall-default kill-restart sigstop garbage target}; do
case $scenario in
stall3) stall -p maxexecutiontime=3 --timeout 5 ;;
stall-default) stall -p maxexecutiontime=3 ;;
kill-restart)
    port=$(free_port); mc=$(memcached_on "$port"); PIDS+=("$mc"); wait_port "$port"
    timeout 60 "$KVLAB" load -P workloads/workloada --server "memcached://127.0.0.1:$port" >/dev/null 2>&1
    echo "== kill -9 memcached at 3 s, restart on the same port at 6 s; maxexecutiontime=10, operationcount=100M"
    ( sleep 3; kill -9 "$mc"; sleep 3; memcached -l 127.0.0.1 -p "$port" -m 64 -t 2 -U 0 -u root >/dev/null 2>&1 & echo $! >"$TMP/mc2" ) &
    run_kvlab "$TMP/kill.log" "${RUN[@]}" --server "memcached://127.0.0.1:$port" -p operationcount=100000000 -p maxexecutiontime=10
    [ -s "$TMP/mc2" ] && kill -9 "$(cat "$TMP/mc2")"
    echo "== kill -9 memcached at 2 s (no restart); operationcount=100M, maxexecutiontime=20 (does it trickle?)"
    mc=$(memcached_on "$port"); PIDS+=("$mc"); wait_port "$port"
    timeout 60 "$KVLAB" load -P workloads/workloada --server "memcached://127.0.0.1:$port" >/dev/null 2>&1
    ( sleep 2; kill -9 "$mc" ) &
    run_kvlab "$TMP/kill2.log" "${RUN[@]}" --server "memcached://127.0.0.1:$port" -p operationcount=100000000 -p maxexecutiontime=20
    ;;
sigstop)
    port=$(free_port); mc=$(memcached_on "$port"); PIDS+=("$mc"); wait_port "$port"
    timeout 60 "$KVLAB" load -P workloads/workloada --server "memcached://127.0.0.1:$port" >/dev/null 2>&1
    echo "== SIGSTOP memcached at 2 s for 5 s, then SIGCONT; maxexecutiontime=10"
    ( sleep 2; kill -STOP "$mc"; sleep 5; kill -CONT "$mc" ) &
    run_kvlab "$TMP/stop.log" "${RUN[@]}" --server "memcached://127.0.0.1:$port" -p operationcount=100000000 -p maxexecutiontime=10
    echo "== SIGSTOP memcached at 1 s for good; maxexecutiontime=3 (default --timeout 30)"
    ( sleep 1; kill -STOP "$mc" ) &
    run_kvlab "$TMP/stop2.log" "${RUN[@]}" --server "memcached://127.0.0.1:$port" -p operationcount=100000000 -p maxexecutiontime=3
    kill -CONT "$mc"; kill -9 "$mc"
    ;;
garbage)
    port=$(free_port); pid=$(fake_server "$port" garbage); PIDS+=("$pid"); wait_port "$port"
    echo "== garbage replies; maxexecutiontime=3"
    run_kvlab "$TMP/garbage.log" "${RUN[@]}" --server "memcached://127.0.0.1:$port" -p operationcount=100000000 -p maxexecutiontime=3
    kill -9 "$pid"
    ;;
target)
    port=$(free_port); mc=$(memcached_on "$port"); PIDS+=("$mc"); wait_port "$port"
    timeout 60 "$KVLAB" load -P workloads/workloada --server "memcached://127.0.0.1:$port" >/dev/null 2>&1
    echo "== -target 2000, operationcount=10000 (5 s at the target rate)"
    run_kvlab "$TMP/target.log" "${RUN[@]}" --server "memcached://127.0.0.1:$port" -p operationcount=10000 -target 2000
    kill -9 "$mc"
    ;;
esac
done
