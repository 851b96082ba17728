#!/bin/bash
# train-wide-domain.sh WIDTH RUN_DIR [EPOCHS] [TILES]: the wide-domain
# model's recipe on a CPU machine, resumable (`scripts/train-wide-domain.sh
# 0.25 runs/w025bn` made models/anglerfish-w025-wide-static.rfm: 83 min on
# one Zen 3 core).
#
#   1. fp32 training on the domain-randomised simulator (`wide-domain`,
#      data seed 1; never a held-out preset), batch normalisation folded
#      into every checkpoint, AdamW lr 2e-3 with a cosine
#      decay, batch 16, flips/transposes and statistics jitter, one libtorch
#      thread (on a 2-core machine two threads spin in OpenMP barriers and
#      are slower, hence OMP_WAIT_POLICY=PASSIVE too);
#   2. static int8 (64 calibration tiles of `wide-domain`);
#   3. the generalisation benchmark (seed + held-out presets, with the
#      classical decoder beside it) into RUN_DIR/benchmark.{md,json}.
#
# Re-running continues from RUN_DIR/last.safetensors (`train --resume`), so
# a session that ends mid-run loses at most one epoch. Needs a robofish
# built with `--features torch` (README, "Training") at $ROBOFISH, default
# target/release/robofish.
set -euo pipefail
WIDTH=${1:?width, e.g. 0.25}
RUN=${2:?run directory}
EPOCHS=${3:-18}
TILES=${4:-8000}
ROBOFISH=${ROBOFISH:-target/release/robofish}
export OMP_WAIT_POLICY=PASSIVE

resume=()
[ -f "$RUN/last.safetensors" ] && resume=(--resume)
"$ROBOFISH" train --preset wide-domain --simulate "$TILES" --data-seed 1 \
    --width "$WIDTH" --epochs "$EPOCHS" --batch-size 16 --lr 2e-3 --lr-schedule cosine \
    --augment --seed 1 --threads 1 --device cpu --init he --batch-norm --out "$RUN" "${resume[@]}"

"$ROBOFISH" quantise --mode static --checkpoint "$RUN/best.safetensors" \
    --preset wide-domain --calib-tiles 64 --out "$RUN/static.rfm"

"$ROBOFISH" eval --benchmark --models "$RUN/static.rfm","$RUN/best.safetensors" --engine tract \
    --runs 1 --warmup 0 \
    --markdown "$RUN/benchmark.md" --json "$RUN/benchmark.json"
