#!/usr/bin/env bash
# The study scripts work: scripts/compare_lica.sh, compare_aai.sh and compare_noise.sh --tiny
# (80 videos, one seed, two epochs) each write their section, with the commit and the
# command, into a scratch copy of docs/results.md; the other section of the copy stays byte
# for byte docs/results.md's, and docs/results.md itself is untouched.
# Usage: study_scripts_tiny_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
py=/usr/bin/python3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
start=$(date +%s)
fail() { echo "FAIL: $*"; exit 1; }
before=$(sha256sum "$src/docs/results.md" | cut -d' ' -f1)

for study in lica aai; do
  t0=$(date +%s)
  LICA_BIN=$bin LICA_STUDY_DIR=$dir/$study bash "$src/scripts/compare_$study.sh" --tiny \
    > "$dir/$study.out" 2>&1 || { cat "$dir/$study.out"; fail "compare_$study.sh --tiny"; }
  grep -q "wrote section $study of $dir/$study/results.md" "$dir/$study.out" ||
    { cat "$dir/$study.out"; fail "compare_$study.sh --tiny does not say it wrote its section of the scratch copy"; }
  "$py" - "$src/docs/results.md" "$dir/$study/results.md" "$study" <<'PY' || fail "compare_$study.sh --tiny: results"
import re, sys
orig, new, name = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
block = lambda t, n: re.search(rf"(?ms)^<!-- section: {n} -->\n.*?^<!-- end section: {n} -->\n", t)
mine = block(new, name)
if not mine:
    sys.exit(f"{sys.argv[2]}: no section {name}")
text = mine.group(0)
if not re.search(rf"Reproduce: `scripts/compare_{name}\.sh [0-9 ]+ --tiny` at commit `[0-9a-f]+", text):
    sys.exit(f"section {name} does not record the command and commit:\n{text[:400]}")
if "| baseline | 1 |" not in text:
    sys.exit(f"section {name} has no baseline row over one seed:\n{text[:800]}")
if text == block(orig, name).group(0):
    sys.exit(f"section {name} is unchanged")
outside = lambda t: t.replace(block(t, name).group(0), "")
if outside(new) != outside(orig):
    sys.exit(f"{sys.argv[2]}: bytes outside section {name} differ from docs/results.md")
print(f"ok: compare_{name}.sh --tiny wrote section {name} ({text.count(chr(10))} lines) with its "
      f"commit and command; every other byte is docs/results.md's")
PY
  echo "ok: compare_$study.sh --tiny in $(( $(date +%s) - t0 )) s"
done
# The noise study: its own section (new, or replacing the one there), both figures.
t0=$(date +%s)
LICA_BIN=$bin LICA_STUDY_DIR=$dir/noise bash "$src/scripts/compare_noise.sh" --tiny \
  > "$dir/noise.out" 2>&1 || { cat "$dir/noise.out"; fail "compare_noise.sh --tiny"; }
for f in noise_r1.png noise_maps.png; do
  [ "$(head -c 8 "$dir/noise/figures/$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "compare_noise.sh --tiny: $dir/noise/figures/$f is not a PNG"
done
"$py" - "$src/docs/results.md" "$dir/noise/results.md" <<'PY' || fail "compare_noise.sh --tiny: results"
import re, sys
orig, new = open(sys.argv[1]).read(), open(sys.argv[2]).read()
block = lambda t: re.search(r"(?ms)^<!-- section: noise -->\n.*?^<!-- end section: noise -->\n", t)
mine = block(new)
if not mine:
    sys.exit(f"{sys.argv[2]}: no section noise")
text = mine.group(0)
for needle in ["Reproduce: `scripts/compare_noise.sh 1 --tiny` at commit `", "| baseline | 0 | 1 |",
               "| baseline | 0.2 | 1 |", "| LICA | 0.2 | 1 |", "Paired difference to `baseline`",
               "| baseline | videos |", "| LICA | texts |", "figures/noise_r1.png"]:
    if needle not in text:
        sys.exit(f"section noise lacks {needle!r}:\n{text[:1500]}")
rest = new.replace(text, "")
old = orig.replace(block(orig).group(0), "") if block(orig) else orig
if rest.rstrip("\n") != old.rstrip("\n"):
    sys.exit(f"{sys.argv[2]}: bytes outside section noise differ from docs/results.md")
print(f"ok: compare_noise.sh --tiny wrote section noise ({text.count(chr(10))} lines)")
PY
echo "ok: compare_noise.sh --tiny in $(( $(date +%s) - t0 )) s"
[ "$(sha256sum "$src/docs/results.md" | cut -d' ' -f1)" = "$before" ] || fail "docs/results.md changed"
echo "ok: study scripts in $(( $(date +%s) - start )) s, docs/results.md untouched"
