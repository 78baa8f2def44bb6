# Shared by the study scripts (compare_lica.sh, compare_aai.sh): one training run of a study.
# The caller sets $study (the study's directory) and $runs_file (its runs.tsv).
# shellcheck shell=bash

study_train() {  # study_train GROUP CONFIG SEED [--set k=v ...]
  local group=$1 config=$2 seed=$3
  shift 3
  local dir="$study/${group// /_}-s$seed"
  build/lica_dist_train --config "$config" --set "trainer.seed=$seed" --set "run.dir=$dir" "$@" \
    > "$dir.out" 2>&1 || { tail -20 "$dir.out"; exit 1; }
  printf '%s\t%s\t%s\n' "$group" "$dir" "$*" >> "$runs_file"
  echo "$group seed $seed: $(grep '^test' "$dir.out")"
}
