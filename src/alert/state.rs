//! One alert per episode: for each condition and sink, the state of its episode (raised since,
//! delivered or not, cleared, recovery delivered or not) decides what a run's observation sends
//! ([`step`], pure), and the [`Alerter`] keeps those states in the store (table `alert_state`),
//! so a restarted `serve`, or another replica on the same PostgreSQL, does not send again. A
//! copy is kept in memory too: when the store is down (itself a failed run worth an alert) the
//! process still alerts once, not once per run.
//!
//! Delivery is at least once: the state is written after the sink took the message, so a crash
//! between the two sends it again after the restart, never loses it.

use super::{observe, Alert, AlertSink, Condition, Seen, Severity, SinkError};
use crate::clock::Clock;
use crate::serve::{RunObserver, RunReport};
use crate::store::{AlertState, Store};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What to deliver after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing (already delivered, or nothing to say).
    Nothing,
    /// The alert of the episode.
    Alert,
    /// Its recovery message.
    Recovery,
}

/// Where a step happens: the row's key and the run.
#[derive(Debug, Clone)]
pub struct StepContext<'a> {
    /// The target's name.
    pub target: &'a str,
    /// The condition.
    pub condition: Condition,
    /// The sink's key.
    pub sink: &'a str,
    /// The run that was observed.
    pub run_id: Option<i64>,
    /// When.
    pub now: DateTime<Utc>,
}

/// The next state of one condition and sink after a run saw `seen`, and what to deliver;
/// `None` when the state does not change and nothing is sent.
pub fn step(
    old: Option<&AlertState>,
    seen: &Seen,
    cx: &StepContext<'_>,
) -> Option<(AlertState, Delivery)> {
    let pending_alert = |s: &AlertState| s.cleared_at.is_none() && s.raised_sent_at.is_none();
    let pending_recovery = |s: &AlertState| s.cleared_at.is_some() && s.cleared_sent_at.is_none();
    match (seen, old) {
        (Seen::Raised { message, .. }, None) => Some((fresh(cx, message), Delivery::Alert)),
        (Seen::Raised { message, .. }, Some(s)) if s.cleared_at.is_some() => {
            if pending_recovery(s) && s.raised_sent_at.is_some() {
                // Back before its recovery got through: the people told of it were never told
                // it cleared, so this is the same episode going on, not a new one.
                let mut s = s.clone();
                s.cleared_at = None;
                Some((s, Delivery::Nothing))
            } else {
                Some((fresh(cx, message), Delivery::Alert))
            }
        }
        (Seen::Raised { .. } | Seen::Unknown, Some(s)) if pending_alert(s) => {
            Some((s.clone(), Delivery::Alert))
        }
        (Seen::Clear, Some(s)) if s.cleared_at.is_none() => {
            let mut s = s.clone();
            s.cleared_at = Some(cx.now);
            if s.raised_sent_at.is_none() {
                // Never delivered: a recovery of an alert nobody saw would only puzzle people.
                s.cleared_sent_at = Some(cx.now);
                Some((s, Delivery::Nothing))
            } else {
                s.attempts = 0;
                s.last_error = None;
                Some((s, Delivery::Recovery))
            }
        }
        (Seen::Clear | Seen::Unknown, Some(s)) if pending_recovery(s) => {
            Some((s.clone(), Delivery::Recovery))
        }
        _ => None,
    }
}

fn fresh(cx: &StepContext<'_>, message: &str) -> AlertState {
    AlertState {
        target_name: cx.target.to_owned(),
        condition: cx.condition.to_string(),
        sink: cx.sink.to_owned(),
        raised_at: cx.now,
        run_id: cx.run_id,
        message: message.to_owned(),
        raised_sent_at: None,
        cleared_at: None,
        cleared_sent_at: None,
        attempts: 0,
        last_error: None,
    }
}

