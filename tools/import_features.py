#!/usr/bin/python3
"""Converts pre-extracted features (one .npy per video, captions in MSR-VTT-style JSON) into a
lica HDF5 feature file (docs/design.md section 2, docs/data.md).

Inputs:
  --video-dir DIR      one <video_id>.npy per video, shape [frames, Dv], float16/32. Videos
                       longer than --max-frames F are uniformly subsampled to F frames: frames
                       numpy.linspace(0, frames - 1, F) truncated to integers (as CLIP4Clip),
                       so the first and the last frame are kept; shorter videos are zero-padded
                       and /videos/num_frames holds their valid frames.
  --captions FILE      MSR-VTT train_val_videodatainfo.json ({"videos": [...], "sentences":
                       [{"video_id": ..., "caption": ...}, ...]}) or a plain JSON list
                       [{"video_id": ..., "caption": ...}, ...]. The caption index is its
                       position in that sentence list (0-based); row t of /texts is caption t.
  --text-dir DIR       per-caption token features <index>.npy, shape [tokens, Dt], the last
                       token the EOT one. Captions longer than --max-tokens L keep their first
                       L-1 tokens and their last (EOT) token.
  --text-features FILE sentence-level features instead, shape [captions, Dt]: stored as
                       [T, 1, Dt] with num_tokens = 1. Exactly one of --text-dir and
                       --text-features.
  --split NAME=FILE    a text file of video ids, one a line (blank lines and lines starting
                       with # are skipped); every caption of those videos goes into the split.
                       Repeatable; the same video may be in several splits (e.g. val = test).

Videos are the rows of /videos in the order of their ids sorted as strings; .npy files of
videos without any caption are skipped (they cannot be evaluated) and counted in a warning.
Feature datasets are contiguous (fast row reads) and written in blocks of --block rows, so
memory stays bounded for any number of videos and captions. The file is written as
OUT.h5.partial and renamed when complete.

Exit status: 0 done, 2 bad input (the message names the file, video id or caption index and
the problem), 1 internal failure.
"""
import argparse
import json
import os
import sys
import time

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"import_features.py: {e}; install python3-numpy and python3-h5py "
                     "(apt) and run it with the system python3\n")
    sys.exit(1)

PROG = "import_features.py"


class InputError(Exception):
    """Bad input: reported as one line, exit status 2."""


def warn(msg):
    sys.stderr.write(f"{PROG}: warning: {msg}\n")


# ---------------------------------------------------------------------------------------------
# .npy files

