//! SAML check history and the SSO ↔ provisioning cross-check: which findings a SAML check
//! produced (table `saml_checks`), and whether a NameID email is a person idbridge links.

use super::{fmt_time, LinkState, Result, Store, StoreRead};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One recorded SAML check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlCheckRecord {
    /// Row id.
    pub id: i64,
    /// `response`, `metadata` or `test-login`.
    pub kind: String,
    /// The NameID (responses) or entity ID (metadata), when there was one.
    pub subject: Option<String>,
    /// `accept` or `reject`.
    pub verdict: String,
    /// The findings as JSON (an array of `{severity, code, message, fix}`).
    pub findings_json: String,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
    /// The IdP certificates a metadata check saw, as JSON (`[{use, sha256, notAfter,
    /// keyBits}]`); `None` for responses and checks recorded before idbridge kept them.
    pub certificates_json: Option<String>,
}

/// How a user name appears in the links of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserLinkState {
    /// The target's configured name.
    pub target_name: String,
    /// Active or deactivated.
    pub state: LinkState,
}

impl Store {
    /// Record a SAML check's outcome; `certificates_json` is what a metadata check saw of the
    /// IdP's certificates.
    pub async fn record_saml_check(
        &self,
        kind: &str,
        subject: Option<&str>,
        verdict: &str,
        findings_json: &str,
        certificates_json: Option<&str>,
        checked_at: DateTime<Utc>,
    ) -> Result<()> {
        const OP: &str = "record a SAML check";
        sqlx::query(
            "INSERT INTO saml_checks (kind, subject, verdict, findings_json, certificates_json, \
             checked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(kind)
        .bind(subject)
        .bind(verdict)
        .bind(findings_json)
        .bind(certificates_json)
        .bind(fmt_time(checked_at))
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_err(OP, "saml_checks", &e))?;
        Ok(())
    }
}

impl StoreRead {
    /// The most recent SAML checks, newest first.
    pub async fn saml_checks(&self, limit: i64) -> Result<Vec<SamlCheckRecord>> {
        const T: &str = "saml_checks";
        let rows = sqlx::query(
            "SELECT id, kind, subject, verdict, findings_json, certificates_json, checked_at \
             FROM saml_checks \
             ORDER BY checked_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list SAML checks", T, &e))?;
        rows.iter()
            .map(|row| {
                Ok(SamlCheckRecord {
                    id: self.get(row, T, "id")?,
                    kind: self.get(row, T, "kind")?,
                    subject: self.get(row, T, "subject")?,
                    verdict: self.get(row, T, "verdict")?,
                    findings_json: self.get(row, T, "findings_json")?,
                    certificates_json: self.get(row, T, "certificates_json")?,
                    checked_at: self.get_time(row, T, "checked_at")?,
                })
            })
            .collect()
    }

    /// The user links whose userName equals `user_name` (case-insensitive, as emails compare),
    /// on every target: the SSO ↔ provisioning cross-check.
    pub async fn user_link_states(&self, user_name: &str) -> Result<Vec<UserLinkState>> {
        const T: &str = "links";
        let rows = sqlx::query(
            "SELECT target_name, state FROM links WHERE kind = 'user' AND LOWER(user_name) = $1 \
             ORDER BY target_name",
        )
        .bind(user_name.to_lowercase())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("look up a user link", T, &e))?;
        rows.iter()
            .map(|row| {
                Ok(UserLinkState {
                    target_name: self.get(row, T, "target_name")?,
                    state: self.get_enum(row, T, "state")?,
                })
            })
            .collect()
    }
}
