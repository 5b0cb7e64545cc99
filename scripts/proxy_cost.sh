#!/usr/bin/env bash
# What the PROXY protocol costs per connection: the `http` example with and without
# `--proxy-protocol`, loaded by `loadgen` opening a new connection for every request
# (`--requests-per-connection 1`, 20 connections, closed loop) with no header, a v1 header
# and a v2 header, in alternating rounds; prints each run and, per variant, the median
# connections/s and the extra time per connection against the plain run,
# 1/rate - 1/rate_plain: what each connection costs more at the bottleneck (the machine's
# two cores, shared by the server and loadgen).
# Usage: scripts/proxy_cost.sh [ROUNDS] [evnet|net] (defaults 3, evnet). Release
# binaries are built first under target/proxy-cost.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/listening_port.sh
rounds=${1:-3}
server=${2:-evnet}
case "$rounds" in ''|*[!0-9]*) echo "proxy_cost: ROUNDS must be a number" >&2; exit 2;; esac
case "$server" in
  evnet) features=(--features evented) ;;
  net) features=() ;;
  *) echo "proxy_cost: the server is evnet or net, not $server" >&2; exit 2 ;;
esac
scripts/ensure-deps.sh libev
dir=target/proxy-cost/$server
cargo build --release --quiet -p examples "${features[@]}" --bin http --bin loadgen --target-dir "$dir"
bin=$dir/release
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# One run: $1 = variant name (plain, v1, v2).
one() {
  local variant=$1 log pid port server_flags=() client_flags=()
  if [ "$variant" != plain ]; then
    server_flags=(--proxy-protocol)
    client_flags=(--proxy "$variant")
  fi
  log=$(mktemp)
  "$bin/http" --addr 127.0.0.1:0 "${server_flags[@]}" >"$log" 2>&1 &
  pid=$!
  port=$(listening_port "$log")
  local rate errors
  read -r rate errors < <("$bin/loadgen" --addr "127.0.0.1:$port" --connections 20 \
    --requests-per-connection 1 --warmup 1s --duration 4s "${client_flags[@]}" \
    --json - 2>/dev/null | python3 -c '
import json, sys
text = sys.stdin.read()
report = json.loads(text[text.index("{"):])
print(report["req_per_s"], report["errors_total"])')
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  printf '%-5s %10.0f req/s  errors %s\n' "$variant" "$rate" "$errors"
  echo "$variant $rate" >>"$results"
}

echo "PROXY protocol cost, $server, a new connection per request, $rounds rounds"
for round in $(seq "$rounds"); do
  echo "round $round"
  for variant in plain v1 v2; do
    one "$variant"
  done
done
python3 - "$results" <<'EOF'
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    variant, rate = line.split()
    rates.setdefault(variant, []).append(float(rate))
plain = statistics.median(rates["plain"])
print(f"median plain {plain:,.0f} connections/s")
for variant in ("v1", "v2"):
    rate = statistics.median(rates[variant])
    extra_us = (1 / rate - 1 / plain) * 1e6
    print(f"median {variant}    {rate:,.0f} connections/s = {rate / plain:.3f}x plain; "
          f"{extra_us:+.2f} us per connection")
EOF
