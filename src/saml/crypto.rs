//! XML-DSig verification: the one place that calls a signature library. With the `saml-xmlsec`
//! feature it is samael's libxmlsec1 binding; without it nothing can be verified and the caller
//! reports an error (never a pass; samael's own `NoCrypto` would return `Ok`).
//!
//! The library gets the configured certificates only (never the message's `KeyInfo`).
//!
//! Responses use [`verify_first`]: libxmlsec1 verifies the *first* `ds:Signature` of a document
//! (document order), resolving its `#ID` Reference through the ID table that samael fills from
//! every attribute named `ID`, without the NCName test that samael's reducing verifier applies
//! (real IdPs use UUIDs that start with a digit). The caller decides which document is handed
//! over and proves beforehand that the first signature is the intended one and that its
//! Reference can only resolve to the element it is verifying (`saml::signed_target`).
//! Metadata uses [`verify_all`] (samael's reduction, every signature of the document).
//!
//! libxmlsec1 reports failures by printing to the process's stderr (its default error callback;
//! replacing the callback needs an FFI call, and this crate forbids `unsafe`). The calls are
//! therefore made with fd 2 pointed at a temporary file: the library's lines become part of the
//! failure detail, anything else written meanwhile (another thread's log line) is written back.
//! Captures are serialised by a lock.

use super::cert::Certificate;

/// What verification gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The signature(s) verified.
    Verified,
    /// A signature did not verify (the library's reason and its own error text, for the message).
    Failed(String),
    /// Built without a signature implementation.
    Unavailable,
}

/// Whether this build can verify signatures (the fuzzing stub counts: it gives verdicts).
pub const AVAILABLE: bool = cfg!(any(
    feature = "saml-xmlsec",
    all(fuzzing, feature = "fuzzing")
));

/// Verify the first `ds:Signature` (document order) of `xml` against `certs` (any one may
/// verify it). The caller guarantees which element that signature covers.
#[cfg(feature = "saml-xmlsec")]
pub fn verify_first(xml: &str, certs: &[Certificate]) -> Outcome {
    use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};
    let mut reasons: Vec<String> = Vec::new();
    for cert in certs {
        let der = CertificateDer::from(cert.der().to_vec());
        let (result, printed) =
            capture::stderr_of(|| XmlSec::verify_signed_xml(xml.as_bytes(), &der, Some("ID")));
        match result {
            Ok(()) => return Outcome::Verified,
            Err(e) => push_reason(&mut reasons, describe(&e), &printed),
        }
    }
    if reasons.is_empty() {
        reasons.push("no certificate to verify with".into());
    }
    Outcome::Failed(reasons.join("; "))
}

/// Verify every signature of `xml` against `certs` (samael's reducing verifier).
#[cfg(feature = "saml-xmlsec")]
pub fn verify_all(xml: &str, certs: &[Certificate]) -> Outcome {
    use samael::crypto::{CertificateDer, CryptoProvider, ReduceMode, XmlSec};
    let ders: Vec<CertificateDer> = certs
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    let (result, printed) = capture::stderr_of(|| {
        XmlSec::reduce_xml_to_signed(xml, &ders, ReduceMode::ValidateAndMarkNoAncestors)
    });
    match result {
        Ok(_) => Outcome::Verified,
        Err(e) => {
            let mut reasons = Vec::new();
            push_reason(&mut reasons, describe(&e), &printed);
            Outcome::Failed(reasons.join("; "))
        }
    }
}

/// samael's error chain, then what libxmlsec1 printed, once per distinct text.
#[cfg(feature = "saml-xmlsec")]
fn push_reason(reasons: &mut Vec<String>, error: String, printed: &str) {
    let library = library_messages(printed);
    let reason = if library.is_empty() {
        error
    } else {
        format!("{error} (libxmlsec1: {})", library.join("; "))
    };
    if !reasons.contains(&reason) {
        reasons.push(reason);
    }
}

