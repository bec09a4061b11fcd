//! Links: which SCIM resource a source person (or group) is, per target.
//!
//! A link is keyed by (target name, kind, source, source id), so two workspaces can share a store.
//! A SCIM id belongs to at most one key per (target name, kind); the database enforces it with a
//! unique constraint and [`Store::upsert_link`] turns a violation into [`Error::ScimIdTaken`].

use super::packed::Packed;
use super::{fmt_time, AnyQuery, Error, Result, ScimIdConflict, Store, StoreRead};
use crate::model::{ScimId, SourceKey};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

/// What a link points at. Stored as `user`, `group`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum LinkKind {
    /// A SCIM user.
    User,
    /// A SCIM group.
    Group,
}

/// Whether the linked SCIM resource is in use. Stored as `active`, `deactivated`.
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
pub enum LinkState {
    /// Active in the target.
    Active,
    /// Deactivated by idbridge (kept so a returning person gets the same account back).
    Deactivated,
}

/// How a link came to be. Stored as `created`, `adopted`, `recovered`.
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
pub enum LinkOrigin {
    /// idbridge created the SCIM resource.
    Created,
    /// An existing target resource was adopted (`link-user`).
    Adopted,
    /// Found again after a create whose reply was lost.
    Recovered,
}

/// A source person (or group) linked to a SCIM resource on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The target's configured name.
    pub target_name: String,
    /// User or group.
    pub kind: LinkKind,
    /// The source record.
    pub key: SourceKey,
    /// The SCIM id.
    pub scim_id: ScimId,
    /// The userName (or the group's displayName) last written.
    pub user_name: String,
    /// Active or deactivated.
    pub state: LinkState,
    /// How the link came to be.
    pub origin: LinkOrigin,
    /// When the link last changed.
    pub updated_at: DateTime<Utc>,
}

/// Insert a link or update every other field of the link with the same (target, kind, key).
pub(super) fn upsert_query(
    link: &Link,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "INSERT INTO links (target_name, kind, source, source_id, scim_id, user_name, state, \
         origin, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (target_name, kind, source, source_id) DO UPDATE SET \
         scim_id = excluded.scim_id, user_name = excluded.user_name, state = excluded.state, \
         origin = excluded.origin, updated_at = excluded.updated_at",
    )
    .bind(link.target_name.clone())
    .bind(<&str>::from(link.kind))
    .bind(link.key.source.clone())
    .bind(link.key.id.clone())
    .bind(link.scim_id.0.clone())
    .bind(link.user_name.clone())
    .bind(<&str>::from(link.state))
    .bind(<&str>::from(link.origin))
    .bind(fmt_time(link.updated_at))
}

/// Set the state of the link of (target, kind, key), if there is one.
pub(super) fn state_query<'q>(
    target_name: &'q str,
    kind: LinkKind,
    key: &'q SourceKey,
    state: LinkState,
    at: DateTime<Utc>,
) -> AnyQuery<'q> {
    sqlx::query(
        "UPDATE links SET state = $1, updated_at = $2 \
         WHERE target_name = $3 AND kind = $4 AND source = $5 AND source_id = $6",
    )
    .bind(<&str>::from(state))
    .bind(fmt_time(at))
    .bind(target_name)
    .bind(<&str>::from(kind))
    .bind(&key.source)
    .bind(&key.id)
}

/// Remove the link of (target, kind, key), if there is one.
pub(super) fn delete_query<'q>(
    target_name: &'q str,
    kind: LinkKind,
    key: &'q SourceKey,
) -> AnyQuery<'q> {
    sqlx::query(
        "DELETE FROM links \
         WHERE target_name = $1 AND kind = $2 AND source = $3 AND source_id = $4",
    )
    .bind(target_name)
    .bind(<&str>::from(kind))
    .bind(&key.source)
    .bind(&key.id)
}

/// A link as a plan reads it ([`StoreRead::plan_links`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLink {
    /// User or group.
    pub kind: LinkKind,
    /// The source key.
    pub key: SourceKey,
    /// The SCIM id it points at.
    pub scim_id: ScimId,
    /// The `userName` (or group `displayName`) last written.
    pub user_name: String,
    /// Active or deactivated.
    pub state: LinkState,
}

impl StoreRead {
    /// Every link on this target, users then groups, each by source key.
    pub async fn links(&self, target_name: &str) -> Result<Vec<Link>> {
        let rows = sqlx::query(
            "SELECT target_name, kind, source, source_id, scim_id, user_name, state, origin, \
             updated_at FROM links WHERE target_name = $1 ORDER BY kind DESC, source, source_id",
        )
        .bind(target_name);
        let mut links = Vec::new();
        self.each_row(rows, "list links", "links", |row| {
            links.push(self.link_from_row(row)?);
            Ok(())
        })
        .await?;
        Ok(links)
    }

    /// Every link on this target as a plan reads it (users then groups, each by source key):
    /// only the columns the planner uses, since every run reads every link.
    pub async fn plan_links(&self, target_name: &str) -> Result<Vec<PlanLink>> {
        const T: &str = "links";
        let spec = Packed {
            table: T,
            operation: "list links",
            key: &["kind", "source", "source_id"],
            columns: &["scim_id", "user_name", "state"],
        };
        let mut links = Vec::new();
        self.each_packed(&spec, target_name, |row| {
            let mut row = row.into_iter();
            let mut next = || row.next().unwrap_or_default();
            let kind = next();
            links.push(PlanLink {
                kind: self.parse_enum(&kind, T, "kind")?,
                key: SourceKey::new(next(), next()),
                scim_id: ScimId(next()),
                user_name: next(),
                state: self.parse_enum(&next(), T, "state")?,
            });
            Ok(())
        })
        .await?;
        // Read in key order, kind first (`group` before `user`); a plan reads users first. Stable,
        // so each kind stays in key order.
        links.sort_by_key(|l| l.kind != LinkKind::User);
        Ok(links)
    }

