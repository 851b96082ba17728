#!/usr/bin/env bash
# Predicted throughput of the conv inner loops on cores we do not have:
# compiles robofish-shared per target CPU with LLVM-MCA region markers
# (`--cfg robofish_mca`), extracts the marked loop body of each kernel (one
# group of 4 input channels of the largest tile) and runs llvm-mca on it,
# printing MAC/cycle = MACs per iteration / cycles per iteration.
#
#   bash scripts/mca.sh            # every kernel on the CPUs listed in RUNS
#   ONLY=x86 bash scripts/mca.sh   # only the x86_64 runs (ONLY=arm: aarch64)
#   KEEP=1 bash scripts/mca.sh     # also keep the full llvm-mca reports
#
# Needs llvm-mca (Debian: apt-get install llvm-19) and the aarch64 rustup
# target. aarch64 targets: dotprod >= 25 MAC/cycle on neoverse-n1 (peak 32:
# 2 sdot x 16 MACs per cycle), neon >= 6.4 on cortex-a72 (peak 8: one
# smull/smlal2 of 8 MACs per cycle). i8mm (smmla, 32 MACs each) against
# dotprod on the cores that have both (neoverse-n2, neoverse-v1). x86_64:
# each loop against its multiply's port peak as llvm-mca models that CPU
# (printed beside it): vnni >= 85 % on sapphirerapids (2 zmm vpdpbusd per
# cycle) and znver4 (1), avxvnni >= 80 % on alderlake, avx2 >= 70 % of the
# vpmaddwd + vpaddd ceiling. The predicted loop leaves out the per-tap
# address set-up and the epilogue, which the measured whole-model figures
# (robofish bench) include.
set -euo pipefail
cd "$(dirname "$0")/.."

MCA=${MCA:-$(command -v llvm-mca-19 || command -v llvm-mca)}
OUT=${OUT:-target/mca}
mkdir -p "$OUT"

# kernel  cpu  (aarch64: the targets above; x86_64: the Intel server
# core with two 512-bit vpdpbusd ports, Zen 4 with one, an AVX-VNNI client
# core, and the AVX2 path on Zen 3 / Golden Cove)
RUNS=(
    "dotprod neoverse-n1"
    "neon cortex-a72"
    "i8mm neoverse-n2"
    "dotprod neoverse-n2"
    "i8mm neoverse-v1"
    "dotprod neoverse-v1"
    "vnni sapphirerapids"
    "vnni znver4"
    "avxvnni alderlake"
    "avxvnni sapphirerapids"
    "avx2 znver3"
    "avx2 alderlake"
)

# The port peak of each x86 kernel's multiply on a CPU, as llvm-mca itself
# models it: a loop of 12 independent multiply-adds (12 chains cover the
# 4-5 cycle latency on two ports). For AVX2 the exact kernel's ceiling is a
# `vpmaddwd` and a `vpaddd` per 16 MACs.
peak_loop() {
    local kernel=$1 i
    for i in $(seq 0 11); do
        case "$kernel" in
            vnni) echo "vpdpbusd %zmm12, %zmm13, %zmm$i" ;;
            avxvnni) echo "{vex} vpdpbusd %ymm12, %ymm13, %ymm$i" ;;
            avx2)
                echo "vpmaddwd %ymm12, %ymm13, %ymm14"
                echo "vpaddd %ymm14, %ymm$i, %ymm$i"
                ;;
        esac
    done
}
macs_per_peak_loop() {
    case "$1" in vnni) echo $((12 * 64)) ;; avxvnni) echo $((12 * 32)) ;; avx2) echo $((12 * 16)) ;; esac
}

