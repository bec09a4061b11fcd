//! The finding codes of a plan: one variant per code, so a code cannot be misspelt at the site that
//! raises it, and the list in docs/plan-format.md ("Finding codes") is checked against this enum
//! (tests/docs.rs). Sources and the mapping raise some of them ([`super::SourceIssue`]), the
//! planner the rest; a plan carries them all in `findings[].code`.

use serde::{Deserialize, Serialize};

/// A finding's stable machine code. The JSON and text spelling is kebab-case
/// (`source-row-invalid`); the meaning of each is in docs/plan-format.md. No `Ord`: findings sort
/// by their spelling, as they did when codes were strings, never by declaration order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum FindingCode {
    // Raised by sources.
    /// A source row was reported and skipped.
    SourceRowInvalid,
    /// A directory entry without id or mail, or with an unusable mail, was skipped.
    SourceEntryInvalid,
    /// A directory group entry could not be read (no id) and was skipped.
    GroupEntryInvalid,
    /// An HR API's `total` did not match the distinct records received.
    SourceTotalMismatch,
    /// An HR API sent one record id on two pages.
    SourcePagingOverlap,
    /// A group member is not a user of the source.
    MemberOutsideScope,
    /// Nested groups form a cycle.
    GroupCycle,

    // Raised by the mapping.
    /// The rendered userName, email or manager is not usable.
    IdentityInvalid,
    /// Two records of one source share a join value.
    JoinConflict,
    /// A person lacks a record in a required source.
    JoinMissingRequired,
    /// A record lacks its source's join attribute.
    JoinKeyMissing,
    /// A source group's displayName renders empty.
    GroupNameEmpty,
    /// Two source groups map to one displayName.
    GroupNameConflict,

    // Raised by the planner.
    /// A linked person is missing but a skipped row names them.
    KeptBadRow,
    /// Absence-based deactivations are held because the source read may be missing people.
    DeactivationsHeld,
    /// Pushed groups that look gone are neither emptied nor deleted, because a source group entry
    /// could not be read.
    GroupRemovalsHeld,
    /// A termination date is still ahead.
    TerminationScheduled,
    /// A person missing from the sources (or out of scope) is kept through
    /// `[policy] absence_grace`; the message says when they will be deactivated.
    PendingDeactivation,
    /// The deactivation guardrail refused the plan.
    MaxDeactivationsExceeded,
    /// A source health gate held the run.
    SourceGateHeld,
    /// A source health gate was passed with `--override`.
    SourceGateOverridden,
    /// A source group's health gate held its membership changes.
    GroupGateHeld,
    /// The deactivation guardrail was overridden with `--force`.
    MaxDeactivationsForced,
    /// The role guardrail (`roles.max_role_changes`) refused the plan.
    MaxRoleChangesExceeded,
    /// The role guardrail was overridden with `--force`.
    MaxRoleChangesForced,
    /// A target user has a role idbridge does not know; it is kept, never "corrected".
    RoleUnknown,
    /// The paged target read did not add up.
    TargetReadInconsistent,
    /// Several people map to one userName.
    DuplicateUserName,
    /// A target user matches a person but is linked to another key.
    LinkConflict,
    /// A rename would take a userName another target user holds.
    UserNameHeld,
    /// A source re-keyed a person; the link moves.
    Rekeyed,
    /// A create would reuse an email provisioned for another key.
    EmailReused,
    /// A person matches several target users.
    AmbiguousMatch,
    /// The mapping produced no userName.
    NoUserName,
    /// A workspace owner or the token owner would have been changed.
    ProtectedUser,
    /// A target user matches a person but adopting is off.
    UnadoptedMatch,
    /// A link names a source that is no longer configured.
    UnknownSourceLink,
    /// Target users that match nobody.
    OrphanUsers,
    /// A start date is in the future.
    NotStarted,
    /// A returning person waits for a target read that adds up.
    ReaddDeferred,
    /// `--limit` left operations for a later run.
    LimitDeferred,
    /// Notion emails an invite to every created user.
    NotionInviteEmails,
    /// A target group with a pushed group's name exists and is not adopted.
    GroupExistsUnadopted,
    /// A pushed group was deleted in the target and is created again.
    GroupRecreated,
    /// A pushed group's source group is gone; its managed members are removed.
    GroupEmptied,
    /// A pushed group has members idbridge does not manage.
    GroupUnmanagedMembers,
    /// Changes the target refused on its own last time are not sent again.
    WriteRefused,
    /// Changes the target took last time without keeping the value sent are not sent again.
    AttributeNotConverging,
}

impl FindingCode {
    /// The code as written in plans and tables.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    /// The JSON spelling (serde) and the text spelling (strum) are two derives: they must agree,
    /// or a plan's JSON and its table would name one finding differently.
    #[test]
    fn json_and_text_spell_every_code_alike() {
        for code in FindingCode::VARIANTS {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
            assert_eq!(code.to_string(), code.as_str());
            let back: FindingCode = serde_json::from_value(json).unwrap();
            assert_eq!(back, *code);
        }
        assert_eq!(FindingCode::SourceRowInvalid.as_str(), "source-row-invalid");
        assert_eq!(
            FindingCode::MaxDeactivationsExceeded.as_str(),
            "max-deactivations-exceeded"
        );
    }
}
