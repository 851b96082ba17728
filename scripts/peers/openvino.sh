#!/usr/bin/env bash
# Peer benchmark: OpenVINO int8 (CPU plugin) on the QDQ ONNX that
# scripts/peers/ort.sh quantises (u8 activations, per-channel s8 weights)
# from the same fp32 checkpoint, next to `robofish bench` on the int8 model
# of the same weights, 40x40 and 256x256, one and two threads.
#
#   bash scripts/peers/openvino.sh                    # the shipped model's checkpoint (CHECKPOINT=...)
#   RANDOM_WIDTH=1 bash scripts/peers/openvino.sh     # random weights at width 1 (latency does not
#                                                     # depend on the weights; no checkpoint needed)
#
# It records how many of the runtime graph's convolutions OpenVINO runs in
# u8 (`runtimePrecision`): a peer that fell back to fp32 is no peer.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${PEERS_VENV:-$HOME/.cache/robofish/peers-venv}"
PINS=(openvino==2026.4.1 numpy==2.4.6)
[ -x target/release/robofish ] || cargo build --release -p robofish-host
OUT=target/peers
mkdir -p "$OUT"
if [ -n "${RANDOM_WIDTH:-}" ]; then
    tag="random-w$RANDOM_WIDTH"
    export CHECKPOINT="$OUT/$tag.safetensors" ONNX="$OUT/$tag-fp32.onnx"
    RFM="$OUT/$tag.rfm"
    target/release/robofish init --width "$RANDOM_WIDTH" --out "$RFM" --checkpoint "$CHECKPOINT" >/dev/null
    rm -f "$ONNX"
else
    RFM="${RFM:-models/anglerfish-static.rfm}"
    export ONNX="${ONNX:-$OUT/anglerfish-fp32.onnx}"
fi
# ONNX Runtime's quantiser writes the QDQ model (and times ORT beside it).
bash scripts/peers/ort.sh --acts u8 --runs-small 20 --runs-large 4 >"$OUT/ort-for-openvino.md"
"$VENV/bin/python" -m pip install -q "${PINS[@]}"
QDQ="$OUT/anglerfish-int8-qdq-u8s8.onnx"
[ -f "$QDQ" ] || { echo "error: ort.sh wrote no $QDQ" >&2; exit 1; }

"$VENV/bin/python" scripts/peers/openvino_bench.py --qdq "$QDQ" --out "$OUT"
echo
echo "robofish (same weights, $RFM), same machine, right after:"
for tile in 40x40 256x256; do
    for threads in 1 2; do
        runs=$([ "$tile" = 40x40 ] && echo 40 || echo 6)
        target/release/robofish bench "$RFM" --tile "$tile" --threads "$threads" --runs "$runs" | head -2
    done
done
