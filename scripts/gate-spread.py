#!/usr/bin/env python3
"""Table of candidate timed-gate statistics: spread between identical runs and shift under the planted slowdown.

Reads A-*.json, B-*.json (unchanged) and P-*.json (planted) written by scripts/gate-spread.sh.
Per statistic: the median over A runs, the spread of A/B identical runs (median |A_i/B_i - 1| and the
largest), the planted shift (median P / median A - 1) and the ratio shift / typical spread."""
import glob, json, os, statistics, sys

d = sys.argv[1]
def load(side):
    runs = []
    for path in sorted(glob.glob(os.path.join(d, f"{side}-*.json")), key=lambda p: int(p.rsplit("-", 1)[1][:-5])):
        runs.append(json.load(open(path))["overall"])
    return runs

def quantile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]

CHUNK = 2048
stats = {
    "(a) wall-clock throughput (ops/s)": lambda o: o["throughput"],
    "(b) thread CPU ns/op, whole run": lambda o: o["threadCpuNs"] / o["operations"],
    "(c) thread CPU ns/op, median of 2048-op chunks": lambda o: statistics.median(o["cpuChunkNs"]) / CHUNK,
    "(c') thread CPU ns/op, 10th percentile of chunks": lambda o: quantile(o["cpuChunkNs"], 0.10) / CHUNK,
    "(d) thread CPU ns/op, fastest chunk": lambda o: min(o["cpuChunkNs"]) / CHUNK,
}
A, B, P = load("A"), load("B"), load("P")
n = min(len(A), len(B), len(P))
print(f"{n} rounds of A, B (unchanged) and P (planted), interleaved A B P\n")
print("| statistic | median (A) | identical A/B: median abs diff | largest abs diff | planted shift | shift / median diff |")
print("|---|---:|---:|---:|---:|---:|")
for name, f in stats.items():
    a = [f(o) for o in A[:n]]; b = [f(o) for o in B[:n]]; p = [f(o) for o in P[:n]]
    diffs = [abs(x / y - 1) for x, y in zip(a, b)]
    shift = statistics.median(p) / statistics.median(a) - 1
    typical = statistics.median(diffs)
    print(f"| {name} | {statistics.median(a):,.1f} | {typical * 100:.1f}% | {max(diffs) * 100:.1f}% | {shift * 100:+.1f}% | {abs(shift) / typical if typical else float('inf'):.1f} |")
loads = [float(line.split()[2]) for line in open(os.path.join(d, "loadavg.txt"))]
print(f"\nload average (1 min) during the runs: {min(loads):.1f} to {max(loads):.1f}")
