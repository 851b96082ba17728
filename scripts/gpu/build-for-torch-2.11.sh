#!/bin/bash
# Builds a robofish whose tch links the PyTorch 2.11 that the lent GPU
# machines carry (tch 0.26 targets 2.13, and the machines cannot install
# anything). torch-sys's generated C++ calls 15 ops that 2.11 lacks; a
# patched copy makes those few entry points throw instead (robofish never
# calls them), and LIBTORCH_BYPASS_VERSION_CHECK lets the build through.
# Output: gpu/ with robofish.gz, train-seed.sh, qat-seed.sh and the
# preamble.sh they source, to travel with `carry: ["gpu"]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV211:-/work/venv211}
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q torch==2.11.0; }
SRC=$(ls -d ~/.cargo/registry/src/*/torch-sys-0.26.0 | head -1)
PATCHED=${PATCHED:-/tmp/torch-sys-211}
rm -rf "$PATCHED" && cp -r "$SRC" "$PATCHED"
python3 - "$PATCHED/libtch/torch_api_generated.cpp" <<'PY'
import re, sys
path = sys.argv[1]
missing = ["_flash_attention_forward_no_dropout_inplace", "_philox_", "_scaled_dot_product_attention_math_for_mps", "_upsample_lanczos2d_aa"]
lines = open(path).read().split("\n")
i = 0
while i < len(lines):
    if "torch::" in lines[i] and any(("torch::" + m) in lines[i] for m in missing):
        lines[i] = '    throw std::runtime_error("not available in this libtorch version");'
        j = i + 1
        while lines[j].strip() != ")":
            lines[j] = ""
            j += 1
        i = j
    i += 1
open(path, "w").write("\n".join(lines))
PY
LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 PATH="$VENV/bin:$PATH" \
  cargo build --release -p robofish-host --features torch --target-dir target/torch-2.11 \
  --config "patch.crates-io.torch-sys.path=\"$PATCHED\""
git checkout Cargo.lock  # the patch rewrites the lock entry; keep the real one
mkdir -p gpu
strip -o /tmp/robofish-gpu target/torch-2.11/release/robofish
gzip -c /tmp/robofish-gpu > gpu/robofish.gz
cp scripts/gpu/preamble.sh scripts/gpu/train-seed.sh scripts/gpu/qat-seed.sh gpu/
echo "gpu/robofish.gz ready ($(du -h gpu/robofish.gz | cut -f1))"
