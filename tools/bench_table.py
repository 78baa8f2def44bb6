#!/usr/bin/env python3
"""The Results table of docs/performance.md from train_bench's and reference_step.py's JSON
lines: one row per train_bench configuration (B, LICA, form), joined with the reference's
line of the same B and LICA setting. With one file, its "bench": "reference_step" lines are
the reference, and a "bench": "loader_bench" line (loader_bench --json) is the data target's. --targets adds the step's speed targets of issue 17, each marked met, NOT met
or not measured.

    python3 tools/bench_table.py [--targets] train_bench.jsonl [reference_step.jsonl] > table.md
"""
import json
import sys


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def ratio_of(line, reference):
    ref = reference.get((line["B"], line["lica"]), {})
    rate = ref.get("samples_per_s")
    if ref.get("oom") or not rate or line.get("oom") or "error" in line:
        return None
    return line["samples_per_s"] / rate


def row(line, reference):
    if line.get("oom"):
        return f"| {line['B']} | {line['lica']} | {line['form']} | OOM | | | | | |"
    if "error" in line:
        return f"| {line['B']} | {line['lica']} | {line['form']} | error: {line['error'][:60]} | | | | | |"
    ref = reference.get((line["B"], line["lica"]), {})
    ref_text = "OOM" if ref.get("oom") else fmt(ref.get("samples_per_s"), ".0f")
    share = fmt(line.get("lica_share") if line["lica"] == "on" else None, ".1%")
    return (f"| {line['B']} | {line['lica']} | {line['form']} | {line['samples_per_s']:.0f} | "
            f"{ref_text} | {fmt(ratio_of(line, reference), '.2f')} | {share} | "
            f"{line['peak_gib']:.2f} | {fmt(line.get('mfu'), '.1%')} |")


def find(lines, batch, lica, form=None):
    for line in lines:
        if line["B"] == batch and line["lica"] == lica and (form is None or line["form"] == form):
            if not line.get("oom") and "error" not in line:
                return line
    return None


def targets(lines, reference, loaders=()):
    """[(target, measured text or None, met)] for issue 17's step targets."""
    out = []

    def check(name, line, value, ok):
        if line is None or value is None:
            out.append((name, None, False))
        else:
            out.append((name, value, ok))

    for batch, goal in ((1024, 1.5), (4096, 1.3), (16384, 1.3)):
        line = find(lines, batch, "off")
        r = ratio_of(line, reference) if line else None
        check(f"LICA off, B = {batch}: >= {goal}x eager", line,
              None if r is None else f"{r:.2f}x", r is not None and r >= goal)
    for batch in sorted({l["B"] for l in lines if l["lica"] == "on"}):
        line = find(lines, batch, "on", "fused")
        r = ratio_of(line, reference) if line else None
        check(f"LICA on (fused), B = {batch}: >= 2x eager", line,
              None if r is None else f"{r:.2f}x", r is not None and r >= 2.0)
    for batch, goal in ((4096, 0.10), (16384, 0.15)):
        line = find(lines, batch, "on", "fused")
        share = line.get("lica_share") if line else None
        check(f"LICA term (fused), B = {batch}: <= {goal:.0%} of the step", line,
              None if share is None else f"{share:.1%}", share is not None and share <= goal)
    line = find(lines, 16384, "off")
    mfu = line.get("mfu") if line else None
    check("MFU, B = 16384, LICA off: >= 25%", line, None if mfu is None else f"{mfu:.1%}",
          mfu is not None and mfu >= 0.25)
    rate = max((l["samples_per_s"] for l in loaders), default=None)
    step = line["samples_per_s"] if line else None
    text = None if rate is None or not step else f"{rate:.0f} samples/s, {rate / step:.2f}x"
    check("data: loader_bench >= 1.5x the B = 16384 step (LICA off)", loaders[0] if loaders else None,
          text, text is not None and rate >= 1.5 * step)
    return out


def main(argv):
    show_targets = "--targets" in argv
    files = [a for a in argv if a != "--targets"]
    if not files or len(files) > 2 or any(a.startswith("-") for a in files):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    lines = read(files[0])
    ref_lines = read(files[1]) if len(files) > 1 else []
    ref_lines += [l for l in lines if l.get("bench") == "reference_step"]
    loaders = [l for l in lines if l.get("bench") == "loader_bench"]
    lines = [l for l in lines if l.get("bench") not in ("reference_step", "loader_bench")]
    reference = {(r["B"], r["lica"]): r for r in ref_lines}
    print("| B | LICA | form | lica samples/s | reference samples/s | ratio | LICA share of step "
          "| peak GiB | MFU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for line in lines:
        print(row(line, reference))
    if show_targets:
        print("\n| target (issue 17) | measured | |")
        print("|---|---|---|")
        for name, value, ok in targets(lines, reference, loaders):
            verdict = "not measured" if value is None else ("met" if ok else "NOT met")
            print(f"| {name} | {value or '—'} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
