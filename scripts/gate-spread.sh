#!/usr/bin/env bash
# Spread of candidate timed-gate statistics between identical runs, and their shift under the planted slowdown.
#
# Runs ROUNDS rounds of three interleaved `kvlab run`s (A and B unchanged, P with
# KVLAB_PLANTED_GET_SLOWDOWN=$ITER) of workload C on hash, writing result files and the load average
# into $OUT, then scripts/gate-spread.py prints the table for results/gate.md. Usage:
#   scripts/gate-spread.sh    (env: KVLAB, ROUNDS, OPS, ITER, OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
KVLAB=${KVLAB:-.build/release/kvlab}
ROUNDS=${ROUNDS:-10}
OPS=${OPS:-200000}
ITER=${ITER:-30}
OUT=${OUT:-/tmp/kvlab-gate-spread}
mkdir -p "$OUT"
RUN_ARGS=(run -P workloads/workloadc -p recordcount=5000 -p operationcount=$OPS --engine hash -threads 1)
: > "$OUT/loadavg.txt"
for round in $(seq "$ROUNDS"); do
  for side in A B P; do
    if [[ $side == P ]]; then
      KVLAB_PLANTED_GET_SLOWDOWN=$ITER "$KVLAB" "${RUN_ARGS[@]}" --export json "$OUT/$side-$round.json" > /dev/null
    else
      "$KVLAB" "${RUN_ARGS[@]}" --export json "$OUT/$side-$round.json" > /dev/null
    fi
    echo "$side $round $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/loadavg.txt"
  done
done
python3 scripts/gate-spread.py "$OUT"
