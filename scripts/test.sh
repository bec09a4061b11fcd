#!/usr/bin/env bash
# Runs every test: installs what the tests need, makes sure PostgreSQL answers, then cargo test,
# and closes with the total over every test binary ("N passed, N failed").
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
export IDBRIDGE_REQUIRE_SERVICES=1
log=$(mktemp)
status=0
cargo test --locked "$@" 2>&1 | tee "$log" || status=$?
# The SAML conformance corpus counts (cargo captures test output, so show them explicitly).
if [ "$status" = 0 ]; then
  cargo test --locked --test integration saml::corpus -- --nocapture 2>&1 \
    | grep -E '^(responses|metadata): [0-9]+ passed|SKIPPED' || true
fi
totals=$(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { printf "%d passed, %d failed", p, f }' "$log")
rm -f "$log"
echo "$totals"
exit "$status"