/// The severity an episode was raised with. Not stored: it follows from the condition and, for
/// the certificate, from its message (an expired one is critical).
fn severity(condition: Condition, message: &str) -> Severity {
    match condition {
        Condition::RunFailed | Condition::TokenRevoked => Severity::Critical,
        Condition::PlanHeld => Severity::Warning,
        Condition::IdpCertExpiring if message.contains(" expired on ") => Severity::Critical,
        Condition::IdpCertExpiring => Severity::Warning,
    }
}

type StateKey = (String, String);

/// `serve`'s [`RunObserver`] for alerts: after each run, observes the conditions, steps their
/// states and delivers through every sink.
pub struct Alerter {
    target: String,
    warn_days: i64,
    sinks: Vec<Box<dyn AlertSink>>,
    store_url: SecretString,
    clock: Arc<dyn Clock>,
    store: tokio::sync::Mutex<Option<Store>>,
    states: tokio::sync::Mutex<BTreeMap<StateKey, AlertState>>,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerter")
            .field("target", &self.target)
            .field("warn_days", &self.warn_days)
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.key()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Alerter {
    /// An alerter for `target`, keeping its state in the store at `store_url` (opened at the
    /// first run, and again after a failure to open).
    pub fn new(
        target: String,
        warn_days: i64,
        sinks: Vec<Box<dyn AlertSink>>,
        store_url: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            target,
            warn_days,
            sinks,
            store_url,
            clock,
            store: tokio::sync::Mutex::new(None),
            states: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    async fn store(&self) -> Option<Store> {
        let mut slot = self.store.lock().await;
        if slot.is_none() {
            match Store::open(self.store_url.expose_secret()).await {
                Ok(store) => *slot = Some(store),
                Err(e) => tracing::warn!(
                    "alerts: the store could not be opened, so alert state is kept in memory \
                     until it can: {e}"
                ),
            }
        }
        slot.clone()
    }

    /// Observe `report`, step every state and deliver what is due. Never fails: a sink or store
    /// failure is logged, and what was not delivered is tried again after the next run.
    pub async fn handle(&self, report: &RunReport) {
        let now = self.clock.now();
        let seen = observe(report, self.warn_days, now);
        if seen.is_empty() {
            return;
        }
        let store = self.store().await;
        let mut states = self.states.lock().await;
        if let Some(store) = &store {
            match store.alert_states(&self.target).await {
                Ok(rows) => {
                    // The store is the truth another replica or an earlier process left.
                    states.clear();
                    for row in rows {
                        states.insert((row.condition.clone(), row.sink.clone()), row);
                    }
                }
                Err(e) => tracing::warn!(
                    "alerts: the alert state could not be read from the store; using this \
                     process's copy: {e}"
                ),
            }
        }
        for sink in &self.sinks {
            let mut down: Option<SinkError> = None;
            for (condition, seen) in &seen {
                let key = (condition.to_string(), sink.key().to_owned());
                let cx = StepContext {
                    target: &self.target,
                    condition: *condition,
                    sink: sink.key(),
                    run_id: report.run_id,
                    now,
                };
                let Some((mut next, delivery)) = step(states.get(&key), seen, &cx) else {
                    continue;
                };
                if delivery != Delivery::Nothing {
                    self.deliver(sink.as_ref(), &mut next, delivery, now, &mut down)
                        .await;
                }
                if let Some(store) = &store {
                    if let Err(e) = store.put_alert_state(&next).await {
                        tracing::warn!(
                            condition = %condition,
                            "alerts: the alert state could not be written to the store (kept \
                             in memory): {e}"
                        );
                    }
                }
                states.insert(key, next);
            }
        }
    }

    async fn deliver(
        &self,
        sink: &dyn AlertSink,
        state: &mut AlertState,
        delivery: Delivery,
        now: DateTime<Utc>,
        down: &mut Option<SinkError>,
    ) {
        let Ok(condition) = state.condition.parse::<Condition>() else {
            return;
        };
        let alert = Alert {
            condition,
            severity: severity(condition, &state.message),
            target: state.target_name.clone(),
            run_id: state.run_id,
            message: state.message.clone(),
            since: state.raised_at,
            cleared: match delivery {
                Delivery::Recovery => state.cleared_at,
                _ => None,
            },
        };
        let result = match down.as_ref() {
            Some(e) => Err(e.clone()),
            None => sink.send(&alert).await,
        };
        match result {
            Ok(()) => {
                match delivery {
                    Delivery::Recovery => state.cleared_sent_at = Some(now),
                    _ => state.raised_sent_at = Some(now),
                }
                state.attempts = 0;
                state.last_error = None;
                tracing::info!(
                    condition = %condition,
                    sink = sink.key(),
                    recovery = delivery == Delivery::Recovery,
                    "alert sent: {}",
                    alert.text()
                );
            }
            Err(e) => {
                state.attempts += 1;
                state.last_error = Some(e.to_string());
                tracing::warn!(
                    condition = %condition,
                    sink = sink.key(),
                    attempts = state.attempts,
                    "alert not delivered, tried again after the next run: {e}"
                );
                if e.unreachable {
                    *down = Some(e);
                }
            }
        }
    }
}

impl RunObserver for Alerter {
    fn run_ended<'a>(
        &'a self,
        report: &'a RunReport,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.handle(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, 0, 0).unwrap()
    }

    fn cx(h: u32) -> StepContext<'static> {
        StepContext {
            target: "acme",
            condition: Condition::TokenRevoked,
            sink: "webhook",
            run_id: Some(u32::into(h)),
            now: at(h),
        }
    }

