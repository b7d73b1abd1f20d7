#!/usr/bin/env bash
# CI regression gate in counting mode: instructions and allocations per operation of kvlab's
# in-memory engines against the committed baselines in results/baselines/count-*.json.
#
# Counts repeat exactly for one binary, build configuration and toolchain, so one run per
# engine decides; the limit is --max-count-rise (1%). A change that moves the counts on purpose
# refreshes the baselines with:  scripts/ci-count-gate.sh --update
# Cost: one callgrind run per engine and workload (2 x 2 here), about 10-90 s each.
set -euo pipefail
cd "$(dirname "$0")/.."
KVLAB=${KVLAB:-.build/debug/kvlab}
BASELINES=results/baselines
UPDATE=${1:-}
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
status=0
# hash gates instructions and allocations. skiplist reports instructions (advisory, see below) and its
# allocations (kvlab gate --report-allocations): in three identical counts (debug build, 2026-12-01)
# its instructions per operation agreed to 0.002% (UPDATE 212724.1 / 212724.2 / 212721.4) but its
# malloc calls did not (2608, 2608, 2591 in 1000 operations), and the cause is not found yet; an
# exact allocation gate would report that as a regression. lsm and btree are not gated: not yet
# checked for repeatable counts (lsm's background flush/compaction threads make that unlikely).
for engine in hash skiplist; do
  extra=()
  [[ $engine == skiplist ]] && extra=(--report-allocations)
  for workload in workloada workloadc; do
    name="count-$engine-$workload"
    args=(-P "workloads/$workload" -p recordcount=500 -p operationcount=1000 --engine "$engine")
    if [[ $UPDATE == --update ]]; then
      "$KVLAB" count "${args[@]}" --output "$BASELINES/$name.json"
      continue
    fi
    if [[ ! -f $BASELINES/$name.json ]]; then
      echo "ci-count-gate: missing baseline $BASELINES/$name.json (make it with scripts/ci-count-gate.sh --update)" >&2
      exit 2
    fi
    "$KVLAB" count "${args[@]}" --output "$SCRATCH/$name.json" > /dev/null
    echo "== $engine $workload"
    set +e
    "$KVLAB" gate "${extra[@]}" "$BASELINES/$name.json" -- "$SCRATCH/$name.json"
    rc=$?
    set -e
    # skiplist is advisory: its READ count moved +2.4% between runs of one debug binary hours
    # apart (34,035 -> 33,983 -> 34,861 instr/op, each repeatable at the time; 2026-12-01), so
    # a 1% gate on it would fail CI without a change. Bad input (exit 2) still fails.
    if [[ $engine == skiplist && $rc -eq 1 ]]; then
      echo "ci-count-gate: skiplist $workload reported above, not gated (its counts are not yet repeatable)"
      continue
    fi
    if [[ $rc -ne 0 ]]; then status=$rc; fi
  done
done
exit $status
