#!/usr/bin/env bash
# The driver under a server restart, and its CPU cost per operation, for two kvlab builds side by side.
# Usage: scripts/driver-faults.sh BEFORE_KVLAB BEFORE_URL_OPTION AFTER_KVLAB AFTER_URL_OPTION
#   e.g. scripts/driver-faults.sh /tmp/kvlab-old --target .build/release/kvlab --server
# (builds before the rename spell the URL option --target). Both drive the same servers:
# 1. restart: `kvlab serve --engine btree` (the AFTER binary's server) is stopped with SIGTERM
#    2 s into a 6 s run of workload A (2 threads) and restarted 1 s later; prints the Return= counts.
# 2. cost: user+sys CPU microseconds of the driver per GET against one redis-server
#    (workload C, 100-byte values, 2 threads x 25 connections), pipeline 1 and 16, 3 runs each,
#    alternating the builds. CPU time, not throughput: on a shared machine throughput moved by
#    2.5x between neighbouring runs, CPU per operation by a few percent.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1; BEFORE_OPT=$2; AFTER=$3; AFTER_OPT=$4
N=${N:-300000}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
D=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$D"' EXIT

restart() {  # $1 driver binary, $2 its URL option
    local P; P=$(free_port)
    rm -rf "$D/db"; mkdir -p "$D/db"
    "$AFTER" serve --engine btree --db "$D/db" --port "$P" --threads 2 >/dev/null 2>&1 & local S=$!
    sleep 1
    # The port was free when picked; another process may have taken it since (then this run
    # would measure that process).
    kill -0 "$S" 2>/dev/null || { echo "kvlab serve did not start on port $P"; return 1; }
    "$1" load -P workloads/workloada -p recordcount=1000 -threads 2 "$2" "redis://127.0.0.1:$P" --no-scan-index >/dev/null 2>&1
    "$1" run -P workloads/workloada -p recordcount=1000 -p operationcount=0 -p maxexecutiontime=6 -threads 2 \
        "$2" "redis://127.0.0.1:$P" --no-scan-index >"$D/out" 2>/dev/null & local R=$!
    sleep 2; kill -TERM "$S"; wait "$S" || true
    sleep 1
    "$AFTER" serve --engine btree --db "$D/db" --port "$P" --threads 2 >/dev/null 2>&1 & S=$!
    sleep 0.5
    kill -0 "$S" 2>/dev/null || { echo "kvlab serve did not restart on port $P"; return 1; }
    wait "$R"
    kill -TERM "$S"; wait "$S" || true
    grep -E "Throughput|Return=" "$D/out" | tr '\n' ' '; echo
}
echo "## kvlab serve restarted 2 s into a 6 s run (down about 1 s)"
echo "before: $(restart "$BEFORE" "$BEFORE_OPT")"
echo "after:  $(restart "$AFTER" "$AFTER_OPT")"

P=$(free_port)
redis-server --port "$P" --bind 127.0.0.1 --save "" --appendonly no --dir "$D" --daemonize no --loglevel warning >/dev/null 2>&1 &
sleep 1
"$AFTER" load -P workloads/workloadc -p recordcount=100000 -p fieldcount=1 -p fieldlength=100 -threads 8 \
    "$AFTER_OPT" "redis://127.0.0.1:$P" --mapping string --pipeline 16 >/dev/null 2>&1
cpu() {  # $1 binary, $2 URL option, $3 pipeline: driver CPU microseconds per operation
    /usr/bin/time -f "%U %S" -o "$D/t" "$1" run -P workloads/workloadc -p recordcount=100000 -p operationcount="$N" \
        -p fieldcount=1 -p fieldlength=100 -p requestdistribution=uniform -threads 2 --clients 25 \
        "$2" "redis://127.0.0.1:$P" --mapping string --pipeline "$3" >/dev/null 2>&1
    awk -v n="$N" '{ printf "%.2f", ($1 + $2) * 1e6 / n }' "$D/t"
}
echo "## driver CPU per GET (us), $N operations per run"
echo "| pipeline | run | before | after | after / before |"
echo "|---|---|---|---|---|"
for PIPE in 1 16; do
    for RUN in 1 2 3; do
        B=$(cpu "$BEFORE" "$BEFORE_OPT" "$PIPE"); A=$(cpu "$AFTER" "$AFTER_OPT" "$PIPE")
        echo "| $PIPE | $RUN | $B | $A | $(python3 -c "print(round($A / $B, 3))") |"
    done
done
