#!/usr/bin/env bash
# In a build without NCCL, dist.backend: nccl is a clear input error (exit 2), not a crash.
# Usage: nccl_unavailable_test.sh LICA_DIST_TRAIN CONFIG
set -uo pipefail
out=$(mktemp)
timeout 60 mpirun --oversubscribe -np 2 "$1" --config "$2" --set dist.backend=nccl >"$out" 2>&1
rc=$?
cat "$out"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { echo "FAIL: rc $rc"; exit 1; }
grep -q "this build has no NCCL" "$out" || { echo "FAIL: no clear message"; exit 1; }
echo ok
