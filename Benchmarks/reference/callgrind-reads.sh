#!/usr/bin/env bash
# Instruction counts per read (valgrind callgrind, "Ir") for kvlab's read phases and the
# references', side by side: counts do not move with machine load the way wall clock does.
#
# Each figure is (Ir of a run with fill + phase - Ir of a run with the fill alone) / NUM: both
# programs fill with fillrandom whenever a read phase is listed, so the difference is the phase
# (plus whatever background compaction spills into it, alike for both LSMs).
# Rows: kvlab lsm readrandom/readseq vs LevelDB, kvlab skiplist readrandom vs std::map.
#
# Environment (all optional): NUM (default 100000), KEY_SIZE, VALUE_SIZE, SEED (common.sh);
#   KVLAB (default: build release), BASE_KVLAB (a second kvlab, e.g. before a change: adds columns).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
NUM="${NUM:-100000}"
source "$here/common.sh"
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 2; }
build_kvlab
if [[ -z "${LEVELDB_BENCH:-}" ]]; then LEVELDB_BENCH="$(build_reference leveldb_bench "g++ -std=c++17" leveldb_bench.cc -lleveldb)"; fi
if [[ -z "${KVBENCH_STD:-}" ]]; then KVBENCH_STD="$(build_reference kvbench_std "g++ -std=c++17" kvbench_std.cpp)"; fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Valgrind 3.x gives up on the DWARF of Swift 6.3 release binaries ("Possibly corrupted
# debuginfo file"): measure copies without debug info (symbols are kept).
strip --strip-debug -o "$scratch/kvlab" "$KVLAB"
KVLAB="$scratch/kvlab"
if [[ -n "${BASE_KVLAB:-}" ]]; then strip --strip-debug -o "$scratch/kvlab-base" "$BASE_KVLAB"; BASE_KVLAB="$scratch/kvlab-base"; fi
workload=(--num "$NUM" --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE" --seed "$SEED")

# ir PROGRAM ARGS...: total instructions callgrind collected for one run.
ir() {
    rm -rf "$scratch/db"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" >/dev/null 2>"$scratch/cg.txt"
    awk '/Collected :/ { print $NF }' "$scratch/cg.txt"
}

# per_op PHASE PROGRAM ARGS...: Ir per operation of PHASE (fill + PHASE minus fill alone).
per_op() {
    local phase="$1"; shift
    local with without
    echo "callgrind: $* --benchmarks fillrandom[,${phase}]" >&2
    without="$(ir "$@" --benchmarks fillrandom)"
    with="$(ir "$@" --benchmarks "fillrandom,$phase")"
    awk -v a="$with" -v b="$without" -v n="$NUM" 'BEGIN { printf "%.0f", (a - b) / n }'
}

echo "# Instructions per read (callgrind Ir), num=$NUM key-size=$KEY_SIZE value-size=$VALUE_SIZE seed=$SEED"
echo
header="| phase | reference | reference Ir/op | kvlab Ir/op | kvlab / reference |"
sep="|---|---|---:|---:|---:|"
if [[ -n "${BASE_KVLAB:-}" ]]; then header="$header kvlab before Ir/op | after / before |"; sep="$sep---:|---:|"; fi
echo "$header"; echo "$sep"
row() {
    local label="$1" reference="$2" refIr="$3" engine="$4" phase="$5"
    shift 5
    local mine base
    # --db only for the persistent engine (kvlab refuses it for in-memory ones).
    local db=()
    if [[ "$engine" == lsm ]]; then db=(--db "$scratch/db"); fi
    mine="$(per_op "$phase" "$KVLAB" bench --engine "$engine" "${db[@]}" "${workload[@]}" "$@")"
    local line
    line="| $label | $reference | $refIr | $mine | $(awk -v a="$mine" -v b="$refIr" 'BEGIN { printf "%.2f", a / b }') |"
    if [[ -n "${BASE_KVLAB:-}" ]]; then
        base="$(per_op "$phase" "$BASE_KVLAB" bench --engine "$engine" "${db[@]}" "${workload[@]}" "$@")"
        line="$line $base | $(awk -v a="$mine" -v b="$base" 'BEGIN { printf "%.2f", a / b }') |"
    fi
    echo "$line"
}
lr="$(per_op readrandom "$LEVELDB_BENCH" --db "$scratch/db" "${workload[@]}" --compression none --sync false)"
row "lsm readrandom" "LevelDB" "$lr" lsm readrandom --option durability=periodic
ls="$(per_op readseq "$LEVELDB_BENCH" --db "$scratch/db" "${workload[@]}" --compression none --sync false)"
row "lsm readseq" "LevelDB" "$ls" lsm readseq --option durability=periodic
mr="$(per_op readrandom "$KVBENCH_STD" --impl map "${workload[@]}")"
row "skiplist readrandom" "std::map" "$mr" skiplist readrandom
