#!/usr/bin/env bash
# Data-parallel training on one node: launch/mpirun.sh NPROC CONFIG [lica_dist_train args...]
# e.g. launch/mpirun.sh 8 configs/demo.yaml --set run.dir=runs/demo-w8
# One rank per GPU with NCCL where the build has CUDA; on CPUs the mpi backend, each rank
# with OMP_NUM_THREADS cores (default: cores / NPROC).
set -euo pipefail
if [ $# -lt 2 ] || [ "$1" = "--help" ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
nproc_arg=$1
config=$2
shift 2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
threads=${OMP_NUM_THREADS:-$(( $(nproc) / nproc_arg > 0 ? $(nproc) / nproc_arg : 1 ))}
extra=()
[ "$(id -u)" -ne 0 ] || extra+=(--allow-run-as-root)
exec mpirun "${extra[@]}" --oversubscribe -np "$nproc_arg" --bind-to none \
  -x OMP_NUM_THREADS="$threads" -x LD_LIBRARY_PATH \
  "$root/build/lica_dist_train" --config "$config" "$@"
