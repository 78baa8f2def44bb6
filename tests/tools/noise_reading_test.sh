#!/usr/bin/env bash
# tools/noise_study.py's plain reading of the numbers: its paired t-test verdicts (95%, by the
# seeds' degrees of freedom) and the sentences it writes for a study where LICA helps, one
# where it hurts and one where the difference is noise.
# Usage: noise_reading_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
src=$2
/usr/bin/python3 - "$src/tools" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from noise_study import reading, verdict

failures = []
def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")

check("a steady gain", verdict([1.0, 1.1, 0.9]), "better")
check("a steady loss", verdict([-1.0, -1.1, -0.9]), "worse")
check("noise", verdict([0.5, -0.4, 0.1]), "no clear difference")
check("one seed", verdict([5.0]), "no clear difference")
# mean 0.6, se 0.23: above twice the standard error but not t(2 dof) = 4.30 of them.
check("three seeds, t = 2.6", verdict([0.2, 1.0, 0.6]), "no clear difference")
check("eight seeds, t = 2.6", verdict([0.2, 1.0, 0.6, 0.6, 0.2, 1.0, 0.6, 0.6]), "better")

def study(delta):
    base = {p: {s: {"t2v_r1": 30 - 10 * p + int(s) / 10, "v2t_r1": 80 - 20 * p + int(s) / 10}
                for s in "123"} for p in (0.0, 0.2)}
    other = {p: {s: {k: v + delta(p, s) for k, v in r.items()} for s, r in by.items()}
             for p, by in base.items()}
    return {"baseline": base, "LICA": other}

helps = reading(study(lambda p, s: 2 * p + 0.01 * int(s)), None)
if "clearly better in both directions (paired t-test, 95%) at P = 0.2." not in helps:
    failures.append("a gain at P = 0.2 not reported: " + helps)
if "Nor is it clearly worse" not in helps:
    failures.append("no 'nor worse' sentence: " + helps)
if "costs `baseline` 2.0 points of text-to-video R@1 and 4.0" not in helps:
    failures.append("the cost of noise is wrong: " + helps)
hurts = reading(study(lambda p, s: -1 - 0.01 * int(s)), None)
if "At no P is `LICA` clearly better" not in hurts or "worse in at least one direction at P = 0, 0.2" not in hurts:
    failures.append("a loss at every P not reported: " + hurts)
noise = reading(study(lambda p, s: (-1) ** int(s) * 0.3), None)
if "At no P is" not in noise or "Nor is it clearly worse" not in noise:
    failures.append("noise read as a difference: " + noise)
if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok: verdicts and readings")
PY
