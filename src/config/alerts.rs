//! `[alerts]`: where `idbridge serve` sends an alert when a run fails, a plan is held, the token
//! is revoked or the IdP certificate nears its expiry (`crate::alert`). Only `serve` reads it.
//! The webhook URL is a secret (a Slack incoming-webhook URL is its own credential), so it comes
//! from `webhook_url_env` / `webhook_url_file` only and is read when an alert is sent, not at
//! load: a rotated URL needs no restart, and other commands never need it.

use super::raw::RawAlerts;
use super::resolve::Resolver;
use super::secrets::SecretSource;
use super::ConfigError;
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
    /// Alert when the IdP signing certificate expires within this many days.
    pub warn_days: i64,
    /// How long one delivery may take (connect, send and reply).
    pub timeout: Duration,
}

impl Resolver<'_> {
    /// `[alerts]`: at least one sink.
    pub(in crate::config) fn alerts(
        &self,
        raw: &Option<Spanned<RawAlerts>>,
    ) -> Result<Option<AlertSettings>, ConfigError> {
        let Some(spanned) = raw else {
            return Ok(None);
        };
        let header = spanned.span().start;
        let raw = spanned.get_ref();
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
        let webhook = match url {
            Some((url, _)) => Some(WebhookSettings { url, format }),
            None => {
                if let Some(f) = &raw.format {
                    return self.invalid(
                        f.span().start,
                        "alerts.format",
                        "`format` is the webhook's body, and no webhook is set: add \
                         webhook_url_env or webhook_url_file",
                    );
                }
                None
            }
        };
        if webhook.is_none() {
            return self.invalid(
                header,
                "alerts.webhook_url_env",
                "`[alerts]` has nowhere to send: set webhook_url_env (an environment variable \
                 holding the webhook URL) or webhook_url_file (a file holding it); the URL is a \
                 secret and never goes in the config text",
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
            warn_days,
            timeout,
        }))
    }
}
