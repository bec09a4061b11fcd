//! Source connectors: read and normalise people (and groups) from HR systems and directories. They
//! never decide who must change; they yield records, groups and the problems they met.

pub mod hr;
pub mod ldap;

use crate::model::{SourceGroup, SourceIssue, SourceRecord};
use std::collections::BTreeSet;

/// Everything one source read yielded.
#[derive(Debug, Clone, Default)]
pub struct SourceRead {
    /// The source's name.
    pub source: String,
    /// Valid person records.
    pub records: Vec<SourceRecord>,
    /// Groups (directories only), members resolved to people of this source.
    pub groups: Vec<SourceGroup>,
    /// Records that were reported and skipped, and other notices.
    pub issues: Vec<SourceIssue>,
    /// Attribute names the source provides at all (its columns or fetched attributes), so an
    /// attribute the source lacks is never "removed" from the target.
    pub fields: BTreeSet<String>,
    /// Deleted directory entries left out on purpose, without an issue (Active Directory
    /// tombstones that name no one idbridge could tie them to, or the former account of someone
    /// still present; docs/config.md, "Deleted objects").
    pub deleted_skipped: usize,
}
