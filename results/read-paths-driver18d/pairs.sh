#!/bin/bash
# The interleaved wall-clock/user-CPU runs of results/read-paths-driver18d.md: N rounds of the given binaries.
# usage: pairs.sh N label1 "binary [extra args after run]" ...
cd /work/wt/shard
N=$1; shift; args=("$@")
for i in $(seq 1 $N); do

  for ((j=0; j<${#args[@]}; j+=2)); do
    label=${args[j]}; set -- ${args[j+1]}; bin=$1; shift
    load=$(cut -d' ' -f1 /proc/loadavg)
    out=$( { /usr/bin/time -f "user %U" $bin run -P workloads/workloada --engine null -threads 1 -p operationcount=20000000 "$@" ; } 2>&1 | grep -E "Throughput|^user" | awk '{print $NF}' | tr '\n' ' ')
    echo "$i $label load=$load $out"
  done
done
