//! Runs: one row per `sync`, `apply`, `plan` or `demo`, with its outcome and summary, how it was
//! started (trigger, host, OS account), the SCIM requests it made, its journal's outcome counts,
//! and the future starts and terminations its source read found (for `report upcoming`).

use super::journal::{OperationRecord, OperationStatus};
use super::lock::RunLock;
use super::{fmt_time, Error, Result, Store, StoreRead};
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

/// How a run ended (or that it has not). Stored as `running`, `succeeded`, `failed`, `refused`,
/// `aborted`.
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
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
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

/// What started a run. Stored as `sync`, `apply-plan`, `schedule`, `post-sync`, `demo`.
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
pub enum RunTrigger {
    /// `idbridge sync`.
    Sync,
    /// `idbridge apply --plan FILE`.
    ApplyPlan,
    /// `idbridge serve`, on its schedule.
    Schedule,
    /// `idbridge serve`, on `POST /sync`.
    PostSync,
    /// `idbridge demo`.
    Demo,
}

/// Who and what started a run: the evidence an auditor asks for ("on whose authority"). Never a
/// secret: the host name and the OS account name only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOrigin {
    /// What started it.
    pub trigger: RunTrigger,
    /// The machine's host name.
    pub host: String,
    /// The OS account the process ran as.
    pub os_user: String,
}

/// SCIM requests a run's command made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimCounts {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Requests sent again after a 429, a 5xx or a lost reply.
    pub retries: u64,
    /// Replies with status 429 (Too Many Requests).
    pub throttled: u64,
}

/// A run's journal by outcome, as counted when the run ended (kept when the journal is pruned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JournalCounts {
    /// Operations done.
    pub done: u64,
    /// Operations failed.
    pub failed: u64,
    /// Operations not attempted.
    pub skipped: u64,
    /// Operations whose outcome is unknown (the run died mid-call).
    pub unknown: u64,
}

/// A time range and an optional target, for the report queries. Bounds are instants; `since` is
/// inclusive, `until` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// From this instant on (everything when `None`).
    pub since: Option<DateTime<Utc>>,
    /// Before this instant (everything when `None`).
    pub until: Option<DateTime<Utc>>,
    /// Only this target (every target when `None`).
    pub target_name: Option<String>,
}

impl Window {
    // Open bounds are written as instants in the stored format, never as sentinels like "" or
    // "~": PostgreSQL compares these TEXT columns under the database's collation, which orders
    // punctuation differently from digits, while equal-format instants compare the same under any.
    pub(super) fn since_text(&self) -> String {
        self.since
            .map(fmt_time)
            .unwrap_or_else(|| "0000-01-01T00:00:00.000000Z".to_owned())
    }

    pub(super) fn until_text(&self) -> String {
        self.until
            .map(fmt_time)
            .unwrap_or_else(|| "9999-12-31T23:59:59.999999Z".to_owned())
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
    /// What started it, where and as whom.
    pub origin: RunOrigin,
    /// The future starts and terminations the run's source read found (JSON, written by
    /// `report::upcoming`); `None` when the run read no source.
    pub upcoming_json: Option<String>,
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
    /// What started it; `None` for runs recorded before idbridge kept it.
    pub origin: Option<RunOrigin>,
    /// SCIM requests made; `None` until recorded (and for older runs).
    pub scim: Option<ScimCounts>,
    /// The journal's outcome when the run ended; `None` while it runs.
    pub journal: Option<JournalCounts>,
    /// Future starts and terminations found by its source read (JSON), until pruned.
    pub upcoming_json: Option<String>,
    /// When its journal was pruned.
    pub pruned_at: Option<DateTime<Utc>>,
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
        "id, kind, target_name, started_at, finished_at, status, plan_sha256, summary_json, \
         run_trigger, host, os_user, scim_requests, scim_retries, scim_throttled, ops_done, \
         ops_failed, ops_skipped, ops_unknown, upcoming_json, pruned_at"
    };
}

