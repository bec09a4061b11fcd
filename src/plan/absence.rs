//! Absence grace (docs/lifecycle.md): a managed person who disappears from every source, or moves
//! out of scope, without an explicit termination is deactivated only once `[policy]
//! absence_grace` has passed, both its number of consecutive counted runs and its duration. A bad
//! night in an HR export must not remove anyone: a person who comes back within the grace is
//! never written to.
//!
//! The stored absences are an input, like links, and `now` is an input: the planner stays pure.
//! What an applying run records is the plan's own `absence` section, so `plan --out` then
//! `apply --plan` records exactly what was reviewed, and a run that does not count (a read that
//! may be incomplete, a hold) records nothing.

use super::diff::Planner;
use super::op::{key_text, DeactivateUser, Finding, Op, Plan, Severity};
use super::policy::DisabledAccounts;
use crate::model::{DesiredUser, FindingCode, Lifecycle, ScimId, SourceKey, TargetUser, UserName};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// `[policy] absence_grace`: how long a gone person is kept. Both must have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsenceGrace {
    /// Consecutive counted runs that must have missed the person before a run deactivates them.
    pub runs: u32,
    /// Time since the first counted run that missed them.
    pub duration: TimeDelta,
}

impl Default for AbsenceGrace {
    /// Two runs and a day: one bad export, or two runs on the same bad day, removes nobody.
    fn default() -> Self {
        Self {
            runs: 2,
            duration: TimeDelta::hours(24),
        }
    }
}

impl AbsenceGrace {
    /// No grace: a gone person is deactivated by the first run that misses them.
    pub const NONE: AbsenceGrace = AbsenceGrace {
        runs: 0,
        duration: TimeDelta::zero(),
    };

    /// Whether a person gone since `prior` (none: gone since this run) is due at `now`.
    pub fn due(self, prior: Option<&Absence>, now: DateTime<Utc>) -> bool {
        let (runs, since) = prior.map_or((0, now), |a| (a.runs, a.since));
        runs >= self.runs && now.signed_duration_since(since) >= self.duration
    }
}

impl fmt::Display for AbsenceGrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.duration.num_seconds();
        let duration = match secs {
            0 => "0s".to_owned(),
            s if s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s % 3_600 == 0 => format!("{}h", s / 3_600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        };
        write!(f, "{} runs and {duration}", self.runs)
    }
}

/// A stored absence, as the planner takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absence {
    /// The person's source key (the link's).
    pub key: SourceKey,
    /// When the first counted run missed them.
    pub since: DateTime<Utc>,
    /// How many consecutive counted runs have missed them.
    pub runs: u32,
}

/// The plan's `absence` section: who is gone, and whether an applying run of the plan counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AbsenceSection {
    /// Whether applying this plan counts toward the grace (and records `people`).
    pub counted: bool,
    /// Why it does not count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_counted: Vec<String>,
    /// sha256 of the stored absences the plan was made from (none stored: absent); `apply
    /// --plan` refuses the plan when they changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    /// Every managed person who is gone, deactivated by this plan or pending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<GonePerson>,
}

impl Default for AbsenceSection {
    /// What a plan with nobody gone and nothing held says (and what a plan file without the
    /// section means).
    fn default() -> Self {
        Self {
            counted: true,
            not_counted: Vec::new(),
            basis: None,
            people: Vec::new(),
        }
    }
}

impl AbsenceSection {
    /// Whether the section says nothing beyond the default (it is then left out of the file).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// One gone person in the plan's `absence` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GonePerson {
    /// The key the user is linked under.
    #[serde(with = "key_text")]
    pub source_key: SourceKey,
    /// The linked target user.
    pub scim_id: ScimId,
    /// Their userName.
    pub user_name: UserName,
    /// Why they count as gone: absent from every source, or the scope rule they no longer match.
    pub reason: String,
    /// When the first counted run missed them (this plan's time when none has yet).
    pub since: String,
    /// Consecutive counted runs that have missed them, this one included when it counts.
    pub runs: u32,
    /// The earliest time the grace's duration allows the deactivation.
    pub due_at: String,
    /// Whether this plan deactivates them (otherwise they are pending).
    pub deactivate: bool,
}

/// A gone person as the planner met them, before the run is known to count.
pub(super) struct Gone {
    key: SourceKey,
    scim_id: ScimId,
    user_name: UserName,
    reason: String,
    prior: Option<Absence>,
}

