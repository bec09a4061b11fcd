//! The calls of each operation kind, and the links each leaves behind. What a target does
//! differently (how a returning person is put back, why a group delete is refused) comes from its
//! profile, never from the kind of target named here.

use super::links::{group_id, link, member_ids, origin_of, previous_origin, rename_link, LinkTo};
use super::Ctx;
use crate::model::{Attr, ScimId, UserAttrs, UserName};
use crate::plan::{
    Change, CreateGroup, CreateUser, DeactivateMode, DeactivateUser, DeleteGroup, GroupOrigin,
    LinkOrigin, LinkUser, Members, Op, OpKind, PatchGroup, PatchUser, ReaddUser,
};
use crate::scim::{self, Readd, TargetWrite};
use crate::store::{self, LinkChange, LinkKind, LinkState};

/// How an operation that did not fail ended.
pub(super) enum Executed {
    /// Done; the target id after it.
    Done(Option<String>),
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

type Outcome = Result<Executed, Failure>;

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
pub(super) async fn execute<W: TargetWrite>(ctx: &Ctx<W>, op: &Op) -> Outcome {
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

fn done(id: &ScimId) -> Outcome {
    Ok(Executed::Done(Some(id.0.clone())))
}

async fn link_user<W>(ctx: &Ctx<W>, o: &LinkUser) -> Outcome {
    let origin = match o.origin {
        LinkOrigin::Recover => store::LinkOrigin::Recovered,
        LinkOrigin::Adopt => store::LinkOrigin::Adopted,
        // The link keeps how it first came to be.
        LinkOrigin::Rekey => previous_origin(ctx, o).await?,
    };
    let to = LinkTo {
        kind: LinkKind::User,
        key: &o.source_key,
        id: &o.scim_id,
        user_name: o.user_name.as_str(),
        origin,
        moving_from: o.previous_key.as_ref(),
        cause: OpKind::LinkUser,
    };
    link(ctx, to).await?;
    done(&o.scim_id)
}

async fn create_user<W: TargetWrite>(ctx: &Ctx<W>, o: &CreateUser) -> Outcome {
    let attrs = attrs_from_changes(&o.changes);
    let (user, outcome) = ctx.target.create_user(&attrs).await?;
    let id = ScimId(user.id);
    let origin = origin_of(outcome, store::LinkOrigin::Created);
    let to = LinkTo::user(
        &o.source_key,
        &id,
        o.user_name.as_str(),
        origin,
        OpKind::CreateUser,
    );
    link(ctx, to).await?;
    done(&id)
}

async fn patch_user<W: TargetWrite>(ctx: &Ctx<W>, o: &PatchUser) -> Outcome {
    let pairs = patch_pairs(&o.changes);
    let reply = ctx.target.patch_user(&o.scim_id, &pairs).await?;
    // What the target kept of the patch, for the next plan's convergence guard.
    super::learn::applied(ctx, o, &pairs, reply).await?;
    if o.changes.iter().any(|c| c.attr == Attr::UserName.path()) {
        rename_link(ctx, &o.source_key, &o.user_name).await?;
    }
    done(&o.scim_id)
}

async fn readd_user<W: TargetWrite>(ctx: &Ctx<W>, o: &ReaddUser) -> Outcome {
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
    let to = LinkTo::user(
        &o.source_key,
        &id,
        o.user_name.as_str(),
        store::LinkOrigin::Created,
        OpKind::ReaddUser,
    );
    link(ctx, to).await?;
    consumed(ctx, o).await?;
    done(&id)
}

/// Re-add by create a person who returns with another userName: the target finds their account
/// by the one it had (`former`), so the create names that one, the link follows at once, and
/// the new userName and email are patched right after. A failed patch leaves the account back
/// and linked under its former name, which the next plan patches like any change.
async fn readd_renamed<W: TargetWrite>(ctx: &Ctx<W>, o: &ReaddUser, former: &UserName) -> Outcome {
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
    let origin = store::LinkOrigin::Created;
    let to = LinkTo::user(
        &o.source_key,
        &id,
        former.as_str(),
        origin,
        OpKind::ReaddUser,
    );
    link(ctx, to).await?;
    consumed(ctx, o).await?;
    let pairs: Vec<(Attr, Option<String>)> = identity
        .into_iter()
        .filter_map(|a| wanted.get(&a).map(|v| (a, Some(v.clone()))))
        .collect();
    target.patch_user(&id, &pairs).await?;
    rename_link(ctx, &o.source_key, &o.user_name).await?;
    done(&id)
}

/// Record that the run acted on the admin's confirmation the re-add cites.
async fn consumed<W>(ctx: &Ctx<W>, o: &ReaddUser) -> Result<(), Failure> {
    if let Some(id) = o.confirmation {
        ctx.store
            .consume_confirmation(id, ctx.run_id, ctx.clock.now())
            .await?;
    }
    Ok(())
}

async fn deactivate_user<W: TargetWrite>(ctx: &Ctx<W>, o: &DeactivateUser) -> Outcome {
    match ctx.opts.deactivate {
        DeactivateMode::ActiveFalse => ctx.target.set_active(&o.scim_id, false).await?,
        DeactivateMode::Delete => ctx.target.delete_user(&o.scim_id).await?,
    }
    let change = LinkChange::new(OpKind::DeactivateUser.to_string(), Some(ctx.run_id));
    let marked = ctx
        .store
        .set_link_state_logged(
            (&ctx.opts.target_name, LinkKind::User, &o.source_key),
            LinkState::Deactivated,
            ctx.clock.now(),
            &change,
        )
        .await;
    match marked {
        // An unlinked user (left alone as an orphan until now) has no link to mark.
        Ok(()) | Err(store::Error::LinkNotFound { .. }) => done(&o.scim_id),
        Err(e) => Err(e.into()),
    }
}

async fn create_group<W: TargetWrite>(ctx: &Ctx<W>, o: &CreateGroup) -> Outcome {
    let group = ctx.target.create_group(&o.display_name, &[]).await?;
    let id = ScimId(group.id);
    let to = LinkTo {
        kind: LinkKind::Group,
        ..LinkTo::user(
            &o.source_key,
            &id,
            &o.display_name,
            store::LinkOrigin::Created,
            OpKind::CreateGroup,
        )
    };
    link(ctx, to).await?;
    done(&id)
}

async fn patch_group<W: TargetWrite>(ctx: &Ctx<W>, o: &PatchGroup) -> Outcome {
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
    let to = LinkTo {
        kind: LinkKind::Group,
        ..LinkTo::user(
            &o.source_key,
            &o.scim_id,
            &o.display_name,
            origin,
            OpKind::PatchGroup,
        )
    };
    link(ctx, to).await?;
    done(&o.scim_id)
}

async fn members<W: TargetWrite>(ctx: &Ctx<W>, o: &Members, add: bool) -> Outcome {
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
    done(&id)
}

async fn delete_group<W: TargetWrite>(ctx: &Ctx<W>, o: &DeleteGroup) -> Outcome {
    if let Err(e) = ctx.target.delete_group(&o.scim_id).await {
        if !e.is_auth() && matches!(e.status(), Some(400 | 403 | 409)) {
            // Say what the target's refusal likely means, in the profile's words. A 403 stays
            // a SCIM error so the token is checked.
            let note = ctx.target.profile().group_delete_refused(&o.display_name);
            return Err(e.with_note(&note).into());
        }
        return Err(e.into());
    }
    ctx.store
        .delete_link(&ctx.opts.target_name, LinkKind::Group, &o.source_key)
        .await?;
    done(&o.scim_id)
}
