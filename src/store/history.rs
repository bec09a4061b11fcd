//! Link history: every change of a link (key, SCIM id, userName, state), kept with the link
//! before it, the run that changed it and why, so a rehire with a new email or a re-keyed HR
//! export can be traced back later (docs/reports.md, "Link history"). `links` holds only the
//! current row; the writes here change it and append the history row in one transaction, so the
//! two never disagree.

use super::links::{upsert_query, Link, LinkKind, LinkState};
use super::{fmt_time, Error, Result, RunId, Store, StoreRead};
use crate::model::{ScimId, SourceKey};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// Why a link changed and in which run: what its history row cites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChange {
    /// The plan operation kind that changed it (`readd-user`), or `confirm`.
    pub cause: String,
    /// The run, when a run changed it.
    pub run_id: Option<RunId>,
}

impl LinkChange {
    /// A change by operation (or command) `cause` in run `run_id`.
    pub fn new(cause: impl Into<String>, run_id: Option<RunId>) -> Self {
        Self {
            cause: cause.into(),
            run_id,
        }
    }
}

/// A link's side of a history row: what it was before or after one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkSide {
    /// The SCIM id.
    pub scim_id: ScimId,
    /// The userName (or group displayName).
    pub user_name: String,
    /// Active or deactivated.
    pub state: LinkState,
}

/// One change of one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkHistoryEntry {
    /// The target's configured name.
    pub target_name: String,
    /// User or group.
    pub kind: LinkKind,
    /// The key the link is under after the change.
    pub key: SourceKey,
    /// The plan operation kind (`create-user`, `readd-user`, …), `confirm`, or `baseline` (the
    /// link as it stood when the history began).
    pub cause: String,
    /// The link after the change; `None` when it was removed.
    pub after: Option<LinkSide>,
    /// The link before the change; `None` for a new link.
    pub before: Option<LinkSide>,
    /// The key the SCIM id was linked under before, when it moved here from another key.
    pub previous_key: Option<SourceKey>,
    /// The run that changed it.
    pub run_id: Option<RunId>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// A row about to be appended.
struct Row<'a> {
    link: &'a Link,
    before: Option<LinkSide>,
    previous_key: Option<&'a SourceKey>,
    change: &'a LinkChange,
}

impl Store {
    /// Record `link` after its SCIM write succeeded (the store follows the target and cannot
    /// refuse): another key holding the same SCIM id is moved off it, and the change is appended
    /// to the link history when anything changed. Returns the displaced key.
    pub async fn save_link(&self, link: &Link, change: &LinkChange) -> Result<Option<SourceKey>> {
        let err = |e: &sqlx::Error| self.query_err("save a link", "links", e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        let displaced = self.save_link_in(&mut tx, link, change).await?;
        tx.commit().await.map_err(|e| err(&e))?;
        Ok(displaced)
    }

    /// [`Store::save_link`] inside the caller's transaction (apply's group commit).
    pub(super) async fn save_link_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        link: &Link,
        change: &LinkChange,
    ) -> Result<Option<SourceKey>> {
        let err = |e: &sqlx::Error| self.query_err("save a link", "links", e);
        // A write first, so SQLite takes its write lock at once (see `take_over_link`).
        let displaced = self.displace(tx, link).await?;
        let before = self
            .side(tx, &link.target_name, link.kind, &link.key)
            .await?;
        upsert_query(link)
            .execute(&mut **tx)
            .await
            .map_err(|e| err(&e))?;
        let changed = before.as_ref().is_none_or(|b| {
            b.scim_id != link.scim_id || b.user_name != link.user_name || b.state != link.state
        });
        if changed || displaced.is_some() {
            let previous_key = displaced.as_ref();
            let row = Row {
                link,
                before,
                previous_key,
                change,
            };
            self.append(tx, &row).await?;
        }
        Ok(displaced)
    }