impl<'a> Planner<'a> {
    /// A managed, active `user` linked under `key` is gone for `reason`: deactivated when the
    /// grace has run out, otherwise kept (a `pending-deactivation` finding says until when).
    pub(super) fn gone(&mut self, key: &SourceKey, user: &TargetUser, reason: String) {
        let input = self.input;
        let grace = input.policy.absence_grace;
        let prior = input.absences.iter().find(|a| a.key == *key);
        if grace.due(prior, input.now) {
            let reason = match prior {
                Some(p) => format!(
                    "{reason}; missing since {} in {} counted runs (policy.absence_grace = {grace})",
                    stamp(p.since),
                    p.runs
                ),
                None => reason.clone(),
            };
            self.ops.push(Op::DeactivateUser(DeactivateUser {
                user_name: user.user_name(),
                scim_id: user.id.clone(),
                source_key: key.clone(),
                reason,
                changes: super::diff::deactivation(),
            }));
        }
        self.gone.push(Gone {
            key: key.clone(),
            scim_id: user.id.clone(),
            user_name: user.user_name(),
            reason,
            prior: prior.cloned(),
        });
    }

    /// A person the sources still have but who is inactive only for a reason the grace covers:
    /// a mover out of scope, or (with `disabled_accounts = "grace"`) a disabled directory
    /// account. Treated like a leaver gone from the sources. False when `person` is not one.
    pub(super) fn graced_leaver(&mut self, person: &DesiredUser, user: &TargetUser) -> bool {
        if person.lifecycle != Lifecycle::Inactive {
            return false;
        }
        let reason = match (&person.out_of_scope, &person.disabled) {
            (Some(rule), _) => format!("out of scope: {rule}"),
            (None, Some(fact))
                if self.input.policy.disabled_accounts == DisabledAccounts::Grace =>
            {
                format!("directory account disabled ({fact}; policy.disabled_accounts = \"grace\")")
            }
            _ => return false,
        };
        self.gone(&person.key, user, reason);
        true
    }

    /// The plan's absence section, once every operation is final (`blocked`: the guardrail
    /// refused the plan), and a finding for each person kept through the grace.
    pub(super) fn absence_section(&mut self, blocked: bool) -> AbsenceSection {
        let not_counted = self.not_counted(blocked);
        let counted = not_counted.is_empty();
        let input = self.input;
        let grace = input.policy.absence_grace;
        let gone = std::mem::take(&mut self.gone);
        let mut people: Vec<GonePerson> = gone
            .into_iter()
            .map(|g| {
                let (runs, since) = g
                    .prior
                    .as_ref()
                    .map_or((0, input.now), |p| (p.runs, p.since));
                let deactivate = self
                    .ops
                    .iter()
                    .any(|o| matches!(o, Op::DeactivateUser(d) if d.scim_id == g.scim_id));
                GonePerson {
                    source_key: g.key,
                    scim_id: g.scim_id,
                    user_name: g.user_name,
                    reason: g.reason,
                    since: stamp(since),
                    runs: runs.saturating_add(u32::from(counted)),
                    due_at: stamp(since + grace.duration),
                    deactivate,
                }
            })
            .collect();
        people.sort_by(|a, b| a.source_key.cmp(&b.source_key));
        for person in people.iter().filter(|p| !p.deactivate) {
            let finding = pending_finding(person, grace, input.now, &not_counted);
            self.findings.push(finding);
        }
        AbsenceSection {
            counted,
            not_counted,
            basis: basis(input.absences),
            people,
        }
    }

