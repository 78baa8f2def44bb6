#!/usr/bin/env bash
# Issue 23 under mpirun -np 2, through the program itself: damage to the newest checkpoint
# falls back to the previous one under --resume latest (every step logged once, final model
# and optimizer equal to the run that never stopped); naming a damaged checkpoint, a pointer
# naming itself, a manifest path escape and a checkpoints/ that is a file are exit 2 naming
# the path, with metrics.jsonl untouched. (tests/trainer/test_checkpoint_damage.cpp has the
# full set of damage kinds in one process.)
# Usage: checkpoint_damage_test.sh BUILD_DIR
set -uo pipefail
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin/lica_make_synthetic" --out "$dir/s.h5" --videos 100 --seed 5 > /dev/null || exit 1
printf 'data:\n  path: %s\nmodel:\n  embed_dim: 16\ntrainer:\n  epochs: 2\n  batch_size: 10\n  log_every: 1\n  threads: 1\n  device: cpu\ncheckpoint:\n  every_steps: 5\n  keep_last: 10\n' "$dir/s.h5" > "$dir/c.yaml"
train() {  # train RUN_DIR [args...]: mpirun -np 2, output in RUN_DIR.out, returns its exit code
  local run=$1; shift
  timeout 120 mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "$bin/lica_dist_train" \
    --config "$dir/c.yaml" --set "run.dir=$run" "$@" > "$run.out" 2>&1
}
fail() { echo "FAIL: $*"; exit 1; }
train "$dir/ref" || { cat "$dir/ref.out"; fail "reference run"; }
test -d "$dir/ref/checkpoints/step_14" && test -d "$dir/ref/checkpoints/step_10" || fail "expected step_10 and step_14"

copy() { rm -rf "$dir/$1"; cp -a "$dir/ref" "$dir/$1"; echo "$dir/$1/checkpoints/step_14"; }
py() { /usr/bin/python3 - "$@"; }
# Recomputes every CRC of a checkpoint's MANIFEST (a forger's edit).
reseal() { py "$1" <<'PY'
import os, sys, zlib
d = sys.argv[1]
names = [l.split()[0] for l in open(os.path.join(d, "MANIFEST")).read().splitlines()[1:]]
lines = ["lica-checkpoint 1 files %d" % len(names)]
for n in names:
    b = open(os.path.join(d, n), "rb").read()
    lines.append("%s %d %08x" % (n, len(b), zlib.crc32(b) & 0xffffffff))
open(os.path.join(d, "MANIFEST"), "w").write("\n".join(lines) + "\n")
PY
}
# The resumed run equals the reference: records (timings aside) and the final checkpoint's
# tensors (the archives' members byte for byte).
same_as_reference() { py "$dir/ref" "$1" <<'PY' || fail "$1 differs from the reference"
import json, sys, zipfile
a, b = sys.argv[1], sys.argv[2]
def records(run):
    out = []
    for line in open(run + "/metrics.jsonl"):
        r = json.loads(line)
        for k in ("samples_per_s", "step_s", "data_wait_s"):
            r.pop(k, None)
        out.append(r)
    return out
ra, rb = records(a), records(b)
assert ra == rb, "records differ: %d vs %d" % (len(ra), len(rb))
def blobs(run, f):
    z = zipfile.ZipFile(run + "/checkpoints/step_14/" + f)
    return {n: z.read(n) for n in z.namelist()}
ma, mb = blobs(a, "model.pt"), blobs(b, "model.pt")
assert ma == mb, [n for n in ma if ma.get(n) != mb.get(n)]
# LibTorch writes the optimizer's states in its hash map's order, which follows the
# parameters' addresses and so differs between processes: the same tensors, another order.
# (The in-process test, test_checkpoint_damage.cpp, pairs each moment with its parameter.)
def tensors(blob):
    return sorted(v for n, v in blob.items() if n.startswith("archive/data/"))
oa, ob = blobs(a, "optimizer.pt"), blobs(b, "optimizer.pt")
assert len(oa) == len(ob) and tensors(oa) == tensors(ob), "optimizer.pt tensors differ"
print("ok: %d records and the final model and optimizer equal the reference" % len(ra))
PY
}
fallback() {  # fallback NAME: --resume latest skips step_14 for step_10 and finishes
  train "$dir/$1" --resume latest || { cat "$dir/$1.out"; fail "$1: --resume latest exited $?"; }
  grep -q "skipping checkpoint $dir/$1/checkpoints/step_14" "$dir/$1.out" || { cat "$dir/$1.out"; fail "$1: no skip logged"; }
  grep -q "resumed from $dir/$1/checkpoints/step_10" "$dir/$1.out" || { cat "$dir/$1.out"; fail "$1: not resumed from step_10"; }
  same_as_reference "$dir/$1"
}
exit2() {  # exit2 NAME TEXT args...: exit 2, TEXT in the output, metrics.jsonl untouched
  local name=$1 text=$2; shift 2
  local before; before=$(md5sum < "$dir/$name/metrics.jsonl")
  train "$dir/$name" "$@"
  local rc=$?
  [ "$rc" -eq 2 ] || { cat "$dir/$name.out"; fail "$name: exit $rc, expected 2"; }
  grep -qF -- "$text" "$dir/$name.out" || { cat "$dir/$name.out"; fail "$name: '$text' not in the output"; }
  [ "$(md5sum < "$dir/$name/metrics.jsonl")" = "$before" ] || fail "$name: metrics.jsonl changed"
  test ! -e "$dir/$name/checkpoints/superseded" || fail "$name: checkpoints were set aside"
  echo "ok: $name: exit 2 naming '$text'"
}

c=$(copy truncated); truncate -s 1000 "$c/model.pt"
exit2 truncated "$c/model.pt" --resume "$c"
fallback truncated

c=$(copy step_forged); sed -i 's/^step: 14$/step: 10/' "$c/state.yaml"; reseal "$c"
exit2 step_forged "$c/state.yaml" --resume "$c"
fallback step_forged

c=$(copy escape); hn=$(wc -c < /etc/hostname)
sed -i 's/files 5/files 6/' "$c/MANIFEST"
py "$c/MANIFEST" <<'PY'
import sys, zlib
b = open("/etc/hostname", "rb").read()
open(sys.argv[1], "a").write("../../../../../../etc/hostname %d %08x\n" % (len(b), zlib.crc32(b) & 0xffffffff))
PY
exit2 escape "../../../../../../etc/hostname" --resume "$c"
fallback escape

c=$(copy pointer); echo best > "$dir/pointer/checkpoints/best"
exit2 pointer "$dir/pointer/checkpoints/best" --resume "$dir/pointer/checkpoints/best"

c=$(copy notdir); rm -rf "$dir/notdir/checkpoints"; echo x > "$dir/notdir/checkpoints"
exit2 notdir "$dir/notdir/checkpoints: not a directory" --resume latest
echo "ok: all checks passed"
