#!/usr/bin/env bash
# A launcher variable that disagrees with MPI is reported and the job fails.
# Usage: env_mismatch_test.sh LICA_DIST_TRAIN CONFIG
set -uo pipefail
bin=$1
config=$2
out=$(mktemp)
timeout 60 mpirun --oversubscribe -np 2 -x PMI_RANK=7 "$bin" --config "$config" --set dist.backend=mpi >"$out" 2>&1
rc=$?
cat "$out"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { echo "FAIL: rc $rc"; exit 1; }
echo "checking message"
grep -q "PMI_RANK=7 but MPI reports rank" "$out" || { echo "FAIL: mismatch not reported"; exit 1; }
echo ok
