#!/usr/bin/env python3
"""Plots training runs from their metrics.jsonl: one figure, every run one line per panel.

usage: plot_runs.py RUN_DIR... --out FIG.png [--smooth N] [--title T] [--report]

Panels, against the training step: the total loss, each loss term (loss_*) that is non-zero
in some run, the learning rate, the logit scale, and R@1 text-to-video and video-to-text of
each evaluated split (val after each validation, test at the end). A run is labelled by its
directory's name. Records of a step written twice (a run resumed from an earlier checkpoint)
count once, the later one. --smooth N draws the loss panels as the trailing mean of N
records. Prints what it drew: one line, or with --report a JSON object with the lines of
each panel. Exit 2, naming the file and line, on a missing or malformed metrics.jsonl.

Importable: read_run, plot_runs, final_eval and plot_metric_vs_x (R@1 against a study's x
with error bars over seeds) are the helpers studies use.
"""
import argparse
import json
import math
import os
import statistics
import sys
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

FIGSIZE = (16.0, 12.0)  # inches; with DPI the PNG is 1600 x 1200 pixels whatever it holds
DPI = 100
COLUMNS = 4


class MetricsError(Exception):
    """A metrics.jsonl that cannot be read: the message names the file and line."""


class Run:
    """One run's records: `train` sorted by step, `evals[split]` sorted by step."""

    def __init__(self, run_dir, label, train, evals):
        self.dir = run_dir
        self.label = label
        self.train = train
        self.evals = evals


def _number(value):
    """A JSON number, None (a non-finite value written as null) as NaN."""
    return float("nan") if value is None else float(value)


def read_run(run_dir, label=None):
    """Reads RUN_DIR/metrics.jsonl into a Run; MetricsError on a missing or bad file."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        why = "is not a directory" if not os.path.isdir(run_dir) else "has no metrics.jsonl"
        raise MetricsError(f"{path}: no such file ({run_dir} {why}; expected a run directory "
                           "written by lica_dist_train)")
    train, evals = {}, {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise MetricsError(f"{where}: not a JSON object ({e.msg} at column {e.colno})")
            if not isinstance(record, dict) or record.get("type") not in ("train", "eval"):
                raise MetricsError(f"{where}: expected an object with \"type\": \"train\" or "
                                   "\"eval\"")
            need = ["step", "loss"] if record["type"] == "train" else ["split", "step"]
            for key in need:
                if key not in record:
                    raise MetricsError(f"{where}: {record['type']} record without key \"{key}\"")
            if not isinstance(record["step"], int) or isinstance(record["step"], bool):
                raise MetricsError(f"{where}: step {record['step']!r} is not an integer")
            if record["type"] == "train":
                train[record["step"]] = record  # a repeated step: the later record
            else:
                evals.setdefault(str(record["split"]), {})[record["step"]] = record
    if not train and not evals:
        raise MetricsError(f"{path}: no records, expected train and eval records")
    return Run(run_dir, label or run_name(run_dir),
               [train[s] for s in sorted(train)],
               OrderedDict((split, [e[s] for s in sorted(e)]) for split, e in evals.items()))


def run_name(run_dir):
    return os.path.basename(os.path.normpath(run_dir))


def run_labels(run_dirs):
    """Directory names; where two runs share a name, as many trailing components as tell
    them apart."""
    parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in run_dirs]
    labels = []
    for p in parts:
        n = 1
        while n < len(p) and sum(q[-n:] == p[-n:] for q in parts) > 1:
            n += 1
        labels.append("/".join(p[-n:]))
    return labels


def read_runs(run_dirs):
    return [read_run(d, label) for d, label in zip(run_dirs, run_labels(run_dirs))]


def final_eval(run_dir, split="test"):
    """The last `split` evaluation record of a run (MetricsError when it has none)."""
    run = read_run(run_dir)
    if not run.evals.get(split):
        raise MetricsError(f"{os.path.join(run_dir, 'metrics.jsonl')}: no {split} evaluation "
                           "record")
    return run.evals[split][-1]


def smooth(values, n):
    """Trailing mean over up to n values (NaN ignored)."""
    if n <= 1:
        return list(values)
    out = []
    for i in range(len(values)):
        window = [v for v in values[max(0, i - n + 1):i + 1] if not math.isnan(v)]
        out.append(sum(window) / len(window) if window else float("nan"))
    return out


def _loss_terms(runs):
    """The loss_* keys non-zero (and finite) in some run's train records, first seen first."""
    keys = OrderedDict()
    for run in runs:
        for record in run.train:
            for key, value in record.items():
                if key.startswith("loss_"):
                    nonzero = value is not None and float(value) != 0.0
                    keys[key] = keys.get(key, False) or nonzero
    return [k for k, nonzero in keys.items() if nonzero]


