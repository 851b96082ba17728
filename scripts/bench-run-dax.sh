#!/usr/bin/env bash
# `robofish run` throughput on a simulated MERlin (.dax) acquisition:
# N FOVs of 2048x2048 (the `fov` preset), local and over TCP to a device on
# 127.0.0.1, wall time, FOVs/min and peak RSS (GNU time). Needs a release
# build: `cargo build --release -p robofish-host -p robofish-device --bins`.
#
#   bash scripts/bench-run-dax.sh [N=16] [WORK=/tmp/robofish-dax]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-16}
WORK=${2:-/tmp/robofish-dax}
BIN=target/release
MODEL=${MODEL:-models/anglerfish-static.rfm}
PORT=${PORT:-7991}
[ -x "$BIN/robofish" ] && [ -x "$BIN/robofish-device" ] || {
    echo "error: build first: cargo build --release -p robofish-host -p robofish-device --bins" >&2
    exit 1
}
mkdir -p "$WORK"
if [ ! -f "$WORK/data/test/positions.csv" ]; then
    "$BIN/robofish" simulate --preset fov --layout merlin --train 0 --val 0 --test "$N" \
        --out "$WORK/data" --force
fi
echo "data: $(du -sh "$WORK/data/test" | cut -f1), $(ls "$WORK/data/test"/*.dax | wc -l) .dax files"
grep -m1 'model name' /proc/cpuinfo
grep -m2 -E 'cpu family|^model\s' /proc/cpuinfo | tr '\n' ' '; echo
peak() { grep 'Maximum resident' "$1" | awk '{printf "%.0f MB", $6/1024}'; }
wall() { grep 'Elapsed (wall' "$1" | awk '{print $NF}'; }

rm -rf "$WORK/local"
/usr/bin/time -v -o "$WORK/local.time" "$BIN/robofish" run --data "$WORK/data/test" \
    --model "$MODEL" --threads 2 --out "$WORK/local" >"$WORK/local.log" 2>&1
echo "local: wall $(wall "$WORK/local.time"), peak RSS $(peak "$WORK/local.time")"

rm -rf "$WORK/tcp"
/usr/bin/time -v -o "$WORK/device.time" "$BIN/robofish-device" --listen "127.0.0.1:$PORT" \
    --model "$MODEL" --threads 2 >"$WORK/device.log" 2>&1 &
DEVICE=$!
trap 'kill $DEVICE 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$WORK/device.log" && break; sleep 0.2; done
/usr/bin/time -v -o "$WORK/tcp.time" "$BIN/robofish" run --data "$WORK/data/test" \
    --device "tcp:127.0.0.1:$PORT" --out "$WORK/tcp" >"$WORK/tcp.log" 2>&1
# The TCP device stays up after a session: stop it (its child of GNU time).
pkill -TERM -P $DEVICE || true
wait $DEVICE || true
echo "tcp: wall $(wall "$WORK/tcp.time"), host peak RSS $(peak "$WORK/tcp.time"), device peak RSS $(peak "$WORK/device.time")"
if cmp -s "$WORK/local/detected_transcripts.csv" "$WORK/tcp/detected_transcripts.csv"; then
    echo "local and tcp tables identical ($(($(wc -l <"$WORK/local/detected_transcripts.csv") - 1)) transcripts)"
else
    echo "local and tcp tables DIFFER" >&2
    exit 1
fi
