#!/usr/bin/env bash
# A rank that never joins a collective ends the job through the other ranks' watchdogs
# (dist.timeout_s, here 2 s): mpirun exits non-zero within 30 s, not before the timeout, and
# the message names the collective, the rank and the seconds waited.
# Usage: timeout_test.sh MPI_TEST_BINARY
set -uo pipefail
bin=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start_ms=$(( $(date +%s%N) / 1000000 ))
timeout 30 mpirun --oversubscribe -np 3 -x OMP_NUM_THREADS=1 "$bin" --stall-rank 1 >"$out" 2>&1
rc=$?
elapsed_ms=$(( $(date +%s%N) / 1000000 - start_ms ))
cat "$out"
if [ "$rc" -eq 124 ]; then echo "FAIL: the job hung (killed after 30 s)"; exit 1; fi
if [ "$rc" -eq 0 ]; then echo "FAIL: mpirun exited 0 although rank 1 never joined"; exit 1; fi
if [ "$elapsed_ms" -lt 2000 ]; then
  echo "FAIL: the job ended after $elapsed_ms ms, before the 2 s timeout"; exit 1
fi
grep -Eq "rank [02]: all_reduce of 4.1 kB has not completed after [0-9.]+ s \(dist.timeout_s = 2\): a peer rank is lost or stuck; aborting the job" "$out" \
  || { echo "FAIL: timeout message not logged"; exit 1; }
if grep -q "rank 1: all_reduce" "$out"; then echo "FAIL: the stalled rank reported itself"; exit 1; fi
echo "ok: mpirun exited $rc after $elapsed_ms ms with the timeout logged"
