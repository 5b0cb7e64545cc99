#!/usr/bin/env bash
# The whole test suite: installs libev-dev if needed, then formatting, lints, docs and
# every test (unit, integration, doc) of every crate with all features, and the examples
# again without features (their default build runs `net`; `--all-features` runs `evnet`
# and builds the tokio reference server).
set -euo pipefail
cd "$(dirname "$0")/.."
# redis-tools: redis-cli and redis-benchmark, which tests/tests/redis_tools.rs runs; curl
# and openssl (s_client): the TLS clients of tests/tests/tls.rs.
scripts/ensure-deps.sh libev redis curl openssl haproxy promtool
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p examples --all-targets -- -D warnings
# The libraries without their optional features (`log` off: its macros must vanish cleanly).
cargo clippy -p net -p evnet --all-targets -- -D warnings
# The cross-thread protocols under loom (adaptive dispatch's takeover, the queue's wake-ups).
scripts/loom.sh
# The three library crates package (versioned path dependencies, metadata, build script),
# each with both license files.
cargo package -p net -p evnet-sys -p evnet --no-verify --allow-dirty --quiet
for crate in net evnet-sys evnet; do
  listed=$(cargo package -p "$crate" --no-verify --allow-dirty --list 2>/dev/null)
  for file in LICENSE-MIT LICENSE-APACHE README.md; do
    grep -qx "$file" <<<"$listed" || { echo "cargo package -p $crate lacks $file" >&2; exit 1; }
  done
done
# The docs as docs.rs builds them: every feature, feature-gated items marked (`doc(cfg)`
# is unstable: RUSTC_BOOTSTRAP lets this stable toolchain build them the nightly way).
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" \
  cargo doc -p net -p evnet-sys -p evnet --all-features --no-deps --quiet --target-dir target/docsrs
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet
RUSTDOCFLAGS="-D warnings" cargo doc -p examples --no-deps --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
set +e
cargo test --workspace --all-features --no-fail-fast 2>&1 | tee "$log"
step=${PIPESTATUS[0]}
[ "$step" -eq 0 ] || status=$step
cargo test -p examples --no-fail-fast 2>&1 | tee -a "$log"
step=${PIPESTATUS[0]}
[ "$step" -eq 0 ] || status=$step
# compare end to end with net serving TLS (--all-features builds evnet's binaries).
cargo test -p examples --features tls --test compare --no-fail-fast 2>&1 | tee -a "$log"
step=${PIPESTATUS[0]}
[ "$step" -eq 0 ] || status=$step
set -e
# One closing line for the whole suite (cargo prints one per test binary, in both runs).
awk '/^test result:/ {p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}' "$log"
exit "$status"
