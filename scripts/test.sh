#!/usr/bin/env bash
# The whole robofish test suite, from a fresh clone: installs what it needs
# (rustup targets and components; Debian cross gcc, qemu-user and mosquitto
# when root),
# then runs formatting, lints, the no_std build, native tests, a forced-scalar
# run, the aarch64 tests under qemu on CPUs with and without dotprod, and a
# 30-second smoke run of three fuzz targets (nightly + cargo-fuzz, installed
# when missing). It ends with a table of the kernel paths each step ran.
# libtorch for the `torch` feature (training) comes from a Python venv with
# torch==2.13.0 at ${ROBOFISH_VENV:-~/.cache/robofish/venv}, created when
# missing (about 4.7 GB from PyPI) and reused when it has that version.
#
#   bash scripts/test.sh                        # everything
#   QUICK=1 ALLOW_SKIP=1 bash scripts/test.sh   # skip the qemu and forced-scalar runs
#
# A step that cannot run here (no cross tools and not root, or QUICK=1) is
# listed at the end, and the run fails unless ALLOW_SKIP=1: a green run
# means every step ran.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
SKIPPED=()
skipped() { SKIPPED+=("$*"); printf '\n==> SKIPPED: %s\n' "$*"; }

step "toolchain: rustup targets and components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf thumbv7em-none-eabihf >/dev/null

have_cross() { command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; }
if ! have_cross; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        step "installing Debian cross gcc and qemu-user"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
    else
        echo "warning: aarch64-linux-gnu-gcc / qemu-aarch64 missing and not root: aarch64 tests will be skipped (the run then fails unless ALLOW_SKIP=1)" >&2
    fi
fi

# The fleet tests (host/tests/fleet.rs) start their own mosquitto broker on
# 127.0.0.1; without it they fail, naming the package.
have_mosquitto() { command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; }
if ! have_mosquitto; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        step "installing mosquitto (the fleet tests' MQTT broker)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq mosquitto >/dev/null
    else
        echo "warning: mosquitto missing and not root: the fleet tests will fail (apt-get install mosquitto)" >&2
    fi
fi

VENV="${ROBOFISH_VENV:-$HOME/.cache/robofish/venv}"
TORCH_VERSION=2.13.0
have_torch() {
    [ -x "$VENV/bin/python3" ] &&
        "$VENV/bin/python3" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null
}
if ! have_torch; then
    step "libtorch: python venv with torch==$TORCH_VERSION at $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
fi
have_torch || { echo "error: $VENV has no torch $TORCH_VERSION" >&2; exit 1; }
# tifffile cross-checks the OME-TIFFs the format tests write
# (host/tests/cli_formats.rs); 2026.3.3 is the last release for Python 3.11.
TIFFFILE_VERSION=2026.3.3
"$VENV/bin/python3" -c "import tifffile, sys; sys.exit(0 if tifffile.__version__ == '$TIFFFILE_VERSION' else 1)" 2>/dev/null ||
    "$VENV/bin/pip" install -q "tifffile==$TIFFFILE_VERSION"
# Snakemake runs the workflow test (scripts/test-workflow.sh).
SNAKEMAKE_VERSION=9.27.1
[ "$("$VENV/bin/snakemake" --version 2>/dev/null)" = "$SNAKEMAKE_VERSION" ] ||
    "$VENV/bin/pip" install -q "snakemake==$SNAKEMAKE_VERSION"
# tch's build finds libtorch through the venv's python; the binary gets an
# rpath to it (host/build.rs), so nothing is needed at run time.
export LIBTORCH_USE_PYTORCH=1
export PATH="$VENV/bin:$PATH"

