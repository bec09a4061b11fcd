//! `[policy]`: the guardrail on deactivations, how people are deactivated and whether existing
//! target users are adopted.

use super::duration;
use super::raw::{RawAbsenceGrace, RawPolicy};
use super::resolve::Resolver;
use super::target::{TargetKind, TargetSettings};
use super::ConfigError;
use crate::plan::{AbsenceGrace, Adopt, DeactivateMode, DisabledAccounts, Policy, Threshold};

pub(in crate::config) const DEACTIVATE_MODES: [(&str, DeactivateMode); 2] = [
    ("active-false", DeactivateMode::ActiveFalse),
    ("delete", DeactivateMode::Delete),
];
pub(in crate::config) const DISABLED_MODES: [(&str, DisabledAccounts); 2] = [
    ("deactivate", DisabledAccounts::Deactivate),
    ("grace", DisabledAccounts::Grace),
];
pub(in crate::config) const ADOPT_MODES: [(&str, Adopt); 2] =
    [("match-email", Adopt::MatchEmail), ("none", Adopt::None)];

impl Resolver<'_> {
    pub(in crate::config) fn policy(
        &self,
        p: &RawPolicy,
        target: &TargetSettings,
    ) -> Result<Policy, ConfigError> {
        let mut policy = Policy::default();
        if let Some(v) = &p.max_deactivations {
            let parsed = match v.get_ref() {
                toml::Value::Integer(n) if *n >= 0 => Some(Threshold::Count(*n as u64)),
                toml::Value::String(s) => Threshold::parse(s),
                _ => None,
            };
            policy.max_deactivations = match parsed {
                Some(t) => t,
                None => {
                    return self.invalid(
                        v.span().start,
                        "policy.max_deactivations",
                        "write a count such as 5 or a percentage such as \"10%\"",
                    )
                }
            };
        }
        policy.deactivate = self.choice(
            &p.deactivate,
            "policy.deactivate",
            &DEACTIVATE_MODES,
            policy.deactivate,
        )?;
        policy.adopt = self.choice(&p.adopt, "policy.adopt", &ADOPT_MODES, policy.adopt)?;
        if let Some(grace) = &p.absence_grace {
            policy.absence_grace = self.absence_grace(grace.get_ref())?;
        }
        policy.disabled_accounts = self.choice(
            &p.disabled_accounts,
            "policy.disabled_accounts",
            &DISABLED_MODES,
            policy.disabled_accounts,
        )?;
        policy.token_owner = target
            .token_owner
            .as_deref()
            .map(crate::model::UserName::new);
        if target.kind == TargetKind::Scim {
            policy.protected_roles.clear();
        }
        Ok(policy)
    }

    /// `absence_grace = { runs = 2, duration = "24h" }`; a key left out keeps its default.
    fn absence_grace(&self, raw: &RawAbsenceGrace) -> Result<AbsenceGrace, ConfigError> {
        let mut grace = AbsenceGrace::default();
        if let Some(runs) = &raw.runs {
            grace.runs = match u32::try_from(*runs.get_ref()) {
                Ok(n) if n <= MAX_GRACE_RUNS => n,
                _ => {
                    return self.invalid(
                        runs.span().start,
                        "policy.absence_grace.runs",
                        format!("write a number of runs from 0 to {MAX_GRACE_RUNS}, such as 2 (0: no run-count grace)"),
                    )
                }
            };
        }
        if let Some(text) = &raw.duration {
            let parsed = duration::parse_duration(text.get_ref())
                .and_then(|d| chrono::TimeDelta::from_std(d).ok())
                .filter(|d| *d <= chrono::TimeDelta::days(MAX_GRACE_DAYS));
            grace.duration = match parsed {
                Some(d) => d,
                None => {
                    return self.invalid(
                        text.span().start,
                        "policy.absence_grace.duration",
                        format!("write a duration up to {MAX_GRACE_DAYS} days, such as \"24h\" or \"3d\" (\"0s\": no time grace)"),
                    )
                }
            };
        }
        Ok(grace)
    }
}

/// Bounds on `absence_grace`: beyond them a typo (`runs = 2000`) would keep leavers for years.
const MAX_GRACE_RUNS: u32 = 1000;
const MAX_GRACE_DAYS: i64 = 366;
