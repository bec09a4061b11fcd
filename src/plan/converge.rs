//! The convergence guard: what the planner learns from earlier patches. The store records, per
//! user and attribute, what the last patch sent and how it ended ([`PastWrite`]); the planner
//! receives those records as input, like links, and holds back a change the target refused on its
//! own (`write-refused`: Notion refuses name and email changes outside the organization's verified
//! domains) until the source value changes or the admin asks for a retry (`--retry-refused`);
//! and a change the target took last time without keeping the value sent, when the target still
//! shows what it showed right after that patch (`attribute-not-converging`: a case it normalises,
//! an attribute it drops), until the source value changes or the target converges. A target that
//! kept the value and was changed back since is patched again: that is drift, not a quirk.
//! Held changes leave the rest of the person's operations alone: another attribute's patch and,
//! above all, a deactivation go on. Each kind of hold is one finding per run, naming everyone.

use super::diff::{same, Planner};
use super::op::{Change, Severity};
use super::ChangeValue;
use crate::model::{Attr, FindingCode, ScimId, TargetUser, UserName};
use std::collections::{BTreeMap, BTreeSet};

/// What the last patch of one attribute of one user sent and how it ended (from the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastWrite {
    /// The patched user.
    pub scim_id: ScimId,
    /// The attribute.
    pub attr: Attr,
    /// The value sent (as the target profile normalised it); `None` for a removal.
    pub sent: Option<String>,
    /// How it ended.
    pub outcome: PastOutcome,
}

/// How a recorded patch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PastOutcome {
    /// The target refused it on its own (the token still worked), for this reason.
    Refused {
        /// The target's reason.
        reason: String,
    },
    /// The target took it and showed this value right after (`None`: no value).
    Applied {
        /// What the target showed for the attribute right after the patch.
        read_back: Option<String>,
    },
}

/// A change the guard held back, for its finding.
struct Held {
    user: UserName,
    attr: Attr,
    sent: Option<String>,
    /// The target's reason (refused), or the value it shows (not converging).
    reason: String,
}

/// The guard's state through one plan: the records by (user, attribute), and what was held.
pub(super) struct Guard<'a> {
    past: BTreeMap<(&'a str, Attr), &'a PastWrite>,
    refused: Vec<Held>,
    stuck: Vec<Held>,
}

impl<'a> Guard<'a> {
    pub(super) fn new(past: &'a [PastWrite]) -> Self {
        Self {
            past: past
                .iter()
                .map(|w| ((w.scim_id.0.as_str(), w.attr), w))
                .collect(),
            refused: Vec::new(),
            stuck: Vec::new(),
        }
    }
}

