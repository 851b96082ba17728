#!/usr/bin/env bash
# Peer benchmark: ONNX Runtime (fp32 and static int8) on the same anglerFISH
# checkpoint our shipped int8 model was quantised from. Args go to ort_bench.py.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${PEERS_VENV:-$HOME/.cache/robofish/peers-venv}"
# Pinned so numbers stay comparable across machines and reruns.
# sympy: quant_pre_process needs it for symbolic shape inference.
PINS=(onnxruntime==1.32.0 onnx==1.23.2 numpy==2.4.6 sympy==1.14.0)
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q "${PINS[@]}"

ONNX="${ONNX:-target/peers/anglerfish-fp32.onnx}"
# The fp32 checkpoint models/anglerfish-static.rfm was quantised from
# (scripts/gpu/train-seed.sh writes it; it is not shipped: 19.6 MB).
CHECKPOINT="${CHECKPOINT:-runs/gpu-run2/best.safetensors}"
if [ ! -f "$ONNX" ] && [ ! -f "$CHECKPOINT" ]; then
  echo "error: no fp32 checkpoint at $CHECKPOINT; train one (scripts/gpu/train-seed.sh)" \
       "or point CHECKPOINT=... at one" >&2
  exit 1
fi
if [ ! -f "$ONNX" ]; then
  mkdir -p target/peers
  [ -x target/release/robofish ] || cargo build --release -p robofish-host
  target/release/robofish export --checkpoint "$CHECKPOINT" --onnx "$ONNX"
fi

# Two cores: anything else running skews the numbers, so wait (up to ~5 min) for quiet.
for _ in $(seq 10); do
  awk '{exit !($1 > 1.5)}' /proc/loadavg || break
  echo "load $(cut -d' ' -f1-3 /proc/loadavg) > 1.5, waiting 30 s" >&2; sleep 30
done
echo "load before timing: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

exec "$VENV/bin/python" scripts/peers/ort_bench.py --onnx "$ONNX" "$@"
