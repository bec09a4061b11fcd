//! Pruning the journal. It holds personal data (names, emails, titles, source facts), so the
//! operations of old runs can be deleted: by `[store] retention` at the end of each run, or on
//! demand by `idbridge report prune --before DATE`. Both hold the run lock of the target.
//!
//! What stays: every run row (marked `pruned_at`, keeping its counts but no longer its upcoming
//! starts and terminations), one `prunes` row per prune that removed anything (when, the cutoff,
//! how many, why, and the host and OS account that ran it), and the journal entries the next run
//! still needs: creates and re-adds whose outcome was never confirmed (`pending`, `failed`,
//! `unknown`), which the planner reads to recognise a user it created itself.

use super::lock::RunLock;
use super::runs::count_i64;
use super::{fmt_time, Backend, Result, Store, StoreRead};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

/// Why a prune ran. Stored as `retention`, `report-prune`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum PruneReason {
    /// `[store] retention`, at the end of a run.
    Retention,
    /// `idbridge report prune --before DATE`.
    ReportPrune,
}

/// A prune to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneRequest {
    /// Runs that finished before this instant lose their journal.
    pub cutoff: DateTime<Utc>,
    /// Now (from the injected clock).
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: PruneReason,
    /// The machine's host name.
    pub host: String,
    /// The OS account that runs the prune.
    pub os_user: String,
}

/// The record a prune leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneRecord {
    /// Its id.
    pub id: i64,
    /// The target whose journal was pruned.
    pub target_name: String,
    /// When.
    pub pruned_at: DateTime<Utc>,
    /// Runs that finished before this instant were pruned.
    pub cutoff: DateTime<Utc>,
    /// Runs whose journal was pruned.
    pub runs: u64,
    /// Journal entries deleted.
    pub operations: u64,
    /// Journal entries kept because the next run still needs them (unconfirmed creates).
    pub kept: u64,
    /// Why.
    pub reason: PruneReason,
    /// The host that ran it.
    pub host: Option<String>,
    /// The OS account that ran it.
    pub os_user: Option<String>,
}

/// The runs a prune takes: finished before the cutoff, not pruned yet, of the locked target.
/// (A macro so `concat!` builds the static query texts that share it.)
macro_rules! pruned_runs {
    () => {
        "SELECT id FROM runs WHERE target_name = $1 AND finished_at IS NOT NULL \
         AND finished_at < $2 AND pruned_at IS NULL AND status <> 'running'"
    };
}

/// Journal entries a later run still reads (`Store::unfinished_creates`): never pruned.
macro_rules! still_needed {
    () => {
        "op IN ('create-user', 'readd-user') AND status IN ('pending', 'failed', 'unknown')"
    };
}

