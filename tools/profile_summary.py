#!/usr/bin/env python3
"""Sums a Chrome trace of LibTorch's or PyTorch's profiler per op name: self time (the op's
duration less that of the ops it called on the same thread), calls, total time; the top rows.

    build/train_bench ... --profile lica.json && python3 tools/profile_summary.py lica.json
    python3 tools/profile_summary.py trace.json --top 30 --steps 6   # ms per step
"""
import argparse
import json
import sys
from collections import defaultdict


def load_events(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    return [e for e in events if e.get("ph") == "X" and "dur" in e]


def self_times(events):
    """{name: [self_us, total_us, calls]}: nesting by start and end on each thread."""
    out = defaultdict(lambda: [0.0, 0.0, 0])
    by_thread = defaultdict(list)
    for e in events:
        by_thread[(e.get("pid"), e.get("tid"))].append(e)
    for thread in by_thread.values():
        thread.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, name, child time]
        def close(until):
            while stack and stack[-1][0] <= until:
                end, name, dur, children = stack.pop()
                out[name][0] += dur - children
                if stack:
                    stack[-1][3] += dur
        for e in thread:
            ts, dur = float(e["ts"]), float(e["dur"])
            close(ts)
            stack.append([ts + dur, e["name"], dur, 0.0])
            out[e["name"]][1] += dur
            out[e["name"]][2] += 1
        close(float("inf"))
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trace")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--steps", type=int, default=1, help="divide the times by this many steps")
    args = p.parse_args(argv)
    times = self_times(load_events(args.trace))
    total = sum(v[0] for v in times.values())
    print(f"{'op':48} {'self ms':>9} {'share':>6} {'total ms':>9} {'calls':>7}")
    for name, (own, whole, calls) in sorted(times.items(), key=lambda kv: -kv[1][0])[: args.top]:
        print(f"{name[:48]:48} {own / 1e3 / args.steps:9.2f} {own / total:6.1%} "
              f"{whole / 1e3 / args.steps:9.2f} {calls / args.steps:7.1f}")
    print(f"{'all':48} {total / 1e3 / args.steps:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
