#!/usr/bin/env python3
"""Adds label noise to a feature file: re-assigns a fraction of the train captions to other videos.

usage: add_caption_noise.py IN.h5 OUT.h5 --fraction P --seed S [--split train]

Copies IN.h5 (a feature file, docs/data.md) to OUT.h5 and changes /texts/video of
round(P x T) of the T captions of the train split: each points to a uniformly random other
video of the train split afterwards. With P > 0 the true video of every caption is kept in
/texts/true_video (same type and shape as /texts/video); the features, the other splits and
every other dataset stay as they were. Each train video keeps its first caption (in split
order), so no video is left without one: P is at most 1 - V_train / T_train. The same as
`lica_make_synthetic --caption-noise P` (the same rule, another random generator: numpy's
PCG64 seeded with S). Prints how many captions moved. Exit 2, naming the file and dataset,
on bad input; OUT.h5 is written through OUT.h5.tmp and renamed, never left half-written.
"""
import argparse
import math
import os
import shutil
import sys

import h5py
import numpy as np


class InputError(Exception):
    """A bad input: the message names the file and dataset."""


def read_int(f, path, name):
    if name not in f or not isinstance(f[name], h5py.Dataset):
        raise InputError(f"{path}: {name} is missing or is not a dataset")
    d = f[name]
    if d.ndim != 1 or not np.issubdtype(d.dtype, np.integer):
        raise InputError(f"{path}: dataset {name} has shape {list(d.shape)} and type {d.dtype}, "
                         "expected a 1-D integer dataset")
    return d[()]


def noisy_text_video(text_video, videos, texts, fraction, seed, path="", split="train"):
    """/texts/video with round(fraction x len(texts)) of `texts` re-assigned to another of
    `videos`, drawn with numpy's PCG64 from `seed`, each video keeping its first caption.
    Returns (new /texts/video, rows moved)."""
    videos = np.asarray(videos, dtype=np.int64)
    texts = np.asarray(texts, dtype=np.int64)
    position = {int(v): i for i, v in enumerate(videos)}
    seen, movable = set(), []
    for t in texts:
        v = int(text_video[t])
        if v not in position:
            raise InputError(f"{path}: /splits/{split}/texts: caption {t} describes video {v} "
                             f"(/texts/video), which is not in /splits/{split}/videos")
        if v in seen:
            movable.append(int(t))
        seen.add(v)
    n = int(math.floor(fraction * len(texts) + 0.5))  # round half up, as std::llround
    if n > 0 and len(videos) < 2:
        raise InputError(f"{path}: --fraction {fraction} needs at least 2 videos in split "
                         f"{split}, it has {len(videos)}")
    if n > len(movable):
        raise InputError(f"{path}: --fraction {fraction} would move {n} of the {len(texts)} "
                         f"{split} captions, but only {len(movable)} may move (each of the "
                         f"{len(videos)} {split} videos keeps one caption), expected at most "
                         f"{len(movable) / max(1, len(texts)):.4f}")
    rng = np.random.default_rng(seed)
    moved = np.sort(rng.choice(np.asarray(movable, dtype=np.int64), size=n, replace=False))
    own = np.array([position[int(text_video[t])] for t in moved], dtype=np.int64)
    other = rng.integers(0, len(videos) - 1, size=n) if n else np.zeros(0, dtype=np.int64)
    other += other >= own  # uniform over the other videos: skip the caption's own
    out = np.array(text_video, copy=True)
    out[moved] = videos[other].astype(out.dtype)
    return out, moved


def _help_text():
    """The module's docstring without its usage paragraph (argparse prints its own)."""
    return "\n\n".join(p for p in __doc__.strip().split("\n\n") if not p.startswith("usage:"))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=_help_text(), formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python3 tools/add_caption_noise.py data/f.h5 data/f_p02.h5 "
               "--fraction 0.2 --seed 1")
    parser.add_argument("input", metavar="IN.h5", help="feature file")
    parser.add_argument("output", metavar="OUT.h5", help="the noisy copy to write")
    parser.add_argument("--fraction", type=float, required=True, metavar="P",
                        help="share of the split's captions to re-assign, 0 <= P < 1")
    parser.add_argument("--seed", type=int, required=True, metavar="S", help="random seed")
    parser.add_argument("--split", default="train", help="split to add noise to (default train)")
    args = parser.parse_args(argv)
    if not (0 <= args.fraction < 1):
        parser.error(f"--fraction {args.fraction}: expected 0 <= P < 1")
    if args.seed < 0:
        parser.error(f"--seed {args.seed}: expected S >= 0")
    tmp = args.output + ".tmp"
    try:
        if not os.path.isfile(args.input):
            raise InputError(f"{args.input}: no such file")
        if os.path.exists(args.output) and os.path.samefile(args.input, args.output):
            raise InputError(f"{args.output}: is the input, expected another file")
        out_dir = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(out_dir):
            raise InputError(f"{args.output}: directory {out_dir} does not exist")
        try:
            f = h5py.File(args.input, "r")
        except OSError as e:
            raise InputError(f"{args.input}: not an HDF5 file ({e})")
        with f:
            if f.attrs.get("lica_schema") != 1:
                raise InputError(f"{args.input}: attribute lica_schema is not 1, not a lica "
                                 "feature file (docs/data.md)")
            if "/texts/true_video" in f:
                raise InputError(f"{args.input}: /texts/true_video exists, the file already has "
                                 "label noise; add noise to the clean file")
            text_video = read_int(f, args.input, "/texts/video")
            videos = read_int(f, args.input, f"/splits/{args.split}/videos")
            texts = read_int(f, args.input, f"/splits/{args.split}/texts")
        for name, rows, limit in ((f"/splits/{args.split}/texts", texts, len(text_video)),):
            if len(rows) and (rows.min() < 0 or rows.max() >= limit):
                raise InputError(f"{args.input}: {name} has rows outside 0..{limit - 1}")
        noisy, moved = noisy_text_video(text_video, videos, texts, args.fraction, args.seed,
                                        args.input, args.split)
    except InputError as e:
        print(f"add_caption_noise.py: error: {e}", file=sys.stderr)
        return 2

    try:
        shutil.copyfile(args.input, tmp)
        with h5py.File(tmp, "r+") as f:
            f["/texts/video"][...] = noisy
            if args.fraction > 0:
                f.create_dataset("/texts/true_video", data=text_video, dtype=text_video.dtype)
        os.replace(tmp, args.output)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    print(f"{args.output}: moved {len(moved)} of the {len(texts)} {args.split} captions "
          f"(fraction {args.fraction}, seed {args.seed}) to another {args.split} video; true "
          "videos in /texts/true_video; other splits untouched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
