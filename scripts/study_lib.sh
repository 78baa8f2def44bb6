# Shared by the study scripts (compare_lica.sh, compare_aai.sh): their options, directory,
# data, one training run, and writing their own section of docs/results.md.
# Environment: LICA_BIN (the programs, default build), LICA_STUDY_DIR (the study's directory,
# default runs/<study>-<time>, under --tiny a fresh temporary directory).
# shellcheck shell=bash

lica_bin=${LICA_BIN:-build}

# study_begin NAME ARGS...: takes --tiny out of ARGS and sets up the study. Sets
#   tiny        1 under --tiny: proves the script works (CI): a tiny synthetic set, one seed,
#               two epochs, and the section written to a scratch copy of docs/results.md in
#               the study directory instead of docs/results.md
#   study_args  ARGS without --tiny (the script's own positional arguments)
#   study       the study's directory; runs_file its runs.tsv (emptied)
#   results     the file the section goes to
#   train_args  --set overrides of every run (the tiny set and two epochs under --tiny)
#   commit      the commit measured: `git rev-parse --short HEAD`, marked when the tree differs
study_begin() {
  local name=$1
  shift
  tiny=0
  study_args=()
  for a in "$@"; do
    if [ "$a" = --tiny ]; then tiny=1; else study_args+=("$a"); fi
  done
  train_args=()
  if [ "$tiny" = 1 ]; then
    study=${LICA_STUDY_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lica-$name-tiny.XXXXXX")}
    results=$study/results.md
  else
    study=${LICA_STUDY_DIR:-runs/$name-$(date +%Y%m%d-%H%M%S)}
    results=docs/results.md
  fi
  mkdir -p "$study"
  [ "$tiny" = 0 ] || cp docs/results.md "$results"
  runs_file=$study/runs.tsv
  : > "$runs_file"
  commit=unknown
  if commit=$(git rev-parse --short HEAD 2> /dev/null); then
    # Tracked files other than the results differ from the commit: say so.
    git diff --quiet HEAD -- . ':(exclude)docs/results.md' || commit+=" (with uncommitted changes)"
  fi
}

# study_data FILE ARGS...: the study's synthetic set, FILE made by lica_make_synthetic ARGS
# (kept when it exists); under --tiny a set of 80 videos in the study directory instead, which
# every run then trains on. Sets data_args (what the section reports) and data_file.
study_data() {
  data_file=$1
  shift
  data_args=("$@")
  if [ "$tiny" = 1 ]; then
    data_file=$study/synth_tiny.h5
    data_args=(--videos 80 --clusters 4 --caption-specificity 0.3 --seed 1)
    train_args=(--set "data.path=$data_file" --set trainer.epochs=2 --set trainer.batch_size=16)
  fi
  mkdir -p "$(dirname "$data_file")"
  if [ ! -f "$data_file" ]; then
    "$lica_bin/lica_make_synthetic" --out "$data_file" "${data_args[@]}" > "$study/data.out" 2>&1 ||
      { cat "$study/data.out"; exit 1; }
  fi
}

study_train() {  # study_train GROUP CONFIG SEED [--set k=v ...]
  local group=$1 config=$2 seed=$3
  shift 3
  local dir="$study/${group// /_}-s$seed"
  "$lica_bin/lica_dist_train" --config "$config" --set "trainer.seed=$seed" --set "run.dir=$dir" \
    "${train_args[@]}" "$@" > "$dir.out" 2>&1 || { tail -20 "$dir.out"; exit 1; }
  printf '%s\t%s\t%s\n' "$group" "$dir" "$*" >> "$runs_file"
  echo "$group seed $seed: $(grep '^test' "$dir.out")"
}

# study_section NAME TITLE COMMAND: the Markdown of the runs (tools/summarize_runs.py) with the
# commit and COMMAND, written as section NAME of $results; other sections stay as they were.
study_section() {
  local name=$1 title=$2 command=$3
  local body
  [ "$tiny" = 0 ] || command+=" --tiny"
  # The whole section first: a failing summary leaves the file as it was.
  body=$(/usr/bin/python3 tools/summarize_runs.py "$runs_file" --title "$title" \
    --data "lica_make_synthetic ${data_args[*]}" --command "$command" --commit "$commit")
  printf '%s\n' "$body" | /usr/bin/python3 tools/results_section.py --file "$results" --section "$name"
  echo "wrote section $name of $results"
}
