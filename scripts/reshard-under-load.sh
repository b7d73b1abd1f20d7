#!/bin/bash
# Resharding under load, recorded in results/resharding/: (1) a ring of kvlab serve processes
# grows from 3 to 4 nodes with `kvlab reshard` while `kvlab run` drives it; (2) a 3-primary
# Redis Cluster gets a fourth primary and `redis-cli --cluster reshard` moves 4096 slots to it
# under the same load. Per-second latency/errors come from the driver's -s status lines; lost
# writes are checked afterwards by reading back every key inserted (one sequential read each,
# dataintegrity=true): an acknowledged insert that is gone shows as NOT_FOUND. Load and run are
# also recorded as one history (--history, --history-append) and checked with kvlab check.
# Usage: scripts/reshard-under-load.sh [path/to/kvlab]   (release build recommended)
set -euo pipefail
KVLAB=${1:-.build/release/kvlab}
OUT=results/resharding
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

RECORDS=20000
SECONDS_RUN=${SECONDS_RUN:-24}
LOAD_PROPS=(-P workloads/workloada -p recordcount=$RECORDS -p dataintegrity=true -threads 4 --mapping string)
# Reads, updates and inserts (inserts are the writes whose loss is explicit afterwards).
RUN_PROPS=(-P workloads/workloada -p recordcount=$RECORDS -p operationcount=100000000 -p maxexecutiontime=$SECONDS_RUN
           -p readproportion=0.5 -p updateproportion=0.3 -p insertproportion=0.2 -p requestdistribution=uniform
           -p dataintegrity=true -threads 4 -target 2000 -s -p status.interval=1 --mapping string)

