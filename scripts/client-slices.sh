#!/bin/bash
# One kvlab run process with 4 threads, twice (the run-to-run noise), against 4 processes
# `--client i/4` with 1 thread each, merged with `kvlab merge`: same server, same total work.
# Usage: scripts/client-slices.sh [path/to/kvlab]       Output: results/client-slices/
set -euo pipefail
KVLAB=${1:-.build/release/kvlab}
OUT=results/client-slices
mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$KVLAB" serve --engine hash --port "$PORT" --threads 2 > /dev/null 2>&1 & SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 1
URL="redis://127.0.0.1:$PORT"
P=(-P workloads/workloada -p recordcount=100000 -p operationcount=${OPS:-400000} --mapping string --server "$URL")
pids=()
for i in 0 1 2 3; do "$KVLAB" load "${P[@]}" -threads 1 --client $i/4 > "$OUT/load-$i.txt" 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
echo "records after 4 sliced loads: $(redis-cli -p "$PORT" dbsize)" | tee "$OUT/summary.txt"
for r in 1 2; do
  "$KVLAB" run "${P[@]}" -threads 4 --export json "$OUT/single-$r.json" > "$OUT/single-$r.txt" 2>&1
  pids=()
  for i in 0 1 2 3; do "$KVLAB" run "${P[@]}" -threads 1 --client $i/4 --export json "$OUT/client-$r-$i.json" > "$OUT/client-$r-$i.txt" 2>&1 & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  "$KVLAB" merge "$OUT"/client-$r-*.json --output "$OUT/merged-$r.json" --percentiles 50,95,99,99.9 > "$OUT/merged-$r.txt"
done
for f in single-1 single-2 merged-1 merged-2; do
  file="$OUT/$f.txt"
  [ "$f" = single-1 ] || [ "$f" = single-2 ] && "$KVLAB" merge "$OUT/$f.json" --percentiles 50,95,99,99.9 > "$file.p" && file="$file.p"
  ops=$(grep -E '^\[(READ|UPDATE)\], Operations' "$file" | awk -F', ' '{s+=$3} END {print s}')
  printf "%-9s ops %7d  %s  READ p50/p95/p99/p99.9 %s  UPDATE %s\n" "$f" "$ops" \
    "$(grep -o 'Throughput(ops/sec), [0-9.]*' "$file" | awk '{printf "%.0f ops/s", $2}')" \
    "$(grep -E '^\[READ\], (50|95|99|99\.9)(th)?PercentileLatency' "$file" | awk -F', ' '{printf "%s/", $3}')" \
    "$(grep -E '^\[UPDATE\], (50|95|99|99\.9)(th)?PercentileLatency' "$file" | awk -F', ' '{printf "%s/", $3}')" | tee -a "$OUT/summary.txt"
done
