//! `[policy.gates]`: the source health gates' thresholds, with a table per source that overrides
//! some of them (docs/lifecycle.md, "Source health gates").

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

#[cfg(test)]
mod tests {
    use crate::config::{parse, ConfigError};
    use crate::plan::gates::GateRules;
    use crate::plan::Threshold;

    const BASE: &str = "[target]\nkind = \"notion\"\ntoken_file = \"token\"\n\n\
        [[sources]]\nname = \"hr\"\nkind = \"hr-csv\"\npath = \"hr.csv\"\n\n\
        [[sources]]\nname = \"corp\"\nkind = \"hr-csv\"\npath = \"corp.csv\"\n\n";

    fn parsed(tail: &str) -> Result<crate::config::Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("token"), "tok\n").unwrap_or_else(|e| panic!("{e}"));
        parse(
            &format!("{BASE}{tail}"),
            &dir.path().join("idbridge.toml"),
            dir.path(),
        )
    }

    #[test]
    fn no_table_gives_the_defaults() {
        let s = parsed("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.policy.gates.default, GateRules::default());
        assert_eq!(
            s.policy.gates.rules("hr").max_drop,
            Some(Threshold::Percent(20.0))
        );
        assert_eq!(s.policy.gates.rules("hr").min_baseline, 20);
    }

    #[test]
    fn a_source_table_overrides_some_defaults_and_keeps_the_rest() {
        let s = parsed(
            "[policy.gates]\nmax_change = \"off\"\nrequired = [\"title\"]\nmin_coverage = \"80%\"\n\n\
             [policy.gates.sources.corp]\nmax_drop = 25\nmin_people = 400\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let hr = s.policy.gates.rules("hr");
        assert_eq!(hr.max_change, None);
        assert_eq!(hr.required, ["title"]);
        assert_eq!(hr.min_coverage, 80.0);
        let corp = s.policy.gates.rules("corp");
        assert_eq!(corp.max_drop, Some(Threshold::Count(25)));
        assert_eq!(corp.min_people, 400);
        assert_eq!(
            corp.max_change, None,
            "the defaults of the file, not the built-in ones"
        );
    }

    #[test]
    fn mistakes_name_their_line_and_key() {
        for (tail, key, words) in [
            (
                "[policy.gates.sources.hrr]\nmax_drop = 5\n",
                "policy.gates.sources.hrr",
                "no source is named `hrr`",
            ),
            (
                "[policy.gates]\nmax_drop = \"lots\"\n",
                "policy.gates.max_drop",
                "\"20%\", or \"off\"",
            ),
            (
                "[policy.gates]\nmin_coverage = \"90\"\n",
                "policy.gates.min_coverage",
                "a percentage",
            ),
            (
                "[policy.gates]\nmin_people = -1\n",
                "policy.gates.min_people",
                "0 or more",
            ),
        ] {
            let err = parsed(tail)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(key) && err.contains(words), "{tail}: {err}");
        }
        let err = parsed("[policy.gates]\nmax_dorp = 5\n")
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("max_dorp"));
    }
}
