#!/usr/bin/env bash
# kvlab's memcached driver beside memcaslap (libmemcached-tools) against one memcached, same connections, key and value sizes.
# Usage: scripts/memcached-bench.sh [seconds] [connections] [runs]   (defaults 10, 32 and 3; markdown rows to stdout)
#
# The mapping (what each side does; see results/memcached.md):
# - threads and connections: memcaslap `-T 2 -c N` (2 libevent threads, N/2 connections each, one
#   request in flight per connection: it sends, waits for the reply, then sends the next);
#   kvlab `-threads 2 --clients N/2 --pipeline 1` (2 threads, N/2 connections each, one request in
#   flight per connection). kvlab is then also run with `-threads N --clients 1` (one OS thread per
#   connection) and with `--pipeline 16` (memtier-style; memcaslap cannot pipeline).
# - op mix: 90% get / 10% set (memcaslap's default, written into its config file); kvlab workload B
#   with readproportion=0.9 updateproportion=0.1 writeallfields=true (an update of every field is one `set`).
# - keys: 24 bytes on both sides: memcaslap's config `key 24 24 1`; kvlab `zeropadding=20` makes
#   every key "user" + 20 digits. (memcaslap's default key is 64 bytes, kvlab's ~23: unequal.)
# - values: 100 bytes: memcaslap `value 100 100 1`; kvlab one 97-byte field + RecordCodec's 3 bytes.
# - hits: every get hits on both sides (memcaslap gets only keys it has set; kvlab loads its
#   100,000 records first, uniform requests).
# Each cell also reports the client's CPU time (user + system, /usr/bin/time) per operation in µs:
# client and server share the machine's cores, so the client's CPU per operation is taken from the server.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-32}
RUNS=${3:-3}
SCRATCH=${SCRATCH:-.build}
# KVLAB=path/to/kvlab uses that binary as it is (no build).
if [ -z "${KVLAB:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product kvlab >&2
    KVLAB="$SCRATCH/release/kvlab"
fi
TMP=$(mktemp -d /tmp/kvlab-memcached-bench.XXXXXX)
# kvlab store prints the URL, then waits for SIGTERM.
"$KVLAB" store memcached --threads 2 >"$TMP/url" 2>/dev/null &
STORE_PID=$!
trap 'kill $STORE_PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do [ -s "$TMP/url" ] && break; sleep 0.2; done
URL=$(cat "$TMP/url")
HOSTPORT=${URL#memcached://}
printf 'key\n24 24 1\nvalue\n100 100 1\ncmd\n0 0.1\n1 0.9\n' >"$TMP/memcaslap.cnf"

# Prints "ops/s µs-of-CPU-per-op".
cpu_per_op() { awk -v ops="$2" '{ printf "%.2f", ($1 + $2) * 1e6 / ops }' "$1"; }
memcaslap_run() {
    /usr/bin/time -f "%U %S" -o "$TMP/time" memcaslap -s "$HOSTPORT" -T 2 -c "$CONNECTIONS" -F "$TMP/memcaslap.cnf" \
        -t "${SECONDS_PER_RUN}s" >"$TMP/out" 2>&1
    local tps ops
    tps=$(awk '/TPS:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }' "$TMP/out" | tail -1)
    ops=$(awk '/TPS:/ { for (i = 1; i <= NF; i++) if ($i == "Ops:") print $(i + 1) }' "$TMP/out" | tail -1)
    echo "$tps $(cpu_per_op "$TMP/time" "$ops")"
}
# kvlab_run THREADS CLIENTS PIPELINE
kvlab_run() {
    /usr/bin/time -f "%U %S" -o "$TMP/time" "$KVLAB" run -P workloads/workloadb -p recordcount=100000 -p operationcount=100000000 \
        -p maxexecutiontime="$SECONDS_PER_RUN" -p readproportion=0.9 -p updateproportion=0.1 -p writeallfields=true \
        -p fieldcount=1 -p fieldlength=97 -p zeropadding=20 -p requestdistribution=uniform \
        -threads "$1" --clients "$2" --pipeline "$3" --server "$URL" >"$TMP/out" 2>/dev/null
    local tps ops
    tps=$(awk -F', ' '/\[OVERALL\], Throughput/ { printf "%d\n", $3 }' "$TMP/out")
    ops=$(awk -F', ' '/\], Return=/ { n += $3 } END { print n }' "$TMP/out")
    echo "$tps $(cpu_per_op "$TMP/time" "$ops")"
}
"$KVLAB" load -P workloads/workloadb -p recordcount=100000 -p fieldcount=1 -p fieldlength=97 -p zeropadding=20 -threads 2 --clients 8 --pipeline 16 \
    --server "$URL" >/dev/null 2>&1
echo "| run | load avg | memcaslap -T 2 -c $CONNECTIONS (TPS) | CPU µs/op | kvlab -threads 2 --clients $((CONNECTIONS / 2)) (ops/s) | CPU µs/op | kvlab / memcaslap | kvlab -threads $CONNECTIONS (ops/s) | CPU µs/op | kvlab --pipeline 16 (ops/s) | CPU µs/op |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for run in $(seq "$RUNS"); do
    LOAD=$(cut -d' ' -f1 /proc/loadavg)
    read -r M MC <<<"$(memcaslap_run)"
    read -r K KC <<<"$(kvlab_run 2 $((CONNECTIONS / 2)) 1)"
    read -r T TC <<<"$(kvlab_run "$CONNECTIONS" 1 1)"
    read -r P PC <<<"$(kvlab_run 2 $((CONNECTIONS / 2)) 16)"
    echo "| $run | $LOAD | $M | $MC | $K | $KC | $(awk -v a="$K" -v b="$M" 'BEGIN { printf "%.2f", a / b }') | $T | $TC | $P | $PC |"
done
