#!/usr/bin/env bash
# tools/import_features.py end to end: makes the example input of tools/make_import_example.py,
# imports it twice (token features as float16 from the MSR-VTT-shaped JSON; sentence features
# as float32 from the plain-list JSON), validates both files against the schema (docs/design.md §2)
# with lica_inspect when it is built and always with h5py, checks the values against the
# source .npy files, checks the error paths (exit 2 with a message naming the id or file),
# and trains one epoch on each file when lica_dist_train is built.
# Usage: import_features_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
py=/usr/bin/python3  # Debian's python3-numpy and python3-h5py (scripts/common.sh)
"$py" -c 'import numpy, h5py' 2> /dev/null || { echo "FAIL: $py cannot import numpy and h5py (apt install python3-numpy python3-h5py)"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
start=$(date +%s)
import=("$py" "$src/tools/import_features.py")
fail() { echo "FAIL: $*"; exit 1; }

"$py" "$src/tools/make_import_example.py" "$dir/ex" > /dev/null || fail "make_import_example.py"
ex=$dir/ex
splits=(--split "train=$ex/train.txt" --split "test=$ex/test.txt")

"${import[@]}" --video-dir "$ex/videos" --captions "$ex/captions.json" --text-dir "$ex/tokens" \
  "${splits[@]}" --out "$dir/tok.h5" > "$dir/tok.out" 2>&1 || { cat "$dir/tok.out"; fail "import with token features"; }
grep -q "1 .npy files in .* have no caption" "$dir/tok.out" || { cat "$dir/tok.out"; fail "no warning for the video without captions"; }
echo "ok: imported token features (float16)"
"${import[@]}" --video-dir "$ex/videos" --captions "$ex/captions_list.json" \
  --text-features "$ex/sentences.npy" --dtype float32 --max-frames 8 "${splits[@]}" \
  --out "$dir/sen.h5" --block 5 > "$dir/sen.out" 2>&1 || { cat "$dir/sen.out"; fail "import with sentence features"; }
echo "ok: imported sentence features (float32, F=8, blocks of 5 rows)"

# Schema and values, independently of the importer's code.
check() {  # check FILE MODE DTYPE F L
  "$py" - "$@" "$ex" <<'PY'
import json, os, sys
import h5py
import numpy as np

path, mode, dtype, F, L, ex = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
info = json.load(open(os.path.join(ex, "captions.json")))
sentences = info["sentences"]
ids_expected = sorted({s["video_id"] for s in sentences})
f = h5py.File(path, "r")

def need(cond, what):
    if not cond:
        sys.exit(f"{path}: {what}")

need(f.attrs.get("lica_schema") == 1, "attribute lica_schema is not 1")
vf, tf = f["/videos/features"], f["/texts/features"]
nf, nt, tv = f["/videos/num_frames"][:], f["/texts/num_tokens"][:], f["/texts/video"][:]
V, T = len(ids_expected), len(sentences)
Dv = np.load(os.path.join(ex, "videos", "video0.npy")).shape[1]
Dt = np.load(os.path.join(ex, "sentences.npy")).shape[1]
need(vf.shape == (V, F, Dv), f"/videos/features shape {vf.shape}, expected {(V, F, Dv)}")
need(tf.shape == (T, L, Dt), f"/texts/features shape {tf.shape}, expected {(T, L, Dt)}")
need(vf.dtype == np.dtype(dtype) and tf.dtype == np.dtype(dtype), f"feature dtypes {vf.dtype} {tf.dtype}")
need(vf.chunks is None and tf.chunks is None, "feature datasets are not contiguous")
for name, a, n in (("num_frames", nf, V), ("num_tokens", nt, T), ("video", tv, T)):
    need(a.dtype == np.int32 and a.shape == (n,), f"{name}: dtype {a.dtype} shape {a.shape}")
need(((nf >= 1) & (nf <= F)).all(), "num_frames out of 1..F")
need(((nt >= 1) & (nt <= L)).all(), "num_tokens out of 1..L")
need(((tv >= 0) & (tv < V)).all(), "/texts/video out of range")
ids = [s.decode() if isinstance(s, bytes) else s for s in f["/videos/ids"][:]]
need(ids == ids_expected, f"ids {ids} are not the captioned ids sorted as strings")
raw = [s.decode() if isinstance(s, bytes) else s for s in f["/texts/raw"][:]]
need(raw == [s["caption"] for s in sentences], "/texts/raw differs from the JSON captions")
need([ids[v] for v in tv] == [s["video_id"] for s in sentences], "/texts/video does not follow the JSON")

vfa, tfa = vf[:], tf[:]
for v in range(V):
    need(not vfa[v, nf[v]:].any(), f"video row {v}: non-zero past num_frames")
    x = np.load(os.path.join(ex, "videos", ids[v] + ".npy"))
    n = x.shape[0]
    keep = np.arange(n) if n <= F else np.linspace(0, n - 1, num=F, dtype=int)
    need(nf[v] == len(keep), f"video {ids[v]}: num_frames {nf[v]}, expected {len(keep)}")
    need(np.array_equal(vfa[v, :nf[v]], x[keep].astype(dtype)), f"video {ids[v]}: features differ from the source")
# The known video: video0 has 20 frames, the first and last kept, evenly spaced between.
r0 = ids.index("video0")
x0 = np.load(os.path.join(ex, "videos", "video0.npy"))
rule = {12: [0, 1, 3, 5, 6, 8, 10, 12, 13, 15, 17, 19], 8: [0, 2, 5, 8, 10, 13, 16, 19]}[F]
need(nf[r0] == F and np.array_equal(vfa[r0], x0[rule].astype(dtype)), "video0: not subsampled to the documented frames")
r1 = ids.index("video1")
need(nf[r1] == 3 and np.array_equal(vfa[r1, :3], np.load(os.path.join(ex, "videos", "video1.npy")).astype(dtype)), "video1: 3 frames not kept as they are")

for t in range(T):
    need(not tfa[t, nt[t]:].any(), f"caption {t}: non-zero past num_tokens")
if mode == "tokens":
    for t in range(T):
        x = np.load(os.path.join(ex, "tokens", f"{t}.npy"))
        keep = list(range(min(len(x), L)))
        if len(x) > L:
            keep = list(range(L - 1)) + [len(x) - 1]
        need(nt[t] == len(keep) and np.array_equal(tfa[t, :nt[t]], x[keep].astype(dtype)), f"caption {t}: tokens differ from the source")
    x = np.load(os.path.join(ex, "tokens", "0.npy"))  # the known caption: 40 tokens
    need(len(x) == 40 and nt[0] == L and np.array_equal(tfa[0, L - 1], x[39].astype(dtype)) and np.array_equal(tfa[0, :L - 1], x[:L - 1].astype(dtype)), "caption 0: not the first L-1 tokens plus EOT")
else:
    x = np.load(os.path.join(ex, "sentences.npy"))
    need((nt == 1).all() and np.array_equal(tfa[:, 0], x.astype(dtype)), "sentence features differ from the source")

need(sorted(f["/splits"].keys()) == ["test", "train"], f"splits {list(f['/splits'].keys())}")
seen = set()
for name in ("train", "test"):
    sv, st = f[f"/splits/{name}/videos"][:], f[f"/splits/{name}/texts"][:]
    need(sv.dtype == np.int32 and st.dtype == np.int32, f"split {name}: dtypes")
    listed = {l.strip() for l in open(os.path.join(ex, name + ".txt")) if l.strip()}
    need({ids[v] for v in sv} == listed and len(sv) == len(listed), f"split {name}: videos differ from {name}.txt")
    need(sorted(st.tolist()) == [t for t in range(T) if ids[tv[t]] in listed] and len(set(st.tolist())) == len(st), f"split {name}: texts are not all captions of its videos")
    need(not (seen & set(sv.tolist())), f"split {name}: overlaps another split")
    seen |= set(sv.tolist())
print(f"ok: {os.path.basename(path)} follows the schema (V={V} T={T} F={F} L={L} {dtype}); values equal the sources")
PY
}
check "$dir/tok.h5" tokens float16 12 32 || fail "validation of tok.h5"
check "$dir/sen.h5" sentence float32 8 1 || fail "validation of sen.h5"

if [ -x "$bin/lica_inspect" ]; then
  for h in tok sen; do
    "$bin/lica_inspect" "$dir/$h.h5" > "$dir/inspect_$h.out" 2>&1 || { cat "$dir/inspect_$h.out"; fail "lica_inspect $h.h5"; }
  done
  echo "ok: lica_inspect accepts both files"
else
  echo "ok: (no $bin/lica_inspect; checked with h5py only)"
fi

# Error paths: exit 2 and a message that names the culprit.
expect_error() {  # expect_error WHAT PATTERN ARGS...
  local what=$1 pattern=$2 rc=0
  shift 2
  "${import[@]}" "$@" > "$dir/err.out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$dir/err.out"; fail "$what: exit $rc, expected 2"; }
  grep -qF -- "$pattern" "$dir/err.out" || { cat "$dir/err.out"; fail "$what: message lacks '$pattern'"; }
  if [ -e "$dir/bad.h5" ] || [ -e "$dir/bad.h5.partial" ]; then fail "$what: left an output file"; fi
  echo "ok: $what -> exit 2: $(grep -m1 'error:' "$dir/err.out" | sed "s|$dir|TMP|g")"
}
"$py" - "$ex" "$dir" <<'PY'
import json, os, sys
import numpy as np
ex, d = sys.argv[1], sys.argv[2]
info = json.load(open(os.path.join(ex, "captions.json")))
info["sentences"].append({"video_id": "video_ghost", "caption": "nobody", "sen_id": 999})
json.dump(info, open(os.path.join(d, "ghost.json"), "w"))
json.dump([{"video_id": s["video_id"], "caption": s["caption"]} for s in info["sentences"]], open(os.path.join(d, "ghost_list.json"), "w"))
os.makedirs(os.path.join(d, "nan"))
for n in os.listdir(os.path.join(ex, "videos")):
    x = np.load(os.path.join(ex, "videos", n))
    if n == "video3.npy":
        x[1, 2] = np.nan
    np.save(os.path.join(d, "nan", n), x)
