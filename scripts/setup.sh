#!/usr/bin/env bash
# Installs the system packages idbridge needs to BUILD (samael's XML-DSig verification binds
# libxmlsec1 through bindgen, which needs clang). Does nothing when they are all present.
# Usage: bash scripts/setup.sh   (as root, or with sudo available)
set -euo pipefail

idb_install() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}" >&2
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "setup: run as root or install: ${missing[*]}" >&2
      return 1
    fi
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

IDB_BUILD_PACKAGES=(clang libclang-dev pkg-config libxml2-dev libxmlsec1-dev libssl-dev)

# Sourced by scripts/env.sh: only define; run when executed.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  idb_install "${IDB_BUILD_PACKAGES[@]}"
fi
