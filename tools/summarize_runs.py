#!/usr/bin/env python3
"""Summarises runs into a Markdown table: mean ± sample std of the final test metrics.

usage: summarize_runs.py RUNS_TSV [--title T] [--data D] [--command C] [--commit H]
RUNS_TSV has one line per run: group <TAB> run directory <TAB> extra arguments.
Each run directory's metrics.jsonl must end with a test evaluation record.
"""
import argparse
import json
import statistics
import sys
from collections import OrderedDict

KEYS = ["t2v_r1", "t2v_r5", "t2v_r10", "t2v_mdr", "t2v_mnr", "v2t_r1", "v2t_r5", "v2t_r10", "v2t_mdr", "v2t_mnr"]


def final_test(run_dir):
    test = None
    with open(f"{run_dir}/metrics.jsonl") as f:
        for line in f:
            record = json.loads(line)
            if record.get("type") == "eval" and record.get("split") == "test":
                test = record
    if test is None:
        sys.exit(f"{run_dir}/metrics.jsonl: no test evaluation record")
    return test


def step_ms(run_dir):
    """Median training step time in ms over the run's train records (None without any)."""
    times = []
    with open(f"{run_dir}/metrics.jsonl") as f:
        for line in f:
            record = json.loads(line)
            if record.get("type") == "train" and "step_s" in record:
                times.append(1000.0 * record["step_s"])
    return statistics.median(times) if times else None


def cell(values):
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs")
    parser.add_argument("--title", default="Results")
    parser.add_argument("--data", default="")
    parser.add_argument("--command", default="")
    parser.add_argument("--commit", default="", help="the commit the runs measured")
    args = parser.parse_args()
    groups = OrderedDict()
    seeds = OrderedDict()
    step_times = OrderedDict()
    with open(args.runs) as f:
        for line in f:
            group, run_dir = line.rstrip("\n").split("\t")[:2]
            groups.setdefault(group, []).append(final_test(run_dir))
            ms = step_ms(run_dir)
            if ms is not None:
                step_times.setdefault(group, []).append(ms)
            seeds.setdefault(group, []).append(run_dir.rsplit("-s", 1)[-1])
    print(f"# {args.title}\n")
    if args.command:
        print(f"Reproduce: `{args.command}`"
              + (f" at commit `{args.commit}`" if args.commit else "")
              + (f" (data: `{args.data}`)" if args.data else "") + "\n")
    print("Test split, mean ± sample std over seeds (trainer.seed); R@K in %, MdR in ranks.\n")
    timed = bool(step_times)
    if timed:
        print("Step: median training step time (ms) of each run, mean ± std over its seeds; "
              "— for rows that only change evaluation.\n")
    print("| run | seeds | " + " | ".join(KEYS) + (" | step (ms)" if timed else "") + " |")
    print("|---|---|" + "---|" * (len(KEYS) + (1 if timed else 0)))
    for group, records in groups.items():
        row = [cell([r[k] for r in records]) for k in KEYS]
        if timed:
            row.append(cell(step_times[group]) if group in step_times else "—")
        print(f"| {group} | {len(records)} | " + " | ".join(row) + " |")
    # Paired differences against the first group (the baseline) on the seeds both ran.
    base_name = next(iter(groups))
    base = dict(zip(seeds[base_name], groups[base_name]))
    print(f"\nPaired difference to `{base_name}` on the same seeds (mean ± std of the "
          "per-seed differences; MdR and MnR: negative is better).\n")
    print("| run | seeds | " + " | ".join("Δ" + k for k in KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for group, records in list(groups.items())[1:]:
        pairs = [(r, base[s]) for s, r in zip(seeds[group], records) if s in base]
        if not pairs:
            continue
        row = [cell([r[k] - b[k] for r, b in pairs]) for k in KEYS]
        print(f"| {group} | {len(pairs)} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
