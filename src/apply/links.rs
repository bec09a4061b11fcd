//! The links apply keeps in step with its writes, and the ids it resolves through them (a group
//! or a member created earlier in the same run is known by its link).

use super::ops::Failure;
use super::Ctx;
use crate::model::{ScimId, SourceKey, UserName};
use crate::plan::{LinkUser, Members, OpKind};
use crate::scim::{CreateOutcome, TargetRead};
use crate::store::{self, Link, LinkChange, LinkKind, LinkState, Outcome};

/// The link `id` under `key` (a user or group) is to have, replacing whatever the key pointed
/// at before. It is recorded after the SCIM write succeeded, so it never fails on the
/// one-key-per-id rule: a key that held the id is moved off it (a re-key moves it on purpose;
/// anything else is logged when it is committed, module `commit`). The link history cites
/// `cause` and this run.
pub(super) fn link<W>(
    ctx: &Ctx<W>,
    kind: LinkKind,
    key: &SourceKey,
    id: &ScimId,
    user_name: &str,
    origin: store::LinkOrigin,
    cause: OpKind,
) -> Outcome {
    Outcome::Link {
        link: Link {
            target_name: ctx.opts.target_name.clone(),
            kind,
            key: key.clone(),
            scim_id: id.clone(),
            user_name: user_name.to_owned(),
            state: LinkState::Active,
            origin,
            updated_at: ctx.clock.now(),
        },
        change: change(ctx, cause),
    }
}

/// Why a link changes in this run, for the link history.
pub(super) fn change<W>(ctx: &Ctx<W>, cause: OpKind) -> LinkChange {
    LinkChange::new(cause.to_string(), Some(ctx.run_id))
}

/// Keep the link's userName current after a userName change, so later operations of the run
/// (group memberships) resolve the member by its new name.
pub(super) fn rename_link<W>(ctx: &Ctx<W>, key: &SourceKey, user_name: &UserName) -> Outcome {
    Outcome::LinkName {
        target_name: ctx.opts.target_name.clone(),
        kind: LinkKind::User,
        key: key.clone(),
        user_name: user_name.to_string(),
        at: ctx.clock.now(),
        change: change(ctx, OpKind::PatchUser),
    }
}

/// The links of this target as the run left them so far: what waits for the group commit is
/// committed first, so a group or member created earlier in the run is found.
async fn links_now<W>(ctx: &Ctx<W>) -> Result<Vec<Link>, Failure> {
    ctx.outcomes.flush(&ctx.store).await?;
    Ok(ctx.store.links(&ctx.opts.target_name).await?)
}

/// The group's id: from the plan, or (for a group created earlier in this run) from its link.
pub(super) async fn group_id<W>(ctx: &Ctx<W>, op: &Members) -> Result<ScimId, Failure> {
    if let Some(id) = &op.scim_id {
        return Ok(id.clone());
    }
    let links = links_now(ctx).await?;
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
pub(super) async fn member_ids<W: TargetRead>(
    ctx: &Ctx<W>,
    members: &[UserName],
) -> Result<(Vec<ScimId>, Vec<String>), Failure> {
    let links = links_now(ctx).await?;
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
            None => match ctx.target.find_user(member.as_str()).await? {
                Some(user) => ids.push(ScimId(user.id)),
                None => missing.push(member.to_string()),
            },
        }
    }
    Ok((ids, missing))
}

/// How the link a re-key moves first came to be.
pub(super) async fn previous_origin<W>(
    ctx: &Ctx<W>,
    op: &LinkUser,
) -> Result<store::LinkOrigin, Failure> {
    let links = links_now(ctx).await?;
    Ok(links
        .iter()
        .find(|l| l.kind == LinkKind::User && Some(&l.key) == op.previous_key.as_ref())
        .map(|l| l.origin)
        .unwrap_or(store::LinkOrigin::Adopted))
}

/// The origin of the link a create leaves: `fresh` for a new user, else how it was found.
pub(super) fn origin_of(outcome: CreateOutcome, fresh: store::LinkOrigin) -> store::LinkOrigin {
    match outcome {
        CreateOutcome::Created => fresh,
        CreateOutcome::Existing => store::LinkOrigin::Adopted,
        CreateOutcome::RecoveredAfterLostReply => store::LinkOrigin::Recovered,
    }
}
