//! SAML SSO checks: a SAML Response checker ([`check`]), an IdP metadata checker
//! ([`metadata::check`]) and the service-provider side of a test login ([`login`]).
//!
//! [`check`] is a library call with everything as arguments (`now` included), so the CLI, the
//! test login and the conformance corpus test run the very same rules:
//! decode ([`input`]) → hardened parse → structure and algorithm rules ([`rules`]) →
//! XML-DSig verification against the configured certificates only ([`crypto`]), each signature
//! in a document where its Reference provably resolves to exactly its parent → protocol rules
//! and identity on the verified text only (the Assertion a verified signature covers).
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

    // Comments are outside what a (without-comments) C14N signs; removing them changes no
    // signed byte and leaves NameID text whole. Everything after this reads the text that was
    // handed to the verifier.
    let uncommented = strip_comments(&xml, &doc);
    let verified = match input::parse(&uncommented, &expect.limits) {
        Ok(doc) => doc,
        Err(f) => {
            findings.push(Finding::error(
                "xsw",
                format!(
                    "The message without its comments could not be read back ({}).",
                    f.message
                ),
                "Treat this message as suspect.",
            ));
            return Report::rejected(findings);
        }
    };
    if let Some(f) = verify_signatures(&uncommented, &verified, &layout, expect) {
        findings.push(f);
        return Report::rejected(findings);
    }
    let vroot = verified.root_element();
    let vassertion = if rules::is(vroot, rules::NS_ASSERTION, "Assertion") {
        Some(vroot)
    } else {
        rules::child(vroot, rules::NS_ASSERTION, "Assertion")
    };
    findings.push(verified_finding(&layout));
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

/// `signature-verified`, naming what the verified signatures cover.
fn verified_finding(layout: &rules::Layout) -> Finding {
    let what = match (layout.response_signed, layout.assertion_signed) {
        (true, true) => "the Response and the Assertion",
        (true, false) => "the Response",
        _ => "the Assertion",
    };
    Finding::info(
        "signature-verified",
        format!("The signature on {what} verified with a configured IdP certificate."),
    )
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

/// Verify every signature, each in the smallest document where it is the first one (what
/// libxmlsec1 verifies): the message itself for the first, and for the Assertion's when the
/// Response is signed too, the Response's start tag, the Assertion and the end tag (the same
/// namespaces in scope, so the same canonical bytes). Before each call, the document is checked
/// to resolve that signature's Reference to exactly its parent. `None` when all verified.
fn verify_signatures(
    xml: &str,
    doc: &roxmltree::Document,
    layout: &rules::Layout,
    expect: &Expect,
) -> Option<Finding> {
    let root = doc.root_element();
    let signatures: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| rules::is(*n, rules::NS_DSIG, "Signature"))
        .collect();
    if signatures.is_empty() {
        // The structure rules refuse an unsigned message first; never pass one here either.
        return Some(Finding::error(
            "no-signature",
            "Nothing in the message is signed.",
            "Turn on assertion signing in the IdP.",
        ));
    }
    for (i, sig) in signatures.iter().enumerate() {
        let parent = sig.parent_element().unwrap_or(root);
        let id = parent.attribute("ID").unwrap_or_default();
        let text = if i == 0 {
            Some(xml.to_string())
        } else {
            element_document(xml, root, parent)
        };
        let checked = text.filter(|t| {
            input::parse(t, &expect.limits).is_ok_and(|d| rules::first_signature_covers(&d, id))
        });
        let Some(text) = checked else {
            return Some(Finding::error(
                "xsw",
                format!("The signature on the element \"{id}\" cannot be verified on its own: its Reference would not resolve to exactly that element."),
                "Treat this message as a signature-wrapping attack.",
            ));
        };
        match crypto::verify_first(&text, &expect.certs) {
            crypto::Outcome::Verified => {}
            crypto::Outcome::Unavailable => {
                return Some(Finding::error(
                    "signature-not-verified",
                    NOT_VERIFIED,
                    "Build idbridge with the default features (saml-xmlsec) to verify signatures.",
                ))
            }
            crypto::Outcome::Failed(detail) => {
                return Some(failure_finding(&text, layout, &expect.certs, &detail))
            }
        }
    }
    None
}

/// `element` (a child of `root`) as a document of its own: everything up to the end of
/// `root`'s start tag (prolog, namespace declarations), `element`, and `root`'s end tag.
fn element_document(xml: &str, root: roxmltree::Node, element: roxmltree::Node) -> Option<String> {
    if element.parent_element() != Some(root) {
        return None;
    }
    let start = root.range().start;
    let tag_end = start + start_tag_len(xml.get(start..)?)?;
    let name = xml
        .get(start + 1..tag_end)?
        .split(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .next()?;
    let mut out = String::with_capacity(tag_end + element.range().len() + name.len() + 3);
    out.push_str(xml.get(..tag_end)?);
    out.push_str(xml.get(element.range())?);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Some(out)
}

/// Length of the start tag at the beginning of `tag`, up to and including its `>` (attribute
/// values may hold a `>`).
fn start_tag_len(tag: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, b) in tag.bytes().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(i + 1),
            (None, _) => {}
        }
    }
    None
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
        if let crypto::Outcome::Verified = crypto::verify_first(xml, &embedded) {
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

    /// The Assertion alone keeps the Response's start tag (its namespaces), even with a `>`
    /// inside an attribute value.
    #[test]
    fn an_element_document_keeps_the_root_context() {
        let xml = r#"<?xml version="1.0"?><p:R xmlns:p="urn:p" x="a>b" ID="r"><p:I/><p:A ID="a"><p:S/></p:A></p:R>"#;
        let doc = roxmltree::Document::parse(xml).expect("test XML");
        let root = doc.root_element();
        let a = root
            .children()
            .find(|n| n.attribute("ID") == Some("a"))
            .expect("A");
        assert_eq!(
            element_document(xml, root, a).as_deref(),
            Some(
                r#"<?xml version="1.0"?><p:R xmlns:p="urn:p" x="a>b" ID="r"><p:A ID="a"><p:S/></p:A></p:R>"#
            )
        );
        let s = a.first_element_child().expect("S");
        assert_eq!(
            element_document(xml, root, s),
            None,
            "only children of the root"
        );
    }

    /// A build that cannot verify never passes a signed response: without `saml-xmlsec` samael's
    /// `NoCrypto` verifier would return `Ok(())` for any signature, so the checker must not call it.
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