impl Store {
    /// Record the start of a run (status `running`) and return its id.
    pub async fn start_run(&self, run: &NewRun) -> Result<RunId> {
        const OP: &str = "record the start of a run";
        let row = sqlx::query(
            "INSERT INTO runs (kind, target_name, started_at, status, plan_sha256, run_trigger, \
             host, os_user, upcoming_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(&run.kind)
        .bind(&run.target_name)
        .bind(fmt_time(run.started_at))
        .bind(<&str>::from(RunStatus::Running))
        .bind(run.plan_sha256.as_deref())
        .bind(<&str>::from(run.origin.trigger))
        .bind(&run.origin.host)
        .bind(&run.origin.os_user)
        .bind(run.upcoming_json.as_deref())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.query_err(OP, "runs", &e))?;
        Ok(RunId(self.get(&row, "runs", "id")?))
    }

    /// Record how a run ended, with its journal counted by outcome (kept in the run row, so they
    /// survive pruning). Finishing a run twice overwrites the first outcome (last write wins), so
    /// an error path that finishes again after a partial finish is harmless.
    pub async fn finish_run(
        &self,
        id: RunId,
        finished_at: DateTime<Utc>,
        status: RunStatus,
        summary_json: &str,
    ) -> Result<()> {
        const OP: &str = "record the end of a run";
        let done = sqlx::query(
            "UPDATE runs SET finished_at = $1, status = $2, summary_json = $3, \
             ops_done = (SELECT COUNT(*) FROM operations o WHERE o.run_id = $4 AND o.status = 'done'), \
             ops_failed = (SELECT COUNT(*) FROM operations o WHERE o.run_id = $4 AND o.status = 'failed'), \
             ops_skipped = (SELECT COUNT(*) FROM operations o WHERE o.run_id = $4 AND o.status = 'skipped'), \
             ops_unknown = (SELECT COUNT(*) FROM operations o WHERE o.run_id = $4 AND o.status = 'unknown') \
             WHERE id = $4",
        )
        .bind(fmt_time(finished_at))
        .bind(<&str>::from(status))
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

    /// Record the SCIM requests a run's command made (see [`ScimCounts`]).
    pub async fn record_scim_counts(&self, id: RunId, counts: ScimCounts) -> Result<()> {
        const OP: &str = "record a run's SCIM requests";
        let done = sqlx::query(
            "UPDATE runs SET scim_requests = $1, scim_retries = $2, scim_throttled = $3 \
             WHERE id = $4",
        )
        .bind(count_i64(counts.requests))
        .bind(count_i64(counts.retries))
        .bind(count_i64(counts.throttled))
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

    /// Close out the runs of the lock's target that are still `running`. Holding the run lock
    /// proves they are dead: every live run holds it. Each becomes `aborted` (finished now, with a
    /// summary of its journal) and its `pending` journal entries become `unknown`, one transaction
    /// per run. Returns what was closed, oldest first.
    pub async fn abort_dead_runs(
        &self,
        lock: &RunLock,
        at: DateTime<Utc>,
    ) -> Result<Vec<AbortedRun>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE target_name = $1 AND status = $2 ORDER BY id"
        ))
        .bind(lock.target_name())
        .bind(<&str>::from(RunStatus::Running))
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
        .bind(<&str>::from(OperationStatus::Unknown))
        .bind(&at)
        .bind(run.id.0)
        .bind(<&str>::from(OperationStatus::Pending))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.query_err(OP, "operations", &e))?;
        sqlx::query(
            "UPDATE runs SET status = $1, finished_at = $2, summary_json = $3, ops_done = $6, \
             ops_failed = $7, ops_skipped = $8, ops_unknown = $9 \
             WHERE id = $4 AND status = $5",
        )
        .bind(<&str>::from(RunStatus::Aborted))
        .bind(&at)
        .bind(&summary)
        .bind(run.id.0)
        .bind(<&str>::from(RunStatus::Running))
        .bind(count_i64(aborted.done))
        .bind(count_i64(aborted.failed))
        .bind(count_i64(aborted.skipped))
        .bind(count_i64(aborted.unknown.len()))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(aborted)
    }
}

impl StoreRead {
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

