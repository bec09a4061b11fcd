//! XML-DSig verification: the one place that calls a signature library. With the `saml-xmlsec`
//! feature it is samael's libxmlsec1 binding; without it nothing can be verified and the caller
//! reports an error (never a pass; samael's own `NoCrypto` would return `Ok`).
//!
//! The library gets the configured certificates only (never the message's `KeyInfo`), and every
//! `ds:Signature` in the document must verify. What comes back is the document reduced to the
//! verified content (samael `ReduceMode::ValidateAndMarkNoAncestors`), which the caller re-parses
//! and reads identity from: "see what is signed" (security.md §1.0).

use super::cert::Certificate;

/// What verification gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every signature verified; the XML of the verified content only.
    Verified(String),
    /// At least one signature did not verify (the library's reason, for the message).
    Failed(String),
    /// Built without a signature implementation.
    Unavailable,
}

/// Whether this build can verify signatures.
pub const AVAILABLE: bool = cfg!(feature = "saml-xmlsec");

/// Verify every signature of `xml` against `certs` (any one may verify each signature).
#[cfg(feature = "saml-xmlsec")]
pub fn verify(xml: &str, certs: &[Certificate]) -> Outcome {
    use samael::crypto::{CertificateDer, CryptoProvider, ReduceMode, XmlSec};
    let ders: Vec<CertificateDer> = certs
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    // samael's errors hold `Box<dyn Error>`; keep only the text (toolchain.md §3 pitfall 4).
    match XmlSec::reduce_xml_to_signed(xml, &ders, ReduceMode::ValidateAndMarkNoAncestors) {
        Ok(reduced) => Outcome::Verified(reduced),
        Err(e) => Outcome::Failed(describe(&e)),
    }
}

#[cfg(feature = "saml-xmlsec")]
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Without `saml-xmlsec`: nothing is ever verified.
#[cfg(not(feature = "saml-xmlsec"))]
pub fn verify(_xml: &str, _certs: &[Certificate]) -> Outcome {
    Outcome::Unavailable
}
