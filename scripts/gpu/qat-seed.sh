#!/bin/bash
# Run on the lent GPU machine from gpu/ with best.safetensors (from train-seed.sh) beside it.
# QAT on the GPU from the fp32 checkpoint trained there (runs/gpu-run2).
source "$(dirname "$0")/preamble.sh"
el "simulate 4000/400"
./robofish simulate --preset seed --out /tmp/seed4000 --seed 1 --train 4000 --val 400 --test 4 --force >/dev/null || exit 1
el "QAT a: 5 epochs lr 1e-4"
timeout 100 ./robofish quantise --mode qat --checkpoint best.safetensors --data /tmp/seed4000 \
  --epochs 5 --lr 1e-4 --device cuda --augment --out $OUT/qat-a.rfm --run-dir /tmp/qat-a 2>&1 | grep "epoch\|QAT\|wrote" > $OUT/qat-a.log
cp /tmp/qat-a/metrics.csv $OUT/qat-a-metrics.csv
el "QAT b: 8 epochs lr 3e-5"
timeout 100 ./robofish quantise --mode qat --checkpoint best.safetensors --data /tmp/seed4000 \
  --epochs 8 --lr 3e-5 --device cuda --augment --out $OUT/qat-b.rfm --run-dir /tmp/qat-b 2>&1 | grep "epoch\|QAT\|wrote" > $OUT/qat-b.log
cp /tmp/qat-b/metrics.csv $OUT/qat-b-metrics.csv
el "done"
cat $OUT/*.log