def _panels(runs):
    """(title, ylabel, kind, key): kind 'train' (key of a train record) or 'eval' (split, key)."""
    panels = [("total loss", "loss", "train", "loss")]
    panels += [(key[len("loss_"):] + " loss term", key, "train", key) for key in _loss_terms(runs)]
    panels += [("learning rate", "lr", "train", "lr"), ("logit scale", "logit_scale", "train",
                                                         "logit_scale")]
    splits = []
    for run in runs:
        splits += [s for s in run.evals if s not in splits]
    splits.sort(key=lambda s: (s != "val", s != "test", s))  # val, test, then any other
    for split in splits:
        for direction, words in (("t2v", "text to video"), ("v2t", "video to text")):
            panels.append((f"{split} R@1 {words}", "R@1 (%)", "eval", (split, direction + "_r1")))
    return panels


def _grid(count):
    rows = max(1, math.ceil(count / COLUMNS))
    return rows, min(COLUMNS, count) if count else 1


def plot_runs(runs, out, smooth_n=1, title=None):
    """Draws `runs` (Run objects) into `out` (PNG). Returns a report: the output, its size in
    pixels, the runs and, per panel, how many lines and which runs they are."""
    panels = _panels(runs)
    rows, cols = _grid(len(panels))
    fig = plt.figure(figsize=FIGSIZE, dpi=DPI)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    report_panels = OrderedDict()
    handles = {}
    steps_seen = [rec["step"] for run in runs for rec in run.train]
    steps_seen += [rec["step"] for run in runs for recs in run.evals.values() for rec in recs]
    last_step = max(steps_seen + [1])
    for i, (panel_title, ylabel, kind, key) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        drawn = []
        for r, run in enumerate(runs):
            colour = colours[r % len(colours)]
            if kind == "train":
                records = [rec for rec in run.train if key in rec]
                if not records:
                    continue
                steps = [rec["step"] for rec in records]
                values = [_number(rec[key]) for rec in records]
                if key.startswith("loss"):
                    values = smooth(values, smooth_n)
                (line,) = ax.plot(steps, values, color=colour, label=run.label, linewidth=1.2)
            else:
                split, metric = key
                records = [rec for rec in run.evals.get(split, []) if metric in rec]
                if not records:
                    continue
                (line,) = ax.plot([rec["step"] for rec in records],
                                  [_number(rec[metric]) for rec in records], color=colour,
                                  label=run.label, marker="o", markersize=4, linewidth=1.2)
            handles.setdefault(run.label, line)
            drawn.append(run.label)
        ax.set_title(panel_title + (f" (mean of {smooth_n})" if kind == "train" and
                                    key.startswith("loss") and smooth_n > 1 else ""), fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        ax.set_xlim(0, last_step * 1.03)  # one step axis for every panel (the test at the end)
        if not drawn:
            ax.text(0.5, 0.5, "no records", ha="center", va="center", transform=ax.transAxes,
                    color="grey")
        # What the axes hold, counted from its artists rather than from the loop above.
        lines = [line.get_label() for line in ax.get_lines()]
        report_panels[panel_title] = {"lines": len(lines), "runs": lines}
    labels = [run.label for run in runs if run.label in handles]
    legend_rows = math.ceil(len(labels) / 4) if labels else 0
    legend_h = min(0.3, 0.025 * legend_rows + 0.01)
    if labels:
        fig.legend([handles[l] for l in labels], labels, loc="lower center",
                   ncol=min(4, len(labels)), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=13)
    fig.tight_layout(rect=(0, legend_h, 1, 0.96 if title else 1))
    fig.savefig(out, dpi=DPI)
    width, height = fig.canvas.get_width_height()
    plt.close(fig)
    return OrderedDict([("out", out), ("size_px", [int(width), int(height)]),
                        ("runs", [run.label for run in runs]),
                        ("dirs", [run.dir for run in runs]), ("smooth", smooth_n),
                        ("panels", report_panels)])


def _mean_std(values):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return float("nan"), 0.0
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def plot_metric_vs_x(groups, out, xlabel="x", ylabel="R@1 (%)", title=None, panels=None):
    """A study's figure: a metric against a numeric x, one line per group with error bars.

    groups: {group label: {x: [value per seed, ...]}} drawn as mean ± sample std over the
    values at each x (no bar for a single value); or, for several panels side by side,
    panels: {panel title: groups} (groups is then ignored). Returns a report like plot_runs'
    with, per panel, the lines and their means and stds.
    """
    if panels is None:
        panels = OrderedDict([(title or ylabel, groups)])
        title = None
    n = max(1, len(panels))
    fig = plt.figure(figsize=(6.0 * n, 4.5), dpi=DPI)
    report_panels = OrderedDict()
    for i, (panel_title, panel_groups) in enumerate(panels.items()):
        ax = fig.add_subplot(1, n, i + 1)
        lines = OrderedDict()
        for label, by_x in panel_groups.items():
            xs = sorted(by_x)
            stats = [_mean_std([float(v) for v in by_x[x]]) for x in xs]
            ax.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats], label=label,
                        marker="o", markersize=4, capsize=3, linewidth=1.2)
            lines[label] = {"x": xs, "mean": [m for m, _ in stats], "std": [s for _, s in stats],
                            "n": [len(by_x[x]) for x in xs]}
        ax.set_title(panel_title, fontsize=11)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if lines:
            ax.legend(fontsize=9)
        report_panels[panel_title] = {"lines": len(ax.containers), "groups": lines}
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    width, height = fig.canvas.get_width_height()
    plt.close(fig)
    return OrderedDict([("out", out), ("size_px", [int(width), int(height)]),
                        ("panels", report_panels)])


