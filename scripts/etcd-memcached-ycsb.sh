#!/usr/bin/env bash
# YCSB workloads A-F on etcd (3 members), memcached and redis-server, one after the other on this machine.
# Usage: scripts/etcd-memcached-ycsb.sh [seconds] [threads]   (defaults 15 and 16; markdown rows to stdout)
# Every store gets the same load (recordcount=1000, 10 fields of 100 bytes) and each workload runs
# for `seconds` (maxexecutiontime) with `threads` client threads, one connection each, no pipelining.
# etcd: the JSON gateway, linearizable reads (then workload C again with serializable reads);
# memcached: workload E does not apply (no ranges); redis: YCSB's hash mapping.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
THREADS=${2:-16}
SCRATCH=${SCRATCH:-.build}
# KVLAB=path/to/kvlab uses that binary as it is (no build).
if [ -z "${KVLAB:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product kvlab >&2
    KVLAB="$SCRATCH/release/kvlab"
fi
TMP=$(mktemp -d)
REDIS_PORT=${REDIS_PORT:-17390}
"$KVLAB" store etcd --members 3 >"$TMP/etcd" 2>/dev/null &
ETCD_PID=$!
"$KVLAB" store memcached --threads 2 >"$TMP/memcached" 2>/dev/null &
MC_PID=$!
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning >/dev/null 2>&1 &
REDIS_PID=$!
trap 'kill $ETCD_PID $MC_PID $REDIS_PID 2>/dev/null || true; wait 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 150); do [ -s "$TMP/etcd" ] && [ -s "$TMP/memcached" ] && break; sleep 0.2; done
ETCD=$(cat "$TMP/etcd")
MC=$(cat "$TMP/memcached")
REDIS="redis://127.0.0.1:$REDIS_PORT"
COMMON=(-p recordcount=1000 -p operationcount=100000000 -p maxexecutiontime="$SECS" -threads "$THREADS")

# "throughput avg-latency-of-the-first-operation p99" of one phase.
summary() {
    awk -F', ' '/\[OVERALL\], Throughput/ { t = $3 }
        /^\[(READ|UPDATE|SCAN|READ-MODIFY-WRITE)\], AverageLatency/ && !a { a = $3; op = $1 }
        /^\[(READ|UPDATE|SCAN|READ-MODIFY-WRITE)\], 99thPercentileLatency/ && !p { p = $3 }
        /Return=/ && !/Return=OK/ { e += $3 }
        END { printf "%d | %s %.0f / %d | %d", t, op, a, p, e }'
}
run() { # $1 store name, $2 url, $3 workload, extra args...
    local name=$1 url=$2 w=$3; shift 3
    local out
    out=$("$KVLAB" run -P "workloads/$w" "${COMMON[@]}" --server "$url" "$@" 2>/dev/null | summary)
    echo "| $w | $name | $out |"
}
"$KVLAB" load -P workloads/workloada -p recordcount=1000 -threads 8 --server "$ETCD" >/dev/null 2>&1
"$KVLAB" load -P workloads/workloada -p recordcount=1000 -threads 8 --server "$MC" >/dev/null 2>&1
"$KVLAB" load -P workloads/workloada -p recordcount=1000 -threads 8 --server "$REDIS" >/dev/null 2>&1
echo "| workload | store | ops/s | first operation: avg / p99 (µs) | not OK (any status) |"
echo "|---|---|---|---|---|"
for w in workloada workloadb workloadc workloadd workloade workloadf; do
    run "redis (hash mapping)" "$REDIS" "$w"
    if [ "$w" = workloade ]; then
        echo "| $w | memcached | n/a: no key order or ranges (the driver refuses workload E) | | |"
    else
        run memcached "$MC" "$w"
    fi
    run "etcd, 3 members" "$ETCD" "$w"
    if [ "$w" = workloadc ]; then run "etcd, serializable reads" "$ETCD" "$w" --read-consistency serializable; fi
done