#[cfg(feature = "saml-xmlsec")]
fn describe(e: &dyn std::error::Error) -> String {
    // samael's errors hold a `Box<dyn Error>` that is not `Send + Sync`; keep only the text.
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// libxmlsec1's error lines, shortened to what an admin can use: the object (algorithm or
/// node) and the reason, without the C function, file and line.
///
/// A line looks like `func=F:file=F:line=N:obj=O:subj=S:error=N:REASON:DETAIL`.
#[cfg(feature = "saml-xmlsec")]
fn library_messages(printed: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in printed.lines().filter(|l| is_library_line(l)) {
        let obj = field(line, "obj=").filter(|o| *o != "unknown");
        let reason = line
            .find(":error=")
            .map(|at| &line[at + ":error=".len()..])
            .map(|rest| rest.split_once(':').map_or(rest, |(_, r)| r))
            .unwrap_or(line)
            .trim()
            .replacen(':', ": ", 1);
        let message = match obj {
            Some(o) => format!("{o}: {reason}"),
            None => reason.to_string(),
        };
        if !out.contains(&message) {
            out.push(message);
        }
    }
    out
}

/// Whether a captured stderr line is libxmlsec1's (its default callback's format).
#[cfg(feature = "saml-xmlsec")]
fn is_library_line(line: &str) -> bool {
    line.starts_with("func=") && line.contains(":error=")
}

#[cfg(feature = "saml-xmlsec")]
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    Some(rest.split(':').next().unwrap_or(rest))
}

#[cfg(all(feature = "saml-xmlsec", unix))]
mod capture {
    //! fd 2 redirected to an anonymous temporary file around one library call.
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::fd::OwnedFd;
    use std::sync::{Mutex, PoisonError};

    /// Most captured text kept (a failing verification prints a few hundred bytes).
    const MAX_CAPTURE: u64 = 64 * 1024;
    static LOCK: Mutex<()> = Mutex::new(());

    /// Run `f` with stderr captured; the text it printed comes back next to its value. When
    /// the redirect cannot be set up, `f` runs anyway and its text goes to stderr as before.
    pub fn stderr_of<T>(f: impl FnOnce() -> T) -> (T, String) {
        let _serial = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(redirect) = Redirect::start() else {
            return (f(), String::new());
        };
        let value = f();
        (value, redirect.finish())
    }

    struct Redirect {
        saved: Option<OwnedFd>,
        file: std::fs::File,
    }

    impl Redirect {
        fn start() -> Option<Redirect> {
            let file = tempfile::tempfile().ok()?;
            let _ = std::io::stderr().flush();
            let saved = rustix::io::fcntl_dupfd_cloexec(std::io::stderr(), 3).ok()?;
            rustix::stdio::dup2_stderr(&file).ok()?;
            Some(Redirect {
                saved: Some(saved),
                file,
            })
        }

        fn restore(&mut self) {
            if let Some(saved) = self.saved.take() {
                let _ = std::io::stderr().flush();
                let _ = rustix::stdio::dup2_stderr(&saved);
            }
        }

        /// Restore stderr, hand back the library's lines and write the others back.
        fn finish(mut self) -> String {
            self.restore();
            let mut text = String::new();
            if self.file.seek(SeekFrom::Start(0)).is_ok() {
                let mut bytes = Vec::new();
                let _ = (&mut self.file).take(MAX_CAPTURE).read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            let (library, other): (Vec<&str>, Vec<&str>) =
                text.lines().partition(|l| super::is_library_line(l));
            if !other.is_empty() {
                let mut err = std::io::stderr().lock();
                for line in other {
                    let _ = writeln!(err, "{line}");
                }
            }
            library.join("\n")
        }
    }

