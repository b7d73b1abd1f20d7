#!/usr/bin/env bash
# RESP server and driver benchmark: kvlab serve --engine hash vs redis-server, same run, same machine.
# Usage: scripts/resp-bench.sh [requests]   (default 1000000; writes a markdown table to stdout)
# KVLAB_BASELINE=/path/to/an/older/kvlab adds that build's server and driver to the same run
# (before/after comparisons: each cell runs redis, the baseline, then this build, back to back).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
SCRATCH=${SCRATCH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product kvlab >&2
KVLAB="$SCRATCH/release/kvlab"
KV_PORT=${KV_PORT:-17379}
REDIS_PORT=${REDIS_PORT:-17380}
BASE_PORT=${BASE_PORT:-17381}
BASELINE=${KVLAB_BASELINE:-}

"$KVLAB" serve --engine hash --port "$KV_PORT" --threads 2 >/dev/null 2>&1 &
KV_PID=$!
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning >/dev/null 2>&1 &
REDIS_PID=$!
BASE_PID=
if [ -n "$BASELINE" ]; then
    "$BASELINE" serve --engine hash --port "$BASE_PORT" --threads 2 >/dev/null 2>&1 &
    BASE_PID=$!
fi
trap 'kill $KV_PID $REDIS_PID $BASE_PID 2>/dev/null || true' EXIT
sleep 1

# requests/s of redis-benchmark for one test (set or get) at pipeline depth $3 against port $2.
bench() {
    redis-benchmark -p "$2" -t "$1" -n "$N" -c 50 -d 100 -r 100000 -P "$3" --csv 2>/dev/null \
        | awk -F'","' 'NR==2 { gsub(/"/, "", $2); print $2 }'
}
# ops/s of kvlab's driver, 50 connections (2 threads x 25 clients, as redis-benchmark's -c 50 on
# one event loop), pipeline $1, against redis-server.
# $2: the kvlab binary (default: this build).
driver_set() {
    "${2:-$KVLAB}" run -P workloads/workloada -p recordcount=100000 -p operationcount="$N" -p readproportion=0 \
        -p updateproportion=1 -p writeallfields=true -p fieldcount=1 -p fieldlength=100 -p requestdistribution=uniform \
        -threads 2 --clients 25 --server "redis://127.0.0.1:$REDIS_PORT" --mapping string --pipeline "$1" 2>/dev/null \
        | awk -F', ' '/\[OVERALL\], Throughput/ { printf "%.0f\n", $3 }'
}
driver_get() {
    # --target is the old spelling of --server, kept as an alias: a baseline build from before the rename runs too.
    "${2:-$KVLAB}" run -P workloads/workloadc -p recordcount=100000 -p operationcount="$N" -p fieldcount=1 -p fieldlength=100 \
        -p requestdistribution=uniform -threads 2 --clients 25 --target "redis://127.0.0.1:$REDIS_PORT" --mapping string --pipeline "$1" 2>/dev/null \
        | awk -F', ' '/\[OVERALL\], Throughput/ { printf "%.0f\n", $3 }'
}
"$KVLAB" load -P workloads/workloadc -p recordcount=100000 -p fieldcount=1 -p fieldlength=100 -threads 8 \
    --server "redis://127.0.0.1:$REDIS_PORT" --mapping string --pipeline 16 >/dev/null 2>&1

ratio() { awk -v k="$1" -v r="$2" 'BEGIN { printf "%.2f", k / r }'; }
if [ -n "$BASELINE" ]; then
    echo "| test | pipeline | redis-server (req/s) | kvlab before (req/s) | kvlab after (req/s) | before / redis | after / redis |"
    echo "|---|---|---|---|---|---|---|"
else
    echo "| test | pipeline | redis-server (req/s) | kvlab serve --engine hash (req/s) | kvlab / redis |"
    echo "|---|---|---|---|---|"
fi
for P in 1 16; do
    for T in set get; do
        R=$(bench "$T" "$REDIS_PORT" "$P")
        if [ -n "$BASELINE" ]; then
            B=$(bench "$T" "$BASE_PORT" "$P"); K=$(bench "$T" "$KV_PORT" "$P")
            echo "| ${T^^} | $P | $R | $B | $K | $(ratio "$B" "$R") | $(ratio "$K" "$R") |"
        else
            K=$(bench "$T" "$KV_PORT" "$P")
            echo "| ${T^^} | $P | $R | $K | $(ratio "$K" "$R") |"
        fi
    done
done
echo
if [ -n "$BASELINE" ]; then
    echo "| load generator against redis-server | pipeline | redis-benchmark (req/s) | kvlab run before (ops/s) | kvlab run after (ops/s) | before / redis-benchmark | after / redis-benchmark |"
    echo "|---|---|---|---|---|---|---|"
else
    echo "| load generator against redis-server | pipeline | redis-benchmark (req/s) | kvlab run --server (ops/s) | kvlab / redis-benchmark |"
    echo "|---|---|---|---|---|"
fi
for P in 1 16; do
    for T in set get; do
        R=$(bench "$T" "$REDIS_PORT" "$P"); D=$(driver_$T "$P")
        NAME=$([ "$T" = set ] && echo "SET (update, writeallfields)" || echo "GET (read)")
        if [ -n "$BASELINE" ]; then
            DB=$(driver_$T "$P" "$BASELINE")
            echo "| $NAME | $P | $R | $DB | $D | $(ratio "$DB" "$R") | $(ratio "$D" "$R") |"
        else
            echo "| $NAME | $P | $R | $D | $(ratio "$D" "$R") |"
        fi
    done
done
