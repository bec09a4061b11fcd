//! Findings: what the SAML checks report, one per rule that fired, as data (never `Err`).
//!
//! Codes follow the reason vocabulary of the public conformance corpus the tests run (docs/saml.md,
//! "Tests"); every code is listed in docs/saml.md, "Finding codes".

use serde::{Deserialize, Serialize};

/// How bad a finding is. Only `Error` changes a verdict. Spelled `error`, `warning`, `info`
/// alike in JSON (serde) and text (strum).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    /// Blocks: the response must be rejected, the metadata is unusable.
    Error,
    /// Works today but needs attention (SHA-1, a certificate about to expire).
    Warning,
    /// For the record (which certificate is current, what was checked).
    Info,
}

impl Severity {
    /// The spelling used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One check's result: a stable code, what is wrong, and how to fix it on the IdP side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Error, warning or info.
    pub severity: Severity,
    /// A stable code such as `xsw` or `wrong-audience` (see `docs/saml.md`).
    pub code: String,
    /// What was found, in one sentence.
    pub message: String,
    /// What to change (usually in the IdP), in one sentence; empty for plain information.
    pub fix: String,
}

impl Finding {
    /// A finding with the given severity.
    pub fn new(
        severity: Severity,
        code: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            severity,
            code: code.to_string(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// An error finding.
    pub fn error(code: &str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding::new(Severity::Error, code, message, fix)
    }

    /// A warning finding.
    pub fn warning(code: &str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding::new(Severity::Warning, code, message, fix)
    }

    /// An informational finding.
    pub fn info(code: &str, message: impl Into<String>) -> Self {
        Finding::new(Severity::Info, code, message, "")
    }

    /// Whether this finding blocks.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The outcome of a response check: `accept` or `reject`, in JSON, text and the store alike.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Verdict {
    /// No error finding: a service provider may log the user in.
    Accept,
    /// At least one error finding.
    Reject,
}

impl Verdict {
    /// `accept` or `reject`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Reject when any finding is an error.
    pub fn from_findings(findings: &[Finding]) -> Self {
        if findings.iter().any(Finding::is_error) {
            Verdict::Reject
        } else {
            Verdict::Accept
        }
    }
}

/// Codes that only say "the clock is outside a validity window": when they are the only errors,
/// the CLI suggests `--now` (the fixture or captured response is simply old).
pub const TIME_CODES: &[&str] = &[
    "expired",
    "not-yet-valid",
    "session-expired",
    "issue-instant-in-future",
    "signing-cert-expired",
    "signing-cert-not-yet-valid",
    "valid-until-expired",
];

/// Whether every error in `findings` is a time check (and there is at least one error).
pub fn only_time_errors(findings: &[Finding]) -> bool {
    let mut errors = findings.iter().filter(|f| f.is_error()).peekable();
    errors.peek().is_some() && errors.all(|f| TIME_CODES.contains(&f.code.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spellings::{assert_deserialized_alike, assert_serialized_alike, assert_spellings};

    #[test]
    fn severities_and_verdicts_are_spelled_alike_everywhere() {
        assert_spellings::<Severity>(&["error", "warning", "info"]);
        assert_serialized_alike::<Severity>();
        assert_deserialized_alike::<Severity>();
        assert_spellings::<Verdict>(&["accept", "reject"]);
        assert_serialized_alike::<Verdict>();
        assert_deserialized_alike::<Verdict>();
    }
}
