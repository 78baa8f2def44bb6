#!/usr/bin/env python3
"""Maps exported embeddings to 2-D and measures how compact the clusters are.

usage: embedding_map.py EXPORT.h5 [--labels FEATURES.h5] [--method tsne|pca] [--max-points N]
                        [--seed S] [--compare EXPORT2.h5] [--threads N] --out MAP.png

EXPORT.h5 is an embedding file of `lica_eval --export` (docs/search.md). Videos and captions
are L2-normalised (the model's cosine space) and projected together to 2-D, by t-SNE
(scikit-learn, cosine metric) or PCA, on at most --max-points of them drawn with --seed.
With --labels (the feature file the export came from, holding /videos/cluster as
lica_make_synthetic writes it) every point is coloured by its cluster, a caption by the
cluster of its video (/texts/true_video when the file has label noise, else /texts/video);
the marker tells the modality (circle video, triangle caption). --compare draws a second
export beside the first, projected the same way. --threads (default 1) caps the OpenMP and
BLAS threads: scikit-learn's t-SNE slows down several-fold when its threads meet a busy CPU.

Prints a JSON object: per export and modality, on the full embeddings (not the projection),
the mean cosine of pairs in one cluster and of pairs in different clusters, their gap, and
the silhouette score (cosine metric; on a seeded sample of --silhouette-max rows when there
are more, which the JSON says). Without --labels there are no clusters: one colour, no
figures. Exit 2, naming the file and dataset, on a missing or malformed input.
"""
import argparse
import json
import os
import sys
from collections import OrderedDict

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

DPI = 100
PANEL_SIZE = (8.0, 7.0)  # inches per export; the PNG is (800 * exports) x 700 pixels


class InputError(Exception):
    """A bad input: the message names the file and dataset."""


def _strings(dataset):
    return [s.decode() if isinstance(s, bytes) else str(s) for s in dataset[()]]


def read_export(path):
    """The export's sections: {'videos': {'emb', 'index', 'ids'}, 'texts': {..., 'video'}}."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path}: not an HDF5 file ({e})")
    with f:
        if "lica_embeddings" not in f.attrs:
            raise InputError(f"{path}: attribute lica_embeddings is missing, not a lica embedding "
                             "file (lica_eval --export writes them)")
        out = OrderedDict()
        for group, extra in (("videos", []), ("texts", ["video"])):
            if group not in f:
                continue
            section = {}
            for name in ["embeddings", "index", "ids"] + extra:
                key = f"/{group}/{name}"
                if key not in f or not isinstance(f[key], h5py.Dataset):
                    raise InputError(f"{path}: {key} is missing or is not a dataset")
            emb = f[f"/{group}/embeddings"][()]
            if emb.ndim != 2 or not np.issubdtype(emb.dtype, np.floating):
                raise InputError(f"{path}: dataset /{group}/embeddings has shape {list(emb.shape)} "
                                 f"and type {emb.dtype}, expected float [N, D]")
            if not np.isfinite(emb).all():
                raise InputError(f"{path}: dataset /{group}/embeddings holds non-finite values")
            section["emb"] = emb.astype(np.float64)
            section["index"] = f[f"/{group}/index"][()].astype(np.int64)
            section["ids"] = _strings(f[f"/{group}/ids"])
            if group == "texts":
                section["video"] = f["/texts/video"][()].astype(np.int64)
            for name in ("index", "ids") + (("video",) if group == "texts" else ()):
                if len(section[name]) != len(emb):
                    raise InputError(f"{path}: dataset /{group}/{name} has {len(section[name])} "
                                     f"rows, expected {len(emb)} (as /{group}/embeddings)")
            out[group] = section
        if not out:
            raise InputError(f"{path}: neither /videos nor /texts, expected embeddings")
        return out


def read_labels(path):
    """The feature file's clusters: (cluster of each video row, video row of each caption row
    (its true video under label noise), which dataset gave the latter, video ids or None)."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path}: not an HDF5 file ({e})")
    with f:
        if "/videos/cluster" not in f:
            raise InputError(f"{path}: /videos/cluster is missing (lica_make_synthetic writes it); "
                             "run without --labels for a map without clusters")
        cluster = f["/videos/cluster"][()].astype(np.int64)
        text_video_name = "/texts/true_video" if "/texts/true_video" in f else "/texts/video"
        if text_video_name not in f:
            raise InputError(f"{path}: {text_video_name} is missing, expected a feature file "
                             "(docs/data.md)")
        text_video = f[text_video_name][()].astype(np.int64)
        ids = _strings(f["/videos/ids"]) if "/videos/ids" in f else None
    if ((text_video < 0) | (text_video >= len(cluster))).any():
        raise InputError(f"{path}: {text_video_name} has rows outside /videos/cluster's "
                         f"{len(cluster)} videos")
    return cluster, text_video, text_video_name, ids


