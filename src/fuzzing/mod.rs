//! Fuzz entry points: one function per target, each taking the fuzzer's bytes through the same
//! code a run takes untrusted input through (config text through the resolver, HR CSV and JSON
//! pages, LDAP entries as BER, SCIM list and error replies, mapping templates, SAML documents).
//! Each target fails only by panicking: a panic is a finding, and an invariant it checks (no
//! secret in an error, no empty message) is asserted.
//!
//! Compiled for the fuzz build (`fuzz/`, feature `fuzzing` with `--cfg fuzzing`, made by
//! `scripts/fuzz.sh`) and for unit tests, which replay every seed and every past crash
//! (`fuzz/seeds/<target>/`) through the targets. The feature is refused in any other build, so
//! neither this module nor the SAML signature stub (`saml::crypto`) reaches a release binary.
//! How to run it and what it found: docs/reliability.md.

#[cfg(all(feature = "fuzzing", not(fuzzing)))]
compile_error!(
    "the `fuzzing` feature is for the fuzz build only (RUSTFLAGS=\"--cfg fuzzing\", scripts/fuzz.sh): it carries a SAML signature stub"
);
#[cfg(all(feature = "fuzzing", not(debug_assertions)))]
compile_error!(
    "the `fuzzing` feature needs debug assertions (the fuzz profile has them): a release build must never carry the SAML signature stub"
);

mod fixture;
mod saml;
mod scim;
mod sources;
#[cfg(test)]
mod tests;

/// A target: takes any bytes, panics only on a finding.
pub type Target = fn(&[u8]);

/// Every fuzz target, by the name `IDBRIDGE_FUZZ_TARGET` and `scripts/fuzz.sh` use.
pub const TARGETS: [(&str, Target); 8] = [
    ("config", sources::config),
    ("hr_csv", sources::hr_csv),
    ("hr_json", sources::hr_json),
    ("ldap_entry", sources::ldap_entry),
    ("scim_reply", scim::reply),
    ("template", sources::template),
    ("saml_response", saml::response),
    ("saml_metadata", saml::metadata),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Run the target named by `IDBRIDGE_FUZZ_TARGET` on `data` (the fuzz binary's one entry point).
/// An unknown or missing name aborts at once, with the names that exist: a run that fuzzes
/// nothing must not look like a clean one.
pub fn run_from_env(data: &[u8]) {
    static CHOSEN: std::sync::OnceLock<Option<Target>> = std::sync::OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| {
        let name = std::env::var("IDBRIDGE_FUZZ_TARGET").unwrap_or_default();
        target(&name)
    });
    match chosen {
        Some(run) => run(data),
        None => {
            let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
            eprintln!(
                "IDBRIDGE_FUZZ_TARGET must name a fuzz target: one of {}",
                names.join(", ")
            );
            std::process::abort();
        }
    }
}
