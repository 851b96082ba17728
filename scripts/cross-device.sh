#!/usr/bin/env bash
# Cross-compiled evaluation: streams the committed sample dataset through
# robofish-device built natively and for aarch64 (run under qemu-aarch64 on
# CPUs whose best kernel path is NEON, dotprod and i8mm) and checks that
# every spot is identical, bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/cross-check
mkdir -p "$out"

cargo build --release -q -p robofish-host -p robofish-device
cargo build --release -q -p robofish-device --target aarch64-unknown-linux-gnu
host=target/release/robofish
arm=target/aarch64-unknown-linux-gnu/release/robofish-device

"$host" init --width 0.25 --calib-tiles 2 --seed 3 --out "$out/model.rfm" >/dev/null
# The model is untrained on purpose: the check is that every architecture
# finds the same spots, and a random model exercises every kernel as well as
# a trained one does, in seconds and without a checkpoint.
echo "Model: UNTRAINED on purpose (robofish init, random weights, width 0.25)."
echo "Its accuracy below (F1 near 0.2, gene accuracy 0) is expected and not checked;"
echo "what is checked is that aarch64 finds exactly the spots x86_64 finds."
"$host" stream --device "exec:target/release/robofish-device --stdio --threads 2" \
    --model "$out/model.rfm" --data data/sample --truth --spots-out "$out/x86_64.csv"
spots=$(($(wc -l < "$out/x86_64.csv") - 1))
if [ "$spots" -lt 1 ]; then
    echo "error: the x86_64 run found no spots, so the comparison would prove nothing" >&2
    exit 1
fi
# The best path each emulated CPU must run (what its Hello reports).
expected_path() {
    case "$1" in
        cortex-a53) echo neon ;;
        cortex-a76) echo dotprod ;;
        max) echo i8mm ;;
    esac
}
for cpu in cortex-a53 cortex-a76 max; do
    "$host" stream --device "exec:qemu-aarch64 -cpu $cpu -L /usr/aarch64-linux-gnu $arm --stdio --threads 2" \
        --model "$out/model.rfm" --data data/sample --truth --spots-out "$out/aarch64-$cpu.csv" \
        | tee "$out/aarch64-$cpu.txt"
    want=$(expected_path "$cpu")
    if ! grep -q "(kernels $want," "$out/aarch64-$cpu.txt"; then
        echo "error: under -cpu $cpu the device did not report kernel path $want:" >&2
        grep "kernels" "$out/aarch64-$cpu.txt" >&2 || true
        exit 1
    fi
    if ! cmp -s "$out/x86_64.csv" "$out/aarch64-$cpu.csv"; then
        echo "MISMATCH: aarch64 ($cpu) spots differ from x86_64:" >&2
        diff "$out/x86_64.csv" "$out/aarch64-$cpu.csv" | head -20 >&2
        exit 1
    fi
    echo "aarch64 ($cpu, kernels $want) == x86_64: $spots spots identical, bit for bit (untrained model)"
done