    fn raised() -> Seen {
        Seen::Raised {
            severity: Severity::Critical,
            message: "refused".into(),
        }
    }

    /// Runs `seens` through `step`, each delivery succeeding when `delivered`; returns the
    /// deliveries made.
    fn drive(seens: &[(Seen, bool)]) -> Vec<Delivery> {
        let mut state: Option<AlertState> = None;
        let mut out = Vec::new();
        for (h, (seen, delivered)) in seens.iter().enumerate() {
            let cx = cx(u32::try_from(h).unwrap());
            if let Some((mut next, d)) = step(state.as_ref(), seen, &cx) {
                if d != Delivery::Nothing {
                    out.push(d);
                    if *delivered {
                        match d {
                            Delivery::Recovery => next.cleared_sent_at = Some(cx.now),
                            _ => next.raised_sent_at = Some(cx.now),
                        }
                    }
                }
                state = Some(next);
            }
        }
        out
    }

    #[test]
    fn one_alert_per_episode_and_one_recovery() {
        let d = drive(&[
            (raised(), true),
            (raised(), true),
            (Seen::Unknown, true),
            (raised(), true),
            (Seen::Clear, true),
            (Seen::Clear, true),
        ]);
        assert_eq!(d, vec![Delivery::Alert, Delivery::Recovery]);
    }

    #[test]
    fn failed_deliveries_are_retried_at_the_next_run_only() {
        let d = drive(&[
            (raised(), false),
            (raised(), false),
            (Seen::Unknown, true),
            (raised(), true),
            (Seen::Clear, false),
            (Seen::Unknown, true),
            (Seen::Clear, true),
        ]);
        assert_eq!(
            d,
            vec![
                Delivery::Alert,
                Delivery::Alert,
                Delivery::Alert,
                Delivery::Recovery,
                Delivery::Recovery
            ]
        );
    }

    #[test]
    fn an_alert_never_delivered_gets_no_recovery() {
        let d = drive(&[(raised(), false), (Seen::Clear, true), (Seen::Clear, true)]);
        assert_eq!(d, vec![Delivery::Alert]);
    }

    #[test]
    fn a_new_episode_after_a_recovery_alerts_again() {
        let d = drive(&[(raised(), true), (Seen::Clear, true), (raised(), true)]);
        assert_eq!(
            d,
            vec![Delivery::Alert, Delivery::Recovery, Delivery::Alert]
        );
    }

    #[test]
    fn back_before_the_recovery_got_through_is_the_same_episode() {
        let d = drive(&[
            (raised(), true),
            (Seen::Clear, false),
            (raised(), true),
            (Seen::Clear, true),
        ]);
        assert_eq!(
            d,
            vec![Delivery::Alert, Delivery::Recovery, Delivery::Recovery]
        );
    }
}
