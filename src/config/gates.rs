//! `[policy.gates]`: the source health gates' thresholds, with a table per source that overrides
//! some of them (docs/config.md, "[policy.gates]").

use super::raw::gates::{RawGateRules, RawGates};
use super::resolve::Resolver;
use super::ConfigError;
use crate::plan::gates::{GateRules, Gates};
use crate::plan::Threshold;
use std::collections::BTreeSet;
use toml::Spanned;

impl Resolver<'_> {
    /// The gates: defaults from `[policy.gates]`, then each `[policy.gates.sources.NAME]` over
    /// them; a table naming no configured source is refused (a typo would silently drop it).
    pub(in crate::config) fn gates(
        &self,
        raw: Option<&RawGates>,
        sources: &BTreeSet<String>,
    ) -> Result<Gates, ConfigError> {
        let Some(raw) = raw else {
            return Ok(Gates::default());
        };
        let default = self.gate_rules(&raw.defaults(), GateRules::default(), "policy.gates")?;
        let mut gates = Gates {
            default: default.clone(),
            ..Gates::default()
        };
        for (name, rules) in &raw.sources {
            let key = format!("policy.gates.sources.{name}");
            if !sources.contains(name) {
                let known: Vec<&str> = sources.iter().map(String::as_str).collect();
                return self.invalid(
                    rules.span().start,
                    &key,
                    format!(
                        "no source is named `{name}`; the sources are {}",
                        known.join(", ")
                    ),
                );
            }
            let resolved = self.gate_rules(rules.get_ref(), default.clone(), &key)?;
            gates.sources.insert(name.clone(), resolved);
        }
        Ok(gates)
    }

    fn gate_rules(
        &self,
        raw: &RawGateRules,
        mut rules: GateRules,
        table: &str,
    ) -> Result<GateRules, ConfigError> {
        if let Some(v) = &raw.min_people {
            rules.min_people = self.gate_count(v, &format!("{table}.min_people"))?;
        }
        if let Some(v) = &raw.min_baseline {
            rules.min_baseline = self.gate_count(v, &format!("{table}.min_baseline"))?;
        }
        if let Some(v) = &raw.max_drop {
            rules.max_drop = self.gate_threshold(v, &format!("{table}.max_drop"))?;
        }
        if let Some(v) = &raw.max_change {
            rules.max_change = self.gate_threshold(v, &format!("{table}.max_change"))?;
        }
        if let Some(v) = &raw.required {
            rules.required = v.get_ref().clone();
        }
        if let Some(v) = &raw.min_coverage {
            rules.min_coverage = match Threshold::parse(v.get_ref()) {
                Some(Threshold::Percent(p)) => p,
                _ => {
                    return self.invalid(
                        v.span().start,
                        &format!("{table}.min_coverage"),
                        "write a percentage such as \"90%\"",
                    )
                }
            };
        }
        Ok(rules)
    }

    fn gate_count(&self, v: &Spanned<i64>, key: &str) -> Result<u64, ConfigError> {
        u64::try_from(*v.get_ref())
            .or_else(|_| self.invalid(v.span().start, key, "write a count of 0 or more"))
    }

    /// A count, a percentage, or `"off"`.
    fn gate_threshold(
        &self,
        v: &Spanned<toml::Value>,
        key: &str,
    ) -> Result<Option<Threshold>, ConfigError> {
        let parsed = match v.get_ref() {
            toml::Value::Integer(n) if *n >= 0 => Some(Some(Threshold::Count(*n as u64))),
            toml::Value::String(s) if s.trim() == "off" => Some(None),
            toml::Value::String(s) => Threshold::parse(s).map(Some),
            _ => None,
        };
        match parsed {
            Some(t) => Ok(t),
            None => self.invalid(
                v.span().start,
                key,
                "write a count such as 50, a percentage such as \"20%\", or \"off\"",
            ),
        }
    }
}
