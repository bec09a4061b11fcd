//! SAML SSO checks: a SAML Response checker ([`check`]), an IdP metadata checker
//! ([`metadata::check`]) and the service-provider side of a test login ([`login`]).
//!
//! [`check`] is a library call with everything as arguments (`now` included), so the CLI, the
//! test login and the conformance corpus test run the very same rules:
//! decode ([`input`]) → hardened parse → structure and algorithm rules ([`rules`]) →
//! XML-DSig verification against the configured certificates only ([`crypto`]) → protocol rules
//! on the verified subtree → identity read from that subtree only.
//!
//! May import: `model`-level crates (chrono, serde, roxmltree, base64, flate2, x509-parser) and
//! samael (in [`crypto`] only). No I/O here: the CLI reads files and URLs.

pub mod cert;
pub mod crypto;
pub mod finding;
pub mod input;
pub mod login;
pub mod metadata;
pub mod rules;

pub use cert::{CertError, CertInfo, Certificate};
pub use finding::{only_time_errors, Finding, Severity, Verdict};
pub use input::Limits;
pub use rules::{Identity, Level};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the service provider expects of a response.
#[derive(Debug, Clone)]
pub struct Expect {
    /// IdP signing certificates (trust anchors; any one may verify). Never taken from the message.
    pub certs: Vec<Certificate>,
    /// The IdP entity ID, checked against the Response and Assertion Issuer (`None`: not checked).
    pub issuer: Option<String>,
    /// The SP entity ID that must be in the AudienceRestriction (`None`: not checked).
    pub audience: Option<String>,
    /// The ACS URL: Destination and bearer Recipient must equal it (`None`: not checked).
    pub recipient: Option<String>,
    /// The outstanding AuthnRequest ID (`None`: IdP-initiated, any or no InResponseTo).
    pub in_response_to: Option<String>,
    /// Full Web-SSO checks or the signature only.
    pub level: Level,
    /// SHA-1 is a warning when allowed, an error when not.
    pub allow_sha1: bool,
    /// Expired or not-yet-valid IdP certificates are errors instead of warnings.
    pub strict_certs: bool,
    /// Tolerance on every time comparison.
    pub clock_skew: Duration,
    /// Oldest acceptable IssueInstant (`None`: only the NotOnOrAfter bounds apply).
    pub max_age: Option<Duration>,
    /// Add Notion's NameID and attribute expectations as warnings.
    pub notion: bool,
    /// Input size and shape limits.
    pub limits: Limits,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            certs: Vec::new(),
            issuer: None,
            audience: None,
            recipient: None,
            in_response_to: None,
            level: Level::Response,
            allow_sha1: true,
            strict_certs: false,
            clock_skew: Duration::seconds(180),
            max_age: Some(Duration::minutes(5)),
            notion: false,
            limits: Limits::default(),
        }
    }
}

/// The result of [`check`]: the JSON document of `saml check-response --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Accept when no finding is an error.
    pub verdict: Verdict,
    /// NameID from the verified assertion only.
    pub name_id: Option<String>,
    /// NameID format from the verified assertion only.
    pub name_id_format: Option<String>,
    /// Attributes from the verified assertion only.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Every finding, in check order; the first error is the reason.
    pub findings: Vec<Finding>,
    /// ID of the verified assertion (replay checks); not part of the JSON.
    #[serde(skip)]
    pub assertion_id: Option<String>,
}

impl Report {
    fn rejected(findings: Vec<Finding>) -> Self {
        Report {
            verdict: Verdict::from_findings(&findings),
            name_id: None,
            name_id_format: None,
            attributes: BTreeMap::new(),
            findings,
            assertion_id: None,
        }
    }

    /// The code of the first error finding (the reason of a rejection).
    pub fn reason(&self) -> Option<&str> {
        self.findings
            .iter()
            .find(|f| f.is_error())
            .map(|f| f.code.as_str())
    }

    /// Add a finding and recompute the verdict (CLI-side checks such as replay and the store).
    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
        self.verdict = Verdict::from_findings(&self.findings);
        if self.verdict == Verdict::Reject {
            // Only an accepted assertion may be reported as an identity.
            self.name_id = None;
            self.name_id_format = None;
            self.attributes.clear();
        }
    }
}

