#!/usr/bin/env bash
# Gate self-test: counting mode and the repeat-aware gate against a planted get slowdown and unchanged reruns.
#
# The planted slowdown is PlantedSlowdownEngine (KVLAB_PLANTED_GET_SLOWDOWN=N loop rounds per get),
# wrapped around the hash engine by kvlab itself when the variable is set. Each round:
#   counting: a fresh `kvlab count` unchanged and one planted, each gated against one base count;
#   timed:    `kvlab gate --repeat $REPEAT` unchanged (NEW = BASE) and planted (--new-env), runs of
#             $OPS operations by $KVLAB (both sides), the gate itself by $GATE (default: $KVLAB).
#             The gate decides on CPU time per operation (kvlab gate --metric auto on in-process runs).
# Writes one line per round (with the load average) and a summary to $OUT/counting.txt / timed.txt. Usage:
#   scripts/gate-selftest.sh [counting|timed|both]    (env: KVLAB, GATE, ROUNDS, ITER, REPEAT, OPS, OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-both}
KVLAB=${KVLAB:-.build/debug/kvlab}
ROUNDS=${ROUNDS:-20}
ITER=${ITER:-30}
GATE=${GATE:-$KVLAB}
REPEAT=${REPEAT:-12}     # the documented count (README "Regression gate on a noisy machine")
OPS=${OPS:-3000000}      # operations per timed run: ~1,465 CPU chunks of 2048 operations, long enough to outlast slow stretches
OUT=${OUT:-results/gate-selftest}
mkdir -p "$OUT"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
COUNT_ARGS=(-P workloads/workloadc -p recordcount=200 -p operationcount=300 --engine hash)
RUN_ARGS=(run -P workloads/workloadc -p recordcount=5000 -p operationcount=$OPS --engine hash -threads 1)

gate_status() { set +e; "$GATE" gate "$@" > "$SCRATCH/gate.txt" 2>&1; local rc=$?; set -e; echo $rc; }

if [[ $MODE == counting || $MODE == both ]]; then
  LOG="$OUT/counting.txt"
  : > "$LOG"
  "$KVLAB" count "${COUNT_ARGS[@]}" --output "$OUT/count-base.json" > /dev/null
  caught=0; passed=0
  for round in $(seq "$ROUNDS"); do
    "$KVLAB" count "${COUNT_ARGS[@]}" --output "$SCRATCH/unchanged.json" > /dev/null
    u=$(gate_status "$OUT/count-base.json" -- "$SCRATCH/unchanged.json")
    KVLAB_PLANTED_GET_SLOWDOWN=$ITER "$KVLAB" count "${COUNT_ARGS[@]}" --output "$SCRATCH/planted.json" > /dev/null
    p=$(gate_status "$OUT/count-base.json" -- "$SCRATCH/planted.json")
    shift_line=$(grep "READ instructions" "$SCRATCH/gate.txt" | tr -s ' ')
    [[ $u == 0 ]] && passed=$((passed + 1)); [[ $p == 1 ]] && caught=$((caught + 1))
    echo "round $round: unchanged exit $u, planted exit $p ($shift_line)" | tee -a "$LOG"
  done
  echo "counting: unchanged passed $passed/$ROUNDS, planted caught $caught/$ROUNDS (ITER=$ITER)" | tee -a "$LOG"
fi

if [[ $MODE == timed || $MODE == both ]]; then
  LOG="$OUT/timed.txt"
  : > "$LOG"
  caught=0; passed=0; undecided=0
  for round in $(seq "$ROUNDS"); do
    rows() { grep -E "OVERALL (CPU/op|throughput)" "$SCRATCH/gate.txt" | tr -s ' ' | paste -sd ';'; }
    u=$(gate_status --repeat "$REPEAT" --base-kvlab "$KVLAB" --new-kvlab "$KVLAB" --results-dir "$SCRATCH/u" -- "${RUN_ARGS[@]}")
    ushift=$(rows)
    p=$(gate_status --repeat "$REPEAT" --base-kvlab "$KVLAB" --new-kvlab "$KVLAB" --results-dir "$SCRATCH/p" --new-env "KVLAB_PLANTED_GET_SLOWDOWN=$ITER" -- "${RUN_ARGS[@]}")
    pshift=$(rows)
    [[ $u == 0 ]] && passed=$((passed + 1)); [[ $p == 1 ]] && caught=$((caught + 1))
    echo "round $round (load $(cut -d' ' -f1 /proc/loadavg)): unchanged exit $u ($ushift) | planted exit $p ($pshift)" | tee -a "$LOG"
  done
  echo "timed (--repeat $REPEAT, $OPS operations per run): unchanged passed $passed/$ROUNDS, planted caught $caught/$ROUNDS (ITER=$ITER)" | tee -a "$LOG"
fi
