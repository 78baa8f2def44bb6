#!/usr/bin/env bash
# tools/plot_runs.py on two tiny runs (the baseline and LICA, two epochs, validation after
# each): the figure is a PNG of exactly FIGSIZE x DPI pixels, every panel holds one line per
# run, the LICA terms get panels and the zero AAI terms none; the command lica_dist_train
# prints at the end of a run draws its curves; a missing or malformed metrics.jsonl exits 2
# naming the file and line.
# Usage: plot_runs_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
py=/usr/bin/python3  # Debian's python3-matplotlib (scripts/common.sh)
"$py" -c 'import matplotlib' 2> /dev/null || { echo "FAIL: $py cannot import matplotlib (apt install python3-matplotlib)"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
start=$(date +%s)
fail() { echo "FAIL: $*"; exit 1; }
plot=("$py" "$src/tools/plot_runs.py")

"$bin/lica_make_synthetic" --out "$dir/s.h5" --videos 60 --clusters 3 --video-dim 8 --text-dim 6 \
  --latent-dim 4 --frames 4 --min-frames 2 --tokens 4 --min-tokens 2 --seed 7 > /dev/null 2>&1 || fail "lica_make_synthetic"
printf 'data:\n  path: %s\nmodel:\n  embed_dim: 16\ntrainer:\n  epochs: 2\n  batch_size: 8\n  threads: 1\n  log_every: 1\neval:\n  every_epochs: 1\n' \
  "$dir/s.h5" > "$dir/tiny.yaml"
train() {  # train NAME [--set k=v ...]
  local name=$1
  shift
  timeout 60 "$bin/lica_dist_train" --config "$dir/tiny.yaml" --set "run.dir=$dir/runs/$name" "$@" \
    > "$dir/$name.out" 2>&1 || { cat "$dir/$name.out"; fail "lica_dist_train ($name)"; }
}
train base
train lica --set loss.lica.weight=1
echo "ok: trained two tiny runs in $(( $(date +%s) - start )) s"

# The command the run prints at its end draws the run.
printed=$(sed -n 's/.*plot the run: \(python3 tools\/plot_runs.py .*\)$/\1/p' "$dir/base.out")
[ "$printed" = "python3 tools/plot_runs.py $dir/runs/base --out $dir/runs/base/curves.png" ] ||
  { cat "$dir/base.out"; fail "lica_dist_train did not print the plot command (got '$printed')"; }
(cd "$src" && PATH=/usr/bin:$PATH $printed > /dev/null) || fail "the printed command failed: $printed"
[ -s "$dir/runs/base/curves.png" ] || fail "the printed command wrote no $dir/runs/base/curves.png"
echo "ok: lica_dist_train prints '$(echo "$printed" | sed "s|$dir/||g")', which draws the run"

"${plot[@]}" "$dir/runs/base" "$dir/runs/lica" --out "$dir/fig.png" --smooth 2 --title "two runs" \
  --report > "$dir/report.json" || fail "plot_runs.py on two runs"

check() {  # check PNG REPORT RUNS...
  "$py" - "$src/tools" "$@" <<'PY'
import json, struct, sys
sys.path.insert(0, sys.argv[1])
import plot_runs

png, report, runs = sys.argv[2], json.load(open(sys.argv[3])), sys.argv[4:]
data = open(png, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
    sys.exit(f"{png}: not a PNG")
width, height = struct.unpack(">II", data[16:24])
want = (round(plot_runs.FIGSIZE[0] * plot_runs.DPI), round(plot_runs.FIGSIZE[1] * plot_runs.DPI))
if (width, height) != want or report["size_px"] != list(want):
    sys.exit(f"{png}: {width}x{height} px (report {report['size_px']}), expected {want[0]}x{want[1]} = FIGSIZE x DPI")
if report["runs"] != runs:
    sys.exit(f"runs {report['runs']}, expected {runs}")
panels = report["panels"]
need = ["total loss", "nce loss term", "learning rate", "logit scale", "val R@1 text to video",
        "val R@1 video to text", "test R@1 text to video", "test R@1 video to text"]
if "lica" in runs:
    need += ["intra_v loss term", "intra_t loss term"]
missing = [p for p in need if p not in panels]
if missing:
    sys.exit(f"panels {list(panels)} lack {missing}")
zero = [p for p in panels if p.split()[0] in ("itc", "ims", "lmim", "itm")]
if zero:
    sys.exit(f"panels of loss terms that are zero in every run: {zero}")
for title, p in panels.items():
    if p["lines"] != len(runs) or p["runs"] != runs:
        sys.exit(f"panel '{title}': {p['lines']} lines {p['runs']}, expected one per run {runs}")
print(f"ok: {png.rsplit('/', 1)[-1]}: PNG {width}x{height} px, {len(panels)} panels with "
      f"{len(runs)} line(s) each: {', '.join(panels)}")
PY
}
check "$dir/fig.png" "$dir/report.json" base lica || fail "figure of two runs"
# The check can fail: a report with one line too few.
sed 's/"lines": 2/"lines": 1/' "$dir/report.json" > "$dir/planted.json"
if check "$dir/fig.png" "$dir/planted.json" base lica > /dev/null 2>&1; then
  fail "the check accepted a panel with one line for two runs"
fi
echo "ok: a planted panel with a line missing is caught"

expect_error() {  # expect_error WHAT PATTERN RUN_DIR
  local what=$1 pattern=$2 rc=0
  "${plot[@]}" "$3" --out "$dir/bad.png" > "$dir/err.out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$dir/err.out"; fail "$what: exit $rc, expected 2"; }
  grep -qF -- "$pattern" "$dir/err.out" || { cat "$dir/err.out"; fail "$what: message lacks '$pattern'"; }
  echo "ok: $what -> exit 2: $(sed "s|$dir/||g" "$dir/err.out")"
}
mkdir -p "$dir/empty" "$dir/broken" "$dir/nokey"
cp "$dir/runs/base/metrics.jsonl" "$dir/broken/metrics.jsonl"
echo '{"type": "train", "step": 9, "loss": 1.0' >> "$dir/broken/metrics.jsonl"
lines=$(wc -l < "$dir/broken/metrics.jsonl")
printf '{"type": "train", "step": 1, "loss": 2.0}\n{"type": "eval", "step": 1}\n' > "$dir/nokey/metrics.jsonl"
expect_error "no metrics.jsonl" "$dir/empty/metrics.jsonl: no such file" "$dir/empty"
expect_error "a truncated line" "$dir/broken/metrics.jsonl, line $lines: not a JSON object" "$dir/broken"
expect_error "an eval record without split" "$dir/nokey/metrics.jsonl, line 2: eval record without key \"split\"" "$dir/nokey"
echo "ok: plot_runs in $(( $(date +%s) - start )) s"