def npy_header(path, missing):
    """Shape and dtype of a .npy file without reading its data; `missing` says what a missing
    file means."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                shape, fortran, dtype = np.lib.format._read_array_header(f, version)
    except FileNotFoundError:
        raise InputError(f"{path}: missing: {missing}")
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npy file ({e})")
    return tuple(shape), np.dtype(dtype)


def check_float_dtype(path, dtype):
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        raise InputError(f"{path}: dtype {dtype} is not supported, expected float16 or float32 "
                         "(float64 is accepted and converted)")


def load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npy file ({e})")


def check_finite(path, array, what, rows_offset=0):
    """Raises naming the file and the first non-finite element of `array` ([rows, D])."""
    bad = ~np.isfinite(array)
    if bad.any():
        idx = np.argwhere(bad)[0]
        value = array[tuple(idx)]
        where = f"{what} {int(idx[0]) + rows_offset}"
        if array.ndim > 1:
            where += f", feature {int(idx[1])}"
        scope = "this file" if rows_offset == 0 and what != "caption" else \
            f"rows {rows_offset}..{rows_offset + array.shape[0] - 1}"
        raise InputError(f"{path}: {where}: value {value} is not finite "
                         f"({int(bad.sum())} non-finite values in {scope})")


def check_converted(path, source, converted, what, dtype_name, rows):
    """After the cast to the output dtype: float16 overflows to Inf. rows[i] is the source row
    of row i."""
    bad = ~np.isfinite(converted)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise InputError(f"{path}: {what} {int(rows[idx[0]])}, feature {int(idx[1])}: value "
                         f"{source[tuple(idx)]} overflows {dtype_name}; use --dtype float32")


def subsample_frames(n, F):
    """Rows of a video of n frames that are kept: all when n <= F, else F uniformly spaced."""
    if n <= F:
        return np.arange(n)
    return np.linspace(0, n - 1, num=F, dtype=int)


def truncate_tokens(n, L):
    """Rows of a caption of n tokens that are kept: the first L-1 and the last (EOT) one."""
    if n <= L:
        return np.arange(n)
    return np.concatenate([np.arange(L - 1), [n - 1]])


# ---------------------------------------------------------------------------------------------
# Captions and splits

def read_captions(path):
    """Returns (captions [(video_id, text)], known video ids or None)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise InputError(f"{path}: cannot read the captions file ({e.strerror})")
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})")
    known = None
    if isinstance(data, dict):
        if "sentences" not in data:
            raise InputError(f"{path}: a JSON object without a 'sentences' list, expected the "
                             "MSR-VTT shape {\"videos\": [...], \"sentences\": [...]} or a list "
                             "of {\"video_id\", \"caption\"}")
        sentences = data["sentences"]
        if "videos" in data:
            if not isinstance(data["videos"], list):
                raise InputError(f"{path}: 'videos' is not a list")
            known = {}
            for i, v in enumerate(data["videos"]):
                vid = v.get("video_id") if isinstance(v, dict) else None
                if not isinstance(vid, (str, int)) or isinstance(vid, bool):
                    raise InputError(f"{path}: videos[{i}] has no string 'video_id'")
                vid = str(vid)
                if vid in known:
                    raise InputError(f"{path}: duplicate video id '{vid}' in 'videos' (entries "
                                     f"{known[vid]} and {i})")
                known[vid] = i
    elif isinstance(data, list):
        sentences = data
    else:
        raise InputError(f"{path}: top-level JSON {type(data).__name__}, expected the MSR-VTT "
                         "object or a list of {\"video_id\", \"caption\"}")
    if not isinstance(sentences, list):
        raise InputError(f"{path}: 'sentences' is not a list")
    if not sentences:
        raise InputError(f"{path}: no captions")
    captions = []
    for i, s in enumerate(sentences):
        if not isinstance(s, dict):
            raise InputError(f"{path}: caption {i}: not an object with 'video_id' and 'caption'")
        vid, text = s.get("video_id"), s.get("caption")
        if not isinstance(vid, (str, int)) or isinstance(vid, bool) or str(vid) == "":
            raise InputError(f"{path}: caption {i}: missing or empty 'video_id'")
        if not isinstance(text, str):
            raise InputError(f"{path}: caption {i} (video '{vid}'): missing 'caption' string")
        vid = str(vid)
        if known is not None and vid not in known:
            raise InputError(f"{path}: caption {i} refers to unknown video '{vid}' (not in the "
                             "file's 'videos' list)")
        captions.append((vid, text))
    return captions, known


def read_split(spec):
    if "=" not in spec:
        raise InputError(f"--split {spec}: expected NAME=FILE")
    name, path = spec.split("=", 1)
    if not name or "/" in name or name in (".", ".."):
        raise InputError(f"--split {spec}: bad split name '{name}' (non-empty, no '/')")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read the list of split {name} ({e.strerror})")
    ids, seen = [], {}
    for lineno, line in enumerate(lines, 1):
        vid = line.strip()
        if not vid or vid.startswith("#"):
            continue
        if vid in seen:
            raise InputError(f"{path}: line {lineno}: duplicate video id '{vid}' in split {name} "
                             f"(first on line {seen[vid]})")
        seen[vid] = lineno
        ids.append((vid, lineno))
    if not ids:
        raise InputError(f"{path}: split {name} is empty (no video ids)")
    return name, path, ids


