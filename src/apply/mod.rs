//! Apply: runs a plan against the SCIM target, journaling every operation in the store (`pending`
//! before the call, `done`/`failed`/`skipped` after, with the plan's reason and the whole planned
//! operation as evidence) and keeping links in step. The `pending` entry is committed on its own
//! before the call; what follows the call (the entry's outcome, links, write records) is
//! group-committed (`commit`), and an outcome the process died before committing reads as
//! `unknown` to the next run, which checks it against the target.
//!
//! Kinds run in plan order, one kind after the other; operations of one kind run concurrently
//! (bounded by the SCIM client). A failed operation does not stop the others, except that a rejected
//! token stops every write that has not started yet. A rejected token is a 401 (or a 403 on a read);
//! a 403 on a write may refuse only that change (a target may refuse one attribute change, as Notion
//! does for emails outside verified domains), so it is followed by a token check (`token`): only
//! when that is refused too does the run halt. A patch the target refused on its own is recorded
//! (`learn`), so later plans do not send it again unchanged.
//!
//! Apply takes any [`TargetWrite`]: the SCIM [`crate::scim::Writer`] in a run, an in-memory
//! target in the unit tests (`tests`). The calls per kind are in `ops`, the links they leave in
//! `links`, the group commit in `commit`.
//!
//! May import: plan, scim, store, clock, model.

mod commit;
mod learn;
mod links;
mod ops;
#[cfg(test)]
mod tests;
mod token;

pub use ops::{attrs_from_changes, patch_pairs};

use crate::clock::Clock;
use crate::plan::{Op, OpKind, Plan};
use crate::scim::TargetWrite;
use crate::store::{
    self, NewOperation, OperationId, Outcome as Recorded, RunId, Store, Transition,
};
use ops::{Executed, Failure};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;

/// Why apply could not go on at all (as opposed to one failed operation).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The journal could not be written, so no further call is made.
    #[error("cannot write the operations journal: {0}; no further SCIM call was made")]
    Journal(#[from] store::Error),
    /// A worker task died.
    #[error("an apply worker stopped unexpectedly: {0}")]
    Worker(String),
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// Target name (links are keyed by it).
    pub target_name: String,
    /// How leavers are removed.
    pub deactivate: crate::plan::DeactivateMode,
    /// Members per group PATCH operation.
    pub batch_size: usize,
    /// Operations in flight at once (the target's `concurrency`).
    pub concurrency: usize,
    /// Set when the process is asked to stop (`serve` on SIGTERM): operations not yet started
    /// are journaled as skipped instead of sent, those in flight finish. `None`: never stops.
    pub stop: Option<Arc<AtomicBool>>,
}

/// How one operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Done.
    Done,
    /// The target refused or could not be reached.
    Failed,
    /// Not attempted.
    Skipped,
}

/// The result of one operation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpResult {
    /// Position in the plan.
    pub seq: usize,
    /// Kind.
    pub op: OpKind,
    /// userName.
    pub user_name: String,
    /// Outcome.
    pub status: Status,
    /// The SCIM id after the operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_id: Option<String>,
    /// Error or skip reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The failure was the environment's (target unreachable, server error, throttled out), not
    /// a refusal of this operation: the run's exit code says so (3).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub environment: bool,
}

/// What apply did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The run.
    pub run_id: i64,
    /// Per operation, in plan order.
    pub results: Vec<OpResult>,
    /// Set when the token was rejected and writes stopped; never for a write refused on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
}

impl Outcome {
    /// Count of results with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    /// Whether everything was done.
    pub fn succeeded(&self) -> bool {
        self.count(Status::Done) == self.results.len()
    }
}

/// One apply run's shared state.
struct Ctx<W> {
    target: W,
    store: Store,
    clock: Arc<dyn Clock>,
    run_id: RunId,
    opts: Options,
    halted: AtomicBool,
    halt_reason: Mutex<Option<String>>,
    /// An operation holds a permit from before it checks `halted` until its call returns, so no
    /// operation queued behind a rejected token sends anything.
    permits: tokio::sync::Semaphore,
    /// An operation holds a read guard from its `halted` check until its calls return; a token
    /// check takes the write guard. So the check starts only after every call in flight has its
    /// reply (refusals that arrive meanwhile wait for its verdict instead of checking again), and
    /// no new call starts until the verdict is in (tokio's lock queues new readers behind a
    /// waiting writer), so none races past the halt it may declare.
    gate: tokio::sync::RwLock<()>,
    /// A token check found the token working: every later refusal of this run is that operation's
    /// own, with no further check (one check per run, however many writes are refused).
    token_works: AtomicBool,
    /// Outcomes waiting for their group commit.
    outcomes: commit::Committer,
}