os.makedirs(os.path.join(d, "dims"))
for n in os.listdir(os.path.join(ex, "videos")):
    x = np.load(os.path.join(ex, "videos", n))
    np.save(os.path.join(d, "dims", n), x[:, :5] if n == "video5.npy" else x)
os.makedirs(os.path.join(d, "ndim"))
os.makedirs(os.path.join(d, "big"))
for n in os.listdir(os.path.join(ex, "videos")):
    x = np.load(os.path.join(ex, "videos", n))
    np.save(os.path.join(d, "ndim", n), x[None] if n == "video6.npy" else x)
    if n == "video2.npy":
        x[0, 0] = 1e6  # finite in float32, Inf in float16
    np.save(os.path.join(d, "big", n), x)
open(os.path.join(d, "unknown.txt"), "w").write("video0\nvideo_nope\n")
open(os.path.join(d, "empty.txt"), "w").write("\n# nothing\n")
open(os.path.join(d, "dup.txt"), "w").write("video0\nvideo1\nvideo0\n")
PY
common=(--text-dir "$ex/tokens" --out "$dir/bad.h5")
expect_error "caption of an unknown video (MSR-VTT JSON)" "video_ghost" \
  --video-dir "$ex/videos" --captions "$dir/ghost.json" "${common[@]}"