    /// Change the userName (or displayName) of `key`'s link, if it has one, and record it; inside
    /// the caller's transaction (apply's group commit).
    pub(super) async fn rename_link_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        link: (&str, LinkKind, &SourceKey),
        user_name: &str,
        at: DateTime<Utc>,
        change: &LinkChange,
    ) -> Result<()> {
        let (target_name, kind, key) = link;
        if let Some(mut row) = self.current(tx, target_name, kind, key).await? {
            row.user_name = user_name.to_owned();
            row.updated_at = at;
            self.save_link_in(tx, &row, change).await?;
        }
        Ok(())
    }

    /// Change the state of an existing link and record it; [`Error::LinkNotFound`] when there is
    /// none.
    pub async fn set_link_state_logged(
        &self,
        link: (&str, LinkKind, &SourceKey),
        state: LinkState,
        at: DateTime<Utc>,
        change: &LinkChange,
    ) -> Result<()> {
        let err = |e: &sqlx::Error| self.query_err("change the state of a link", "links", e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        self.set_link_state_in(&mut tx, link, state, at, change)
            .await?;
        tx.commit().await.map_err(|e| err(&e))
    }

    /// [`Store::set_link_state_logged`] inside the caller's transaction (apply's group commit).
    pub(super) async fn set_link_state_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        link: (&str, LinkKind, &SourceKey),
        state: LinkState,
        at: DateTime<Utc>,
        change: &LinkChange,
    ) -> Result<()> {
        const OP: &str = "change the state of a link";
        let (target_name, kind, key) = link;
        let err = |e: &sqlx::Error| self.query_err(OP, "links", e);
        // A write first, so SQLite takes its write lock at once (see `take_over_link`).
        sqlx::query(
            "UPDATE links SET updated_at = updated_at \
             WHERE target_name = $1 AND kind = $2 AND source = $3 AND source_id = $4",
        )
        .bind(target_name)
        .bind(<&str>::from(kind))
        .bind(&key.source)
        .bind(&key.id)
        .execute(&mut **tx)
        .await
        .map_err(|e| err(&e))?;
        let Some(row) = self.current(tx, target_name, kind, key).await? else {
            return Err(Error::LinkNotFound {
                url: self.redacted_url().to_owned(),
                target_name: target_name.to_owned(),
                kind: kind.into(),
                key: key.to_string(),
                operation: OP,
            });
        };
        let before = LinkSide {
            scim_id: row.scim_id.clone(),
            user_name: row.user_name.clone(),
            state: row.state,
        };
        let link = Link {
            state,
            updated_at: at,
            ..row
        };
        upsert_query(&link)
            .execute(&mut **tx)
            .await
            .map_err(|e| err(&e))?;
        if before.state != state {
            let row = Row {
                link: &link,
                before: Some(before),
                previous_key: None,
                change,
            };
            self.append(tx, &row).await?;
        }
        Ok(())
    }

    /// Move the link of `from` to `link.key` (same SCIM id), recorded with `change`: what a
    /// confirmed return under a new key does before any SCIM write.
    pub(super) async fn move_link_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        from: &SourceKey,
        link: &Link,
        change: &LinkChange,
    ) -> Result<()> {
        let err = |e: &sqlx::Error| self.query_err("move a link", "links", e);
        let old = self.current(tx, &link.target_name, link.kind, from).await?;
        // The moved link keeps how it first came to be and where it stands.
        let link = &Link {
            origin: old.as_ref().map_or(link.origin, |o| o.origin),
            state: old.as_ref().map_or(link.state, |o| o.state),
            ..link.clone()
        };
        let before = old.map(|l| LinkSide {
            scim_id: l.scim_id,
            user_name: l.user_name,
            state: l.state,
        });
        sqlx::query(
            "DELETE FROM links WHERE target_name = $1 AND kind = $2 AND source = $3 AND source_id = $4",
        )
        .bind(&link.target_name)
        .bind(<&str>::from(link.kind))
        .bind(&from.source)
        .bind(&from.id)
        .execute(&mut **tx)
        .await
        .map_err(|e| err(&e))?;
        upsert_query(link)
            .execute(&mut **tx)
            .await
            .map_err(|e| err(&e))?;
        let row = Row {
            link,
            before,
            previous_key: Some(from),
            change,
        };
        self.append(tx, &row).await
    }

    /// Remove the link holding `link.scim_id` under another key; that key is returned.
    async fn displace(
        &self,
        tx: &mut Transaction<'static, Any>,
        link: &Link,
    ) -> Result<Option<SourceKey>> {
        let holder = sqlx::query(
            "DELETE FROM links WHERE target_name = $1 AND kind = $2 AND scim_id = $3 \
             AND NOT (source = $4 AND source_id = $5) RETURNING source, source_id",
        )
        .bind(&link.target_name)
        .bind(<&str>::from(link.kind))
        .bind(&link.scim_id.0)
        .bind(&link.key.source)
        .bind(&link.key.id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| self.query_err("save a link", "links", &e))?;
        match holder {
            Some(row) => Ok(Some(SourceKey::new(
                self.get::<String>(&row, "links", "source")?,
                self.get::<String>(&row, "links", "source_id")?,
            ))),
            None => Ok(None),
        }
    }

    /// The current link of `key`, inside `tx`; `None` when it has none.
    async fn current(
        &self,
        tx: &mut Transaction<'static, Any>,
        target_name: &str,
        kind: LinkKind,
        key: &SourceKey,
    ) -> Result<Option<Link>> {
        let row = sqlx::query(
            "SELECT target_name, kind, source, source_id, scim_id, user_name, state, origin, \
             updated_at FROM links \
             WHERE target_name = $1 AND kind = $2 AND source = $3 AND source_id = $4",
        )
        .bind(target_name)
        .bind(<&str>::from(kind))
        .bind(&key.source)
        .bind(&key.id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| self.query_err("read a link", "links", &e))?;
        row.map(|row| self.link_from_row(&row)).transpose()
    }

    /// What `key`'s link is now, inside `tx`; `None` when it has none.
    async fn side(
        &self,
        tx: &mut Transaction<'static, Any>,
        target_name: &str,
        kind: LinkKind,
        key: &SourceKey,
    ) -> Result<Option<LinkSide>> {
        let link = self.current(tx, target_name, kind, key).await?;
        Ok(link.map(|l| LinkSide {
            scim_id: l.scim_id,
            user_name: l.user_name,
            state: l.state,
        }))
    }

    async fn append(&self, tx: &mut Transaction<'static, Any>, row: &Row<'_>) -> Result<()> {
        let (link, before) = (row.link, row.before.as_ref());
        sqlx::query(
            "INSERT INTO link_history (target_name, kind, source, source_id, cause, scim_id, \
             user_name, state, previous_key, previous_scim_id, previous_user_name, previous_state, \
             run_id, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&link.target_name)
        .bind(<&str>::from(link.kind))
        .bind(&link.key.source)
        .bind(&link.key.id)
        .bind(&row.change.cause)
        .bind(&link.scim_id.0)
        .bind(&link.user_name)
        .bind(<&str>::from(link.state))
        .bind(row.previous_key.map(ToString::to_string))
        .bind(before.map(|b| b.scim_id.0.clone()))
        .bind(before.map(|b| b.user_name.clone()))
        .bind(before.map(|b| <&str>::from(b.state)))
        .bind(row.change.run_id.map(|r| r.0))
        .bind(fmt_time(link.updated_at))
        .execute(&mut **tx)
        .await
        .map_err(|e| self.query_err("record a link change", "link_history", &e))?;
        Ok(())
    }
}

