#!/usr/bin/python3
"""Writes a tiny example input for tools/import_features.py (used by
tests/tools/import_features_test.sh).

usage: make_import_example.py OUT_DIR [--videos N] [--dim D] [--text-dim DT] [--seed S]

OUT_DIR gets:
  videos/video<i>.npy   [frames, D] float32, frames 3..20 (video0 has 20, video1 has 3), plus
                        one extra video (video<N>) without captions that the importer skips
  captions.json         MSR-VTT shape: {"videos": [...], "sentences": [{"video_id",
                        "caption", "sen_id"}]}, 2..4 captions per video in shuffled order
  captions_list.json    the same sentences as a plain list [{"video_id", "caption"}]
  tokens/<index>.npy    [tokens, DT] float32 per caption (index = position in "sentences"),
                        2..40 tokens (caption 0 has 40)
  sentences.npy         [captions, DT] float32 sentence-level features
  train.txt, test.txt   video ids, one a line: the first 2/3 of the videos and the rest
"""
import argparse
import json
import os
import sys

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("out_dir")
    p.add_argument("--videos", type=int, default=12, help="captioned videos (default 12)")
    p.add_argument("--dim", type=int, default=16, help="frame feature size D (default 16)")
    p.add_argument("--text-dim", type=int, default=8, help="token feature size DT (default 8)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.videos < 3:
        p.error("--videos: expected at least 3")
    rng = np.random.default_rng(a.seed)
    os.makedirs(os.path.join(a.out_dir, "videos"), exist_ok=True)
    os.makedirs(os.path.join(a.out_dir, "tokens"), exist_ok=True)

    ids = [f"video{i}" for i in range(a.videos)]
    for i, vid in enumerate(ids + [f"video{a.videos}"]):  # the last one has no caption
        frames = 20 if i == 0 else 3 if i == 1 else int(rng.integers(3, 21))
        x = rng.standard_normal((frames, a.dim)).astype(np.float32)
        np.save(os.path.join(a.out_dir, "videos", vid + ".npy"), x)

    sentences = []
    for vid in ids:
        for k in range(int(rng.integers(2, 5))):
            sentences.append({"video_id": vid, "caption": f"caption {k} of {vid}"})
    order = rng.permutation(len(sentences))
    sentences = [sentences[i] for i in order]
    for i, s in enumerate(sentences):
        s["sen_id"] = i
        tokens = 40 if i == 0 else int(rng.integers(2, 41))
        x = rng.standard_normal((tokens, a.text_dim)).astype(np.float32)
        np.save(os.path.join(a.out_dir, "tokens", f"{i}.npy"), x)
    np.save(os.path.join(a.out_dir, "sentences.npy"),
            rng.standard_normal((len(sentences), a.text_dim)).astype(np.float32))

    n_train = (2 * a.videos) // 3
    info = {"info": {"description": "lica import example"},
            "videos": [{"video_id": v, "id": i, "split": "train" if i < n_train else "test"}
                       for i, v in enumerate(ids)],
            "sentences": sentences}
    with open(os.path.join(a.out_dir, "captions.json"), "w") as f:
        json.dump(info, f, indent=1)
    with open(os.path.join(a.out_dir, "captions_list.json"), "w") as f:
        json.dump([{"video_id": s["video_id"], "caption": s["caption"]} for s in sentences], f)
    with open(os.path.join(a.out_dir, "train.txt"), "w") as f:
        f.write("".join(v + "\n" for v in ids[:n_train]))
    with open(os.path.join(a.out_dir, "test.txt"), "w") as f:
        f.write("".join(v + "\n" for v in ids[n_train:]))
    print(f"wrote {a.out_dir}: {a.videos} videos (+1 without captions), "
          f"{len(sentences)} captions, train {n_train} / test {a.videos - n_train} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
