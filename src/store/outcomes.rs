//! Group commit of what apply records after its SCIM calls: journal outcomes (`done`, `failed`,
//! `skipped`), the links they leave, and what patches taught (`writes`), many operations to one
//! transaction (docs/architecture.md, "Decisions worth knowing", the store write path).
//!
//! The journal's promise does not rest on these commits: each operation's `pending` entry was
//! committed (durably) before its call. An outcome that never reached a commit (the process was
//! killed, the machine lost power) leaves its entry `pending`; the next run marks it `unknown` and
//! decides from a fresh read of the target, as for any dead run. One operation's outcomes always
//! go into one transaction together, so a link never lands without its journal entry's outcome,
//! nor the other way round.

use super::journal::Transition;
use super::links::delete_query;
use super::{
    Link, LinkChange, LinkKind, LinkState, OperationId, Result, RunId, Store, WriteRecord,
};
use crate::model::SourceKey;
use chrono::{DateTime, Utc};
use sqlx::{Any, Transaction};

/// One write an operation's outcome makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Journal entry `id` ends as `to` says.
    Journal {
        /// The entry.
        id: OperationId,
        /// How it ends.
        to: Transition,
        /// When.
        at: DateTime<Utc>,
    },
    /// The link a successful write leaves ([`Store::save_link`]: it cannot be refused), and why,
    /// for the link history.
    Link {
        /// The link.
        link: Link,
        /// Why it changes, for the link history.
        change: LinkChange,
    },
    /// The state of a link changes; a link that is not there stays absent (a user idbridge never
    /// linked can still be deactivated).
    LinkState {
        /// The target's configured name.
        target_name: String,
        /// User or group.
        kind: LinkKind,
        /// The source key.
        key: SourceKey,
        /// The new state.
        state: LinkState,
        /// When.
        at: DateTime<Utc>,
        /// Why, for the link history.
        change: LinkChange,
    },
    /// The userName (or displayName) of a link changes, if the link is there.
    LinkName {
        /// The target's configured name.
        target_name: String,
        /// User or group.
        kind: LinkKind,
        /// The source key.
        key: SourceKey,
        /// The new name.
        user_name: String,
        /// When.
        at: DateTime<Utc>,
        /// Why, for the link history.
        change: LinkChange,
    },
    /// A link is removed, if it is there.
    Unlink {
        /// The target's configured name.
        target_name: String,
        /// User or group.
        kind: LinkKind,
        /// The source key.
        key: SourceKey,
    },
    /// What a patch of one attribute taught ([`Store::record_write`]).
    Write(WriteRecord),
    /// The run acted on an admin's confirmation ([`Store::consume_confirmation`]).
    Consumed {
        /// The confirmation.
        id: i64,
        /// The run.
        run_id: RunId,
        /// When.
        at: DateTime<Utc>,
    },
}

/// A link that took a SCIM id another key held: the caller reports the move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Displaced {
    /// The link written.
    pub link: Link,
    /// The key that held its SCIM id before.
    pub from: SourceKey,
}

impl Store {
    /// Commit `outcomes` in order, in one transaction: all of them or none. Returns the links
    /// that took a SCIM id from another key. An entry that cannot move on (missing, or already
    /// final) fails the whole commit with [`super::Error::OperationNotFound`] or
    /// [`super::Error::OperationFinal`], as [`Store::journal_done`] would.
    pub async fn commit_outcomes(&self, outcomes: &[Outcome]) -> Result<Vec<Displaced>> {
        const OP: &str = "record the outcomes of operations";
        let mut displaced = Vec::new();
        if outcomes.is_empty() {
            return Ok(displaced);
        }
        let err = |e: &sqlx::Error| self.query_err(OP, "operations", e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        for outcome in outcomes {
            if let Some(from) = self.commit_one(&mut tx, outcome).await? {
                if let Outcome::Link { link, .. } = outcome {
                    displaced.push(Displaced {
                        link: link.clone(),
                        from,
                    });
                }
            }
        }
        tx.commit().await.map_err(|e| err(&e))?;
        Ok(displaced)
    }
}

impl Store {
    /// One outcome inside the commit's transaction; the key a link displaced, if any.
    async fn commit_one(
        &self,
        tx: &mut Transaction<'static, Any>,
        outcome: &Outcome,
    ) -> Result<Option<SourceKey>> {
        match outcome {
            Outcome::Journal { id, to, at } => self.transition(tx, *id, to, *at).await?,
            Outcome::Link { link, change } => return self.save_link_in(tx, link, change).await,
            Outcome::Write(record) => self.record_write_in(tx, record).await?,
            Outcome::LinkState {
                target_name,
                kind,
                key,
                state,
                at,
                change,
            } => {
                let link = (target_name.as_str(), *kind, key);
                match self.set_link_state_in(tx, link, *state, *at, change).await {
                    // A user idbridge never linked can still be deactivated: no link to mark.
                    Ok(()) | Err(super::Error::LinkNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Outcome::LinkName {
                target_name,
                kind,
                key,
                user_name,
                at,
                change,
            } => {
                let link = (target_name.as_str(), *kind, key);
                self.rename_link_in(tx, link, user_name, *at, change)
                    .await?;
            }
            Outcome::Unlink {
                target_name,
                kind,
                key,
            } => {
                delete_query(target_name, *kind, key)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| {
                        self.query_err("record the outcomes of operations", "links", &e)
                    })?;
            }
            Outcome::Consumed { id, run_id, at } => {
                self.consume_confirmation_in(tx, *id, *run_id, *at).await?
            }
        }
        Ok(None)
    }
}
