//! Group writes of a [`Writer`]: create (never duplicated, see `recovery`), member changes in
//! batches, rename, delete. Request bodies come from the target profile.

use super::client::Writer;
use super::error::Result;
use super::forms::Choice;
use super::profile::{PatchForm, SetForm};
use super::recovery::Created;
use super::target::TargetRead;
use super::wire;
use crate::model::ScimId;
use serde_json::Value;

/// `POST /Groups`; see [`super::TargetWrite::create_group`].
pub(super) async fn create(
    w: &Writer,
    display_name: &str,
    member_ids: &[ScimId],
) -> Result<wire::Group> {
    let core = &w.reader.core;
    let body = core.profile.group_body(display_name, member_ids);
    let path = "/Groups";
    let lookup = || w.reader.find_group(display_name);
    match core.send_create(&["Groups"], &body, lookup).await? {
        Created::Recovered(group) => Ok(group),
        Created::Reply(reply) if reply.ok() => core.parse_group("POST", path, &reply.body),
        Created::Reply(reply) if reply.status == 409 => match lookup().await? {
            Some(group) => Ok(group),
            None => Err(core.api_error("POST", path, &reply)),
        },
        Created::Reply(reply) => Err(core.api_error("POST", path, &reply)),
    }
}

/// Add and remove members with `PATCH /Groups/{id}`, at most `batch` members per request
/// (Notion's limit is undocumented; keep it conservative). Adds go first.
pub(super) async fn patch_members(
    w: &Writer,
    id: &ScimId,
    add: &[ScimId],
    remove: &[ScimId],
    batch: usize,
) -> Result<()> {
    let batch = batch.max(1);
    let profile = &w.reader.core.profile;
    for chunk in add.chunks(batch) {
        patch(w, id, Choice::Set(SetForm::Path), |form| {
            profile.add_members_body_in(chunk, form.set)
        })
        .await?;
    }
    for chunk in remove.chunks(batch) {
        patch(w, id, Choice::Removal, |form| {
            profile.remove_members_body_in(chunk, form.removal)
        })
        .await?;
    }
    Ok(())
}

/// Rename a group (`replace displayName`).
pub(super) async fn rename(w: &Writer, id: &ScimId, display_name: &str) -> Result<()> {
    let profile = &w.reader.core.profile;
    patch(w, id, Choice::Set(SetForm::Path), |form| {
        profile.rename_group_body_in(display_name, form.set)
    })
    .await
}

/// `DELETE /Groups/{id}`. A 404 on a retry after a lost reply counts as done.
pub(super) async fn delete(w: &Writer, id: &ScimId) -> Result<()> {
    w.reader.core.delete(&["Groups", &id.0]).await
}

/// One group PATCH, in the first form the target accepts (`forms`).
async fn patch(
    w: &Writer,
    id: &ScimId,
    choice: Choice,
    build: impl Fn(PatchForm) -> Value,
) -> Result<()> {
    let core = &w.reader.core;
    let path = format!("/Groups/{id}");
    let reply = core
        .patch_in_forms(&["Groups", &id.0], choice, build)
        .await?;
    core.expect_ok("PATCH", &path, &reply)
}
