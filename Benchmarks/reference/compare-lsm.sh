#!/usr/bin/env bash
# Runs `kvlab bench --engine lsm` and leveldb_bench (LevelDB from Debian's libleveldb-dev) with the
# same workload on disk and prints a Markdown table of ops/sec ratios (kvlab lsm / LevelDB).
#
# Environment (all optional):
#   NUM, KEY_SIZE, VALUE_SIZE, SEED   workload (defaults 1000000, 16, 100, 301)
#   BENCHMARKS                        phases (default fillseq,fillrandom,readrandom,readseq)
#   DB                                scratch directory for both databases (default: a mktemp dir)
#   COMPRESSION                       LevelDB compression, none (default, as kvlab's lsm) or snappy
#   KVLAB                             the kvlab binary (default: build <repo>/.build/release/kvlab)
#   LEVELDB_BENCH                     the reference binary (default: build it with g++ -lleveldb)
# Both programs print `<phase padded to 12> : <micros> micros/op <ops> ops/sec;...` lines.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

source "$here/common.sh"
BENCHMARKS="${BENCHMARKS:-fillseq,fillrandom,readrandom,readseq}"
COMPRESSION="${COMPRESSION:-none}"

build_kvlab
if [[ -z "${LEVELDB_BENCH:-}" ]]; then LEVELDB_BENCH="$(build_reference leveldb_bench "g++ -std=c++17" leveldb_bench.cc -lleveldb)"; fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
DB="${DB:-$scratch/db}"
mkdir -p "$DB"

workload=(--num "$NUM" --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE" --seed "$SEED" --benchmarks "$BENCHMARKS")

phase_rates() {
    awk '$2 == ":" && $1 != "memory" {
        for (i = 3; i <= NF; i++) if ($i == "ops/sec;" || $i == "ops/sec") { print $1, $(i - 1); break }
    }' "$1"
}

echo "running: $KVLAB bench --engine lsm --db $DB/kvlab ${workload[*]}" >&2
rm -rf "$DB/kvlab"
"$KVLAB" bench --engine lsm --db "$DB/kvlab" "${workload[@]}" >"$scratch/kvlab.txt"
kvlab_bytes="$(du -sb "$DB/kvlab" | cut -f1)"
rm -rf "$DB/kvlab"
echo "running: $LEVELDB_BENCH --db $DB/leveldb --compression $COMPRESSION ${workload[*]}" >&2
rm -rf "$DB/leveldb"
"$LEVELDB_BENCH" --db "$DB/leveldb" --compression "$COMPRESSION" "${workload[@]}" >"$scratch/leveldb.txt"
leveldb_bytes="$(du -sb "$DB/leveldb" | cut -f1)"
rm -rf "$DB/leveldb"

echo "# kvlab lsm vs LevelDB"
echo
echo "num=$NUM key-size=$KEY_SIZE value-size=$VALUE_SIZE seed=$SEED benchmarks=$BENCHMARKS; LevelDB compression=$COMPRESSION, both: 4 MiB memtable, 8 MiB block cache, 10-bit bloom filter, unsynced writes"
echo
phase_rates "$scratch/kvlab.txt" >"$scratch/kvlab-rates.txt"
phase_rates "$scratch/leveldb.txt" >"$scratch/leveldb-rates.txt"
awk '
    { if (FILENAME == ARGV[1]) { kvlab[$1] = $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } } else leveldb[$1] = $2 }
    END {
        print "| phase | kvlab lsm ops/s | LevelDB ops/s | ratio (lsm/LevelDB) |"
        print "|---|---:|---:|---:|"
        for (i = 1; i <= n; i++) {
            p = order[i]
            b = (p in leveldb) ? leveldb[p] : "-"
            ratio = (p in leveldb && leveldb[p] + 0 > 0) ? sprintf("%.2f", kvlab[p] / leveldb[p]) : "-"
            printf "| %s | %s | %s | %s |\n", p, kvlab[p], b, ratio
        }
    }' "$scratch/kvlab-rates.txt" "$scratch/leveldb-rates.txt"
echo
echo "- on disk after the run: kvlab lsm $((kvlab_bytes / 1048576)) MiB, LevelDB $((leveldb_bytes / 1048576)) MiB (both fills' databases)"
echo
echo "Raw output, kvlab:"
echo '```'
cat "$scratch/kvlab.txt"
echo '```'
echo "Raw output, LevelDB:"
echo '```'
cat "$scratch/leveldb.txt"
echo '```'
