#!/usr/bin/env bash
# Normal clients under attack (issue 6): build the HTTP example in release mode on net and
# on evnet, then measure normal clients (wrk + a probe) alone and during each attack
# (non-reading pipeliners, non-reading 16 MiB echoes, slowloris, slow bodies) on net,
# evnet Workers and evnet Inline. Bounded: a fresh server and a few seconds per row.
# Usage: scripts/attacks.sh [--duration SECS] [--servers net,evnet-workers,evnet-inline]
#                           [--scenarios pipeline-2,...] [--json PATH]
#        (all flags: scripts/attacks.sh --help)
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do
  case "$arg" in -h|--help) exec python3 scripts/attacks.py --help ;; esac
done
# Bad arguments fail (status 2) before the build, not after it.
python3 scripts/attacks.py --check-args "$@"
scripts/ensure-deps.sh libev wrk
mkdir -p target/attacks
cargo build --release --quiet -p examples --bin http
cp target/release/http target/attacks/http-net
cargo build --release --quiet -p examples --features evented --bin http
cp target/release/http target/attacks/http-evnet
python3 scripts/attacks.py --bin-dir target/attacks "$@"
