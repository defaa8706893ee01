#!/bin/bash
# One lent-GPU session (tools/device/README.md), for the two open issues: the CUDA tests, then four trainings
# sharing the GPU for MAX_TIME each, then the separators' speed on the GPU.
#   zhan2017, digits   the paper's config (crnn-zhan2017, 50 px high) and ours (crnn-digits) from scratch with
#             the same data (the CPU sessions' recipe: splicing, writers' digits, recrops), workers and budget,
#             so the paper's is measured beside ours (#3); data-bound, as the synthetic strings render on the CPU
#   mossformer2-xs, convtasnet-xs   both from their shipped weights with the same budget and data (#5)
# Exported: the digit readers' final steps, and each separator's kept checkpoint with the best SI-SNRi on
# the real AMI meeting speakers (the rule of the CPU sessions), as <name>.{safetensors,json} in one tar split
# into $OUT/weights.tar.* (a file that comes back holds at most 16 MiB; zhan2017 alone is 38 MB):
#   cat weights.tar.* | tar x -C DIR
# Back here they are measured with bench/; nothing ships without beating the shipped weights.
set -u
OUT=${OUT:-out/device}; PY=${PY:-python3}; D=${DATA:-.devdata}
MAX_TIME=${MAX_TIME:-00:00:05:30}; ACCEL=${ACCEL:-gpu}; EPOCH_SCALE=${EPOCH_SCALE:-1}
R=${RUNS:-runs/gpu}
rm -rf "$R"  # a warm machine keeps runs/ between calls: never export an earlier call's checkpoint
mkdir -p "$OUT" "$R/export"
WHEELS=${WHEELS:-.whl}
source tools/device/setup_env.sh
export OMP_NUM_THREADS=2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
[ "$ACCEL" = gpu ] && [ "${SKIP_TESTS:-0}" = 0 ] && (timeout 240 $PY -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py > $R/cuda_tests.log 2>&1; echo "cuda tests exit $?" >> $R/cuda_tests.log) &

COMMON="--trainer.accelerator $ACCEL --trainer.devices 1 --trainer.max_epochs 1000 --trainer.max_time $MAX_TIME
 --trainer.enable_progress_bar false --trainer.log_every_n_steps 20 --trainer.callbacks+=ModelCheckpoint
 --trainer.callbacks.save_last true"
train() {  # SYSTEM RUN ARGS...
  local system=$1 run=$2; shift 2
  $PY -m apps.cli train "$system" fit --data.data_root "$D" --trainer.default_root_dir "$R/$run" $COMMON "$@" \
    > "$R/$run.log" 2>&1
  echo "$run fit exit $?" >> "$R/$run.log"
}
DIGITS="--data.batch_size 64 --data.samples_per_epoch $((48000 / EPOCH_SCALE)) --data.num_workers 6
 --data.writer_fraction 0.5 --data.splice_fraction 0.5 --data.recrop_fraction 0.5 --data.segment_fraction 0.3
 --model.lr 1e-3 --model.warmup_steps 500"
train digits digits $DIGITS --model.model crnn-digits &
train digits zhan2017 $DIGITS --model.model crnn-zhan2017 --data.height 50 &
SEPARATION="--trainer.callbacks.monitor val/ami_si_snri --trainer.callbacks.mode max --trainer.callbacks.save_top_k 1
 --trainer.precision $([ "$ACCEL" = gpu ] && echo bf16-mixed || echo 32) --trainer.gradient_clip_val 5
 --data.batch_size 16 --data.segment_s 4 --data.samples_per_epoch $((6400 / EPOCH_SCALE)) --data.num_workers 2
 --model.lr 3e-4 --model.warmup_steps 100"
for name in mossformer2-xs convtasnet-xs; do
  train mossformer2 "$name" $SEPARATION --model.model "$name" --model.init_from "$name" &
done
wait

for spec in "digits:digits:crnn-digits-scratch:last" "zhan2017:digits:crnn-zhan2017:last" \
            "mossformer2-xs:mossformer2:mossformer2-xs:epoch*" "convtasnet-xs:mossformer2:convtasnet-xs:epoch*"; do
  IFS=: read -r run system name pattern <<< "$spec"  # digit readers: the final step; separators: the best on AMI
  ckpt=$(find "$R/$run" -name "$pattern.ckpt" | head -1)
  echo "== $run: $ckpt"
  [ -n "$ckpt" ] && $PY -m apps.cli train "$system" export "$ckpt" "$R/export/$name" --force 2>&1 | tail -1
  grep -h "exit\|Error\|error" "$R/$run.log" | tail -3
done
tar cf - -C "$R/export" . | split -b 15m - "$OUT/weights.tar."  # first: the weights come back even if time runs out
# Speed of both separators on the GPU (quality rows: only the speechbrain mixtures are packed), while time is left.
[ "$ACCEL" = gpu ] && [ "${SKIP_BENCH:-0}" = 0 ] && for name in mossformer2-xs convtasnet-xs; do
  [ $SECONDS -lt 450 ] && timeout 100 $PY bench/separation.py --data-root "$D" --weights "$R/export/$name" \
    --baseline "weights/$name" --device cuda 2>&1 | tee "$R/bench-$name.log" | tail -10
done
tail -3 $R/cuda_tests.log 2>/dev/null
tar czf "$OUT/logs.tgz" --exclude='*.ckpt' --exclude=export "$R"
echo "done in $SECONDS s"
ls -la "$OUT"
