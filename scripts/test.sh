#!/usr/bin/env bash
# Runs every test: installs what the tests need, makes sure PostgreSQL answers, then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
export IDBRIDGE_REQUIRE_SERVICES=1
cargo test --locked "$@"
