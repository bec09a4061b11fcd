//! Source health gates (docs/lifecycle.md, "Source health gates"): each source read is compared
//! with its own last good read (the baseline) before anything is planned, so a bad night in the
//! HR export or the directory cannot rewrite or remove half the company. Pure: the baselines and
//! the read summaries are data the CLI hands over, and the verdict is a list of [`GateHit`]s that
//! [`hold`] writes into the plan (run held, or a group's membership changes held).

use super::digest::plan_digest;
use super::op::{Finding, Op, OpKind, Plan, Severity};
use super::policy::Threshold;
use crate::model::{FindingCode, SourceGroup, SourceRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

mod prints;
pub use prints::Fingerprints;

/// One gate, named as `--override` and the plan spell it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Gate {
    /// The source yields fewer people than `min_people`.
    MinPeople,
    /// The source lost more than `max_drop` of its people against its baseline.
    SourceDrop,
    /// More than `max_change` of the people changed one attribute at once.
    AttributeChange,
    /// A required attribute is present on less than `min_coverage` of the records.
    AttributeCoverage,
    /// A source group reads empty or lost more than `max_drop` of its members.
    GroupDrop,
}

impl Gate {
    /// Whether a hit of this gate holds the whole run (every gate but `group-drop`, which holds
    /// only the membership changes of its group).
    pub fn holds_run(self) -> bool {
        self != Gate::GroupDrop
    }
}

/// The thresholds of one source.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRules {
    /// Fewest people the source may yield (0: off).
    pub min_people: u64,
    /// Largest drop against the baseline, of people and of a group's members (`None`: off).
    pub max_drop: Option<Threshold>,
    /// Most people one attribute may change for at once (`None`: off).
    pub max_change: Option<Threshold>,
    /// Source attributes (canonical names, e.g. `title`) every record should carry.
    pub required: Vec<String>,
    /// Smallest share of records, in percent, carrying each `required` attribute.
    pub min_coverage: f64,
    /// A percentage threshold is judged only when the baseline had at least this many people
    /// (or members): in a team of 5, one leaver is 20%, and below 20 people the deactivation
    /// guardrail (`policy.max_deactivations`) already stops a mass removal.
    pub min_baseline: u64,
}

impl Default for GateRules {
    fn default() -> Self {
        Self {
            min_people: 0,
            max_drop: Some(Threshold::Percent(20.0)),
            max_change: Some(Threshold::Percent(50.0)),
            required: Vec::new(),
            min_coverage: 90.0,
            min_baseline: 20,
        }
    }
}

/// `--override GATE` or `--override GATE:SOURCE`: pass one named gate (for one source) this run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Override {
    /// The gate.
    pub gate: Gate,
    /// The source it applies to; `None` for every source.
    pub source: Option<String>,
}

impl Override {
    /// Parse `source-drop` or `source-drop:hr`; the error lists the gates.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, source) = match text.split_once(':') {
            Some((name, source)) if !source.is_empty() => (name, Some(source.to_owned())),
            Some(_) => return Err(format!("`{text}` names no source after `:`")),
            None => (text, None),
        };
        let gate = name.parse::<Gate>().map_err(|_| {
            let names: Vec<&str> = <Gate as strum::VariantArray>::VARIANTS
                .iter()
                .map(|g| <&str>::from(*g))
                .collect();
            format!(
                "`{name}` is not a gate; the gates are {} (optionally `GATE:SOURCE`)",
                names.join(", ")
            )
        })?;
        Ok(Self { gate, source })
    }

    fn covers(&self, gate: Gate, source: &str) -> bool {
        self.gate == gate && self.source.as_deref().is_none_or(|s| s == source)
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}:{source}", self.gate),
            None => write!(f, "{}", self.gate),
        }
    }
}

/// The gates of a run: the rules per source and the overrides asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Gates {
    /// Rules of sources not named in `sources`.
    pub default: GateRules,
    /// Rules per source name (`[policy.gates.sources.NAME]`, merged over the defaults).
    pub sources: BTreeMap<String, GateRules>,
    /// `--override` of this run.
    pub overrides: Vec<Override>,
}

impl Gates {
    /// The rules of `source`.
    pub fn rules(&self, source: &str) -> &GateRules {
        self.sources.get(source).unwrap_or(&self.default)
    }
}

