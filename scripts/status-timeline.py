#!/usr/bin/env python3
"""Per-second table from kvlab's -s status lines (stderr of `kvlab run -s -p status.interval=1`).

Prints, per interval: seconds, operations completed in the interval (the sum of the series' counts), and for READ/UPDATE/INSERT the count, p99 and max (µs),
plus every *-FAILED series' count (errors). With --mark FILE (two Unix times, start and end of
a reshard, one per line) the intervals that overlap the move are marked with '*'.
Usage: scripts/status-timeline.py STATUS.txt [--mark START_END.txt]
"""
import re, sys, datetime

def main():
    path = sys.argv[1]
    marks = None
    if '--mark' in sys.argv:
        lines = open(sys.argv[sys.argv.index('--mark') + 1]).read().split()
        marks = (float(lines[0]), float(lines[1]))
    rows = []
    for line in open(path):
        m = re.match(r'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d):(\d{3}) (\d+) sec: (\d+) operations; ([\d.]+) current ops/sec', line)
        if not m:
            continue
        wall = datetime.datetime.strptime(m.group(1), '%Y-%m-%d %H:%M:%S').timestamp() + int(m.group(2)) / 1000
        series = dict()
        for name, body in re.findall(r'\[([A-Z-]+): ([^\]]*)\]', line):
            fields = dict(kv.split('=') for kv in body.split(', '))
            series[name] = fields
        rows.append((wall, int(m.group(3)), float(m.group(5)), series))
    head = f"{'sec':>4} {'ops':>8} " + " ".join(f"{op + ' n':>9} {'p99':>7} {'max':>7}" for op in ('READ', 'UPDATE', 'INSERT')) + "  errors"
    print(head)
    for wall, sec, ops, series in rows:
        cells = []
        for op in ('READ', 'UPDATE', 'INSERT'):
            s = series.get(op, {})
            cells.append(f"{s.get('Count', '0'):>9} {s.get('99', '-'):>7} {s.get('Max', '-'):>7}")
        errors = sum(int(v.get('Count', 0)) for k, v in series.items() if k.endswith('-FAILED'))
        mark = ''
        if marks and wall - 1 <= marks[1] and wall >= marks[0]:
            mark = '  * moving'
        done = sum(int(series.get(op, {}).get('Count', 0)) for op in ('READ', 'UPDATE', 'INSERT', 'SCAN', 'READ-MODIFY-WRITE', 'DELETE'))
        print(f"{sec:>4} {done:>8} " + " ".join(cells) + f"  {errors:>6}{mark}")

main()
