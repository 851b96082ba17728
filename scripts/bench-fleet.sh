#!/usr/bin/env bash
# Fleet throughput: FOVs per minute through `robofish fleet` with 1 board
# and with 2 boards (each `robofish device --fleet --threads 1`), against a
# mosquitto broker on 127.0.0.1, and one `robofish run --threads 1` on the
# same FOVs for reference. Prints a table; nothing is asserted (speed
# depends on the machine and what else runs on it).
#
#   bash scripts/bench-fleet.sh [ROBOFISH_BIN] [FOVS] [SIZE]
#   bash scripts/bench-fleet.sh target/release/robofish 40 256
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/release/robofish}"
FOVS="${2:-40}"
SIZE="${3:-256}"
MODEL=models/anglerfish-static.rfm
MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
[ -x "$BIN" ] || { echo "error: $BIN missing: cargo build --release -p robofish-host" >&2; exit 1; }
[ -x "$MOSQUITTO" ] || { echo "error: mosquitto missing: apt-get install mosquitto" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$work/mosquitto.conf"
"$MOSQUITTO" -c "$work/mosquitto.conf" 2>"$work/mosquitto.log" &
pids+=($!)
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
url="mqtt://127.0.0.1:$port"

"$BIN" simulate --out "$work/data" --train 1 --val 1 --test "$FOVS" \
    --height "$SIZE" --width "$SIZE" --seed 11 >/dev/null

now() { date +%s.%N; }
per_minute() { python3 -c "print(f'{$FOVS * 60 / ($2 - $1):.1f}')"; }

start="$(now)"
"$BIN" run --data "$work/data" --out "$work/run" --model "$MODEL" --threads 1 >/dev/null 2>&1
run_rate="$(per_minute "$start" "$(now)")"

declare -A rate
for boards in 1 2; do
    board_pids=()
    for i in $(seq "$boards"); do
        "$BIN" device --fleet "$url" --board-id "bench$i" --threads 1 --model "$MODEL" \
            --heartbeat 1 2>"$work/board-$boards-$i.log" &
        board_pids+=($!)
        pids+=($!)
    done
    sleep 1
    start="$(now)"
    "$BIN" fleet --broker "$url" --data "$work/data" --out "$work/fleet-$boards" \
        --model "$MODEL" --report-every 60 >"$work/fleet-$boards.out" 2>"$work/fleet-$boards.log"
    rate[$boards]="$(per_minute "$start" "$(now)")"
    for pid in "${board_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    grep -E '^(board|bench)' "$work/fleet-$boards.out" | tail -n "$((boards + 1))" | sed "s/^/  [$boards board(s)] /"
done

cores="$(nproc)"
printf '\n%s FOVs of %sx%s, %s cores, %s\n' "$FOVS" "$SIZE" "$SIZE" "$cores" "$("$MOSQUITTO" -h | head -1)"
printf '%-34s %10s\n' "setup" "FOVs/min"
printf '%-34s %10s\n' "robofish run --threads 1" "$run_rate"
printf '%-34s %10s\n' "fleet, 1 board (1 thread)" "${rate[1]}"
printf '%-34s %10s\n' "fleet, 2 boards (1 thread each)" "${rate[2]}"
python3 -c "print(f'2 boards / 1 board: {${rate[2]} / ${rate[1]}:.2f}x')"
