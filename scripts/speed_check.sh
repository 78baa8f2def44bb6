#!/usr/bin/env bash
# lica's CPU step against the honest eager PyTorch reference (bench/reference_step.py), the
# two interleaved: each round runs train_bench and then the reference once per (B, LICA)
# configuration, each in its own process; the table gives the median samples/s of the rounds
# and their ratio, with every round's figure and the load average before and after
# (docs/performance.md). The model is the issue's real run: D = 256, one seqTransf layer,
# 4 heads, 12 frames x 256, 32 tokens x 256, mean pooling, LICA top_k 8.
#   bash scripts/speed_check.sh [--rounds 3] [--batches 256,1024] [--lica off,on]
#        [--threads 2] [--warmup 2] [--steps 5] [--bench build/train_bench]
#        [--python /usr/bin/python3] [--out DIR] [-- extra args for both programs]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 batches=256,1024 lica=off,on threads=2 warmup=2 steps=5
bench=$here/build/train_bench python=/usr/bin/python3 out=""
extra=()
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --lica) lica=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --help|-h) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "speed_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "speed_check.sh: --rounds: expected a positive integer, got '$rounds'" >&2; exit 2; }
[ -x "$bench" ] || { echo "speed_check.sh: --bench: no executable '$bench' (build train_bench first)" >&2; exit 2; }
"$python" -c "import torch" 2>/dev/null || {
  echo "speed_check.sh: --python: '$python' has no torch (apt-get install python3-torch)" >&2; exit 2; }
if [ -z "$out" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; else mkdir -p "$out"; fi

args=(--device cpu --threads "$threads" --warmup "$warmup" --steps "$steps"
      --frames 12 --tokens 32 --video-dim 256 --text-dim 256
      --set model.text.pooling=mean --set loss.lica.top_k=8 "${extra[@]}")
export OMP_NUM_THREADS=$threads
uptime | sed 's/^ */load before: /' | tee "$out/load.txt"
: >"$out/lica.jsonl"
: >"$out/reference.jsonl"
IFS=, read -r -a batch_list <<<"$batches"
IFS=, read -r -a lica_list <<<"$lica"
for round in $(seq 1 "$rounds"); do
  for B in "${batch_list[@]}"; do
    for mode in "${lica_list[@]}"; do
      "$bench" "${args[@]}" --batches "$B" --lica "$mode" --lica-forms auto 2>/dev/null \
        | sed "s/^{/{\"round\": $round, /" >>"$out/lica.jsonl"
      "$python" "$here/bench/reference_step.py" "${args[@]}" --batches "$B" --lica "$mode" \
        | sed "s/^{/{\"round\": $round, /" >>"$out/reference.jsonl"
    done
  done
done
uptime | sed 's/^ */load after:  /' | tee -a "$out/load.txt"

python3 - "$out/lica.jsonl" "$out/reference.jsonl" "$threads" <<'PY'
import json, statistics, sys
def load(path):
    runs = {}
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            if "samples_per_s" not in r:
                sys.exit(f"speed_check.sh: a run failed: {r}")
            runs.setdefault((r["B"], r["lica"]), []).append(r["samples_per_s"])
    return runs
lica, ref = load(sys.argv[1]), load(sys.argv[2])
print(f"\nCPU step, {sys.argv[3]} threads: samples/s, median of the rounds (each round's figure)\n")
print("| B | LICA | lica (train_bench) | reference (eager PyTorch) | ratio |")
print("|---|---|---|---|---|")
for key in lica:
    a, b = statistics.median(lica[key]), statistics.median(ref[key])
    runs = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
    print(f"| {key[0]} | {key[1]} | {a:.0f} ({runs(lica[key])}) | {b:.0f} ({runs(ref[key])}) "
          f"| {a / b:.2f} |")
PY