/// Whether two values of `attr` are the same (`None`: no value).
fn equal(attr: Attr, a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(attr, a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Whether `sent` is the value `change` asks for now (the source has not changed since).
fn asks_again(attr: Attr, sent: Option<&str>, change: &Change) -> bool {
    equal(
        attr,
        sent,
        change.after.as_ref().and_then(ChangeValue::as_str),
    )
}

/// Whether the target did not keep `sent` and still shows what it showed right after the patch
/// (`change.before` is what it shows now).
fn stuck(attr: Attr, sent: Option<&str>, read_back: Option<&str>, change: &Change) -> bool {
    !equal(attr, sent, read_back)
        && equal(
            attr,
            read_back,
            change.before.as_ref().and_then(ChangeValue::as_str),
        )
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "(no value)".to_owned(), |v| format!("{v:?}"))
}

impl Planner<'_> {
    /// `changes` for target user `user`, less those the target refused last time
    /// with the same value (unless the policy says retry) and those it did not keep last time
    /// and still shows the same way; held ones are kept for the findings.
    pub(super) fn guard_changes(&mut self, user: &TargetUser, changes: Vec<Change>) -> Vec<Change> {
        let retry = self.input.policy.retry_refused;
        let mut kept = Vec::with_capacity(changes.len());
        for change in changes {
            let Some(attr) = Attr::from_path(&change.attr) else {
                kept.push(change);
                continue;
            };
            let Some(past) = self.guard.past.get(&(user.id.0.as_str(), attr)).copied() else {
                kept.push(change);
                continue;
            };
            if !asks_again(attr, past.sent.as_deref(), &change) {
                kept.push(change);
                continue;
            }
            match &past.outcome {
                PastOutcome::Refused { reason } if !retry => self.guard.refused.push(Held {
                    user: user.user_name(),
                    attr,
                    sent: past.sent.clone(),
                    reason: reason.clone(),
                }),
                PastOutcome::Refused { .. } => kept.push(change),
                PastOutcome::Applied { read_back }
                    if stuck(attr, past.sent.as_deref(), read_back.as_deref(), &change) =>
                {
                    self.guard.stuck.push(Held {
                        user: user.user_name(),
                        attr,
                        sent: past.sent.clone(),
                        reason: shown(read_back.as_deref()),
                    })
                }
                PastOutcome::Applied { .. } => kept.push(change),
            }
        }
        kept
    }

    /// The findings of the changes held this run. `write-refused`: the domains involved and who
    /// is in each (Notion's refusal is about the person's email domain), what to do (the target
    /// profile's advice), and each held change with the target's reason.
    pub(super) fn guard_findings(&mut self) {
        self.refused_finding();
        self.not_converging_finding();
    }

    /// One `attribute-not-converging` finding for every change held because the target did not
    /// keep it: who, which attribute, the value sent and the value read back.
    fn not_converging_finding(&mut self) {
        let held = std::mem::take(&mut self.guard.stuck);
        if held.is_empty() {
            return;
        }
        let attrs: BTreeSet<&str> = held.iter().map(|h| h.attr.path()).collect();
        let sources: Vec<String> = held
            .iter()
            .map(|h| {
                format!(
                    "{}: {} sent {}, read back {}",
                    h.user,
                    h.attr.path(),
                    shown(h.sent.as_deref()),
                    h.reason
                )
            })
            .collect();
        let first = sources.first().cloned().unwrap_or_default();
        self.finding(
            Severity::Warning,
            FindingCode::AttributeNotConverging,
            format!(
                "{} changes ({}) were patched before but the target did not keep the value sent and still shows \
                 what it showed after that patch, so idbridge does not send them again (e.g. {first}); the target \
                 normalises or does not store these values: change the mapping to send what it keeps, or stop \
                 managing the attribute. The hold ends when the source value changes or the target shows the \
                 value sent",
                held.len(),
                attrs.into_iter().collect::<Vec<_>>().join(", ")
            ),
            sources,
        );
    }

    fn refused_finding(&mut self) {
        let held = std::mem::take(&mut self.guard.refused);
        if held.is_empty() {
            return;
        }
        let mut domains: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for h in &held {
            let name = h.user.to_string();
            let domain = name.rsplit_once('@').map_or("", |(_, d)| d).to_lowercase();
            domains.entry(domain).or_default().insert(name);
        }
        let people: BTreeSet<&UserName> = held.iter().map(|h| &h.user).collect();
        let by_domain: Vec<String> = domains
            .iter()
            .map(|(domain, names)| {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                format!("{domain} ({})", names.join(", "))
            })
            .collect();
        let sources = held
            .iter()
            .map(|h| {
                format!(
                    "{}: {} = {} refused: {}",
                    h.user,
                    h.attr.path(),
                    shown(h.sent.as_deref()),
                    h.reason
                )
            })
            .collect();
        self.finding(
            Severity::Warning,
            FindingCode::WriteRefused,
            format!(
                "the target refused {} changes of {} people last time; idbridge does not send them again until the \
                 source value changes or a run is made with --retry-refused (their other changes and any \
                 deactivation go on). {}. Domains: {}",
                held.len(),
                people.len(),
                self.input.refusal_advice,
                by_domain.join("; ")
            ),
            sources,
        );
    }
}
