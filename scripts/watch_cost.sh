#!/usr/bin/env bash
# What adaptive dispatch's takeover watch costs under load: runs the evented `http`
# server with its defaults and with `--spares 0` (no watch thread) in alternating rounds,
# each loaded by `wrk -t1 -c50` for 4 s, and prints per round the requests/s, context
# switches and CPU per request (perf stat), and the watch thread's own CPU time (from
# /proc/PID/task/*/stat) per second of load.
# Usage: scripts/watch_cost.sh [ROUNDS] (default 3); the binary is built first, unless
# HTTP_BIN names an evented `http` binary to use (compare's: target/compare/evnet/http).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/listening_port.sh
rounds=${1:-3}
case "$rounds" in ''|*[!0-9]*) echo "watch_cost: ROUNDS must be a number" >&2; exit 2;; esac
scripts/ensure-deps.sh libev wrk perf
bin=${HTTP_BIN:-}
if [ -z "$bin" ]; then
  dir=target/watch-cost
  cargo build --release --quiet -p examples --features evented --bin http --target-dir "$dir"
  bin=$dir/release/http
fi
ticks=$(getconf CLK_TCK)
one() {
  local name=$1
  shift
  local log stat pid port
  log=$(mktemp) stat=$(mktemp)
  "$bin" --addr 127.0.0.1:0 "$@" >"$log" 2>&1 &
  pid=$!
  port=$(listening_port "$log")
  wrk -t1 -c50 -d1s "http://127.0.0.1:$port/" >/dev/null
  watch_before=0
  for t in /proc/$pid/task/*; do
    if [ "$(cat "$t/comm")" = evnet-watch ]; then
      watch_before=$(awk '{print $14 + $15}' "$t/stat")
      watch_task=$t
    fi
  done
  perf stat -e context-switches,task-clock -p "$pid" -o "$stat" -- sleep 4 &
  local perf_pid=$!
  local out
  out=$(wrk -t1 -c50 -d4s "http://127.0.0.1:$port/")
  wait "$perf_pid"
  local watch_ms=0
  if [ -n "${watch_task:-}" ] && [ -e "$watch_task/stat" ]; then
    watch_ms=$(awk -v b="$watch_before" -v t="$ticks" '{print ($14 + $15 - b) * 1000 / t}' "$watch_task/stat")
  fi
  unset watch_task
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local reqs switches cpu_ms
  reqs=$(echo "$out" | grep -oE '[0-9]+ requests in' | cut -d' ' -f1)
  switches=$(awk '/context-switches/ {gsub(",", "", $1); print $1}' "$stat")
  cpu_ms=$(awk '/task-clock/ {gsub(",", "", $1); print $1}' "$stat")
  rm -f "$log" "$stat"
  python3 -c "print(f'$name: {$reqs / 4:.0f} req/s, {$switches / $reqs:.4f} switches/req, {$cpu_ms * 1000 / $reqs:.2f} us CPU/req, watch thread {$watch_ms / 4:.1f} ms CPU per s')"
}
for r in $(seq "$rounds"); do
  echo "round $r"
  one "  with the watch (default)"
  one "  without (--spares 0)    " --spares 0
done
