#!/usr/bin/env bash
# Label noise, both ways: lica_make_synthetic --caption-noise P and tools/add_caption_noise.py.
# For each noisy file an independent h5py check: round(P x T_train) captions moved, each to
# another train video, /texts/true_video equal to the clean file's /texts/video, val/test and
# every other dataset unchanged, every train video still captioned; the same seed gives the
# same file, another seed another draw; lica_inspect accepts the files; bad input exits 2. A
# planted wrong file (a moved caption put back on its own video) must fail the check.
# Usage: caption_noise_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
py=/usr/bin/python3  # Debian's python3-numpy and python3-h5py (scripts/common.sh)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
start=$(date +%s)
fail() { echo "FAIL: $*"; exit 1; }
noise=("$py" "$src/tools/add_caption_noise.py")
make=("$bin/lica_make_synthetic" --videos 120 --clusters 4 --video-dim 8 --text-dim 6 --latent-dim 4
      --frames 4 --min-frames 2 --tokens 4 --min-tokens 2 --seed 5)

"${make[@]}" --out "$dir/clean.h5" > /dev/null 2>&1 || fail "lica_make_synthetic (clean)"
"${make[@]}" --out "$dir/cpp.h5" --caption-noise 0.25 > "$dir/cpp.out" 2> /dev/null || { cat "$dir/cpp.out"; fail "lica_make_synthetic --caption-noise 0.25"; }
"${make[@]}" --out "$dir/cpp2.h5" --caption-noise 0.25 > /dev/null 2>&1 || fail "lica_make_synthetic --caption-noise 0.25 (again)"
cmp -s "$dir/cpp.h5" "$dir/cpp2.h5" || fail "lica_make_synthetic --caption-noise: the same seed gave different files"
cpp_moved=$(sed -n 's/.*caption noise: \([0-9]*\) of [0-9]* train captions.*/\1/p' "$dir/cpp.out")
[ -n "$cpp_moved" ] || { cat "$dir/cpp.out"; fail "lica_make_synthetic does not say how many captions moved"; }
echo "ok: lica_make_synthetic: $(sed 's/.*; caption noise: //' "$dir/cpp.out")"

"${noise[@]}" "$dir/clean.h5" "$dir/py.h5" --fraction 0.25 --seed 3 > "$dir/py.out" || { cat "$dir/py.out"; fail "add_caption_noise.py"; }
"${noise[@]}" "$dir/clean.h5" "$dir/py2.h5" --fraction 0.25 --seed 3 > /dev/null || fail "add_caption_noise.py (again)"
"${noise[@]}" "$dir/clean.h5" "$dir/py3.h5" --fraction 0.25 --seed 4 > /dev/null || fail "add_caption_noise.py --seed 4"
py_moved=$(sed -n 's/.*: moved \([0-9]*\) of the [0-9]* train captions.*/\1/p' "$dir/py.out")
[ -n "$py_moved" ] || { cat "$dir/py.out"; fail "add_caption_noise.py does not say how many captions moved"; }
echo "ok: add_caption_noise.py: $(cat "$dir/py.out" | sed "s|$dir/||")"

check() {  # check NOISY CLEAN P MOVED_AS_PRINTED
  "$py" - "$@" <<'PY'
import math, sys
import h5py
import numpy as np

noisy_path, clean_path, p, printed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])

def need(cond, what):
    if not cond:
        sys.exit(f"{noisy_path}: {what}")

with h5py.File(noisy_path, "r") as n, h5py.File(clean_path, "r") as c:
    video, true, clean = n["/texts/video"][()], n["/texts/true_video"][()], c["/texts/video"][()]
    need(n["/texts/true_video"].dtype == n["/texts/video"].dtype and true.shape == video.shape,
         "/texts/true_video has another type or shape than /texts/video")
    need(np.array_equal(true, clean), "/texts/true_video differs from the clean file's /texts/video")
    train_v, train_t = n["/splits/train/videos"][()], n["/splits/train/texts"][()]
    moved = np.nonzero(video != true)[0]
    expected = math.floor(p * len(train_t) + 0.5)
    need(len(moved) == expected, f"{len(moved)} captions moved, expected round({p} x {len(train_t)}) = {expected}")
    need(len(moved) == printed, f"{len(moved)} captions moved, the program printed {printed}")
    need(np.isin(moved, train_t).all(), "a caption outside the train split moved")
    need(np.isin(video[moved], train_v).all(), "a caption moved to a video outside the train split")
    need((video[moved] != true[moved]).all(), "a moved caption points to its own video")
    need(np.isin(train_v, video[train_t]).all(), "a train video has no caption left")
    # Every other dataset and attribute as in the clean file (val/test splits included).
    names = []
    c.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    extra = []
    n.visititems(lambda name, obj: extra.append(name) if isinstance(obj, h5py.Dataset) and name not in names else None)
    need(extra == ["texts/true_video"], f"datasets added besides texts/true_video: {extra}")
    for name in names:
        if name != "texts/video":
            need(np.array_equal(n[name][()], c[name][()]), f"/{name} differs from the clean file")
    need(dict(n.attrs) == dict(c.attrs), "file attributes differ")
    print(f"ok: {noisy_path.rsplit('/', 1)[-1]}: {len(moved)} of {len(train_t)} train captions moved "
          f"to other train videos, true videos kept, the rest equals the clean file")