/// What a gate needs of one source read: counts, attribute fingerprints and group sizes. Kept as
/// the baseline after a run that applied; a fingerprint is a short hash, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadSummary {
    /// People read.
    pub people: u64,
    /// Records carrying each attribute.
    pub present: BTreeMap<String, u64>,
    /// Per person (source id), per attribute: a fingerprint of the value.
    pub fingerprints: Fingerprints,
    /// Per source group id: its name and member count.
    pub groups: BTreeMap<String, GroupSize>,
    /// The attributes the source's config read at the time (LDAP sources keep only those:
    /// `config::names::ldap_kept`); absent for other sources and for baselines kept before
    /// the LDAP read was trimmed, meaning "every attribute". An attribute one read kept and the
    /// other did not is a change of config, not of the people, and is not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<BTreeSet<String>>,
}

impl ReadSummary {
    /// Whether this read kept `attr` (see [`ReadSummary::kept`]).
    fn keeps(&self, attr: &str) -> bool {
        self.kept.as_ref().is_none_or(|k| k.contains(attr))
    }
}

/// A source group's size in a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSize {
    /// Its name as the directory gives it (`cn`), else its location.
    pub name: String,
    /// Members read (nested groups flattened).
    pub members: u64,
}

/// A value's fingerprint: the first 8 bytes of SHA-256 over the attribute and the value (stored
/// as 16 hex digits): enough that two values of one attribute colliding is negligible, short
/// enough for 10,000 people in one row.
fn fingerprint(attr: &str, value: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(attr.as_bytes());
    hasher.update([0]);
    hasher.update(value.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The summary of one source read.
pub fn summarize(records: &[SourceRecord], groups: &[SourceGroup]) -> ReadSummary {
    let mut summary = ReadSummary {
        people: records.len() as u64,
        ..ReadSummary::default()
    };
    let mut prints = prints::Builder::default();
    for record in records {
        for (attr, _) in &record.attrs {
            match summary.present.get_mut(attr) {
                Some(n) => *n += 1,
                None => {
                    summary.present.insert(attr.clone(), 1);
                }
            }
        }
        prints.person(
            &record.key.id,
            record
                .attrs
                .iter()
                .map(|(attr, value)| (attr.as_str(), fingerprint(attr, value))),
        );
    }
    summary.fingerprints = prints.finish();
    for group in groups {
        let name = ["cn", "displayName", "name"]
            .iter()
            .find_map(|a| group.attrs.get(*a))
            .cloned()
            .unwrap_or_else(|| group.location.clone());
        summary.groups.insert(
            group.key.id.clone(),
            GroupSize {
                name,
                members: group.members.len() as u64,
            },
        );
    }
    summary
}

/// A source's last good read.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The run after which it was kept.
    pub run_id: i64,
    /// When (RFC 3339).
    pub taken_at: String,
    /// The read.
    pub summary: ReadSummary,
}

impl Baseline {
    fn describe(&self, what: &str) -> String {
        format!(
            "{what} in the last good read (run {}, {})",
            self.run_id, self.taken_at
        )
    }
}

/// One gate that fired, as the plan records it (`gates` in the plan file): what `apply --plan`
/// compares with its own verdict, and what the finding says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GateHit {
    /// The gate.
    pub gate: Gate,
    /// The source.
    pub source: String,
    /// The attribute, or the group's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The source group's id (`group-drop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The figure read, e.g. `60 people, 40 fewer (40%)`.
    pub figure: String,
    /// The threshold passed, e.g. `max_drop = 20%`.
    pub threshold: String,
    /// The baseline judged against, e.g. `100 people in the last good read (run 7, …)`.
    pub baseline: String,
    /// The run whose read is the baseline (none on a first run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_run: Option<i64>,
    /// Passed by `--override`: the run goes on and the read becomes the baseline.
    pub overridden: bool,
}

impl GateHit {
    /// The `--override` that passes exactly this gate for this source.
    pub fn override_flag(&self) -> String {
        format!("--override {}:{}", self.gate, self.source)
    }

    /// What must be equal between a saved plan's verdict and apply's.
    fn state(&self) -> (Gate, &str, Option<&str>, Option<&str>, Option<i64>, bool) {
        (
            self.gate,
            &self.source,
            self.subject.as_deref(),
            self.group_id.as_deref(),
            self.baseline_run,
            self.overridden,
        )
    }
}

