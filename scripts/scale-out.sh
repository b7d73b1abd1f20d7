#!/bin/bash
# Scale-out curve on loopback: YCSB workload A (string mapping) against 1, 2 and 4 kvlab serve
# shards (ring://) and against 3- and 6-primary Redis Clusters; throughput and p99 per run.
# Every server is started here on free ports and stopped at the end.
# Usage: scripts/scale-out.sh [path/to/kvlab]      Output: results/scale-out/*.txt, summary on stdout.
set -euo pipefail
KVLAB=${1:-.build/release/kvlab}
OUT=results/scale-out
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$WORK"' EXIT
RECORDS=20000
OPS=${OPS:-200000}
THREADS=${THREADS:-8}
PROPS=(-P workloads/workloada -p recordcount=$RECORDS -p operationcount=$OPS -threads $THREADS --mapping string)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cluster_port() {
  while true; do
    p=$(( (RANDOM % 9000) + 21000 ))
    if python3 -c "import socket; [socket.socket().bind(('127.0.0.1',q)) for q in ($p,$p+10000)]" 2>/dev/null; then echo $p; return; fi
  done
}
summary() { # NAME FILE
  local t p99r p99u
  t=$(grep -o 'Throughput(ops/sec), [0-9.]*' "$2" | awk '{print $2}')
  p99r=$(grep '^\[READ\], 99thPercentileLatency' "$2" | awk -F', ' '{print $3}')
  p99u=$(grep '^\[UPDATE\], 99thPercentileLatency' "$2" | awk -F', ' '{print $3}')
  printf "%-28s %10.0f ops/s   READ p99 %6s us   UPDATE p99 %6s us\n" "$1" "$t" "$p99r" "$p99u"
}

for n in 1 2 4; do
  nodes=()
  for i in $(seq 1 $n); do
    p=$(free_port)
    "$KVLAB" serve --engine hash --port "$p" --threads 1 > /dev/null 2>&1 & PIDS+=($!)
    nodes+=("127.0.0.1:$p")
  done
  sleep 1
  url="ring://$(IFS=,; echo "${nodes[*]}")"
  "$KVLAB" load "${PROPS[@]}" --server "$url" > /dev/null 2>&1
  "$KVLAB" run "${PROPS[@]}" --server "$url" > "$OUT/kvlab-$n-shards.txt" 2>&1
  summary "kvlab serve x$n (ring)" "$OUT/kvlab-$n-shards.txt"
  stop_all
done

for n in 3 6; do
  ports=()
  for i in $(seq 1 $n); do
    p=$(cluster_port); ports+=("$p"); mkdir -p "$WORK/r$p"
    redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/r$p" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 2000 --daemonize no --loglevel warning > /dev/null 2>&1 & PIDS+=($!)
  done
  sleep 1
  redis-cli --cluster create $(for p in "${ports[@]}"; do echo -n "127.0.0.1:$p "; done) --cluster-replicas 0 --cluster-yes > /dev/null 2>&1
  until redis-cli -p "${ports[0]}" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
  sleep 1
  url="redis-cluster://127.0.0.1:${ports[0]}"
  "$KVLAB" load "${PROPS[@]}" --server "$url" > /dev/null 2>&1
  "$KVLAB" run "${PROPS[@]}" --server "$url" > "$OUT/redis-cluster-$n-primaries.txt" 2>&1
  summary "Redis Cluster, $n primaries" "$OUT/redis-cluster-$n-primaries.txt"
  stop_all
done
