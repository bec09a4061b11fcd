//! Apply: runs a plan against the SCIM target, journaling every operation in the store (`pending`
//! before the call, `done`/`failed`/`skipped` after, with the plan's reason and the whole planned
//! operation as evidence) and keeping links in step.
//!
//! Kinds run in plan order, one kind after the other; operations of one kind run concurrently
//! (bounded by the SCIM client). A failed operation does not stop the others, except that a rejected
//! token stops every write that has not started yet. A rejected token is a 401 (or a 403 on a read);
//! a 403 on a write may refuse only that change (Notion refuses email changes outside verified
//! domains with 403), so it is followed by a token check, `GET /Users?count=1`: only when that is
//! refused too does the run halt.

use crate::clock::Clock;
use crate::model::{Attr, ScimId, SourceKey, UserAttrs, UserName};
use crate::plan::{
    Change, DeactivateMode, GroupOrigin, LinkOrigin, LinkUser, Members, Op, OpKind, Plan,
};
use crate::scim::{self, Client, CreateOutcome, TargetKind};
use crate::store::{self, Link, LinkKind, LinkState, NewOperation, RunId, Store};
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
    pub deactivate: DeactivateMode,
    /// Members per group PATCH operation.
    pub batch_size: usize,
    /// Operations in flight at once (the target's `concurrency`).
    pub concurrency: usize,
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

struct Ctx {
    client: Client,
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
}

/// Told how apply advances, for a progress display; the library itself draws nothing.
pub trait Progress: Send + Sync {
    /// Apply is about to run `total` operations.
    fn start(&self, total: usize);
    /// One operation ended (called once per operation, in the order they end).
    fn finished(&self, kind: OpKind, status: Status);
}

/// Apply `plan` in run `run_id`.
pub async fn apply(
    plan: &Plan,
    client: &Client,
    store: &Store,
    clock: Arc<dyn Clock>,
    run_id: RunId,
    opts: Options,
) -> Result<Outcome, Error> {
    apply_with_progress(plan, client, store, clock, run_id, opts, None).await
}

