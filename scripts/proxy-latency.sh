#!/usr/bin/env bash
# The fault proxy's added latency per round trip: redis-benchmark PING (one connection, no
# pipelining: one request in flight, so 1/rps is the round trip) against redis-server directly
# and through `kvlab proxy`, alternating, same run, same machine.
# Usage: scripts/proxy-latency.sh [requests] [rounds]   (default 50000 requests, 3 rounds; markdown to stdout)
# KVLAB=/path/to/kvlab uses that binary instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000}
ROUNDS=${2:-3}
SCRATCH=${SCRATCH:-.build}
if [ -z "${KVLAB:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product kvlab >&2
    KVLAB="$SCRATCH/release/kvlab"
fi
REDIS_PORT=${REDIS_PORT:-17390}
PROXY_PORT=${PROXY_PORT:-17391}
DIR=$(mktemp -d)

redis-server --port "$REDIS_PORT" --bind 127.0.0.2 --save "" --appendonly no --dir "$DIR" --daemonize no --loglevel warning >"$DIR/redis.log" 2>&1 &
REDIS_PID=$!
"$KVLAB" proxy --route "$PROXY_PORT=127.0.0.2:$REDIS_PORT" >"$DIR/proxy.log" 2>&1 &
PROXY_PID=$!
trap 'kill $REDIS_PID $PROXY_PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
sleep 1

# "rps avg_ms p50_ms p99_ms" of PING_MBULK against host $1 port $2.
bench() {
    timeout 300 redis-benchmark -h "$1" -p "$2" -t ping_mbulk -n "$N" -c 1 -P 1 --csv 2>/dev/null \
        | awk -F'","' 'NR==2 { gsub(/"/, "", $0); split($0, f, ","); print f[2], f[3], f[5], f[7] }'
}

echo "| round | path | requests/s | avg ms | p50 ms | p99 ms |"
echo "|---|---|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
    read -r rps avg p50 p99 <<<"$(bench 127.0.0.2 "$REDIS_PORT")"
    echo "| $round | direct | $rps | $avg | $p50 | $p99 |"
    read -r rps avg p50 p99 <<<"$(bench 127.0.0.1 "$PROXY_PORT")"
    echo "| $round | proxy | $rps | $avg | $p50 | $p99 |"
done
