#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: installs what lica needs, builds it into build/,
# makes the built-in synthetic data and trains the demo config, printing the test metrics.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/common.sh
start=$(date +%s)
lica_install_deps
lica_build
mkdir -p data runs
# 10000 videos in 200 clusters: 7000 train, 1000 val, 2000 test (about 50 s per 1M samples).
build/lica_make_synthetic --out data/synth.h5 --videos 10000 --clusters 200 --seed 0
run_dir="runs/demo-$(date +%Y%m%d-%H%M%S)"
build/lica_dist_train --config configs/demo.yaml --set "run.dir=$run_dir"
echo "setup: done in $(( $(date +%s) - start )) s; run directory $run_dir"
