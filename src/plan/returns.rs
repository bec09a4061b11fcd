//! Rehires and returns (docs/lifecycle.md, "Rehires and returns"): how a returning person's
//! re-add is planned, and the admins' decisions about held email reuses, which the planner takes
//! as an input like links (it never reads the store).
//!
//! A returning person whose email changed while they were away must get their former account
//! back, not a new one: a target that re-adds by create (Notion) finds a removed account by the
//! email it had, so the re-add names that former userName (`formerUserName`) and apply patches
//! the new one right after. An email reuse held by `email-reused` is planned again only as an
//! admin confirmed it (`idbridge confirm reuse`): `same` moved the former person's link to the
//! new key, so the person returns through the ordinary re-add, which cites the confirmation;
//! `new` keeps the person held, as a warning that says what is left to do.

use super::diff::{full_changes, readd_reason, Planner};
use super::op::{Change, Op, ReaddUser, Severity};
use crate::model::DesiredUser;
use crate::model::{FindingCode, ScimId, SourceKey, TargetUser, UserName};
use chrono::{DateTime, SecondsFormat, Utc};

/// What an admin decided about a held email reuse. Spelled `same`, `new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// The new key is the former person returning.
    Same,
    /// Someone else: never handed the former person's account.
    New,
}

/// A recorded, not yet acted on, decision about an email reuse (`idbridge confirm reuse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    /// Its number in the store.
    pub id: i64,
    /// The reused email.
    pub user_name: UserName,
    /// The new person's key.
    pub key: SourceKey,
    /// The former person's key.
    pub former_key: SourceKey,
    /// Same person or someone new.
    pub decision: Reuse,
    /// Who confirmed, as `os_user@host`.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Confirmed {
    fn cite(&self) -> String {
        format!(
            "confirmed as the same person by {} at {} (confirmation {})",
            self.by,
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.id
        )
    }
}

/// The account a returning person is re-added to.
pub(super) enum Account<'t> {
    /// Removed from the workspace and no longer listed: known by its link.
    Gone {
        /// The id it had.
        id: &'t ScimId,
        /// The userName idbridge last wrote to it.
        user_name: &'t UserName,
    },
    /// Still listed by the target, inactive, with the managed attributes it holds that the
    /// person no longer has (changes to nothing).
    Kept(&'t TargetUser, Vec<Change>),
}

impl<'a> Planner<'a> {
    /// Plan the re-add of `person` (named `name` now) to `account`. When the account was known
    /// by another userName, the re-add names it (`formerUserName`) so the target finds the same
    /// account, unless the new userName belongs to another target user.
    pub(super) fn readd(&mut self, person: &DesiredUser, name: &UserName, account: Account<'_>) {
        let (id, former, kept_id, current, dropped) = match account {
            Account::Gone { id, user_name } => {
                (id.clone(), user_name.clone(), None, None, Vec::new())
            }
            Account::Kept(user, dropped) => (
                user.id.clone(),
                user.user_name(),
                Some(user.id.clone()),
                Some(&user.attrs),
                dropped,
            ),
        };
        let renamed = former != *name;
        if renamed && self.name_taken(person, name, &id) {
            return;
        }
        let confirmation = self.confirmed(person, Reuse::Same);
        let mut reason = readd_reason(person, &id);
        if renamed {
            reason.push_str(&format!(
                "; re-added to their former account as {former}, then their email becomes {name}"
            ));
        }
        if let Some(c) = confirmation {
            reason.push_str(&format!("; {}", c.cite()));
        }
        // Every attribute sent (a recreate sends them all), then the managed ones the person no
        // longer has: a target that switches the kept user back on must drop them too, or the
        // next run patches them away (found by plan::laws).
        let mut changes = full_changes(&person.attrs, current);
        changes.extend(dropped);
        self.ops.push(Op::ReaddUser(ReaddUser {
            user_name: name.clone(),
            scim_id: kept_id,
            source_key: person.key.clone(),
            reason,
            changes,
            former_user_name: renamed.then_some(former),
            confirmation: confirmation.map(|c| c.id),
        }));
    }

    /// Whether another target user holds `name`, the userName a returning person's account
    /// `id` would take: reported, and the person is left out until it is sorted out.
    fn name_taken(&mut self, person: &DesiredUser, name: &UserName, id: &ScimId) -> bool {
        let Some(holder) = self.by_name.get(&name.key_ref()).find(|u| u.id != *id) else {
            return false;
        };
        let holder = holder.id.clone();
        self.finding(
            Severity::Error,
            FindingCode::UserNameHeld,
            format!(
                "{} returns with the email {name}, which target user {holder} holds; not re-added: their former \
                 account ({id}) would take that email. Fix the source or the other account first",
                person.key
            ),
            vec![person.key.to_string(), format!("scim: {id}"), format!("scim: {holder}")],
        );
        true
    }

    /// The admin's decision of kind `decision` about `person`, if one is recorded.
    pub(super) fn confirmed(&self, person: &DesiredUser, decision: Reuse) -> Option<&'a Confirmed> {
        let confirmations: &'a [Confirmed] = self.input.confirmations;
        confirmations
            .iter()
            .filter(|c| c.decision == decision && c.key == person.key)
            .find(|c| person.user_name().is_some_and(|n| n == c.user_name))
    }

    /// An email reuse an admin confirmed as someone new: still held (the former person's account
    /// is never handed over), reported as a warning saying what is left to do. `None` when no
    /// such decision is recorded for `person` and `former`.
    pub(super) fn reuse_confirmed_new(
        &mut self,
        person: &DesiredUser,
        former: &SourceKey,
    ) -> Option<()> {
        let c = self
            .confirmed(person, Reuse::New)
            .filter(|c| c.former_key == *former)?;
        self.finding(
            Severity::Warning,
            FindingCode::EmailReused,
            format!(
                "{} ({}) is someone new, as {} confirmed at {} (confirmation {}); held: the email still belongs \
                 to {former}'s account, which is never handed over. Give them another email in the source, \
                 or free the address in the target first (docs/lifecycle.md, \"Rehires and returns\")",
                c.user_name,
                person.key,
                c.by,
                c.at.to_rfc3339_opts(SecondsFormat::Secs, true),
                c.id
            ),
            vec![person.key.to_string(), former.to_string()],
        );
        Some(())
    }
}
