#!/usr/bin/env bash
# The resp example beside redis-server: redis-benchmark -c 50 -t set,get at pipeline 1 and
# 16 against redis-server, the resp example on net, on evnet (workers) and on evnet
# inline, one after the other on this machine, with ratios against redis-server measured
# in the same run. Bounded: -n requests per test (default 500000).
# Usage: scripts/redis_compare.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500000}
case "$n" in ''|*[!0-9]*) echo "usage: $0 [REQUESTS]" >&2; exit 2 ;; esac
scripts/ensure-deps.sh libev redis redis-server
cargo build --release --quiet -p examples --bin resp
mkdir -p target/compare
cp target/release/resp target/compare/resp-net
cargo build --release --quiet -p examples --features evented --bin resp
cp target/release/resp target/compare/resp-evnet

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Start a server on a free port; prints the port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

results=$(mktemp)
bench() { # name port
  local name=$1 port=$2
  for p in 1 16; do
    redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$n" -t set,get -P "$p" -q 2>/dev/null \
      | tr '\r' '\n' | awk -v name="$name" -v p="$p" -F'[: ]+' \
        '/requests per second/ {printf "%s\t%s\t%s\t%s\n", name, p, $1, $2}' >>"$results"
  done
}
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

declare -a names=("redis-server" "resp net" "resp evnet" "resp evnet inline")
for name in "${names[@]}"; do
  port=$(free_port)
  case "$name" in
    redis-server) redis-server --port "$port" --save '' --appendonly no --daemonize no --loglevel warning >/dev/null & ;;
    "resp net") target/compare/resp-net --addr "127.0.0.1:$port" --threads 200 --queue 200 >/dev/null 2>&1 & ;;
    "resp evnet") target/compare/resp-evnet --addr "127.0.0.1:$port" >/dev/null 2>&1 & ;;
    "resp evnet inline") target/compare/resp-evnet --addr "127.0.0.1:$port" --dispatch inline >/dev/null 2>&1 & ;;
  esac
  pid=$!
  pids+=("$pid")
  wait_port "$port" || { echo "redis_compare: $name did not start" >&2; exit 1; }
  bench "$name" "$port"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

python3 - "$results" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rate = {(n, p, t): float(r) for n, p, t, r in rows}
print("| server | pipeline | SET req/s | × redis | GET req/s | × redis |")
print("| --- | --- | --- | --- | --- | --- |")
for name in ["redis-server", "resp net", "resp evnet", "resp evnet inline"]:
    for p in ["1", "16"]:
        cells = []
        for t in ["SET", "GET"]:
            r = rate.get((name, p, t))
            ref = rate.get(("redis-server", p, t))
            cells.append(f"{r:.0f}" if r else "-")
            cells.append(f"{r / ref:.2f}" if r and ref else "-")
        print(f"| {name} | {p} | " + " | ".join(cells) + " |")
PY
echo
echo "redis-benchmark -c 50 -n $n -t set,get -q; the benchmark shares the 2 cores."
rm -f "$results"