/// Judge each source read (`(name, summary)`) against its baseline (by source name). Sources
/// without a baseline (a first run) are judged only by `min_people` and `min_coverage`.
pub fn evaluate(
    reads: &[(String, ReadSummary)],
    baselines: &BTreeMap<String, Baseline>,
    gates: &Gates,
) -> Vec<GateHit> {
    let mut hits = Vec::new();
    for (source, summary) in reads {
        let rules = gates.rules(source);
        let base = baselines.get(source);
        let mut found = Vec::new();
        found.extend(min_people(source, summary, rules, base));
        found.extend(coverage(source, summary, rules));
        if let Some(base) = base {
            found.extend(source_drop(source, summary, rules, base));
            found.extend(attribute_change(source, summary, rules, base));
            found.extend(group_drop(source, summary, rules, base));
        }
        for mut hit in found {
            hit.overridden = gates.overrides.iter().any(|o| o.covers(hit.gate, source));
            hits.push(hit);
        }
    }
    hits
}

fn hit(
    gate: Gate,
    source: &str,
    figure: String,
    threshold: String,
    base: Option<&Baseline>,
) -> GateHit {
    GateHit {
        gate,
        source: source.to_owned(),
        subject: None,
        group_id: None,
        figure,
        threshold,
        baseline: base.map_or_else(
            || "no earlier good read".to_owned(),
            |b| b.describe(&format!("{} people", b.summary.people)),
        ),
        baseline_run: base.map(|b| b.run_id),
        overridden: false,
    }
}

fn min_people(
    source: &str,
    summary: &ReadSummary,
    rules: &GateRules,
    base: Option<&Baseline>,
) -> Option<GateHit> {
    (summary.people < rules.min_people).then(|| {
        hit(
            Gate::MinPeople,
            source,
            format!("{} people", summary.people),
            format!("min_people = {}", rules.min_people),
            base,
        )
    })
}

/// Whether losing `lost` of `base` passes `limit` ("more than" the limit fires; a percentage only
/// when `base` reaches `min_baseline`).
fn exceeds(lost: u64, base: u64, limit: Threshold, min_baseline: u64) -> bool {
    match limit {
        Threshold::Count(n) => lost > n,
        // Compared in integers scaled by 100 where possible: 20% of 10 is exactly 2, not 2.0000001.
        Threshold::Percent(p) => {
            base >= min_baseline && base > 0 && (lost as f64) * 100.0 > p * (base as f64)
        }
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".to_owned();
    }
    let value = (part as f64) * 100.0 / (whole as f64);
    if (value - value.round()).abs() < 0.05 {
        format!("{}%", value.round())
    } else {
        format!("{value:.1}%")
    }
}

fn source_drop(
    source: &str,
    summary: &ReadSummary,
    rules: &GateRules,
    base: &Baseline,
) -> Option<GateHit> {
    let limit = rules.max_drop?;
    let before = base.summary.people;
    let lost = before.saturating_sub(summary.people);
    exceeds(lost, before, limit, rules.min_baseline).then(|| {
        hit(
            Gate::SourceDrop,
            source,
            format!(
                "{} people, {lost} fewer ({})",
                summary.people,
                percent(lost, before)
            ),
            threshold_text("max_drop", limit, rules.min_baseline),
            Some(base),
        )
    })
}

fn threshold_text(key: &str, limit: Threshold, min_baseline: u64) -> String {
    match limit {
        Threshold::Count(n) => format!("{key} = {n}"),
        Threshold::Percent(_) => {
            format!("{key} = {limit} (judged from min_baseline = {min_baseline})")
        }
    }
}

/// Per attribute, how many of the people in both reads have another value (or lost or gained
/// it); a person who joined or left is not a change.
fn changes(now: &ReadSummary, before: &ReadSummary) -> (u64, BTreeMap<String, u64>) {
    let mut common = 0;
    let mut changed: BTreeMap<String, u64> = BTreeMap::new();
    let mut count = |attr: &str| match changed.get_mut(attr) {
        Some(n) => *n += 1,
        None => {
            changed.insert(attr.to_owned(), 1);
        }
    };
    for (id, prints) in now.fingerprints.iter() {
        let Some(old) = before.fingerprints.get(id) else {
            continue;
        };
        common += 1;
        let compared = |a: &str| now.keeps(a) && before.keeps(a);
        // Changed or gained, then lost: every attribute either read has, once.
        for (attr, print) in prints.iter().filter(|(a, _)| compared(a)) {
            if old.get(attr) != Some(print) {
                count(attr);
            }
        }
        for (attr, _) in old.iter().filter(|(a, _)| compared(a)) {
            if prints.get(attr).is_none() {
                count(attr);
            }
        }
    }
    (common, changed)
}

