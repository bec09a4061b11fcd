//! The fuzz harness: one libFuzzer binary for every target, chosen by `IDBRIDGE_FUZZ_TARGET`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    idbridge::fuzzing::run_from_env(data);
});
