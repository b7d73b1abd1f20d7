#!/usr/bin/env bash
# Instructions and simulated D1 read misses per readrandom op (callgrind --cache-sim=yes) for one program.
#
# usage: callgrind-cache-reads.sh LABEL PROGRAM ARGS...
#   e.g. callgrind-cache-reads.sh skiplist kvlab-stripped bench --engine skiplist
#        callgrind-cache-reads.sh std::map Benchmarks/reference/bin/kvbench_std --impl map
# Prints Ir, D1 read misses and last-level data read misses per read: (run with fillrandom,readrandom
# minus run with fillrandom alone) / NUM, as callgrind-reads.sh does for Ir. Environment: NUM
# (default 50000). Swift release binaries need `strip --strip-debug` first (see callgrind-reads.sh).
set -euo pipefail
label="$1"; shift
NUM="${NUM:-50000}"
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 2; }
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# run ARGS...: "Ir D1mr DLmr" totals of one run.
run() {
    valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$scratch/out" "$@" >/dev/null 2>"$scratch/log"
    # Totals line: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw, each followed by its percentage.
    callgrind_annotate "$scratch/out" | awk '/PROGRAM TOTALS/ { gsub(",", ""); print $1, $9, $15 }'
}
workload=(--num "$NUM" --key-size 16 --value-size 100 --seed 301)
without="$(run "$@" "${workload[@]}" --benchmarks fillrandom)"
with="$(run "$@" "${workload[@]}" --benchmarks fillrandom,readrandom)"
echo "$without $with" | awk -v n="$NUM" -v l="$label" \
    '{ printf "%s num=%d Ir/read=%.0f D1mr/read=%.2f DLmr/read=%.2f\n", l, n, ($4-$1)/n, ($5-$2)/n, ($6-$3)/n }'
