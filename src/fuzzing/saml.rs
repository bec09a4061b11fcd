//! Targets for the SAML documents an admin hands `saml check-*` (and `serve` fetches): a Response
//! through decoding, the pre-scan, the parser and every rule, and IdP metadata likewise. In the
//! fuzz build the signature step is the stub of `saml::crypto` (a document "verifies" when its
//! SignatureValue is the stub's mark), so the rules after it are reached too; in unit tests it is
//! the real library.

use super::fixture;
use crate::saml::metadata::{self, MetaExpect, Profile};
use crate::saml::{self, Expect, Finding, Level, Severity, Verdict};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// The fixed "now" of every check, so a finding never depends on the day the fuzzer ran.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 1, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A Response (XML, base64, or deflated base64), checked fully with every expectation set, and
/// for its signature only.
pub fn response(data: &[u8]) {
    let f = fixture::get();
    let full = Expect {
        certs: f.idp.clone(),
        issuer: Some("https://idp.example.test/metadata".into()),
        audience: Some("https://www.notion.so/sso/saml".into()),
        recipient: Some("https://www.notion.so/sso/saml/acme".into()),
        in_response_to: Some("_req-idbridge-fixture".into()),
        notion: true,
        ..Expect::default()
    };
    let signature_only = Expect {
        certs: f.idp.clone(),
        level: Level::Signature,
        allow_sha1: false,
        strict_certs: true,
        max_age: None,
        clock_skew: Duration::zero(),
        ..Expect::default()
    };
    for expect in [full, signature_only] {
        let report = saml::check(data, &expect, now());
        verdict_agrees(report.verdict, &report.findings);
    }
}

/// IdP metadata, checked for Notion and for any SP, and read for its trust anchors.
pub fn metadata(data: &[u8]) {
    let f = fixture::get();
    let notion = MetaExpect {
        signers: f.idp.clone(),
        acs: Some("https://www.notion.so/sso/saml/acme".into()),
        ..MetaExpect::default()
    };
    let generic = MetaExpect {
        profile: Profile::Generic,
        entity: Some("https://idp.example.test/metadata".into()),
        strict: true,
        ..MetaExpect::default()
    };
    for expect in [notion, generic] {
        let report = metadata::check(data, &expect, now());
        verdict_agrees(report.verdict, &report.findings);
        let _ = report.signing_certs();
    }
    if let Err(finding) = metadata::idp_trust(data, None) {
        verdict_agrees(Verdict::Reject, &[finding]);
    }
}

/// Accept exactly when no finding is an error, and every finding says what and what to do.
fn verdict_agrees(verdict: Verdict, findings: &[Finding]) {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    assert_eq!(
        verdict == Verdict::Accept,
        errors == 0,
        "verdict {verdict:?} with {errors} error findings: {findings:?}"
    );
    for finding in findings {
        assert!(
            !finding.message.trim().is_empty(),
            "a finding with no message: {finding:?}"
        );
    }
}
