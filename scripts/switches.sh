#!/usr/bin/env bash
# Context switches and CPU time per request of one server under wrk (the evidence behind
# docs/PERFORMANCE.md): starts the server, warms it up, loads it for 4 s while
# `perf stat -e context-switches,task-clock` watches its process, stops it.
# Usage: scripts/switches.sh NAME CONNECTIONS SERVER-COMMAND...
#   (the server must print its IP:PORT on its first line and take --addr 127.0.0.1:0)
# Example: scripts/switches.sh evnet 50 target/release/http --addr 127.0.0.1:0
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 NAME CONNECTIONS SERVER-COMMAND..." >&2
  exit 2
fi
name=$1 conns=$2
shift 2
cd "$(dirname "$0")/.."
. scripts/listening_port.sh
scripts/ensure-deps.sh wrk perf
log=$(mktemp) stat=$(mktemp)
"$@" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log" "$stat"' EXIT
port=$(listening_port "$log")
wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/" >/dev/null
perf stat -e context-switches,task-clock -p "$pid" -o "$stat" -- sleep 4 &
perf_pid=$!
out=$(wrk -t1 -c"$conns" -d4s "http://127.0.0.1:$port/")
wait "$perf_pid"
reqs=$(echo "$out" | grep -oE '[0-9]+ requests in' | cut -d' ' -f1)
switches=$(awk '/context-switches/ {gsub(",", "", $1); print $1}' "$stat")
cpu_ms=$(awk '/task-clock/ {gsub(",", "", $1); print $1}' "$stat")
python3 -c "print(f'$name c=$conns: {$reqs / 4:.0f} req/s, {$switches / $reqs:.3f} context switches/request, {$cpu_ms * 1000 / $reqs:.2f} us CPU/request')"
