#!/usr/bin/env python3
"""The Results table of docs/performance.md from train_bench's and reference_step.py's JSON
lines: one row per train_bench configuration (B, LICA, form), joined with the reference's
line of the same B and LICA setting.

    python3 tools/bench_table.py train_bench.jsonl [reference_step.jsonl] > table.md
"""
import json
import sys


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def row(line, reference):
    if line.get("oom"):
        return f"| {line['B']} | {line['lica']} | {line['form']} | OOM | | | | | |"
    if "error" in line:
        return f"| {line['B']} | {line['lica']} | {line['form']} | error: {line['error'][:60]} | | | | | |"
    ref = reference.get((line["B"], line["lica"]), {})
    ref_rate = ref.get("samples_per_s")
    if ref.get("oom"):
        ref_text, ratio = "OOM", "—"
    else:
        ref_text = fmt(ref_rate, ".0f")
        ratio = fmt(line["samples_per_s"] / ref_rate if ref_rate else None, ".2f")
    share = fmt(line.get("lica_share") if line["lica"] == "on" else None, ".1%")
    return (f"| {line['B']} | {line['lica']} | {line['form']} | {line['samples_per_s']:.0f} | "
            f"{ref_text} | {ratio} | {share} | {line['peak_gib']:.2f} | "
            f"{fmt(line.get('mfu'), '.1%')} |")


def main(argv):
    if not argv or len(argv) > 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    lines = read(argv[0])
    reference = {(r["B"], r["lica"]): r for r in read(argv[1])} if len(argv) > 1 else {}
    print("| B | LICA | form | lica samples/s | reference samples/s | ratio | LICA share of step "
          "| peak GiB | MFU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for line in lines:
        print(row(line, reference))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
