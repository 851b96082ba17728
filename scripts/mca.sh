#!/usr/bin/env bash
# Predicted throughput of the aarch64 conv inner loops (no ARM hardware here):
# compiles robofish-shared for aarch64 with LLVM-MCA region markers
# (`--cfg robofish_mca`), extracts the marked loop body of each kernel and
# runs llvm-mca on it, printing MAC/cycle = MACs per iteration / cycles per
# iteration.
#
#   bash scripts/mca.sh            # every kernel on the CPUs listed in RUNS
#   KEEP=1 bash scripts/mca.sh     # also keep the full llvm-mca reports
#
# Needs llvm-mca (Debian: apt-get install llvm-19) and the aarch64 rustup
# target. Targets: dotprod >= 25 MAC/cycle on neoverse-n1 (peak 32: 2 sdot
# x 16 MACs per cycle), neon >= 6.4 on cortex-a72 (peak 8: one
# smull/smlal2 of 8 MACs per cycle). i8mm (smmla, 32 MACs each) against
# dotprod on the cores that have both (neoverse-n2, neoverse-v1).
set -euo pipefail
cd "$(dirname "$0")/.."

MCA=${MCA:-$(command -v llvm-mca-19 || command -v llvm-mca)}
OUT=${OUT:-target/mca}
mkdir -p "$OUT"

# kernel  cpu          region
RUNS=(
    "dotprod neoverse-n1"
    "neon cortex-a72"
    "i8mm neoverse-n2"
    "dotprod neoverse-n2"
    "i8mm neoverse-v1"
    "dotprod neoverse-v1"
)

for run in "${RUNS[@]}"; do
    read -r kernel cpu <<<"$run"
    asm_dir="$OUT/$cpu"
    # A target dir per CPU keeps the normal builds' caches intact.
    RUSTFLAGS="--cfg robofish_mca -C target-cpu=$cpu" CARGO_TARGET_DIR="$asm_dir" \
        cargo rustc --quiet --release -p robofish-shared --lib \
        --target aarch64-unknown-linux-gnu -- --emit asm -C codegen-units=1
    asm=$(ls -t "$asm_dir"/aarch64-unknown-linux-gnu/release/deps/robofish_shared-*.s | head -1)
    region="$OUT/$kernel-$cpu.s"
    # Every monomorphised copy of the loop carries the markers; keep the one
    # with the most multiply instructions (the 4-pixel tile).
    awk -v name="$kernel" '
        $0 ~ "LLVM-MCA-BEGIN " name "$" { inside = 1; body = ""; macs = 0; next }
        $0 ~ "LLVM-MCA-END " name "$"   { inside = 0; if (macs > best) { best = macs; keep = body }; next }
        inside {
            line = $0
            sub(/\/\/.*/, "", line)
            if (line ~ /^[ \t]*$/ || line ~ /^[ \t]*\./ || line ~ /:[ \t]*$/) next
            body = body line "\n"
            if (line ~ /^[ \t]*sdot/) macs += 16
            if (line ~ /^[ \t]*smmla/) macs += 32
            if (line ~ /^[ \t]*(smull|smlal)2?[ \t]/) macs += 8
        }
        END { printf "%s", keep; printf "// MACS %d\n", best }
    ' "$asm" >"$region"
    macs=$(sed -n 's,^// MACS ,,p' "$region")
    if [ -z "$macs" ] || [ "$macs" = 0 ]; then
        echo "error: no $kernel region found in $asm" >&2
        exit 1
    fi
    report="$OUT/$kernel-$cpu.mca.txt"
    "$MCA" -mtriple=aarch64 -mcpu="$cpu" -iterations=1000 "$region" >"$report"
    iterations=$(awk '/^Iterations:/ { print $2; exit }' "$report")
    cycles=$(awk '/^Total Cycles:/ { print $3; exit }' "$report")
    rthroughput=$(awk '/^Block RThroughput:/ { print $3; exit }' "$report")
    instructions=$(grep -cv '^//' "$region")
    awk -v k="$kernel" -v c="$cpu" -v m="$macs" -v it="$iterations" -v cy="$cycles" \
        -v rt="$rthroughput" -v n="$instructions" 'BEGIN {
            per = cy / it
            printf "%-8s %-12s %4d instr/iter  %5d MAC/iter  %6.2f cycles/iter (block rthroughput %s)  %5.2f MAC/cycle\n",
                k, c, n, m, per, rt, m / per
        }'
    if [ "${KEEP:-0}" = 1 ]; then
        echo "  report: $report"
    fi
done