    /// Why an applying run of this plan must not count toward anyone's grace: a source read
    /// that may be missing people, a target read that did not add up, or a plan the guardrail
    /// refused. Empty when it counts.
    fn not_counted(&self, blocked: bool) -> Vec<String> {
        let input = self.input;
        let mut why = Vec::new();
        let skipped: Vec<String> = input
            .issues
            .iter()
            .filter(|i| i.skipped_person)
            .map(|i| format!("{}: {}", i.source, i.location))
            .collect();
        if !skipped.is_empty() {
            let shown: Vec<&str> = skipped.iter().take(5).map(String::as_str).collect();
            let more = skipped.len() - shown.len();
            why.push(format!(
                "{} source records were skipped ({}{}), so a read may be missing people",
                skipped.len(),
                shown.join("; "),
                if more > 0 {
                    format!("; … and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        if !input.target.consistent {
            why.push("the paged read of the target's users did not add up".to_owned());
        }
        if input.target_groups.is_some_and(|g| !g.consistent) {
            why.push("the paged read of the target's groups did not add up".to_owned());
        }
        if blocked {
            why.push("the deactivation guardrail blocked the plan".to_owned());
        }
        why
    }
}

/// The `pending-deactivation` finding of a person kept through the grace.
fn pending_finding(
    person: &GonePerson,
    grace: AbsenceGrace,
    now: DateTime<Utc>,
    not_counted: &[String],
) -> Finding {
    let overdue = grace.runs <= person.runs
        && DateTime::parse_from_rfc3339(&person.due_at).is_ok_and(|d| d <= now);
    let when = if overdue {
        "the absence grace has run out, but the deactivation is held in this run (see the other findings)"
            .to_owned()
    } else {
        format!(
            "pending deactivation: kept until {} and until {} counted runs have missed them ({} so far), then \
             deactivated by the next run; back in the sources before then cancels it, with nothing written",
            person.due_at, grace.runs, person.runs
        )
    };
    let counts = if not_counted.is_empty() {
        String::new()
    } else {
        format!(
            "; this run does not count toward the grace: {}",
            not_counted.join("; ")
        )
    };
    Finding::new(
        Severity::Info,
        FindingCode::PendingDeactivation,
        format!("{}: {}; {when}{counts}", person.user_name, person.reason),
        vec![
            person.source_key.to_string(),
            format!("scim: {}", person.scim_id),
        ],
    )
}

/// An instant as plans write it.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// sha256 of the stored absences (`None` when there are none), in key order.
pub fn basis(absences: &[Absence]) -> Option<String> {
    if absences.is_empty() {
        return None;
    }
    let mut lines: Vec<String> = absences
        .iter()
        .map(|a| {
            let since = a.since.to_rfc3339_opts(SecondsFormat::Micros, true);
            format!("{} {since} {}", a.key, a.runs)
        })
        .collect();
    lines.sort();
    Some(hex::encode(Sha256::digest(lines.join("\n").as_bytes())))
}

/// What an applying run of `plan` records: `None` when it does not count (nothing is recorded),
/// otherwise every gone person, with their run count and first missed time. One this plan
/// deactivates keeps a record until a run sees them out of the workspace, so a deactivation that
/// failed is tried again by the next run rather than waiting out a new grace. A person not listed
/// is back (or out of the workspace) and loses their record.
pub fn to_record(plan: &Plan) -> Option<Vec<(GonePerson, DateTime<Utc>)>> {
    let section = &plan.absence;
    if !section.counted || plan.blocked {
        return None;
    }
    Some(
        section
            .people
            .iter()
            .filter_map(|p| {
                let since = DateTime::parse_from_rfc3339(&p.since).ok()?;
                Some((p.clone(), since.with_timezone(&Utc)))
            })
            .collect(),
    )
}

/// The rules a saved plan's absences must keep when `apply --plan` runs it: the stored absences
/// are those it was made from, and every deactivation of a gone person is one the grace allows
/// (`grace` and `disabled` as configured now, at the plan's own time). `desired` is what the
/// sources say now.
pub fn verify(
    plan: &Plan,
    absences: &[Absence],
    grace: AbsenceGrace,
    disabled: DisabledAccounts,
    desired: &[DesiredUser],
) -> Vec<String> {
    let mut out = Vec::new();
    if basis(absences) != plan.absence.basis {
        out.push(
            "the stored absences changed since the plan was made (another run recorded them): run `idbridge plan` \
             again and review the new plan"
                .to_owned(),
        );
    }
    let made = DateTime::parse_from_rfc3339(&plan.generated_at).map(|d| d.with_timezone(&Utc));
    let prior: BTreeMap<&SourceKey, &Absence> = absences.iter().map(|a| (&a.key, a)).collect();
    let listed: BTreeMap<&SourceKey, &GonePerson> = plan
        .absence
        .people
        .iter()
        .map(|p| (&p.source_key, p))
        .collect();
    let terminated = |key: &SourceKey| {
        desired.iter().any(|d| {
            (d.key == *key || d.other_keys.contains(key))
                && d.lifecycle == Lifecycle::Inactive
                && d.out_of_scope.is_none()
                && (d.disabled.is_none() || disabled == DisabledAccounts::Deactivate)
        })
    };
    for (i, op) in plan.operations.iter().enumerate() {
        let Op::DeactivateUser(d) = op else { continue };
        if terminated(&d.source_key) {
            continue;
        }
        let allowed = listed.get(&d.source_key).is_some_and(|p| p.deactivate)
            && made
                .as_ref()
                .is_ok_and(|at| grace.due(prior.get(&d.source_key).copied(), *at));
        if !allowed {
            out.push(format!(
                "operation {}: deactivates {} ({}), who is gone from the sources or out of scope, but \
                 policy.absence_grace ({grace}) has not run out for them",
                i + 1,
                d.user_name,
                d.source_key
            ));
        }
    }
    out
}