# ---------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1] + "\nExample (MSR-VTT 9k / 1k-A):\n"
        "  tools/import_features.py --video-dir feats/videos --captions captions.json \\\n"
        "      --text-dir feats/tokens --split train=train_9k.txt --split test=test_1k.txt \\\n"
        "      --out data/msrvtt.h5\n")
    p.add_argument("--video-dir", required=True, metavar="DIR",
                   help="one <video_id>.npy [frames, Dv] per video")
    p.add_argument("--captions", required=True, metavar="FILE.json",
                   help="MSR-VTT-style captions JSON (object with 'sentences' or a plain list)")
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--text-dir", metavar="DIR",
                      help="token features <caption index>.npy [tokens, Dt], EOT last")
    text.add_argument("--text-features", metavar="FILE.npy",
                      help="sentence-level features [captions, Dt], stored as [T, 1, Dt]")
    p.add_argument("--max-frames", type=int, default=12, metavar="F",
                   help="frames per video F (default 12); longer videos are uniformly "
                        "subsampled to F frames, shorter ones zero-padded")
    p.add_argument("--max-tokens", type=int, default=32, metavar="L",
                   help="tokens per caption L with --text-dir (default 32); longer captions keep "
                        "their first L-1 tokens and the last (EOT) one")
    p.add_argument("--split", action="append", default=[], metavar="NAME=FILE",
                   help="split NAME: video ids one a line in FILE (repeatable)")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16",
                   help="stored feature type (default float16)")
    p.add_argument("--out", required=True, metavar="OUT.h5", help="output HDF5 file")
    p.add_argument("--chunked", action="store_true",
                   help="chunked feature datasets (one row per chunk) instead of contiguous")
    p.add_argument("--block", type=int, default=1024, metavar="N",
                   help="rows written per block (default 1024)")
    p.add_argument("--progress-every", type=int, default=1000, metavar="N",
                   help="print progress every N videos and N captions (default 1000; 0 = off)")
    args = p.parse_args(argv)
    if args.max_frames < 1:
        p.error(f"--max-frames {args.max_frames}: expected at least 1")
    if args.max_tokens < 1:
        p.error(f"--max-tokens {args.max_tokens}: expected at least 1")
    if args.block < 1:
        p.error(f"--block {args.block}: expected at least 1")
    if args.progress_every < 0:
        p.error(f"--progress-every {args.progress_every}: expected 0 or more")
    return args


def scan_videos(video_dir, captioned):
    """Validates the headers of the .npy files of captioned videos; returns
    (ids sorted, frames per id, Dv, skipped count)."""
    try:
        names = os.listdir(video_dir)
    except OSError as e:
        raise InputError(f"{video_dir}: cannot list the video directory ({e.strerror})")
    on_disk = {n[:-4] for n in names if n.endswith(".npy") and len(n) > 4}
    missing = [v for v in captioned if v not in on_disk]
    if missing:
        missing.sort()
        vid = missing[0]
        raise InputError(f"{os.path.join(video_dir, vid + '.npy')}: missing: video '{vid}' has "
                         f"captions (caption {captioned[vid][0]}) but no feature file"
                         + (f" ({len(missing)} such videos)" if len(missing) > 1 else ""))
    skipped = len(on_disk) - len(captioned)
    ids = sorted(captioned)
    frames, dim, dim_from = {}, None, None
    for vid in ids:
        path = os.path.join(video_dir, vid + ".npy")
        shape = check_rows_file(path, f"video '{vid}'", "frame", "Dv",
                                f"no feature file for video '{vid}'", dim, dim_from)
        if dim is None:
            dim, dim_from = shape[1], path
        frames[vid] = shape[0]
    return ids, frames, dim, skipped


def import_row(path, what, unit, expected_shape, select, out_row, dtype_name):
    """Reads one [rows, D] .npy (checked unchanged since the scan and finite), keeps the rows
    `select(n)` picks, writes them into out_row (zeros after) and checks the conversion.
    Returns (rows kept, rows stored)."""
    x = load_npy(path)
    if x.shape != expected_shape:  # changed since the scan
        raise InputError(f"{path}: {what}: shape {list(x.shape)} changed while importing")
    check_finite(path, x, f"{what}: {unit}")
    keep = select(x.shape[0])
    src = x[keep]
    out_row[:len(keep)] = src
    if out_row.dtype != x.dtype:
        check_converted(path, src, out_row[:len(keep)], f"{what}: {unit}", dtype_name, keep)
    return len(keep), x.shape[0]