/// Told how apply advances, for a progress display; the library itself draws nothing.
pub trait Progress: Send + Sync {
    /// Apply is about to run `total` operations.
    fn start(&self, total: usize);
    /// One operation ended (called once per operation, in the order they end).
    fn finished(&self, kind: OpKind, status: Status);
}

/// Apply `plan` in run `run_id`, writing to `target`.
pub async fn apply<W: TargetWrite + Clone + 'static>(
    plan: &Plan,
    target: &W,
    store: &Store,
    clock: Arc<dyn Clock>,
    run_id: RunId,
    opts: Options,
) -> Result<Outcome, Error> {
    apply_with_progress(plan, target, store, clock, run_id, opts, None).await
}

/// [`apply`], telling `progress` of each operation as it ends.
pub async fn apply_with_progress<W: TargetWrite + Clone + 'static>(
    plan: &Plan,
    target: &W,
    store: &Store,
    clock: Arc<dyn Clock>,
    run_id: RunId,
    opts: Options,
    progress: Option<Arc<dyn Progress>>,
) -> Result<Outcome, Error> {
    let permits = tokio::sync::Semaphore::new(opts.concurrency.max(1));
    let ctx = Arc::new(Ctx {
        target: target.clone(),
        store: store.clone(),
        clock,
        run_id,
        opts,
        halted: AtomicBool::new(false),
        halt_reason: Mutex::new(None),
        permits,
        gate: tokio::sync::RwLock::new(()),
        token_works: AtomicBool::new(false),
        outcomes: commit::Committer::default(),
    });
    let mut results = Vec::with_capacity(plan.operations.len());
    if let Some(p) = &progress {
        p.start(plan.operations.len());
    }
    for kind in <OpKind as strum::IntoEnumIterator>::iter() {
        let of_kind: Vec<(usize, &Op)> = plan
            .operations
            .iter()
            .enumerate()
            .filter(|(_, o)| o.kind() == kind)
            .collect();
        for chunk in of_kind.chunks(commit::PENDING_CHUNK) {
            let ran = run_chunk(&ctx, chunk, &mut results, progress.as_deref()).await;
            // Later kinds read what this one left (a group's members by their links); an error
            // still commits what the operations that ended did.
            let committed = ctx.outcomes.flush(&ctx.store).await;
            ran?;
            committed?;
        }
    }
    results.sort_by_key(|r| r.seq);
    let halted = ctx.halt_reason.lock().ok().and_then(|g| g.clone());
    Ok(Outcome {
        run_id: run_id.0,
        results,
        halted,
    })
}

/// Run a few operations of one kind: their `pending` entries in one durable commit before any
/// call, then the calls concurrently; wait for all of them, collecting their results.
async fn run_chunk<W: TargetWrite + Clone + 'static>(
    ctx: &Arc<Ctx<W>>,
    chunk: &[(usize, &Op)],
    results: &mut Vec<OpResult>,
    progress: Option<&dyn Progress>,
) -> Result<(), Error> {
    let entries: Vec<NewOperation> = chunk
        .iter()
        .map(|(seq, op)| pending_entry(ctx, *seq, op))
        .collect();
    let ids = ctx.store.journal_pending_many(&entries).await?;
    let mut set = JoinSet::new();
    for ((seq, op), journal_id) in chunk.iter().zip(ids) {
        let (ctx, op, seq) = (ctx.clone(), (*op).clone(), *seq);
        set.spawn(async move { run_one(&ctx, seq, &op, journal_id).await });
    }
    while let Some(joined) = set.join_next().await {
        let result = joined.map_err(|e| Error::Worker(e.to_string()))??;
        if let Some(p) = progress {
            p.finished(result.op, result.status);
        }
        results.push(result);
    }
    Ok(())
}

/// Why an operation was not attempted after the process was asked to stop.
const STOPPED: &str =
    "not attempted: idbridge was asked to stop (SIGTERM) before this operation; the next run plans it again";

/// Why an operation queued behind a rejected token was not attempted.
const NOT_ATTEMPTED: &str = "not attempted: the SCIM token was rejected earlier in this run";

