# syntax=docker/dockerfile:1
#
# The idbridge image: a build stage (the Rust toolchain and the -dev packages samael's libxmlsec1
# binding needs), then a slim runtime that holds the binary, the shared libraries it links
# (libxmlsec1 with its OpenSSL backend, libxml2, libssl) and the CA certificates, and runs as a
# fixed non-root user (10001:10001). docs/deploy.md says how to build, run and deploy it.
#
#   docker build -t idbridge:0.1.0 .          (BuildKit; or: podman build -t idbridge:0.1.0 .)
#   docker run --rm idbridge:0.1.0 demo
#
# The build and runtime stages must use the same Debian release: the binary links that release's
# library versions (libxmlsec1.so.1, libxml2.so.2, libicu). scripts/check-image.sh (CI) checks that
# RUNTIME_PACKAGES provide every library the binary links and that BUILD_PACKAGES holds what
# scripts/setup.sh installs to build.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM docker.io/library/rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
ARG BUILD_PACKAGES="clang libclang-dev pkg-config libxml2-dev libxmlsec1-dev libssl-dev"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${BUILD_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and target caches speed up rebuilds; the binary is copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin idbridge \
 && install -D -m 0755 target/release/idbridge /out/idbridge

FROM docker.io/library/debian:${DEBIAN_RELEASE}-slim AS runtime
ARG RUNTIME_PACKAGES="ca-certificates libxmlsec1-openssl"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${RUNTIME_PACKAGES} \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 idbridge \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin idbridge \
 && install -d -m 0755 /etc/idbridge \
 && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=build /out/idbridge /usr/local/bin/idbridge

LABEL org.opencontainers.image.title="idbridge" \
      org.opencontainers.image.description="Identity provisioning from LDAP/AD and HR into Notion or any SCIM 2.0 service" \
      org.opencontainers.image.licenses="Apache-2.0"

# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# The config is mounted at /etc/idbridge/idbridge.toml; a SQLite store and its lock files go on a
# volume at /data (url = "sqlite:///data/idbridge.db?mode=rwc"). The root file system can be
# read-only: idbridge writes to the store's folder and to /tmp (SAML checks capture libxmlsec1's
# messages in a temporary file; SQLite may spill large sorts), so give /tmp a writable volume too.
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/idbridge"]
CMD ["--config", "/etc/idbridge/idbridge.toml", "serve"]
# No curl in the image: `idbridge healthcheck` asks the local serve's /readyz (its address from
# [serve] listen). Only meaningful for `serve`; run one-shot commands with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/idbridge", "--config", "/etc/idbridge/idbridge.toml", "healthcheck"]