def clusters_of(export_path, export, labels_path, labels):
    """Cluster of every exported video and caption, through /videos/index and /texts/index."""
    cluster, text_video, _, ids = labels
    out = {}
    for group, section in export.items():
        rows = section["index"]
        limit = len(cluster) if group == "videos" else len(text_video)
        bad = np.nonzero((rows < 0) | (rows >= limit))[0]
        if len(bad):
            raise InputError(f"{export_path}: /{group}/index, row {bad[0]}: value "
                             f"{rows[bad[0]]} is not a row of {labels_path} ({limit} {group}); "
                             "is it the feature file the export came from?")
        if group == "videos":
            if ids is not None:
                for i, (row, name) in enumerate(zip(rows, section["ids"])):
                    if ids[row] != name:
                        raise InputError(f"{export_path}: /videos/ids, row {i}: '{name}', but "
                                         f"{labels_path} row {row} is '{ids[row]}'; is it the "
                                         "feature file the export came from?")
            out[group] = cluster[rows]
        else:
            out[group] = cluster[text_video[rows]]
    return out


def normalise(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cosine_compactness(emb, labels):
    """Mean cosine over ordered pairs i != j of one cluster and of different clusters, exact,
    from per-cluster sums: sum over pairs in cluster k = |S_k|^2 - n_k (unit rows)."""
    e = normalise(emb)
    n = len(e)
    total = float(np.dot(e.sum(0), e.sum(0))) - n
    same_sum, same_pairs = 0.0, 0
    for k in np.unique(labels):
        members = e[labels == k]
        s = members.sum(0)
        same_sum += float(np.dot(s, s)) - len(members)
        same_pairs += len(members) * (len(members) - 1)
    other_pairs = n * (n - 1) - same_pairs
    intra = same_sum / same_pairs if same_pairs else None
    inter = (total - same_sum) / other_pairs if other_pairs else None
    return intra, inter


def compactness(emb, labels, seed, silhouette_max):
    """The figures of one modality on its full embeddings."""
    from sklearn.metrics import silhouette_score

    intra, inter = cosine_compactness(emb, labels)
    clusters = len(np.unique(labels))
    out = OrderedDict([("n", int(len(emb))), ("clusters", clusters),
                       ("intra_cluster_cosine", intra), ("inter_cluster_cosine", inter),
                       ("gap", intra - inter if intra is not None and inter is not None else None)])
    if 2 <= clusters <= len(emb) - 1:
        sample = min(len(emb), silhouette_max)
        out["silhouette"] = float(silhouette_score(
            normalise(emb), labels, metric="cosine",
            sample_size=sample if sample < len(emb) else None, random_state=seed))
        out["silhouette_sample"] = sample
        out["silhouette_subsampled"] = sample < len(emb)
    else:
        out["silhouette"] = None
        out["silhouette_note"] = f"needs 2..n-1 clusters, has {clusters} for {len(emb)} rows"
    return out


def project(points, method, seed):
    """[n, D] unit rows to [n, 2]."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(points)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(points) - 1) / 3.0)))
    return TSNE(n_components=2, metric="cosine", init="pca", learning_rate="auto",
                perplexity=perplexity, random_state=seed).fit_transform(points)


def cluster_colours(label, all_clusters):
    """RGBA per point: distinct colours (tab10, tab20) up to 20 clusters, else a colour ramp;
    the colour of a cluster depends only on its rank among all the feature file's clusters,
    so it is the same in every panel."""
    ids = np.unique(all_clusters)
    rank = np.searchsorted(ids, label)
    if len(ids) <= 10:
        return plt.get_cmap("tab10")(rank)
    if len(ids) <= 20:
        return plt.get_cmap("tab20")(rank)
    return plt.get_cmap("turbo")(rank / (len(ids) - 1))


def draw_map(ax, export, clusters, all_clusters, method, max_points, seed, title):
    """Projects a sample of at most max_points videos and captions of one export into `ax`.
    Returns the number of points of each modality drawn."""
    groups = list(export)
    emb = np.concatenate([normalise(export[g]["emb"]) for g in groups])
    modality = np.concatenate([np.full(len(export[g]["emb"]), i) for i, g in enumerate(groups)])
    label = np.concatenate([clusters[g] for g in groups]) if clusters else None
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(emb), size=min(max_points, len(emb)), replace=False))
    xy = project(emb[chosen], method, seed)
    drawn = OrderedDict()
    markers = {"videos": "o", "texts": "^"}
    for i, g in enumerate(groups):
        sel = modality[chosen] == i
        kwargs = dict(marker=markers[g], s=14, alpha=0.75, linewidths=0)
        if clusters:
            ax.scatter(xy[sel, 0], xy[sel, 1], c=cluster_colours(label[chosen][sel], all_clusters),
                       **kwargs)
        else:
            ax.scatter(xy[sel, 0], xy[sel, 1], color="tab:blue", **kwargs)
        drawn[g] = int(sel.sum())
    handles = [plt.Line2D([], [], marker=markers[g], linestyle="", color="grey",
                          label=f"{'video' if g == 'videos' else 'caption'} ({drawn[g]})")
               for g in groups]
    ax.legend(handles=handles, loc="best", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return drawn


def draw(args, paths, exports, labels, clusters):
    """The figure and the report of main()."""
    fig = plt.figure(figsize=(PANEL_SIZE[0] * len(paths), PANEL_SIZE[1]), dpi=DPI)
    maps = []
    for i, (path, export, cl) in enumerate(zip(paths, exports, clusters)):
        ax = fig.add_subplot(1, len(paths), i + 1)
        entry = OrderedDict([("export", path)])
        title = os.path.basename(path) + f" ({args.method}"
        if cl:
            k = len(np.unique(np.concatenate(list(cl.values()))))
            title += f", colour: cluster of {k})"
            entry["compactness"] = OrderedDict(
                (g, compactness(export[g]["emb"], cl[g], args.seed, args.silhouette_max))
                for g in export)
            gaps = "  ".join(f"{g}: gap {c['gap']:.3f} silhouette "
                             + ("n/a" if c["silhouette"] is None else f"{c['silhouette']:.3f}")
                             for g, c in entry["compactness"].items() if c["gap"] is not None)
            if gaps:
                title += "\n" + gaps
        else:
            title += ", no clusters)"
            entry["compactness"] = None
        entry["points_drawn"] = draw_map(ax, export, cl, labels[0] if labels else None,
                                         args.method, args.max_points, args.seed, title)
        maps.append(entry)
    fig.tight_layout()
    fig.savefig(args.out, dpi=DPI)
    width, height = fig.canvas.get_width_height()
    plt.close(fig)
    report = OrderedDict([("out", args.out), ("size_px", [int(width), int(height)]),
                          ("method", args.method), ("seed", args.seed),
                          ("max_points", args.max_points), ("labels", args.labels)])
    if labels:
        report["text_cluster_from"] = labels[2]
        report["figures_on"] = ("full L2-normalised embeddings, not the projection; cosines are "
                                "means over ordered pairs of different rows")
    else:
        report["note"] = "no --labels: no clusters, one colour, no compactness figures"
    report["maps"] = maps
    return report


def _help_text():
    """The module's docstring without its usage paragraph (argparse prints its own)."""
    return "\n\n".join(p for p in __doc__.strip().split("\n\n") if not p.startswith("usage:"))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=_help_text(), formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python3 tools/embedding_map.py emb.h5 --labels data/synth.h5 "
               "--out map.png")
    parser.add_argument("export", metavar="EXPORT.h5", help="embedding file of lica_eval --export")
    parser.add_argument("--labels", metavar="FEATURES.h5",
                        help="feature file with /videos/cluster (the export's source)")
    parser.add_argument("--method", choices=["tsne", "pca"], default="tsne",
                        help="projection to 2-D (default tsne)")
    parser.add_argument("--max-points", type=int, default=2000, metavar="N",
                        help="most points projected, videos and captions together (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and projection")
    parser.add_argument("--silhouette-max", type=int, default=5000, metavar="N",
                        help="silhouette on a seeded sample of N rows when there are more "
                             "(default 5000; the pairwise cost is N^2)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="OpenMP/BLAS threads of t-SNE, PCA and the silhouette (default 1: "
                             "on a busy machine more threads make t-SNE several times slower)")
    parser.add_argument("--compare", metavar="EXPORT2.h5", help="a second export, drawn beside")
    parser.add_argument("--out", required=True, metavar="MAP.png", help="PNG to write")
    args = parser.parse_args(argv)
    if args.max_points < 3:
        parser.error(f"--max-points {args.max_points}: expected at least 3")
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: expected at least 1")
    if args.silhouette_max < 3:
        parser.error(f"--silhouette-max {args.silhouette_max}: expected at least 3")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    paths = [args.export] + ([args.compare] if args.compare else [])
    try:
        if not os.path.isdir(out_dir):
            raise InputError(f"--out {args.out}: directory {out_dir} does not exist")
        exports = [read_export(p) for p in paths]
        labels = read_labels(args.labels) if args.labels else None
        clusters = [clusters_of(p, e, args.labels, labels) if labels else None
                    for p, e in zip(paths, exports)]
    except InputError as e:
        print(f"embedding_map.py: error: {e}", file=sys.stderr)
        return 2

    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    with threadpool_limits(args.threads):
        report = draw(args, paths, exports, labels, clusters)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
