#!/usr/bin/env bash
# The label-noise study: is LICA more robust than the baseline when training captions are
# paired with the wrong video? The baseline (configs/synthetic_baseline.yaml) and LICA
# (configs/synthetic_lica.yaml) on the LICA study's synthetic set with a fraction P of the
# training captions re-assigned to a random other training video (tools/add_caption_noise.py;
# val and test untouched), P = 0, 0.1, 0.2, 0.4, several seeds; then both models' test
# embeddings at P = 0.2 mapped side by side with their compactness figures
# (tools/embedding_map.py). Writes its section of docs/results.md (tables, paired
# differences, the commit and the command) and docs/figures/noise_r1.png, noise_maps.png.
#   scripts/compare_noise.sh [SEEDS (default 3)]
#   scripts/compare_noise.sh --tiny   proves the script works (CI): 80 videos, one seed, two
#                                     epochs, P = 0 and 0.2, everything written into a
#                                     temporary study directory
# Needs a built tree (scripts/setup.sh or scripts/test.sh). About 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/study_lib.sh
study_begin noise "$@"
seeds=${study_args[0]:-3}
fractions=(0 0.1 0.2 0.4)
map_fraction=0.2
figures=docs/figures
if [ "$tiny" = 1 ]; then
  seeds=1
  fractions=(0 0.2)
  figures=$study/figures
fi
mkdir -p "$figures"
study_data data/synth_fn.h5 --videos 4000 --clusters 40 --caption-specificity 0.3 --seed 1
py=/usr/bin/python3

# One file per P, made from the study's set (noise seed 1, the same for every method).
noisy_file() {  # noisy_file P -> path
  local p=$1
  if [ "$p" = 0 ]; then echo "$data_file"; return; fi
  local f=$study/noise_$p.h5
  [ -f "$f" ] || "$py" tools/add_caption_noise.py "$data_file" "$f" --fraction "$p" --seed 1 \
    > "$study/noise_$p.out" 2>&1 || { cat "$study/noise_$p.out" >&2; exit 1; }
  echo "$f"
}

for p in "${fractions[@]}"; do
  file=$(noisy_file "$p")
  for seed in $(seq 1 "$seeds"); do
    study_train "baseline P=$p" configs/synthetic_baseline.yaml "$seed" --set "data.path=$file"
    study_train "LICA P=$p" configs/synthetic_lica.yaml "$seed" --set "data.path=$file"
  done
done

# The embedding maps: seed 1 of both methods at P = map_fraction, test split, coloured by
# the latent cluster of each video (and of each caption's true video).
map_file=$(noisy_file "$map_fraction")
mkdir -p "$study/maps"
for method in baseline LICA; do
  run="$study/${method}_P=${map_fraction}-s1"
  "$lica_bin/lica_eval" --config "$run/config.yaml" --checkpoint "$run/checkpoints/latest" \
    --split test --export "$study/maps/$method.h5" --output "$study/maps/$method.json" \
    > "$study/maps/$method.out" 2>&1 || { tail -20 "$study/maps/$method.out"; exit 1; }
done
"$py" tools/embedding_map.py "$study/maps/baseline.h5" --compare "$study/maps/LICA.h5" \
  --labels "$map_file" --out "$figures/noise_maps.png" --seed 1 > "$study/maps/maps.json"

command="scripts/compare_noise.sh $seeds"
[ "$tiny" = 0 ] || command+=" --tiny"
body=$("$py" tools/noise_study.py "$runs_file" --figure "$figures/noise_r1.png" \
  --figure-link figures/noise_r1.png --maps "$study/maps/maps.json" \
  --maps-link figures/noise_maps.png --title "Label noise: baseline vs LICA" \
  --data "lica_make_synthetic ${data_args[*]}; tools/add_caption_noise.py --fraction P --seed 1" \
  --command "$command" --commit "$commit")
printf '%s\n' "$body" | "$py" tools/results_section.py --file "$results" --section noise
echo "wrote section noise of $results, $figures/noise_r1.png and $figures/noise_maps.png"
sed -n '/^<!-- section: noise -->/,/^<!-- end section: noise -->/p' "$results"
