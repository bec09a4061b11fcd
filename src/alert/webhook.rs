//! The webhook sink: one POST per alert, `{"text": ...}` (Slack's incoming webhooks and the chat
//! tools that copy them) or a generic JSON body for programs. The URL is a secret (a Slack
//! webhook URL is its own credential): it is read from its env var or file at every send (so a
//! rotated URL needs no restart), and never appears in a message, a log line or `Debug`;
//! errors name where it is kept instead. Every send is timed out and the reply read is bounded.

use super::{bounded, Alert, AlertSink, SinkError};
use crate::config::secrets::{self, SecretSource};
use crate::config::{WebhookFormat, WebhookSettings};
use chrono::SecondsFormat;
use secrecy::ExposeSecret;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The most of a reply read (for the error message of a refused delivery).
pub const MAX_REPLY_BYTES: usize = 4096;

/// POSTs alerts to a webhook.
pub struct WebhookSink {
    url: SecretSource,
    format: WebhookFormat,
    timeout: Duration,
    client: reqwest::Client,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.url.to_string())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// A sink for `settings`, each delivery taking at most `timeout`.
    pub fn new(settings: &WebhookSettings, timeout: Duration) -> Result<Self, SinkError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A redirect would carry the alert somewhere nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SinkError {
                sink: describe(&settings.url),
                detail: format!("cannot build the HTTP client: {}", e.without_url()),
                unreachable: true,
            })?;
        Ok(Self {
            url: settings.url.clone(),
            format: settings.format,
            timeout,
            client,
        })
    }

    fn error(&self, detail: String, unreachable: bool) -> SinkError {
        SinkError {
            sink: describe(&self.url),
            detail,
            unreachable,
        }
    }

    async fn post(&self, alert: &Alert) -> Result<(), SinkError> {
        let secret = secrets::read(&self.url).map_err(|e| self.error(e.to_string(), true))?;
        let text = secret.expose_secret();
        let url = match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => u,
            _ => {
                return Err(self.error(
                    "it does not hold an http(s):// URL (its value is not shown); put the \
                     webhook URL the chat tool or receiver gave there"
                        .to_owned(),
                    true,
                ))
            }
        };
        let scrub = Scrub::new(&url);
        let response = self
            .client
            .post(url)
            .json(&body(alert, self.format))
            .send()
            .await
            .map_err(|e| {
                let detail = if e.is_timeout() {
                    format!("did not answer within {:?}", self.timeout)
                } else {
                    format!("cannot be reached: {}", chain(&e.without_url()))
                };
                self.error(scrub.clean(&detail), true)
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let reply = read_bounded(response).await;
        Err(self.error(
            scrub.clean(&format!(
                "answered HTTP {}{}; check the webhook URL and the receiver",
                status.as_u16(),
                if reply.is_empty() {
                    String::new()
                } else {
                    format!(": {}", bounded(reply.trim(), 300))
                }
            )),
            status.is_server_error(),
        ))
    }
}

impl AlertSink for WebhookSink {
    fn key(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(
        &'a self,
        alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>> {
        Box::pin(self.post(alert))
    }
}

fn describe(source: &SecretSource) -> String {
    format!("the alert webhook (URL from {source})")
}

/// An error and its sources, one line (reqwest's own Display stops at the outermost).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// At most [`MAX_REPLY_BYTES`] of the reply, as text.
async fn read_bounded(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_REPLY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_REPLY_BYTES);
    String::from_utf8_lossy(&body).into_owned()
}

/// Masks the webhook URL and its parts that carry the credential (the path and query of a Slack
/// URL) wherever they show up in a message from the network or the receiver.
struct Scrub {
    parts: Vec<String>,
}

impl Scrub {
    fn new(url: &url::Url) -> Self {
        let mut parts = vec![url.as_str().to_owned()];
        if url.path().len() > 1 {
            parts.push(url.path().to_owned());
        }
        if let Some(q) = url.query() {
            parts.push(q.to_owned());
        }
        parts.retain(|p| p.len() >= 4);
        Self { parts }
    }

    fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for p in &self.parts {
            out = out.replace(p.as_str(), "[webhook URL]");
        }
        out
    }
}

/// The JSON body of one alert.
pub fn body(alert: &Alert, format: WebhookFormat) -> serde_json::Value {
    match format {
        WebhookFormat::Slack => serde_json::json!({ "text": slack_escape(&alert.text()) }),
        WebhookFormat::Generic => serde_json::json!({
            "condition": alert.condition.to_string(),
            "severity": alert.severity.to_string(),
            "target": alert.target,
            "runId": alert.run_id,
            "message": alert.message,
            "since": alert.since.to_rfc3339_opts(SecondsFormat::Secs, true),
            "cleared": alert.cleared.map(|c| c.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }),
    }
}

/// Slack reads `<...>` as links and mentions (`<!channel>`): a value inside a message must not
/// ping a channel or hide a link, so the three control characters are escaped as Slack asks.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Condition, Severity};
    use chrono::TimeZone;

    fn alert() -> Alert {
        Alert {
            condition: Condition::PlanHeld,
            severity: Severity::Warning,
            target: "acme".into(),
            run_id: Some(3),
            message: "held: <!channel> 12 deactivations & more".into(),
            since: chrono::Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap(),
            cleared: None,
        }
    }

    #[test]
    fn slack_body_is_text_escaped() {
        let b = body(&alert(), WebhookFormat::Slack);
        let text = b["text"].as_str().unwrap();
        assert!(
            text.contains("&lt;!channel&gt; 12 deactivations &amp; more"),
            "{text}"
        );
        assert_eq!(b.as_object().unwrap().len(), 1);
    }

    #[test]
    fn generic_body_has_every_field() {
        let b = body(&alert(), WebhookFormat::Generic);
        assert_eq!(b["condition"], "plan-held");
        assert_eq!(b["severity"], "warning");
        assert_eq!(b["target"], "acme");
        assert_eq!(b["runId"], 3);
        assert_eq!(b["since"], "2026-11-30T08:00:00Z");
        assert!(b["cleared"].is_null());
        assert!(b["message"].as_str().unwrap().contains("<!channel>"));
    }

    #[test]
    fn the_url_and_its_path_are_scrubbed() {
        let url = url::Url::parse("https://hooks.example.com/services/T0/B0/SeCrEt?x=1").unwrap();
        let s = Scrub::new(&url);
        let out = s.clean("error for /services/T0/B0/SeCrEt and https://hooks.example.com/services/T0/B0/SeCrEt?x=1");
        assert!(!out.contains("SeCrEt"), "{out}");
    }

    #[test]
    fn debug_names_the_source_not_the_url() {
        let sink = WebhookSink::new(
            &WebhookSettings {
                url: SecretSource::Env("ALERT_HOOK".into()),
                format: WebhookFormat::Slack,
            },
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(format!("{sink:?}").contains("ALERT_HOOK"));
    }
}
