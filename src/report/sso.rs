//! `report sso`: the SAML check history the store keeps (`idbridge saml check-metadata` and
//! `check-response` run with `--record`): each check's verdict and findings, the IdP's
//! certificates and when they expire (counted from the report's own time, not the check's), and
//! the responses checked last. The CLI reads the records and hands them over as [`SsoCheck`]s.

use super::data::{time_text, Cell, Column, Field, Report};
use crate::saml::{Finding, Severity};
use chrono::{DateTime, Utc};

/// One IdP certificate a metadata check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertEntry {
    /// `signing`, `encryption` or `unspecified`.
    pub use_: String,
    /// SHA-256 fingerprint (hex).
    pub sha256: String,
    /// End of validity.
    pub not_after: DateTime<Utc>,
}

impl CertEntry {
    /// `signing 3f2a…9c01 until 2027-01-01 (396 days left)`, counted at `now`.
    pub fn text(&self, now: DateTime<Utc>) -> String {
        let days = (self.not_after - now).num_days();
        let left = if self.not_after <= now {
            "expired".to_owned()
        } else {
            format!("{days} days left")
        };
        let fp = if self.sha256.len() > 12 {
            format!(
                "{}…{}",
                &self.sha256[..6],
                &self.sha256[self.sha256.len() - 4..]
            )
        } else {
            self.sha256.clone()
        };
        format!(
            "{} {fp} until {} ({left})",
            self.use_,
            self.not_after.format("%Y-%m-%d")
        )
    }
}

/// A recorded SAML check.
#[derive(Debug, Clone, PartialEq)]
pub struct SsoCheck {
    /// Row id.
    pub id: i64,
    /// `metadata`, `response` or `test-login`.
    pub kind: String,
    /// The NameID (responses) or the entity ID (metadata).
    pub subject: Option<String>,
    /// `accept` or `reject`.
    pub verdict: String,
    /// When it ran.
    pub checked_at: DateTime<Utc>,
    /// Its findings.
    pub findings: Vec<Finding>,
    /// The IdP certificates (metadata checks recorded by this version; empty otherwise).
    pub certificates: Vec<CertEntry>,
}

impl SsoCheck {
    fn codes(&self, severity: Severity) -> Vec<String> {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.code.clone())
            .collect()
    }

    /// The codes of its error findings (what made a `reject`).
    pub fn error_codes(&self) -> Vec<String> {
        self.codes(Severity::Error)
    }
}

const COLUMNS: [Column; 9] = [
    Column::new("checkedAt", "checked"),
    Column::new("kind", "kind"),
    Column::new("subject", "NameID / entity"),
    Column::new("verdict", "verdict"),
    Column::new("errors", "errors"),
    Column::new("warnings", "warnings"),
    Column::new("certificates", "certificates"),
    Column::data("messages", "what was found"),
    Column::data("check", "check"),
];

/// The signing certificate that expires first, of the latest metadata check.
fn first_expiry(check: &SsoCheck) -> Option<&CertEntry> {
    check
        .certificates
        .iter()
        .filter(|c| c.use_ != "encryption")
        .min_by_key(|c| c.not_after)
}

/// `report sso`: the SAML check history, newest first, with the latest metadata check's
/// certificate expiry and the latest response's verdict as facts.
pub fn report(checks: &[SsoCheck], parameters: Vec<Field>, now: DateTime<Utc>) -> Report {
    let rows = checks
        .iter()
        .map(|c| {
            vec![
                Cell::Time(c.checked_at),
                c.kind.as_str().into(),
                c.subject.clone().into(),
                c.verdict.as_str().into(),
                Cell::List(c.codes(Severity::Error)),
                Cell::List(c.codes(Severity::Warning)),
                Cell::List(c.certificates.iter().map(|e| e.text(now)).collect()),
                Cell::List(
                    c.findings
                        .iter()
                        .filter(|f| f.severity != Severity::Info)
                        .map(|f| format!("{}: {}", f.code, f.message))
                        .collect(),
                ),
                Cell::Int(c.id),
            ]
        })
        .collect();
    let metadata = checks.iter().find(|c| c.kind == "metadata");
    let response = checks.iter().find(|c| c.kind != "metadata");
    let expiry = metadata.and_then(first_expiry);
    let facts = vec![
        Field::new(
            "metadataCheckedAt",
            "metadata last checked",
            metadata.map(|m| m.checked_at),
        ),
        Field::new(
            "metadataVerdict",
            "metadata verdict",
            metadata.map(|m| m.verdict.clone()),
        ),
        Field::new(
            "entityId",
            "IdP entity",
            metadata.and_then(|m| m.subject.clone()),
        ),
        Field::new(
            "signingCertExpires",
            "signing certificate expires",
            expiry.map(|e| e.not_after),
        ),
        Field::new(
            "signingCertDaysLeft",
            "days left",
            expiry.map_or(Cell::Null, |e| Cell::Int((e.not_after - now).num_days())),
        ),
        Field::new(
            "responseCheckedAt",
            "last response checked",
            response.map(|r| r.checked_at),
        ),
        Field::new(
            "responseSubject",
            "its NameID",
            response.and_then(|r| r.subject.clone()),
        ),
        Field::new(
            "responseVerdict",
            "its verdict",
            response.map(|r| r.verdict.clone()),
        ),
    ];
    let mut notes = Vec::new();
    match expiry {
        Some(e) if e.not_after <= now => notes.push(format!(
            "the IdP's signing certificate expired on {}: nobody can log in through SSO until it \
             is rolled over in the IdP and in Notion",
            time_text(e.not_after)
        )),
        Some(e) if (e.not_after - now).num_days() < 30 => notes.push(format!(
            "the IdP's signing certificate expires on {}: roll it over now",
            time_text(e.not_after)
        )),
        Some(_) => {}
        None if metadata.is_some() => notes.push(
            "the latest metadata check recorded no signing certificate dates (recorded before \
             idbridge kept them, or the metadata had none)"
                .to_owned(),
        ),
        None => notes.push(
            "no metadata check is recorded: run `idbridge saml check-metadata … --record`"
                .to_owned(),
        ),
    }
    Report {
        name: "sso",
        title: "SSO (SAML) checks".to_owned(),
        generated_at: now,
        parameters,
        facts,
        columns: COLUMNS.to_vec(),
        rows,
        empty: "No SAML check is recorded: run `idbridge saml check-metadata` or `check-response` \
                with --record."
            .to_owned(),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn expiry_is_counted_at_the_report_time_and_warned_about() {
        let metadata = SsoCheck {
            id: 1,
            kind: "metadata".into(),
            subject: Some("https://idp.test".into()),
            verdict: "accept".into(),
            checked_at: at("2026-03-01T00:00:00Z"),
            findings: vec![Finding::new(Severity::Warning, "sha1", "SHA-1 digest", "")],
            certificates: vec![CertEntry {
                use_: "signing".into(),
                sha256: "a".repeat(64),
                not_after: at("2026-04-01T00:00:00Z"),
            }],
        };
        let report = report(&[metadata], Vec::new(), at("2026-03-22T00:00:00Z"));
        let days = report
            .facts
            .iter()
            .find(|f| f.key == "signingCertDaysLeft")
            .unwrap();
        assert_eq!(days.value, Cell::Int(10));
        assert!(
            report.notes[0].contains("roll it over"),
            "{:?}",
            report.notes
        );
        assert_eq!(
            report.rows[0][6].text(""),
            "signing aaaaaa…aaaa until 2026-04-01 (10 days left)"
        );
        assert_eq!(report.rows[0][5].text(""), "sha1");
    }
}
