//! Write outcomes: what idbridge learnt from its own patches, per target, SCIM id, attribute and
//! value sent. A patch the target refused on its own is kept with the target's reason; a patch it
//! took is kept with the value it showed right after. The planner reads them (through
//! [`StoreRead::write_outcomes`]) so that a write the target will not take is not sent again run
//! after run (docs/plan-format.md, `write-refused` and `attribute-not-converging`).

use super::{fmt_time, Result, RunId, Store, StoreRead};
use crate::model::ScimId;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How a patch of one attribute ended. Stored as `refused`, `applied`.
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
pub enum WriteOutcome {
    /// The target refused the patch on its own (the token still worked).
    Refused,
    /// The target took the patch.
    Applied,
}

/// What the last patch of one attribute of one user asked for, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteRecord {
    /// The target's configured name.
    pub target_name: String,
    /// The patched user.
    pub scim_id: ScimId,
    /// The attribute's SCIM path (`title`, `name.givenName`).
    pub attr: String,
    /// The value sent, as the target profile normalised it; `None` for a removal.
    pub sent: Option<String>,
    /// Refused or applied.
    pub outcome: WriteOutcome,
    /// Applied: the value the target showed right after the patch (`None`: it showed none).
    pub read_back: Option<String>,
    /// Refused: the target's reason, as the SCIM client reported it (token-free).
    pub reason: Option<String>,
    /// Refused: the HTTP status of the refusal.
    pub http_status: Option<u16>,
    /// The userName the patch was for.
    pub user_name: String,
    /// The source key of the person (`hr:E1`), when known.
    pub source_key: Option<String>,
    /// The run that sent the patch.
    pub run_id: Option<RunId>,
    /// When the outcome was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl Store {
    /// Record how the last patch of `record.attr` ended, replacing what was recorded for that
    /// attribute of that user before (whatever value it sent).
    pub async fn record_write(&self, record: &WriteRecord) -> Result<()> {
        const T: &str = "write_outcomes";
        let err = |e: &sqlx::Error| self.query_err("record a write outcome", T, e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        self.record_write_in(&mut tx, record).await?;
        tx.commit().await.map_err(|e| err(&e))
    }

    /// [`Store::record_write`]'s statements on `conn`, inside the caller's transaction.
    pub(super) async fn record_write_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        record: &WriteRecord,
    ) -> Result<()> {
        const T: &str = "write_outcomes";
        let err = |e: &sqlx::Error| self.query_err("record a write outcome", T, e);
        // A write first, so SQLite takes its write lock at once (see `take_over_link`).
        sqlx::query(
            "DELETE FROM write_outcomes WHERE target_name = $1 AND scim_id = $2 AND attr = $3",
        )
        .bind(&record.target_name)
        .bind(&record.scim_id.0)
        .bind(&record.attr)
        .execute(&mut *conn)
        .await
        .map_err(|e| err(&e))?;
        sqlx::query(
            "INSERT INTO write_outcomes (target_name, scim_id, attr, sent, outcome, read_back, \
             reason, http_status, user_name, source_key, run_id, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&record.target_name)
        .bind(&record.scim_id.0)
        .bind(&record.attr)
        .bind(record.sent.clone().unwrap_or_default())
        .bind(<&str>::from(record.outcome))
        .bind(record.read_back.clone())
        .bind(record.reason.clone())
        .bind(record.http_status.map(i64::from))
        .bind(&record.user_name)
        .bind(record.source_key.clone())
        .bind(record.run_id.map(|r| r.0))
        .bind(fmt_time(record.recorded_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| err(&e))?;
        Ok(())
    }
}

impl StoreRead {
    /// Every recorded write outcome on this target, by SCIM id and attribute.
    pub async fn write_outcomes(&self, target_name: &str) -> Result<Vec<WriteRecord>> {
        const T: &str = "write_outcomes";
        let rows = sqlx::query(
            "SELECT target_name, scim_id, attr, sent, outcome, read_back, reason, http_status, \
             user_name, source_key, run_id, recorded_at FROM write_outcomes \
             WHERE target_name = $1 ORDER BY scim_id, attr",
        )
        .bind(target_name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list write outcomes", T, &e))?;
        rows.iter()
            .map(|row| {
                let sent: String = self.get(row, T, "sent")?;
                let status: Option<i64> = self.get(row, T, "http_status")?;
                let run_id: Option<i64> = self.get(row, T, "run_id")?;
                let scim_id: String = self.get(row, T, "scim_id")?;
                Ok(WriteRecord {
                    target_name: self.get(row, T, "target_name")?,
                    scim_id: ScimId(scim_id),
                    attr: self.get(row, T, "attr")?,
                    sent: (!sent.is_empty()).then_some(sent),
                    outcome: self.get_enum(row, T, "outcome")?,
                    read_back: self.get(row, T, "read_back")?,
                    reason: self.get(row, T, "reason")?,
                    http_status: status.and_then(|s| u16::try_from(s).ok()),
                    user_name: self.get(row, T, "user_name")?,
                    source_key: self.get(row, T, "source_key")?,
                    run_id: run_id.map(RunId),
                    recorded_at: self.get_time(row, T, "recorded_at")?,
                })
            })
            .collect()
    }
}
