//! The links apply keeps in step with its writes, and the ids it resolves through them (a group
//! or a member created earlier in the same run is known by its link).

use super::ops::Failure;
use super::Ctx;
use crate::model::{ScimId, SourceKey, UserName};
use crate::plan::{LinkUser, Members, OpKind};
use crate::scim::{CreateOutcome, TargetRead};
use crate::store::{self, Link, LinkChange, LinkKind, LinkState};

/// A link an operation leaves behind.
pub(super) struct LinkTo<'a> {
    /// User or group.
    pub kind: LinkKind,
    /// The source key.
    pub key: &'a SourceKey,
    /// The target id.
    pub id: &'a ScimId,
    /// The userName (or displayName) written.
    pub user_name: &'a str,
    /// How the link came to be.
    pub origin: store::LinkOrigin,
    /// The key a re-key moves the link from.
    pub moving_from: Option<&'a SourceKey>,
    /// The operation that leaves it (the link history's cause).
    pub cause: OpKind,
}

impl<'a> LinkTo<'a> {
    /// A user link left by `cause`, not moved from another key.
    pub fn user(
        key: &'a SourceKey,
        id: &'a ScimId,
        user_name: &'a str,
        origin: store::LinkOrigin,
        cause: OpKind,
    ) -> Self {
        Self {
            kind: LinkKind::User,
            key,
            id,
            user_name,
            origin,
            moving_from: None,
            cause,
        }
    }
}

/// Link `to.id` under `to.key` (a user or group), replacing whatever the key pointed at before,
/// and record the change in the link history with this run. It runs after the SCIM write
/// succeeded, so it never fails on the one-key-per-id rule: a key that held the id is moved off
/// it (a re-key moves it on purpose; anything else is logged).
pub(super) async fn link<W>(ctx: &Ctx<W>, to: LinkTo<'_>) -> Result<(), Failure> {
    let change = LinkChange::new(to.cause.to_string(), Some(ctx.run_id));
    let displaced = ctx
        .store
        .save_link(
            &Link {
                target_name: ctx.opts.target_name.clone(),
                kind: to.kind,
                key: to.key.clone(),
                scim_id: to.id.clone(),
                user_name: to.user_name.to_owned(),
                state: LinkState::Active,
                origin: to.origin,
                updated_at: ctx.clock.now(),
            },
            &change,
        )
        .await?;
    if let Some(previous) = displaced.filter(|d| Some(d) != to.moving_from) {
        let (kind, id, key) = (to.kind, to.id, to.key);
        tracing::warn!(%kind, id = %id, from = %previous, to = %key, "the target id was linked to another source key; the link now follows the write");
    }
    Ok(())
}

/// Keep the link's userName current after a userName change, so later operations of the run
/// (group memberships) resolve the member by its new name.
pub(super) async fn rename_link<W>(
    ctx: &Ctx<W>,
    key: &SourceKey,
    user_name: &UserName,
) -> Result<(), Failure> {
    let links = ctx.store.links(&ctx.opts.target_name).await?;
    if let Some(mut link) = links
        .into_iter()
        .find(|l| l.kind == LinkKind::User && l.key == *key)
    {
        link.user_name = user_name.to_string();
        link.updated_at = ctx.clock.now();
        let change = LinkChange::new(OpKind::PatchUser.to_string(), Some(ctx.run_id));
        ctx.store.save_link(&link, &change).await?;
    }
    Ok(())
}

/// The group's id: from the plan, or (for a group created earlier in this run) from its link.
pub(super) async fn group_id<W>(ctx: &Ctx<W>, op: &Members) -> Result<ScimId, Failure> {
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
pub(super) async fn member_ids<W: TargetRead>(
    ctx: &Ctx<W>,
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
    let links = ctx.store.links(&ctx.opts.target_name).await?;
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
