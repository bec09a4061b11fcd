//! Users as idbridge reasons about them: the managed attributes, what the sources want, what the
//! target holds.

use super::{FindingCode, Provenance, ScimId, SourceKey, UserAttrs, UserName};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// SCIM enterprise extension schema URN (RFC 7643 §4.3).
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A SCIM user attribute that idbridge manages. The declaration order is the order in which changes
/// are listed in a plan, so it is part of the plan's byte-for-byte stability. Its spelling is its
/// SCIM PATCH path (RFC 7644 §3.5.2), also `changes[].attr` in a plan: [`Attr::path`],
/// [`Attr::from_path`], and `Attr::iter()` in plan order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
    strum::VariantArray,
)]
pub enum Attr {
    /// `userName` (an email for Notion).
    #[strum(serialize = "userName")]
    UserName,
    /// `name.givenName`.
    #[strum(serialize = "name.givenName")]
    GivenName,
    /// `name.familyName`.
    #[strum(serialize = "name.familyName")]
    FamilyName,
    /// `displayName`.
    #[strum(serialize = "displayName")]
    DisplayName,
    /// The primary work email, sent as the whole `emails` attribute.
    #[strum(serialize = "emails")]
    Email,
    /// `title`.
    #[strum(serialize = "title")]
    Title,
    /// `externalId`: the source key, so a target-side lookup can find the person again.
    #[strum(serialize = "externalId")]
    ExternalId,
    /// Enterprise `employeeNumber`.
    #[strum(
        serialize = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
    )]
    EmployeeNumber,
    /// Enterprise `department`.
    #[strum(serialize = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")]
    Department,
    /// Enterprise `manager` (Notion wants the manager's email in `manager.value`).
    #[strum(serialize = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")]
    Manager,
    /// Notion's workspace role, the Notion extension's `role` (docs/notion.md, "Users"): managed
    /// only when `[roles]` is configured for a Notion target.
    #[strum(serialize = "urn:ietf:params:scim:schemas:extension:notion:2.0:User:role")]
    NotionRole,
    /// The primary value of RFC 7643's multi-valued `roles` (§4.1.2): a generic SCIM target's
    /// role, managed only when `[roles]` is configured for it. Notion's `roles` is free text
    /// shown in hover cards, not the workspace role, so it is never this for Notion.
    #[strum(serialize = "roles")]
    Roles,
}

impl Attr {
    /// The SCIM PATCH path (RFC 7644 §3.5.2) of this attribute; also `changes[].attr` in a plan.
    pub fn path(self) -> &'static str {
        self.into()
    }

    /// The attribute whose PATCH path is `path` (exactly, as [`Attr::path`] spells it).
    pub fn from_path(path: &str) -> Option<Attr> {
        path.parse().ok()
    }

    /// Whether values compare without case (emails do; Notion lowercases them).
    pub fn case_insensitive(self) -> bool {
        matches!(self, Attr::UserName | Attr::Email | Attr::Manager)
    }

    /// Whether this is a role attribute (`[roles]`), which the planner treats by its own rules
    /// (plan::roles): never removed, never changed on an unknown value, capped per run.
    pub fn is_role(self) -> bool {
        matches!(self, Attr::NotionRole | Attr::Roles)
    }
}

/// How a target keeps a person's name, which decides how the planner compares names (the target
/// profile says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameModel {
    /// `name.givenName`, `name.familyName` and `displayName` are kept as sent: each is compared
    /// on its own.
    #[default]
    Parts,
    /// One name per person (Notion, docs/notion.md, "Users"): the parts sent are merged into it,
    /// `displayName` shows it and the parts may come back dropped or re-split. Only the whole
    /// name, `givenName` and `familyName` joined, is compared; when it differs the name
    /// attributes that differ are sent, and `displayName` never changes on its own.
    Single,
}

/// Where a person stands according to the sources, at the plan's `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Lifecycle {
    /// Employed and started: must be in the workspace.
    Active,
    /// Left (terminated, or a status mapped to inactive): must not be in the workspace.
    Inactive,
    /// Not started yet: not provisioned, but also never deactivated for being absent.
    Pending,
}

