//! `[policy]`: the guardrail on deactivations, how people are deactivated and whether existing
//! target users are adopted.

use super::raw::RawPolicy;
use super::resolve::Resolver;
use super::target::{TargetKind, TargetSettings};
use super::ConfigError;
use crate::plan::{Adopt, DeactivateMode, Policy, Threshold};

pub(in crate::config) const DEACTIVATE_MODES: [(&str, DeactivateMode); 2] = [
    ("active-false", DeactivateMode::ActiveFalse),
    ("delete", DeactivateMode::Delete),
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
        policy.token_owner = target
            .token_owner
            .as_deref()
            .map(crate::model::UserName::new);
        if target.kind == TargetKind::Scim {
            policy.protected_roles.clear();
        }
        Ok(policy)
    }
}
