#!/usr/bin/env bash
# Issue 9's GPU measurements in stages, run ON the H100 machine from the project's root after
#   bash .gpu-deps/gpu-build.sh      (prepared here by ../shared/device/prepare.sh)
# Each stage fits one 10-minute device command; outputs go to $OUT (the device tool's folder)
# or runs/h100/.
#   bash scripts/h100_measure.sh tests   # every test in build-gpu, the CUDA ones included
#   bash scripts/h100_measure.sh train   # W=1 nccl on the GPU, W=2 mpi on CUDA tensors
#   bash scripts/h100_measure.sh bench   # train_bench vs reference_step.py, bf16 and tf32
set -euo pipefail
stage=${1:?usage: h100_measure.sh tests|train|bench}
out=${OUT:-runs/h100}
mkdir -p "$out"
build=build-gpu
export LD_LIBRARY_PATH=/opt/gpu-deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" || true

case "$stage" in
  tests)
    "$build/lica_trainer_tests" --gtest_filter='*Cuda*:LicaFused*' 2>&1 | tee "$out/cuda_tests.txt" | tail -5
    (cd "$build" && ctest -j 8 --output-on-failure) > "$out/ctest.txt" 2>&1 || true
    tail -5 "$out/ctest.txt"
    ;;
  train)
    data=$out/synth.h5
    "$build/lica_make_synthetic" --out "$data" > /dev/null
    # NCCL cannot put two ranks on one GPU: W=1 on nccl, W=2 on mpi with CUDA tensors.
    "$build/lica_dist_train" --config configs/synthetic_lica.yaml --set data.path="$data" \
      --set dist.backend=nccl --set trainer.device=cuda --set run.dir="$out/w1_nccl" \
      > "$out/w1_nccl.log" 2>&1
    mpirun --oversubscribe -np 2 "$build/lica_dist_train" --config configs/synthetic_lica.yaml \
      --set data.path="$data" --set dist.backend=mpi --set trainer.device=cuda \
      --set run.dir="$out/w2_mpi" > "$out/w2_mpi.log" 2>&1
    tail -n 2 "$out"/w1_nccl/metrics.jsonl "$out"/w2_mpi/metrics.jsonl
    ;;
  bench)
    # The model and sizes of docs/performance.md's table (CLIP4Clip-sized, LICA top_k 8).
    args=(--batches 256,1024,4096,16384 --lica off,on --warmup 3 --steps 10
          --frames 12 --tokens 32 --video-dim 512 --text-dim 512
          --set model.embed_dim=512 --set model.video.layers=4 --set model.video.heads=8
          --set loss.lica.top_k=8)
    for precision in bf16 tf32; do
      "$build/train_bench" --device cuda --precision "$precision" --lica-forms chunked,fused \
        "${args[@]}" > "$out/train_bench_$precision.jsonl"
      python3 bench/reference_step.py --device cuda --precision "$precision" "${args[@]}" \
        > "$out/reference_$precision.jsonl"
      python3 tools/bench_table.py "$out/train_bench_$precision.jsonl" \
        "$out/reference_$precision.jsonl" | tee "$out/table_$precision.md"
    done
    ;;
  *) echo "unknown stage '$stage': expected tests, train or bench" >&2; exit 2 ;;
esac
