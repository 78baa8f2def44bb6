#!/usr/bin/env bash
# One writer per run directory, with real lica_dist_train processes: a second
# `--resume latest` on a run directory in use exits 2 naming the holder's pid; once the
# holder is killed (SIGKILL: no clean release), the next start takes the lock over with a
# warning and trains; a run that ended cleanly leaves no holder behind.
# Usage: run_lock_test.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM_|PMI_|PMIX_|OMPI_COMM_WORLD_)')
dir=$(mktemp -d)
first=""
cleanup() { [ -n "$first" ] && kill -KILL "$first" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.out; do echo "--- $f"; tail -n 20 "$f"; done; exit 1; }
export OMP_NUM_THREADS=1
"$build/lica_make_synthetic" --out "$dir/s.h5" --videos 400 --seed 3 > /dev/null 2>&1 || fail "lica_make_synthetic"
cat > "$dir/c.yaml" <<YAML
data:
  path: $dir/s.h5
model:
  embed_dim: 32
trainer:
  epochs: 200
  batch_size: 32
  log_every: 1
  threads: 1
  device: cpu
eval:
  every_epochs: 0
checkpoint:
  every_steps: 1000
run:
  dir: $dir/run
YAML
train=("$build/lica_dist_train" --config "$dir/c.yaml" --resume latest)
records() { grep -c '"type": *"train"' "$dir/run/metrics.jsonl" 2>/dev/null || echo 0; }

"${train[@]}" > "$dir/first.out" 2>&1 &
first=$!
deadline=$((SECONDS + 60))
until [ "$(records)" -ge 2 ]; do
  kill -0 "$first" 2>/dev/null || fail "the first run ended early"
  [ "$SECONDS" -lt "$deadline" ] || fail "the first run logged no steps in 60 s"
  sleep 0.2
done
grep -q "pid=$first " "$dir/run/.lock" || fail "run/.lock does not name pid $first: $(cat "$dir/run/.lock")"

timeout -k 5 60 "${train[@]}" > "$dir/second.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a second writer on the run directory: exit $rc, expected 2"
grep -q "run/.lock: this run directory is in use by host .*pid $first" "$dir/second.out" ||
  fail "the refusal does not name the holder (pid $first)"
kill -0 "$first" 2>/dev/null || fail "the refused second process stopped the first"
echo "ok: a second --resume latest on a run directory in use: exit 2 naming pid $first"

kill -KILL "$first"
wait "$first" 2>/dev/null
grep -q "pid=$first " "$dir/run/.lock" || fail "the killed holder's line is gone"
killed=$first
first=""
"${train[@]}" --set trainer.epochs=200 > "$dir/third.out" 2>&1 &
first=$!
deadline=$((SECONDS + 60))
until grep -q "took over the lock of host .*pid $killed" "$dir/run/train.log" 2>/dev/null; do
  kill -0 "$first" 2>/dev/null || fail "the run after the killed holder ended"
  [ "$SECONDS" -lt "$deadline" ] || fail "no take-over warning naming pid $killed in train.log after 60 s"
  sleep 0.2
done
grep -q "pid=$first " "$dir/run/.lock" || fail "run/.lock does not name the new holder $first"
kill -TERM "$first"
wait "$first"
rc=$?
first=""
[ "$rc" -eq 75 ] || fail "the new holder stopped by SIGTERM: exit $rc, expected 75"
[ ! -s "$dir/run/.lock" ] || fail "a clean stop left a holder: $(cat "$dir/run/.lock")"
echo "ok: a killed holder's lock taken over with a warning naming pid $killed; a clean stop empties run/.lock"
