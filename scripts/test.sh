#!/usr/bin/env bash
# The whole test suite: formatting, lints, CRD drift, unit, controller, Temporal integration,
# cluster tests, and node tests (the images built here, run in real Pods: tests/node_*.rs).
# Each integration test binary starts its own Temporal dev server on a free
# loopback port; the cluster tests share one Kubernetes control plane started here (see
# scripts/cluster.sh), or the cluster named by CURATOR_TEST_KUBECONFIG.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export TEMPORAL_CLI="$PWD/.tools/bin/temporal"

echo "== Kubernetes control plane for the cluster tests"
cluster_note=""
if [[ -n "${CURATOR_TEST_KUBECONFIG:-}" ]]; then
  cluster_note="ran against CURATOR_TEST_KUBECONFIG ($CURATOR_TEST_KUBECONFIG)"
elif source=$(bash scripts/cluster.sh source 2>&1); then
  cluster_dir=$(mktemp -d)
  trap 'bash scripts/cluster.sh down "$cluster_dir"; rm -rf "$cluster_dir"' EXIT
  bash scripts/cluster.sh up "$cluster_dir"
  export CURATOR_TEST_KUBECONFIG="$cluster_dir/kubeconfig"
  cluster_note="ran against a control plane from $source"
else
  cluster_note="SKIPPED: $source"
  if [[ "${CURATOR_REQUIRE_CLUSTER:-}" == 1 ]]; then
    echo "cluster tests: required (CURATOR_REQUIRE_CLUSTER=1) but $cluster_note" >&2
    exit 1
  fi
fi
echo "cluster tests: $cluster_note"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo clippy --lib --bins -- -D warnings (the shipped crate, without test support)"
cargo clippy --lib --bins --locked -- -D warnings
echo "== cargo deny check bans licenses sources (advisories need the RustSec database: run them where it can be fetched)"
# cargo-deny reads every package of the lock file, for every platform: fetch them first (a
# no-op once they are in the registry cache; a new machine's builds fetch only its own).
cargo fetch --locked --quiet
.tools/bin/cargo-deny --offline check bans licenses sources
echo "== actionlint (.github/workflows)"
.tools/bin/actionlint -no-color
echo "== images for the node tests (scripts/image.sh with the tests' cargo profile, scripts/worker-image.sh)"
# The operator's image is built from this checkout with the dev profile, the one profile CI
# compiles; the release profile differs only in optimisation (Dockerfile ARG PROFILE).
node_note=""
if [[ "$(id -u)" == 0 ]] && command -v podman >/dev/null && command -v mmdebstrap >/dev/null; then
  CURATOR_OPERATOR_IMAGE=$(PROFILE=dev bash scripts/image.sh | tail -1)
  CURATOR_WORKER_IMAGE=$(bash scripts/worker-image.sh | tail -1)
  export CURATOR_OPERATOR_IMAGE CURATOR_WORKER_IMAGE
  node_note="images $CURATOR_OPERATOR_IMAGE, $CURATOR_WORKER_IMAGE"
else
  node_note="SKIPPED: the images need root, podman and mmdebstrap (scripts/install-deps.sh as root)"
  if [[ "${CURATOR_REQUIRE_NODE:-}" == 1 ]]; then
    echo "node tests: required (CURATOR_REQUIRE_NODE=1) but $node_note" >&2
    exit 1
  fi
fi
echo "node tests: $node_note"
echo "== cargo test"
# Library, binary and test targets; the benchmark runs with `cargo bench` (its small-N smoke
# run is tests/bench_smoke.rs).
test_log="${CARGO_TARGET_DIR:-target}/test-output.log"
mkdir -p "$(dirname "$test_log")"
cargo test --lib --bins --tests --locked 2>&1 | tee "$test_log"
echo "== summary"
echo "cluster tests: $cluster_note"
echo "node tests: $node_note"
# One closing line over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' "$test_log"
