#!/usr/bin/env bash
# The GPU check, in one run on a bare GPU machine (about 6 minutes on one H200), from the
# project's root after scripts/gpu_prepare.sh filled .gpu-deps/ on the CPU machine:
#   bash scripts/gpu_check.sh OUT_DIR [--skip-bench]
# Unpacks .gpu-deps/, configures and builds build-gpu/ against the machine's CUDA LibTorch
# (its Python torch), lists the kernels' GPU code (cuobjdump), runs the full ctest suite,
# trains W=1 on nccl and W=2 ranks sharing the GPU on mpi, and times train_bench against
# bench/reference_step.py in bf16, and large batches with micro-batches. Writes at most 9
# files into OUT_DIR and prints a summary.
set -uo pipefail
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
out="" skip_bench=0
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --skip-bench) skip_bench=1 ;;
    -*) echo "gpu_check.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    *) [[ -z "$out" ]] || { echo "gpu_check.sh: one OUT_DIR only" >&2; exit 2; }; out=$arg ;;
  esac
done
[[ -n "$out" ]] || { echo "gpu_check.sh: OUT_DIR is missing" >&2; usage >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
debs=${LICA_GPU_DEPS:-.gpu-deps}
compgen -G "$debs/*.deb" >/dev/null ||
  { echo "gpu_check.sh: $debs has no packages: run scripts/gpu_prepare.sh on the CPU machine first" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=build-gpu
started=$SECONDS
stamp() { echo "[$((SECONDS - started)) s] $*"; }

# 1. What the image lacks, unpacked where the build and the programs find it.
deps=/opt/gpu-deps
for f in "$debs"/*.deb; do dpkg -x "$f" "$deps"; done
# glog's CMake package names its find modules by an absolute path.
sed -i "s#\"/usr/share/glog/cmake\"#\"$deps/usr/share/glog/cmake\"#" \
  "$deps/usr/lib/x86_64-linux-gnu/cmake/glog/glog-modules.cmake"
export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
{
  git log -1 --format='commit %H %cd' 2>/dev/null || echo "commit unknown (no git)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} > "$out/machine.txt" 2>&1

# 2. Configure and build (file 2: build.txt, with the kernels' architectures).
stamp "building"
{
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr" && cmake --build "$build" -j "$(nproc)"
} > "$out/build.txt" 2>&1
build_rc=$?
{
  echo "== cuobjdump --list-elf $build/liblica_kernels.a"
  cuobjdump --list-elf "$build/liblica_kernels.a" 2>&1
} >> "$out/build.txt"

# 3. The whole suite (file 3: ctest.txt).
stamp "ctest"
if [[ $build_rc -eq 0 ]]; then
  (cd "$build" && ctest -j "$(nproc)" --timeout 240 --output-on-failure) > "$out/ctest.txt" 2>&1
fi

# 4. Training: W=1 on nccl; W=2 ranks on one GPU on mpi (files 4, 5: train_*.txt).
train() {  # name, then mpirun arguments or none, then --set overrides
  local name=$1; shift
  local run=$out/run_$name
  rm -rf "$run"
  "$@" --config configs/synthetic_lica.yaml --set data.path="$out/synth.h5" \
    --set trainer.device=cuda --set run.dir="$run" > "$out/train_$name.txt" 2>&1
  echo "exit $?" >> "$out/train_$name.txt"
  grep '"type":"eval"' "$run/metrics.jsonl" 2>/dev/null | tail -1 >> "$out/train_$name.txt"
}
if [[ $build_rc -eq 0 ]]; then
  stamp "training"
  "$build/lica_make_synthetic" --out "$out/synth.h5" --videos 4000 --clusters 40 \
    --caption-specificity 0.3 --seed 1 > /dev/null 2>&1
  # Under mpirun even at W = 1: without a launcher every backend is the local one.
  train w1_nccl mpirun -np 1 -x LD_LIBRARY_PATH "$build/lica_dist_train" --set dist.backend=nccl
  train w2_shared_gpu mpirun --oversubscribe -np 2 -x LD_LIBRARY_PATH "$build/lica_dist_train" \
    --set dist.backend=mpi --set dist.ranks_per_gpu=2
  rm -rf "$out"/run_* "$out/synth.h5"
fi

# 5. The step against eager PyTorch, bf16 (files 6, 7: bench.jsonl, bench_table.md with issue
# 17's targets marked met or not).
if [[ $build_rc -eq 0 && $skip_bench -eq 0 ]]; then
  stamp "bench"
  args=(--device cuda --precision bf16 --batches 1024,4096,16384 --lica off,on
        --warmup 2 --steps 5 --frames 12 --tokens 32 --video-dim 512 --text-dim 512
        --set model.embed_dim=512 --set model.video.layers=4 --set model.video.heads=8
        --set loss.lica.top_k=8)
  { "$build/train_bench" --lica-forms fused "${args[@]}"
    python3 bench/reference_step.py "${args[@]}"
    # The data target: 8 reader threads against the step (a 1.1 GB file of the same shape).
    "$build/loader_bench" --file /tmp/lica_loader_bench.h5 --batch 1024 --readers 8 --depth 8 \
      --train-steps 2 --json | grep '^{'; } > "$out/bench.jsonl" 2> "$out/bench_errors.txt"
  python3 tools/bench_table.py --targets "$out/bench.jsonl" > "$out/bench_table.md" 2>> "$out/bench_errors.txt"
  [[ -s "$out/bench_errors.txt" ]] || rm -f "$out/bench_errors.txt"
fi

# 6. Large global batches with micro-batches, bf16, the LICA study's model (D = 128, one
# seqTransf layer) on 12 x 512 frames and 32 x 512 tokens (file 8: large_batch.jsonl;
# docs/large-batch.md); then 1 048 576 with the inputs kept on the host (93 GB as fp32 of the
# machine's 128 GB), LICA on, one step (file 9: large_batch_1m.jsonl).
if [[ $build_rc -eq 0 && $skip_bench -eq 0 ]]; then
  stamp "large batch"
  "$build/train_bench" --device cuda --precision bf16 --batches 65536,262144 --lica off,on \
    --lica-forms fused --warmup 1 --steps 2 --frames 12 --tokens 32 --video-dim 512 \
    --text-dim 512 --set model.embed_dim=128 --set loss.lica.top_k=8 \
    --set trainer.micro_batch=16384 --set loss.contrastive.form=auto \
    > "$out/large_batch.jsonl" 2>&1 || echo "exit $?" >> "$out/large_batch.jsonl"
  stamp "large batch 1M"
  timeout 300 "$build/train_bench" --device cuda --precision bf16 --batches 1048576 --lica on \
    --lica-forms fused --warmup 0 --steps 1 --frames 12 --tokens 32 --video-dim 512 \
    --text-dim 512 --set model.embed_dim=128 --set loss.lica.top_k=8 \
    --set trainer.micro_batch=16384 --set trainer.host_inputs=true \
    --set loss.contrastive.form=auto > "$out/large_batch_1m.jsonl" 2>&1 \
    || echo "exit $?" >> "$out/large_batch_1m.jsonl"
fi

# The summary (at most 60 lines).
echo "== gpu_check.sh: $(head -1 "$out/machine.txt"), $(sed -n 2p "$out/machine.txt")"
echo "build: exit $build_rc; kernels: $(grep -o 'sm_[0-9]*' "$out/build.txt" | sort -u | tr '\n' ' ')"
[[ -f "$out/ctest.txt" ]] && grep -E "tests passed|tests failed" "$out/ctest.txt"
[[ -f "$out/ctest.txt" ]] && grep -E "\(Failed\)|\(SEGFAULT\)|\(Timeout\)|\(Subprocess aborted\)|\*\*\*" "$out/ctest.txt" | head -20
for f in "$out"/train_*.txt; do
  [[ -f "$f" ]] && echo "$(basename "$f" .txt): $(grep '^exit' "$f") $(tail -1 "$f" | cut -c1-160)"
done
[[ -f "$out/bench_table.md" ]] && head -30 "$out/bench_table.md"
[[ -f "$out/large_batch.jsonl" ]] && cut -c1-200 "$out/large_batch.jsonl" | head -6
[[ -f "$out/large_batch_1m.jsonl" ]] && cut -c1-200 "$out/large_batch_1m.jsonl" | tail -3
echo "files in $out: $(ls "$out" | tr '\n' ' ')"
stamp "done"
