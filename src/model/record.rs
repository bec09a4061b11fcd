//! What a connector yields: one record per person per source, with the facts that decide
//! whether the person is employed. Connectors fill it; `mapping` decides.

use super::{Attrs, SourceKey};
use chrono::NaiveDate;
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// Canonical source attribute names that mapping reads.
pub mod attr {
    /// Stable employee id.
    pub const EMPLOYEE_ID: &str = "employeeId";
    /// Work email.
    pub const EMAIL: &str = "email";
    /// Given name.
    pub const GIVEN_NAME: &str = "givenName";
    /// Family name.
    pub const FAMILY_NAME: &str = "familyName";
    /// Job title.
    pub const TITLE: &str = "title";
    /// Department.
    pub const DEPARTMENT: &str = "department";
    /// Manager's email.
    pub const MANAGER: &str = "manager";
}

/// Whether an HR status keeps a person in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// Employed (including leave, by default).
    Active,
    /// Not employed.
    Inactive,
    /// A directory account that is disabled. Inactive, like [`StatusKind::Inactive`], but not a
    /// termination: an account is also locked for a leave or an investigation, so `[policy]
    /// disabled_accounts` chooses whether it is deactivated at once or given the absence grace.
    Disabled,
}

/// Employment facts from an HR source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employment {
    /// The HR status as written, if the source has one.
    pub status: Option<String>,
    /// What the status means, per the source's `status_map`.
    pub kind: StatusKind,
    /// First day of work.
    pub start: Option<NaiveDate>,
    /// Last day of work.
    pub end: Option<NaiveDate>,
    /// Time zone the dates are in.
    pub timezone: Tz,
}

/// One person as one source describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Stable key.
    pub key: SourceKey,
    /// Where it was read, e.g. `hr.csv line 4`.
    pub location: String,
    /// Attributes under the canonical names of [`attr`]; empty values are left out.
    pub attrs: Attrs,
    /// Employment facts, when the source has them.
    pub employment: Option<Employment>,
}

/// A group as one source describes it, with its members resolved to people of that source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceGroup {
    /// Stable key (LDAP `entryUUID` / AD `objectGUID`), so a renamed or moved group stays the same.
    pub key: SourceKey,
    /// Where it was read (its DN).
    pub location: String,
    /// Attributes (e.g. `cn`, `description`, `dn`), first value of each.
    pub attrs: BTreeMap<String, String>,
    /// People in the group, nested groups flattened (cycles cut), sorted and unique. Members that
    /// are not people of the source (outside the user base or filter) are reported by the
    /// connector as issues, not listed here.
    pub members: Vec<SourceKey>,
}
