#!/usr/bin/env bash
# The main job: build the example HTTP servers in release mode (net, evnet, and the
# references: a raw C epoll server that does the least work possible (the floor), a minimal
# tokio server, a hyper 1.x server and a minimal std thread-per-connection server) and
# load them side by side with wrk on loopback. Bounded: a few seconds per run.
# Then it holds 19,000 idle keep-alive connections on evnet and reports what they cost.
# Usage: scripts/compare.sh [--duration SECS] [--connections 50,2000] [--servers a,b,...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh libev wrk
cargo build --release --quiet -p examples --features tokio-ref,hyper-ref --bins
mkdir -p target/compare
cp target/release/http target/compare/http-net
cp target/release/std_http target/compare/std_http
cp target/release/tokio_http target/compare/tokio_http
cp target/release/hyper_http target/compare/hyper_http
gcc -O2 -Wall -Wextra -pthread -o target/compare/epoll_floor scripts/epoll_floor.c
cargo build --release --quiet -p examples --features evented --bin http --bin echo
cp target/release/http target/compare/http-evnet
cp target/release/echo target/compare/echo-evnet
python3 scripts/compare.py --bin-dir target/compare "$@"
echo
echo "Idle keep-alive connections on evnet (echo example, default topology: one worker per core, one loop per two cores):"
echo
echo "| measure | value |"
echo "| --- | --- |"
python3 scripts/idle.py --bin target/compare/echo-evnet