/// Carry out one operation whose `pending` entry `journal_id` is committed.
async fn run_one<W: TargetWrite>(
    ctx: &Ctx<W>,
    seq: usize,
    op: &Op,
    journal_id: OperationId,
) -> Result<OpResult, Error> {
    let _permit = ctx
        .permits
        .acquire()
        .await
        .map_err(|e| Error::Worker(e.to_string()))?;
    let executed = {
        let gate = ctx.gate.read().await;
        if ctx.halted.load(Ordering::SeqCst) {
            drop(gate);
            Ok(Executed::Skipped(NOT_ATTEMPTED.to_owned()))
        } else if ctx
            .opts
            .stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::SeqCst))
        {
            drop(gate);
            Ok(Executed::Skipped(STOPPED.to_owned()))
        } else {
            ops::execute(ctx, op).await
        }
    };
    record(ctx, journal_id, seq, op, executed).await
}

/// The journal entry of `op` before its call: the source fact and the operation exactly as the
/// plan held it are the evidence.
fn pending_entry<W>(ctx: &Ctx<W>, seq: usize, op: &Op) -> NewOperation {
    NewOperation {
        run_id: ctx.run_id,
        seq: seq as i64,
        op: op.kind().to_string(),
        target_name: ctx.opts.target_name.clone(),
        user_name: Some(op.subject().to_owned()),
        scim_id: op.scim_id().map(|id| id.0.clone()),
        source_key: Some(op.source_key().to_string()),
        detail_json: serde_json::to_string(op.changes()).unwrap_or_default(),
        reason: Some(op.reason().to_owned()),
        planned_json: serde_json::to_string(op).ok(),
        at: ctx.clock.now(),
    }
}

/// Close the journal entry of `op` with how it ended, and say so in its result. The entry's
/// outcome and what the operation leaves (links, write records) go to the group commit together.
async fn record<W: TargetWrite>(
    ctx: &Ctx<W>,
    journal_id: OperationId,
    seq: usize,
    op: &Op,
    executed: Result<Executed, Failure>,
) -> Result<OpResult, Error> {
    let result = |status, scim_id: Option<String>, detail: Option<String>| OpResult {
        seq,
        op: op.kind(),
        user_name: op.subject().to_owned(),
        status,
        scim_id,
        detail,
        environment: false,
    };
    let planned_id = || op.scim_id().map(|id| id.0.clone());
    let entry = |to: Transition| Recorded::Journal {
        id: journal_id,
        to,
        at: ctx.clock.now(),
    };
    let failed = |http_status, error: &str| {
        entry(Transition::Failed {
            http_status,
            error: error.to_owned(),
        })
    };
    match executed {
        Ok(Executed::Done(done)) => {
            let scim_id = done.id;
            tracing::info!(op = %op.kind(), user = %op.subject(), scim_id = scim_id.as_deref().unwrap_or("-"), "applied");
            let mut writes = done.writes;
            writes.push(entry(Transition::Done {
                scim_id: scim_id.clone(),
                http_status: None,
            }));
            ctx.outcomes.push(&ctx.store, writes, done.moving).await?;
            Ok(result(Status::Done, scim_id, None))
        }
        Ok(Executed::Skipped(why)) => {
            let skipped = entry(Transition::Skipped { why: why.clone() });
            ctx.outcomes.push(&ctx.store, vec![skipped], None).await?;
            Ok(result(Status::Skipped, planned_id(), Some(why)))
        }
        Err(Failure::Scim(e)) => {
            let message = token::judge_failure(ctx, &e).await;
            let mut writes = learn::refused(ctx, op, &e);
            writes.push(failed(e.status(), &message));
            ctx.outcomes.push(&ctx.store, writes, None).await?;
            tracing::warn!(op = %op.kind(), user = %op.subject(), error = %message, "operation failed");
            Ok(OpResult {
                environment: e.is_environment(),
                ..result(Status::Failed, planned_id(), Some(message))
            })
        }
        Err(Failure::Store(e)) => {
            // The SCIM call may have succeeded: say so in the journal and stop, rather than guess.
            let message = format!("the SCIM call ran but its link could not be stored: {e}");
            ctx.outcomes
                .push(&ctx.store, vec![failed(None, &message)], None)
                .await?;
            ctx.outcomes.flush(&ctx.store).await?;
            Err(Error::Journal(e))
        }
        Err(Failure::Plan(message)) => {
            ctx.outcomes
                .push(&ctx.store, vec![failed(None, &message)], None)
                .await?;
            Ok(result(Status::Failed, planned_id(), Some(message)))
        }
    }
}
