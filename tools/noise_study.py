#!/usr/bin/env python3
"""The label-noise study's section: test R@K per method and caption-noise fraction P.

usage: noise_study.py RUNS_TSV --figure FIG.png [--figure-link PATH] [--maps MAPS.json]
                      [--maps-link PATH] [--title T] [--data D] [--command C] [--commit H]

RUNS_TSV has one line per run: group <TAB> run directory <TAB> extra arguments, with groups
named "METHOD P=<fraction>" (scripts/compare_noise.sh). Prints Markdown: mean ± sample std
of the final test metrics per method and P, the paired difference of every other method to
the first (same P, same seed), and the figure (R@1 against P, one line per method, error
bars: sample std over seeds) written to FIG.png. MAPS.json is embedding_map.py's output for
the maps at one P; its compactness figures go in a table.
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


if __name__ == "__main__":
    main()
