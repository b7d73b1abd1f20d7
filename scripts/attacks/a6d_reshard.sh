#!/bin/bash
# Attack 6d: kvlab reshard to a node that is down; a node killed mid-move; then rerun.
K=${KVLAB:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/kvlab}; D=$(mktemp -d /tmp/a6d-XXXX)
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
A=$(port); B=$(port); C=$(port); X=$(port)
for p in $A $B $C; do $K serve --port $p > $D/$p.log 2>&1 & echo $! > $D/$p.pid; done
sleep 2
URL="ring://127.0.0.1:$A,127.0.0.1:$B?topology=$D/ring.topo"
$K load -P workloads/workloada -p recordcount=20000 --mapping string --server "$URL" -threads 4 > $D/load.out 2>&1; grep -a "Return=OK\|Return=ERROR" $D/load.out | head -2
echo "== to a node that is down ($X)"; timeout 120 $K reshard --from "$URL" --to 127.0.0.1:$A,127.0.0.1:$B,127.0.0.1:$X --grace 0.2 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"; cat $D/ring.topo 2>/dev/null | head -3
echo "== kill the new node mid-move"
( sleep 1.5; kill -9 $(cat $D/$C.pid) ) &
timeout 120 $K reshard --from "$URL" --to 127.0.0.1:$A,127.0.0.1:$B,127.0.0.1:$C --grace 0.5 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"; head -3 $D/ring.topo
echo "== restart it and rerun"
$K serve --port $C > $D/$C.log 2>&1 & echo $! > $D/$C.pid; sleep 2
timeout 120 $K reshard --from "$URL" --to 127.0.0.1:$A,127.0.0.1:$B,127.0.0.1:$C --grace 0.2 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"; head -3 $D/ring.topo
echo "== keys per node (20000 expected in total)"; t=0; for p in $A $B $C; do n=$(redis-cli -p $p dbsize); echo "$p: $n"; t=$((t+n)); done; echo "total $t"
for p in $A $B $C; do kill -9 $(cat $D/$p.pid) 2>/dev/null; done; rm -rf $D