fn attribute_change(
    source: &str,
    summary: &ReadSummary,
    rules: &GateRules,
    base: &Baseline,
) -> Vec<GateHit> {
    let Some(limit) = rules.max_change else {
        return Vec::new();
    };
    let (common, changed) = changes(summary, &base.summary);
    changed
        .into_iter()
        .filter(|(_, n)| exceeds(*n, common, limit, rules.min_baseline))
        .map(|(attr, n)| {
            let mut h = hit(
                Gate::AttributeChange,
                source,
                format!(
                    "`{attr}` changed for {n} of the {common} people in both reads ({})",
                    percent(n, common)
                ),
                threshold_text("max_change", limit, rules.min_baseline),
                Some(base),
            );
            h.subject = Some(attr);
            h
        })
        .collect()
}

fn coverage(source: &str, summary: &ReadSummary, rules: &GateRules) -> Vec<GateHit> {
    if summary.people == 0 {
        return Vec::new();
    }
    rules
        .required
        .iter()
        .filter_map(|attr| {
            let present = summary.present.get(attr).copied().unwrap_or(0);
            let short = (present as f64) * 100.0 < rules.min_coverage * (summary.people as f64);
            short.then(|| {
                let mut h = hit(
                    Gate::AttributeCoverage,
                    source,
                    format!(
                        "`{attr}` present on {present} of {} records ({})",
                        summary.people,
                        percent(present, summary.people)
                    ),
                    format!("min_coverage = {}%", rules.min_coverage),
                    None,
                );
                h.subject = Some(attr.clone());
                h.baseline = "not compared with a baseline".to_owned();
                h
            })
        })
        .collect()
}

/// Groups of at least this many members that read empty are held whatever `min_baseline` says:
/// an empty read of a group of admins is exactly the mistake to stop, while the one member of a
/// one-person group leaving is ordinary.
const EMPTY_GROUP_FLOOR: u64 = 2;

fn group_drop(
    source: &str,
    summary: &ReadSummary,
    rules: &GateRules,
    base: &Baseline,
) -> Vec<GateHit> {
    let mut hits = Vec::new();
    for (id, before) in &base.summary.groups {
        // A group the read no longer has at all (a broken group filter, a renamed base DN) is
        // judged as one that reads empty: it is the same mistake.
        let vanished = GroupSize {
            name: before.name.clone(),
            members: 0,
        };
        let now = summary.groups.get(id).unwrap_or(&vanished);
        let lost = before.members.saturating_sub(now.members);
        let emptied = now.members == 0 && before.members >= EMPTY_GROUP_FLOOR;
        let dropped = rules
            .max_drop
            .is_some_and(|limit| exceeds(lost, before.members, limit, rules.min_baseline));
        if !(emptied || dropped) {
            continue;
        }
        let mut h = hit(
            Gate::GroupDrop,
            source,
            format!(
                "group `{}` has {} members, {lost} fewer ({})",
                now.name,
                now.members,
                percent(lost, before.members)
            ),
            match rules.max_drop {
                Some(limit) if !emptied => threshold_text("max_drop", limit, rules.min_baseline),
                _ => format!("a group of {EMPTY_GROUP_FLOOR} or more members never reads empty"),
            },
            Some(base),
        );
        h.baseline = base.describe(&format!("{} members", before.members));
        h.subject = Some(now.name.clone());
        h.group_id = Some(id.clone());
        hits.push(h);
    }
    hits
}

/// The finding of one hit: the source, the figure, the threshold, the baseline and the exact
/// `--override`.
pub fn finding(hit: &GateHit) -> Finding {
    let head = format!(
        "source `{}`, gate `{}`: {}; the threshold is {}; baseline: {}",
        hit.source, hit.gate, hit.figure, hit.threshold, hit.baseline
    );
    let (severity, code, tail) = if hit.overridden {
        (
            Severity::Warning,
            FindingCode::SourceGateOverridden,
            format!(
                "Overridden with `{}`: the run goes on and this read becomes the source's baseline",
                hit.override_flag()
            ),
        )
    } else if hit.gate.holds_run() {
        (
            Severity::Error,
            FindingCode::SourceGateHeld,
            format!(
                "The run is held and nothing is written. Check the source; if the change is real, run again with `{}` \
                 and the read becomes the new baseline",
                hit.override_flag()
            ),
        )
    } else {
        (
            Severity::Error,
            FindingCode::GroupGateHeld,
            format!(
                "The membership changes of this group are held (nothing added or removed); the rest of the run goes on. \
                 If the change is real, run again with `{}`",
                hit.override_flag()
            ),
        )
    };
    let mut sources = vec![format!("{}: {}", hit.source, hit.gate)];
    if let Some(subject) = &hit.subject {
        sources[0].push_str(&format!(" {subject}"));
    }
    Finding::new(severity, code, format!("{head}. {tail}"), sources)
}

