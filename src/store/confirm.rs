//! Confirmations: an admin's recorded decision about an email reuse the planner held
//! (`idbridge confirm reuse EMAIL --as same|new`, docs/lifecycle.md, "Rehires and returns"): who
//! decided, when, on which host, about which new key and which former person's account. The
//! planner reads them as an input; a `same` decision moves the former person's link to the new
//! key when it is recorded (in the same transaction, so the two never disagree), and the run that
//! re-adds the account marks it consumed.

use super::history::LinkChange;
use super::links::{Link, LinkKind, LinkOrigin, LinkState};
use super::{fmt_time, Result, RunId, Store, StoreRead};
use crate::model::{ScimId, SourceKey};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

/// What the admin decided about a reused email. Stored as `same`, `new`.
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
pub enum Decision {
    /// The new key is the former person returning: their account is re-added and linked to it.
    Same,
    /// Someone else: the former person's account is never handed over, the new key stays held.
    New,
}

/// A decision about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConfirmation {
    /// The target's configured name.
    pub target_name: String,
    /// The reused email (userName), as the sources spell it.
    pub user_name: String,
    /// The new person's key.
    pub key: SourceKey,
    /// The key of the former person whose account holds the email.
    pub former_key: SourceKey,
    /// The former person's account.
    pub former_scim_id: ScimId,
    /// Same person or someone new.
    pub decision: Decision,
    /// The admin's note (a ticket number), if any.
    pub note: Option<String>,
    /// The machine the command ran on.
    pub host: String,
    /// The OS account that ran it.
    pub os_user: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Confirmation {
    /// Its number.
    pub id: i64,
    /// What was decided.
    #[serde(flatten)]
    pub what: ConfirmationFacts,
    /// The run that acted on it (re-added the account), once one did.
    pub consumed_run_id: Option<RunId>,
    /// When that run acted on it.
    pub consumed_at: Option<DateTime<Utc>>,
}

/// The facts of a recorded decision (the serialisable twin of [`NewConfirmation`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationFacts {
    /// The target's configured name.
    pub target_name: String,
    /// The reused email.
    pub user_name: String,
    /// The new person's key.
    #[serde(serialize_with = "as_text")]
    pub key: SourceKey,
    /// The former person's key.
    #[serde(serialize_with = "as_text")]
    pub former_key: SourceKey,
    /// The former person's account.
    pub former_scim_id: ScimId,
    /// Same person or someone new.
    pub decision: Decision,
    /// The admin's note.
    pub note: Option<String>,
    /// Where the command ran.
    pub host: String,
    /// Who ran it.
    pub os_user: String,
    /// When.
    pub confirmed_at: DateTime<Utc>,
}

fn as_text<S: serde::Serializer>(key: &SourceKey, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(key)
}

const CONSUME: &str = "mark a confirmation as acted on";

impl Store {
    /// Record a decision and return its number. For `same`, the former person's link moves to
    /// the new key in the same transaction (kept deactivated until the next run re-adds the
    /// account), and the move is written to the link history with cause `confirm`.
    pub async fn confirm(&self, c: &NewConfirmation) -> Result<i64> {
        const T: &str = "confirmations";
        let err = |e: &sqlx::Error| self.query_err("record a confirmation", T, e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        let row = sqlx::query(
            "INSERT INTO confirmations (target_name, user_name, source, source_id, former_key, \
             former_scim_id, decision, note, host, os_user, confirmed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&c.target_name)
        .bind(&c.user_name)
        .bind(&c.key.source)
        .bind(&c.key.id)
        .bind(c.former_key.to_string())
        .bind(&c.former_scim_id.0)
        .bind(<&str>::from(c.decision))
        .bind(c.note.clone())
        .bind(&c.host)
        .bind(&c.os_user)
        .bind(fmt_time(c.at))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| err(&e))?;
        let id: i64 = self.get(&row, T, "id")?;
        if c.decision == Decision::Same {
            let link = Link {
                target_name: c.target_name.clone(),
                kind: LinkKind::User,
                key: c.key.clone(),
                scim_id: c.former_scim_id.clone(),
                user_name: c.user_name.clone(),
                state: LinkState::Deactivated,
                origin: LinkOrigin::Created,
                updated_at: c.at,
            };
            let change = LinkChange::new("confirm", None);
            self.move_link_in(&mut tx, &c.former_key, &link, &change)
                .await?;
        }
        tx.commit().await.map_err(|e| err(&e))?;
        Ok(id)
    }

    /// Mark confirmation `id` as acted on by run `run`.
    pub async fn consume_confirmation(&self, id: i64, run: RunId, at: DateTime<Utc>) -> Result<()> {
        let err = |e: &sqlx::Error| self.query_err(CONSUME, "confirmations", e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        self.consume_confirmation_in(&mut tx, id, run, at).await?;
        tx.commit().await.map_err(|e| err(&e))
    }

    /// [`Store::consume_confirmation`] inside the caller's transaction (apply's group commit).
    pub(super) async fn consume_confirmation_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: i64,
        run: RunId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE confirmations SET consumed_run_id = $1, consumed_at = $2 \
             WHERE id = $3 AND consumed_run_id IS NULL",
        )
        .bind(run.0)
        .bind(fmt_time(at))
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.query_err(CONSUME, "confirmations", &e))?;
        Ok(())
    }
}

impl StoreRead {
    /// Every recorded decision on this target, oldest first.
    pub async fn confirmations(&self, target_name: &str) -> Result<Vec<Confirmation>> {
        let rows = sqlx::query(
            "SELECT id, target_name, user_name, source, source_id, former_key, former_scim_id, \
             decision, note, host, os_user, confirmed_at, consumed_run_id, consumed_at \
             FROM confirmations WHERE target_name = $1 ORDER BY id",
        )
        .bind(target_name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("list confirmations", "confirmations", &e))?;
        rows.iter()
            .map(|row| self.confirmation_from_row(row))
            .collect()
    }

    fn confirmation_from_row(&self, row: &AnyRow) -> Result<Confirmation> {
        const T: &str = "confirmations";
        let source: String = self.get(row, T, "source")?;
        let source_id: String = self.get(row, T, "source_id")?;
        let former: String = self.get(row, T, "former_key")?;
        let former_key = SourceKey::parse(&former)
            .ok_or_else(|| self.corrupt(T, "former_key", &former, "not `source:id`".to_owned()))?;
        let scim_id: String = self.get(row, T, "former_scim_id")?;
        let consumed: Option<i64> = self.get(row, T, "consumed_run_id")?;
        Ok(Confirmation {
            id: self.get(row, T, "id")?,
            what: ConfirmationFacts {
                target_name: self.get(row, T, "target_name")?,
                user_name: self.get(row, T, "user_name")?,
                key: SourceKey::new(source, source_id),
                former_key,
                former_scim_id: ScimId(scim_id),
                decision: self.get_enum(row, T, "decision")?,
                note: self.get(row, T, "note")?,
                host: self.get(row, T, "host")?,
                os_user: self.get(row, T, "os_user")?,
                confirmed_at: self.get_time(row, T, "confirmed_at")?,
            },
            consumed_run_id: consumed.map(RunId),
            consumed_at: self.get_opt_time(row, T, "consumed_at")?,
        })
    }
}