    impl Drop for Redirect {
        // A panic inside the call must not leave stderr pointing at a deleted file.
        fn drop(&mut self) {
            self.restore();
        }
    }
}

#[cfg(all(feature = "saml-xmlsec", not(unix)))]
mod capture {
    //! No fd redirection off Unix: the library's text goes to stderr.
    pub fn stderr_of<T>(f: impl FnOnce() -> T) -> (T, String) {
        (f(), String::new())
    }
}

/// Without `saml-xmlsec`: nothing is ever verified.
#[cfg(not(any(feature = "saml-xmlsec", all(fuzzing, feature = "fuzzing"))))]
pub fn verify_first(_xml: &str, _certs: &[Certificate]) -> Outcome {
    Outcome::Unavailable
}

/// Without `saml-xmlsec`: nothing is ever verified.
#[cfg(not(any(feature = "saml-xmlsec", all(fuzzing, feature = "fuzzing"))))]
pub fn verify_all(_xml: &str, _certs: &[Certificate]) -> Outcome {
    Outcome::Unavailable
}

/// The fuzz build's stand-in for the signature library (docs/reliability.md): a real signature
/// cannot be forged by a fuzzer, so the rules after the signature step would never run. It only
/// exists with `--cfg fuzzing` *and* the `fuzzing` feature *and* debug assertions on, and without
/// `saml-xmlsec`; `src/fuzzing/mod.rs` refuses to compile any other combination, so no release
/// build can contain it.
#[cfg(all(fuzzing, feature = "fuzzing", not(feature = "saml-xmlsec")))]
mod stub {
    use super::{Certificate, Outcome};

    /// The text that makes the stub "verify": chosen by the fuzzer, so both branches are reached.
    pub const VERIFIED_MARK: &str = "<ds:SignatureValue>fuzz-verified</ds:SignatureValue>";

    pub fn verdict(xml: &str, certs: &[Certificate]) -> Outcome {
        if !certs.is_empty() && xml.contains(VERIFIED_MARK) {
            Outcome::Verified
        } else {
            Outcome::Failed("fuzzing stub: the signature value is not the verified mark".into())
        }
    }
}

/// Fuzz build only: the stub verdict (see `stub`).
#[cfg(all(fuzzing, feature = "fuzzing", not(feature = "saml-xmlsec")))]
pub fn verify_first(xml: &str, certs: &[Certificate]) -> Outcome {
    stub::verdict(xml, certs)
}

/// Fuzz build only: the stub verdict (see `stub`).
#[cfg(all(fuzzing, feature = "fuzzing", not(feature = "saml-xmlsec")))]
pub fn verify_all(xml: &str, certs: &[Certificate]) -> Outcome {
    stub::verdict(xml, certs)
}

#[cfg(all(test, feature = "saml-xmlsec"))]
mod tests {
    use super::*;

    #[test]
    fn library_lines_become_short_reasons() {
        let printed = "func=xmlSecOpenSSLEvpDigestVerify:file=digests.c:line=355:obj=sha256:subj=unknown:error=12:invalid data:data and digest do not match\n\
                       func=xmlSecOpenSSLEvpSignatureVerify:file=evp_signatures.c:line=453:obj=rsa-sha256:subj=unknown:error=18:data do not match:details=EVP_VerifyFinal: signature verification failed\n\
                       something else\n";
        assert_eq!(
            library_messages(printed),
            vec![
                "sha256: invalid data: data and digest do not match".to_string(),
                "rsa-sha256: data do not match: details=EVP_VerifyFinal: signature verification failed".to_string(),
            ]
        );
        assert!(!is_library_line("something else"));
    }

    /// The library's error text is captured into the reason, never left on stderr.
    #[test]
    fn a_failed_verification_carries_the_library_text() {
        let xml = include_str!("../../tests/fixtures/saml/tampered.xml");
        let certs = Certificate::parse_all(include_bytes!("../../certs/test/saml/idp.crt"))
            .expect("test cert");
        match verify_first(xml, &certs) {
            Outcome::Failed(reason) => {
                assert!(reason.contains("data and digest do not match"), "{reason}");
                assert!(!reason.contains("func="), "{reason}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