def _help_text():
    """The module's docstring without its usage paragraph (argparse prints its own)."""
    return "\n\n".join(p for p in __doc__.strip().split("\n\n") if not p.startswith("usage:"))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=_help_text(), formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python3 tools/plot_runs.py runs/base runs/lica --out curves.png "
               "--smooth 5")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (run.dir)")
    parser.add_argument("--out", required=True, metavar="FIG.png", help="PNG to write")
    parser.add_argument("--smooth", type=int, default=1, metavar="N",
                        help="trailing mean over N records in the loss panels (default 1: none)")
    parser.add_argument("--title", default=None, help="figure title")
    parser.add_argument("--report", action="store_true",
                        help="print a JSON report (size, runs, lines per panel) instead of a line")
    args = parser.parse_args(argv)
    if args.smooth < 1:
        parser.error(f"--smooth {args.smooth}: expected N >= 1")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        print(f"plot_runs.py: error: --out {args.out}: directory {out_dir} does not exist",
              file=sys.stderr)
        return 2
    try:
        runs = read_runs(args.runs)
    except MetricsError as e:
        print(f"plot_runs.py: error: {e}", file=sys.stderr)
        return 2
    report = plot_runs(runs, args.out, args.smooth, args.title)
    if args.report:
        print(json.dumps(report, indent=1))
    else:
        w, h = report["size_px"]
        print(f"wrote {args.out} ({w}x{h} px): {len(runs)} runs, {len(report['panels'])} panels: "
              + ", ".join(report["panels"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