/// [`apply`], telling `progress` of each operation as it ends.
pub async fn apply_with_progress(
    plan: &Plan,
    client: &Client,
    store: &Store,
    clock: Arc<dyn Clock>,
    run_id: RunId,
    opts: Options,
    progress: Option<Arc<dyn Progress>>,
) -> Result<Outcome, Error> {
    let permits = tokio::sync::Semaphore::new(opts.concurrency.max(1));
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        store: store.clone(),
        clock,
        run_id,
        opts,
        halted: AtomicBool::new(false),
        halt_reason: Mutex::new(None),
        permits,
        gate: tokio::sync::RwLock::new(()),
        token_works: AtomicBool::new(false),
    });
    let mut results = Vec::with_capacity(plan.operations.len());
    if let Some(p) = &progress {
        p.start(plan.operations.len());
    }
    for kind in <OpKind as strum::IntoEnumIterator>::iter() {
        let mut set = JoinSet::new();
        for (seq, op) in plan
            .operations
            .iter()
            .enumerate()
            .filter(|(_, o)| o.kind() == kind)
        {
            let (ctx, op) = (ctx.clone(), op.clone());
            set.spawn(async move { run_one(&ctx, seq, &op).await });
        }
        while let Some(joined) = set.join_next().await {
            let result = joined.map_err(|e| Error::Worker(e.to_string()))??;
            if let Some(p) = &progress {
                p.finished(result.op, result.status);
            }
            results.push(result);
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

async fn run_one(ctx: &Ctx, seq: usize, op: &Op) -> Result<OpResult, Error> {
    let _permit = ctx
        .permits
        .acquire()
        .await
        .map_err(|e| Error::Worker(e.to_string()))?;
    let journal_id = ctx
        .store
        .journal_pending(&NewOperation {
            run_id: ctx.run_id,
            seq: seq as i64,
            op: op.kind().to_string(),
            target_name: ctx.opts.target_name.clone(),
            user_name: Some(op.subject().to_owned()),
            scim_id: op.scim_id().map(|id| id.0.clone()),
            source_key: Some(op.source_key().to_string()),
            detail_json: serde_json::to_string(op.changes()).unwrap_or_default(),
            // The evidence: the source fact and the operation exactly as the plan held it.
            reason: Some(op.reason().to_owned()),
            planned_json: serde_json::to_string(op).ok(),
            at: ctx.clock.now(),
        })
        .await?;
    let result = |status, scim_id: Option<String>, detail: Option<String>| OpResult {
        seq,
        op: op.kind(),
        user_name: op.subject().to_owned(),
        status,
        scim_id,
        detail,
        environment: false,
    };
    let executed = {
        let gate = ctx.gate.read().await;
        if ctx.halted.load(Ordering::SeqCst) {
            drop(gate);
            let why = "not attempted: the SCIM token was rejected earlier in this run";
            ctx.store
                .journal_skipped(journal_id, why, ctx.clock.now())
                .await?;
            return Ok(result(
                Status::Skipped,
                op.scim_id().map(|id| id.0.clone()),
                Some(why.to_owned()),
            ));
        }
        execute(ctx, op).await
    };
    match executed {
        Ok(Executed::Done(scim_id)) => {
            tracing::info!(op = %op.kind(), user = %op.subject(), scim_id = scim_id.as_deref().unwrap_or("-"), "applied");
            ctx.store
                .journal_done(journal_id, scim_id.as_deref(), None, ctx.clock.now())
                .await?;
            Ok(result(Status::Done, scim_id, None))
        }
        Ok(Executed::Skipped(why)) => {
            ctx.store
                .journal_skipped(journal_id, &why, ctx.clock.now())
                .await?;
            Ok(result(
                Status::Skipped,
                op.scim_id().map(|id| id.0.clone()),
                Some(why),
            ))
        }
        Err(Failure::Scim(e)) => {
            let message = judge_failure(ctx, &e).await;
            ctx.store
                .journal_failed(journal_id, e.status(), &message, ctx.clock.now())
                .await?;
            tracing::warn!(op = %op.kind(), user = %op.subject(), error = %message, "operation failed");
            Ok(OpResult {
                environment: e.is_environment(),
                ..result(
                    Status::Failed,
                    op.scim_id().map(|id| id.0.clone()),
                    Some(message),
                )
            })
        }
        Err(Failure::Store(e)) => {
            // The SCIM call may have succeeded: say so in the journal and stop, rather than guess.
            let message = format!("the SCIM call ran but its link could not be stored: {e}");
            ctx.store
                .journal_failed(journal_id, None, &message, ctx.clock.now())
                .await?;
            Err(Error::Journal(e))
        }
        Err(Failure::Plan(message)) => {
            ctx.store
                .journal_failed(journal_id, None, &message, ctx.clock.now())
                .await?;
            Ok(result(
                Status::Failed,
                op.scim_id().map(|id| id.0.clone()),
                Some(message),
            ))
        }
    }
}

/// What a failed SCIM call means for the run, as the operation's message: a rejected token halts
/// it; a 403 on a write is checked against the token first, once per run (see [`Ctx::gate`]).
async fn judge_failure(ctx: &Ctx, e: &scim::Error) -> String {
    if e.is_auth() {
        halt(ctx, e.to_string());
        return e.to_string();
    }
    if !e.is_forbidden() || ctx.token_works.load(Ordering::SeqCst) {
        return e.to_string();
    }
    let _gate = ctx.gate.write().await;
    if ctx.halted.load(Ordering::SeqCst) {
        return format!(
            "{e}; the SCIM token was rejected in this run, so this refusal may be the token's too"
        );
    }
    if ctx.token_works.load(Ordering::SeqCst) {
        return e.to_string();
    }
    match ctx.client.probe().await {
        Ok(()) => {
            ctx.token_works.store(true, Ordering::SeqCst);
            tracing::info!(error = %e, "the token still works: only this operation was refused");
            e.to_string()
        }
        Err(check) if check.is_auth() => {
            let reason = e.clone().confirmed_by(&check).to_string();
            halt(ctx, reason.clone());
            reason
        }
        // The check could not decide (target unreachable, throttled): fail this operation only;
        // the next refusal checks again.
        Err(check) => {
            format!("{e}; whether the SCIM token still works could not be checked: {check}")
        }
    }
}

/// Stop every write that has not started; the first reason is the run's.
fn halt(ctx: &Ctx, reason: String) {
    if !ctx.halted.swap(true, Ordering::SeqCst) {
        tracing::error!(error = %reason, "stopping all writes");
        if let Ok(mut slot) = ctx.halt_reason.lock() {
            *slot = Some(reason);
        }
    }
}

enum Executed {
    Done(Option<String>),
    Skipped(String),
}

enum Failure {
    Scim(scim::Error),
    Store(store::Error),
    Plan(String),
}

impl From<scim::Error> for Failure {
    fn from(e: scim::Error) -> Self {
        Failure::Scim(e)
    }
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Self {
        Failure::Store(e)
    }
}

/// The attributes a create or re-add sends: the `after` side of every change.
pub fn attrs_from_changes(changes: &[Change]) -> UserAttrs {
    changes
        .iter()
        .filter_map(|c| {
            let attr = Attr::from_path(&c.attr)?;
            let value = c.after.as_ref()?.as_str()?.to_owned();
            Some((attr, value))
        })
        .collect()
}

/// The PATCH pairs of a patch: attributes that changed, `None` for removals.
pub fn patch_pairs(changes: &[Change]) -> Vec<(Attr, Option<String>)> {
    changes
        .iter()
        .filter(|c| c.before != c.after)
        .filter_map(|c| {
            let attr = Attr::from_path(&c.attr)?;
            Some((
                attr,
                c.after.as_ref().and_then(|v| v.as_str()).map(str::to_owned),
            ))
        })
        .collect()
}

/// Link `id` under `key` (a user or group), replacing whatever the key pointed at before. It runs
/// after the SCIM write succeeded, so it never fails on the one-key-per-id rule: a key that held
/// the id is moved off it (a re-key moves it on purpose; anything else is logged).
async fn link(
    ctx: &Ctx,
    kind: LinkKind,
    key: &SourceKey,
    id: &ScimId,
    user_name: &str,
    origin: store::LinkOrigin,
    moving_from: Option<&SourceKey>,
) -> Result<(), Failure> {
    let displaced = ctx
        .store
        .take_over_link(&Link {
            target_name: ctx.opts.target_name.clone(),
            kind,
            key: key.clone(),
            scim_id: id.clone(),
            user_name: user_name.to_owned(),
            state: LinkState::Active,
            origin,
            updated_at: ctx.clock.now(),
        })
        .await?;
    if let Some(previous) = displaced.filter(|d| Some(d) != moving_from) {
        tracing::warn!(%kind, id = %id, from = %previous, to = %key, "the target id was linked to another source key; the link now follows the write");
    }
    Ok(())
}

/// Keep the link's userName current after a userName change, so later operations of the run
/// (group memberships) resolve the member by its new name.
async fn rename_link(ctx: &Ctx, key: &SourceKey, user_name: &UserName) -> Result<(), Failure> {
    let links = ctx.store.links(&ctx.opts.target_name).await?;
    if let Some(mut link) = links
        .into_iter()
        .find(|l| l.kind == LinkKind::User && l.key == *key)
    {
        link.user_name = user_name.to_string();
        link.updated_at = ctx.clock.now();
        ctx.store.upsert_link(&link).await?;
    }
    Ok(())
}

/// The group's id: from the plan, or (for a group created earlier in this run) from its link.
async fn group_id(ctx: &Ctx, op: &Members) -> Result<ScimId, Failure> {
    if let Some(id) = &op.scim_id {
        return Ok(id.clone());
    }
    let links = ctx.store.links(&ctx.opts.target_name).await?;
    links
        .into_iter()
        .find(|l| l.kind == LinkKind::Group && l.key == op.source_key)
        .map(|l| l.scim_id)
        .ok_or_else(|| {
            Failure::Plan(format!(
                "group {} has no id: its creation did not succeed",
                op.display_name
            ))
        })
}

/// Target ids of member userNames, from the user links (which include users created earlier in
/// this run), then by lookup in the target for anyone else.
async fn member_ids(
    ctx: &Ctx,
    members: &[UserName],
) -> Result<(Vec<ScimId>, Vec<String>), Failure> {
    let links = ctx.store.links(&ctx.opts.target_name).await?;
    let by_name: std::collections::BTreeMap<String, ScimId> = links
        .into_iter()
        .filter(|l| l.kind == LinkKind::User && l.state == LinkState::Active)
        .map(|l| (l.user_name.to_lowercase(), l.scim_id))
        .collect();
    let mut ids = Vec::new();
    let mut missing = Vec::new();
    for member in members {
        match by_name.get(&member.key()) {
            Some(id) => ids.push(id.clone()),
            None => match ctx.client.find_user(member.as_str()).await? {
                Some(user) => ids.push(ScimId(user.id)),
                None => missing.push(member.to_string()),
            },
        }
    }
    Ok((ids, missing))
}

/// How the link a re-key moves first came to be.
async fn previous_origin(ctx: &Ctx, op: &LinkUser) -> Result<store::LinkOrigin, Failure> {
    let links = ctx.store.links(&ctx.opts.target_name).await?;
    Ok(links
        .iter()
        .find(|l| l.kind == LinkKind::User && Some(&l.key) == op.previous_key.as_ref())
        .map(|l| l.origin)
        .unwrap_or(store::LinkOrigin::Adopted))
}

fn origin_of(outcome: CreateOutcome, fresh: store::LinkOrigin) -> store::LinkOrigin {
    match outcome {
        CreateOutcome::Created => fresh,
        CreateOutcome::Existing => store::LinkOrigin::Adopted,
        CreateOutcome::RecoveredAfterLostReply => store::LinkOrigin::Recovered,
    }
}

async fn execute(ctx: &Ctx, op: &Op) -> Result<Executed, Failure> {
    let client = &ctx.client;
    match op {
        Op::LinkUser(o) => {
            let origin = match o.origin {
                LinkOrigin::Recover => store::LinkOrigin::Recovered,
                LinkOrigin::Adopt => store::LinkOrigin::Adopted,
                // The link keeps how it first came to be.
                LinkOrigin::Rekey => previous_origin(ctx, o).await?,
            };
            link(
                ctx,
                LinkKind::User,
                &o.source_key,
                &o.scim_id,
                o.user_name.as_str(),
                origin,
                o.previous_key.as_ref(),
            )
            .await?;
            Ok(Executed::Done(Some(o.scim_id.0.clone())))
        }
        Op::CreateUser(o) => {
            let (user, outcome) = client.create_user(&attrs_from_changes(&o.changes)).await?;
            let id = ScimId(user.id.clone());
            let origin = origin_of(outcome, store::LinkOrigin::Created);
            link(
                ctx,
                LinkKind::User,
                &o.source_key,
                &id,
                o.user_name.as_str(),
                origin,
                None,
            )
            .await?;
            Ok(Executed::Done(Some(id.0)))
        }
        Op::PatchUser(o) => {
            client
                .patch_user(&o.scim_id, &patch_pairs(&o.changes))
                .await?;
            if o.changes.iter().any(|c| c.attr == Attr::UserName.path()) {
                rename_link(ctx, &o.source_key, &o.user_name).await?;
            }
            Ok(Executed::Done(Some(o.scim_id.0.clone())))
        }
        Op::ReaddUser(o) => {
            let id = match (client.profile().kind, &o.scim_id) {
                // A plain SCIM service keeps a deactivated user: switch it back on, then patch.
                (TargetKind::Scim, Some(existing)) => {
                    client.set_active(existing, true).await?;
                    let pairs = patch_pairs(&o.changes);
                    if !pairs.is_empty() {
                        client.patch_user(existing, &pairs).await?;
                    }
                    existing.clone()
                }
                // Notion re-adds a removed member by POST with the same email; the id may change.
                _ => {
                    let (user, _) = client.create_user(&attrs_from_changes(&o.changes)).await?;
                    ScimId(user.id)
                }
            };
            link(
                ctx,
                LinkKind::User,
                &o.source_key,
                &id,
                o.user_name.as_str(),
                store::LinkOrigin::Created,
                None,
            )
            .await?;
            Ok(Executed::Done(Some(id.0)))
        }
        Op::DeactivateUser(o) => {
            match ctx.opts.deactivate {
                DeactivateMode::ActiveFalse => client.set_active(&o.scim_id, false).await?,
                DeactivateMode::Delete => client.delete_user(&o.scim_id).await?,
            }
            let now = ctx.clock.now();
            match ctx
                .store
                .set_link_state(
                    &ctx.opts.target_name,
                    LinkKind::User,
                    &o.source_key,
                    LinkState::Deactivated,
                    now,
                )
                .await
            {
                // An unlinked user (left alone as an orphan until now) has no link to mark.
                Ok(()) | Err(store::Error::LinkNotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(Executed::Done(Some(o.scim_id.0.clone())))
        }
        Op::CreateGroup(o) => {
            let group = client.create_group(&o.display_name, &[]).await?;
            let id = ScimId(group.id);
            link(
                ctx,
                LinkKind::Group,
                &o.source_key,
                &id,
                &o.display_name,
                store::LinkOrigin::Created,
                None,
            )
            .await?;
            Ok(Executed::Done(Some(id.0)))
        }
        Op::PatchGroup(o) => {
            if let Some(change) = o.changes.iter().find(|c| c.attr == "displayName") {
                let name = change
                    .after
                    .as_ref()
                    .and_then(|v| v.as_str())
                    .unwrap_or(&o.display_name);
                client.rename_group(&o.scim_id, name).await?;
            }
            let origin = match o.origin {
                GroupOrigin::Adopt => store::LinkOrigin::Adopted,
                GroupOrigin::Rename => store::LinkOrigin::Created,
            };
            link(
                ctx,
                LinkKind::Group,
                &o.source_key,
                &o.scim_id,
                &o.display_name,
                origin,
                None,
            )
            .await?;
            Ok(Executed::Done(Some(o.scim_id.0.clone())))
        }
        Op::AddMembers(o) | Op::RemoveMembers(o) => {
            let id = group_id(ctx, o).await?;
            let (ids, missing) = member_ids(ctx, &o.members).await?;
            if ids.is_empty() {
                return Ok(Executed::Skipped(format!(
                    "no member could be resolved to a target id ({}); their creation may have failed",
                    missing.join(", ")
                )));
            }
            if matches!(op, Op::AddMembers(_)) {
                client
                    .patch_group_members(&id, &ids, &[], ctx.opts.batch_size)
                    .await?;
            } else {
                client
                    .patch_group_members(&id, &[], &ids, ctx.opts.batch_size)
                    .await?;
            }
            if !missing.is_empty() {
                tracing::warn!(group = %o.display_name, missing = ?missing, "some members were not resolved and were left out");
            }
            Ok(Executed::Done(Some(id.0)))
        }
        Op::DeleteGroup(o) => {
            if let Err(e) = client.delete_group(&o.scim_id).await {
                if !e.is_auth() && matches!(e.status(), Some(400 | 403 | 409)) {
                    // Notion refuses to delete a group that is the only full-access holder of a
                    // page (notion-scim.md §10); say so rather than leave a bare status. A 403
                    // stays a SCIM error so run_one checks the token.
                    return Err(e
                        .with_note(&format!(
                            "the target refused to delete group `{}`; Notion does this when the group is the only \
                             full-access holder of a page: give that page another full-access member or group, then re-run",
                            o.display_name
                        ))
                        .into());
                }
                return Err(e.into());
            }
            ctx.store
                .delete_link(&ctx.opts.target_name, LinkKind::Group, &o.source_key)
                .await?;
            Ok(Executed::Done(Some(o.scim_id.0.clone())))
        }
    }
}
