#!/usr/bin/env bash
# Model-check evnet's cross-thread protocols with loom: the takeover of a loop (lend,
# reclaim, take; the watch's sleep and wake) and the worker queue's wake-ups. Every
# interleaving loom explores runs; a lost wake-up shows as a deadlock, a double owner as a
# failed assertion. Built in its own target directory (the cfg changes every crate).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
exec cargo test -p evnet --lib --release -- loom_tests "$@"
