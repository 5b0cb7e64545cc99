#!/usr/bin/env bash
# The main job: installs what the servers need (libev-dev; redis-server, the RESP
# reference), then runs `compare` (examples/src/bin/compare.rs), which builds every
# server, runs each through every scenario with the load generator, prints one table per
# scenario and writes results/<timestamp>/ (results.json, tables.md, chart.svg, logs).
# Usage: scripts/compare.sh [--quick] [--scenarios A,B] [--servers A,B] [--duration D] ...
# (`scripts/compare.sh --help` lists every flag.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh libev redis-server
cargo build --release --quiet -p examples --bin compare
exec target/release/compare "$@"
