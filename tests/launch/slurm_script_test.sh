#!/usr/bin/env bash
# What train.sbatch tells the user, without Slurm and without training: a fake
# lica_dist_train (exits FAKE_EXIT), fake srun/scontrol/squeue/sbatch. Checks: the time-limit
# check (refused with the numbers when the limit is not longer than the signal's lead, a
# warning up to lead + 30 s), a requeue refused because Slurm already requeued the job
# (exit 75, no advice to resubmit) against a requeue that really failed (advice to
# resubmit), and that the CPU headers submit with no GPU request (the GPU header does).
# Usage: slurm_script_test.sh SOURCE_DIR
set -uo pipefail
src=$(cd "$1" && pwd)
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM_|SRUN_|PMI_|PMIX_|OMPI_COMM_WORLD_)')
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.out "$dir"/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }
ok() { echo "ok: $*"; }

mkdir -p "$dir/bin" "$dir/fake"
cat > "$dir/bin/lica_dist_train" <<'X'
#!/usr/bin/env bash
echo "$(basename "$0") $* (OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset})" >> "$FAKE_LOG/program.log"
exit "${FAKE_EXIT:-0}"
X
cp "$dir/bin/lica_dist_train" "$dir/bin/lica_eval"
cat > "$dir/fake/srun" <<'X'
#!/usr/bin/env bash
echo "srun $*" >> "$FAKE_LOG/srun.log"
while [ $# -gt 0 ] && [[ $1 == -* ]]; do shift; done
exec "$@"
X
cat > "$dir/fake/squeue" <<'X'
#!/usr/bin/env bash
echo "${FAKE_TIME_LIMIT:-UNLIMITED}"
X
# requeue: 0, or refused as Slurm refuses a job it has already requeued (FAKE_REQUEUE=pending),
# or an unrelated failure (FAKE_REQUEUE=denied). show job: FAKE_STATE.
cat > "$dir/fake/scontrol" <<'X'
#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG/scontrol.log"
case "$1:${FAKE_REQUEUE:-ok}" in
  requeue:pending) echo "Requeue of JobId=$2 returned an error: Job is pending execution" >&2; exit 1 ;;
  requeue:denied) echo "Requeue of JobId=$2 returned an error: Access/permission denied" >&2; exit 1 ;;
  show:*) echo "JobId=$3 JobName=lica-train JobState=${FAKE_STATE:-RUNNING} Reason=None" ;;
