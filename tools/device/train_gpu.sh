#!/bin/bash
# One lent-GPU session (tools/device/README.md): the CUDA tests, then three trainings sharing the GPU for
# MAX_TIME each (digits from the shipped weights, FRVSR and MossFormer2-s from scratch); the best
# checkpoint of each by its held-out validation metric is exported to $OUT as weights + card.
set -u
OUT=${OUT:-out/device}; PY=${PY:-python3}; D=${DATA:-.devdata}
MAX_TIME=${MAX_TIME:-00:00:07:30}; ACCEL=${ACCEL:-gpu}; EPOCH_SCALE=${EPOCH_SCALE:-1}
R=${RUNS:-runs/gpu}
mkdir -p "$OUT" "$R"
WHEELS=${WHEELS:-.whl}
source tools/device/setup_env.sh
export OMP_NUM_THREADS=2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
[ "$ACCEL" = gpu ] && [ "${SKIP_TESTS:-0}" = 0 ] && (timeout 240 $PY -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py > $R/cuda_tests.log 2>&1; echo "cuda tests exit $?" >> $R/cuda_tests.log) &

COMMON="--trainer.accelerator $ACCEL --trainer.devices 1 --trainer.max_epochs 1000 --trainer.max_time $MAX_TIME
 --trainer.enable_progress_bar false --trainer.callbacks+=ModelCheckpoint --trainer.callbacks.mode max
 --trainer.callbacks.save_last true"
train() {  # SYSTEM MONITOR ARGS...
  local system=$1 monitor=$2; shift 2
  $PY -m apps.cli train "$system" fit --data.data_root "$D" --trainer.default_root_dir "$R/$system" $COMMON \
    --trainer.callbacks.monitor "$monitor" "$@" > "$R/$system.log" 2>&1
  echo "$system fit exit $?" >> "$R/$system.log"
}
train digits val/orand_acc --model.init_from crnn-digits --model.warmup_steps 300 --data.batch_size 64 \
  --data.samples_per_epoch $((48000 / EPOCH_SCALE)) --data.num_workers 5 --data.splice_fraction 0.5 &
train frvsr val/gain_db --model.lr 4e-4 --data.video_fraction 0 --data.batch_size 16 --data.crop 128 \
  --data.samples_per_epoch $((16000 / EPOCH_SCALE)) --data.num_workers 4 &
train mossformer2 val/heldout_si_snri --model.lr 7e-4 --trainer.precision $([ "$ACCEL" = gpu ] && echo bf16-mixed || echo 32) --trainer.gradient_clip_val 5 \
  --data.batch_size 16 --data.segment_s 4 --data.samples_per_epoch $((8000 / EPOCH_SCALE)) --data.num_workers 4 &
wait

for pair in digits:crnn-digits frvsr:frvsr-x4 mossformer2:mossformer2-s; do
  system=${pair%%:*} name=${pair#*:}
  best=$(find "$R/$system" -name 'epoch*.ckpt' | head -1)
  [ -z "$best" ] && best=$(find "$R/$system" -name 'last.ckpt' | head -1)
  echo "== $system: $best"
  [ -n "$best" ] && $PY -m apps.cli train "$system" export "$best" "$OUT/$name" --force 2>&1 | tail -2
  grep -h "val/\|exit\|Error\|error" "$R/$system.log" | tail -4
done
tail -3 $R/cuda_tests.log 2>/dev/null
tar czf "$OUT/logs.tgz" --exclude='*.ckpt' "$R"
ls -la "$OUT"
