#!/usr/bin/env bash
# Makes the local stand-in for gcr.io/distroless/cc-debian12:nonroot from Debian 12's packages
# with mmdebstrap, imports it into podman and prints its reference. Made once per package list:
# an image with the same list (label curator.buun.dev/base-packages) is reused.
#
# Equivalent to the public base as far as the binary can tell: the same Debian release (12,
# bookworm) and glibc (2.36, libc6 from bookworm), the same packages (only these, not their
# dependencies: distroless extracts the named packages alone), a CA bundle made as distroless
# makes it (the concatenated Mozilla certificates), the same user (nonroot, 65532:65532, home
# /home/nonroot), an empty world-writable /tmp, and the same image settings (USER, WORKDIR, PATH,
# SSL_CERT_FILE). Package metadata goes to /var/lib/dpkg/status.d/ as in distroless, where
# scanners and scripts/image.sh read it.
set -euo pipefail
packages="base-files netbase tzdata ca-certificates libc6 libssl3 libgcc-s1 libgomp1 libstdc++6"
ref=localhost/curator-operator-base:bookworm
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
label=curator.buun.dev/base-packages
have=$("${podman[@]}" image inspect --format "{{index .Labels \"$label\"}}" "$ref" 2>/dev/null || true)
if [[ "$have" == "$packages" ]]; then
  echo "$ref"
  exit 0
fi
echo "== mmdebstrap bookworm: $packages" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The hooks run in sh. The extract hook runs while the downloaded .debs are still in the target's apt cache: it
# removes the files of every package that was pulled in only as a dependency (debconf, perl-base,
# openssl, ...), and records each kept package's control fields.
extract_hook='
  set -e
  wanted=" '"$packages"' "
  mkdir -p "$1/var/lib/dpkg/status.d"
  for deb in "$1"/var/cache/apt/archives/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    case "$wanted" in
      *" $pkg "*) dpkg-deb -f "$deb" >"$1/var/lib/dpkg/status.d/$pkg" ;;
      *) dpkg-deb -c "$deb" | awk "{print \$6}" | grep -v "/\$" | while read -r f; do
           rm -f "$1/${f#./}"
         done ;;
    esac
  done'
customize_hook='
  set -e
  r=$1
  mkdir -p "$r/etc/ssl/certs" "$r/home/nonroot" "$r/tmp"
  cat "$r"/usr/share/ca-certificates/mozilla/*.crt >"$r/etc/ssl/certs/ca-certificates.crt"
  printf "%s\n" "root:x:0:0:root:/root:/sbin/nologin" "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin" \
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin" >"$r/etc/passwd"
  printf "%s\n" "root:x:0:" "nobody:x:65534:" "tty:x:5:" "staff:x:50:" "nonroot:x:65532:" >"$r/etc/group"
  chown 65532:65532 "$r/home/nonroot"
  chmod 0700 "$r/home/nonroot"
  chmod 1777 "$r/tmp"
  rm -rf "$r/var/cache/apt" "$r/var/lib/apt" "$r/etc/apt" "$r/usr/share/doc" "$r/usr/share/man" \
    "$r/usr/share/lintian" "$r/usr/share/info"'
mmdebstrap --quiet --variant=extract --include="${packages// /,}" \
  --extract-hook="$extract_hook" --customize-hook="$customize_hook" \
  bookworm "$tmp/base.tar" >&2
"${podman[@]}" import \
  --change "USER 65532:65532" --change "WORKDIR /home/nonroot" \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
  --change "LABEL $label=\"$packages\"" \
  "$tmp/base.tar" "$ref" >&2
echo "$ref"
