//! Plan data: operations, changes, findings and the plan document (serialised as the JSON plan
//! format of docs/plan-format.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Plan format version.
pub const PLAN_VERSION: u32 = 1;

/// Operation kinds, declared in the order a plan runs them (design.md, Decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// Every kind, in run order.
    pub const ALL: [OpKind; 10] = [
        OpKind::CreateGroup,
        OpKind::PatchGroup,
        OpKind::LinkUser,
        OpKind::CreateUser,
        OpKind::PatchUser,
        OpKind::ReaddUser,
        OpKind::AddMembers,
        OpKind::RemoveMembers,
        OpKind::DeactivateUser,
        OpKind::DeleteGroup,
    ];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::CreateGroup => "create-group",
            OpKind::PatchGroup => "patch-group",
            OpKind::LinkUser => "link-user",
            OpKind::CreateUser => "create-user",
            OpKind::PatchUser => "patch-user",
            OpKind::ReaddUser => "readd-user",
            OpKind::AddMembers => "add-members",
            OpKind::RemoveMembers => "remove-members",
            OpKind::DeactivateUser => "deactivate-user",
            OpKind::DeleteGroup => "delete-group",
        }
    }

    /// Whether the operation calls the target (everything but `link-user`).
    pub fn writes_target(self) -> bool {
        self != OpKind::LinkUser
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attribute change: `attr` is the SCIM PATCH path; `null` means absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// SCIM PATCH path.
    pub attr: String,
    /// Value before (`null` when absent or for a new user).
    pub before: Option<Value>,
    /// Value after (`null` when removed).
    pub after: Option<Value>,
}

/// One operation of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Op {
    /// What to do.
    pub op: OpKind,
    /// The user's userName (or the group's displayName for group ops).
    pub user_name: String,
    /// The target id, when the object exists in the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_id: Option<String>,
    /// The source key (`source:id`) the object is linked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    /// The source fact that caused it.
    pub reason: String,
    /// Attribute changes (all attributes for a create).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Members (userNames) for membership operations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// Severity of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
    pub code: String,
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
        code: &str,
        message: impl Into<String>,
        sources: Vec<String>,
    ) -> Self {
        Self {
            severity,
            code: code.to_owned(),
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
}

impl Plan {
    /// Operations that write to the target.
    pub fn write_count(&self) -> usize {
        self.operations
            .iter()
            .filter(|o| o.op.writes_target())
            .count()
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The summary in op order (the JSON map is alphabetical).
    pub fn summary_in_order(&self) -> Vec<(OpKind, usize)> {
        OpKind::ALL
            .iter()
            .map(|k| (*k, self.summary.get(k.as_str()).copied().unwrap_or(0)))
            .collect()
    }
}