impl Store {
    /// Prune the journal of the lock's target: the operations of every run that finished before
    /// `request.cutoff`, except the entries a later run still needs, in one transaction. Returns
    /// the record left, or `None` when no run was old enough (then nothing is recorded).
    pub async fn prune(
        &self,
        lock: &RunLock,
        request: &PruneRequest,
    ) -> Result<Option<PruneRecord>> {
        const OP: &str = "prune the journal";
        let target = lock.target_name();
        let cutoff = fmt_time(request.cutoff);
        let at = fmt_time(request.at);
        let err = |table, e: sqlx::Error| self.query_err(OP, table, &e);
        let mut tx = self.pool.begin().await.map_err(|e| err("runs", e))?;
        let runs = sqlx::query(pruned_runs!())
            .bind(target)
            .bind(&cutoff)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| err("runs", e))?
            .len();
        if runs == 0 {
            tx.rollback().await.map_err(|e| err("runs", e))?;
            return Ok(None);
        }
        let kept: i64 = sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM operations WHERE run_id IN (",
            pruned_runs!(),
            ") AND ",
            still_needed!()
        ))
        .bind(target)
        .bind(&cutoff)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| err("operations", e))?;
        let deleted = sqlx::query(concat!(
            "DELETE FROM operations WHERE run_id IN (",
            pruned_runs!(),
            ") AND NOT (",
            still_needed!(),
            ")"
        ))
        .bind(target)
        .bind(&cutoff)
        .execute(&mut *tx)
        .await
        .map_err(|e| err("operations", e))?
        .rows_affected();
        sqlx::query(concat!(
            "UPDATE runs SET pruned_at = $3, upcoming_json = NULL WHERE id IN (",
            pruned_runs!(),
            ")"
        ))
        .bind(target)
        .bind(&cutoff)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(|e| err("runs", e))?;
        let row = sqlx::query(
            "INSERT INTO prunes (target_name, pruned_at, cutoff, runs, operations, kept, reason, \
             host, os_user) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(target)
        .bind(&at)
        .bind(&cutoff)
        .bind(count_i64(runs))
        .bind(count_i64(deleted))
        .bind(kept)
        .bind(<&str>::from(request.reason))
        .bind(&request.host)
        .bind(&request.os_user)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| err("prunes", e))?;
        let id: i64 = self.get(&row, "prunes", "id")?;
        tx.commit().await.map_err(|e| err("prunes", e))?;
        Ok(Some(PruneRecord {
            id,
            target_name: target.to_owned(),
            pruned_at: request.at,
            cutoff: request.cutoff,
            runs: runs as u64,
            operations: deleted,
            kept: u64::try_from(kept).unwrap_or(0),
            reason: request.reason,
            host: Some(request.host.clone()),
            os_user: Some(request.os_user.clone()),
        }))
    }
}

impl StoreRead {
    /// The prunes recorded (of one target, or all), oldest first.
    pub async fn prunes(&self, target_name: Option<&str>) -> Result<Vec<PruneRecord>> {
        let rows = sqlx::query(
            "SELECT id, target_name, pruned_at, cutoff, runs, operations, kept, reason, host, \
             os_user FROM prunes WHERE ($1 = '' OR target_name = $1) ORDER BY id",
        )
        .bind(target_name.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list the prunes", "prunes", &e))?;
        rows.iter().map(|row| self.prune_from_row(row)).collect()
    }

    /// Whether the schema has the audit tables and columns (migrations
    /// `20261210000000_audit_journal` and `20261215000000_saml_certificates`). A read-only report
    /// cannot migrate an older store, so it asks first and says what to do instead of failing on
    /// a missing column.
    pub async fn audit_schema_present(&self) -> Result<bool> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'prunes' \
                 AND EXISTS (SELECT 1 FROM pragma_table_info('saml_checks') \
                 WHERE name = 'certificates_json')"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'saml_checks' \
                 AND column_name = 'certificates_json' AND to_regclass('prunes') IS NOT NULL"
            }
        };
        let row = sqlx::query(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.query_err("look for the schema", "prunes", &e))?;
        let n: i64 = self.get(&row, "prunes", "n")?;
        Ok(n > 0)
    }

    fn prune_from_row(&self, row: &AnyRow) -> Result<PruneRecord> {
        const T: &str = "prunes";
        let count = |column: &'static str| -> Result<u64> {
            let n: i64 = self.get(row, T, column)?;
            u64::try_from(n)
                .map_err(|_| self.corrupt(T, column, &n.to_string(), "a negative count".into()))
        };
        Ok(PruneRecord {
            id: self.get(row, T, "id")?,
            target_name: self.get(row, T, "target_name")?,
            pruned_at: self.get_time(row, T, "pruned_at")?,
            cutoff: self.get_time(row, T, "cutoff")?,
            runs: count("runs")?,
            operations: count("operations")?,
            kept: count("kept")?,
            reason: self.get_enum(row, T, "reason")?,
            host: self.get(row, T, "host")?,
            os_user: self.get(row, T, "os_user")?,
        })
    }
}
