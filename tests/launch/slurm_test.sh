#!/usr/bin/env bash
# launch/slurm/train.sbatch and eval.sbatch without Slurm: a fake srun (one task run
# directly with SLURM_* set, so the program discovers its rank from them; N tasks under
# mpirun) and a fake scontrol that records its arguments. Checks the preemption contract:
# SIGUSR1 to the batch shell -> srun -> every rank -> checkpoint, exit 75 -> the script
# requeues the job and exits 0; the rerun (--resume latest) finishes the run with every
# train step logged exactly once. Also: bad input is exit 2 without requeue.
# Usage: slurm_test.sh BUILD_DIR SOURCE_DIR   (LICA_TEST_KEEP=1 keeps the temporary directory)
set -uo pipefail
if [ $# -ne 2 ]; then
  echo "usage: slurm_test.sh BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
train_script=$src/launch/slurm/train.sbatch
eval_script=$src/launch/slurm/eval.sbatch
started=$SECONDS

# Nothing from a surrounding Slurm job or MPI launcher may leak into the fake one.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM_|SRUN_|PMI_|PMIX_|OMPI_COMM_WORLD_)')
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMP_NUM_THREADS=1

dir=$(mktemp -d)
job=""
cleanup() {
  # The job runs in its own session (setsid; mpirun gives each rank its own process group
  # in it): end the whole session if the test stops early.
  if [ -n "$job" ]; then
    pkill -KILL -s "$job" 2>/dev/null || kill -KILL -- "-$job" 2>/dev/null || true
  fi
  if [ -n "${LICA_TEST_KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$dir"/*.out "$dir"/srun.log "$dir"/scontrol.log; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
  done
  exit 1
}
ok() { echo "ok: $* ($((SECONDS - started)) s)"; }

# (a) syntax
bash -n "$train_script" || fail "bash -n $train_script"
bash -n "$eval_script" || fail "bash -n $eval_script"
ok "both sbatch scripts parse"

# (b) fake srun and scontrol
mkdir -p "$dir/fake" "$dir/d"
cat > "$dir/fake/srun" <<'EOF'
#!/usr/bin/env bash
# Fake srun: SLURM_NTASKS (or -n) tasks on this machine. Options it does not need are
# skipped. One task runs in place with the step's SLURM_* variables; more run under mpirun
# with SLURM_PROCID/LOCALID taken from Open MPI. exec keeps this pid, so a signal sent to
# "srun" reaches the task (or mpirun, which forwards SIGUSR1/SIGTERM to every rank).
echo "srun $*" >> "$FAKE_SLURM_LOG_DIR/srun.log"
ntasks=${SLURM_NTASKS:-1}
while [ $# -gt 0 ]; do
  case $1 in
    --) shift; break ;;
    -n|--ntasks) ntasks=$2; shift 2 ;;
    --ntasks=*) ntasks=${1#*=}; shift ;;
    -N|--nodes|-c|--cpus-per-task|--mpi|-o|--output|-e|--error|-J|--job-name|-t|--time|\
    -p|--partition|--gpus|--gpus-per-node|--gpus-per-task|--cpu-bind|--gpu-bind|--export)
      shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "fake srun: no command" >&2; exit 2; }
if [ "$ntasks" -eq 1 ]; then
  export SLURM_STEP_ID=0 SLURM_PROCID=${FAKE_SRUN_PROCID:-0} SLURM_LOCALID=0 SLURM_NTASKS=1
  exec "$@"
fi
export SLURM_NTASKS=$ntasks
exec mpirun --oversubscribe --bind-to none -np "$ntasks" bash -c \
  'export SLURM_PROCID=$OMPI_COMM_WORLD_RANK SLURM_LOCALID=$OMPI_COMM_WORLD_LOCAL_RANK SLURM_STEP_ID=0; exec "$@"' \
  _ "$@"
EOF
cat > "$dir/fake/scontrol" <<'EOF'
#!/usr/bin/env bash
echo "$*" >> "$FAKE_SLURM_LOG_DIR/scontrol.log"
EOF
chmod +x "$dir/fake/srun" "$dir/fake/scontrol"
touch "$dir/scontrol.log"
export FAKE_SLURM_LOG_DIR=$dir SLURM_JOB_ID=123 SLURM_SUBMIT_DIR=$src LICA_BIN=$build \
  SRUN=$dir/fake/srun SCONTROL=$dir/fake/scontrol

# (c) data and config: 280 training videos / batch 32 = 8 steps per epoch, 400 steps.
"$build/lica_make_synthetic" --out "$dir/d/s.h5" --videos 400 --seed 2 > "$dir/synthetic.out" 2>&1 ||
  fail "lica_make_synthetic"
epochs=50
total=$((epochs * 8))
cat > "$dir/c.yaml" <<EOF
data:
  path: $dir/d/s.h5
model:
  embed_dim: 32
trainer:
  epochs: $epochs
  batch_size: 32
  log_every: 1
  threads: 1
  device: cpu  # two tasks on this one machine, which may have fewer GPUs
eval:
  every_epochs: 0
checkpoint:
  every_steps: 50
run:
  dir: $dir/run
EOF
train_records() {  # RUN_DIR
  local n
  n=$(grep -c '"type": *"train"' "$1/metrics.jsonl" 2>/dev/null)
  echo "${n:-0}"
}
# Starts train.sbatch with 2 tasks in its own session, waits for MIN train records in
# RUN_DIR, sends SIGNAL to the batch shell and waits for it to end; sets rc.
run_and_stop() {  # SIGNAL MIN RUN_DIR OUT [train.sbatch args after CONFIG...]
  local signal=$1 min=$2 run_dir=$3 out=$4 deadline
  shift 4
  SLURM_NTASKS=2 SLURM_RESTART_COUNT=0 setsid bash "$train_script" "$dir/c.yaml" "$@" > "$out" 2>&1 &
  job=$!
  deadline=$((SECONDS + 60))
  while [ "$(train_records "$run_dir")" -lt "$min" ]; do
    kill -0 "$job" 2>/dev/null || fail "job ended before $min train records"
    [ "$SECONDS" -lt "$deadline" ] || fail "fewer than $min train records after 60 s"
    sleep 0.2
  done
  kill "-$signal" "$job"
  deadline=$((SECONDS + 60))
  while kill -0 "$job" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "job still running 60 s after SIG$signal"
    sleep 0.2
  done
  wait "$job"
  rc=$?
  job=""
}

# One task: rank discovery from SLURM_* (checked against MPI) and a short run.
timeout -k 5 60 env SLURM_NTASKS=1 bash "$train_script" "$dir/c.yaml" \
  --set trainer.epochs=1 --set "run.dir=$dir/one" > "$dir/one.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "1-task run: exit $rc"
grep -q "1 rank(s) on mpi" "$dir/one/train.log" || fail "1-task run did not start MPI from the SLURM_* variables"
grep -q -- "--kill-on-bad-exit=1 $build/lica_dist_train --config $dir/c.yaml --resume latest --set trainer.epochs=1" \
  "$dir/srun.log" || fail "srun command line: $(cat "$dir/srun.log")"
ok "1 task: SLURM_* rank discovery, exit 0"

# A SLURM_PROCID that disagrees with MPI is bad input: exit 2, no requeue.
timeout -k 5 60 env SLURM_NTASKS=1 FAKE_SRUN_PROCID=3 bash "$train_script" "$dir/c.yaml" \
  --set "run.dir=$dir/mismatch" > "$dir/mismatch.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "SLURM_PROCID mismatch: exit $rc, expected 2"
grep -q "SLURM_PROCID=3 but MPI reports rank 0" "$dir/mismatch.out" || fail "mismatch not reported"
ok "1 task: SLURM_PROCID mismatch is exit 2"

# (d) bad config through the script: exit 2, no requeue.
timeout -k 5 60 env SLURM_NTASKS=1 bash "$train_script" "$dir/c.yaml" \
  --set trainer.batch_size=0 --set "run.dir=$dir/bad" > "$dir/bad.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "bad config: exit $rc, expected 2"
grep -q "trainer.batch_size" "$dir/bad.out" || fail "bad config: message does not name trainer.batch_size"
[ ! -s "$dir/scontrol.log" ] || fail "bad input was requeued: $(cat "$dir/scontrol.log")"
ok "bad config: exit 2, no requeue"

# Two tasks, stopped by SIGUSR1 to the batch shell (Slurm's --signal=B:USR1@120).
run_and_stop USR1 20 "$dir/run" "$dir/job1.out"
[ "$rc" -eq 0 ] || fail "stopped job: exit $rc, expected 0 after requeue"
grep -q "received SIGUSR1" "$dir/job1.out" || fail "the batch shell did not trap SIGUSR1"
grep -q "srun exited with 75" "$dir/job1.out" || fail "srun did not exit 75"
[ "$(cat "$dir/scontrol.log")" = "requeue 123" ] || fail "scontrol calls: $(cat "$dir/scontrol.log")"
latest=$(cat "$dir/run/checkpoints/latest" 2>/dev/null) || fail "no checkpoints/latest"
[[ "$latest" =~ ^step_[0-9]+$ ]] || fail "latest names '$latest'"
[ -d "$dir/run/checkpoints/$latest" ] || fail "latest names $latest, which does not exist"
stopped_at=${latest#step_}
/usr/bin/env python3 - "$dir/run/metrics.jsonl" "$stopped_at" "$total" <<'PY' || fail "metrics after the stop"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
stopped_at, total = int(sys.argv[2]), int(sys.argv[3])
steps = [r["step"] for r in recs if r["type"] == "train"]
assert steps == list(range(1, len(steps) + 1)), steps[:5]
assert steps[-1] == stopped_at, (steps[-1], stopped_at)  # the stop checkpoint is the last step
assert 20 <= stopped_at < total, (stopped_at, total)
assert not any(r["type"] == "eval" for r in recs), "a stopped run must not evaluate"
PY
ok "SIGUSR1: checkpoint $latest, all ranks exit 75, 'scontrol requeue 123', script exit 0"

# The requeued job: same command, resumes from latest and finishes without a signal.
SLURM_NTASKS=2 SLURM_RESTART_COUNT=1 timeout -k 10 150 bash "$train_script" "$dir/c.yaml" > "$dir/job2.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "requeued job: exit $rc"
grep -q "restart 1" "$dir/job2.out" || fail "restart count not printed"
grep -q "resumed from .*$latest" "$dir/run/train.log" || fail "the requeued job did not resume from $latest"
[ "$(cat "$dir/scontrol.log")" = "requeue 123" ] || fail "the finished job was requeued: $(cat "$dir/scontrol.log")"
/usr/bin/env python3 - "$dir/run/metrics.jsonl" "$total" <<'PY' || fail "metrics after the resumed run"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
total = int(sys.argv[2])
steps = [r["step"] for r in recs if r["type"] == "train"]
assert steps == list(range(1, total + 1)), ("train steps are not 1..%d once each" % total,
                                            len(steps), sorted(set(s for s in steps if steps.count(s) > 1))[:5])
last = recs[-1]
assert last["type"] == "eval" and last["split"] == "test" and last["step"] == total, last
PY
[ "$(cat "$dir/run/checkpoints/latest")" = "step_$total" ] || fail "latest is not step_$total"
ok "requeued job resumed from $latest, train steps 1..$total once each, test eval, exit 0"

# Preemption or scancel: SIGTERM to the batch shell takes the same path.
run_and_stop TERM 5 "$dir/term" "$dir/term.out" --set "run.dir=$dir/term"
[ "$rc" -eq 0 ] || fail "job stopped by SIGTERM: exit $rc, expected 0 after requeue"
grep -q "received SIGTERM" "$dir/term.out" || fail "the batch shell did not trap SIGTERM"
grep -q "srun exited with 75" "$dir/term.out" || fail "SIGTERM: srun did not exit 75"
[ "$(grep -c "^requeue 123$" "$dir/scontrol.log")" -eq 2 ] || fail "SIGTERM: scontrol calls: $(cat "$dir/scontrol.log")"
[ -n "$(cat "$dir/term/checkpoints/latest" 2>/dev/null)" ] || fail "SIGTERM: no checkpoint"
ok "SIGTERM: checkpoint $(cat "$dir/term/checkpoints/latest"), requeue, script exit 0"

# eval.sbatch on the final checkpoint, when lica_eval is built.
if [ -x "$build/lica_eval" ]; then
  timeout -k 5 120 env SLURM_NTASKS=2 bash "$eval_script" "$dir/c.yaml" "$dir/run/checkpoints/latest" \
    > "$dir/eval.out" 2>&1
  rc=$?
  [ "$rc" -eq 0 ] || fail "eval.sbatch: exit $rc"
  grep -q -- "--kill-on-bad-exit=1 $build/lica_eval --config $dir/c.yaml --checkpoint $dir/run/checkpoints/latest --split test" \
    "$dir/srun.log" || fail "eval srun command line"
  [ -s "$dir/run/eval_test_step_$total.json" ] || fail "no $dir/run/eval_test_step_$total.json"
  timeout -k 5 60 env SLURM_NTASKS=1 bash "$eval_script" "$dir/c.yaml" "$dir/run/checkpoints/latest" nosuchsplit \
    > "$dir/eval_bad.out" 2>&1
  rc=$?
  [ "$rc" -eq 2 ] || fail "eval.sbatch on a split that does not exist: exit $rc, expected 2"
  ok "eval.sbatch on the final checkpoint with 2 tasks: exit 0; unknown split: exit 2"
else
  echo "skip: $build/lica_eval not built; eval.sbatch only checked with bash -n"
fi
echo "ok: slurm launch test passed in $((SECONDS - started)) s"
