#!/usr/bin/env bash
# tools/bench_table.py: the reference joined from the same file (gpu_check.sh writes one) or a
# second one, and issue 17's targets marked met, NOT met or not measured from the numbers.
# Usage: bench_table_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
line() {  # bench B lica form samples/s [lica_share mfu]
  printf '{"bench": "%s", "B": %s, "lica": "%s", "form": "%s", "samples_per_s": %s, "lica_share": %s, "mfu": %s, "peak_gib": 1.0}\n' \
    "$1" "$2" "$3" "$4" "$5" "${6:-0}" "${7:-0.1}"
}
{
  line train_bench 1024 off none 160
  line train_bench 4096 off none 120
  line train_bench 4096 on fused 250 0.08
  line train_bench 16384 off none 140 0 0.30
  line train_bench 16384 on fused 100 0.20
  line reference_step 1024 off none 100
  line reference_step 4096 off none 100
  line reference_step 4096 on direct 100
  line reference_step 16384 off none 100
  line reference_step 16384 on direct 100
  echo '{"bench": "loader_bench", "batch": 4096, "readers": 4, "samples_per_s": 200}'
} > "$tmp/both.jsonl"
python3 "$src/tools/bench_table.py" --targets "$tmp/both.jsonl" > "$tmp/table.md"
cat "$tmp/table.md"
fail() { echo "FAIL: $*"; exit 1; }
[ "$(grep -c '^| [0-9]' "$tmp/table.md")" -eq 5 ] || fail "expected 5 rows (the reference lines are not rows)"
grep -q '^| 1024 | off | none | 160 | 100 | 1.60 |' "$tmp/table.md" || fail "B = 1024 not joined with its reference"
expect() {  # target text, verdict
  grep -F "| $1 |" "$tmp/table.md" | grep -q "| $2 |$" || fail "$1: expected '$2'"
}
expect "LICA off, B = 1024: >= 1.5x eager" "met"
expect "LICA off, B = 4096: >= 1.3x eager" "NOT met"        # 1.20x
expect "LICA off, B = 16384: >= 1.3x eager" "met"           # 1.40x
expect "LICA on (fused), B = 4096: >= 2x eager" "met"       # 2.50x
expect "LICA on (fused), B = 16384: >= 2x eager" "NOT met"  # 1.00x
expect "LICA term (fused), B = 4096: <= 10% of the step" "met"
expect "LICA term (fused), B = 16384: <= 15% of the step" "NOT met"
expect "MFU, B = 16384, LICA off: >= 25%" "met"
expect "data: loader_bench >= 1.5x the B = 16384 step (LICA off)" "NOT met"  # 200 against 140
# A second file as the reference gives the same table.
grep -v '"reference_step"' "$tmp/both.jsonl" > "$tmp/lica.jsonl"
grep '"reference_step"' "$tmp/both.jsonl" > "$tmp/ref.jsonl"
python3 "$src/tools/bench_table.py" --targets "$tmp/lica.jsonl" "$tmp/ref.jsonl" | diff - "$tmp/table.md" \
  || fail "two files give another table than one"
# Nothing measured at 1024 with LICA on: not a pass.
grep '"B": 4096' "$tmp/both.jsonl" > "$tmp/only4096.jsonl"
python3 "$src/tools/bench_table.py" --targets "$tmp/only4096.jsonl" > "$tmp/only4096.md"
grep -F "MFU, B = 16384" "$tmp/only4096.md" | grep -q "not measured" || fail "a missing B is not 'not measured'"
grep -F "data: loader_bench" "$tmp/only4096.md" | grep -q "not measured" || fail "no loader line is not 'not measured'"
# A loader fast enough.
sed 's/"samples_per_s": 200}/"samples_per_s": 210}/' "$tmp/both.jsonl" > "$tmp/fast.jsonl"
python3 "$src/tools/bench_table.py" --targets "$tmp/fast.jsonl" | grep -F "data: loader_bench" | grep -q "| met |" \
  || fail "210 samples/s against a 140 samples/s step is met"
echo "ok: bench_table.py joins the reference and marks the targets"
