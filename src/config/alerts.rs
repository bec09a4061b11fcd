//! `[alerts]`: where `idbridge serve` sends an alert when a run fails, a plan is held, the token
//! is revoked or the IdP certificate nears its expiry (`crate::alert`). Only `serve` reads it.
//! The webhook URL is a secret (a Slack incoming-webhook URL is its own credential), so it comes
//! from `webhook_url_env` / `webhook_url_file` only and is read when an alert is sent, not at
//! load: a rotated URL needs no restart, and other commands never need it. The Notion database
//! sink (`notion_database`) takes its integration token from `[notion]`, so this table only
//! checks that `[notion]` exists; `serve` and `check-config` resolve it.

use super::raw::RawAlerts;
use super::resolve::Resolver;
use super::secrets::SecretSource;
use super::ConfigError;
use crate::notion_api::DatabaseId;
use std::time::Duration;
use toml::Spanned;

/// How long one delivery may take unless `[alerts] timeout` says otherwise.
pub const DEFAULT_ALERT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `[alerts] timeout`: the scheduler waits for the alerts of a run.
pub const MAX_ALERT_TIMEOUT: Duration = Duration::from_secs(30);

/// The body of a webhook POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// `{"text": "..."}`: Slack's incoming webhooks, and the many chat tools that take the same.
    Slack,
    /// `{"condition", "severity", "target", "runId", "message", "since", "cleared"}`.
    Generic,
}

/// A webhook to POST alerts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where the URL is kept (the URL itself is read when an alert is sent).
    pub url: SecretSource,
    /// The body's shape.
    pub format: WebhookFormat,
}

/// `[alerts]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// The webhook sink.
    pub webhook: Option<WebhookSettings>,
    /// The Notion database sink: alerts become pages in this database, through the public API
    /// with `[notion]`'s integration token.
    pub notion_database: Option<DatabaseId>,
    /// Alert when the IdP signing certificate expires within this many days.
    pub warn_days: i64,
    /// How long one delivery may take (connect, send and reply).
    pub timeout: Duration,
}

impl Resolver<'_> {
    /// `[alerts]`: at least one sink. `has_notion`: the file has a `[notion]` table, which the
    /// Notion database sink takes its token from.
    pub(in crate::config) fn alerts(
        &self,
        raw: &Option<Spanned<RawAlerts>>,
        has_notion: bool,
    ) -> Result<Option<AlertSettings>, ConfigError> {
        let Some(spanned) = raw else {
            return Ok(None);
        };
        let header = spanned.span().start;
        let raw = spanned.get_ref();
        let webhook = self.webhook(raw)?;
        let notion_database = self.alert_database(raw, has_notion)?;
        if webhook.is_none() && notion_database.is_none() {
            return self.invalid(
                header,
                "alerts.webhook_url_env",
                "`[alerts]` has nowhere to send: set webhook_url_env (an environment variable \
                 holding the webhook URL) or webhook_url_file (a file holding it), and/or \
                 notion_database (a Notion database for a page per alert); the URL is a secret \
                 and never goes in the config text",
            );
        }
        let warn_days = self.in_range(&raw.warn_days, "alerts.warn_days", 30, 0, 3650)?;
        let timeout = self.duration(&raw.timeout, "alerts.timeout", DEFAULT_ALERT_TIMEOUT)?;
        if timeout > MAX_ALERT_TIMEOUT {
            if let Some(t) = &raw.timeout {
                return self.invalid(
                    t.span().start,
                    "alerts.timeout",
                    "must be at most 30s: the scheduler waits for a run's alerts before the next run",
                );
            }
        }
        Ok(Some(AlertSettings {
            webhook,
            notion_database,
            warn_days,
            timeout,
        }))
    }

    /// The webhook sink, when a URL source is set.
    fn webhook(&self, raw: &RawAlerts) -> Result<Option<WebhookSettings>, ConfigError> {
        let url = self.secret(
            &raw.webhook_url_env,
            &raw.webhook_url_file,
            "alerts.webhook_url",
        )?;
        let format = self.choice(
            &raw.format,
            "alerts.format",
            &[
                ("slack", WebhookFormat::Slack),
                ("generic", WebhookFormat::Generic),
            ],
            WebhookFormat::Slack,
        )?;
        match url {
            Some((url, _)) => Ok(Some(WebhookSettings { url, format })),
            None => match &raw.format {
                Some(f) => self.invalid(
                    f.span().start,
                    "alerts.format",
                    "`format` is the webhook's body, and no webhook is set: add \
                     webhook_url_env or webhook_url_file",
                ),
                None => Ok(None),
            },
        }
    }

    /// `notion_database`: its id, and a `[notion]` table to take the integration token from.
    fn alert_database(
        &self,
        raw: &RawAlerts,
        has_notion: bool,
    ) -> Result<Option<DatabaseId>, ConfigError> {
        let Some(value) = &raw.notion_database else {
            return Ok(None);
        };
        let at = value.span().start;
        let id = match DatabaseId::parse(value.get_ref(), "alerts.notion_database") {
            Ok(id) => id,
            Err(why) => return self.invalid(at, "alerts.notion_database", why),
        };
        if !has_notion {
            return self.invalid(
                at,
                "alerts.notion_database",
                "alert pages are written through Notion's public API with the integration \
                 token of the [notion] table, and this file has none: add [notion] with \
                 token_env = \"NOTION_API_TOKEN\" (or token_file), and share the database with \
                 that integration (docs/config.md, [alerts])",
            );
        }
        Ok(Some(id))
    }
}