def check_rows_file(path, what, unit, dim_name, missing, dim, dim_from):
    """The shape of a [rows, D] .npy of float features (`what` names it in messages); its D
    must equal `dim` (from `dim_from`) unless dim is None."""
    shape, dtype = npy_header(path, missing)
    check_float_dtype(path, dtype)
    if len(shape) != 2:
        raise InputError(f"{path}: {what}: shape {list(shape)} has {len(shape)} "
                         f"dimensions, expected 2 ([{unit}s, {dim_name}])")
    if shape[0] < 1 or shape[1] < 1:
        raise InputError(f"{path}: {what}: shape {list(shape)} is empty, expected at "
                         f"least one {unit} and one feature")
    if dim is not None and shape[1] != dim:
        raise InputError(f"{path}: {what}: feature size {dim_name} = {shape[1]} differs from "
                         f"{dim} in {dim_from}")
    return shape


def scan_tokens(text_dir, count):
    dim, dim_from, lengths = None, None, np.zeros(count, dtype=np.int64)
    for i in range(count):
        path = os.path.join(text_dir, f"{i}.npy")
        shape = check_rows_file(path, f"caption {i}", "token", "Dt",
                                f"no token features for caption {i}", dim, dim_from)
        if dim is None:
            dim, dim_from = shape[1], path
        lengths[i] = shape[0]
    return dim, lengths


def create_features(h5, name, shape, dtype, chunked):
    kwargs = {}
    if chunked:
        kwargs["chunks"] = (1,) + tuple(shape[1:])
    return h5.create_dataset(name, shape=shape, dtype=dtype, **kwargs)


