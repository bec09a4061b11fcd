//! Alert state (table `alert_state`): per target, condition and sink, the episode in course or
//! the last one, so `serve` alerts once per condition and sends one recovery when it clears, even
//! across restarts and replicas. What a condition is and when a message goes out is
//! `crate::alert`'s; this module only keeps the rows.

use super::{fmt_time, Result, Store, StoreRead};
use chrono::{DateTime, Utc};

/// One episode of one condition, as one sink saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertState {
    /// The target's configured name.
    pub target_name: String,
    /// The condition's spelling (`token-revoked`, ...).
    pub condition: String,
    /// The sink's name (`webhook`, ...).
    pub sink: String,
    /// When the condition was first seen in this episode.
    pub raised_at: DateTime<Utc>,
    /// The run that raised it, when one was recorded.
    pub run_id: Option<i64>,
    /// What the alert says.
    pub message: String,
    /// When the sink took the alert; `None`: not yet (retried at the next run).
    pub raised_sent_at: Option<DateTime<Utc>>,
    /// When a run saw the condition clear; `None`: still raised.
    pub cleared_at: Option<DateTime<Utc>>,
    /// When the sink took the recovery message.
    pub cleared_sent_at: Option<DateTime<Utc>>,
    /// Failed deliveries in this episode.
    pub attempts: i64,
    /// Why the last delivery failed (no secret: the sink's own redacted message).
    pub last_error: Option<String>,
}

const T: &str = "alert_state";

impl StoreRead {
    /// Every alert state of `target_name`, by condition then sink.
    pub async fn alert_states(&self, target_name: &str) -> Result<Vec<AlertState>> {
        let rows = sqlx::query(
            "SELECT target_name, condition, sink, raised_at, run_id, message, raised_sent_at, \
             cleared_at, cleared_sent_at, attempts, last_error FROM alert_state \
             WHERE target_name = $1 ORDER BY condition, sink",
        )
        .bind(target_name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("read the alert state", T, &e))?;
        rows.iter()
            .map(|row| {
                Ok(AlertState {
                    target_name: self.get(row, T, "target_name")?,
                    condition: self.get(row, T, "condition")?,
                    sink: self.get(row, T, "sink")?,
                    raised_at: self.get_time(row, T, "raised_at")?,
                    run_id: self.get(row, T, "run_id")?,
                    message: self.get(row, T, "message")?,
                    raised_sent_at: self.get_opt_time(row, T, "raised_sent_at")?,
                    cleared_at: self.get_opt_time(row, T, "cleared_at")?,
                    cleared_sent_at: self.get_opt_time(row, T, "cleared_sent_at")?,
                    attempts: self.get(row, T, "attempts")?,
                    last_error: self.get(row, T, "last_error")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Write one alert state, replacing the row of its target, condition and sink.
    pub async fn put_alert_state(&self, state: &AlertState) -> Result<()> {
        sqlx::query(
            "INSERT INTO alert_state (target_name, condition, sink, raised_at, run_id, message, \
             raised_sent_at, cleared_at, cleared_sent_at, attempts, last_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (target_name, condition, sink) DO UPDATE SET \
             raised_at = excluded.raised_at, run_id = excluded.run_id, \
             message = excluded.message, raised_sent_at = excluded.raised_sent_at, \
             cleared_at = excluded.cleared_at, cleared_sent_at = excluded.cleared_sent_at, \
             attempts = excluded.attempts, last_error = excluded.last_error",
        )
        .bind(&state.target_name)
        .bind(&state.condition)
        .bind(&state.sink)
        .bind(fmt_time(state.raised_at))
        .bind(state.run_id)
        .bind(&state.message)
        .bind(state.raised_sent_at.map(fmt_time))
        .bind(state.cleared_at.map(fmt_time))
        .bind(state.cleared_sent_at.map(fmt_time))
        .bind(state.attempts)
        .bind(state.last_error.as_deref())
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_err("write the alert state", T, &e))?;
        Ok(())
    }
}
