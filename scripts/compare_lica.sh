#!/usr/bin/env bash
# The LICA study: trains configs/synthetic_baseline.yaml and configs/synthetic_lica.yaml over
# several seeds on a synthetic set with many false negatives, then a short sweep of λ, top_k
# and tau_intra, and writes docs/results.md (mean ± std of the test metrics).
#   scripts/compare_lica.sh [SEEDS (default 5)] [SWEEP_SEEDS (default 2)]
# Needs a built tree (scripts/setup.sh or scripts/test.sh). About 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=${1:-5}
sweep_seeds=${2:-2}
study=runs/study-$(date +%Y%m%d-%H%M%S)
mkdir -p data "$study"
# 4000 videos in 40 clusters (about 100 per cluster) and captions that carry only 30% of
# their video's own offset from the cluster centre: many near-interchangeable captions,
# i.e. false negatives in every batch of 256.
data_args=(--videos 4000 --clusters 40 --caption-specificity 0.3 --seed 1)
build/lica_make_synthetic --out data/synth_fn.h5 "${data_args[@]}"
runs_file="$study/runs.tsv"
: > "$runs_file"

source scripts/study_lib.sh

for seed in $(seq 1 "$seeds"); do
  study_train "baseline" configs/synthetic_baseline.yaml "$seed"
  study_train "LICA λ=1 top_k=8 τ=0.1" configs/synthetic_lica.yaml "$seed"
done
for seed in $(seq 1 "$sweep_seeds"); do
  for w in 0.3 3; do study_train "λ=$w" configs/synthetic_lica.yaml "$seed" --set "loss.lica.weight=$w"; done
  for k in 2 32; do study_train "top_k=$k" configs/synthetic_lica.yaml "$seed" --set "loss.lica.top_k=$k"; done
  for t in 0.03 1; do study_train "τ=$t" configs/synthetic_lica.yaml "$seed" --set "loss.lica.tau_intra=$t"; done
done

/usr/bin/python3 tools/summarize_runs.py "$runs_file" \
  --title "LICA vs baseline on synthetic data with false negatives" \
  --data "lica_make_synthetic ${data_args[*]}" \
  --command "scripts/compare_lica.sh $seeds $sweep_seeds" > docs/results.md
cat docs/results.md
