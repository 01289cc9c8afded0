# syntax=docker/dockerfile:1

# curator-operator: a static (musl) binary on distroless, running as non-root.
#
#   docker build -t ghcr.io/buun-ch/curator-operator:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ... .
#
# temporalio-client is built with its `vendored-protox` feature (no protoc needed); ring and
# jemalloc (the allocator, default feature `jemalloc`) need a C compiler for the musl target,
# which musl-tools provides, and jemalloc needs make (in the rust image).

ARG RUST_VERSION=1.95

# Base images are referenced by tag: they are NOT pinned by digest yet (the machine this was
# written on could not reach a registry to read the digests). To pin them, write each FROM as
# `image:tag@sha256:<digest>`, with the digest read from the registry:
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot --format '{{json .Manifest.Digest}}'
#   docker buildx imagetools inspect rust:1.95-bookworm --format '{{json .Manifest.Digest}}'
# (or `crane digest IMAGE`). Update by reading them again when the tag moves (a bot such as
# Renovate's Dockerfile manager keeps pinned digests current).

FROM rust:${RUST_VERSION}-bookworm AS builder
# Set by BuildKit from --platform; the builder runs on the target platform, so musl-gcc
# compiles for it natively (amd64 when built without BuildKit).
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN case "${TARGETARCH:-amd64}" in \
      amd64) target=x86_64-unknown-linux-musl ;; \
      arm64) target=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported architecture: ${TARGETARCH}" >&2; exit 1 ;; \
    esac \
 && rustup target add "${target}" \
 && echo "${target}" > /rust-target
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CC_aarch64_unknown_linux_musl=musl-gcc \
    CARGO_PROFILE_RELEASE_STRIP=symbols
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
# The build's settings: jemalloc's options are compiled in from .cargo/config.toml.
COPY .cargo ./.cargo
COPY src ./src
# The target directory is a cache mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/build/target,sharing=locked \
    target="$(cat /rust-target)" \
 && cargo build --release --locked --bin curator-operator --target "${target}" \
 && install -D -m 0755 "target/${target}/release/curator-operator" /out/curator-operator

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="curator-operator" \
      org.opencontainers.image.description="Kubernetes operator for buun-curator: Temporal worker Deployments and per-feed Temporal Schedules" \
      org.opencontainers.image.source="https://github.com/buun-ch/curator-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=builder /out/curator-operator /curator-operator
USER 65532:65532
# /livez, /readyz and /metrics (CURATOR_HTTP_ADDR, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/curator-operator"]
CMD ["run"]
