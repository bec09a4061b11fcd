#!/usr/bin/env bash
# Checks the Dockerfile without a container engine (none runs on CI's machines), on this Debian
# machine of the release the image builds on:
# - the Dockerfile's Debian release is this machine's, and every package it installs exists here;
# - BUILD_PACKAGES holds everything scripts/setup.sh installs to build;
# - every shared library the built binary links comes from a package the runtime image has:
#   RUNTIME_PACKAGES, the slim base image's required packages and apt, and their dependencies;
# - the image runs as a numeric non-root user and its health check is `idbridge healthcheck`.
# Usage: bash scripts/check-image.sh [BINARY]   (default target/debug/idbridge, built beforehand)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/idbridge}

fail() {
  echo "check-image: FAILED: $*" >&2
  exit 1
}
arg() { sed -n "s/^ARG $1=\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" Dockerfile; }

[ -x "$bin" ] || fail "no binary at $bin: build it first (cargo build --locked --bin idbridge)"
release=$(arg DEBIAN_RELEASE)
runtime=$(arg RUNTIME_PACKAGES)
build=$(arg BUILD_PACKAGES)
[ -n "$release" ] && [ -n "$runtime" ] && [ -n "$build" ] \
  || fail "the Dockerfile lacks ARG DEBIAN_RELEASE, RUNTIME_PACKAGES or BUILD_PACKAGES"
# shellcheck source=/dev/null
. /etc/os-release
[ "${VERSION_CODENAME:-}" = "$release" ] \
  || fail "this machine is Debian ${VERSION_CODENAME:-?}, the image is built on $release: the check would prove nothing"

# shellcheck source=scripts/setup.sh
. scripts/setup.sh
# apt-cache answers from the package lists, which a fresh machine may not have yet.
if ! apt-cache show --no-all-versions libxmlsec1-openssl >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
fi
for p in "${IDB_BUILD_PACKAGES[@]}"; do
  [[ " $build " == *" $p "* ]] || fail "BUILD_PACKAGES lacks $p (scripts/setup.sh installs it to build)"
done
# shellcheck disable=SC2086
apt-cache show --no-all-versions $runtime $build >/dev/null 2>&1 \
  || fail "a package of BUILD_PACKAGES or RUNTIME_PACKAGES is unknown to apt here ($runtime $build; run apt-get update?)"

# What the runtime image holds: the slim base (Debian's required packages and apt) plus
# RUNTIME_PACKAGES, with every package they depend on.
base=$(dpkg-query -W -f '${Package} ${Priority}\n' | awk '$2 == "required" { print $1 }')
# shellcheck disable=SC2086
image=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $runtime apt $base | grep -v -e '^ ' -e '^<' | sort -u)

# The package that owns a library, whichever side of the /usr merge dpkg recorded it on.
owner() {
  local path
  for path in "$1" "$(readlink -f "$1")"; do
    for candidate in "$path" "${path#/usr}" "/usr$path"; do
      dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1 && return 0
    done
  done
  return 1
}

libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
[ -n "$libs" ] || fail "ldd lists no shared library of $bin"
packages=()
for lib in $libs; do
  pkg=$(owner "$lib") || fail "$lib (linked by $bin) belongs to no Debian package"
  grep -qx "$pkg" <<<"$image" || fail "$lib comes from $pkg, which the runtime image lacks: add it to RUNTIME_PACKAGES"
  packages+=("$pkg")
done

grep -Eq '^USER [1-9][0-9]*:[0-9]+$' Dockerfile || fail "the image does not run as a numeric non-root USER uid:gid"
grep -Eq '^ *CMD \["/usr/local/bin/idbridge", .*"healthcheck"\]$' Dockerfile \
  || fail "the HEALTHCHECK does not run idbridge healthcheck"

echo "check-image: the $(wc -w <<<"$libs") libraries $bin links come from $(printf '%s\n' "${packages[@]}" | sort -u | tr '\n' ' ')- all in the runtime image ($runtime on debian:$release-slim)"
