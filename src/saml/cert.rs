//! IdP certificates: parsing the shapes admins and metadata hand us (PEM, a bare base64
//! `X509Certificate` body, DER) and the facts the checks report (fingerprints, validity, key
//! size). Pure. The certificate is only a carrier for the IdP's public key: SAML trust is key
//! pinning, so validity dates are reported, not enforced (unless `--strict`).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A configured trust anchor: the DER of an X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Certificate {
    der: Vec<u8>,
}

/// Why a certificate could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    /// Neither PEM, base64 nor DER.
    #[error("The certificate is not PEM, base64 or DER: {0}.")]
    Encoding(String),
    /// Decoded, but not an X.509 certificate.
    #[error("The data is not an X.509 certificate: {0}.")]
    NotX509(String),
    /// No certificate in the input.
    #[error("No certificate was found in the input.")]
    Empty,
}

/// The kind of public key in a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// RSA.
    Rsa,
    /// Elliptic curve.
    Ec,
    /// DSA (never acceptable for new signatures).
    Dsa,
    /// Something else.
    Other,
}

/// What the checks report about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// SHA-1 of the DER, lower-case hex (what older IdP consoles show).
    pub sha1: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// Key type.
    pub key_kind: KeyKind,
    /// Key size in bits (RSA modulus, EC field).
    pub key_bits: usize,
    /// The certificate's own signature uses SHA-1.
    pub sha1_signed: bool,
    /// Subject, for messages.
    pub subject: String,
}

impl Certificate {
    /// From DER bytes (checked to be X.509).
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertError> {
        x509_parser::parse_x509_certificate(&der).map_err(|e| CertError::NotX509(e.to_string()))?;
        Ok(Certificate { der })
    }

    /// From the base64 body of a metadata `X509Certificate` (whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, CertError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err(CertError::Empty);
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| CertError::Encoding(e.to_string()))?;
        // Some IdPs (ADFS exports seen in ruby-saml's tests) put base64 of a PEM text here.
        if der.starts_with(b"-----BEGIN") {
            return Certificate::parse_all(&der)?
                .into_iter()
                .next()
                .ok_or(CertError::Empty);
        }
        Certificate::from_der(der)
    }

    /// Every certificate in a PEM file, or a single base64 or DER certificate.
    pub fn parse_all(bytes: &[u8]) -> Result<Vec<Self>, CertError> {
        if let Ok(text) = std::str::from_utf8(bytes) {
            if text.contains("-----BEGIN") {
                let mut certs = Vec::new();
                let mut rest = text;
                while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
                    let body_start = start + "-----BEGIN CERTIFICATE-----".len();
                    let Some(end) = rest[body_start..].find("-----END CERTIFICATE-----") else {
                        return Err(CertError::Encoding("unterminated PEM block".into()));
                    };
                    certs.push(Certificate::from_base64(
                        &rest[body_start..body_start + end],
                    )?);
                    rest = &rest[body_start + end..];
                }
                if certs.is_empty() {
                    return Err(CertError::Empty);
                }
                return Ok(certs);
            }
            if text.trim_start().starts_with("MII") {
                return Ok(vec![Certificate::from_base64(text)?]);
            }
        }
        Ok(vec![Certificate::from_der(bytes.to_vec())?])
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 fingerprint, lower-case hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
    }

    /// The facts the checks report. `None` only if the DER stopped parsing, which
    /// construction rules out.
    pub fn info(&self) -> Option<CertInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(&self.der).ok()?;
        let validity = cert.validity();
        let not_before = DateTime::from_timestamp(validity.not_before.timestamp(), 0)?;
        let not_after = DateTime::from_timestamp(validity.not_after.timestamp(), 0)?;
        let (key_kind, key_bits) = match cert.public_key().parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => (KeyKind::Rsa, rsa.key_size()),
            Ok(x509_parser::public_key::PublicKey::EC(ec)) => (KeyKind::Ec, ec.key_size()),
            Ok(x509_parser::public_key::PublicKey::DSA(y)) => (KeyKind::Dsa, y.len() * 8),
            Ok(_) | Err(_) => (KeyKind::Other, 0),
        };
        let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
        // sha1WithRSAEncryption, ecdsa-with-SHA1, dsa-with-sha1.
        let sha1_signed = matches!(
            sig_oid.as_str(),
            "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" | "1.2.840.10040.4.3"
        );
        Some(CertInfo {
            sha256: self.sha256(),
            sha1: sha1_hex(&self.der),
            not_before,
            not_after,
            key_kind,
            key_bits,
            sha1_signed,
            subject: cert.subject().to_string(),
        })
    }
}

/// SHA-1 of some bytes, for fingerprints only (older IdP consoles show them; never for trust).
fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(data).as_slice())
}

#[cfg(test)]
mod tests {
    use super::sha1_hex;

    #[test]
    fn sha1_matches_known_vectors() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
