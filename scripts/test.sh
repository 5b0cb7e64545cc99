#!/usr/bin/env bash
# The whole test suite: installs libev-dev if needed, then formatting, lints, docs and
# every test (unit, integration, doc) of every crate, with and without `evented`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh libev
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet
cargo test --workspace --all-features --no-fail-fast
