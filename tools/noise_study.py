#!/usr/bin/env python3
"""The label-noise study's section: test R@K per method and caption-noise fraction P.

usage: noise_study.py RUNS_TSV --figure FIG.png [--figure-link PATH] [--maps MAPS.json]
                      [--maps-link PATH] [--title T] [--data D] [--command C] [--commit H]

RUNS_TSV has one line per run: group <TAB> run directory <TAB> extra arguments, with groups
named "METHOD P=<fraction>" (scripts/compare_noise.sh). Prints Markdown: mean ± sample std
of the final test metrics per method and P, the paired difference of every other method to
the first (same P, same seed), and the figure (R@1 against P, one line per method, error
bars: sample std over seeds) written to FIG.png. MAPS.json is embedding_map.py's output for
the maps at one P; its compactness figures go in a table. Ends with plain sentences on what
the numbers show, LICA's failures included (a difference counts as clear where a paired
two-sided t-test over the seeds finds it at 95%).
"""
import argparse
import json
import os
import re
import statistics
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot_runs  # noqa: E402
from summarize_runs import final_test  # noqa: E402

KEYS = ["t2v_r1", "t2v_r5", "t2v_mnr", "v2t_r1", "v2t_r5", "v2t_mnr"]
GROUP = re.compile(r"^(?P<method>.+) P=(?P<p>[0-9.]+)$")


def cell(values):
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def read(runs_tsv):
    """{method: {p: {seed: test record}}} in the order the runs file names them."""
    table = OrderedDict()
    with open(runs_tsv) as f:
        for n, line in enumerate(f, 1):
            group, run_dir = line.rstrip("\n").split("\t")[:2]
            m = GROUP.match(group)
            if not m:
                sys.exit(f"{runs_tsv}:{n}: group '{group}' is not 'METHOD P=<fraction>'")
            seed = run_dir.rsplit("-s", 1)[-1]
            by_p = table.setdefault(m["method"], OrderedDict())
            by_p.setdefault(float(m["p"]), {})[seed] = final_test(run_dir)
    if not table:
        sys.exit(f"{runs_tsv}: no runs")
    return table


# Two-sided 95% critical values of Student's t by degrees of freedom (seeds - 1).
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
       10: 2.23}


def verdict(diffs):
    """'better', 'worse' or 'no clear difference' by a paired two-sided t-test at 95% (one
    seed: never clear)."""
    n = len(diffs)
    if n < 2:
        return "no clear difference"
    mean = statistics.mean(diffs)
    se = statistics.stdev(diffs) / n ** 0.5
    bound = T95.get(n - 1, 2.09 if n <= 21 else 1.96) * se
    if mean > bound:
        return "better"
    if mean < -bound:
        return "worse"
    return "no clear difference"