/// Whether `hits` hold the whole run (a gate other than `group-drop`, not overridden).
pub fn holds_run(hits: &[GateHit]) -> bool {
    hits.iter().any(|h| h.gate.holds_run() && !h.overridden)
}

/// The plan under the gates' verdict: unchanged without hits; otherwise it records them
/// (`gates`), carries one finding each, and is held (no operation, `blocked`) or loses the
/// membership changes and deletion of each held group. Its digest is computed again.
pub fn hold(mut plan: Plan, hits: Vec<GateHit>) -> Plan {
    if hits.is_empty() {
        return plan;
    }
    if holds_run(&hits) {
        plan.operations.clear();
        plan.blocked = true;
    } else {
        let held: BTreeSet<(&str, &str)> = hits
            .iter()
            .filter(|h| !h.overridden && !h.gate.holds_run())
            .filter_map(|h| Some((h.source.as_str(), h.group_id.as_deref()?)))
            .collect();
        plan.operations.retain(|op| {
            let key = match op {
                Op::AddMembers(m) | Op::RemoveMembers(m) => &m.source_key,
                Op::DeleteGroup(d) => &d.source_key,
                _ => return true,
            };
            !held.contains(&(key.source.as_str(), key.id.as_str()))
        });
    }
    plan.findings.extend(hits.iter().map(finding));
    // The planner's order: most severe first, then by code as spelt, then message.
    plan.findings.sort_by(|a, b| {
        (a.severity, a.code.as_str(), &a.message).cmp(&(b.severity, b.code.as_str(), &b.message))
    });
    plan.summary = <OpKind as strum::IntoEnumIterator>::iter()
        .map(|k| {
            (
                k.to_string(),
                plan.operations.iter().filter(|o| o.kind() == k).count(),
            )
        })
        .collect();
    plan.gates = hits;
    plan.plan_digest = None;
    plan.plan_digest = Some(plan_digest(&plan));
    plan
}

/// The overrides a saved plan was made under: `apply --plan` judges with them, so the flag is
/// not needed again.
pub fn overrides_of(plan: &Plan) -> Vec<Override> {
    plan.gates
        .iter()
        .filter(|h| h.overridden)
        .map(|h| Override {
            gate: h.gate,
            source: Some(h.source.clone()),
        })
        .collect()
}

/// Compare a saved plan's gate verdict with the one reached now; the differences, one line
/// each (empty: the same state). Figures may move with the read; which gates fire, for which
/// source, attribute or group, against which baseline and whether overridden may not.
pub fn compare(planned: &[GateHit], now: &[GateHit]) -> Vec<String> {
    let planned_states: BTreeSet<_> = planned.iter().map(GateHit::state).collect();
    let now_states: BTreeSet<_> = now.iter().map(GateHit::state).collect();
    let mut lines = Vec::new();
    for h in planned.iter().filter(|h| !now_states.contains(&h.state())) {
        lines.push(format!(
            "the plan recorded {}, which does not hold now",
            describe(h)
        ));
    }
    for h in now.iter().filter(|h| !planned_states.contains(&h.state())) {
        lines.push(format!(
            "{} now, which the plan did not record",
            describe(h)
        ));
    }
    lines
}

fn describe(hit: &GateHit) -> String {
    let subject = hit
        .subject
        .as_ref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let how = if hit.overridden { "overridden" } else { "held" };
    let base = hit
        .baseline_run
        .map_or_else(|| "no baseline".to_owned(), |r| format!("baseline run {r}"));
    format!(
        "gate `{}` of source `{}`{subject}, {how}, against {base}",
        hit.gate, hit.source
    )
}

/// The baseline to keep after a run that applied: this read, except that a group whose changes
/// were held keeps its old size (so the next run judges it against the last good read again).
pub fn next_baseline(
    source: &str,
    mut summary: ReadSummary,
    old: Option<&Baseline>,
    hits: &[GateHit],
) -> ReadSummary {
    for hit in hits
        .iter()
        .filter(|h| h.source == source && !h.overridden && !h.gate.holds_run())
    {
        let Some(id) = &hit.group_id else { continue };
        if let Some(before) = old.and_then(|b| b.summary.groups.get(id)) {
            summary.groups.insert(id.clone(), before.clone());
        }
    }
    summary
}
