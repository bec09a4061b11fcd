//! The operation journal: every SCIM write is recorded `pending` before the call and `done`,
//! `failed` or `skipped` after, so a crash or a lost reply leaves a trace the next run can use.
//!
//! Transitions: `pending` → `done` | `failed` | `skipped`, and `failed` → `done` | `failed` |
//! `skipped` (a later look-up may show a "failed" create did happen). `pending` → `unknown` when
//! the run died before recording the outcome (see [`Store::abort_dead_runs`]); `unknown` moves on
//! like `failed`. `done` and `skipped` are final: the journal is history, not a scratch pad.

use super::runs::{RunId, Window};
use super::{fmt_time, Error, Result, Store, StoreRead};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use std::fmt;

/// The id of a journal entry (the `operations.id` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct OperationId(pub i64);

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a journal entry stands. Stored as `pending`, `done`, `failed`, `skipped`, `unknown`.
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
pub enum OperationStatus {
    /// Recorded before the call; no outcome yet (or the process died).
    Pending,
    /// The call succeeded.
    Done,
    /// The call failed (or its reply was lost).
    Failed,
    /// Not attempted, e.g. because an operation it depends on failed.
    Skipped,
    /// Was `pending` when its run died: the call may or may not have reached the target. Never
    /// assumed either way; the next plan decides from a fresh read of the target.
    Unknown,
}

/// An operation about to be attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperation {
    /// The run it belongs to (must exist).
    pub run_id: RunId,
    /// Its position in the plan; [`Store::operations`] returns entries in this order.
    pub seq: i64,
    /// The operation kind, e.g. `create-user`, `patch-group`.
    pub op: String,
    /// The target's configured name.
    pub target_name: String,
    /// The userName (or group displayName) concerned, if any.
    pub user_name: Option<String>,
    /// The SCIM id, when already known.
    pub scim_id: Option<String>,
    /// The source key (`source:id`), if any.
    pub source_key: Option<String>,
    /// Details as JSON text (the planned changes).
    pub detail_json: String,
    /// The source fact behind the operation, as the plan said it.
    pub reason: Option<String>,
    /// The whole operation as the plan held it (JSON, the plan format's operation object).
    pub planned_json: Option<String>,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// A stored journal entry, every column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationRecord {
    /// Its id.
    pub id: OperationId,
    /// The run it belongs to.
    pub run_id: RunId,
    /// Its position in the plan.
    pub seq: i64,
    /// The operation kind.
    pub op: String,
    /// The target's configured name.
    pub target_name: String,
    /// The userName (or group displayName) concerned.
    pub user_name: Option<String>,
    /// The SCIM id: as planned, or as returned by the target when done.
    pub scim_id: Option<String>,
    /// The source key (`source:id`).
    pub source_key: Option<String>,
    /// Details as JSON text.
    pub detail_json: String,
    /// The source fact behind it; `None` for entries journaled before idbridge kept it.
    pub reason: Option<String>,
    /// The operation as planned (JSON); `None` for entries journaled before idbridge kept it.
    pub planned_json: Option<String>,
    /// Where it stands.
    pub status: OperationStatus,
    /// The HTTP status of the target's reply, if there was one.
    pub http_status: Option<u16>,
    /// Why it failed (status `failed`).
    pub error: Option<String>,
    /// Why it was skipped (status `skipped`).
    pub skip_reason: Option<String>,
    /// When it was recorded `pending`.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

/// The columns of `operations` (a macro so `concat!` builds static query texts).
macro_rules! operation_columns {
    () => {
        "id, run_id, seq, op, target_name, user_name, scim_id, source_key, detail_json, status, \
         http_status, error, skip_reason, created_at, updated_at, reason, planned_json"
    };
}

