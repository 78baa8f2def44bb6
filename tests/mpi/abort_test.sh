#!/usr/bin/env bash
# A rank that throws ends the whole job: mpirun exits non-zero within 30 s (no hang) and the
# reason is in the output. Usage: abort_test.sh MPI_TEST_BINARY
set -uo pipefail
bin=$1
out=$(mktemp)
start=$(date +%s)
timeout 30 mpirun --oversubscribe -np 3 "$bin" --throw-on-rank 1 >"$out" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
cat "$out"
if [ "$rc" -eq 124 ]; then echo "FAIL: the job hung (killed after 30 s)"; exit 1; fi
if [ "$rc" -eq 0 ]; then echo "FAIL: mpirun exited 0 although rank 1 failed"; exit 1; fi
grep -q "rank 1: internal failure: injected failure on rank 1" "$out" || { echo "FAIL: reason not logged"; exit 1; }
echo "ok: mpirun exited $rc after ${elapsed} s with the reason logged"