    pub(super) fn link_from_row(&self, row: &AnyRow) -> Result<Link> {
        const T: &str = "links";
        Ok(Link {
            target_name: self.get(row, T, "target_name")?,
            kind: self.get_enum(row, T, "kind")?,
            key: self.source_key(row, T)?,
            scim_id: ScimId(self.get(row, T, "scim_id")?),
            user_name: self.get(row, T, "user_name")?,
            state: self.get_enum(row, T, "state")?,
            origin: self.get_enum(row, T, "origin")?,
            updated_at: self.get_time(row, T, "updated_at")?,
        })
    }
}

impl Store {
    /// Insert a link, or update every other field of the link with the same (target name, kind,
    /// key). Fails with [`Error::ScimIdTaken`] when the SCIM id is linked to another key.
    pub async fn upsert_link(&self, link: &Link) -> Result<()> {
        const OP: &str = "save a link";
        let result = upsert_query(link).execute(&self.pool).await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(self.scim_id_taken(link).await)
            }
            Err(e) => Err(self.query_err(OP, "links", &e)),
        }
    }

    /// Record `link` after its SCIM write succeeded: the write happened, so the store must follow
    /// it and cannot refuse. When another key holds the same SCIM id (a re-keyed person, or a
    /// create that the target answered with an existing user), that row is replaced in the same
    /// transaction, and its key is returned so the caller can report the move.
    pub async fn take_over_link(&self, link: &Link) -> Result<Option<SourceKey>> {
        const OP: &str = "save a link";
        let err = |e: &sqlx::Error| self.query_err(OP, "links", e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        let displaced = self.take_over_in(&mut tx, link).await?;
        tx.commit().await.map_err(|e| err(&e))?;
        Ok(displaced)
    }

    /// [`Store::take_over_link`]'s statements on `conn`, inside the caller's transaction.
    pub(super) async fn take_over_in(
        &self,
        conn: &mut AnyConnection,
        link: &Link,
    ) -> Result<Option<SourceKey>> {
        let err = |e: &sqlx::Error| self.query_err("save a link", "links", e);
        // The transaction starts with a write, so SQLite takes its write lock at once (waiting
        // out other writers) instead of failing to upgrade a read lock under concurrent workers.
        let holder = sqlx::query(
            "DELETE FROM links WHERE target_name = $1 AND kind = $2 AND scim_id = $3 \
             AND NOT (source = $4 AND source_id = $5) RETURNING source, source_id",
        )
        .bind(&link.target_name)
        .bind(<&str>::from(link.kind))
        .bind(&link.scim_id.0)
        .bind(&link.key.source)
        .bind(&link.key.id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| err(&e))?;
        let displaced = match holder {
            Some(row) => Some(SourceKey::new(
                self.get::<String>(&row, "links", "source")?,
                self.get::<String>(&row, "links", "source_id")?,
            )),
            None => None,
        };
        upsert_query(link)
            .execute(&mut *conn)
            .await
            .map_err(|e| err(&e))?;
        Ok(displaced)
    }

    /// Build the error for a SCIM id that another key holds, naming that key when it can be read.
    async fn scim_id_taken(&self, link: &Link) -> Error {
        let holder = sqlx::query(
            "SELECT source, source_id FROM links \
             WHERE target_name = $1 AND kind = $2 AND scim_id = $3",
        )
        .bind(&link.target_name)
        .bind(<&str>::from(link.kind))
        .bind(&link.scim_id.0)
        .fetch_optional(&self.pool)
        .await
        .ok()
        .flatten()
        .and_then(|row| {
            let source: String = self.get(&row, "links", "source").ok()?;
            let id: String = self.get(&row, "links", "source_id").ok()?;
            Some(SourceKey::new(source, id).to_string())
        })
        .unwrap_or_else(|| "unknown".to_owned());
        Error::ScimIdTaken(Box::new(ScimIdConflict {
            url: self.redacted_url().to_owned(),
            target_name: link.target_name.clone(),
            kind: link.kind.into(),
            scim_id: link.scim_id.0.clone(),
            key: link.key.to_string(),
            holder,
        }))
    }

    /// Change the state of an existing link; [`Error::LinkNotFound`] when there is none.
    pub async fn set_link_state(
        &self,
        target_name: &str,
        kind: LinkKind,
        key: &SourceKey,
        state: LinkState,
        at: DateTime<Utc>,
    ) -> Result<()> {
        const OP: &str = "change the state of a link";
        let result = state_query(target_name, kind, key, state, at)
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_err(OP, "links", &e))?;
        if result.rows_affected() == 0 {
            return Err(Error::LinkNotFound {
                url: self.redacted_url().to_owned(),
                target_name: target_name.to_owned(),
                kind: kind.into(),
                key: key.to_string(),
                operation: OP,
            });
        }
        Ok(())
    }

    /// Remove a link. Removing a link that is not there is not an error, so a retried
    /// `delete-group` after a crash goes through.
    pub async fn delete_link(
        &self,
        target_name: &str,
        kind: LinkKind,
        key: &SourceKey,
    ) -> Result<()> {
        const OP: &str = "delete a link";
        delete_query(target_name, kind, key)
            .execute(&self.pool)
            .await
            .map_err(|e| self.query_err(OP, "links", &e))?;
        Ok(())
    }
}
