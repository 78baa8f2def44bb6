#!/usr/bin/env bash
# Runs on the CPU machine, in the project's root, before a GPU run (docs/performance.md, "GPU
# runs"). Fills .gpu-deps/ (ignored by git) with what the GPU machine's image lacks: glog,
# gflags and libunwind as Debian packages, unpacked there by scripts/gpu_check.sh. The GPU
# machine has no network, so everything it needs beyond its image travels in .gpu-deps/.
#   scripts/gpu_prepare.sh [--help]      (LICA_GPU_DEPS=DIR: another folder than .gpu-deps/)
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
if [[ $# -gt 0 ]]; then
  echo "gpu_prepare.sh: unexpected argument '$1' (see --help)" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
packages=(libgoogle-glog-dev libgoogle-glog0v6 libgflags-dev libgflags2.2 libunwind8 libunwind-dev)
deps=${LICA_GPU_DEPS:-.gpu-deps}
mkdir -p "$deps"
cd "$deps"
missing=()
for p in "${packages[@]}"; do
  compgen -G "${p}_*.deb" >/dev/null || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  apt-get download "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get download "${missing[@]}" >/dev/null; }
fi
for p in "${packages[@]}"; do
  compgen -G "${p}_*.deb" >/dev/null || { echo "gpu_prepare.sh: ${p}_*.deb missing in $deps" >&2; exit 1; }
done
echo "gpu_prepare.sh: $deps holds ${#packages[@]} packages; carry .gpu-deps and run"
echo "  bash scripts/gpu_check.sh \"\$OUT\""