for run in "${RUNS[@]}"; do
    read -r kernel cpu <<<"$run"
    case "$kernel" in
        vnni | avxvnni | avx2) triple=x86_64-unknown-linux-gnu mtriple=x86_64 family=x86 ;;
        *) triple=aarch64-unknown-linux-gnu mtriple=aarch64 family=arm ;;
    esac
    [ -n "${ONLY:-}" ] && [ "$ONLY" != "$family" ] && continue
    asm_dir="$OUT/$cpu"
    # A target dir per CPU keeps the normal builds' caches intact.
    RUSTFLAGS="--cfg robofish_mca -C target-cpu=$cpu" CARGO_TARGET_DIR="$asm_dir" \
        cargo rustc --quiet --release -p robofish-shared --lib \
        --target "$triple" -- --emit asm -C codegen-units=1
    asm=$(ls -t "$asm_dir"/"$triple"/release/deps/robofish_shared-*.s | head -1)
    region="$OUT/$kernel-$cpu.s"
    # Every monomorphised copy of the loop carries the markers; keep the one
    # with the most multiply instructions (the largest tile).
    # On x86 LLVM moves some of the last multiply-adds past the END marker
    # (an asm comment orders nothing that does not touch memory), so there
    # the body runs on to the loop's backward jump.
    awk -v name="$kernel" -v to_jump="$([ "$family" = x86 ] && echo 1 || echo 0)" '
        function close_region() { inside = 0; tail = 0; if (macs > best) { best = macs; keep = body } }
        $0 ~ "LLVM-MCA-BEGIN " name "$" { inside = 1; tail = 0; body = ""; macs = 0; next }
        $0 ~ "LLVM-MCA-END " name "$"   { if (to_jump) tail = 1; else close_region(); next }
        inside && tail && /^[ \t]*j[a-z]+[ \t]/ { close_region(); next }
        inside {
            line = $0
            sub(/(\/\/|#).*/, "", line)
            if (line ~ /^[ \t]*$/ || line ~ /^[ \t]*\./ || line ~ /:[ \t]*$/) next
            body = body line "\n"
            if (line ~ /^[ \t]*sdot/) macs += 16
            if (line ~ /^[ \t]*smmla/) macs += 32
            if (line ~ /^[ \t]*(smull|smlal)2?[ \t]/) macs += 8
            if (line ~ /vpdpbusd.*%zmm/) macs += 64
            if (line ~ /vpdpbusd.*%ymm/) macs += 32
            if (line ~ /vpmaddwd.*%ymm/) macs += 16
            # With AVX-VNNI, LLVM fuses vpmaddwd + vpaddd into vpdpwssd.
            if (line ~ /vpdpwssd.*%ymm/) macs += 16
        }
        END { printf "%s", keep; printf "// MACS %d\n", best }
    ' "$asm" >"$region"
    macs=$(sed -n 's,^// MACS ,,p' "$region")
    if [ -z "$macs" ] || [ "$macs" = 0 ]; then
        echo "error: no $kernel region found in $asm" >&2
        exit 1
    fi
    report="$OUT/$kernel-$cpu.mca.txt"
    "$MCA" -mtriple="$mtriple" -mcpu="$cpu" -iterations=1000 "$region" >"$report"
    iterations=$(awk '/^Iterations:/ { print $2; exit }' "$report")
    cycles=$(awk '/^Total Cycles:/ { print $3; exit }' "$report")
    rthroughput=$(awk '/^Block RThroughput:/ { print $3; exit }' "$report")
    instructions=$(grep -cv '^//' "$region")
    peak=""
    if [ "$mtriple" = x86_64 ]; then
        peak_file="$OUT/peak-$kernel-$cpu.s"
        peak_loop "$kernel" >"$peak_file"
        # Through a file: awk's early exit would break llvm-mca's pipe (exit 74).
        "$MCA" -mtriple=x86_64 -mcpu="$cpu" -iterations=1000 "$peak_file" >"$peak_file.txt"
        peak_cycles=$(awk '/^Total Cycles:/ { print $3; exit }' "$peak_file.txt")
        peak=$(awk -v m="$(macs_per_peak_loop "$kernel")" -v cy="$peak_cycles" 'BEGIN { printf "%.2f", m * 1000 / cy }')
    fi
    awk -v k="$kernel" -v c="$cpu" -v m="$macs" -v it="$iterations" -v cy="$cycles" \
        -v rt="$rthroughput" -v n="$instructions" -v peak="$peak" 'BEGIN {
            per = cy / it
            printf "%-8s %-15s %4d instr/iter  %5d MAC/iter  %6.2f cycles/iter (block rthroughput %s)  %6.2f MAC/cycle",
                k, c, n, m, per, rt, m / per
            if (peak != "") printf "  = %3.0f %% of the %.1f MAC/cycle port peak", 100 * m / per / peak, peak
            printf "\n"
        }'
    if [ "${KEEP:-0}" = 1 ]; then
        echo "  report: $report"
    fi
done
