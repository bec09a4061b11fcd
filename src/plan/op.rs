//! Plan data: operations, changes, findings and the plan document (serialised as the JSON plan
//! format of docs/plan-format.md).

use super::absence::AbsenceSection;
use super::ChangeValue;
use crate::model::{FindingCode, ScimId, SourceKey, UserName};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use strum::IntoEnumIterator;

/// Plan format version.
pub const PLAN_VERSION: u32 = 1;

/// Operation kinds, declared in the order a plan runs them (docs/plan-format.md, "Operations"). Spelled
/// `create-group`, `patch-group`, … in plans, the journal and `--op`; `OpKind::iter()` lists them
/// in run order.
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
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum OpKind {
    /// Create a group.
    CreateGroup,
    /// Rename a group.
    PatchGroup,
    /// Adopt an existing target user (store only).
    LinkUser,
    /// Create a user (Notion sends an invite email).
    CreateUser,
    /// Patch changed attributes.
    PatchUser,
    /// Bring back a person who returned.
    ReaddUser,
    /// Add group members.
    AddMembers,
    /// Remove group members.
    RemoveMembers,
    /// Take a leaver out of the workspace.
    DeactivateUser,
    /// Delete a group.
    DeleteGroup,
}

impl OpKind {
    /// Whether the operation calls the target (everything but `link-user`).
    pub fn writes_target(self) -> bool {
        self != OpKind::LinkUser
    }
}

/// One attribute change: `attr` is the SCIM PATCH path; `null` means absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// SCIM PATCH path.
    pub attr: Cow<'static, str>,
    /// Value before (`null` when absent or for a new user).
    pub before: Option<ChangeValue>,
    /// Value after (`null` when removed).
    pub after: Option<ChangeValue>,
}

/// `sourceKey` is written as `source:id` in plans.
pub(super) mod key_text {
    use crate::model::SourceKey;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &SourceKey, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(key)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SourceKey, D::Error> {
        let text = String::deserialize(d)?;
        SourceKey::parse(&text)
            .ok_or_else(|| D::Error::custom(format!("sourceKey `{text}` is not `source:id`")))
    }

    pub mod opt {
        use super::*;

        pub fn serialize<S: Serializer>(key: &Option<SourceKey>, s: S) -> Result<S::Ok, S::Error> {
            match key {
                Some(key) => s.collect_str(key),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SourceKey>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

/// Why a `link-user` operation links a target user to a source person. Apply checks each origin
/// against its own rule, so the reason text never decides anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkOrigin {
    /// An existing target user matches the person and `policy.adopt` allows adopting it.
    #[default]
    Adopt,
    /// An earlier run created the user but never recorded the reply (journal).
    Recover,
    /// The person's source re-keyed them (the old key vanished as the new one appeared with the
    /// same userName): the link moves from `previousKey` to `sourceKey`.
    Rekey,
}

/// Why a `patch-group` operation exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupOrigin {
    /// A pushed (linked) group is renamed.
    #[default]
    Rename,
    /// An existing target group listed in `groups.adopt` is linked (and renamed if needed).
    Adopt,
}

/// `create-user`: a new person (Notion sends an invite).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    /// The new user's userName.
    pub user_name: UserName,
    /// The person's source key (the link is stored under it).
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
    /// Every attribute sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// `patch-user`: changed attributes of a linked user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchUser {
    /// The userName after the patch.
    pub user_name: UserName,
    /// The linked target user.
    pub scim_id: ScimId,
    /// The person's source key.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
    /// The attributes that differ, before and after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// `readd-user`: a person who returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReaddUser {
    /// The userName.
    pub user_name: UserName,
    /// The inactive target user, when the target still lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_id: Option<ScimId>,
    /// The person's source key.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
    /// Every attribute sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The userName the account had when it was taken out, when the person returns with another
    /// one: a target that re-adds by create finds the account by it, and apply sets the new one
    /// right after (docs/lifecycle.md, "Rehires and returns").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub former_user_name: Option<UserName>,
    /// The admin's confirmation this re-add acts on (`idbridge confirm reuse … --as same`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<i64>,
}

/// `deactivate-user`: a leaver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeactivateUser {
    /// The leaver's current userName.
    pub user_name: UserName,
    /// The target user.
    pub scim_id: ScimId,
    /// The source key the user is linked (or adopted in this plan) under.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
    /// `active: true → false`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// `link-user`: store only; links an existing target user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkUser {
    /// The person's userName.
    pub user_name: UserName,
    /// The target user to link.
    pub scim_id: ScimId,
    /// The source key to link it under.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
    /// Why it is linked (absent in plans made before the field existed: `adopt`, the strictest).
    #[serde(default)]
    pub origin: LinkOrigin,
    /// For `rekey`: the key the link moves from.
    #[serde(
        default,
        with = "key_text::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_key: Option<SourceKey>,
}

