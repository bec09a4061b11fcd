//! Apply's group commit: the outcomes of operations (journal `done`/`failed`/`skipped`, links,
//! write records) are gathered and committed together: once the oldest has waited [`MAX_AGE`]
//! (checked as operations end), when the operations journaled together ([`PENDING_CHUNK`]) have
//! all ended (so also at the end of each kind), before apply reads links, and at the end of the
//! run (docs/architecture.md, "Decisions worth knowing", the store write path). The `pending` entries are not part of this:
//! they are committed, [`PENDING_CHUNK`] operations at a time, before the calls.

use crate::model::SourceKey;
use crate::store::{self, Outcome, Store};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Operations of one kind journaled `pending` together, in one durable commit before any of their
/// calls; the next ones are journaled once these have ended. A process killed meanwhile leaves
/// at most this many entries `pending` whose call was never made: the next run reads them as
/// `unknown` and checks each against the target, as it would a call whose reply was lost.
pub(super) const PENDING_CHUNK: usize = 128;

/// How long an outcome waits for others before it is committed (checked as operations end).
pub(super) const MAX_AGE: Duration = Duration::from_millis(200);

/// Outcomes not committed yet.
#[derive(Default)]
struct Batch {
    outcomes: Vec<Outcome>,
    /// Links that move a SCIM id off another key on purpose (a re-key): key → the key it left.
    moves: HashMap<SourceKey, SourceKey>,
    ops: usize,
    since: Option<Instant>,
}

/// The outcomes waiting for their commit, and the turn to commit (batches commit in order).
#[derive(Default)]
pub(super) struct Committer {
    batch: Mutex<Batch>,
    turn: tokio::sync::Mutex<()>,
}

impl Committer {
    /// Add one operation's outcomes (kept together in one commit); commit when the batch is due.
    /// `moving` is the re-key a link of them makes on purpose (`to`, `from`).
    pub(super) async fn push(
        &self,
        store: &Store,
        outcomes: Vec<Outcome>,
        moving: Option<(SourceKey, SourceKey)>,
    ) -> Result<(), store::Error> {
        let due = {
            let mut batch = self.batch.lock().unwrap_or_else(|p| p.into_inner());
            batch.outcomes.extend(outcomes);
            batch.moves.extend(moving);
            batch.ops += 1;
            let since = *batch.since.get_or_insert_with(Instant::now);
            batch.ops >= PENDING_CHUNK || since.elapsed() >= MAX_AGE
        };
        if due {
            self.flush(store).await?;
        }
        Ok(())
    }

    /// Commit whatever waits. On an error nothing of the batch is stored: its entries stay
    /// `pending`, and the next run checks them against the target.
    pub(super) async fn flush(&self, store: &Store) -> Result<(), store::Error> {
        let _turn = self.turn.lock().await;
        let batch = std::mem::take(&mut *self.batch.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.outcomes.is_empty() {
            return Ok(());
        }
        for moved in store.commit_outcomes(&batch.outcomes).await? {
            if batch.moves.get(&moved.link.key) != Some(&moved.from) {
                tracing::warn!(kind = %moved.link.kind, id = %moved.link.scim_id, from = %moved.from, to = %moved.link.key, "the target id was linked to another source key; the link now follows the write");
            }
        }
        Ok(())
    }
}
