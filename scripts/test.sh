#!/usr/bin/env bash
# The whole test suite: formatting, lints, CRD drift, unit, controller, and Temporal integration
# tests (each integration test binary starts its own Temporal dev server on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export TEMPORAL_CLI="$PWD/.tools/bin/temporal"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
# Library, binary and test targets; the benchmark runs with `cargo bench` (its small-N smoke
# run is tests/bench_smoke.rs).
cargo test --lib --bins --tests --locked 2>&1 | tee target/test-output.log
echo "== summary"
# One closing line over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.log
