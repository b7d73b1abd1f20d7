#!/usr/bin/env bash
# Runs `kvlab bench --engine lsm` and leveldb_bench (LevelDB from Debian's libleveldb-dev) with the
# same workload on disk, for each durability mode side by side, and prints Markdown tables of
# ops/sec and ratios.
#
# Runs, in this order, REPEAT times (rounds interleave the programs so drift hits all alike):
#   kvlab lsm durability=periodic (the default) .. BENCHMARKS, NUM ops  vs  LevelDB sync=false
#   kvlab lsm durability=buffered ................ fill phases, NUM ops
#   kvlab lsm durability=always .................. fill phases, SYNC_NUM ops  vs  LevelDB sync=true
# LevelDB's non-sync Put writes each record to its log with write(2) before returning (no fsync):
# the same promise as periodic (a killed process loses nothing), minus the background fsync.
#
# Environment (all optional):
#   NUM, KEY_SIZE, VALUE_SIZE, SEED   workload (defaults 1000000, 16, 100, 301)
#   SYNC_NUM                          operations of the fsync-per-write runs (default 5000)
#   BENCHMARKS                        phases of the periodic/LevelDB run (default fillseq,fillrandom,readrandom,readseq)
#   FILLS                             phases of the mode runs (default fillseq,fillrandom)
#   MODES                             kvlab durability modes to run (default "periodic buffered always")
#   SYNC_INTERVAL                     periodic's sync-interval in ms (default 1000)
#   REPEAT                            rounds (default 1); tables show the median of the rounds
#   DB                                scratch directory for the databases (default: a mktemp dir)
#   COMPRESSION                       LevelDB compression, none (default, as kvlab's lsm) or snappy
#   KVLAB                             the kvlab binary (default: build <repo>/.build/release/kvlab)
#   LEVELDB_BENCH                     the reference binary (default: build it with g++ -lleveldb)
# Both programs print `<phase padded to 12> : <micros> micros/op <ops> ops/sec;...` lines.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

source "$here/common.sh"
BENCHMARKS="${BENCHMARKS:-fillseq,fillrandom,readrandom,readseq}"
FILLS="${FILLS:-fillseq,fillrandom}"
MODES="${MODES:-periodic buffered always}"
SYNC_NUM="${SYNC_NUM:-5000}"
SYNC_INTERVAL="${SYNC_INTERVAL:-1000}"
REPEAT="${REPEAT:-1}"
COMPRESSION="${COMPRESSION:-none}"

build_kvlab
if [[ -z "${LEVELDB_BENCH:-}" ]]; then LEVELDB_BENCH="$(build_reference leveldb_bench "g++ -std=c++17" leveldb_bench.cc -lleveldb)"; fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
DB="${DB:-$scratch/db}"
mkdir -p "$DB"

phase_rates() {
    awk '$2 == ":" && $1 != "memory" {
        for (i = 3; i <= NF; i++) if ($i == "ops/sec;" || $i == "ops/sec") { print $1, $(i - 1); break }
    }' "$1"
}

# run LABEL NUM PHASES COMMAND...: runs one program on a fresh directory, appends
# "LABEL PHASE OPS/S" lines to $scratch/rates.txt and its output to $scratch/raw.txt.
run() {
    local label="$1" num="$2" phases="$3"
    shift 3
    rm -rf "$DB/run"
    echo "running ($label): $* --db $DB/run --num $num --key-size $KEY_SIZE --value-size $VALUE_SIZE --seed $SEED --benchmarks $phases" >&2
    "$@" --db "$DB/run" --num "$num" --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE" --seed "$SEED" --benchmarks "$phases" >"$scratch/out.txt"
    rm -rf "$DB/run"
    phase_rates "$scratch/out.txt" | sed "s/^/$label /" >>"$scratch/rates.txt"
    { echo "--- $label: $*"; cat "$scratch/out.txt"; } >>"$scratch/raw.txt"
}

: >"$scratch/rates.txt"
for round in $(seq 1 "$REPEAT"); do
    for mode in $MODES; do
        case "$mode" in
        periodic)
            run "lsm-periodic" "$NUM" "$BENCHMARKS" "$KVLAB" bench --engine lsm --option durability=periodic --option "sync-interval=$SYNC_INTERVAL"
            run "leveldb" "$NUM" "$BENCHMARKS" "$LEVELDB_BENCH" --compression "$COMPRESSION" --sync false ;;
        buffered)
            run "lsm-buffered" "$NUM" "$FILLS" "$KVLAB" bench --engine lsm --option durability=buffered ;;
        always)
            run "lsm-always" "$SYNC_NUM" "$FILLS" "$KVLAB" bench --engine lsm --option durability=always
            run "leveldb-sync" "$SYNC_NUM" "$FILLS" "$LEVELDB_BENCH" --compression "$COMPRESSION" --sync true ;;
        *) echo "unknown mode '$mode' in MODES (periodic, buffered, always)" >&2; exit 2 ;;
        esac
    done
done

# Median ops/s per (label, phase).
awk '{ key = $1 " " $2; n[key]++; v[key, n[key]] = $3; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
    END {
        for (i = 1; i <= k; i++) {
            key = order[i]; m = n[key]
            for (a = 1; a <= m; a++) x[a] = v[key, a]
            for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (x[b] + 0 < x[a] + 0) { t = x[a]; x[a] = x[b]; x[b] = t }
            med = (m % 2) ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
            all = ""; for (a = 1; a <= m; a++) all = all (a > 1 ? "," : "") v[key, a]
            print key, med, all
        }
    }' "$scratch/rates.txt" >"$scratch/median.txt"

echo "# kvlab lsm vs LevelDB, by durability mode"
echo
echo "num=$NUM (fsync-per-write runs: $SYNC_NUM) key-size=$KEY_SIZE value-size=$VALUE_SIZE seed=$SEED; rounds=$REPEAT (median shown, every round in brackets); LevelDB compression=$COMPRESSION; both: 4 MiB memtable, 8 MiB block cache, 10-bit bloom filter; periodic sync-interval=${SYNC_INTERVAL} ms"
echo
awk '
    { rate[$1, $2] = $3; rounds[$1, $2] = $4; if (!($2 in seenPhase)) { seenPhase[$2] = 1; phases[++np] = $2 } }
    function cell(label, phase) { return ((label, phase) in rate) ? sprintf("%.0f [%s]", rate[label, phase], rounds[label, phase]) : "-" }
    function ratio(a, b, phase) { return ((a, phase) in rate && (b, phase) in rate && rate[b, phase] > 0) ? sprintf("%.2f", rate[a, phase] / rate[b, phase]) : "-" }
    END {
        print "| phase | lsm periodic | lsm buffered | LevelDB (no sync) | periodic / buffered | periodic / LevelDB | lsm always | LevelDB sync | always / LevelDB sync |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= np; i++) {
            p = phases[i]
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p, cell("lsm-periodic", p), cell("lsm-buffered", p), cell("leveldb", p),
                ratio("lsm-periodic", "lsm-buffered", p), ratio("lsm-periodic", "leveldb", p),
                cell("lsm-always", p), cell("leveldb-sync", p), ratio("lsm-always", "leveldb-sync", p)
        }
    }' "$scratch/median.txt"
echo
echo "Raw output:"
echo '```'
cat "$scratch/raw.txt"
echo '```'
