#!/bin/bash
# History recording overhead: the same run with and without --history, alternated, against kvlab serve and in process.
set -u
K=${KVLAB:-.build/release/kvlab}
OUT=${OUT:-/tmp/kvlab-history-overhead}; mkdir -p $OUT
PORT=${PORT:-47311}
OPS=${OPS:-100000}
REPS=${REPS:-3}
$K serve --engine skiplist --port $PORT --threads 2 > $OUT/serve.log 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null' EXIT
sleep 1
$K load -P workloads/workloada -p recordcount=1000 --server redis://127.0.0.1:$PORT -threads 4 > /dev/null 2>&1
for i in $(seq 1 $REPS); do
  for mode in off on; do
    H=""; [ $mode = on ] && H="--history $OUT/net-$i.jsonl"
    t=$($K run -P workloads/workloada -p recordcount=1000 -p operationcount=$OPS -threads 4 --server redis://127.0.0.1:$PORT $H 2>/dev/null | grep 'OVERALL], Throughput' | awk -F', ' '{print $3}')
    echo "serve $mode $i $t"
  done
done
for i in $(seq 1 $REPS); do
  for mode in off on; do
    H=""; [ $mode = on ] && H="--history $OUT/inproc-$i.jsonl"
    t=$($K run -P workloads/workloada -p recordcount=1000 -p operationcount=$((OPS*10)) -threads 2 --engine hash $H 2>/dev/null | grep 'OVERALL], Throughput' | awk -F', ' '{print $3}')
    echo "inproc $mode $i $t"
  done
done
