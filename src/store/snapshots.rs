//! Snapshots: the last seen attribute hash per source person and target, so later runs can tell
//! what drifted and sync only the delta.

use super::packed::Packed;
use super::{fmt_time, AnyQuery, Result, Store, StoreRead};
use crate::model::SourceKey;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// The last seen attribute hash of one source person on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The target's configured name.
    pub target_name: String,
    /// The source record.
    pub key: SourceKey,
    /// The hash of the person's managed attributes (hex sha256 by convention).
    pub attr_hash: String,
    /// When this hash was seen.
    pub seen_at: DateTime<Utc>,
}

impl Store {
    /// Remember `attr_hash` as the last seen hash for `key` on this target (replacing any older one).
    pub async fn put_snapshot(
        &self,
        target_name: &str,
        key: &SourceKey,
        attr_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        const OP: &str = "save a snapshot";
        upsert_query(target_name, key, attr_hash, at)
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_err(OP, "snapshots", &e))?;
        Ok(())
    }

    /// Keep the snapshots of this target in step with `current` (each person's key and hash),
    /// writing only the rows whose hash changed or that are new, all in one transaction, and
    /// return how many were written. A person whose attributes did not change costs no write, so
    /// a sync that changed nothing writes no snapshot at all; `seen_at` is therefore when the
    /// hash was first seen as it is. People not in `current` keep their last snapshot.
    pub async fn save_snapshots(
        &self,
        target_name: &str,
        current: &[(SourceKey, String)],
        at: DateTime<Utc>,
    ) -> Result<usize> {
        const OP: &str = "save snapshots";
        let known = self.snapshot_hashes(target_name).await?;
        let changed: Vec<&(SourceKey, String)> = current
            .iter()
            .filter(|(key, hash)| known.get(key) != Some(hash))
            .collect();
        if changed.is_empty() {
            return Ok(0);
        }
        let err = |e: &sqlx::Error| self.query_err(OP, "snapshots", e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        for (key, hash) in &changed {
            upsert_query(target_name, key, hash, at)
                .execute(&mut *tx)
                .await
                .map_err(|e| err(&e))?;
        }
        tx.commit().await.map_err(|e| err(&e))?;
        Ok(changed.len())
    }
}

/// Insert or replace the snapshot of `key` on `target_name`.
fn upsert_query<'q>(
    target_name: &'q str,
    key: &'q SourceKey,
    attr_hash: &'q str,
    at: DateTime<Utc>,
) -> AnyQuery<'q> {
    sqlx::query(
        "INSERT INTO snapshots (target_name, source, source_id, attr_hash, seen_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (target_name, source, source_id) DO UPDATE SET \
         attr_hash = excluded.attr_hash, seen_at = excluded.seen_at",
    )
    .bind(target_name)
    .bind(&key.source)
    .bind(&key.id)
    .bind(attr_hash)
    .bind(fmt_time(at))
}

impl StoreRead {
    /// Each person's last seen hash on this target: only the columns compared, packed by the
    /// database ([`Packed`]), since every sync compares every person.
    async fn snapshot_hashes(&self, target_name: &str) -> Result<HashMap<SourceKey, String>> {
        let spec = Packed {
            table: "snapshots",
            operation: "list snapshots",
            key: &["source", "source_id"],
            columns: &["attr_hash"],
        };
        let mut known = HashMap::new();
        self.each_packed(&spec, target_name, |row| {
            let mut row = row.into_iter();
            let mut next = || row.next().unwrap_or_default();
            known.insert(SourceKey::new(next(), next()), next());
            Ok(())
        })
        .await?;
        Ok(known)
    }

    /// Every snapshot on this target, by source key.
    pub async fn snapshots(&self, target_name: &str) -> Result<Vec<Snapshot>> {
        const T: &str = "snapshots";
        let rows = sqlx::query(
            "SELECT target_name, source, source_id, attr_hash, seen_at FROM snapshots \
             WHERE target_name = $1 ORDER BY source, source_id",
        )
        .bind(target_name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list snapshots", T, &e))?;
        rows.iter()
            .map(|row| {
                Ok(Snapshot {
                    target_name: self.get(row, T, "target_name")?,
                    key: self.source_key(row, T)?,
                    attr_hash: self.get(row, T, "attr_hash")?,
                    seen_at: self.get_time(row, T, "seen_at")?,
                })
            })
            .collect()
    }
}