impl Store {
    /// Record an operation as `pending`, before the call is made. The entry is durable when this
    /// returns, power loss included: on a SQLite store in WAL mode its commit is made with
    /// `synchronous = FULL` (which also hardens every earlier commit in the log), whereas
    /// outcomes are group-committed with `NORMAL` (`store::outcomes`). PostgreSQL commits are
    /// durable as the server is configured (`synchronous_commit`, on by default).
    pub async fn journal_pending(&self, entry: &NewOperation) -> Result<OperationId> {
        let ids = self
            .journal_pending_many(std::slice::from_ref(entry))
            .await?;
        ids.into_iter()
            .next()
            .ok_or_else(|| Error::OperationNotFound {
                url: self.redacted_url().to_owned(),
                id: 0,
                wanted: OperationStatus::Pending.into(),
            })
    }

    /// Record several operations as `pending` in one durable commit (as [`Store::journal_pending`]
    /// does one), before any of their calls: apply journals the next few operations of a kind
    /// together, so one fsync covers them. Returns their ids in order.
    pub async fn journal_pending_many(&self, entries: &[NewOperation]) -> Result<Vec<OperationId>> {
        const OP: &str = "record a pending operation";
        let mut ids = Vec::with_capacity(entries.len());
        // Check the runs first: a foreign-key failure would read as a generic driver error.
        let mut runs: Vec<RunId> = entries.iter().map(|e| e.run_id).collect();
        runs.dedup();
        for run in runs {
            if !self.run_exists(run).await? {
                return Err(Error::RunNotFound {
                    url: self.redacted_url().to_owned(),
                    id: run.0,
                    operation: OP,
                });
            }
        }
        if entries.is_empty() {
            return Ok(ids);
        }
        let err = |e: &sqlx::Error| self.query_err(OP, "operations", e);
        let mut conn = self.acquire(OP, "operations").await?;
        if self.wal {
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await
                .map_err(|e| err(&e))?;
        }
        let inserted = self.insert_pending(&mut conn, entries, &mut ids).await;
        if self.wal {
            // Back to the pool's level; a connection left at FULL would only be slower.
            let _ = sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut *conn)
                .await;
        }
        inserted.map(|()| ids)
    }

    /// Insert `entries` as `pending` in one transaction on `conn`, pushing their ids.
    async fn insert_pending(
        &self,
        conn: &mut AnyConnection,
        entries: &[NewOperation],
        ids: &mut Vec<OperationId>,
    ) -> Result<()> {
        let err = |e: &sqlx::Error| self.query_err("record a pending operation", "operations", e);
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(|e| err(&e))?;
        for entry in entries {
            let row = sqlx::query(
                "INSERT INTO operations (run_id, seq, op, target_name, user_name, scim_id, \
                 source_key, detail_json, status, created_at, updated_at, reason, planned_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) RETURNING id",
            )
            .bind(entry.run_id.0)
            .bind(entry.seq)
            .bind(&entry.op)
            .bind(&entry.target_name)
            .bind(entry.user_name.as_deref())
            .bind(entry.scim_id.as_deref())
            .bind(entry.source_key.as_deref())
            .bind(&entry.detail_json)
            .bind(<&str>::from(OperationStatus::Pending))
            .bind(fmt_time(entry.at))
            .bind(entry.reason.as_deref())
            .bind(entry.planned_json.as_deref())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| err(&e))?;
            ids.push(OperationId(self.get(&row, "operations", "id")?));
        }
        tx.commit().await.map_err(|e| err(&e))
    }

    /// Mark an operation `done`. A `scim_id` (e.g. the id a create returned) replaces the planned
    /// one; `None` keeps what was recorded.
    pub async fn journal_done(
        &self,
        id: OperationId,
        scim_id: Option<&str>,
        http_status: Option<u16>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.acquire("mark an operation done", "operations").await?;
        let done = Transition::Done {
            scim_id: scim_id.map(str::to_owned),
            http_status,
        };
        self.transition(&mut conn, id, &done, at).await
    }

    /// Mark an operation `failed`, with the target's HTTP status (if it answered) and why.
    pub async fn journal_failed(
        &self,
        id: OperationId,
        http_status: Option<u16>,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self
            .acquire("mark an operation failed", "operations")
            .await?;
        let failed = Transition::Failed {
            http_status,
            error: error.to_owned(),
        };
        self.transition(&mut conn, id, &failed, at).await
    }

    /// Mark an operation `skipped` (not attempted), with why.
    pub async fn journal_skipped(
        &self,
        id: OperationId,
        why: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self
            .acquire("mark an operation skipped", "operations")
            .await?;
        let skipped = Transition::Skipped {
            why: why.to_owned(),
        };
        self.transition(&mut conn, id, &skipped, at).await
    }

    /// Move entry `id` on as `to` says, on `conn` (a pooled connection, or a group commit's
    /// transaction). Only `pending`, `failed` and `unknown` entries move: `done` and `skipped`
    /// are final, and trying reads as [`Error::OperationFinal`].
    pub(super) async fn transition(
        &self,
        conn: &mut AnyConnection,
        id: OperationId,
        to: &Transition,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let (at, id_value) = (fmt_time(at), id.0);
        let query = match to {
            Transition::Done {
                scim_id,
                http_status,
            } => sqlx::query(
                "UPDATE operations SET status = $1, scim_id = COALESCE($2, scim_id), \
                 http_status = $3, error = NULL, updated_at = $4 \
                 WHERE id = $5 AND status IN ('pending', 'failed', 'unknown')",
            )
            .bind(<&str>::from(OperationStatus::Done))
            .bind(scim_id.clone())
            .bind(http_status.map(i64::from))
            .bind(at)
            .bind(id_value),
            Transition::Failed { http_status, error } => sqlx::query(
                "UPDATE operations SET status = $1, http_status = $2, error = $3, updated_at = $4 \
                 WHERE id = $5 AND status IN ('pending', 'failed', 'unknown')",
            )
            .bind(<&str>::from(OperationStatus::Failed))
            .bind(http_status.map(i64::from))
            .bind(error.clone())
            .bind(at)
            .bind(id_value),
            Transition::Skipped { why } => sqlx::query(
                "UPDATE operations SET status = $1, skip_reason = $2, updated_at = $3 \
                 WHERE id = $4 AND status IN ('pending', 'failed', 'unknown')",
            )
            .bind(<&str>::from(OperationStatus::Skipped))
            .bind(why.clone())
            .bind(at)
            .bind(id_value),
        };
        let result = query
            .execute(&mut *conn)
            .await
            .map_err(|e| self.query_err(to.operation(), "operations", &e))?;
        if result.rows_affected() > 0 {
            return Ok(());
        }
        Err(self.transition_refused(conn, id, to.status()).await)
    }

    /// After a guarded UPDATE changed nothing: say whether the entry is missing or already final.
    async fn transition_refused(
        &self,
        conn: &mut AnyConnection,
        id: OperationId,
        wanted: OperationStatus,
    ) -> Error {
        let row = sqlx::query("SELECT status FROM operations WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| self.query_err("look up an operation", "operations", &e));
        match row {
            Err(e) => e,
            Ok(None) => Error::OperationNotFound {
                url: self.redacted_url().to_owned(),
                id: id.0,
                wanted: wanted.into(),
            },
            Ok(Some(row)) => match self.get(&row, "operations", "status") {
                Ok(status) => Error::OperationFinal {
                    url: self.redacted_url().to_owned(),
                    id: id.0,
                    status,
                    wanted: wanted.into(),
                },
                Err(e) => e,
            },
        }
    }
}

