#!/usr/bin/env bash
# Durable SETs over RESP: kvlab serve (lsm, btree) in each --appendfsync mode vs redis-server with
# AOF in the same mode, redis-benchmark -t set -c 50 at -P 1 and -P 16, side by side in one run.
# Usage: scripts/durability-bench.sh [requests] [requests-for-always]   (defaults 200000 and 50000)
# Prints a markdown table on stdout; loopback, free ports, temporary directories, all stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
N_ALWAYS=${2:-50000}
SCRATCH=${SCRATCH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product kvlab >&2
KVLAB="$SCRATCH/release/kvlab"
command -v redis-server >/dev/null || { echo "redis-server is missing (Debian: redis-server)" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing (Debian: redis-tools)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvlab-durability-bench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ready() {  # port
    for _ in $(seq 1 100); do redis-cli -p "$1" PING 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
    echo "server on port $1 did not answer PING" >&2; return 1
}
stop() {  # pid
    kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
}
# requests/s of redis-benchmark SET at pipeline $2 against port $1, $3 requests.
bench() {
    redis-benchmark -p "$1" -t set -n "$3" -c 50 -d 100 -r 100000 -P "$2" --csv 2>/dev/null \
        | awk -F'","' 'NR==2 { gsub(/"/, "", $2); printf "%.0f", $2 }'
}
# Starts a server for system $1 (redis, lsm, btree) in mode $2; sets SPID and SPORT.
start() {
    local port dir
    port=$(free_port); dir="$WORK/$1-$2"; mkdir -p "$dir"
    if [ "$1" = redis ]; then
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync "$2" --dir "$dir" \
            --daemonize no --loglevel warning >/dev/null 2>&1 &
    else
        "$KVLAB" serve --engine "$1" --db "$dir" --appendfsync "$2" --port "$port" --threads 2 >/dev/null 2>&1 &
    fi
    SPID=$!
    SPORT=$port
    PIDS+=("$SPID")
    wait_ready "$port"
}

declare -A RESULT
for MODE in always everysec no; do
    n=$N; [ "$MODE" = always ] && n=$N_ALWAYS
    for SYSTEM in redis lsm btree; do
        start "$SYSTEM" "$MODE"
        for P in 1 16; do RESULT[$SYSTEM,$MODE,$P]=$(bench "$SPORT" "$P" "$n"); done
        stop "$SPID"
    done
done

echo "| appendfsync | pipeline | redis-server AOF (SET/s) | kvlab lsm (SET/s) | lsm / redis | kvlab btree (SET/s) | btree / redis |"
echo "|---|---|---|---|---|---|---|"
ratio() { awk -v k="$1" -v r="$2" 'BEGIN { if (r > 0) printf "%.2f", k / r; else print "n/a" }'; }
for MODE in always everysec no; do
    for P in 1 16; do
        R=${RESULT[redis,$MODE,$P]}; L=${RESULT[lsm,$MODE,$P]}; B=${RESULT[btree,$MODE,$P]}
        echo "| $MODE | $P | $R | $L | $(ratio "$L" "$R") | $B | $(ratio "$B" "$R") |"
    done
done
