//! Runs: one row per `sync`, `apply`, `plan` or `demo`, with its outcome and summary.

use super::journal::{OperationRecord, OperationStatus};
use super::lock::RunLock;
use super::{fmt_time, Error, Result, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use std::fmt;

/// The id of a run (the `runs.id` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished (or the process died).
    Running,
    /// Finished; every operation succeeded.
    Succeeded,
    /// Finished with at least one failure.
    Failed,
    /// Refused by a guardrail before any write.
    Refused,
    /// Found `running` by a later run of its target that got the run lock: its process died
    /// (killed, crashed, the machine stopped) before it finished.
    Aborted,
}

impl RunStatus {
    /// The stored spelling: `running`, `succeeded`, `failed`, `refused`, `aborted`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Refused => "refused",
            RunStatus::Aborted => "aborted",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "refused" => RunStatus::Refused,
            "aborted" => RunStatus::Aborted,
            _ => return None,
        })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run about to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// `sync`, `apply`, `plan` or `demo`.
    pub kind: String,
    /// The target's configured name.
    pub target_name: String,
    /// When it started (from the injected clock).
    pub started_at: DateTime<Utc>,
    /// For `apply --plan`: the sha256 of the plan file applied.
    pub plan_sha256: Option<String>,
}

/// A stored run, every column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// Its id.
    pub id: RunId,
    /// `sync`, `apply`, `plan` or `demo`.
    pub kind: String,
    /// The target's configured name.
    pub target_name: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished; `None` while running (or after a crash). For an aborted run: when the
    /// next run found it dead.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its outcome.
    pub status: RunStatus,
    /// The sha256 of the plan applied, if any.
    pub plan_sha256: Option<String>,
    /// The summary written by `finish_run` (JSON text); `None` until then.
    pub summary_json: Option<String>,
}

/// A run that was found `running` with nobody holding its target's run lock, and closed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortedRun {
    /// The dead run.
    pub id: RunId,
    /// `sync`, `apply`, …
    pub kind: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Journal entries it finished.
    pub done: usize,
    /// Journal entries that failed.
    pub failed: usize,
    /// Journal entries it skipped.
    pub skipped: usize,
    /// Entries it left `pending`, now `unknown`: the call may or may not have reached the target,
    /// so the next plan checks them against a fresh read of the target instead of assuming.
    pub unknown: Vec<OperationRecord>,
}

/// The columns of `runs`, as a macro so `concat!` can build `&'static str` query texts (sqlx only
/// takes static strings without an explicit "this is safe" wrapper).
macro_rules! run_columns {
    () => {
        "id, kind, target_name, started_at, finished_at, status, plan_sha256, summary_json"
    };
}

impl Store {
    /// Record the start of a run (status `running`) and return its id.
    pub async fn start_run(&self, run: &NewRun) -> Result<RunId> {
        const OP: &str = "record the start of a run";
        self.check_writable(OP)?;
        let row = sqlx::query(
            "INSERT INTO runs (kind, target_name, started_at, status, plan_sha256) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&run.kind)
        .bind(&run.target_name)
        .bind(fmt_time(run.started_at))
        .bind(RunStatus::Running.as_str())
        .bind(run.plan_sha256.as_deref())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.query_err(OP, "runs", &e))?;
        Ok(RunId(self.get(&row, "runs", "id")?))
    }

