#!/bin/bash
# Run on the lent GPU machine from gpu/ (robofish.gz from
# scripts/gpu/build-for-torch-2.11.sh beside it; `carry: ["gpu"]`):
# one CUDA epoch on the 500 `seed` tiles (the timing the README quotes),
# then the full-width fp32 run the shipped models come from: 40 epochs over
# 4000 freshly simulated `seed` tiles (seed 1; the first 500 are
# runs/seed's), cosine learning rate, flips/transposes. Files come back
# from $OUT (at most 8, 16 MiB each, hence the split checkpoint:
# `cat fp32-best.part-* > best.safetensors`).
source "$(dirname "$0")/preamble.sh"
nvidia-smi -L
el "simulate"
./robofish simulate --preset seed --out /tmp/seed --seed 1 --force >/dev/null || exit 1
el "one CUDA epoch (500 tiles, batch 16)"
timeout 90 ./robofish train --data /tmp/seed --device cuda --epochs 1 --out /tmp/one-epoch --augment --seed 1 || exit 1
cat /tmp/one-epoch/metrics.csv
TILES=${TILES:-4000}
EPOCHS=${EPOCHS:-40}
el "fp32: $EPOCHS epochs over $TILES tiles"
timeout 400 ./robofish train --preset seed --simulate $TILES --data-seed 1 --device cuda --epochs $EPOCHS \
  --augment --lr-schedule cosine --seed 1 --out /tmp/fp32 2>&1 | grep "epoch\|trained" > $OUT/fp32.log
cp /tmp/fp32/metrics.csv $OUT/fp32-metrics.csv
cp /tmp/fp32/config.json $OUT/fp32-config.json
split -b 12M /tmp/fp32/best.safetensors $OUT/fp32-best.part-
el "done"