/// A person the sources describe, after join and mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUser {
    /// The stable key that links the person to a target user (the first source, in config
    /// order, that has a record for them).
    pub key: SourceKey,
    /// The person's keys in the other sources: a link stored under any of them still matches, so
    /// adding a source never re-keys anyone.
    pub other_keys: Vec<SourceKey>,
    /// The attributes the target user must have.
    pub attrs: UserAttrs,
    /// Whether the person must be in the workspace.
    pub lifecycle: Lifecycle,
    /// The source fact behind the lifecycle, for the plan's `reason`, e.g.
    /// `hr: status=terminated, terminationDate=2026-03-01 (hr.csv line 42)`.
    pub reason: String,
    /// A termination a source has recorded that has not taken effect yet (the earliest, when
    /// several sources have one).
    pub leaving: Option<Leaving>,
    /// Set when the person is inactive only because a `[scope]` rule no longer matches them (a
    /// mover out of scope): the rule and why, e.g. `[scope] ous: not under ou=people,dc=x`. The
    /// planner treats them like a leaver absent from the sources, with the same grace.
    pub out_of_scope: Option<String>,
    /// Set when the person is inactive only because a directory account is disabled (no source
    /// records a termination): the fact, e.g. `corp: status=disabled (cn=ada,ou=people)`. By
    /// default they are deactivated at once; `[policy] disabled_accounts = "grace"` gives them the
    /// absence grace instead.
    pub disabled: Option<String>,
    /// Where each mapped attribute's value comes from: the source records its template read, with
    /// the values read. A patch's reason cites these for the attributes it changes.
    pub provenance: Provenance,
}

/// A termination that takes effect later: the person is kept until `effective`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaving {
    /// The last day of work (`termination_date`).
    pub last_day: NaiveDate,
    /// When the person is deactivated: the start of the day after `last_day` in `timezone`.
    pub effective: DateTime<Utc>,
    /// The time zone of the source's dates.
    pub timezone: Tz,
    /// The source fact, e.g. `hr: status=terminated, terminationDate=2026-03-13 (hr.csv line 11)`.
    pub fact: String,
}

impl DesiredUser {
    /// The desired `userName`, if the mapping produced one.
    pub fn user_name(&self) -> Option<UserName> {
        self.attrs.get(&Attr::UserName).map(UserName::new)
    }
}

/// A user as the target holds it, normalised by the target profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUser {
    /// The target's id.
    pub id: ScimId,
    /// The managed attributes as the target reports them (profile-normalised).
    pub attrs: UserAttrs,
    /// `active` as reported (Notion may list removed users as inactive, or not at all).
    pub active: bool,
    /// Notion workspace role (`owner`, `membership_admin`, `member`, `restricted_member`, or
    /// anything newer); `None` when the target has no such notion.
    pub role: Option<String>,
}

impl TargetUser {
    /// The target's `userName`.
    pub fn user_name(&self) -> UserName {
        UserName::new(self.user_name_text())
    }

    /// The comparison key of the target's `userName` ([`UserName::key_of`]).
    pub fn user_name_key(&self) -> std::borrow::Cow<'_, str> {
        UserName::key_of(self.user_name_text())
    }

    fn user_name_text(&self) -> &str {
        self.attrs.get(&Attr::UserName).unwrap_or("")
    }
}

/// A problem found while reading a source: the record is reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceIssue {
    /// The source's name.
    pub source: String,
    /// Where: `hr.csv line 7`, a DN, an API page.
    pub location: String,
    /// The finding it becomes in the plan, e.g. `source-row-invalid`, `member-outside-scope`.
    pub code: FindingCode,
    /// What was wrong and what to do about it.
    pub message: String,
    /// True when a person's record was lost (a bad row or entry). Only such issues hold back
    /// deactivations; a notice about a group member outside the scope does not.
    pub skipped_person: bool,
    /// Identifiers that could still be read from the bad record (an employee id, an email). A person
    /// named here is never deactivated for being absent; when empty, nobody can be, since the bad
    /// record could be anyone.
    pub hints: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_are_unique() {
        use strum::IntoEnumIterator;
        for attr in Attr::iter() {
            assert_eq!(Attr::from_path(attr.path()), Some(attr));
        }
        let mut paths: Vec<_> = Attr::iter().map(Attr::path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), Attr::iter().count());
        // Plan order is declaration order; a path is matched exactly, as a plan spells it.
        assert_eq!(Attr::iter().next(), Some(Attr::UserName));
        assert_eq!(Attr::iter().next_back(), Some(Attr::Roles));
        assert_eq!(Attr::from_path("username"), None);
        assert_eq!(Attr::from_path("manager"), None);
    }

    #[test]
    fn enterprise_paths_carry_the_urn() {
        assert!(Attr::Department.path().starts_with(ENTERPRISE_URN));
    }
}

/// A group the sources want in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    /// Stable key (LDAP `entryUUID`/`objectGUID`): renames and moves keep it.
    pub key: SourceKey,
    /// Where it was read (DN).
    pub location: String,
    /// The target `displayName`.
    pub display_name: String,
    /// Members, as desired userNames of people the plan provisions.
    pub members: Vec<UserName>,
}

/// A group as the target holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    /// The target's id.
    pub id: ScimId,
    /// `displayName`.
    pub display_name: String,
    /// Member ids.
    pub members: Vec<ScimId>,
}