esac
exit 0
X
# Fake sbatch: the script's #SBATCH header, then the command line's options over it;
# records the resolved options and runs the script with what Slurm would export.
cat > "$dir/fake/sbatch" <<'X'
#!/usr/bin/env bash
declare -A opt
cli=()
while [ $# -gt 0 ] && [[ $1 == --*=* ]]; do cli+=("${1#--}"); shift; done
script=$1; shift
while IFS= read -r line; do
  [[ $line == '#!'* ]] && continue
  [[ $line == '#'* ]] || break
  if [[ $line =~ ^#SBATCH[[:space:]]+--([a-z-]+)(=(.*))?$ ]]; then opt[${BASH_REMATCH[1]}]=${BASH_REMATCH[3]:-yes}; fi
done < "$script"
for o in ${cli[@]+"${cli[@]}"}; do opt[${o%%=*}]=${o#*=}; done
for k in "${!opt[@]}"; do echo "--$k=${opt[$k]}"; done | sort > "$FAKE_LOG/sbatch.log"
[ -z "${opt[gpus-per-node]:-}${opt[gpus]:-}${opt[gres]:-}" ] || echo "gpu requested" >> "$FAKE_LOG/sbatch.log"
export SLURM_JOB_ID=77 SLURM_SUBMIT_DIR=$LICA_ROOT SLURM_NTASKS=${opt[ntasks]:-1} \
  SLURM_CPUS_PER_TASK=${opt[cpus-per-task]:-1}
exec bash "$script" "$@"
X
chmod +x "$dir"/bin/* "$dir"/fake/*
export FAKE_LOG=$dir LICA_ROOT=$src LICA_BIN=$dir/bin SRUN=$dir/fake/srun \
  SCONTROL=$dir/fake/scontrol SQUEUE=$dir/fake/squeue
train=$src/launch/slurm/train.sbatch
reset() { rm -f "$dir"/*.log; }

# (1) the time limit against the signal's lead (120 s by default)
reset
SLURM_JOB_ID=5 FAKE_TIME_LIMIT=2:00 bash "$train" c.yaml > "$dir/short.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "limit 2:00 with a 120 s lead: exit $rc, expected 2"
grep -q "time limit (2:00 = 120 s) is not longer than the stop signal's lead (120 s" "$dir/short.out" ||
  fail "limit 2:00: the refusal does not give the numbers"
[ ! -f "$dir/program.log" ] || fail "limit 2:00: the program ran"
SLURM_JOB_ID=5 FAKE_TIME_LIMIT=1:00 LICA_SIGNAL_LEAD_S=30 bash "$train" c.yaml > "$dir/lead.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "limit 1:00 with LICA_SIGNAL_LEAD_S=30: exit $rc"
grep -q "warning: the time limit (60 s) leaves at most 30 s" "$dir/lead.out" || fail "limit 1:00, lead 30: no warning"
SLURM_JOB_ID=5 FAKE_TIME_LIMIT=1-00:00:00 bash "$train" c.yaml > "$dir/long.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "limit 1 day: exit $rc"
! grep -q "warning" "$dir/long.out" || fail "limit 1 day: a warning"
SLURM_JOB_ID=5 FAKE_TIME_LIMIT=UNLIMITED bash "$train" c.yaml > "$dir/unl.out" 2>&1 || fail "UNLIMITED: exit $?"
ok "time limit: 2:00 refused (exit 2, the numbers), 1:00 with a 30 s lead warned, 1 day and UNLIMITED quiet"

# (2) a stop (exit 75) whose requeue Slurm refuses because it already requeued the job
reset
SLURM_JOB_ID=9 FAKE_EXIT=75 FAKE_REQUEUE=pending FAKE_STATE=PENDING bash "$train" c.yaml > "$dir/pending.out" 2>&1
rc=$?
[ "$rc" -eq 75 ] || fail "requeue refused as pending: exit $rc, expected 75"
grep -q "job 9 is already requeued by Slurm (JobState=PENDING" "$dir/pending.out" || fail "pending: not said"
! grep -qi "resubmit this script" "$dir/pending.out" || fail "pending: the script advises resubmitting"
SLURM_JOB_ID=9 FAKE_EXIT=75 FAKE_REQUEUE=denied FAKE_STATE=RUNNING bash "$train" c.yaml > "$dir/denied.out" 2>&1
rc=$?
[ "$rc" -eq 75 ] || fail "requeue denied: exit $rc, expected 75"
grep -q "the job is NOT requeued. Resubmit this script" "$dir/denied.out" || fail "denied: no advice to resubmit"
grep -q "permission denied" "$dir/denied.out" || fail "denied: Slurm's reason not shown"
SLURM_JOB_ID=9 FAKE_EXIT=75 bash "$train" c.yaml > "$dir/requeued.out" 2>&1 || fail "requeue accepted: exit $?"
ok "requeue refused as already pending: exit 75, no resubmit advice; really failed: advice; accepted: exit 0"

# (3) CPU headers: no GPU request, options from the command line, arguments passed on
reset
(cd "$dir" && "$dir/fake/sbatch" "$src/launch/slurm/train_cpu.sbatch" c.yaml --set run.dir=r) > "$dir/cpu.out" 2>&1 ||
  fail "train_cpu.sbatch through the fake sbatch: exit $?"
! grep -q "gpu requested" "$dir/sbatch.log" || fail "train_cpu.sbatch requests a GPU"
grep -qx -- "--ntasks=2" "$dir/sbatch.log" && grep -qx -- "--cpus-per-task=1" "$dir/sbatch.log" ||
  fail "train_cpu.sbatch header: $(cat "$dir/sbatch.log")"
grep -q "lica_dist_train --config c.yaml --resume latest --set run.dir=r" "$dir/program.log" ||
  fail "train_cpu.sbatch did not run train.sbatch's command"
grep -qx -- "--requeue=yes" "$dir/sbatch.log" && grep -qx -- "--signal=B:USR1@120" "$dir/sbatch.log" ||
  fail "train_cpu.sbatch lost the requeue or the signal"
reset
(cd "$dir" && "$dir/fake/sbatch" --ntasks=4 --cpus-per-task=3 "$src/launch/slurm/train_cpu.sbatch" c.yaml) > "$dir/cpu4.out" 2>&1 ||
  fail "train_cpu.sbatch --ntasks=4: exit $?"
grep -qx -- "--ntasks=4" "$dir/sbatch.log" || fail "command-line --ntasks not taken"
grep -q "OMP_NUM_THREADS=3)" "$dir/program.log" || fail "--cpus-per-task=3 did not reach the ranks' threads"
reset
(cd "$dir" && "$dir/fake/sbatch" "$src/launch/slurm/eval_cpu.sbatch" c.yaml ck) > "$dir/evalcpu.out" 2>&1 ||
  fail "eval_cpu.sbatch: exit $?"
! grep -q "gpu requested" "$dir/sbatch.log" || fail "eval_cpu.sbatch requests a GPU"
grep -q "lica_eval --config c.yaml --checkpoint ck --split test" "$dir/program.log" || fail "eval_cpu.sbatch command"
reset
(cd "$dir" && "$dir/fake/sbatch" "$train" c.yaml) > "$dir/gpu.out" 2>&1
grep -q "gpu requested" "$dir/sbatch.log" || fail "the fake sbatch does not see train.sbatch's GPU request"
ok "CPU headers: no GPU (train.sbatch's is seen), 2x1 by default, --ntasks from the command line, the same commands"
