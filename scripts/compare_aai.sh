#!/usr/bin/env bash
# The AAI study: each module of "Adequate alignment and interaction for cross-modal retrieval"
# switched on alone on top of the baseline (configs/synthetic_baseline.yaml), the best
# combination with LICA, over several seeds, on the LICA study's synthetic set with many
# false negatives. Writes its section of docs/results.md (mean ± std of the test metrics and
# each module's training step time, the commit and the command; the other sections stay as
# they are).
#   scripts/compare_aai.sh [SEEDS (default 3)]
#   scripts/compare_aai.sh --tiny   proves the script works (CI): 80 videos, one seed, two
#                                   epochs, the section written to a scratch copy of
#                                   docs/results.md in a temporary study directory
# Needs a built tree (scripts/setup.sh or scripts/test.sh). About 25 minutes on 2 cores; run
# it on an otherwise idle machine, the step times are part of the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/study_lib.sh
study_begin aai "$@"
seeds=${study_args[0]:-3}
[ "$tiny" = 0 ] || seeds=1
study_data data/synth_fn.h5 --videos 4000 --clusters 40 --caption-specificity 0.3 --seed 1
base=configs/synthetic_baseline.yaml
lica=configs/synthetic_lica.yaml

# An evaluation-only variant of a trained run: its final checkpoint evaluated again with
# other eval.* keys, recorded as a run of its own (metrics.jsonl with the one test record).
evaluate() {  # evaluate GROUP FROM_GROUP SEED [--set k=v ...]
  local group=$1 from="$study/${2// /_}-s$3" seed=$3
  shift 3
  local dir="$study/${group// /_}-s$seed"
  mkdir -p "$dir"
  "$lica_bin/lica_eval" --config "$from/config.yaml" --checkpoint "$from/checkpoints/latest" \
    --split test --output "$dir/metrics.jsonl" "$@" > "$dir.out" 2>&1 || { tail -20 "$dir.out"; exit 1; }
  printf '%s\t%s\t%s\n' "$group" "$dir" "$*" >> "$runs_file"
  echo "$group seed $seed: $(grep '^test' "$dir.out")"
}

gpo=(--set model.video.pooling=gpo --set model.text.pooling=gpo)
itc=(--set loss.itc.weight=0.5)
ims=(--set loss.ims.weight=0.2)
lmim=(--set loss.lmim.weight=0.5)
fusion=(--set model.fusion.layers=1 --set loss.itm_weight=1 --set eval.rerank_top_k=10)
dsl=(--set eval.dsl=true)
# The trained modules, each alone over the baseline; the combination with LICA is chosen from
# their results below.
declare -A module_args=(
  ["GPO"]="${gpo[*]}"
  ["ITC with queues"]="${itc[*]}"
  ["IMS"]="${ims[*]}"
  ["LMIM"]="${lmim[*]}"
  ["fusion re-ranking (top 10)"]="${fusion[*]}"
)
modules=("GPO" "ITC with queues" "IMS" "LMIM" "fusion re-ranking (top 10)")
for seed in $(seq 1 "$seeds"); do
  study_train "baseline" "$base" "$seed"
  study_train "LICA" "$lica" "$seed"
  for m in "${modules[@]}"; do
    # shellcheck disable=SC2086  # the module's --set words
    study_train "$m" "$base" "$seed" ${module_args[$m]}
  done
  evaluate "fusion encoder trained, no re-ranking" "fusion re-ranking (top 10)" "$seed" --set eval.rerank_top_k=0
  evaluate "DSL" "baseline" "$seed" "${dsl[@]}"
done

# The best combination with LICA: every trained module whose mean R@1 (t2v + v2t) over the
# seeds beats the baseline's, then the same with DSL at evaluation.
mapfile -t chosen < <(/usr/bin/python3 - "$runs_file" "${modules[@]}" <<'PY'
import json, statistics, sys
runs, modules = sys.argv[1], sys.argv[2:]
score = {}
for line in open(runs):
    group, run_dir = line.rstrip("\n").split("\t")[:2]
    test = [json.loads(l) for l in open(f"{run_dir}/metrics.jsonl") if '"split": "test"' in l][-1]
    score.setdefault(group, []).append(test["t2v_r1"] + test["v2t_r1"])
base = statistics.mean(score["baseline"])
for m in modules:
    if statistics.mean(score[m]) > base:
        print(m)
PY
)
combo_args=()
combo_name="LICA"
for m in "${chosen[@]}"; do
  # shellcheck disable=SC2206
  combo_args+=(${module_args[$m]})
  combo_name+=" + $m"
done
echo "combination: $combo_name"
for seed in $(seq 1 "$seeds"); do
  study_train "$combo_name" "$lica" "$seed" "${combo_args[@]}"
  evaluate "$combo_name + DSL" "$combo_name" "$seed" "${dsl[@]}"
done

study_section aai "AAI modules on synthetic data with false negatives" "scripts/compare_aai.sh $seeds"
sed -n '/^<!-- section: aai -->/,/^<!-- end section: aai -->/p' "$results"