expect_error "caption of a video without features (plain list)" "video_ghost" \
  --video-dir "$ex/videos" --captions "$dir/ghost_list.json" "${common[@]}"
expect_error "NaN in a video's features" "$dir/nan/video3.npy" \
  --video-dir "$dir/nan" --captions "$ex/captions.json" "${common[@]}"
expect_error "inconsistent Dv" "$dir/dims/video5.npy" \
  --video-dir "$dir/dims" --captions "$ex/captions.json" "${common[@]}"
expect_error "wrong ndim" "$dir/ndim/video6.npy" \
  --video-dir "$dir/ndim" --captions "$ex/captions.json" "${common[@]}"
expect_error "float16 overflow" "$dir/big/video2.npy" \
  --video-dir "$dir/big" --captions "$ex/captions.json" "${common[@]}"
expect_error "split naming an unknown video" "video_nope" \
  --video-dir "$ex/videos" --captions "$ex/captions.json" "${common[@]}" --split "train=$dir/unknown.txt"
expect_error "empty split" "$dir/empty.txt" \
  --video-dir "$ex/videos" --captions "$ex/captions.json" "${common[@]}" --split "train=$dir/empty.txt"
expect_error "duplicate video id in a split" "duplicate video id 'video0'" \
  --video-dir "$ex/videos" --captions "$ex/captions.json" "${common[@]}" --split "train=$dir/dup.txt"
rm -f "$ex/tokens/7.npy"
expect_error "missing token features" "$ex/tokens/7.npy" \
  --video-dir "$ex/videos" --captions "$ex/captions.json" "${common[@]}"

if [ -x "$bin/lica_dist_train" ]; then
  for h in tok sen; do
    printf 'data:\n  path: %s\n  val_split: ""\n  test_split: test\nmodel:\n  embed_dim: 16\ntrainer:\n  epochs: 1\n  batch_size: 4\n  threads: 1\nrun:\n  dir: %s\n' \
      "$dir/$h.h5" "$dir/run_$h" > "$dir/$h.yaml"
    timeout 30 "$bin/lica_dist_train" --config "$dir/$h.yaml" > "$dir/train_$h.out" 2>&1 || { cat "$dir/train_$h.out"; fail "lica_dist_train on $h.h5"; }
    grep -Eq '"split": *"test"' "$dir/run_$h/metrics.jsonl" || { cat "$dir/train_$h.out"; fail "no test evaluation in run_$h/metrics.jsonl"; }
  done
  echo "ok: lica_dist_train trains 1 epoch on both files and evaluates the test split"
else
  echo "ok: (no $bin/lica_dist_train; training skipped)"
fi
echo "ok: import_features in $(( $(date +%s) - start )) s"