def run(args):
    t0 = time.time()
    out_dtype = np.dtype(args.dtype)
    F, block, every = args.max_frames, args.block, args.progress_every

    captions, _ = read_captions(args.captions)
    T = len(captions)
    captioned = {}  # video id -> caption indices
    for i, (vid, _) in enumerate(captions):
        captioned.setdefault(vid, []).append(i)

    ids, frames, Dv, skipped = scan_videos(args.video_dir, captioned)
    row_of = {vid: r for r, vid in enumerate(ids)}
    V = len(ids)
    if skipped:
        warn(f"{skipped} .npy files in {args.video_dir} have no caption in {args.captions}; "
             "skipped (they cannot be evaluated)")

    # Text features: shapes first.
    if args.text_dir is not None:
        Dt, token_lengths = scan_tokens(args.text_dir, T)
        L = args.max_tokens
    else:
        path = args.text_features
        try:
            sentence = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise InputError(f"{path}: missing: the sentence features file does not exist")
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: not a readable .npy file ({e})")
        check_float_dtype(path, sentence.dtype)
        if sentence.ndim != 2:
            raise InputError(f"{path}: shape {list(sentence.shape)} has {sentence.ndim} "
                             "dimensions, expected 2 ([captions, Dt])")
        if sentence.shape[0] != T:
            raise InputError(f"{path}: {sentence.shape[0]} rows, expected one per caption of "
                             f"{args.captions} ({T})")
        if sentence.shape[1] < 1:
            raise InputError(f"{path}: shape {list(sentence.shape)} has no features")
        Dt, L = sentence.shape[1], 1

    # Splits (validated before anything is written).
    splits, split_names = [], set()
    for spec in args.split:
        name, path, entries = read_split(spec)
        if name in split_names:
            raise InputError(f"--split {spec}: split {name} given twice")
        split_names.add(name)
        rows = []
        for vid, lineno in entries:
            if vid not in row_of:
                raise InputError(f"{path}: line {lineno}: split {name} names unknown video "
                                 f"'{vid}' (no caption of it in {args.captions})")
            rows.append(row_of[vid])
        rows.sort()
        texts = sorted(t for r in rows for t in captioned[ids[r]])
        splits.append((name, np.asarray(rows, dtype=np.int32), np.asarray(texts, dtype=np.int32)))
    if not splits:
        warn("no --split given: the file has no /splits (lica_dist_train needs a train split)")

    tmp = args.out + ".partial"
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise InputError(f"{args.out}: the output directory {out_dir} does not exist")
    try:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["lica_schema"] = np.int32(1)
            strings = h5py.string_dtype(encoding="utf-8")
            vfeat = create_features(h5, "/videos/features", (V, F, Dv), out_dtype, args.chunked)
            num_frames = np.zeros(V, dtype=np.int32)
            subsampled = 0
            for b0 in range(0, V, block):
                b1 = min(V, b0 + block)
                buf = np.zeros((b1 - b0, F, Dv), dtype=out_dtype)
                for r in range(b0, b1):
                    vid = ids[r]
                    num_frames[r], stored = import_row(
                        os.path.join(args.video_dir, vid + ".npy"), f"video '{vid}'", "frame",
                        (frames[vid], Dv), lambda n: subsample_frames(n, F), buf[r - b0], args.dtype)
                    subsampled += stored > F
                    if every and (r + 1) % every == 0:
                        print(f"videos {r + 1}/{V} ({time.time() - t0:.1f} s)", flush=True)
                vfeat[b0:b1] = buf
            h5.create_dataset("/videos/num_frames", data=num_frames)
            h5.create_dataset("/videos/ids", data=ids, dtype=strings)

            tfeat = create_features(h5, "/texts/features", (T, L, Dt), out_dtype, args.chunked)
            num_tokens = np.zeros(T, dtype=np.int32)
            truncated = 0
            for b0 in range(0, T, block):
                b1 = min(T, b0 + block)
                buf = np.zeros((b1 - b0, L, Dt), dtype=out_dtype)
                if args.text_dir is not None:
                    for t in range(b0, b1):
                        num_tokens[t], stored = import_row(
                            os.path.join(args.text_dir, f"{t}.npy"), f"caption {t}", "token",
                            (token_lengths[t], Dt), lambda n: truncate_tokens(n, L), buf[t - b0],
                            args.dtype)
                        truncated += stored > L
                        if every and (t + 1) % every == 0:
                            print(f"captions {t + 1}/{T} ({time.time() - t0:.1f} s)", flush=True)
                else:
                    x = np.asarray(sentence[b0:b1])
                    check_finite(args.text_features, x, "caption", rows_offset=b0)
                    buf[:, 0] = x
                    if out_dtype != x.dtype:
                        check_converted(args.text_features, x, buf[:, 0], "caption",
                                        args.dtype, np.arange(b0, b1))
                    num_tokens[b0:b1] = 1
                    if every and b1 < T and b1 // every > b0 // every:
                        print(f"captions {b1}/{T} ({time.time() - t0:.1f} s)", flush=True)
                tfeat[b0:b1] = buf
            h5.create_dataset("/texts/num_tokens", data=num_tokens)
            h5.create_dataset("/texts/video",
                              data=np.asarray([row_of[v] for v, _ in captions], dtype=np.int32))
            h5.create_dataset("/texts/raw", data=[c for _, c in captions], dtype=strings)
            for name, rows, texts in splits:
                h5.create_dataset(f"/splits/{name}/videos", data=rows)
                h5.create_dataset(f"/splits/{name}/texts", data=texts)
        os.replace(tmp, args.out)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise

    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: V={V} T={T} F={F} L={L} Dv={Dv} Dt={Dt} dtype={args.dtype} "
          f"layout={'chunked' if args.chunked else 'contiguous'}")
    print(f"  videos: {subsampled} subsampled to {F} frames, "
          f"{int((num_frames < F).sum())} zero-padded; frames per video "
          f"{int(num_frames.min())}..{int(num_frames.max())}; {skipped} skipped without captions")
    if args.text_dir is not None:
        print(f"  captions: token features, {truncated} truncated to {L} tokens; tokens per "
              f"caption {int(num_tokens.min())}..{int(num_tokens.max())}")
    else:
        print("  captions: sentence-level features, stored as [T, 1, Dt]")
    for name, rows, texts in splits:
        print(f"  split {name}: {len(rows)} videos, {len(texts)} captions")
    print(f"  size {size / 2**20:.1f} MiB ({size} bytes), {time.time() - t0:.1f} s")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by us
            run(args)
    except InputError as e:
        sys.stderr.write(f"{PROG}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