    /// Runs started within `window`, newest first, at most `limit`.
    pub async fn runs_in(&self, window: &Window, limit: u32) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE started_at >= $1 AND started_at < $2 \
              AND ($3 = '' OR target_name = $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(window.since_text())
        .bind(window.until_text())
        .bind(window.target_name.as_deref().unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list runs", "runs", &e))?;
        rows.iter().map(|row| self.run_from_row(row)).collect()
    }

    /// For each target (or only `target_name`), its latest run that recorded the future starts
    /// and terminations of its source read; oldest target name first.
    pub async fn latest_upcoming(&self, target_name: Option<&str>) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id IN (SELECT MAX(id) FROM runs WHERE upcoming_json IS NOT NULL \
              AND ($1 = '' OR target_name = $1) GROUP BY target_name) ORDER BY target_name, id"
        ))
        .bind(target_name.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("find the latest upcoming events", "runs", &e))?;
        rows.iter().map(|row| self.run_from_row(row)).collect()
    }

    /// The targets that have runs in this store, sorted.
    pub async fn run_targets(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT target_name FROM runs ORDER BY target_name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.query_err("list the targets", "runs", &e))?;
        rows.iter()
            .map(|row| self.get(row, "runs", "target_name"))
            .collect()
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

    pub(super) fn run_from_row(&self, row: &AnyRow) -> Result<RunRecord> {
        const T: &str = "runs";
        Ok(RunRecord {
            id: RunId(self.get(row, T, "id")?),
            kind: self.get(row, T, "kind")?,
            target_name: self.get(row, T, "target_name")?,
            started_at: self.get_time(row, T, "started_at")?,
            finished_at: self.get_opt_time(row, T, "finished_at")?,
            status: self.get_enum(row, T, "status")?,
            plan_sha256: self.get(row, T, "plan_sha256")?,
            summary_json: self.get(row, T, "summary_json")?,
            origin: self.origin_from_row(row)?,
            scim: self.scim_from_row(row)?,
            journal: self.journal_from_row(row)?,
            upcoming_json: self.get(row, T, "upcoming_json")?,
            pruned_at: self.get_opt_time(row, T, "pruned_at")?,
        })
    }

    fn origin_from_row(&self, row: &AnyRow) -> Result<Option<RunOrigin>> {
        const T: &str = "runs";
        let trigger: Option<String> = self.get(row, T, "run_trigger")?;
        let Some(trigger) = trigger else {
            return Ok(None);
        };
        let parsed = self.parse_enum(&trigger, T, "run_trigger")?;
        let host: Option<String> = self.get(row, T, "host")?;
        let os_user: Option<String> = self.get(row, T, "os_user")?;
        Ok(Some(RunOrigin {
            trigger: parsed,
            host: host.unwrap_or_default(),
            os_user: os_user.unwrap_or_default(),
        }))
    }

    fn scim_from_row(&self, row: &AnyRow) -> Result<Option<ScimCounts>> {
        let Some(requests) = self.get_count(row, "scim_requests")? else {
            return Ok(None);
        };
        Ok(Some(ScimCounts {
            requests,
            retries: self.get_count(row, "scim_retries")?.unwrap_or(0),
            throttled: self.get_count(row, "scim_throttled")?.unwrap_or(0),
        }))
    }

    fn journal_from_row(&self, row: &AnyRow) -> Result<Option<JournalCounts>> {
        let Some(done) = self.get_count(row, "ops_done")? else {
            return Ok(None);
        };
        Ok(Some(JournalCounts {
            done,
            failed: self.get_count(row, "ops_failed")?.unwrap_or(0),
            skipped: self.get_count(row, "ops_skipped")?.unwrap_or(0),
            unknown: self.get_count(row, "ops_unknown")?.unwrap_or(0),
        }))
    }

    /// A nullable, non-negative count column of `runs`.
    fn get_count(&self, row: &AnyRow, column: &'static str) -> Result<Option<u64>> {
        let value: Option<i64> = self.get(row, "runs", column)?;
        value
            .map(|n| {
                u64::try_from(n).map_err(|_| {
                    self.corrupt("runs", column, &n.to_string(), "a negative count".into())
                })
            })
            .transpose()
    }
}

/// A count as stored (`BIGINT`/`INTEGER`); counts never reach `i64::MAX`.
pub(super) fn count_i64(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
