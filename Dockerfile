# syntax=docker/dockerfile:1

# curator-operator: a glibc binary on distroless (Debian 12, glibc 2.36), running as non-root.
#
#   docker build -t ghcr.io/buun-ch/curator-operator:0.1.0 .
#   docker buildx build --platform linux/arm64 -t ... .      (the release workflow builds each
#                                                            platform on a runner of its own)
#
# Both stages are Debian 12 (bookworm) with glibc 2.36: the binary is linked against the glibc
# it runs on. temporalio-client is built with its `vendored-protox` feature (no protoc needed);
# ring and jemalloc (the allocator, default feature `jemalloc`) need the C compiler and make of
# the rust image.
#
# Base images are build arguments, so that a machine without a registry can build the same
# image from bases of its own: `scripts/image.sh` makes an equivalent of the runtime base from
# Debian's packages (mmdebstrap) and builds the binary on the host with the same Rust release
# and glibc (BINARY=prebuilt). The runtime stage below is the same on both paths.
#
# The defaults are referenced by tag: the machine this was written on could not reach a
# registry to read their digests. Renovate (renovate.json) pins them as `image:tag@sha256:...`
# in its first pull request and keeps the digests current.
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# Where the binary comes from: `build` compiles it in the builder stage (the release path);
# `prebuilt` takes `curator-operator` from the root of the build context (scripts/image.sh).
ARG BINARY=build

FROM ${BUILDER_IMAGE} AS build
# The Cargo profile: `release` ships; CI's image takes its one test build's profile (`dev`).
ARG PROFILE=release
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
# The build's settings: jemalloc's options are compiled in from .cargo/config.toml.
COPY .cargo ./.cargo
COPY src ./src
# The target directory is a cache mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/build/target,sharing=locked \
    cargo build --locked --profile "${PROFILE}" --bin curator-operator \
 && dir="${PROFILE}" && if [ "${PROFILE}" = dev ]; then dir=debug; fi \
 && install -D -m 0755 "target/${dir}/curator-operator" /out/curator-operator \
 && strip --strip-all /out/curator-operator

FROM scratch AS prebuilt
# Built and stripped by scripts/image.sh: `cargo build --locked --profile P --bin
# curator-operator`, then `strip --strip-all`, as in the stage above.
COPY curator-operator /out/curator-operator

FROM ${BINARY} AS binary

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="curator-operator" \
      org.opencontainers.image.description="Kubernetes operator for buun-curator: Temporal worker Deployments and per-feed Temporal Schedules" \
      org.opencontainers.image.source="https://github.com/buun-ch/curator-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=binary /out/curator-operator /curator-operator
USER 65532:65532
# /livez, /readyz and /metrics (CURATOR_HTTP_ADDR, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/curator-operator"]
CMD ["run"]
