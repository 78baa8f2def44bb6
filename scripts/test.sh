#!/usr/bin/env bash
# Installs what lica needs, builds it into build/ and runs the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/common.sh
start=$(date +%s)
lica_install_deps
lica_build
# mpirun refuses root unless told; CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
(cd build && ctest --output-on-failure -j "$(nproc)")
echo "test: done in $(( $(date +%s) - start )) s"
