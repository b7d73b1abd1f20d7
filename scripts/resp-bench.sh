#!/usr/bin/env bash
# RESP server and driver benchmark: kvlab serve --engine hash vs redis-server, same run, same machine.
# Usage: scripts/resp-bench.sh [requests]   (default 1000000; writes a markdown table to stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
SCRATCH=${SCRATCH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product kvlab >&2
KVLAB="$SCRATCH/release/kvlab"
KV_PORT=${KV_PORT:-17379}
REDIS_PORT=${REDIS_PORT:-17380}

"$KVLAB" serve --engine hash --port "$KV_PORT" --threads 2 >/dev/null 2>&1 &
KV_PID=$!
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning >/dev/null 2>&1 &
REDIS_PID=$!
trap 'kill $KV_PID $REDIS_PID 2>/dev/null || true' EXIT
sleep 1

# requests/s of redis-benchmark for one test (set or get) at pipeline depth $3 against port $2.
bench() {
    redis-benchmark -p "$2" -t "$1" -n "$N" -c 50 -d 100 -r 100000 -P "$3" --csv 2>/dev/null \
        | awk -F'","' 'NR==2 { gsub(/"/, "", $2); print $2 }'
}
# ops/s of kvlab's driver, 50 connections (2 threads x 25 clients, as redis-benchmark's -c 50 on
# one event loop), pipeline $1, against redis-server.
driver_set() {
    "$KVLAB" run -P workloads/workloada -p recordcount=100000 -p operationcount="$N" -p readproportion=0 \
        -p updateproportion=1 -p writeallfields=true -p fieldcount=1 -p fieldlength=100 -p requestdistribution=uniform \
        -threads 2 --clients 25 --server "redis://127.0.0.1:$REDIS_PORT" --mapping string --pipeline "$1" 2>/dev/null \
        | awk -F', ' '/\[OVERALL\], Throughput/ { printf "%.0f\n", $3 }'
}
driver_get() {
    "$KVLAB" run -P workloads/workloadc -p recordcount=100000 -p operationcount="$N" -p fieldcount=1 -p fieldlength=100 \
        -p requestdistribution=uniform -threads 2 --clients 25 --server "redis://127.0.0.1:$REDIS_PORT" --mapping string --pipeline "$1" 2>/dev/null \
        | awk -F', ' '/\[OVERALL\], Throughput/ { printf "%.0f\n", $3 }'
}
"$KVLAB" load -P workloads/workloadc -p recordcount=100000 -p fieldcount=1 -p fieldlength=100 -threads 8 \
    --server "redis://127.0.0.1:$REDIS_PORT" --mapping string --pipeline 16 >/dev/null 2>&1

echo "| test | pipeline | redis-server (req/s) | kvlab serve --engine hash (req/s) | kvlab / redis |"
echo "|---|---|---|---|---|"
for P in 1 16; do
    for T in set get; do
        R=$(bench "$T" "$REDIS_PORT" "$P"); K=$(bench "$T" "$KV_PORT" "$P")
        echo "| ${T^^} | $P | $R | $K | $(awk -v k="$K" -v r="$R" 'BEGIN { printf "%.2f", k / r }') |"
    done
done
echo
echo "| load generator against redis-server | pipeline | redis-benchmark (req/s) | kvlab run --server (ops/s) | kvlab / redis-benchmark |"
echo "|---|---|---|---|---|"
for P in 1 16; do
    R=$(bench set "$REDIS_PORT" "$P"); D=$(driver_set "$P")
    echo "| SET (update, writeallfields) | $P | $R | $D | $(awk -v k="$D" -v r="$R" 'BEGIN { printf "%.2f", k / r }') |"
    R=$(bench get "$REDIS_PORT" "$P"); D=$(driver_get "$P")
    echo "| GET (read) | $P | $R | $D | $(awk -v k="$D" -v r="$R" 'BEGIN { printf "%.2f", k / r }') |"
done