# The kernel paths each step must exercise (shared/tests/common/paths.rs):
# a test asked to run a required path this CPU lacks fails instead of
# skipping, and every path a test runs is appended to the step's report,
# summed up in the table at the end.
native_required_paths() {
    local flags paths=scalar
    flags=" $(grep -m1 -E '^(flags|Features)' /proc/cpuinfo | cut -d: -f2) "
    has() { [[ "$flags" == *" $1 "* ]]; }
    case "$(uname -m)" in
        x86_64)
            has avx2 && paths+=,avx2
            has avx2 && has avx_vnni && paths+=,avxvnni
            has avx512f && has avx512bw && has avx512vl && has avx512_vnni && has avx512vbmi && paths+=,vnni
            ;;
        aarch64)
            has asimd && paths+=,neon
            has asimd && has asimddp && paths+=,dotprod
            has asimd && has i8mm && paths+=,i8mm
            ;;
    esac
    echo "$paths"
}
qemu_required_paths() {
    case "$1" in
        cortex-a53) echo scalar,neon ;;
        cortex-a76) echo scalar,neon,dotprod ;;
        max) echo scalar,neon,dotprod,i8mm ;;
        *) echo "error: no required kernel paths known for qemu CPU $1" >&2; exit 1 ;;
    esac
}
REPORTS="target/path-reports"
rm -rf "$REPORTS" && mkdir -p "$REPORTS"
STEP_NO=0
# Runs the rest of the line with the required paths $1 and a report file
# named after the step $2.
with_paths() {
    local required="$1" name="$2"
    shift 2
    STEP_NO=$((STEP_NO + 1))
    ROBOFISH_REQUIRED_PATHS="$required" \
        ROBOFISH_PATH_REPORT="$PWD/$REPORTS/$(printf %02d "$STEP_NO")-$name.tsv" "$@"
}
# The exercised-paths table: per step, how many tests ran each path.
print_paths_table() {
    local all="scalar avx2 avxvnni vnni neon dotprod i8mm" f p
    printf '\n==> kernel paths exercised (tests that ran each path, per step)\n'
    printf '%-28s' step
    for p in $all; do printf '%9s' "$p"; done
    printf '\n'
    for f in "$REPORTS"/*.tsv; do
        [ -e "$f" ] || continue
        printf '%-28s' "$(basename "$f" .tsv)"
        for p in $all; do
            printf '%9s' "$(awk -F'\t' -v p="$p" '$3 == p { seen[$1 FS $2] = 1 } END { n = 0; for (k in seen) n++; print n ? n : "-" }' "$f")"
        done
        printf '\n'
    done
}
NATIVE_PATHS="$(native_required_paths)"
echo "kernel paths this CPU must exercise: $NATIVE_PATHS"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "no_std build of robofish-shared for thumbv7em-none-eabihf (with and without alloc)"
cargo check -p robofish-shared --no-default-features --target thumbv7em-none-eabihf
cargo check -p robofish-shared --no-default-features --features alloc --target thumbv7em-none-eabihf

step "armv7 build check (32-bit ARM boards: robofish-shared and robofish-device)"
cargo check -p robofish-shared -p robofish-device --target armv7-unknown-linux-gnueabihf

step "rustdoc with -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc -p robofish-shared --no-deps --quiet

step "native tests (every kernel path of this CPU: $NATIVE_PATHS), without libtorch"
with_paths "$NATIVE_PATHS" native cargo test --workspace

step "Snakemake workflow on 4 simulated FOVs (merged == one run; a deleted part alone recomputed)"
bash scripts/test-workflow.sh target/debug/robofish "$VENV/bin/snakemake"

step "robofish-host with the torch feature (training, tch vs tract)"
cargo test -p robofish-host --features torch

if [ "${QUICK:-0}" != 1 ]; then
    step "forced-scalar run of the whole suite (ROBOFISH_KERNELS=scalar)"
    ROBOFISH_KERNELS=scalar with_paths "$NATIVE_PATHS" forced-scalar cargo test --workspace

    if have_cross; then
        for cpu in cortex-a53 cortex-a76 max; do
            step "aarch64 tests of robofish-shared under qemu-aarch64 -cpu $cpu"
            # The int8-vs-float comparisons are host-independent arithmetic and
            # take minutes under emulation; bit-exactness is what qemu checks.
            QEMU_CPU=$cpu with_paths "$(qemu_required_paths $cpu)" "qemu-$cpu" \
                cargo test -p robofish-shared --target aarch64-unknown-linux-gnu -- \
                --skip seed_topology --skip dynamic_mode_runs
        done
        step "cross-compiled evaluation: aarch64 device under qemu == native x86, bit for bit"
        bash scripts/cross-device.sh
    else
        skipped "aarch64 tests under qemu-aarch64 (cortex-a53, cortex-a76, max) and the cross-device check: no aarch64-linux-gnu-gcc / qemu-aarch64, and not root to install them"
    fi

    # The dataset_files target needs the host crate (--features host), whose
    # sanitizer build takes half an hour: it is left to manual runs, and the
    # same readers get random and mutated files in host/tests/hostile_input.rs.
    step "fuzz targets (nightly, AddressSanitizer): build, then 30 s of each of frame_decoder, model_loader, device_session"
    rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal >/dev/null
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
    mkdir -p target
    for target in frame_decoder model_loader device_session; do
        log="$PWD/target/fuzz-$target.log"
        if ! cargo +nightly fuzz run "$target" -- -max_total_time=30 -print_final_stats=1 >"$log" 2>&1; then
            tail -n 60 "$log"
            echo "error: fuzz target $target failed; its log: $log" >&2
            exit 1
        fi
        grep -E '^Done [0-9]+ runs' "$log" | sed "s/^/$target: /"
    done
else
    skipped "forced-scalar run, aarch64 tests under qemu, the cross-device check and the fuzz smoke runs (QUICK=1)"
fi

print_paths_table

if [ "${#SKIPPED[@]}" -gt 0 ]; then
    printf '\n==> steps that did not run:\n'
    printf '    - %s\n' "${SKIPPED[@]}"
    if [ "${ALLOW_SKIP:-0}" != 1 ]; then
        echo "error: ${#SKIPPED[@]} step(s) skipped; set ALLOW_SKIP=1 to accept a partial run" >&2
        exit 1
    fi
    step "all checks that ran passed (${#SKIPPED[@]} skipped, ALLOW_SKIP=1)"
    exit 0
fi
step "all checks passed"
