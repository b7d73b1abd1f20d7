#!/usr/bin/env bash
# Runs `kvlab bench` and kvbench_std with the same workload and prints Markdown tables of ops/sec ratios.
#
# Pairs: kvlab's hash engine vs std::unordered_map, kvlab's skiplist vs std::map.
# Environment (all optional):
#   NUM, KEY_SIZE, VALUE_SIZE, SEED   workload (defaults 1000000, 16, 100, 301)
#   BENCHMARKS                        comma-separated phases, passed as --benchmarks to both sides
#   PAIRS                             space-separated engine:impl pairs (default "hash:unordered_map skiplist:map")
#   KVLAB                             the kvlab binary; when set, it is used as is and not built
#                                     (default: build and use <repo>/.build/release/kvlab)
#   KVBENCH_STD                       the reference binary; when set, it is used as is and not built
# Both programs print one line per phase, `<phase padded to 12> : <micros> micros/op <ops> ops/sec;...`,
# and a `memory       : ...` line; one awk reads both.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

source "$here/common.sh"
PAIRS="${PAIRS:-hash:unordered_map skiplist:map}"

build_kvlab
if [[ -z "${KVBENCH_STD:-}" ]]; then KVBENCH_STD="$(build_reference kvbench_std "g++ -std=c++17" kvbench_std.cpp)"; fi

workload=(--num "$NUM" --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE" --seed "$SEED")
if [[ -n "${BENCHMARKS:-}" ]]; then
    workload+=(--benchmarks "$BENCHMARKS")
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# Prints "phase ops_per_sec" for every phase line of a run's output.
phase_rates() {
    awk '$2 == ":" && $1 != "memory" {
        for (i = 3; i <= NF; i++) if ($i == "ops/sec;" || $i == "ops/sec") { print $1, $(i - 1); break }
    }' "$1"
}

# Prints the text after "memory       : " of a run's output, if any.
memory_line() {
    awk '$1 == "memory" && $2 == ":" { sub(/^memory[ ]*:[ ]*/, ""); print; exit }' "$1"
}

echo "# kvlab vs C++ standard library"
echo
echo "num=$NUM key-size=$KEY_SIZE value-size=$VALUE_SIZE seed=$SEED${BENCHMARKS:+ benchmarks=$BENCHMARKS}"

failures=0
for pair in $PAIRS; do
    engine="${pair%%:*}"
    impl="${pair#*:}"
    kvlab_out="$scratch/kvlab-$engine.txt"
    std_out="$scratch/std-$impl.txt"

    echo "running: $KVLAB bench --engine $engine ${workload[*]}" >&2
    kvlab_status=0
    "$KVLAB" bench --engine "$engine" "${workload[@]}" >"$kvlab_out" 2>"$scratch/kvlab-$engine.err" || kvlab_status=$?
    echo "running: $KVBENCH_STD --impl $impl ${workload[*]}" >&2
    std_status=0
    "$KVBENCH_STD" --impl "$impl" "${workload[@]}" >"$std_out" 2>"$scratch/std-$impl.err" || std_status=$?

    echo
    echo "## kvlab $engine vs std::$impl"
    echo
    if [[ $kvlab_status -ne 0 || $std_status -ne 0 ]]; then
        failures=$((failures + 1))
    fi
    if [[ $kvlab_status -ne 0 ]]; then
        echo "kvlab bench --engine $engine exited with status $kvlab_status: $(head -c 300 "$scratch/kvlab-$engine.err")"
        echo
    fi
    if [[ $std_status -ne 0 ]]; then
        echo "kvbench_std --impl $impl exited with status $std_status: $(head -c 300 "$scratch/std-$impl.err")"
        echo
    fi

    phase_rates "$kvlab_out" >"$scratch/kvlab-rates.txt"
    phase_rates "$std_out" >"$scratch/std-rates.txt"
    if [[ $kvlab_status -eq 0 && ! -s "$scratch/kvlab-rates.txt" ]]; then
        echo "kvlab bench --engine $engine printed no phase lines (is \`kvlab bench\` implemented?)"
        echo
        failures=$((failures + 1))
    fi
    # Rows in phase order (unknown phases last, as they appear); "-" where one side lacks the phase.
    awk -v engine="$engine" -v impl="$impl" '
        BEGIN {
            count = split("fillseq fillrandom overwrite readrandom readseq deleterandom", order, " ")
            for (i = 1; i <= count; i++) seen[order[i]] = 1
        }
        {
            if (!($1 in seen)) { seen[$1] = 1; order[++count] = $1 }
            if (FILENAME == ARGV[1]) kvlab[$1] = $2; else std[$1] = $2
        }
        END {
            printf "| phase | kvlab %s ops/s | std::%s ops/s | ratio (kvlab/std) |\n", engine, impl
            print "|---|---:|---:|---:|"
            for (i = 1; i <= count; i++) {
                p = order[i]
                if (!(p in kvlab) && !(p in std)) continue
                a = (p in kvlab) ? kvlab[p] : "-"
                b = (p in std) ? std[p] : "-"
                ratio = (p in kvlab && p in std && std[p] + 0 > 0) ? sprintf("%.2f", kvlab[p] / std[p]) : "-"
                printf "| %s | %s | %s | %s |\n", p, a, b, ratio
            }
        }' "$scratch/kvlab-rates.txt" "$scratch/std-rates.txt"
    echo
    kvlab_memory="$(memory_line "$kvlab_out")"
    std_memory="$(memory_line "$std_out")"
    echo "- memory, kvlab $engine: ${kvlab_memory:--}"
    echo "- memory, std::$impl: ${std_memory:--}"
done

# Exit status: 1 if any run failed (its table is still printed, with "-" for its side).
[[ $failures -eq 0 ]]
