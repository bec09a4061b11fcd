//! Canonical identity types shared by every stage: source keys, SCIM ids, user names and the managed
//! SCIM user attributes, and the finding codes sources, mapping and planner raise. No I/O, no async, no knowledge of any wire format.
//!
//! May import: std, serde, chrono, and `email_address`/`idna` for the address rule. Nothing from
//! the edges (`connectors`, `scim`, `store`, ...).

mod attrs;
pub mod email;
mod finding;
mod ids;
mod provenance;
mod record;
mod user;
mod user_attrs;

pub use attrs::{AttrNames, Attrs};
pub use email::{parse_email, EmailError};
pub use finding::FindingCode;
pub use ids::{ScimId, SourceKey, UserName};
pub use provenance::{cite, Provenance, SourceFact};
pub use record::{attr, Employment, SourceGroup, SourceRecord, StatusKind};
pub use user::{
    Attr, DesiredGroup, DesiredUser, Leaving, Lifecycle, NameModel, SourceIssue, TargetGroup,
    TargetUser, ENTERPRISE_URN,
};
pub use user_attrs::UserAttrs;
