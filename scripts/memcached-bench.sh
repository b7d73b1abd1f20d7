#!/usr/bin/env bash
# kvlab's memcached driver beside memcaslap (libmemcached-tools) against one memcached, same connections and value size.
# Usage: scripts/memcached-bench.sh [seconds] [connections]   (defaults 10 and 32; markdown rows to stdout)
# Both load generators run 2 threads and the same number of connections, one request in flight
# per connection (memcaslap does not pipeline), 90% get / 10% set (memcaslap's default mix),
# 100-byte values; kvlab then also runs with --pipeline 16. Each pair runs back to back.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-32}
SCRATCH=${SCRATCH:-.build}
# KVLAB=path/to/kvlab uses that binary as it is (no build).
if [ -z "${KVLAB:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product kvlab >&2
    KVLAB="$SCRATCH/release/kvlab"
fi
# kvlab store prints the URL, then waits for SIGTERM.
"$KVLAB" store memcached --threads 2 >/tmp/kvlab-memcached-url.$$ 2>/dev/null &
STORE_PID=$!
trap 'kill $STORE_PID 2>/dev/null || true; rm -f /tmp/kvlab-memcached-url.$$' EXIT
for _ in $(seq 50); do [ -s /tmp/kvlab-memcached-url.$$ ] && break; sleep 0.2; done
URL=$(cat /tmp/kvlab-memcached-url.$$)
HOSTPORT=${URL#memcached://}

memcaslap_tps() {
    memcaslap -s "$HOSTPORT" -T 2 -c "$CONNECTIONS" -X 100 -t "${SECONDS_PER_RUN}s" 2>&1 | awk '/TPS:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }' | tail -1
}
# 100-byte records: one field of 97 bytes + RecordCodec's 3 bytes of count, index and length (see MemcachedTarget).
kvlab_tps() {
    "$KVLAB" run -P workloads/workloadb -p recordcount=100000 -p operationcount=100000000 -p maxexecutiontime="$SECONDS_PER_RUN" \
        -p readproportion=0.9 -p updateproportion=0.1 -p writeallfields=true -p fieldcount=1 -p fieldlength=97 \
        -p requestdistribution=uniform -threads 2 --clients $((CONNECTIONS / 2)) --pipeline "$1" --server "$URL" 2>/dev/null \
        | awk -F', ' '/\[OVERALL\], Throughput/ { printf "%d\n", $3 }'
}
"$KVLAB" load -P workloads/workloadb -p recordcount=100000 -p fieldcount=1 -p fieldlength=97 -threads 2 --clients 8 --pipeline 16 \
    --server "$URL" >/dev/null 2>&1
echo "| run | memcaslap (TPS) | kvlab run, pipeline 1 (ops/s) | kvlab / memcaslap | kvlab run, pipeline 16 (ops/s) |"
echo "|---|---|---|---|---|"
for run in 1 2; do
    M=$(memcaslap_tps)
    K=$(kvlab_tps 1)
    P=$(kvlab_tps 16)
    echo "| $run | $M | $K | $(awk -v a="$K" -v b="$M" 'BEGIN { printf "%.2f", a / b }') | $P |"
done