    /// Record how a run ended. Finishing a run twice overwrites the first outcome (last write
    /// wins), so an error path that finishes again after a partial finish is harmless.
    pub async fn finish_run(
        &self,
        id: RunId,
        finished_at: DateTime<Utc>,
        status: RunStatus,
        summary_json: &str,
    ) -> Result<()> {
        const OP: &str = "record the end of a run";
        self.check_writable(OP)?;
        let done = sqlx::query(
            "UPDATE runs SET finished_at = $1, status = $2, summary_json = $3 WHERE id = $4",
        )
        .bind(fmt_time(finished_at))
        .bind(status.as_str())
        .bind(summary_json)
        .bind(id.0)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_err(OP, "runs", &e))?;
        if done.rows_affected() == 0 {
            return Err(Error::RunNotFound {
                url: self.redacted_url().to_owned(),
                id: id.0,
                operation: OP,
            });
        }
        Ok(())
    }

    /// The latest `limit` runs, newest first (by id, i.e. the order they were started in, which
    /// stays right even when `--now` pins `started_at`).
    pub async fn runs(&self, limit: u32) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs ORDER BY id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list runs", "runs", &e))?;
        rows.iter().map(|row| self.run_from_row(row)).collect()
    }

    /// One run by id.
    pub async fn run(&self, id: RunId) -> Result<Option<RunRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.query_err("read a run", "runs", &e))?;
        row.map(|row| self.run_from_row(&row)).transpose()
    }

    /// Close out the runs of the lock's target that are still `running`. Holding the run lock
    /// proves they are dead: every live run holds it. Each becomes `aborted` (finished now, with a
    /// summary of its journal) and its `pending` journal entries become `unknown`, one transaction
    /// per run. Returns what was closed, oldest first.
    pub async fn abort_dead_runs(
        &self,
        lock: &RunLock,
        at: DateTime<Utc>,
    ) -> Result<Vec<AbortedRun>> {
        const OP: &str = "close out a run that died";
        self.check_writable(OP)?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE target_name = $1 AND status = $2 ORDER BY id"
        ))
        .bind(lock.target_name())
        .bind(RunStatus::Running.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list running runs", "runs", &e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let run = self.run_from_row(row)?;
            out.push(self.abort_run(&run, lock, at).await?);
        }
        Ok(out)
    }

    async fn abort_run(
        &self,
        run: &RunRecord,
        lock: &RunLock,
        at: DateTime<Utc>,
    ) -> Result<AbortedRun> {
        const OP: &str = "close out a run that died";
        let journal = self.operations(run.id).await?;
        let count = |s: OperationStatus| journal.iter().filter(|o| o.status == s).count();
        let unknown: Vec<OperationRecord> = journal
            .iter()
            .filter(|o| {
                matches!(
                    o.status,
                    OperationStatus::Pending | OperationStatus::Unknown
                )
            })
            .cloned()
            .map(|mut o| {
                o.status = OperationStatus::Unknown;
                o
            })
            .collect();
        let aborted = AbortedRun {
            id: run.id,
            kind: run.kind.clone(),
            started_at: run.started_at,
            done: count(OperationStatus::Done),
            failed: count(OperationStatus::Failed),
            skipped: count(OperationStatus::Skipped),
            unknown,
        };
        let summary = serde_json::json!({
            "aborted": {
                "foundBy": lock.holder(),
                "journal": {
                    "done": aborted.done,
                    "failed": aborted.failed,
                    "skipped": aborted.skipped,
                    "unknown": aborted.unknown.len(),
                },
            }
        })
        .to_string();
        let at = fmt_time(at);
        let err = |e: sqlx::Error| self.query_err(OP, "runs", &e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(
            "UPDATE operations SET status = $1, updated_at = $2 WHERE run_id = $3 AND status = $4",
        )
        .bind(OperationStatus::Unknown.as_str())
        .bind(&at)
        .bind(run.id.0)
        .bind(OperationStatus::Pending.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.query_err(OP, "operations", &e))?;
        sqlx::query(
            "UPDATE runs SET status = $1, finished_at = $2, summary_json = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(RunStatus::Aborted.as_str())
        .bind(&at)
        .bind(&summary)
        .bind(run.id.0)
        .bind(RunStatus::Running.as_str())
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(aborted)
    }

    fn run_from_row(&self, row: &AnyRow) -> Result<RunRecord> {
        const T: &str = "runs";
        let status: String = self.get(row, T, "status")?;
        let status = RunStatus::parse(&status).ok_or_else(|| {
            self.corrupt(
                T,
                "status",
                &status,
                "expected running, succeeded, failed, refused or aborted".into(),
            )
        })?;
        Ok(RunRecord {
            id: RunId(self.get(row, T, "id")?),
            kind: self.get(row, T, "kind")?,
            target_name: self.get(row, T, "target_name")?,
            started_at: self.get_time(row, T, "started_at")?,
            finished_at: self.get_opt_time(row, T, "finished_at")?,
            status,
            plan_sha256: self.get(row, T, "plan_sha256")?,
            summary_json: self.get(row, T, "summary_json")?,
        })
    }
}
