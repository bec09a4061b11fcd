//! The calls of each operation kind, and the links each leaves behind. What a target does
//! differently (how a returning person is put back, why a group delete is refused) comes from its
//! profile, never from the kind of target named here.

use super::links::{change, group_id, link, member_ids, origin_of, previous_origin, rename_link};
use super::Ctx;
use crate::model::SourceKey;
use crate::model::{Attr, ScimId, UserAttrs, UserName};
use crate::plan::{
    Change, CreateGroup, CreateUser, DeactivateMode, DeactivateUser, DeleteGroup, GroupOrigin,
    LinkOrigin, LinkUser, Members, Op, OpKind, PatchGroup, PatchUser, ReaddUser,
};
use crate::scim::{self, Readd, TargetWrite};
use crate::store::{self, LinkKind, LinkState, Outcome};

/// How an operation that did not fail ended.
pub(super) enum Executed {
    /// Done: the target id after it, and what the store is to record of it (committed with the
    /// journal entry's outcome, module `commit`).
    Done(Done),
    /// Not attempted, and why.
    Skipped(String),
}

/// Why an operation failed.
pub(super) enum Failure {
    /// The target refused or could not be reached.
    Scim(scim::Error),
    /// The store failed after the call: the run stops.
    Store(store::Error),
    /// The plan cannot be carried out as it stands.
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

/// A done operation.
pub(super) struct Done {
    /// The target id after it.
    pub id: Option<String>,
    /// The links and write records it leaves.
    pub writes: Vec<Outcome>,
    /// A re-key: the link moves its SCIM id from the second key to the first on purpose.
    pub moving: Option<(SourceKey, SourceKey)>,
}

type Result = std::result::Result<Executed, Failure>;

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

/// Carry out `op`.
pub(super) async fn execute<W: TargetWrite>(ctx: &Ctx<W>, op: &Op) -> Result {
    match op {
        Op::LinkUser(o) => link_user(ctx, o).await,
        Op::CreateUser(o) => create_user(ctx, o).await,
        Op::PatchUser(o) => patch_user(ctx, o).await,
        Op::ReaddUser(o) => readd_user(ctx, o).await,
        Op::DeactivateUser(o) => deactivate_user(ctx, o).await,
        Op::CreateGroup(o) => create_group(ctx, o).await,
        Op::PatchGroup(o) => patch_group(ctx, o).await,
        Op::AddMembers(o) => members(ctx, o, true).await,
        Op::RemoveMembers(o) => members(ctx, o, false).await,
        Op::DeleteGroup(o) => delete_group(ctx, o).await,
    }
}

fn done(id: &ScimId, writes: Vec<Outcome>) -> Result {
    Ok(Executed::Done(Done {
        id: Some(id.0.clone()),
        writes,
        moving: None,
    }))
}

async fn link_user<W>(ctx: &Ctx<W>, o: &LinkUser) -> Result {
    let origin = match o.origin {
        LinkOrigin::Recover => store::LinkOrigin::Recovered,
        LinkOrigin::Adopt => store::LinkOrigin::Adopted,
        // The link keeps how it first came to be.
        LinkOrigin::Rekey => previous_origin(ctx, o).await?,
    };
    let name = o.user_name.as_str();
    let linked = link(
        ctx,
        LinkKind::User,
        &o.source_key,
        &o.scim_id,
        name,
        origin,
        OpKind::LinkUser,
    );
    Ok(Executed::Done(Done {
        id: Some(o.scim_id.0.clone()),
        writes: vec![linked],
        moving: o.previous_key.clone().map(|p| (o.source_key.clone(), p)),
    }))
}

async fn create_user<W: TargetWrite>(ctx: &Ctx<W>, o: &CreateUser) -> Result {
    let attrs = attrs_from_changes(&o.changes);
    let (user, outcome) = ctx.target.create_user(&attrs).await?;
    let id = ScimId(user.id);
    let origin = origin_of(outcome, store::LinkOrigin::Created);
    let name = o.user_name.as_str();
    let cause = OpKind::CreateUser;
    let linked = link(ctx, LinkKind::User, &o.source_key, &id, name, origin, cause);
    done(&id, vec![linked])
}

async fn patch_user<W: TargetWrite>(ctx: &Ctx<W>, o: &PatchUser) -> Result {
    let pairs = patch_pairs(&o.changes);
    let reply = ctx.target.patch_user(&o.scim_id, &pairs).await?;
    // What the target kept of the patch, for the next plan's convergence guard.
    let mut writes = super::learn::applied(ctx, o, &pairs, reply).await;
    if o.changes.iter().any(|c| c.attr == Attr::UserName.path()) {
        writes.push(rename_link(ctx, &o.source_key, &o.user_name));
    }
    done(&o.scim_id, writes)
}

async fn readd_user<W: TargetWrite>(ctx: &Ctx<W>, o: &ReaddUser) -> Result {
    let target = &ctx.target;
    let id = match (target.profile().readd, &o.scim_id) {
        (Readd::Reactivate, Some(existing)) => {
            target.set_active(existing, true).await?;
            let pairs = patch_pairs(&o.changes);
            if !pairs.is_empty() {
                target.patch_user(existing, &pairs).await?;
            }
            existing.clone()
        }
        // Re-added by create (the id may change), or no kept user to switch back on.
        _ => match &o.former_user_name {
            Some(former) => return readd_renamed(ctx, o, former).await,
            None => {
                let attrs = attrs_from_changes(&o.changes);
                ScimId(target.create_user(&attrs).await?.0.id)
            }
        },
    };
    let (name, origin) = (o.user_name.as_str(), store::LinkOrigin::Created);
    let cause = OpKind::ReaddUser;
    let mut writes = vec![link(
        ctx,
        LinkKind::User,
        &o.source_key,
        &id,
        name,
        origin,
        cause,
    )];
    writes.extend(consumed(ctx, o));
    done(&id, writes)
}

/// Re-add by create a person who returns with another userName: the target finds their account
/// by the one it had (`former`), so the create names that one, the link follows at once, and
/// the new userName and email are patched right after. A failed patch leaves the account back
/// and linked under its former name (committed before the error is returned, as the account is
/// back whatever the patch did), which the next plan patches like any change.
async fn readd_renamed<W: TargetWrite>(ctx: &Ctx<W>, o: &ReaddUser, former: &UserName) -> Result {
    let target = &ctx.target;
    let wanted = attrs_from_changes(&o.changes);
    let mut first = wanted.clone();
    let identity = [Attr::UserName, Attr::Email];
    for attr in identity {
        if first.contains_key(&attr) {
            first.insert(attr, former.to_string());
        }
    }
    let id = ScimId(target.create_user(&first).await?.0.id);
    let (origin, cause) = (store::LinkOrigin::Created, OpKind::ReaddUser);
    let mut writes = vec![link(
        ctx,
        LinkKind::User,
        &o.source_key,
        &id,
        former.as_str(),
        origin,
        cause,
    )];
    writes.extend(consumed(ctx, o));
    let pairs: Vec<(Attr, Option<String>)> = identity
        .into_iter()
        .filter_map(|a| wanted.get(&a).map(|v| (a, Some(v.to_owned()))))
        .collect();
    if let Err(e) = target.patch_user(&id, &pairs).await {
        ctx.outcomes.push(&ctx.store, writes, None).await?;
        ctx.outcomes.flush(&ctx.store).await?;
        return Err(e.into());
    }
    writes.push(rename_link(ctx, &o.source_key, &o.user_name));
    done(&id, writes)
}

/// That the run acted on the admin's confirmation the re-add cites.
fn consumed<W>(ctx: &Ctx<W>, o: &ReaddUser) -> Option<Outcome> {
    o.confirmation.map(|id| Outcome::Consumed {
        id,
        run_id: ctx.run_id,
        at: ctx.clock.now(),
    })
}

async fn deactivate_user<W: TargetWrite>(ctx: &Ctx<W>, o: &DeactivateUser) -> Result {
    match ctx.opts.deactivate {
        DeactivateMode::ActiveFalse => ctx.target.set_active(&o.scim_id, false).await?,
        DeactivateMode::Delete => ctx.target.delete_user(&o.scim_id).await?,
    }
    // An unlinked user (left alone as an orphan until now) has no link to mark: the change
    // leaves it absent.
    let marked = Outcome::LinkState {
        target_name: ctx.opts.target_name.clone(),
        kind: LinkKind::User,
        key: o.source_key.clone(),
        state: LinkState::Deactivated,
        at: ctx.clock.now(),
        change: change(ctx, OpKind::DeactivateUser),
    };
    done(&o.scim_id, vec![marked])
}

async fn create_group<W: TargetWrite>(ctx: &Ctx<W>, o: &CreateGroup) -> Result {
    let group = ctx.target.create_group(&o.display_name, &[]).await?;
    let id = ScimId(group.id);
    let (name, origin) = (o.display_name.as_str(), store::LinkOrigin::Created);
    let cause = OpKind::CreateGroup;
    let linked = link(
        ctx,
        LinkKind::Group,
        &o.source_key,
        &id,
        name,
        origin,
        cause,
    );
    done(&id, vec![linked])
}

async fn patch_group<W: TargetWrite>(ctx: &Ctx<W>, o: &PatchGroup) -> Result {
    if let Some(change) = o.changes.iter().find(|c| c.attr == "displayName") {
        let name = change
            .after
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or(&o.display_name);
        ctx.target.rename_group(&o.scim_id, name).await?;
    }
    let origin = match o.origin {
        GroupOrigin::Adopt => store::LinkOrigin::Adopted,
        GroupOrigin::Rename => store::LinkOrigin::Created,
    };
    let name = o.display_name.as_str();
    let linked = link(
        ctx,
        LinkKind::Group,
        &o.source_key,
        &o.scim_id,
        name,
        origin,
        OpKind::PatchGroup,
    );
    done(&o.scim_id, vec![linked])
}

async fn members<W: TargetWrite>(ctx: &Ctx<W>, o: &Members, add: bool) -> Result {
    let id = group_id(ctx, o).await?;
    let (ids, missing) = member_ids(ctx, &o.members).await?;
    if ids.is_empty() {
        return Ok(Executed::Skipped(format!(
            "no member could be resolved to a target id ({}); their creation may have failed",
            missing.join(", ")
        )));
    }
    let (added, removed): (&[ScimId], &[ScimId]) = if add { (&ids, &[]) } else { (&[], &ids) };
    ctx.target
        .patch_group_members(&id, added, removed, ctx.opts.batch_size)
        .await?;
    if !missing.is_empty() {
        tracing::warn!(group = %o.display_name, missing = ?missing, "some members were not resolved and were left out");
    }
    done(&id, Vec::new())
}

async fn delete_group<W: TargetWrite>(ctx: &Ctx<W>, o: &DeleteGroup) -> Result {
    if let Err(e) = ctx.target.delete_group(&o.scim_id).await {
        if !e.is_auth() && matches!(e.status(), Some(400 | 403 | 409)) {
            // Say what the target's refusal likely means, in the profile's words. A 403 stays
            // a SCIM error so the token is checked.
            let note = ctx.target.profile().group_delete_refused(&o.display_name);
            return Err(e.with_note(&note).into());
        }
        return Err(e.into());
    }
    let unlinked = Outcome::Unlink {
        target_name: ctx.opts.target_name.clone(),
        kind: LinkKind::Group,
        key: o.source_key.clone(),
    };
    done(&o.scim_id, vec![unlinked])
}