inserted() { grep -o '\[INSERT\], Return=OK, [0-9]*' "$1" | awk '{print $3}'; }
verify() { # URL RESULTFILE LABEL: read back the loaded and inserted keys once each
  local n=$((RECORDS + $(inserted "$2")))
  "$KVLAB" run -P workloads/workloada -p recordcount=$n -p operationcount=$n -p readproportion=1 -p updateproportion=0 \
    -p requestdistribution=sequential -p dataintegrity=true -threads 1 --mapping string --server "$1" \
    > "$OUT/$3-verify.txt" 2>&1
  echo "$3: read back $n keys: $(grep -E '^\[READ\], Return=|^\[VERIFY\], Return=' "$OUT/$3-verify.txt" | tr '\n' ' ')"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- 1. kvlab serve ring: 3 -> 4 nodes --------------------------------------------------
PORTS=(); for i in 0 1 2 3; do PORTS+=("$(free_port)"); done
for p in "${PORTS[@]}"; do "$KVLAB" serve --engine skiplist --port "$p" --threads 1 > "$WORK/serve-$p.log" 2>&1 & PIDS+=($!); done
sleep 1
TOPO="$WORK/ring.topology"
OLD="127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
NEW="$OLD,127.0.0.1:${PORTS[3]}"
URL="ring://$OLD?hash=xxh64&vnodes=160&topology=$TOPO"
echo "== ring of kvlab serve: $OLD, adding 127.0.0.1:${PORTS[3]}"
"$KVLAB" load "${LOAD_PROPS[@]}" --server "$URL" --history "$WORK/ring-history.jsonl" > "$OUT/ring-load.txt" 2>&1
"$KVLAB" run "${RUN_PROPS[@]}" --server "$URL" --history "$WORK/ring-history.jsonl" --history-append \
  --export json "$OUT/ring-run.json" > "$OUT/ring-run.txt" 2> "$OUT/ring-status.txt" &
RUN=$!
sleep 8
date +%s.%N > "$OUT/ring-reshard-start.txt"
"$KVLAB" reshard --from "$URL" --to "$NEW" --grace 1 --json "$OUT/ring-reshard.json" > "$OUT/ring-reshard.txt" 2>&1
date +%s.%N >> "$OUT/ring-reshard-start.txt"
wait $RUN
cat "$OUT/ring-reshard.txt"
for p in "${PORTS[@]}"; do echo "127.0.0.1:$p dbsize $(redis-cli -p "$p" dbsize)"; done | tee "$OUT/ring-dbsize.txt"
verify "ring://$NEW?hash=xxh64&vnodes=160" "$OUT/ring-run.txt" ring
# The recorded history (load + run, every operation with its digest) through the checker.
"$KVLAB" check "$WORK/ring-history.jsonl" > "$OUT/ring-check.txt" 2>&1 || true
echo "ring history: $(tail -1 "$OUT/ring-check.txt")"
gzip -c "$WORK/ring-history.jsonl" > "$OUT/ring-history.jsonl.gz"
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=()

# ---- 2. Redis Cluster: 3 primaries, add a fourth, reshard 4096 slots under load -----------
CPORTS=()
while [ ${#CPORTS[@]} -lt 4 ]; do
  p=$(( (RANDOM % 9000) + 21000 ))
  if python3 -c "import socket,sys; [socket.socket().bind(('127.0.0.1',q)) for q in ($p,$p+10000)]" 2>/dev/null; then CPORTS+=("$p"); fi
done
for p in "${CPORTS[@]}"; do
  mkdir -p "$WORK/r$p"
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/r$p" --cluster-enabled yes \
    --cluster-config-file nodes.conf --cluster-node-timeout 2000 --daemonize no --loglevel warning > /dev/null 2>&1 & PIDS+=($!)
done
sleep 1
redis-cli --cluster create 127.0.0.1:${CPORTS[0]} 127.0.0.1:${CPORTS[1]} 127.0.0.1:${CPORTS[2]} --cluster-replicas 0 --cluster-yes > "$WORK/create.txt" 2>&1
until redis-cli -p "${CPORTS[0]}" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
redis-cli --cluster add-node 127.0.0.1:${CPORTS[3]} 127.0.0.1:${CPORTS[0]} > "$WORK/add.txt" 2>&1
sleep 2
NEWID=$(redis-cli -p "${CPORTS[3]}" cluster myid)
CURL="redis-cluster://127.0.0.1:${CPORTS[0]}"
echo "== Redis Cluster 127.0.0.1:${CPORTS[0]}..${CPORTS[2]}, moving 4096 slots to 127.0.0.1:${CPORTS[3]} ($NEWID)"
"$KVLAB" load "${LOAD_PROPS[@]}" --server "$CURL" --history "$WORK/cluster-history.jsonl" > "$OUT/cluster-load.txt" 2>&1
"$KVLAB" run "${RUN_PROPS[@]}" --server "$CURL" --history "$WORK/cluster-history.jsonl" --history-append \
  --export json "$OUT/cluster-run.json" > "$OUT/cluster-run.txt" 2> "$OUT/cluster-status.txt" &
RUN=$!
sleep 8
date +%s.%N > "$OUT/cluster-reshard-start.txt"
redis-cli --cluster reshard 127.0.0.1:${CPORTS[0]} --cluster-from all --cluster-to "$NEWID" --cluster-slots 4096 --cluster-yes \
  --cluster-pipeline 100 > "$OUT/cluster-reshard.txt" 2>&1
date +%s.%N >> "$OUT/cluster-reshard-start.txt"
wait $RUN
echo "slots moved: $(grep -o "Moving slot [0-9]*" "$OUT/cluster-reshard.txt" | sort -u | wc -l)"
for p in "${CPORTS[@]}"; do echo "127.0.0.1:$p dbsize $(redis-cli -p "$p" dbsize)"; done | tee "$OUT/cluster-dbsize.txt"
verify "$CURL" "$OUT/cluster-run.txt" cluster
"$KVLAB" check "$WORK/cluster-history.jsonl" > "$OUT/cluster-check.txt" 2>&1 || true
echo "cluster history: $(tail -1 "$OUT/cluster-check.txt")"
gzip -c "$WORK/cluster-history.jsonl" > "$OUT/cluster-history.jsonl.gz"
gzip -f "$OUT/cluster-reshard.txt"
