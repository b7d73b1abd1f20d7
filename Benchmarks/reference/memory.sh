#!/usr/bin/env bash
# Memory per record of kvlab's engines and of std::unordered_map / std::map, with jemalloc and
# with the C library's malloc, and the fragmentation left by an overwrite with changing value
# sizes. Prints Markdown tables (results/memory.md holds a run).
#
# Environment (optional): NUM (default 1000000), ENGINES (default: every engine but null that
# `kvlab engines` lists), JEMALLOC_SO (default /usr/lib/x86_64-linux-gnu/libjemalloc.so.2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/common.sh"
JEMALLOC_SO="${JEMALLOC_SO:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}"

echo "building kvlab with jemalloc (default) and with the C library's malloc..." >&2
(cd "$root" && swift build -c release --product kvlab >&2)
(cd "$root" && swift build -c release --product kvlab --disable-default-traits --scratch-path .build-libc >&2)
build_reference kvbench_std "g++ -std=c++17" kvbench_std.cpp > /dev/null
KVLAB_JE="$root/.build/release/kvlab"
KVLAB_LIBC="$root/.build-libc/release/kvlab"
STD="$here/bin/kvbench_std"
[[ -f "$JEMALLOC_SO" ]] || { echo "missing $JEMALLOC_SO (apt-get install libjemalloc-dev)" >&2; exit 1; }

if [[ -z "${ENGINES:-}" ]]; then
    ENGINES="$("$KVLAB_JE" engines --json | python3 -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin) if e["name"] != "null"))')"
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# "allocated A B/record (...), resident R B/record" of the line after PHASE -> "A R FRAG"
numbers() {
    awk -v phase="$2" '$1 == "memory" && $NF == phase {
        for (i = 1; i <= NF; i++) {
            if ($i == "allocated") a = $(i + 1)
            if ($i == "resident") r = $(i + 1)
            if ($i == "fragmentation") f = $(i + 1)
        }
        print a, r, f
    }' "$1" | tail -1
}

kvlab_run() {  # binary engine benchmarks -> output file
    local binary="$1" engine="$2" benchmarks="$3" out="$4"
    local db=()
    if "$binary" engines --json | python3 -c "import json,sys; sys.exit(0 if any(e['name']=='$engine' and 'persistent' in e['capabilities'] for e in json.load(sys.stdin)) else 1)"; then
        db=(--db "$scratch/$engine")
    fi
    "$binary" bench --engine "$engine" --num "$NUM" --benchmarks "$benchmarks" "${db[@]}" > "$out"
}

echo "## Memory per record after fillrandom ($NUM records, 16-byte keys, 100-byte values; raw 116 B)"
echo
echo "| store | jemalloc allocated B | jemalloc resident B | libc allocated B | libc resident B |"
echo "|---|---:|---:|---:|---:|"
for engine in $ENGINES; do
    kvlab_run "$KVLAB_JE" "$engine" fillrandom "$scratch/je.txt"
    kvlab_run "$KVLAB_LIBC" "$engine" fillrandom "$scratch/libc.txt"
    read -r ja jr _ <<< "$(numbers "$scratch/je.txt" fillrandom)"
    read -r la lr _ <<< "$(numbers "$scratch/libc.txt" fillrandom)"
    echo "| kvlab $engine | $ja | $jr | $la | $lr |"
done
for impl in unordered_map map; do
    LD_PRELOAD="$JEMALLOC_SO" "$STD" --impl "$impl" --num "$NUM" --benchmarks fillrandom > "$scratch/je.txt"
    "$STD" --impl "$impl" --num "$NUM" --benchmarks fillrandom > "$scratch/libc.txt"
    read -r ja jr _ <<< "$(numbers "$scratch/je.txt" fillrandom)"
    read -r la lr _ <<< "$(numbers "$scratch/libc.txt" fillrandom)"
    echo "| std::$impl | $ja | $jr | $la | $lr |"
done

echo
echo "## Fragmentation: fillrandom (100 B), overwrite with 1 KiB values, overwrite with 100 B values"
echo
echo "Command: \`kvlab bench --engine E --num $NUM --benchmarks fillrandom,overwrite:1024,overwrite:100\`."
echo "mem_fragmentation_ratio = process resident set / allocator's allocated bytes, at the end."
echo
echo "| engine | allocator | allocated B/record at end | resident B/record at end | mem_fragmentation_ratio |"
echo "|---|---|---:|---:|---:|"
for engine in $ENGINES; do
    for build in je libc; do
        binary="$KVLAB_JE"; name="jemalloc"
        if [[ $build == libc ]]; then binary="$KVLAB_LIBC"; name="libc malloc"; fi
        kvlab_run "$binary" "$engine" fillrandom,overwrite:1024,overwrite:100 "$scratch/frag.txt"
        read -r a r f <<< "$(numbers "$scratch/frag.txt" overwrite)"
        echo "| $engine | $name | $a | $r | $f |"
    done
done
