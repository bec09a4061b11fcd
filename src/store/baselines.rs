//! Source baselines and gate overrides (docs/lifecycle.md, "Source health gates"): the last good
//! read of each source of a target, kept after a run that applied, which the next run's gates
//! compare its read with; and the audit entry of each gate an admin passed with `--override`.
//! The summary is the gates' JSON; the store keeps it as text and never reads inside it.

use super::{fmt_time, Result, RunId, Store, StoreRead};
use chrono::{DateTime, Utc};

/// One source's last good read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBaseline {
    /// The source's configured name.
    pub source: String,
    /// The run after which it was kept.
    pub run_id: RunId,
    /// When it was kept.
    pub taken_at: DateTime<Utc>,
    /// The read's summary (JSON).
    pub summary: String,
}

/// The audit entry of one gate passed with `--override`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOverride {
    /// The run that went on under the override.
    pub run_id: RunId,
    /// The target's configured name.
    pub target_name: String,
    /// The gate (`source-drop`).
    pub gate: String,
    /// The source.
    pub source: String,
    /// The attribute or group, when the gate has one.
    pub subject: Option<String>,
    /// The finding, as the plan stated it.
    pub finding: String,
    /// Where it ran.
    pub host: String,
    /// The OS account that ran it.
    pub os_user: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl Store {
    /// Keep `baseline` as the last good read of its source on `target_name`, replacing the one
    /// kept before.
    pub async fn put_baseline(&self, target_name: &str, baseline: &StoredBaseline) -> Result<()> {
        const T: &str = "source_baselines";
        let err = |e: &sqlx::Error| self.query_err("keep a source baseline", T, e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        sqlx::query("DELETE FROM source_baselines WHERE target_name = $1 AND source = $2")
            .bind(target_name)
            .bind(&baseline.source)
            .execute(&mut *tx)
            .await
            .map_err(|e| err(&e))?;
        sqlx::query(
            "INSERT INTO source_baselines (target_name, source, run_id, taken_at, summary) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(target_name)
        .bind(&baseline.source)
        .bind(baseline.run_id.0)
        .bind(fmt_time(baseline.taken_at))
        .bind(&baseline.summary)
        .execute(&mut *tx)
        .await
        .map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))
    }

    /// Record that a gate was passed with `--override` in a run.
    pub async fn record_gate_override(&self, entry: &GateOverride) -> Result<()> {
        const T: &str = "gate_overrides";
        sqlx::query(
            "INSERT INTO gate_overrides (run_id, target_name, gate, source, subject, finding, host, \
             os_user, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(entry.run_id.0)
        .bind(&entry.target_name)
        .bind(&entry.gate)
        .bind(&entry.source)
        .bind(entry.subject.clone().unwrap_or_default())
        .bind(&entry.finding)
        .bind(&entry.host)
        .bind(&entry.os_user)
        .bind(fmt_time(entry.recorded_at))
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_err("record a gate override", T, &e))?;
        Ok(())
    }
}

impl StoreRead {
    /// The last good read of each source of `target_name`, by source name.
    pub async fn baselines(&self, target_name: &str) -> Result<Vec<StoredBaseline>> {
        const T: &str = "source_baselines";
        let rows = sqlx::query(
            "SELECT source, run_id, taken_at, summary FROM source_baselines \
             WHERE target_name = $1 ORDER BY source",
        )
        .bind(target_name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list source baselines", T, &e))?;
        rows.iter()
            .map(|row| {
                Ok(StoredBaseline {
                    source: self.get(row, T, "source")?,
                    run_id: RunId(self.get(row, T, "run_id")?),
                    taken_at: self.get_time(row, T, "taken_at")?,
                    summary: self.get(row, T, "summary")?,
                })
            })
            .collect()
    }

    /// The gate overrides recorded on `target_name`, newest first.
    pub async fn gate_overrides(&self, target_name: &str) -> Result<Vec<GateOverride>> {
        const T: &str = "gate_overrides";
        let rows = sqlx::query(
            "SELECT run_id, target_name, gate, source, subject, finding, host, os_user, recorded_at \
             FROM gate_overrides WHERE target_name = $1 ORDER BY run_id DESC, gate, source, subject",
        )
        .bind(target_name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list gate overrides", T, &e))?;
        rows.iter()
            .map(|row| {
                let subject: String = self.get(row, T, "subject")?;
                Ok(GateOverride {
                    run_id: RunId(self.get(row, T, "run_id")?),
                    target_name: self.get(row, T, "target_name")?,
                    gate: self.get(row, T, "gate")?,
                    source: self.get(row, T, "source")?,
                    subject: (!subject.is_empty()).then_some(subject),
                    finding: self.get(row, T, "finding")?,
                    host: self.get(row, T, "host")?,
                    os_user: self.get(row, T, "os_user")?,
                    recorded_at: self.get_time(row, T, "recorded_at")?,
                })
            })
            .collect()
    }
}