/// `create-group`: a pushed group that is not in the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateGroup {
    /// The group's displayName (`userName` in the JSON, like every operation's subject).
    #[serde(rename = "userName")]
    pub display_name: String,
    /// The source group's key.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
}

/// `patch-group`: rename a pushed group, or adopt an existing one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchGroup {
    /// The group's displayName after the patch.
    #[serde(rename = "userName")]
    pub display_name: String,
    /// The target group.
    pub scim_id: ScimId,
    /// The source group's key.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
    /// `displayName` before and after, when it is renamed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Rename or adopt (absent in older plans: `rename`).
    #[serde(default)]
    pub origin: GroupOrigin,
}

/// `add-members` / `remove-members`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Members {
    /// The group's displayName.
    #[serde(rename = "userName")]
    pub display_name: String,
    /// The target group (absent when it is created in the same plan: apply finds it by its link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_id: Option<ScimId>,
    /// The source group's key.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
    /// Member userNames (users created in the same plan have no id yet).
    pub members: Vec<UserName>,
}

/// `delete-group`: a pushed group whose source group is gone (`groups.delete = true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteGroup {
    /// The group's displayName.
    #[serde(rename = "userName")]
    pub display_name: String,
    /// The target group.
    pub scim_id: ScimId,
    /// The source group's key.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The source fact behind it.
    pub reason: String,
}

/// One operation of a plan: one variant per kind, each carrying exactly its fields. The JSON form
/// is internally tagged by `op`, so every field keeps the name it had when operations were one flat
/// record (docs/plan-format.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Create a group.
    CreateGroup(CreateGroup),
    /// Rename or adopt a group.
    PatchGroup(PatchGroup),
    /// Link an existing target user (store only).
    LinkUser(LinkUser),
    /// Create a user.
    CreateUser(CreateUser),
    /// Patch a user.
    PatchUser(PatchUser),
    /// Re-add a returning user.
    ReaddUser(ReaddUser),
    /// Add group members.
    AddMembers(Members),
    /// Remove group members.
    RemoveMembers(Members),
    /// Deactivate a leaver.
    DeactivateUser(DeactivateUser),
    /// Delete a group.
    DeleteGroup(DeleteGroup),
}

impl Op {
    /// The kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::CreateGroup(_) => OpKind::CreateGroup,
            Op::PatchGroup(_) => OpKind::PatchGroup,
            Op::LinkUser(_) => OpKind::LinkUser,
            Op::CreateUser(_) => OpKind::CreateUser,
            Op::PatchUser(_) => OpKind::PatchUser,
            Op::ReaddUser(_) => OpKind::ReaddUser,
            Op::AddMembers(_) => OpKind::AddMembers,
            Op::RemoveMembers(_) => OpKind::RemoveMembers,
            Op::DeactivateUser(_) => OpKind::DeactivateUser,
            Op::DeleteGroup(_) => OpKind::DeleteGroup,
        }
    }

    /// The subject as shown: a user's userName or a group's displayName.
    pub fn subject(&self) -> &str {
        match self {
            Op::CreateUser(o) => o.user_name.as_str(),
            Op::PatchUser(o) => o.user_name.as_str(),
            Op::ReaddUser(o) => o.user_name.as_str(),
            Op::DeactivateUser(o) => o.user_name.as_str(),
            Op::LinkUser(o) => o.user_name.as_str(),
            Op::CreateGroup(o) => &o.display_name,
            Op::PatchGroup(o) => &o.display_name,
            Op::AddMembers(o) | Op::RemoveMembers(o) => &o.display_name,
            Op::DeleteGroup(o) => &o.display_name,
        }
    }

    /// The user's userName, for user operations.
    pub fn user_name(&self) -> Option<&UserName> {
        match self {
            Op::CreateUser(o) => Some(&o.user_name),
            Op::PatchUser(o) => Some(&o.user_name),
            Op::ReaddUser(o) => Some(&o.user_name),
            Op::DeactivateUser(o) => Some(&o.user_name),
            Op::LinkUser(o) => Some(&o.user_name),
            _ => None,
        }
    }

    /// The target id, when the object exists in the target.
    pub fn scim_id(&self) -> Option<&ScimId> {
        match self {
            Op::PatchUser(o) => Some(&o.scim_id),
            Op::DeactivateUser(o) => Some(&o.scim_id),
            Op::LinkUser(o) => Some(&o.scim_id),
            Op::PatchGroup(o) => Some(&o.scim_id),
            Op::DeleteGroup(o) => Some(&o.scim_id),
            Op::ReaddUser(o) => o.scim_id.as_ref(),
            Op::AddMembers(o) | Op::RemoveMembers(o) => o.scim_id.as_ref(),
            Op::CreateUser(_) | Op::CreateGroup(_) => None,
        }
    }

    /// The source key the object is (to be) linked under.
    pub fn source_key(&self) -> &SourceKey {
        match self {
            Op::CreateUser(o) => &o.source_key,
            Op::PatchUser(o) => &o.source_key,
            Op::ReaddUser(o) => &o.source_key,
            Op::DeactivateUser(o) => &o.source_key,
            Op::LinkUser(o) => &o.source_key,
            Op::CreateGroup(o) => &o.source_key,
            Op::PatchGroup(o) => &o.source_key,
            Op::AddMembers(o) | Op::RemoveMembers(o) => &o.source_key,
            Op::DeleteGroup(o) => &o.source_key,
        }
    }

    /// The source fact behind the operation.
    pub fn reason(&self) -> &str {
        match self {
            Op::CreateUser(o) => &o.reason,
            Op::PatchUser(o) => &o.reason,
            Op::ReaddUser(o) => &o.reason,
            Op::DeactivateUser(o) => &o.reason,
            Op::LinkUser(o) => &o.reason,
            Op::CreateGroup(o) => &o.reason,
            Op::PatchGroup(o) => &o.reason,
            Op::AddMembers(o) | Op::RemoveMembers(o) => &o.reason,
            Op::DeleteGroup(o) => &o.reason,
        }
    }

    /// Attribute changes (every attribute sent, for a create or re-add).
    pub fn changes(&self) -> &[Change] {
        match self {
            Op::CreateUser(o) => &o.changes,
            Op::PatchUser(o) => &o.changes,
            Op::ReaddUser(o) => &o.changes,
            Op::DeactivateUser(o) => &o.changes,
            Op::PatchGroup(o) => &o.changes,
            _ => &[],
        }
    }

    /// Member userNames, for membership operations.
    pub fn members(&self) -> &[UserName] {
        match self {
            Op::AddMembers(o) | Op::RemoveMembers(o) => &o.members,
            _ => &[],
        }
    }

    /// Whether the operation calls the target (everything but `link-user`).
    pub fn writes_target(&self) -> bool {
        self.kind().writes_target()
    }
}

