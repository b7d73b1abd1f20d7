#!/usr/bin/env python3
# Independent check of kvlab's HdrHistogram interval logs: reads <prefix><SERIES>.hdr with the Python
# HdrHistogram log reader (pip install hdrhistogram) and compares the summed intervals with the run's
# JSON result (--export json): operations, min, max and percentiles in ns must agree.
# Usage: scripts/hdr-log-check.py PREFIX RESULT.json
import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

prefix, result_path = sys.argv[1], sys.argv[2]
result = json.load(open(result_path))
failures = 0
for series in result["series"]:
    name = series["name"]
    reference = HdrHistogram(1, 3_600_000_000_000, 3)
    reader = HistogramLogReader(prefix + name + ".hdr", reference)
    total = HdrHistogram(1, 3_600_000_000_000, 3)
    intervals = 0
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        total.add(h)
        intervals += 1
    checks = {"operations": (total.get_total_count(), series["operations"])}
    for p, ns in series["percentilesNs"].items():
        checks["p" + p] = (total.get_value_at_percentile(float(p)), ns)
    checks["max"] = (total.get_max_value(), series["maxNs"])
    bad = {k: v for k, v in checks.items() if v[0] != v[1]}
    print(f"{name}: {intervals} intervals, " + ", ".join(f"{k} {v[0]}" for k, v in checks.items())
          + ("  MISMATCH " + str(bad) if bad else "  (matches the JSON result)"))
    failures += bool(bad)
sys.exit(1 if failures else 0)
