#!/usr/bin/env bash
# Builds the contract worker's image for the node tests (tests/node_*.rs): the test suite's
# stand-in for buun-curator's worker (tests/python/pod_worker.py), packaged the way
# buun-curator's own image is: Python as PID 1 (ENTRYPOINT python3 .../pod_worker.py, no init),
# the non-numeric user `pwuser` (uid 1001, home /home/pwuser), a shell for the preStop hook.
# Made from Debian 12's packages with mmdebstrap (minbase + python3), with the Temporal SDK and
# Pydantic at the versions scripts/install-deps.sh pins, installed from PyPI's wheels.
# Reused while its inputs are unchanged (label curator.buun.dev/worker-inputs).
# The last line printed is "<archive> <image reference>". Needs root, podman and mmdebstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$target_dir/image}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd) # the archive path printed last is absolute
ref=localhost/curator-contract-worker:test
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
temporalio=$(sed -n 's/^TEMPORALIO_VERSION=//p' scripts/install-deps.sh)
pydantic=$(sed -n 's/^PYDANTIC_VERSION=//p' scripts/install-deps.sh)
inputs=$( (cat tests/python/pod_worker.py "$0"; echo "$temporalio $pydantic") | sha256sum | cut -c1-16)
label=curator.buun.dev/worker-inputs
archive=$OUT/curator-contract-worker.tar
mkdir -p "$OUT"
have=$("${podman[@]}" image inspect --format "{{index .Labels \"$label\"}}" "$ref" 2>/dev/null || true)
if [[ "$have" != "$inputs" ]]; then
  echo "== mmdebstrap bookworm minbase + python3; temporalio $temporalio, pydantic $pydantic" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # The host's pip (CPython 3.11, like bookworm's python3) picks the wheels for the image.
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --no-compile --only-binary=:all: --target "$tmp/site" \
    "temporalio==$temporalio" "pydantic==$pydantic" >&2
  mmdebstrap --quiet --variant=minbase --include=python3 \
    --customize-hook='mkdir -p "$1/opt/worker" "$1/app" && cp -a '"$tmp/site"' "$1/opt/worker/lib"' \
    --customize-hook='cp tests/python/pod_worker.py "$1/app/pod_worker.py"' \
    --customize-hook='chroot "$1" useradd --uid 1001 --user-group --create-home --shell /bin/sh pwuser' \
    --customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists" "$1/usr/share/doc" "$1/usr/share/man"' \
    bookworm "$tmp/rootfs.tar" >&2
  "${podman[@]}" import \
    --change "USER pwuser" --change "WORKDIR /app" \
    --change "ENV PYTHONPATH=/opt/worker/lib" --change "ENV PYTHONUNBUFFERED=1" \
    --change 'ENTRYPOINT ["python3", "/app/pod_worker.py"]' \
    --change "LABEL $label=$inputs" \
    "$tmp/rootfs.tar" "$ref" >&2
  rm -f "$archive"
fi
if [[ ! -f "$archive" ]]; then
  "${podman[@]}" save --format docker-archive -o "$archive" "$ref" >&2
fi
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$ref")
echo "image $ref: $((size / 1024 / 1024)) MiB uncompressed" >&2
echo "$archive $ref"
