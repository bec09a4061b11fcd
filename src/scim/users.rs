//! User writes of a [`Writer`]: create (never duplicated, see `recovery`), patch, activate or
//! deactivate, delete. Request bodies come from the target profile.

use super::client::Writer;
use super::error::{Error, Result};
use super::forms::Choice;
use super::profile::SetForm;
use super::recovery::Created;
use super::target::{CreateOutcome, TargetRead};
use super::wire;
use crate::model::{Attr, ScimId, UserAttrs};

/// `POST /Users`; see [`super::TargetWrite::create_user`].
pub(super) async fn create(w: &Writer, attrs: &UserAttrs) -> Result<(wire::User, CreateOutcome)> {
    let core = &w.reader.core;
    let user_name = attrs
        .get(&Attr::UserName)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Config {
            detail: "cannot create a user without userName; fix the userName mapping".into(),
        })?;
    let body = core.profile.create_body(attrs);
    let path = "/Users";
    let lookup = || w.reader.find_user(user_name);
    match core.send_create(&["Users"], &body, lookup).await? {
        Created::Recovered(user) => Ok((user, CreateOutcome::RecoveredAfterLostReply)),
        Created::Reply(reply) if reply.ok() => {
            let user = core.parse_user("POST", path, &reply.body)?;
            let outcome = if reply.status == 200 {
                CreateOutcome::Existing
            } else {
                CreateOutcome::Created
            };
            Ok((user, outcome))
        }
        Created::Reply(reply) if reply.status == 409 => match lookup().await? {
            // The earlier, lost attempt committed after the lookup ran.
            Some(user) if reply.after_lost => Ok((user, CreateOutcome::RecoveredAfterLostReply)),
            Some(user) => Ok((user, CreateOutcome::Existing)),
            None => Err(core
                .api_error("POST", path, &reply)
                .with_note(core.profile.unseen_existing_user())),
        },
        Created::Reply(reply) => Err(core.api_error("POST", path, &reply)),
    }
}

/// `PATCH /Users/{id}` with the profile's PatchOp for `changes`; the user when the target
/// returns it (200), `None` on 204.
pub(super) async fn patch(
    w: &Writer,
    id: &ScimId,
    changes: &[(Attr, Option<String>)],
) -> Result<Option<wire::User>> {
    let core = &w.reader.core;
    let path = format!("/Users/{id}");
    let choice = Choice::Set(SetForm::Path);
    let reply = core
        .patch_in_forms(&["Users", &id.0], choice, |form| {
            core.profile.patch_body_in(changes, form.set)
        })
        .await?;
    core.expect_ok("PATCH", &path, &reply)?;
    if reply.empty() {
        return Ok(None);
    }
    core.parse_user("PATCH", &path, &reply.body).map(Some)
}

/// Set `active` with `PATCH {"op":"replace","value":{"active":…}}`. A 404 when deactivating,
/// on a retry after a lost reply, counts as done.
pub(super) async fn set_active(w: &Writer, id: &ScimId, active: bool) -> Result<()> {
    let core = &w.reader.core;
    let path = format!("/Users/{id}");
    let choice = Choice::Set(SetForm::ValueObject);
    let reply = core
        .patch_in_forms(&["Users", &id.0], choice, |form| {
            core.profile.active_body_in(active, form.set)
        })
        .await?;
    if !active && reply.status == 404 && reply.after_lost {
        return Ok(());
    }
    core.expect_ok("PATCH", &path, &reply)
}

/// `DELETE /Users/{id}`.
pub(super) async fn delete(w: &Writer, id: &ScimId) -> Result<()> {
    w.reader.core.delete(&["Users", &id.0]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};
    use crate::scim::test_support::{accept_and_drop, quick};
    use crate::scim::transport::CONNECT_RETRIES;
    use crate::scim::{Profile, TargetWrite};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_failed_handshake_is_retried_twice_quickly_and_never_looked_up() {
        // TLS to a port that closes every connection: the handshake fails before any byte of
        // the request is sent, so even a POST is simply tried again, at most twice.
        let (port, connections) = accept_and_drop().await;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let writer = Writer::new(
            quick(&format!("https://127.0.0.1:{port}/scim/v2")),
            Profile::notion(),
            clock,
        )
        .unwrap();
        let mut attrs = UserAttrs::new();
        attrs.insert(Attr::UserName, "ada@example.com".into());
        let err = writer.create_user(&attrs).await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains("POST /Users"), "{err}");
        // One try and two retries; a lookup (GET) would have added connections.
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            1 + CONNECT_RETRIES as usize
        );
    }
}
