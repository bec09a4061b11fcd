//! Alerts: what `idbridge serve` tells people when something needs them. This module owns the
//! conditions (a failed run, a held plan, a revoked token, an IdP certificate near its expiry),
//! the per-condition state that makes one alert per episode and one recovery when it clears
//! (kept in the store, so a restart or another replica does not send again), and the sinks that
//! deliver them. It sits downstream of a run's report: it reads a finished run's
//! [`RunReport`](crate::serve::RunReport) and never changes what a run does; a sink that fails
//! is logged and retried at the next run.
//!
//! - [`conditions`]: what a report says of each condition (pure).
//! - [`state`]: the episode of each condition and sink, and the [`Alerter`], the
//!   [`RunObserver`](crate::serve::RunObserver) `serve` is given.
//! - [`webhook`]: the webhook sink (Slack-compatible `{"text": ...}` or a generic JSON body).
//! - [`notion`]: the Notion database sink, one page per episode through the public API client
//!   the reports' publish uses (`notion_api`), updated in place when the episode clears.
//!
//! Either sink or both: each has its own episode state, so one that is down is retried without
//! sending again through the other.

pub mod conditions;
pub mod notion;
pub mod state;
pub mod webhook;

pub use conditions::{observe, Seen};
pub use notion::NotionSink;
pub use state::Alerter;
pub use webhook::WebhookSink;

use chrono::{DateTime, SecondsFormat, Utc};
use std::future::Future;
use std::pin::Pin;

/// Something that needs a person.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Condition {
    /// A run failed: an environment failure (a source, the target or the store) or failed
    /// operations.
    RunFailed,
    /// A guardrail held the plan: nothing was applied.
    PlanHeld,
    /// The target refused the token.
    TokenRevoked,
    /// The IdP signing certificate expires within `[alerts] warn_days` (or has expired).
    IdpCertExpiring,
}

impl Condition {
    /// A short title for people.
    pub fn title(self) -> &'static str {
        match self {
            Condition::RunFailed => "a sync run failed",
            Condition::PlanHeld => "a plan is held by a guardrail",
            Condition::TokenRevoked => "the target refused the token",
            Condition::IdpCertExpiring => "the IdP signing certificate expires soon",
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Severity {
    /// Provisioning has stopped, or will.
    Critical,
    /// Needs a look; provisioning goes on.
    Warning,
}

/// One message to deliver: an alert, or (with `cleared`) its recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The condition.
    pub condition: Condition,
    /// How urgent it is (of the condition as raised, in a recovery too).
    pub severity: Severity,
    /// The target's configured name.
    pub target: String,
    /// The run that raised it, when one was recorded.
    pub run_id: Option<i64>,
    /// What happened and what to do (no secret: run messages are redacted where they arise).
    pub message: String,
    /// When the condition was first seen.
    pub since: DateTime<Utc>,
    /// When a run saw it clear: set in a recovery message.
    pub cleared: Option<DateTime<Utc>>,
}

impl Alert {
    /// One line for people (chat, logs): the condition, the target, the message and since when.
    pub fn text(&self) -> String {
        let since = self.since.to_rfc3339_opts(SecondsFormat::Secs, true);
        let run = self
            .run_id
            .map(|id| format!(", run {id}"))
            .unwrap_or_default();
        match self.cleared {
            None => format!(
                "idbridge {} on target {}: {} ({}). {} (since {since}{run})",
                self.severity.to_string().to_uppercase(),
                self.target,
                self.condition.title(),
                self.condition,
                self.message,
            ),
            Some(cleared) => format!(
                "idbridge RESOLVED on target {}: {} ({}) has cleared at {} (raised since {since}{run})",
                self.target,
                self.condition.title(),
                self.condition,
                cleared.to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
        }
    }
}

/// Why a sink could not deliver. Messages name the sink and where its secret is kept, never the
/// secret itself (a webhook URL is one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sink}: {detail}")]
pub struct SinkError {
    /// The sink, e.g. "the webhook (URL from the environment variable ALERT_WEBHOOK)".
    pub sink: String,
    /// What went wrong and what to do.
    pub detail: String,
    /// Whether the sink could not be reached at all: its other messages of this run are not
    /// tried, so a dead receiver costs one timeout per run, not one per condition.
    pub unreachable: bool,
}

/// Where alerts go. A sink delivers one message or says why it could not; it bounds its own
/// time (the scheduler waits for it) and never puts a secret in its error.
pub trait AlertSink: Send + Sync {
    /// The sink's key in the alert state (`webhook`, `notion`): one episode per condition and sink, so a
    /// sink that is down is retried without sending again through the others.
    fn key(&self) -> &'static str;
    /// Deliver `alert`.
    fn send<'a>(
        &'a self,
        alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;
}

/// `text` made safe to carry: control characters dropped (line breaks become spaces) and at most
/// `max` characters, so a hostile value inside a run's message cannot forge lines or flood a
/// channel.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c == '\n' || c == '\r' || c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn alert(cleared: Option<DateTime<Utc>>) -> Alert {
        Alert {
            condition: Condition::TokenRevoked,
            severity: Severity::Critical,
            target: "acme".into(),
            run_id: Some(7),
            message: "the target refused the token".into(),
            since: Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap(),
            cleared,
        }
    }

    #[test]
    fn text_names_condition_target_since_and_run() {
        let text = alert(None).text();
        assert!(
            text.starts_with("idbridge CRITICAL on target acme"),
            "{text}"
        );
        assert!(text.contains("(token-revoked)"), "{text}");
        assert!(text.contains("since 2026-11-30T08:00:00Z, run 7"), "{text}");
        let cleared = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let text = alert(Some(cleared)).text();
        assert!(
            text.starts_with("idbridge RESOLVED on target acme"),
            "{text}"
        );
        assert!(text.contains("cleared at 2026-11-30T09:00:00Z"), "{text}");
    }

    #[test]
    fn bounded_drops_controls_and_cuts() {
        assert_eq!(bounded("a\nb\u{1b}[31mc", 100), "a b[31mc");
        assert_eq!(bounded("abcdef", 3), "abc…");
    }

    #[test]
    fn condition_spellings_round_trip() {
        use strum::IntoEnumIterator;
        for c in Condition::iter() {
            assert_eq!(c.to_string().parse::<Condition>().unwrap(), c);
        }
        assert_eq!(Condition::IdpCertExpiring.to_string(), "idp-cert-expiring");
    }
}