/// The message of the error a build without `saml-xmlsec` reports.
pub const NOT_VERIFIED: &str = "signature: not verified (built without saml-xmlsec)";

/// Check a SAML Response (raw XML, base64, or a `SAMLResponse=` form body) at `now`.
pub fn check(bytes: &[u8], expect: &Expect, now: DateTime<Utc>) -> Report {
    let mut findings = Vec::new();
    let xml = match input::decode(bytes, &expect.limits) {
        Ok(xml) => xml,
        Err(f) => return Report::rejected(vec![f]),
    };
    let doc = match input::parse(&xml, &expect.limits) {
        Ok(doc) => doc,
        Err(f) => return Report::rejected(vec![f]),
    };
    rules::comment_in_name_id(&doc, &mut findings);
    let layout = rules::structure(&doc, expect, &mut findings);
    if findings.iter().any(Finding::is_error) {
        return Report::rejected(findings);
    }
    cert_findings(&expect.certs, expect.strict_certs, now, &mut findings);

    // Comments are outside what a (without-comments) C14N signs, and the verifier's reduction
    // trips over them; removing them changes no signed byte and leaves NameID text whole.
    let uncommented = strip_comments(&xml, &doc);
    let reduced = match crypto::verify(&uncommented, &expect.certs) {
        crypto::Outcome::Verified(reduced) => reduced,
        crypto::Outcome::Unavailable => {
            findings.push(Finding::error(
                "signature-not-verified",
                NOT_VERIFIED,
                "Build idbridge with the default features (saml-xmlsec) to verify signatures.",
            ));
            return Report::rejected(findings);
        }
        crypto::Outcome::Failed(detail) => {
            findings.push(failure_finding(
                &uncommented,
                &layout,
                &expect.certs,
                &detail,
            ));
            return Report::rejected(findings);
        }
    };
    // Identity is read from the verified content only: re-parse what the verifier kept.
    let verified = match input::parse(&reduced, &expect.limits) {
        Ok(doc) => doc,
        Err(f) => {
            findings.push(Finding::error(
                "xsw",
                format!(
                    "The verified content could not be read back ({}).",
                    f.message
                ),
                "Treat this message as suspect.",
            ));
            return Report::rejected(findings);
        }
    };
    let vroot = verified.root_element();
    let vassertion = if rules::is(vroot, rules::NS_ASSERTION, "Assertion") {
        Some(vroot)
    } else {
        rules::child(vroot, rules::NS_ASSERTION, "Assertion")
    };
    let what = match (layout.response_signed, layout.assertion_signed) {
        (true, true) => "the Response and the Assertion",
        (true, false) => "the Response",
        _ => "the Assertion",
    };
    findings.push(Finding::info(
        "signature-verified",
        format!("The signature on {what} verified with a configured IdP certificate."),
    ));
    if let Some(a) = vassertion {
        if a.attribute("ID") != layout.assertion_id.as_deref() {
            findings.push(Finding::error(
                "xsw",
                "The verified assertion is not the assertion the message presents (signature wrapping).",
                "Treat this message as a signature-wrapping attack.",
            ));
            return Report::rejected(findings);
        }
    }
    let Some(assertion) = vassertion else {
        if expect.level == Level::Signature {
            return finish(findings, Identity::default(), None);
        }
        findings.push(Finding::error(
            "no-signature",
            "No verified signature covers the assertion.",
            "Turn on assertion signing in the IdP.",
        ));
        return Report::rejected(findings);
    };
    if expect.level == Level::Response {
        let root = doc.root_element();
        let response = rules::is(root, rules::NS_PROTOCOL, "Response").then_some(root);
        rules::protocol(
            response,
            layout.response_signed,
            assertion,
            expect,
            now,
            &mut findings,
        );
    }
    let identity = rules::identity(assertion);
    if expect.notion {
        rules::notion_identity(&identity, &mut findings);
    }
    finish(findings, identity, layout.assertion_id)
}

fn finish(findings: Vec<Finding>, identity: Identity, assertion_id: Option<String>) -> Report {
    let verdict = Verdict::from_findings(&findings);
    if verdict == Verdict::Reject {
        return Report::rejected(findings);
    }
    Report {
        verdict,
        name_id: identity.name_id,
        name_id_format: identity.name_id_format,
        attributes: identity.attributes,
        findings,
        assertion_id,
    }
}

