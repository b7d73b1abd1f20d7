#!/bin/sh
# kvlab load generators on plain machines over ssh: client I of N runs on host I, each writes
# its result file, then the files are fetched and merged exactly (HDR histograms added).
#   examples/xargs-ssh.sh "redis-cluster://10.0.0.10:6379" host1 host2 host3 host4
# Assumes kvlab and its workloads/ in ~/kvlab on every host, and ssh keys set up.
set -eu
SERVER=$1; shift
N=$#
OUT=${OUT:-results/multi}
mkdir -p "$OUT"
WORKLOAD=${WORKLOAD:-workloads/workloada}
PROPS=${PROPS:--p recordcount=1000000 -p operationcount=4000000 -threads 4}

# Load: every client inserts its slice of the records, all at once.
i=0; for h in "$@"; do echo "$i $h"; i=$((i + 1)); done |
  xargs -P "$N" -L 1 sh -c 'ssh "$1" "cd kvlab && ./kvlab load -P '"$WORKLOAD"' '"$PROPS"' --server '"'$SERVER'"' --client $0/'"$N"'"'

# Run: every client does its share of operationcount (and -target), with its own seed.
i=0; for h in "$@"; do echo "$i $h"; i=$((i + 1)); done |
  xargs -P "$N" -L 1 sh -c 'ssh "$1" "cd kvlab && ./kvlab run -P '"$WORKLOAD"' '"$PROPS"' --server '"'$SERVER'"' --client $0/'"$N"' --export json /tmp/kvlab-client-$0.json" > /dev/null &&
                           scp -q "$1:/tmp/kvlab-client-$0.json" '"$OUT"'/client-$0.json'

"${KVLAB:-kvlab}" merge "$OUT"/client-*.json --output "$OUT/merged.json"
