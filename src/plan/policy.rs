//! Safety policy: the rails a plan must pass before anything is written.

use super::absence::AbsenceGrace;
use crate::model::UserName;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How many deactivations one plan may carry before it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Threshold {
    /// An absolute number of people.
    Count(u64),
    /// A percentage of the managed users (those linked or adopted in this plan).
    Percent(f64),
}

impl Threshold {
    /// The largest number of deactivations allowed when `managed` users are managed. A percentage
    /// rounds up, so "10%" of 5 people still allows one leaver rather than blocking every run.
    pub fn limit(self, managed: usize) -> u64 {
        match self {
            Threshold::Count(n) => n,
            Threshold::Percent(p) => {
                let raw = (managed as f64) * p / 100.0;
                // Managed counts are far below 2^52, so the float is exact enough.
                raw.ceil().max(0.0) as u64
            }
        }
    }

    /// Parse "10%", "2.5%" or "25".
    pub fn parse(text: &str) -> Option<Threshold> {
        let text = text.trim();
        if let Some(pct) = text.strip_suffix('%') {
            let value: f64 = pct.trim().parse().ok()?;
            (0.0..=100.0)
                .contains(&value)
                .then_some(Threshold::Percent(value))
        } else {
            text.parse().ok().map(Threshold::Count)
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Count(n) => write!(f, "{n}"),
            Threshold::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// How a leaver is taken out of the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeactivateMode {
    /// `PATCH active=false` (in Notion this removes the member from the workspace).
    ActiveFalse,
    /// `DELETE /Users/{id}`.
    Delete,
}

/// What happens to a person whose directory account is disabled while no source records a
/// termination (`[policy] disabled_accounts`, docs/lifecycle.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisabledAccounts {
    /// Deactivated by the first run that reads the account disabled (the directory's word is
    /// taken as a leaver's: an admin disabling an account means "out now").
    #[default]
    Deactivate,
    /// Kept through `absence_grace`, like a person gone from the sources: an account disabled
    /// for a few hours (a password reset, a leave) removes nobody.
    Grace,
}

/// What to do with a target user that has no link but matches a desired person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Adopt {
    /// Link it (`link-user`) when its userName/email matches.
    MatchEmail,
    /// Leave it alone as an orphan.
    None,
}

/// `[roles]` as the planner applies it (plan::roles).
#[derive(Debug, Clone, PartialEq)]
pub struct RolePolicy {
    /// Guardrail on role changes per plan (`roles.max_role_changes`), like the deactivation one.
    pub max_changes: Threshold,
    /// The role values the target is known to have (Notion's, docs/notion.md, "Workspace
    /// roles"); a user read with any other keeps it and is reported. `None`: any value is known.
    pub known: Option<Vec<String>>,
}

impl Default for RolePolicy {
    fn default() -> Self {
        Self {
            max_changes: Threshold::Percent(10.0),
            known: None,
        }
    }
}

/// The policy a plan is made under.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Guardrail on deactivations.
    pub max_deactivations: Threshold,
    /// How leavers are removed.
    pub deactivate: DeactivateMode,
    /// Adoption of existing target users.
    pub adopt: Adopt,
    /// The owner whose token idbridge holds: never changed.
    pub token_owner: Option<UserName>,
    /// Target roles that are never changed (Notion: `owner`).
    pub protected_roles: Vec<String>,
    /// Go past the deactivation guardrail (`--force`).
    pub force: bool,
    /// Send again the changes the target refused on its own in an earlier run (`--retry-refused`).
    pub retry_refused: bool,
    /// Write to at most this many users (`--limit`), in plan order.
    pub limit: Option<usize>,
    /// Delete pushed groups whose source group is gone (otherwise they are emptied and reported).
    pub delete_groups: bool,
    /// Existing target groups (lowercased displayNames) that may be adopted.
    pub adopt_groups: Vec<String>,
    /// Source health gates and this run's `--override`s.
    pub gates: super::gates::Gates,
    /// How long a managed person gone from the sources (or out of scope) is kept.
    pub absence_grace: AbsenceGrace,
    /// Whether a disabled directory account is deactivated at once or given the grace.
    pub disabled_accounts: DisabledAccounts,
    /// The role guardrail and known role values (`[roles]`).
    pub roles: RolePolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_deactivations: Threshold::Percent(10.0),
            deactivate: DeactivateMode::ActiveFalse,
            adopt: Adopt::MatchEmail,
            token_owner: None,
            protected_roles: vec!["owner".to_owned()],
            force: false,
            retry_refused: false,
            limit: None,
            delete_groups: false,
            adopt_groups: Vec::new(),
            gates: super::gates::Gates::default(),
            absence_grace: AbsenceGrace::default(),
            disabled_accounts: DisabledAccounts::Deactivate,
            roles: RolePolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_limit() {
        assert_eq!(Threshold::parse("10%"), Some(Threshold::Percent(10.0)));
        assert_eq!(Threshold::parse(" 25 "), Some(Threshold::Count(25)));
        assert_eq!(Threshold::parse("150%"), None);
        assert_eq!(Threshold::parse("ten"), None);
        assert_eq!(Threshold::Percent(10.0).limit(5), 1);
        assert_eq!(Threshold::Percent(10.0).limit(100), 10);
        assert_eq!(Threshold::Percent(10.0).limit(0), 0);
        assert_eq!(Threshold::Count(3).limit(1000), 3);
    }
}