impl StoreRead {
    /// Every recorded change of the links of `kind` on this target, oldest first.
    pub async fn link_history(
        &self,
        target_name: &str,
        kind: LinkKind,
    ) -> Result<Vec<LinkHistoryEntry>> {
        let rows = sqlx::query(
            "SELECT target_name, kind, source, source_id, cause, scim_id, user_name, state, \
             previous_key, previous_scim_id, previous_user_name, previous_state, run_id, changed_at \
             FROM link_history WHERE target_name = $1 AND kind = $2 ORDER BY id",
        )
        .bind(target_name)
        .bind(<&str>::from(kind))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list link history", "link_history", &e))?;
        rows.iter().map(|row| self.history_from_row(row)).collect()
    }

    fn history_from_row(&self, row: &AnyRow) -> Result<LinkHistoryEntry> {
        const T: &str = "link_history";
        let side = |id: &'static str, name: &'static str, state: &'static str| {
            let scim_id: Option<String> = self.get(row, T, id)?;
            let user_name: Option<String> = self.get(row, T, name)?;
            let state: Option<String> = self.get(row, T, state)?;
            match (scim_id, user_name, state) {
                (Some(scim_id), Some(user_name), Some(state)) => Ok(Some(LinkSide {
                    scim_id: ScimId(scim_id),
                    user_name,
                    state: self.parse_enum(&state, T, "state")?,
                })),
                _ => Ok::<_, Error>(None),
            }
        };
        let previous_key: Option<String> = self.get(row, T, "previous_key")?;
        let run_id: Option<i64> = self.get(row, T, "run_id")?;
        let source: String = self.get(row, T, "source")?;
        let source_id: String = self.get(row, T, "source_id")?;
        Ok(LinkHistoryEntry {
            target_name: self.get(row, T, "target_name")?,
            kind: self.get_enum(row, T, "kind")?,
            key: SourceKey::new(source, source_id),
            cause: self.get(row, T, "cause")?,
            after: side("scim_id", "user_name", "state")?,
            before: side("previous_scim_id", "previous_user_name", "previous_state")?,
            previous_key: previous_key.as_deref().and_then(SourceKey::parse),
            run_id: run_id.map(RunId),
            changed_at: self.get_time(row, T, "changed_at")?,
        })
    }
}
