#!/bin/bash
# Attack 6: interrupt `kvlab chaos` with SIGINT/SIGTERM at a moment; no orphan process may remain.
K=${KVLAB:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/kvlab}; EXP=${EXP:-$(cd "$(dirname "$0")/../.." && pwd)/experiments/short-smoke.experiment}
SIG=${1:-INT}; DELAY=${2:-3}; OUT=$(mktemp -d /tmp/a6-out-XXXX); RUN=$OUT/run
setsid $K chaos $EXP --output $OUT --run-directory $RUN > $OUT/stdout 2> $OUT/stderr &
PID=$!
sleep $DELAY
echo "children before SIG$SIG: $(pgrep -s $PID | wc -l)"
kill -$SIG $PID
for i in $(seq 50); do kill -0 $PID 2>/dev/null || break; sleep 0.2; done
kill -0 $PID 2>/dev/null && echo "!!! chaos still running 10 s after SIG$SIG"
sleep 1
left=$(pgrep -s $PID)
if [ -n "$left" ]; then echo "!!! ORPHANS:"; ps -o pid,ppid,stat,cmd -p $(echo $left | tr ' ' ','); else echo "no orphans"; fi
echo "stderr tail:"; tail -2 $OUT/stderr