/// How a journal entry ends (the `pending` → outcome step), for [`Store::journal_done`] and its
/// siblings and for a group commit (`store::outcomes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The call succeeded; a `scim_id` (the id a create returned) replaces the planned one.
    Done {
        /// The id the target returned, if any.
        scim_id: Option<String>,
        /// The HTTP status of the reply, if kept.
        http_status: Option<u16>,
    },
    /// The call failed.
    Failed {
        /// The HTTP status of the target's reply, if there was one.
        http_status: Option<u16>,
        /// Why.
        error: String,
    },
    /// Not attempted.
    Skipped {
        /// Why.
        why: String,
    },
}

impl Transition {
    fn status(&self) -> OperationStatus {
        match self {
            Transition::Done { .. } => OperationStatus::Done,
            Transition::Failed { .. } => OperationStatus::Failed,
            Transition::Skipped { .. } => OperationStatus::Skipped,
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            Transition::Done { .. } => "mark an operation done",
            Transition::Failed { .. } => "mark an operation failed",
            Transition::Skipped { .. } => "mark an operation skipped",
        }
    }
}

impl StoreRead {
    /// The journal of one run, in `seq` order (ties in recording order).
    pub async fn operations(&self, run: RunId) -> Result<Vec<OperationRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE run_id = $1 ORDER BY seq, id"
        ))
        .bind(run.0)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list the operations of a run", "operations", &e))?;
        rows.iter()
            .map(|row| self.operation_from_row(row))
            .collect()
    }

    /// Operations marked `done` within `window` (by when they were done), oldest first, at most
    /// `limit`: what changed in the target. Ties (one instant, as under `--now`) go in plan order,
    /// never in the order concurrent calls happened to be journaled.
    pub async fn done_operations(
        &self,
        window: &Window,
        limit: u32,
    ) -> Result<Vec<OperationRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE status = 'done' AND updated_at >= $1 AND updated_at < $2 \
              AND ($3 = '' OR target_name = $3) ORDER BY updated_at, run_id, seq, id LIMIT $4"
        ))
        .bind(window.since_text())
        .bind(window.until_text())
        .bind(window.target_name.as_deref().unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list the changes", "operations", &e))?;
        rows.iter()
            .map(|row| self.operation_from_row(row))
            .collect()
    }

    /// `create-user` / `readd-user` operations on this target left `pending`, `failed` or
    /// `unknown` (a crash or a lost reply), oldest first: the next run uses them to recognise a user it created
    /// itself. Marking such an entry `done` (or `skipped`) once resolved removes it from here.
    pub async fn unfinished_creates(&self, target_name: &str) -> Result<Vec<OperationRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE target_name = $1 \
              AND op IN ('create-user', 'readd-user') \
              AND status IN ('pending', 'failed', 'unknown') ORDER BY id"
        ))
        .bind(target_name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list unfinished creates", "operations", &e))?;
        rows.iter()
            .map(|row| self.operation_from_row(row))
            .collect()
    }

    async fn run_exists(&self, id: RunId) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM runs WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.query_err("look up a run", "runs", &e))?;
        Ok(row.is_some())
    }

    fn operation_from_row(&self, row: &AnyRow) -> Result<OperationRecord> {
        const T: &str = "operations";
        let http_status: Option<i64> = self.get(row, T, "http_status")?;
        let http_status = http_status
            .map(|code| {
                u16::try_from(code).map_err(|_| {
                    self.corrupt(
                        T,
                        "http_status",
                        &code.to_string(),
                        "not an HTTP status".into(),
                    )
                })
            })
            .transpose()?;
        Ok(OperationRecord {
            id: OperationId(self.get(row, T, "id")?),
            run_id: RunId(self.get(row, T, "run_id")?),
            seq: self.get(row, T, "seq")?,
            op: self.get(row, T, "op")?,
            target_name: self.get(row, T, "target_name")?,
            user_name: self.get(row, T, "user_name")?,
            scim_id: self.get(row, T, "scim_id")?,
            source_key: self.get(row, T, "source_key")?,
            detail_json: self.get(row, T, "detail_json")?,
            reason: self.get(row, T, "reason")?,
            planned_json: self.get(row, T, "planned_json")?,
            status: self.get_enum(row, T, "status")?,
            http_status,
            error: self.get(row, T, "error")?,
            skip_reason: self.get(row, T, "skip_reason")?,
            created_at: self.get_time(row, T, "created_at")?,
            updated_at: self.get_time(row, T, "updated_at")?,
        })
    }
}