PY
}
check "$dir/cpp.h5" "$dir/clean.h5" 0.25 "$cpp_moved" || fail "check of lica_make_synthetic --caption-noise"
check "$dir/py.h5" "$dir/clean.h5" 0.25 "$py_moved" || fail "check of add_caption_noise.py"

# The check can fail: a moved caption put back on its own video.
"$py" - "$dir/py.h5" "$dir/planted.h5" <<'PY'
import shutil, sys
import h5py
shutil.copyfile(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    v, t = f["/texts/video"][()], f["/texts/true_video"][()]
    row = int((v != t).nonzero()[0][0])
    v[row] = t[row]
    f["/texts/video"][...] = v
PY
if check "$dir/planted.h5" "$dir/clean.h5" 0.25 "$py_moved" > "$dir/planted.out" 2>&1; then
  fail "the check accepted a file with one caption too few moved"
fi
echo "ok: a planted file with one caption put back is caught: $(tail -1 "$dir/planted.out" | sed "s|$dir/||")"

"$py" - "$dir/py.h5" "$dir/py2.h5" "$dir/py3.h5" <<'PY' || fail "add_caption_noise.py seeds"
import sys
import h5py
import numpy as np
a, b, c = (h5py.File(p, "r")["/texts/video"][()] for p in sys.argv[1:])
if not np.array_equal(a, b):
    sys.exit("the same seed gave another /texts/video")
if np.array_equal(a, c):
    sys.exit("seeds 3 and 4 gave the same /texts/video")
PY
echo "ok: add_caption_noise.py: the same seed gives the same /texts/video, another seed another"

if [ -x "$bin/lica_inspect" ]; then
  for h in cpp py; do
    "$bin/lica_inspect" "$dir/$h.h5" > "$dir/inspect_$h.out" 2>&1 || { cat "$dir/inspect_$h.out"; fail "lica_inspect rejects $h.h5"; }
    grep -q "/texts/true_video" "$dir/inspect_$h.out" || { cat "$dir/inspect_$h.out"; fail "lica_inspect does not list /texts/true_video"; }
  done
  echo "ok: lica_inspect accepts both noisy files and lists /texts/true_video outside the schema"
fi

expect_error() {  # expect_error WHAT PATTERN COMMAND...
  local what=$1 pattern=$2 rc=0
  shift 2
  "$@" > "$dir/err.out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$dir/err.out"; fail "$what: exit $rc, expected 2"; }
  grep -qF -- "$pattern" "$dir/err.out" || { cat "$dir/err.out"; fail "$what: message lacks '$pattern'"; }
  if [ -e "$dir/bad.h5" ] || [ -e "$dir/bad.h5.tmp" ]; then fail "$what: left an output file"; fi
  echo "ok: $what -> exit 2: $(grep -v '^$' "$dir/err.out" | tail -1 | sed "s|$dir/||g; s|^E[0-9]* [0-9:.]* *[0-9]* [a-z_.]*:[0-9]*\] ||")"
}
expect_error "add_caption_noise.py: more than may move" "may move" \
  "${noise[@]}" "$dir/clean.h5" "$dir/bad.h5" --fraction 0.95 --seed 1
expect_error "add_caption_noise.py: a noisy input" "already has label noise" \
  "${noise[@]}" "$dir/py.h5" "$dir/bad.h5" --fraction 0.1 --seed 1
expect_error "add_caption_noise.py: a missing input" "$dir/none.h5: no such file" \
  "${noise[@]}" "$dir/none.h5" "$dir/bad.h5" --fraction 0.1 --seed 1
expect_error "add_caption_noise.py: P out of range" "expected 0 <= P < 1" \
  "${noise[@]}" "$dir/clean.h5" "$dir/bad.h5" --fraction 1 --seed 1
expect_error "lica_make_synthetic: more than may move" "caption_noise (--caption-noise): value 0.95" \
  "${make[@]}" --out "$dir/bad.h5" --caption-noise 0.95
echo "ok: caption_noise in $(( $(date +%s) - start )) s"
