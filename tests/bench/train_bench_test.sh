#!/usr/bin/env bash
# Smoke test of the step benchmark: train_bench on the CPU at tiny sizes prints one valid
# JSON line per configuration (B x LICA off/on x form) with positive throughput and a time
# split that adds up; reference_step.py compiles, and its FLOP and parameter arithmetic
# (--flops-only, no torch needed) agrees with train_bench's for the same arguments. Where a
# python with torch is installed, the reference runs, and its step from lica's weights and
# inputs (train_bench --dump-step) gives lica's loss and gradients.
# Usage: train_bench_test.sh TRAIN_BENCH SOURCE_DIR
set -euo pipefail
bench=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bench" --help >"$tmp/help.txt"
grep -q -- "--lica-forms" "$tmp/help.txt" || { echo "FAIL: --help lacks --lica-forms"; exit 1; }
rc=0
"$bench" --batches 8,x --device cpu >/dev/null 2>"$tmp/bad.txt" || rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: a bad --batches exited $rc, expected 2"; exit 1; }
grep -q "batches" "$tmp/bad.txt" || { echo "FAIL: the error does not name --batches"; exit 1; }

python3 -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
  "$src/bench/reference_step.py" "$tmp/reference_step.pyc"

args=(--batches 8,16 --lica off,on --lica-forms direct,chunked --steps 2 --warmup 1
      --frames 4 --tokens 5 --video-dim 12 --text-dim 10
      --set model.embed_dim=16 --set model.video.heads=2 --set model.text.heads=2
      --set model.text.layers=1 --set loss.lica.top_k=4)
OMP_NUM_THREADS=1 "$bench" --device cpu --threads 1 "${args[@]}" >"$tmp/bench.jsonl"
python3 "$src/bench/reference_step.py" --flops-only "${args[@]}" >"$tmp/reference.jsonl"
cat "$tmp/bench.jsonl"

python3 - "$tmp/bench.jsonl" "$tmp/reference.jsonl" <<'PY'
import json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reference = {(r["B"], r["lica"]): r for r in map(json.loads, open(sys.argv[2]))}
def fail(msg):
    print("FAIL:", msg); sys.exit(1)
for B in (8, 16):
    mine = [l for l in lines if l["B"] == B]
    off = [l for l in mine if l["lica"] == "off"]
    on = [l["form"] for l in mine if l["lica"] == "on"]
    if len(off) != 1 or off[0]["form"] != "none":
        fail(f"B={B}: expected one LICA-off line, got {off}")
    if on != ["direct", "chunked"]:
        fail(f"B={B}: LICA-on forms {on}")
if len(lines) != 6:
    fail(f"{len(lines)} lines")
for l in lines:
    where = f"B={l['B']} lica={l['lica']} form={l['form']}"
    if "oom" in l or "error" in l:
        fail(f"{where}: {l}")
    for key in ("samples_per_s", "step_ms", "forward_ms", "backward_ms", "optimizer_ms",
                "flops", "tflops", "peak_gib", "params"):
        if not (isinstance(l[key], (int, float)) and math.isfinite(l[key]) and l[key] > 0):
            fail(f"{where}: {key} = {l[key]!r}, expected a positive number")
    if l["mfu"] is not None:
        fail(f"{where}: MFU on the CPU without --peak-tflops")
    parts = l["forward_ms"] + l["loss_ms"] + l["backward_ms"] + l["reduce_ms"] + l["optimizer_ms"]
    if abs(parts - l["step_ms"]) > 1e-6 * l["step_ms"]:
        fail(f"{where}: the parts add to {parts} ms, the step is {l['step_ms']} ms")
    if abs(l["samples_per_s"] - l["B"] / (l["step_ms"] / 1e3)) > 1e-6 * l["samples_per_s"]:
        fail(f"{where}: samples/s is not B / step time")
    if l["lica"] == "off" and l["lica_ms"] != 0:
        fail(f"{where}: LICA time {l['lica_ms']} with LICA off")
    r = reference[(l["B"], l["lica"])]
    for key in ("flops", "params"):
        if r[key] != l[key]:
            fail(f"{where}: reference_step.py {key} {r[key]} != train_bench {l[key]}")
