//! `[target]`: the SCIM service, its token and how hard idbridge may press it.

use super::raw::RawTarget;
use super::resolve::{choices, Resolver};
use super::ConfigError;
use secrecy::SecretString;
use std::time::Duration;

/// Default Notion SCIM base URL (docs/notion.md).
pub const NOTION_SCIM_URL: &str = "https://api.notion.com/scim/v2";

/// The kind of SCIM target, spelled `notion` or `scim` in the config, JSON and text alike.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum TargetKind {
    /// Notion's SCIM API, with its quirks.
    Notion,
    /// A plain RFC 7644 service.
    Scim,
}

impl TargetKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Resolved `[target]`.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// Workspace name (links are keyed by it).
    pub name: String,
    /// Notion or plain SCIM.
    pub kind: TargetKind,
    /// SCIM base URL.
    pub url: url::Url,
    /// Bearer token (redacted in Debug).
    pub token: SecretString,
    /// Where the token is configured ("the environment variable X", "the file /p"), for messages
    /// that say what to update. Never the token.
    pub token_source: String,
    /// Email of the token's owner: never changed.
    pub token_owner: Option<String>,
    /// Whether `externalId` is sent and compared; `None` = the target profile's default.
    pub external_id: Option<bool>,
    /// Whether the role is read, compared and sent: set when `[roles]` is configured.
    pub manage_roles: bool,
    /// Client-side requests per second; `None` = unlimited.
    pub rate_limit: Option<f64>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of one request.
    pub max_retries: u32,
    /// Longest Retry-After honoured.
    pub max_retry_after: Duration,
    /// Largest reply body read from the target, in bytes.
    pub max_reply_bytes: u64,
    /// Page size of full reads.
    pub page_size: u32,
}

impl Resolver<'_> {
    pub(in crate::config) fn target(&self, t: &RawTarget) -> Result<TargetSettings, ConfigError> {
        let kind = self.pick(
            t.kind.get_ref(),
            t.kind.span().start,
            "target.kind",
            &choices::<TargetKind>(),
        )?;
        let url = self.target_url(t, kind)?;
        let (token, token_source) = match self.secret(
            &t.token_env,
            &t.token_file,
            "target.token",
        )? {
            Some((source, at)) => (
                self.read_secret(&source, at, "target.token")?,
                source.to_string(),
            ),
            None => return self.invalid(
                self.header_offset("[target]"),
                "target.token_env",
                "no SCIM token configured; set token_env = \"NOTION_SCIM_TOKEN\" (or token_file)",
            ),
        };
        let rate_limit = self.rate_limit(t)?;
        let token_owner = match &t.token_owner {
            Some(o) if !o.get_ref().contains('@') => {
                return self.invalid(
                    o.span().start,
                    "target.token_owner",
                    "must be the email of the owner who created the token",
                )
            }
            other => other.as_ref().map(|o| o.get_ref().trim().to_owned()),
        };
        Ok(TargetSettings {
            name: t
                .name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_else(|| "default".to_owned()),
            kind,
            url,
            token,
            token_source,
            token_owner,
            external_id: t.external_id,
            manage_roles: false,
            rate_limit,
            concurrency: self.positive(&t.concurrency, "target.concurrency", 4, 64)? as usize,
            timeout: self.duration(&t.timeout, "target.timeout", Duration::from_secs(30))?,
            max_retries: self.in_range(&t.max_retries, "target.max_retries", 5, 0, 50)? as u32,
            max_retry_after: self.duration(
                &t.max_retry_after,
                "target.max_retry_after",
                Duration::from_secs(120),
            )?,
            max_reply_bytes: self.in_range(
                &t.max_reply_bytes,
                "target.max_reply_bytes",
                32 << 20,
                64 << 10,
                1 << 30,
            )? as u64,
            page_size: self.positive(&t.page_size, "target.page_size", 100, 100)? as u32,
        })
    }

    /// `url`: Notion's by default; a plain SCIM target must name its own.
    fn target_url(&self, t: &RawTarget, kind: TargetKind) -> Result<url::Url, ConfigError> {
        let url_text = match (&t.url, kind) {
            (Some(u), _) => u.get_ref().clone(),
            (None, TargetKind::Notion) => NOTION_SCIM_URL.to_owned(),
            (None, TargetKind::Scim) => {
                return self.invalid(
                    self.header_offset("[target]"),
                    "target.url",
                    "a plain SCIM target needs its base URL",
                )
            }
        };
        let url_at = t.url.as_ref().map(|u| u.span().start).unwrap_or(0);
        self.url(
            &url_text,
            url_at,
            "target.url",
            &["https", "http"],
            "token_env or token_file",
        )
    }

    /// `rate_limit`: 2 per second by default; 0 turns the client-side budget off.
    fn rate_limit(&self, t: &RawTarget) -> Result<Option<f64>, ConfigError> {
        Ok(match &t.rate_limit {
            None => Some(2.0),
            Some(v) if *v.get_ref() == 0.0 => None,
            Some(v) if v.get_ref().is_finite() && *v.get_ref() > 0.0 => Some(*v.get_ref()),
            Some(v) => {
                return self.invalid(
                    v.span().start,
                    "target.rate_limit",
                    "must be a positive number of requests per second, or 0 for no limit",
                )
            }
        })
    }
}
