//! The convergence guard: what the planner learns from earlier patches. The store records, per
//! user and attribute, what the last patch sent and how it ended ([`PastWrite`]); the planner
//! receives those records as input, like links, and holds back a change the target refused on its
//! own (`write-refused`: Notion refuses name and email changes outside the organization's verified
//! domains) until the source value changes or the admin asks for a retry (`--retry-refused`).
//! Held changes leave the rest of the person's operations alone: another attribute's patch and,
//! above all, a deactivation go on. Each kind of hold is one finding per run, naming everyone.

use super::diff::{same, Planner};
use super::op::{Change, Severity};
use crate::model::{Attr, DesiredUser, FindingCode, ScimId, TargetUser, UserName};
use serde_json::Value;
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
}

/// A change the guard held back, for its finding.
struct Held {
    user: UserName,
    attr: Attr,
    sent: Option<String>,
    reason: String,
}

/// The guard's state through one plan: the records by (user, attribute), and what was held.
pub(super) struct Guard<'a> {
    past: BTreeMap<(&'a str, Attr), &'a PastWrite>,
    refused: Vec<Held>,
}

impl<'a> Guard<'a> {
    pub(super) fn new(past: &'a [PastWrite]) -> Self {
        Self {
            past: past
                .iter()
                .map(|w| ((w.scim_id.0.as_str(), w.attr), w))
                .collect(),
            refused: Vec::new(),
        }
    }
}

/// Whether `sent` is the value `change` asks for now (the source has not changed since).
fn asks_again(attr: Attr, sent: Option<&str>, change: &Change) -> bool {
    let want = change.after.as_ref().and_then(Value::as_str);
    match (sent, want) {
        (Some(a), Some(b)) => same(attr, a, b),
        (None, None) => true,
        _ => false,
    }
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "(removed)".to_owned(), |v| format!("{v:?}"))
}

impl Planner<'_> {
    /// `changes` for `person`'s target user `user`, less those the target refused last time
    /// with the same value (unless the policy says retry); held ones are kept for the finding.
    pub(super) fn guard_changes(
        &mut self,
        _person: &DesiredUser,
        user: &TargetUser,
        changes: Vec<Change>,
    ) -> Vec<Change> {
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
            }
        }
        kept
    }

    /// One `write-refused` finding for every change held this run: the domains involved and who
    /// is in each (Notion's refusal is about the person's email domain), what to do (the target
    /// profile's advice), and each held change with the target's reason.
    pub(super) fn guard_findings(&mut self) {
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
