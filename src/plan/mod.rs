//! The planner: a pure function from desired state, target state, links and policy to a plan.
//! No I/O, no clock, no async: same inputs (including `now`), same plan, byte for byte.
//!
//! May import: `model`, serde, chrono, sha2. Never `scim`, `store`, `connectors`, `apply`, `cli`.

mod absence;
mod change_value;
mod converge;
mod diff;
mod digest;
pub mod gates;
mod groups;
pub mod guardrails;
mod index;
mod names;
mod op;
pub mod policy;
/// The absence rules a saved plan must keep, and what an applying run records.
pub mod absences {
    pub use super::absence::{basis, to_record, verify};
}
mod returns;
mod roles;
mod verify;

pub use crate::model::FindingCode;
pub use absence::{Absence, AbsenceGrace, AbsenceSection, GonePerson};
pub use change_value::ChangeValue;
pub use converge::{PastOutcome, PastWrite};
pub use diff::{diff, plan, GroupState, Input, KnownLink, TargetState};
pub use digest::{attr_hash, plan_digest, source_digest, target_digest};
pub use guardrails::{empty_source, EmptySource};
pub use op::{
    Change, CreateGroup, CreateUser, DeactivateUser, DeleteGroup, Finding, GroupOrigin, LinkOrigin,
    LinkUser, Members, Op, OpKind, PatchGroup, PatchUser, Plan, ReaddUser, Severity, TargetRef,
    Watch, PLAN_VERSION,
};
pub use policy::{Adopt, DeactivateMode, DisabledAccounts, Policy, RolePolicy, Threshold};
pub use returns::{Confirmed, Reuse};
pub use verify::{verify, Check, Violation};

#[cfg(test)]
mod absence_tests;
#[cfg(test)]
mod converge_tests;
#[cfg(test)]
mod gates_tests;
#[cfg(test)]
mod laws;
#[cfg(test)]
mod returns_tests;
#[cfg(test)]
mod roles_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod verify_tests;
