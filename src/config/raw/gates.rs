//! `[policy.gates]` and `[policy.gates.sources.NAME]` as serde reads them (docs/lifecycle.md,
//! "Source health gates"): every value keeps its span so an error names its line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The thresholds of one source, or the defaults of every source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateRules {
    /// A count such as 50; 0 turns it off.
    pub min_people: Option<Spanned<i64>>,
    /// A count, a percentage such as "20%", or "off".
    pub max_drop: Option<Spanned<toml::Value>>,
    /// A count, a percentage such as "50%", or "off".
    pub max_change: Option<Spanned<toml::Value>>,
    /// Source attribute names every record should carry.
    pub required: Option<Spanned<Vec<String>>>,
    /// A percentage such as "90%".
    pub min_coverage: Option<Spanned<String>>,
    /// Fewest people a baseline needs for a percentage to be judged.
    pub min_baseline: Option<Spanned<i64>>,
}

/// `[policy.gates]`: the defaults, and a table per source that overrides some of them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGates {
    /// See [`RawGateRules`].
    pub min_people: Option<Spanned<i64>>,
    /// See [`RawGateRules`].
    pub max_drop: Option<Spanned<toml::Value>>,
    /// See [`RawGateRules`].
    pub max_change: Option<Spanned<toml::Value>>,
    /// See [`RawGateRules`].
    pub required: Option<Spanned<Vec<String>>>,
    /// See [`RawGateRules`].
    pub min_coverage: Option<Spanned<String>>,
    /// See [`RawGateRules`].
    pub min_baseline: Option<Spanned<i64>>,
    /// Per source name.
    #[serde(default)]
    pub sources: BTreeMap<String, Spanned<RawGateRules>>,
}

impl RawGates {
    /// The defaults' keys as one set of rules.
    pub fn defaults(&self) -> RawGateRules {
        RawGateRules {
            min_people: self.min_people.clone(),
            max_drop: self.max_drop.clone(),
            max_change: self.max_change.clone(),
            required: self.required.clone(),
            min_coverage: self.min_coverage.clone(),
            min_baseline: self.min_baseline.clone(),
        }
    }
}