flops = {(l["B"], l["lica"]): l["flops"] for l in lines}
if not flops[(8, "on")] > flops[(8, "off")]:
    fail("LICA adds no FLOPs")
print(f"ok: {len(lines)} configurations; FLOPs and parameters agree with reference_step.py")
PY

# bf16 (trainer.precision: CPU autocast here) runs and says so.
OMP_NUM_THREADS=1 "$bench" --device cpu --threads 1 --precision bf16 "${args[@]}" \
  --batches 8 --lica on --lica-forms fused >"$tmp/bf16.jsonl"
python3 - "$tmp/bf16.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if len(lines) != 1 or lines[0]["precision"] != "bf16" or not lines[0].get("samples_per_s", 0) > 0:
    print(f"FAIL: bf16 run printed {lines}"); sys.exit(1)
print("ok: bf16")
PY

# The reference step itself where a python with torch is installed (Debian's python3-torch,
# or the GPU machine's); without one, its arithmetic above is what is checked.
torch_python=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c "import torch" 2>/dev/null; then torch_python=$p; break; fi
done
if [ -n "$torch_python" ]; then
  OMP_NUM_THREADS=1 "$torch_python" "$src/bench/reference_step.py" --device cpu --threads 1 \
    "${args[@]}" >"$tmp/reference.jsonl"
  cat "$tmp/reference.jsonl"
  python3 - "$tmp/bench.jsonl" "$tmp/reference.jsonl" <<'PY'
import json, math, sys
bench = {(l["B"], l["lica"]): l for l in map(json.loads, open(sys.argv[1]))}
reference = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
if len(reference) != 4:
    print(f"FAIL: reference_step printed {len(reference)} lines, expected 4"); sys.exit(1)
for r in reference:
    b = bench[(r["B"], r["lica"])]
    if "oom" in r or "error" in r or not r["samples_per_s"] > 0:
        print(f"FAIL: reference line {r}"); sys.exit(1)
    if set(r) != set(b):
        print(f"FAIL: keys differ: {sorted(set(r) ^ set(b))}"); sys.exit(1)
    if (r["params"], r["flops"]) != (b["params"], b["flops"]):
        print(f"FAIL: B={r['B']} lica={r['lica']}: params/flops differ"); sys.exit(1)
print("ok: reference_step.py ran with torch; its lines match train_bench's keys, parameters, FLOPs")
PY
  # The honest reference is lica's model: one step from the same weights and inputs gives
  # the same loss and gradients (fp32 rounding), LICA off and on, with projections, text
  # layers and EOT pooling (args), and as the issue's run: widths = D, mean pooling.
  same=(--batches 12 --frames 6 --tokens 7 --video-dim 16 --text-dim 16
        --set model.embed_dim=16 --set model.video.heads=2 --set model.text.pooling=mean
        --set loss.lica.top_k=4)
  for case in "args" "same"; do
    if [ "$case" = args ]; then set -- "${args[@]}"; else set -- "${same[@]}"; fi
    for lica in off on; do
      OMP_NUM_THREADS=1 "$bench" --device cpu --threads 1 "$@" --lica $lica \
        --lica-forms chunked --dump-step "$tmp/step_${case}_$lica.pt"
      OMP_NUM_THREADS=1 "$torch_python" "$src/bench/reference_step.py" --device cpu --threads 1 \
        "$@" --lica $lica --check-step "$tmp/step_${case}_$lica.pt" \
        || { echo "FAIL: reference_step.py's step differs from lica's ($case, LICA $lica)"; exit 1; }
    done
  done
  echo "ok: the reference's loss and gradients equal lica's from the same weights"
else
  echo "note: no python with torch here; reference_step.py checked by compilation and --flops-only"
fi

# The Results table of docs/performance.md, one row per configuration.
python3 "$src/tools/bench_table.py" "$tmp/bench.jsonl" "$tmp/reference.jsonl" >"$tmp/table.md"
cat "$tmp/table.md"
rows=$(grep -c '^| [0-9]' "$tmp/table.md")
[ "$rows" -eq "$(wc -l <"$tmp/bench.jsonl")" ] || { echo "FAIL: $rows table rows"; exit 1; }
