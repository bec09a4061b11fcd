#!/usr/bin/env bash
# Coverage-guided fuzzing on stable Rust (docs/reliability.md): builds the one fuzz binary of
# fuzz/ (libFuzzer through libfuzzer-sys, code instrumented by rustc's SanitizerCoverage pass),
# then runs each target for SECONDS on its seeds (fuzz/seeds/<target>/). Fails if any target
# crashes; a crash input is kept in fuzz/artifacts/<target>/ (add it to the target's seeds as
# `crash-...` once fixed, so the unit test replays it).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default 60 s, every target
#   FUZZ_JOBS=2 scripts/fuzz.sh 600           two targets at a time (one core each)
#   FUZZ_SEED=1 scripts/fuzz.sh 30            libFuzzer's random seed fixed (CI: the same inputs
#                                             in the same order each run, so a red CI is a bug
#                                             that is still there, not a new draw)
#   scripts/fuzz.sh --list                    the target names
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
targets=(config hr_csv hr_json ldap_entry scim_reply template saml_response saml_metadata)
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
seconds=${1:-60}
shift || true
if [ $# -gt 0 ]; then
  targets=("$@")
fi
case $seconds in '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
jobs=${FUZZ_JOBS:-1}
seed_flag=()
if [ -n "${FUZZ_SEED:-}" ]; then
  case $FUZZ_SEED in *[!0-9]*) echo "fuzz: FUZZ_SEED must be a whole number, got '$FUZZ_SEED'" >&2; exit 2 ;; esac
  seed_flag=(-seed="$FUZZ_SEED")
fi

# The flags cargo-fuzz would pass, all stable: SanitizerCoverage with 8-bit counters, the PC
# table and comparison tracing (what libFuzzer's coverage and value profile read), and
# `--cfg fuzzing`, which the `fuzzing` feature requires. An explicit --target keeps the flags off
# build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/fuzz/target}"
build_start=$(date +%s)
(cd fuzz && cargo build --locked --release --target "$host" --bin idbridge-fuzz)
bin="$CARGO_TARGET_DIR/$host/release/idbridge-fuzz"
echo "fuzz: built in $(( $(date +%s) - build_start ))s: $bin"

summary=$(mktemp)
run_target() {
  local t=$1 log work artifacts rc=0
  [ -d "fuzz/seeds/$t" ] || { echo "fuzz: no seeds for target '$t' (fuzz/seeds/$t)" >&2; return 2; }
  work="fuzz/corpus-work/$t"
  artifacts="fuzz/artifacts/$t"
  log="fuzz/artifacts/$t.log"
  mkdir -p "$work" "$artifacts"
  # New inputs go to the work corpus (kept between runs, not committed); the seeds are read only.
  # -timeout: an input that takes longer is a hang, reported as a crash. -use_value_profile: the
  # operands of comparisons count as coverage, so magic values are found a byte at a time.
  IDBRIDGE_FUZZ_TARGET=$t "$bin" "$work" "fuzz/seeds/$t" \
    -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
    "${seed_flag[@]}" \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  local execs cov ft
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-14s %6ss %12s execs  cov %6s  ft %6s  %s\n' "$t" "$seconds" "${execs:-?}" \
    "${cov:-?}" "${ft:-?}" "$([ $rc = 0 ] && echo ok || echo "CRASH (exit $rc, see $log)")" | tee -a "$summary"
  if [ $rc != 0 ]; then
    grep -E 'panicked at|^==[0-9]+== ERROR|Test unit written to|SUMMARY' "$log" | head -8 >&2 || true
  fi
  return $rc
}

failed=0
running=0
for t in "${targets[@]}"; do
  if [ "$jobs" -le 1 ]; then
    run_target "$t" || failed=1
  else
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
echo "fuzz: ${#targets[@]} targets x ${seconds}s:"
sort "$summary"
rm -f "$summary"
if [ "$failed" != 0 ]; then
  echo "fuzz: a target crashed or failed; inputs in fuzz/artifacts/" >&2
  exit 1
fi
