#!/usr/bin/env bash
# Runs `kvlab bench --engine btree` and lmdb_bench (LMDB, Debian liblmdb-dev) with the same
# workload, in the same run, and prints Markdown tables of ops/sec ratios (btree / LMDB).
#
# LMDB runs with MDB_NOSYNC twice: one transaction per write (--txn op, the analogue of kvlab's
# one atomic, visible write per call) and one transaction per phase (--txn phase). Both sides
# get a fresh database directory per fill; see lmdb_bench.c for the details.
# Environment (all optional):
#   NUM, KEY_SIZE, VALUE_SIZE, SEED   workload (defaults 1000000, 16, 100, 301)
#   BENCHMARKS                        phases (default fillseq,fillrandom,readrandom,readseq)
#   BTREE_OPTIONS                     extra `--option name=value` words for kvlab (e.g. "--option commit-size=16M")
#   KVLAB, LMDB_BENCH                 binaries to use as they are (default: build them)
#   SCRATCH                           directory for the databases (default: a fresh mktemp -d, removed after)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

source "$here/common.sh"
BENCHMARKS="${BENCHMARKS:-fillseq,fillrandom,readrandom,readseq}"
BTREE_OPTIONS="${BTREE_OPTIONS:-}"

build_kvlab
if [[ -z "${LMDB_BENCH:-}" ]]; then LMDB_BENCH="$(build_reference lmdb_bench "cc" lmdb_bench.c -llmdb)"; fi

if [[ -z "${SCRATCH:-}" ]]; then
    SCRATCH="$(mktemp -d)"
    trap 'rm -rf "$SCRATCH"' EXIT
fi
workload=(--num "$NUM" --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE" --seed "$SEED" --benchmarks "$BENCHMARKS")

phase_rates() {
    awk '$2 == ":" && $1 != "memory" {
        for (i = 3; i <= NF; i++) if ($i == "ops/sec;" || $i == "ops/sec") { print $1, $(i - 1); break }
    }' "$1"
}

table() {  # table LEFT_NAME LEFT_RATES RIGHT_NAME RIGHT_RATES
    awk -v left="$1" -v right="$3" '
        BEGIN { count = split("fillseq fillrandom overwrite readrandom readseq deleterandom", order, " ")
                for (i = 1; i <= count; i++) seen[order[i]] = 1 }
        { if (!($1 in seen)) { seen[$1] = 1; order[++count] = $1 }
          if (FILENAME == ARGV[1]) a[$1] = $2; else b[$1] = $2 }
        END {
            printf "| phase | %s ops/s | %s ops/s | ratio (btree/LMDB) |\n", left, right
            print "|---|---:|---:|---:|"
            for (i = 1; i <= count; i++) { p = order[i]
                if (!(p in a) && !(p in b)) continue
                ratio = (p in a && p in b && b[p] + 0 > 0) ? sprintf("%.2f", a[p] / b[p]) : "-"
                printf "| %s | %s | %s | %s |\n", p, (p in a) ? a[p] : "-", (p in b) ? b[p] : "-", ratio }
        }' "$2" "$4"
}

echo "# kvlab btree vs LMDB"
echo
echo "num=$NUM key-size=$KEY_SIZE value-size=$VALUE_SIZE seed=$SEED benchmarks=$BENCHMARKS ${BTREE_OPTIONS:+btree options: $BTREE_OPTIONS}"

# shellcheck disable=SC2086
echo "running: $KVLAB bench --engine btree --db $SCRATCH/btree $BTREE_OPTIONS ${workload[*]}" >&2
"$KVLAB" bench --engine btree --db "$SCRATCH/btree" $BTREE_OPTIONS "${workload[@]}" >"$SCRATCH/btree.txt"
sizes_btree="$(du -sb "$SCRATCH"/btree/bench-* | awk '{printf "%s %.1f MB; ", $2, $1 / 1048576}')"
for txn in op phase; do
    echo "running: $LMDB_BENCH --db $SCRATCH/lmdb-$txn --txn $txn ${workload[*]}" >&2
    "$LMDB_BENCH" --db "$SCRATCH/lmdb-$txn" --txn "$txn" "${workload[@]}" >"$SCRATCH/lmdb-$txn.txt"
done

phase_rates "$SCRATCH/btree.txt" >"$SCRATCH/btree-rates.txt"
for txn in op phase; do
    phase_rates "$SCRATCH/lmdb-$txn.txt" >"$SCRATCH/lmdb-$txn-rates.txt"
    echo
    echo "## btree vs LMDB (MDB_NOSYNC, one transaction per $txn)"
    echo
    table "btree" "$SCRATCH/btree-rates.txt" "LMDB txn=$txn" "$SCRATCH/lmdb-$txn-rates.txt"
done
echo
echo "## raw output"
echo
echo '```'
cat "$SCRATCH/btree.txt"
echo "data files: $sizes_btree"
for txn in op phase; do
    cat "$SCRATCH/lmdb-$txn.txt"
    echo "data files: $(du -sb "$SCRATCH"/lmdb-$txn/bench-* | awk '{printf "%s %.1f MB; ", $2, $1 / 1048576}')"
done
echo '```'