/// The document text without its comments (byte ranges cut out; nothing else changes).
fn strip_comments(xml: &str, doc: &roxmltree::Document) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut at = 0;
    for c in doc.descendants().filter(|n| n.is_comment()) {
        let r = c.range();
        if r.start >= at {
            out.push_str(&xml[at..r.start]);
            at = r.end;
        }
    }
    out.push_str(&xml[at..]);
    out
}

/// Explain a failed verification. The message's `KeyInfo` is never trusted, but it tells which
/// key signed: if the signature verifies with the certificate the message carries (and not with
/// the configured ones) the IdP key is wrong; if it verifies with nothing, the message was
/// altered after signing.
fn failure_finding(
    xml: &str,
    layout: &rules::Layout,
    certs: &[Certificate],
    detail: &str,
) -> Finding {
    let fix = "Refresh the IdP metadata (a certificate rollover?) or check that this response comes from the configured IdP.";
    if layout.keyinfo_certs.is_empty() {
        return Finding::error(
            "wrong-cert",
            format!("No signature verifies with the configured certificate(s) (the message names no certificate; verifier: {detail})."),
            fix,
        );
    }
    let embedded: Vec<Certificate> = layout
        .keyinfo_certs
        .iter()
        .filter_map(|b| Certificate::from_base64(b).ok())
        .filter(|c| !certs.contains(c))
        .collect();
    if !embedded.is_empty() {
        if let crypto::Outcome::Verified(_) = crypto::verify(xml, &embedded) {
            let fps: Vec<String> = embedded
                .iter()
                .map(|c| short(&c.sha256()).to_string())
                .collect();
            return Finding::error(
                "wrong-cert",
                format!(
                    "The message was signed by another key: it verifies with the certificate it carries ({}, not trusted), not with the configured one(s).",
                    fps.join(", ")
                ),
                fix,
            );
        }
    }
    Finding::error(
        "bad-signature",
        format!("No signature verifies, with the configured certificate(s) or the one the message carries: the message was altered after signing or the signature is broken ({detail})."),
        "Treat this message as tampered; re-capture it untouched.",
    )
}

/// Expiry of the configured certificates: warnings (SAML pins keys), errors with `strict`.
pub fn cert_findings(
    certs: &[Certificate],
    strict: bool,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) {
    let severity = if strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    for info in certs.iter().filter_map(Certificate::info) {
        if info.not_after <= now {
            out.push(Finding::new(
                severity,
                "signing-cert-expired",
                format!(
                    "The IdP certificate {} expired on {}.",
                    short(&info.sha256),
                    info.not_after.format("%Y-%m-%d")
                ),
                "Roll the IdP signing certificate over and update the metadata in the service provider.",
            ));
        } else if info.not_before > now {
            out.push(Finding::new(
                severity,
                "signing-cert-not-yet-valid",
                format!(
                    "The IdP certificate {} is valid only from {}.",
                    short(&info.sha256),
                    info.not_before.format("%Y-%m-%d")
                ),
                "Check the IdP's certificate and this machine's clock.",
            ));
        }
    }
}

/// The first 16 hex digits of a fingerprint, for messages.
pub fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build that cannot verify never passes a signed response (design.md, style.md §Layout 4).
    #[test]
    fn a_response_is_never_accepted_without_a_verifier() {
        let xml = include_bytes!("../../tests/fixtures/saml/valid-assertion-signed.xml");
        let certs = Certificate::parse_all(include_bytes!("../../certs/test/saml/idp.crt"))
            .expect("test cert");
        let expect = Expect {
            certs,
            ..Expect::default()
        };
        let now = DateTime::parse_from_rfc3339("2030-01-01T00:01:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let report = check(xml, &expect, now);
        if crypto::AVAILABLE {
            assert_eq!(report.verdict, Verdict::Accept, "{:?}", report.findings);
        } else {
            assert_eq!(report.reason(), Some("signature-not-verified"));
            assert!(report.findings.iter().any(|f| f.message == NOT_VERIFIED));
            assert_eq!(report.name_id, None);
        }
    }
}
