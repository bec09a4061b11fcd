//! Absences: the managed people a counted run found missing from the sources (or out of scope),
//! per target, with when the first counted run missed them and how many have since. The planner
//! reads them to apply `[policy] absence_grace` (docs/lifecycle.md); only an applying run whose
//! plan counted replaces them, with exactly that plan's absence section.

use super::{fmt_time, Result, Store, StoreRead};
use crate::model::{ScimId, SourceKey};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One person's absence on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AbsenceRecord {
    /// The person's source key (the link's).
    pub key: SourceKey,
    /// The linked target user.
    pub scim_id: ScimId,
    /// Their userName, for reports.
    pub user_name: String,
    /// When the first counted run missed them.
    pub since: DateTime<Utc>,
    /// How many consecutive counted runs have missed them.
    pub runs: u32,
    /// Why they count as gone (absent from every source, or the scope rule they no longer match).
    pub reason: String,
}

impl Store {
    /// Replace `target_name`'s absences with `records`, in one transaction: a person missing
    /// from the list is back (or was deactivated) and loses their row.
    pub async fn replace_absences(
        &self,
        target_name: &str,
        records: &[AbsenceRecord],
        at: DateTime<Utc>,
    ) -> Result<()> {
        const T: &str = "absences";
        let err = |e: &sqlx::Error| self.query_err("record absences", T, e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        // A write first, so SQLite takes its write lock at once (see `take_over_link`).
        sqlx::query("DELETE FROM absences WHERE target_name = $1")
            .bind(target_name)
            .execute(&mut *tx)
            .await
            .map_err(|e| err(&e))?;
        for r in records {
            sqlx::query(
                "INSERT INTO absences (target_name, source, source_id, scim_id, user_name, since, \
                 runs, reason, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(target_name)
            .bind(&r.key.source)
            .bind(&r.key.id)
            .bind(&r.scim_id.0)
            .bind(&r.user_name)
            .bind(fmt_time(r.since))
            .bind(i64::from(r.runs))
            .bind(&r.reason)
            .bind(fmt_time(at))
            .execute(&mut *tx)
            .await
            .map_err(|e| err(&e))?;
        }
        tx.commit().await.map_err(|e| err(&e))
    }
}

impl StoreRead {
    /// Every recorded absence on this target, by source key.
    pub async fn absences(&self, target_name: &str) -> Result<Vec<AbsenceRecord>> {
        const T: &str = "absences";
        let rows = sqlx::query(
            "SELECT source, source_id, scim_id, user_name, since, runs, reason FROM absences \
             WHERE target_name = $1 ORDER BY source, source_id",
        )
        .bind(target_name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list absences", T, &e))?;
        rows.iter()
            .map(|row| {
                let runs: i64 = self.get(row, T, "runs")?;
                let scim_id: String = self.get(row, T, "scim_id")?;
                Ok(AbsenceRecord {
                    key: SourceKey::new(
                        self.get::<String>(row, T, "source")?,
                        self.get::<String>(row, T, "source_id")?,
                    ),
                    scim_id: ScimId(scim_id),
                    user_name: self.get(row, T, "user_name")?,
                    since: self.get_time(row, T, "since")?,
                    runs: u32::try_from(runs).unwrap_or(u32::MAX),
                    reason: self.get(row, T, "reason")?,
                })
            })
            .collect()
    }
}