/// Severity of a finding: `error`, `warning`, `info` in plans and rendered plans.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    /// Blocks the plan or marks a failure.
    Error,
    /// Needs attention; does not block.
    Warning,
    /// For the record.
    Info,
}

/// Something the planner noticed: a bad source row, a protected user, a guardrail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// Stable machine code, e.g. `source-row-invalid`.
    pub code: FindingCode,
    /// What happened and what to do.
    pub message: String,
    /// Where: source locations, target ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl Finding {
    /// A finding.
    pub fn new(
        severity: Severity,
        code: FindingCode,
        message: impl Into<String>,
        sources: Vec<String>,
    ) -> Self {
        Self {
            severity,
            code,
            message: message.into(),
            sources,
        }
    }
}

/// The target a plan was made for; `apply` refuses a plan for another target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRef {
    /// `notion` or `scim`.
    pub kind: String,
    /// SCIM base URL.
    pub url: String,
    /// Configured target name.
    pub name: String,
}

/// What `targetDigest` covers, so `apply` can recompute it on a fresh read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Watch {
    /// Target ids of managed and matched users.
    pub scim_ids: Vec<String>,
    /// Lowercased userNames the plan creates or re-adds (someone taking one meanwhile changes the digest).
    pub user_names: Vec<String>,
    /// Target ids of linked groups and groups matched by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_ids: Vec<String>,
    /// Lowercased displayNames of desired groups (someone creating one meanwhile changes the digest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_names: Vec<String>,
}

/// A plan: what `apply` will do, exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Format version.
    pub version: u32,
    /// When it was made (the injected `now`).
    pub generated_at: String,
    /// The target.
    pub target: TargetRef,
    /// sha256 of the desired state.
    pub source_digest: String,
    /// sha256 of the watched target state.
    pub target_digest: String,
    /// sha256 of this document in canonical form without this field: what an approver signs off
    /// (`apply --plan FILE --expect-digest HEX`). Absent only in plans made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// What the target digest covers.
    pub watch: Watch,
    /// True when a guardrail refused the plan; `apply` will not run it without `--force`.
    pub blocked: bool,
    /// Count per kind, every kind included.
    pub summary: BTreeMap<String, usize>,
    /// Operations in run order.
    pub operations: Vec<Op>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// The source health gates that fired, overridden or not (docs/lifecycle.md, "Source health
    /// gates"); absent when none did. `apply --plan` refuses a plan whose gates differ from its own
    /// verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<super::gates::GateHit>,
    /// Who is gone from the sources and whether an applying run counts toward
    /// `[policy] absence_grace` (docs/lifecycle.md); left out when nobody is gone and it counts.
    #[serde(default, skip_serializing_if = "AbsenceSection::is_default")]
    pub absence: AbsenceSection,
}

impl Plan {
    /// Operations that write to the target.
    pub fn write_count(&self) -> usize {
        self.operations.iter().filter(|o| o.writes_target()).count()
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The summary in op order (the JSON map is alphabetical).
    pub fn summary_in_order(&self) -> Vec<(OpKind, usize)> {
        OpKind::iter()
            .map(|k| (k, self.summary.get(<&str>::from(k)).copied().unwrap_or(0)))
            .collect()
    }
}
