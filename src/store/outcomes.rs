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
use super::links::{delete_query, name_query, state_query};
use super::{Link, LinkKind, LinkState, OperationId, Result, Store, WriteRecord};
use crate::model::SourceKey;
use chrono::{DateTime, Utc};

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
    /// The link a successful write leaves ([`Store::take_over_link`]: it cannot be refused).
    Link(Link),
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
            match outcome {
                Outcome::Journal { id, to, at } => self.transition(&mut tx, *id, to, *at).await?,
                Outcome::Link(link) => {
                    if let Some(from) = self.take_over_in(&mut tx, link).await? {
                        displaced.push(Displaced {
                            link: link.clone(),
                            from,
                        });
                    }
                }
                Outcome::Write(record) => self.record_write_in(&mut tx, record).await?,
                other => {
                    if let Some(query) = link_change(other) {
                        query
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| self.query_err(OP, "links", &e))?;
                    }
                }
            }
        }
        tx.commit().await.map_err(|e| err(&e))?;
        Ok(displaced)
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// The statement of a link change that needs no reply.
fn link_change(outcome: &Outcome) -> Option<AnyQuery<'_>> {
    match outcome {
        Outcome::LinkState {
            target_name,
            kind,
            key,
            state,
            at,
        } => Some(state_query(target_name, *kind, key, *state, *at)),
        Outcome::LinkName {
            target_name,
            kind,
            key,
            user_name,
            at,
        } => Some(name_query(target_name, *kind, key, user_name, *at)),
        Outcome::Unlink {
            target_name,
            kind,
            key,
        } => Some(delete_query(target_name, *kind, key)),
        Outcome::Journal { .. } | Outcome::Link(_) | Outcome::Write(_) => None,
    }
}
