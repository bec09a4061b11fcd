//! What a SCIM target lets idbridge do, split by capability: [`TargetRead`] lists and gets users
//! and groups (what `plan`, `check-config` and `apply --plan`'s verification need), and
//! [`TargetWrite`] adds the writes (what `apply` needs). `plan` holds a [`super::Reader`], a type
//! with no write method at all, so a dry run cannot write by construction; `apply` is generic
//! over [`TargetWrite`], so it runs as well against an in-memory target in its unit tests.
//!
//! The methods return `Send` futures (apply runs operations on tokio tasks).

use super::error::Result;
use super::profile::Profile;
use super::wire;
use crate::model::{Attr, ScimId, TargetUser, UserAttrs};
use std::future::Future;

/// What `create_user` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// 201: a new resource.
    Created,
    /// The user was already there (409 then found by lookup, or a 200 reply, which RFC 7644 §3.3
    /// does not use for new resources; Notion answers a POST for an existing account by adding it).
    Existing,
    /// A reply was lost (timeout, transport error, 5xx) and the lookup found the user: the lost
    /// write had committed.
    RecoveredAfterLostReply,
}

/// A full read of `/Users` normalised by the profile ([`super::Reader::read_target_users`]).
#[derive(Debug, Clone)]
pub struct TargetUserRead {
    /// Users, de-duplicated by id (of the last read when inconsistent).
    pub users: Vec<TargetUser>,
    /// Whether the read added up (see [`UserRead::consistent`]).
    pub consistent: bool,
    /// Why the last read did not add up (empty when consistent).
    pub problems: Vec<String>,
    /// Full reads made (1 when the first one added up).
    pub attempts: u32,
}

/// The result of a full read of `/Users`.
#[derive(Debug, Clone)]
pub struct UserRead {
    /// Users, de-duplicated by id (of the last read when inconsistent).
    pub users: Vec<wire::User>,
    /// Whether the read added up (no duplicate, `totalResults` stable and equal to the distinct count).
    pub consistent: bool,
    /// Why the last read did not add up (empty when consistent).
    pub problems: Vec<String>,
    /// Full reads made (1 when the first one added up).
    pub attempts: u32,
}

/// The result of a full read of `/Groups`.
#[derive(Debug, Clone)]
pub struct GroupRead {
    /// Groups, de-duplicated by id.
    pub groups: Vec<wire::Group>,
    /// Whether the read added up.
    pub consistent: bool,
    /// Why the last read did not add up.
    pub problems: Vec<String>,
    /// Full reads made.
    pub attempts: u32,
}

/// Reading a SCIM target: nothing here changes it.
pub trait TargetRead: Send + Sync {
    /// The target profile (how the target differs from plain RFC 7644, and its wording).
    fn profile(&self) -> &Profile;

    /// Whether the token is accepted: an authenticated `GET /Users?count=1`.
    fn probe(&self) -> impl Future<Output = Result<()>> + Send;

    /// Full paged read of `/Users`, checked for consistency and re-read when it does not add
    /// up. An inconsistent result is returned, marked, for the caller to act on (it then
    /// deactivates nobody).
    fn read_users(&self) -> impl Future<Output = Result<UserRead>> + Send;

    /// Full paged read of `/Groups`, with the same checks as [`TargetRead::read_users`].
    fn read_groups(&self) -> impl Future<Output = Result<GroupRead>> + Send;

    /// `GET /Users/{id}`; `None` when there is no such user.
    fn get_user(&self, id: &ScimId) -> impl Future<Output = Result<Option<wire::User>>> + Send;

    /// `GET /Groups/{id}`; `None` when there is no such group.
    fn get_group(&self, id: &ScimId) -> impl Future<Output = Result<Option<wire::Group>>> + Send;

    /// Find a user by name with the profile's filter (`email eq "x"` for Notion, `userName eq
    /// "x"` otherwise). Only an exact match counts, in case the server ignores or loosens the
    /// filter.
    fn find_user(&self, user_name: &str)
        -> impl Future<Output = Result<Option<wire::User>>> + Send;

    /// Find a group by exact `displayName`.
    fn find_group(
        &self,
        display_name: &str,
    ) -> impl Future<Output = Result<Option<wire::Group>>> + Send;
}

/// Writing to a SCIM target. Every write is safe to call again after an error: a create looks
/// before it sends again after a lost reply, and a delete or deactivation found done counts.
pub trait TargetWrite: TargetRead {
    /// `POST /Users`. Never sent twice blindly: after a lost reply the user is looked up
    /// first; a 409 means it exists, so it is looked up and returned as
    /// [`CreateOutcome::Existing`].
    fn create_user(
        &self,
        attrs: &UserAttrs,
    ) -> impl Future<Output = Result<(wire::User, CreateOutcome)>> + Send;

    /// `PATCH /Users/{id}` with the profile's PatchOp for `changes` (`None` removes). The
    /// updated user when the target returns it.
    fn patch_user(
        &self,
        id: &ScimId,
        changes: &[(Attr, Option<String>)],
    ) -> impl Future<Output = Result<Option<wire::User>>> + Send;

    /// Set `active`. For Notion `false` removes the user from the workspace.
    fn set_active(&self, id: &ScimId, active: bool) -> impl Future<Output = Result<()>> + Send;

    /// `DELETE /Users/{id}`.
    fn delete_user(&self, id: &ScimId) -> impl Future<Output = Result<()>> + Send;

    /// `POST /Groups` with the given members, with the same lost-reply and 409 handling as
    /// [`TargetWrite::create_user`] (lookup by `displayName`).
    fn create_group(
        &self,
        display_name: &str,
        member_ids: &[ScimId],
    ) -> impl Future<Output = Result<wire::Group>> + Send;

    /// Add and remove group members, at most `batch` per request; adds go first.
    fn patch_group_members(
        &self,
        id: &ScimId,
        add: &[ScimId],
        remove: &[ScimId],
        batch: usize,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Rename a group.
    fn rename_group(
        &self,
        id: &ScimId,
        display_name: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `DELETE /Groups/{id}`.
    fn delete_group(&self, id: &ScimId) -> impl Future<Output = Result<()>> + Send;
}
