# Sourced by the scripts run on the lent GPU machine (from gpu/, robofish.gz
# beside them): elapsed-time log lines, the PyTorch install's libtorch on
# the library path (the binary is built against it by
# build-for-torch-2.11.sh), and the binary unpacked once.
set -u
cd "$(dirname "${BASH_SOURCE[1]}")"
T0=$(date +%s)
el() { echo "[t+$(( $(date +%s) - T0 ))s] $*"; }
TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')
export LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
[ -x robofish ] || { gunzip -f robofish.gz && chmod +x robofish; }
