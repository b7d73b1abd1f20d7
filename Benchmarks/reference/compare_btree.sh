#!/usr/bin/env bash
# Runs `kvlab bench --engine btree` in each durability mode and lmdb_bench (LMDB, Debian
# liblmdb-dev) with the same workload, in the same run, and prints Markdown tables of ops/sec
# and ratios (btree / LMDB).
#
# Unsynced side (NUM keys): btree durability=buffered (writes batched in user space: a killed
# process loses them) and durability=periodic (a commit per write, reaching the OS; fsync every
# sync-interval) against LMDB with MDB_NOSYNC, one transaction per write (--txn op, the
# analogue of a commit per write) and one per phase (--txn phase).
# Synced side (SYNC_NUM keys, fsync per write is slow): btree durability=always against LMDB
# with a synced commit per write (--sync sync). Both sides get a fresh database per fill; see
# lmdb_bench.c for the details.
# Environment (all optional):
#   NUM, KEY_SIZE, VALUE_SIZE, SEED   workload (defaults 1000000, 16, 100, 301)
#   SYNC_NUM                          keys for the synced runs (default 1000)
#   BENCHMARKS                        phases (default fillseq,fillrandom,readrandom,readseq)
#   SYNC_BENCHMARKS                   phases of the synced runs (default fillseq,fillrandom)
#   BTREE_OPTIONS                     extra `--option name=value` words for kvlab (e.g. "--option cache-size=1G")
#   KVLAB, LMDB_BENCH                 binaries to use as they are (default: build them)
#   SCRATCH                           directory for the databases (default: a fresh mktemp -d, removed after)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

source "$here/common.sh"
BENCHMARKS="${BENCHMARKS:-fillseq,fillrandom,readrandom,readseq}"
SYNC_BENCHMARKS="${SYNC_BENCHMARKS:-fillseq,fillrandom}"
SYNC_NUM="${SYNC_NUM:-1000}"
BTREE_OPTIONS="${BTREE_OPTIONS:-}"

build_kvlab
if [[ -z "${LMDB_BENCH:-}" ]]; then LMDB_BENCH="$(build_reference lmdb_bench "cc" lmdb_bench.c -llmdb)"; fi

if [[ -z "${SCRATCH:-}" ]]; then
    SCRATCH="$(mktemp -d)"
    trap 'rm -rf "$SCRATCH"' EXIT
fi
workload=(--num "$NUM" --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE" --seed "$SEED" --benchmarks "$BENCHMARKS")
sync_workload=(--num "$SYNC_NUM" --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE" --seed "$SEED" --benchmarks "$SYNC_BENCHMARKS")

phase_rates() {
    awk '$2 == ":" && $1 != "memory" {
        for (i = 3; i <= NF; i++) if ($i == "ops/sec;" || $i == "ops/sec") { print $1, $(i - 1); break }
    }' "$1"
}

# table NAME... : one column per run (rates in $SCRATCH/NAME-rates.txt), then the ratio of each
# run to the LAST one (the reference).
table() {
    local files=()
    for name in "$@"; do files+=("$SCRATCH/$name-rates.txt"); done
    awk -v names="$*" '
        BEGIN { n = split(names, label, " ")
                count = split("fillseq fillrandom overwrite readrandom readseq deleterandom", order, " ")
                for (i = 1; i <= count; i++) seen[order[i]] = 1 }
        { if (!($1 in seen)) { seen[$1] = 1; order[++count] = $1 }
          for (f = 1; f <= n; f++) if (FILENAME == ARGV[f]) rate[f, $1] = $2 }
        END {
            line = "| phase"; rule = "|---"
            for (f = 1; f <= n; f++) { line = line " | " label[f] " ops/s"; rule = rule "|---:" }
            for (f = 1; f < n; f++) { line = line " | " label[f] "/" label[n]; rule = rule "|---:" }
            print line " |"; print rule "|"
            for (i = 1; i <= count; i++) { p = order[i]; any = 0
                for (f = 1; f <= n; f++) if ((f, p) in rate) any = 1
                if (!any) continue
                line = "| " p
                for (f = 1; f <= n; f++) line = line " | " (((f, p) in rate) ? rate[f, p] : "-")
                for (f = 1; f < n; f++) line = line " | " ((((f, p) in rate) && ((n, p) in rate) && rate[n, p] > 0) ? sprintf("%.2f", rate[f, p] / rate[n, p]) : "-")
                print line " |" }
        }' "${files[@]}"
}

run_btree() {  # run_btree NAME DURABILITY WORKLOAD...
    local name="$1" durability="$2"
    shift 2
    # shellcheck disable=SC2086
    echo "running: $KVLAB bench --engine btree --db $SCRATCH/$name --option durability=$durability $BTREE_OPTIONS $*" >&2
    # shellcheck disable=SC2086
    "$KVLAB" bench --engine btree --db "$SCRATCH/$name" --option "durability=$durability" $BTREE_OPTIONS "$@" >"$SCRATCH/$name.txt"
    phase_rates "$SCRATCH/$name.txt" >"$SCRATCH/$name-rates.txt"
}

run_lmdb() {  # run_lmdb NAME TXN SYNC WORKLOAD...
    local name="$1" txn="$2" sync="$3"
    shift 3
    echo "running: $LMDB_BENCH --db $SCRATCH/$name --txn $txn --sync $sync $*" >&2
    "$LMDB_BENCH" --db "$SCRATCH/$name" --txn "$txn" --sync "$sync" "$@" >"$SCRATCH/$name.txt"
    phase_rates "$SCRATCH/$name.txt" >"$SCRATCH/$name-rates.txt"
}

echo "# kvlab btree (each durability mode) vs LMDB"
echo
echo "num=$NUM (synced runs: $SYNC_NUM) key-size=$KEY_SIZE value-size=$VALUE_SIZE seed=$SEED benchmarks=$BENCHMARKS (synced: $SYNC_BENCHMARKS) ${BTREE_OPTIONS:+btree options: $BTREE_OPTIONS}"

run_btree btree-buffered buffered "${workload[@]}"
run_btree btree-periodic periodic "${workload[@]}"
run_lmdb lmdb-op-nosync op nosync "${workload[@]}"
run_lmdb lmdb-phase-nosync phase nosync "${workload[@]}"
run_btree btree-always always "${sync_workload[@]}"
run_lmdb lmdb-op-sync op sync "${sync_workload[@]}"

echo
echo "## Unsynced: btree buffered and periodic vs LMDB MDB_NOSYNC, one transaction per write"
echo
table btree-buffered btree-periodic lmdb-op-nosync
echo
echo "## Unsynced: the same vs LMDB MDB_NOSYNC, one transaction per phase"
echo
table btree-buffered btree-periodic lmdb-phase-nosync
echo
echo "## periodic vs buffered (the aim: within 10%)"
echo
table btree-periodic btree-buffered
echo
echo "## Synced: btree always vs LMDB, a synced transaction per write ($SYNC_NUM keys)"
echo
table btree-always lmdb-op-sync
echo
echo "## raw output"
echo
echo '```'
for name in btree-buffered btree-periodic lmdb-op-nosync lmdb-phase-nosync btree-always lmdb-op-sync; do
    echo "--- $name"
    cat "$SCRATCH/$name.txt"
    echo "data files: $(du -sb "$SCRATCH"/$name/bench-* 2>/dev/null | awk '{printf "%s %.1f MB; ", $2, $1 / 1048576}')"
done
echo '```'
