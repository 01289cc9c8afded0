#!/usr/bin/env bash
# Builds the operator image on this machine, from the project's Dockerfile, with no registry:
#   bash scripts/image.sh                 the release profile (what ships)
#   PROFILE=dev bash scripts/image.sh     the profile of the test build (CI: one cargo profile)
# The last line printed is "<archive> <image reference>": a docker-archive that
# `../shared/k8s/cluster image-load DIR ARCHIVE`, `kind load image-archive ARCHIVE` and
# `k3d image import ARCHIVE` take.
#
# The Dockerfile's public path compiles in `rust:1.95-bookworm` and runs on
# `gcr.io/distroless/cc-debian12:nonroot`. Here neither can be pulled, so:
#   - the binary is built on the host (same Rust release and glibc 2.36 as that builder) with the
#     Dockerfile's own command, `cargo build --locked --profile P --bin curator-operator`, then
#     stripped, and enters through the Dockerfile's `prebuilt` stage (BINARY=prebuilt);
#   - the runtime base is made from Debian 12's packages with mmdebstrap: the packages of
#     distroless' cc-debian12 (base-files netbase tzdata ca-certificates libc6 libssl3
#     libgcc-s1 libgomp1 libstdc++6, without their dependencies), its CA bundle, its nonroot
#     user 65532 and its image settings (scripts/image-base.sh);
#   - before saving, the image is checked: the base is Debian 12 with glibc 2.36, the binary
#     needs no newer glibc than the base has, and it starts as the chart runs it (uid 65532,
#     read-only root filesystem, no capabilities).
# Needs root, podman, mmdebstrap and binutils (scripts/install-deps.sh installs them).
# Env: PROFILE (release), OUT (target dir/image), TAG (version, -dev for the dev profile).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$target_dir/image}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd) # the archive path printed last is absolute
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
dir=$PROFILE
[[ $PROFILE == dev ]] && dir=debug
TAG=${TAG:-$version$([[ $PROFILE == release ]] || echo "-$PROFILE")}
ref=localhost/curator-operator:$TAG
podman=(podman --runtime runc --cgroup-manager=cgroupfs)

echo "== cargo build --locked --profile $PROFILE --bin curator-operator" >&2
cargo build --locked --profile "$PROFILE" --bin curator-operator >&2
mkdir -p "$OUT/context"
install -m 0755 "$target_dir/$dir/curator-operator" "$OUT/context/curator-operator"
strip --strip-all "$OUT/context/curator-operator"

base=$(bash scripts/image-base.sh)

echo "== podman build $ref (BINARY=prebuilt, RUNTIME_IMAGE=$base)" >&2
"${podman[@]}" build --pull=never -f Dockerfile \
  --build-arg BINARY=prebuilt --build-arg RUNTIME_IMAGE="$base" \
  --build-arg VERSION="$version" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$ref" "$OUT/context" >&2

echo "== checks" >&2
# Debian 12 and glibc 2.36 in the base; the binary asks for no newer glibc symbol version.
mnt=$("${podman[@]}" image mount "$ref")
trap '"${podman[@]}" image unmount "$ref" >/dev/null 2>&1 || true' EXIT
grep -q '^VERSION_CODENAME=bookworm$' "$mnt/etc/os-release" \
  || { echo "base is not Debian 12 (bookworm)" >&2; exit 1; }
base_glibc=$(sed -n 's/^Version: \([0-9.]*\)-.*/\1/p' "$mnt/var/lib/dpkg/status.d/libc6")
needs=$(objdump -T "$mnt/curator-operator" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
[[ "$(printf '%s\n%s\n' "$needs" "$base_glibc" | sort -V | tail -1)" == "$base_glibc" ]] \
  || { echo "the binary needs glibc $needs, the base has $base_glibc" >&2; exit 1; }
echo "base: Debian $(cat "$mnt/etc/debian_version") (bookworm), glibc $base_glibc; the binary needs glibc >= $needs" >&2
"${podman[@]}" image unmount "$ref" >/dev/null
trap - EXIT
# As the chart runs it: uid 65532, read-only root filesystem, no capabilities. (The limits are
# lowered to what this machine allows: root here lacks CAP_SYS_RESOURCE, and runc fails to set
# podman's defaults.)
"${podman[@]}" run --rm --pull=never --network none --ulimit nofile=8192:8192 --ulimit nproc=8192:8192 --read-only --cap-drop=ALL \
  --security-opt=no-new-privileges --user 65532:65532 "$ref" --version >&2

archive=$OUT/curator-operator-$TAG.tar
rm -f "$archive"
"${podman[@]}" save --format docker-archive -o "$archive" "$ref" >&2
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$ref")
echo "image $ref: $((size / 1024 / 1024)) MiB ($size bytes) uncompressed; archive $(du -m "$archive" | cut -f1) MiB" >&2
echo "$archive $ref"
