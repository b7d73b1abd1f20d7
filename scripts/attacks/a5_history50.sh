#!/bin/bash
# Attack 5: 50-client register history against a replicated kvlab pair, with the primary killed
# and the replica promoted mid-run; then kvlab check it with RSS and time watched.
K=${KVLAB:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/kvlab}; D=$(mktemp -d /tmp/a5-XXXX)
PP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
RP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$K serve --port $PP > $D/p.log 2>&1 & P=$!
$K serve --port $RP --replicaof 127.0.0.1:$PP > $D/r.log 2>&1 & R=$!
sleep 2
$K consistency ${WORKLOAD:-register} --server redis://127.0.0.1:$PP --clients 50 --keys ${KEYS:-3} --duration ${DUR:-8} --history $D/h.jsonl > $D/c.log 2>&1 & C=$!
if [ -z "$NOKILL" ]; then sleep 3; kill -9 $P; redis-cli -p $RP replicaof no one > /dev/null; fi
wait $C; echo "consistency exit $? ; $(wc -l < $D/h.jsonl) history lines"; tail -2 $D/c.log
MODEL=cas-register; [ "${WORKLOAD:-register}" = set ] && MODEL=set
/usr/bin/time -f "check: %e s, max RSS %M KB, exit %x" timeout 300 $K check $D/h.jsonl --model $MODEL ${CHECKARGS} > $D/check.out 2> $D/check.err
tail -1 $D/check.err; grep -v "^$" $D/check.out | head -8
kill -9 $R 2>/dev/null; rm -rf $D
