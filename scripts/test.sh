#!/usr/bin/env bash
# The whole test suite: installs libev-dev if needed, then formatting, lints, docs and
# every test (unit, integration, doc) of every crate, with and without `evented`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh libev
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-features --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ {p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}' "$log"
exit "$status"