def reading(table, maps):
    """Plain sentences on what the tables show, from the numbers themselves."""
    methods = list(table)
    base = methods[0]
    ps = list(table[base])
    lines = []

    def mean_of(m, p, key):
        return statistics.mean(r[key] for r in table[m][p].values())

    if len(ps) > 1:
        lines.append(
            f"Caption noise from P = {ps[0]:g} to {ps[-1]:g} costs `{base}` "
            f"{mean_of(base, ps[0], 't2v_r1') - mean_of(base, ps[-1], 't2v_r1'):.1f} points of "
            f"text-to-video R@1 and "
            f"{mean_of(base, ps[0], 'v2t_r1') - mean_of(base, ps[-1], 'v2t_r1'):.1f} of "
            "video-to-text R@1.")
    for m in methods[1:]:
        better, worse, parts = [], [], []
        for p, by_seed in table[m].items():
            ref = table[base].get(p, {})
            pairs = [(r, ref[s]) for s, r in by_seed.items() if s in ref]
            if not pairs:
                continue
            calls = {}
            for key in ("t2v_r1", "v2t_r1"):
                diffs = [r[key] - b[key] for r, b in pairs]
                calls[key] = (statistics.mean(diffs), verdict(diffs))
            parts.append(f"P = {p:g}: {calls['t2v_r1'][0]:+.2f} / {calls['v2t_r1'][0]:+.2f}")
            if all(c[1] == "better" for c in calls.values()):
                better.append(f"{p:g}")
            if any(c[1] == "worse" for c in calls.values()):
                worse.append(f"{p:g}")
        lines.append(f"`{m}` minus `{base}`, paired R@1 text-to-video / video-to-text: "
                     + "; ".join(parts) + ".")
        if better:
            lines.append(f"`{m}` is clearly better in both directions (paired t-test, 95%) "
                         f"at P = {', '.join(better)}.")
        else:
            lines.append(f"At no P is `{m}` clearly better in both directions (paired t-test, "
                         f"95%): on this set it does not make training "
                         f"more robust to caption noise.")
        if worse:
            lines.append(f"It is clearly worse in at least one direction at P = "
                         f"{', '.join(worse)}.")
        else:
            lines.append("Nor is it clearly worse in either direction at any P.")
    if maps and len(maps) >= 2:
        first, second = maps[0], maps[1]
        name = [os.path.splitext(os.path.basename(e["export"]))[0] for e in (first, second)]
        for modality in ("videos", "texts"):
            a = (first.get("compactness") or {}).get(modality) or {}
            b = (second.get("compactness") or {}).get(modality) or {}
            if a.get("gap") is not None and b.get("gap") is not None:
                lines.append(f"Compactness of the {modality} (intra- minus inter-cluster "
                             f"cosine): {a['gap']:.3f} for `{name[0]}`, {b['gap']:.3f} for "
                             f"`{name[1]}`.")
    return " ".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs")
    parser.add_argument("--figure", required=True, help="PNG of R@1 against P")
    parser.add_argument("--figure-link", default=None,
                        help="the figure's path as the section links it")
    parser.add_argument("--maps", default=None, help="embedding_map.py's JSON for the maps")
    parser.add_argument("--maps-link", default=None, help="the maps' PNG as the section links it")
    parser.add_argument("--title", default="Label noise")
    parser.add_argument("--data", default="")
    parser.add_argument("--command", default="")
    parser.add_argument("--commit", default="")
    args = parser.parse_args()
    table = read(args.runs)
    methods = list(table)
    base = methods[0]

    panels = OrderedDict()
    for key, name in (("t2v_r1", "test R@1 text to video"), ("v2t_r1", "test R@1 video to text")):
        panels[name] = OrderedDict(
            (m, OrderedDict((p, [r[key] for r in by_seed.values()])
                            for p, by_seed in table[m].items()))
            for m in methods)
    plot_runs.plot_metric_vs_x(None, args.figure, panels=panels,
                               xlabel="caption noise P (share of training captions re-assigned)")

    print(f"# {args.title}\n")
    if args.command:
        print(f"Reproduce: `{args.command}`"
              + (f" at commit `{args.commit}`" if args.commit else "")
              + (f" (data: `{args.data}`)" if args.data else "") + "\n")
    print("Test split (never noisy), mean ± sample std over seeds; R@K in %, MnR in ranks. "
          "P: the fraction of training captions re-assigned to a random other training video.\n")
    print("| method | P | seeds | " + " | ".join(KEYS) + " |")
    print("|---|---|---|" + "---|" * len(KEYS))
    for m in methods:
        for p, by_seed in table[m].items():
            records = list(by_seed.values())
            print(f"| {m} | {p:g} | {len(records)} | "
                  + " | ".join(cell([r[k] for r in records]) for k in KEYS) + " |")
    print(f"\nPaired difference to `{base}` at the same P on the same seeds (mean ± std of the "
          "per-seed differences; MnR: negative is better).\n")
    print("| method | P | seeds | " + " | ".join("Δ" + k for k in KEYS) + " |")
    print("|---|---|---|" + "---|" * len(KEYS))
    for m in methods[1:]:
        for p, by_seed in table[m].items():
            ref = table[base].get(p, {})
            pairs = [(r, ref[s]) for s, r in by_seed.items() if s in ref]
            if pairs:
                print(f"| {m} | {p:g} | {len(pairs)} | "
                      + " | ".join(cell([r[k] - b[k] for r, b in pairs]) for k in KEYS) + " |")
    print(f"\n![test R@1 against caption noise]({args.figure_link or args.figure})\n")
    maps = None
    if args.maps:
        with open(args.maps) as f:
            maps = json.load(f)["maps"]
        print("Embedding space (test split; cosine on the full embeddings, not the projection):\n")
        print("| export | modality | intra-cluster cos | inter-cluster cos | gap | silhouette |")
        print("|---|---|---|---|---|---|")
        for entry in maps:
            name = os.path.splitext(os.path.basename(entry["export"]))[0]
            for modality, c in (entry.get("compactness") or {}).items():
                if not isinstance(c, dict) or c.get("gap") is None:
                    continue
                sil = "n/a" if c.get("silhouette") is None else f"{c['silhouette']:.3f}"
                print(f"| {name} | {modality} | {c['intra_cluster_cosine']:.3f} "
                      f"| {c['inter_cluster_cosine']:.3f} | {c['gap']:.3f} | {sil} |")
        if args.maps_link:
            print(f"\n![embedding maps]({args.maps_link})\n")
    print("**What it shows** (written by the script from the numbers above): "
          + reading(table, maps) + "\n")


if __name__ == "__main__":
    main()
