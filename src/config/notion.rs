//! `[notion]`: publishing reports to Notion databases through Notion's public API
//! (docs/config.md, `[notion]`). Resolved only by the commands that publish
//! ([`super::load_notion`]), so a sync never needs the integration token; every other load
//! still checks the table's keys (serde refuses unknown ones).

use super::raw::RawNotion;
use super::resolve::Resolver;
use super::secrets::SecretSource;
use super::ConfigError;
use crate::notion_api::client::{check_version, DatabaseId, DEFAULT_URL, DEFAULT_VERSION};
use secrecy::SecretString;
use std::time::Duration;
use toml::Spanned;

/// The resolved `[notion]` table. `Debug` redacts the token (secrecy).
#[derive(Debug, Clone)]
pub struct NotionSettings {
    /// The API root.
    pub url: url::Url,
    /// `Notion-Version`.
    pub version: String,
    /// The internal integration token.
    pub token: SecretString,
    /// Where the token is configured ("the environment variable X"), never the token.
    pub token_source: String,
    /// The same, to read the token again (`serve`'s alert sink does at each delivery, so a
    /// rotated token needs no restart).
    pub token_from: SecretSource,
    /// `users_database`.
    pub users_database: Option<DatabaseId>,
    /// `changes_database`.
    pub changes_database: Option<DatabaseId>,
    /// Requests per second on average; `None` = no client-side budget.
    pub rate_limit: Option<f64>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of one request.
    pub max_retries: u32,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// Largest reply body read.
    pub max_reply_bytes: u64,
}

impl Resolver<'_> {
    /// The `[notion]` table; `None` when the file has none.
    pub(in crate::config) fn notion(
        &self,
        raw: Option<&RawNotion>,
    ) -> Result<Option<NotionSettings>, ConfigError> {
        let Some(n) = raw else {
            return Ok(None);
        };
        let url_text = n
            .url
            .as_ref()
            .map_or(DEFAULT_URL.to_owned(), |u| u.get_ref().clone());
        let url_at = n.url.as_ref().map_or(0, |u| u.span().start);
        let url = self.url(
            &url_text,
            url_at,
            "notion.url",
            &["https", "http"],
            "token_env or token_file",
        )?;
        let version = match &n.version {
            None => DEFAULT_VERSION.to_owned(),
            Some(v) => match check_version(v.get_ref().trim()) {
                Ok(()) => v.get_ref().trim().to_owned(),
                Err(why) => return self.invalid(v.span().start, "notion.version", why),
            },
        };
        let (token, token_source, token_from) =
            match self.secret(&n.token_env, &n.token_file, "notion.token")? {
                Some((source, at)) => (
                    self.read_secret(&source, at, "notion.token")?,
                    source.to_string(),
                    source,
                ),
                None => return self.invalid(
                    self.header_offset("[notion]"),
                    "notion.token_env",
                    "no integration token configured; set token_env = \"NOTION_API_TOKEN\" (or \
                     token_file) to the internal integration's secret",
                ),
            };
        Ok(Some(NotionSettings {
            url,
            version,
            token,
            token_source,
            token_from,
            users_database: self.database(&n.users_database, "notion.users_database")?,
            changes_database: self.database(&n.changes_database, "notion.changes_database")?,
            rate_limit: self.notion_rate(&n.rate_limit)?,
            timeout: self.duration(&n.timeout, "notion.timeout", Duration::from_secs(30))?,
            max_retries: self.in_range(&n.max_retries, "notion.max_retries", 5, 0, 50)? as u32,
            max_retry_after: self.duration(
                &n.max_retry_after,
                "notion.max_retry_after",
                Duration::from_secs(120),
            )?,
            max_reply_bytes: self.in_range(
                &n.max_reply_bytes,
                "notion.max_reply_bytes",
                8 << 20,
                64 << 10,
                1 << 30,
            )? as u64,
        }))
    }

    fn database(
        &self,
        value: &Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<DatabaseId>, ConfigError> {
        match value {
            None => Ok(None),
            Some(v) => match DatabaseId::parse(v.get_ref(), key) {
                Ok(id) => Ok(Some(id)),
                Err(why) => self.invalid(v.span().start, key, why),
            },
        }
    }

    /// `rate_limit`: Notion's documented average of 3 per second by default; 0 turns it off.
    fn notion_rate(&self, value: &Option<Spanned<f64>>) -> Result<Option<f64>, ConfigError> {
        Ok(match value {
            None => Some(3.0),
            Some(v) if *v.get_ref() == 0.0 => None,
            Some(v) if v.get_ref().is_finite() && *v.get_ref() > 0.0 => Some(*v.get_ref()),
            Some(v) => {
                return self.invalid(
                    v.span().start,
                    "notion.rate_limit",
                    "must be a positive number of requests per second, or 0 for no limit",
                )
            }
        })
    }
}
