#!/usr/bin/env python3
# What whole-microsecond recording (kvlab before ns recording: round(ns / 1000) into a µs histogram) makes
# of a run's latencies, next to the nanosecond histogram itself. Reads a version-2 result file (--export json).
# Usage: scripts/latency-resolution.py RESULT.json [SERIES]
import json
import math
import sys

from hdrh.histogram import HdrHistogram

result = json.load(open(sys.argv[1]))
wanted = sys.argv[2] if len(sys.argv) > 2 else "READ"
series = next(s for s in result["series"] if s["name"] == wanted)
h = HdrHistogram.decode(series["histogram"])
total = h.get_total_count()
micros = {}
for item in h.get_recorded_iterator():
    v = h.get_lowest_equivalent_value(item.value_iterated_to)
    us = v // 1000 + (1 if v % 1000 >= 500 else 0)
    micros[us] = micros.get(us, 0) + item.count_at_value_iterated_to


def percentile(counts, p):
    target = max(1, math.ceil(p / 100 * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= target:
            return value


print(f"{wanted}: {total} operations")
print(f"  ns histogram: p50 {h.get_value_at_percentile(50)} ns, p90 {h.get_value_at_percentile(90)} ns, "
      f"p99 {h.get_value_at_percentile(99)} ns, p99.9 {h.get_value_at_percentile(99.9)} ns, "
      f"distinct recorded values {sum(1 for _ in h.get_recorded_iterator())}")
print(f"  as whole µs (old recording): p50 {percentile(micros, 50)} µs, p90 {percentile(micros, 90)} µs, "
      f"p99 {percentile(micros, 99)} µs, p99.9 {percentile(micros, 99.9)} µs, distinct values {len(micros)}")
for us in sorted(micros)[:4]:
    print(f"  {us} µs bucket: {micros[us]} ops ({100.0 * micros[us] / total:.1f}%)")
