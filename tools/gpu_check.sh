#!/bin/bash
# The prepared GPU check (issue #8), about 9 minutes on a lent GPU (for the open issues' trainings run tools/device/train_gpu.sh instead):
#   run: bash tools/gpu_check.sh 2>&1     carry: [".devdata", ".whl"]   timeout_s: 570
# 1. environment report; 2. the `cuda` tests (parity CPU <-> CUDA, eager <-> compiled, fused <-> reference);
# 3. bench/gpu.py: every system eager fp32 vs fused vs compiled bf16 on the GPU; 4. short trainings that
# improve the shipped weights (tools/device/train_gpu.sh, TRAIN_TIME each, side by side).
# Writes at most 8 files to $OUT: check.log, gpu_bench.md, gpu_bench.json, weights.tar.* (3 parts), logs.tgz.
# `--cpu`: dry run of every step on this machine (interpreter parity tests, small CPU benchmark, a few
# training steps), for sessions without a GPU.
set -u
CPU=0; [ "${1:-}" = "--cpu" ] && CPU=1
OUT=${OUT:-out/gpu_check}; PY=${PY:-python3}; WHEELS=${WHEELS:-.whl}; [ $CPU = 1 ] && WHEELS=none
rm -rf runs/gpu_check; mkdir -p "$OUT" runs/gpu_check
source tools/device/setup_env.sh
LOG="$OUT/check.log"
{
  echo "== environment $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  $PY -c "import sys, torch, triton; print('python', sys.version.split()[0], '| torch', torch.__version__, '| triton', triton.__version__, '| cuda', torch.version.cuda, torch.cuda.is_available())"
  echo "== tests"
  if [ $CPU = 1 ]; then
    TRITON_INTERPRET=1 timeout 300 $PY -m pytest -q -p no:cacheprovider tests/recurrent/test_temporal_conv.py tests/recurrent/test_warp.py tests/recurrent/test_compile.py 2>&1 | tail -3
  else
    timeout 120 $PY -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py 2>&1 | tail -8
  fi
  echo "== benchmark"
  timeout 200 $PY bench/gpu.py $([ $CPU = 1 ] && echo --cpu --repeats 2) --out "$OUT" 2>&1 | grep -v '^{' | tail -12
} > "$LOG" 2>&1
cat "$LOG"

echo "== trainings" | tee -a "$LOG"
if [ $CPU = 1 ]; then
  export ACCEL=cpu MAX_TIME=${TRAIN_TIME:-00:00:00:40} EPOCH_SCALE=400 DATA=${DATA:-data}
else
  export MAX_TIME=${TRAIN_TIME:-00:00:02:00}
fi
RUNS=runs/gpu_check/train SKIP_TESTS=1 SKIP_BENCH=1 OUT=runs/gpu_check/weights WHEELS=none PY=$PY bash tools/device/train_gpu.sh 2>&1 | grep -v "^-\|^total\|^d" | tee -a "$LOG"
cp runs/gpu_check/weights/weights.tar.* runs/gpu_check/weights/logs.tgz "$OUT/" 2>/dev/null
ls -la "$OUT"
