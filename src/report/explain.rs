//! `idbridge explain EMAIL|EMPLOYEE-ID`: why one person gets (or does not get) each operation
//! right now. From one read of the sources and the workspace and the plan made from it, the
//! person's record in each source (with its location), how the join merged them and which source
//! won each attribute, the mapped SCIM resource, the workspace's user, the link, and the rule that
//! decided. [`explain`] gathers those facts (pure); [`letter`] writes them as a short letter an
//! admin can paste into a ticket, and the [`Explanation`] serialises to the same facts as JSON.

use super::access::{self, protection, records_of, Workspace};
use super::data::time_text;
use super::terminal_safe;
use crate::model::{
    DesiredUser, FindingCode, Lifecycle, SourceIssue, SourceRecord, StatusKind, TargetUser,
    UserName,
};
use crate::plan::{KnownLink, Op, OpKind, Plan, Severity};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// What `explain` reads: the access reports' view of the workspace, the plan made from the same
/// read, and the source issues (bad rows name people they could not load).
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Workspace, sources, links, policy, journal.
    pub ws: Workspace<'a>,
    /// The plan made from them, as `plan` would print it now.
    pub plan: &'a Plan,
    /// Bad source records and mapping problems.
    pub issues: &'a [SourceIssue],
    /// The target's configured name.
    pub target: &'a str,
    /// The plan's `now`.
    pub now: DateTime<Utc>,
}

/// The rule that decided a person's operations (or their absence), spelled in kebab-case in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Rule {
    /// Active in the sources, nobody in the workspace: created.
    Create,
    /// Linked, and managed attributes differ from the sources: patched.
    Patch,
    /// Returned after idbridge took them out: re-added.
    Readd,
    /// An existing workspace user matches: linked (adopted, recovered or re-keyed).
    Adopt,
    /// The sources say they left (a termination date passed, an inactive status): deactivated.
    Terminated,
    /// Outside the configured `[scope]`: never created, deactivated when managed.
    OutOfScope,
    /// Linked, and no source has them any more: deactivated.
    Absent,
    /// A deactivation the plan holds back: the `policy.max_deactivations` guardrail (or an
    /// unreliable read) refuses it until fixed or forced.
    Guardrail,
    /// A workspace owner or the token's owner: never changed.
    Protected,
    /// Their start date is in the future: not provisioned yet.
    NotStarted,
    /// A termination is recorded but not in effect yet: kept until then.
    LeavingScheduled,
    /// In the workspace and every managed attribute matches.
    NoChange,
    /// They left and are not in the workspace: nothing to do.
    Gone,
    /// The sources (or a link) disagree about who they are: left untouched until fixed.
    Conflict,
    /// Their record could not be read: left untouched, never deactivated for it.
    SourceProblem,
    /// A workspace user matches them but `policy.adopt = "none"`: left alone.
    NotAdopted,
    /// In the workspace, known to no source and not linked: left alone.
    Unmanaged,
}

impl Rule {
    /// Its spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One source record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    /// The source's name.
    pub source: String,
    /// `source:id`.
    pub key: String,
    /// Where: `hr.csv line 4`, a DN, an API record.
    pub location: String,
    /// Attributes under their canonical names.
    pub attrs: BTreeMap<String, String>,
    /// HR status as written.
    pub status: Option<String>,
    /// Whether that status keeps them in (`active`) or not (`inactive`).
    pub status_means: Option<&'static str>,
    /// First day of work.
    pub start_date: Option<String>,
    /// Last day of work.
    pub termination_date: Option<String>,
    /// The time zone of those dates.
    pub timezone: Option<String>,
}

/// One mapped attribute and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttrView {
    /// SCIM path.
    pub attr: String,
    /// The value (`None`: no value).
    pub value: Option<String>,
    /// The source records and values it was made from.
    pub from: String,
}

/// How the join merged the records, and what the mapping made of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinView {
    /// The key the person is linked under (the first source, in config order).
    pub key: String,
    /// Their keys in the other sources.
    pub other_keys: Vec<String>,
    /// `active`, `inactive` or `pending`.
    pub lifecycle: &'static str,
    /// The source fact behind it.
    pub reason: String,
    /// A termination not in effect yet: when it takes effect.
    pub leaves_at: Option<String>,
    /// The mapped SCIM resource, attribute by attribute, with the winning source.
    pub attributes: Vec<AttrView>,
}

/// The workspace's user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    /// SCIM id.
    pub scim_id: String,
    /// Whether it is active.
    pub active: bool,
    /// Workspace role.
    pub role: Option<String>,
    /// Managed attributes as the workspace holds them, by SCIM path.
    pub attrs: BTreeMap<String, String>,
}

/// The stored link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    /// The source key.
    pub key: String,
    /// The linked SCIM id.
    pub scim_id: String,
    /// The userName idbridge last wrote.
    pub user_name: String,
    /// False once idbridge deactivated the user.
    pub active: bool,
}

/// One change of their link, from the store's link history (docs/reports.md, "Link history").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView {
    /// When (RFC 3339).
    pub at: String,
    /// The run that changed it, if a run did.
    pub run: Option<i64>,
    /// What changed it: an operation kind, `confirm`, or `baseline`.
    pub cause: String,
    /// The key the link is under after the change.
    pub key: String,
    /// The key the SCIM id was linked under before, when it moved.
    pub previous_key: Option<String>,
    /// The SCIM id after (and before, when it changed).
    pub scim_id: Option<String>,
    /// The SCIM id before.
    pub previous_scim_id: Option<String>,
    /// The userName after.
    pub user_name: Option<String>,
    /// The userName before.
    pub previous_user_name: Option<String>,
    /// `active` or `deactivated` after.
    pub state: Option<String>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The rule that decided.
    pub rule: Rule,
    /// The operations the plan holds for them (kinds), empty for none.
    pub operations: Vec<OpKind>,
    /// One sentence.
    pub summary: String,
    /// The fact or finding it rests on.
    pub because: String,
}

/// Everything `explain` says about one person.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// What was asked.
    pub query: String,
    /// The target's configured name.
    pub target: String,
    /// When (the plan's `now`).
    pub at: String,
    /// Their userName (mapped, else the workspace's).
    pub user_name: Option<String>,
    /// The decision.
    pub decision: Decision,
    /// The plan's operations for them, as in the plan format.
    pub operations: Vec<Op>,
    /// Their record in each source.
    pub records: Vec<RecordView>,
    /// How the join merged them (`None`: no mapped person).
    pub join: Option<JoinView>,
    /// The workspace's user (`None`: not in the workspace).
    pub workspace: Option<TargetView>,
    /// How idbridge stands towards them.
    pub management: Option<String>,
    /// The stored link.
    pub link: Option<LinkView>,
    /// Every recorded change of their link (keys, emails, SCIM ids), oldest first; the CLI
    /// fills it from the store.
    pub history: Vec<HistoryView>,
    /// The plan's findings about them.
    pub findings: Vec<crate::plan::Finding>,
    /// Source records about them that could not be read.
    pub issues: Vec<SourceIssue>,
}

/// Nobody matches the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("nobody matches `{query}` in the sources, the workspace or the links of target {target}{}", .suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_else(|| ": explain takes an email (userName) or an employee id".to_owned()))]
pub struct NotFound {
    /// What was asked.
    pub query: String,
    /// The target.
    pub target: String,
    /// The nearest email or id, when one is close.
    pub suggestion: Option<String>,
}

/// Who the query names: a mapped person, their workspace user, link and records.
struct Found<'a> {
    person: Option<&'a DesiredUser>,
    user: Option<&'a TargetUser>,
    link: Option<&'a KnownLink>,
    records: Vec<&'a SourceRecord>,
    issues: Vec<&'a SourceIssue>,
}

fn eq(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn record_names(r: &SourceRecord, q: &str) -> bool {
    eq(&r.key.id, q)
        || [
            crate::model::attr::EMAIL,
            crate::model::attr::EMPLOYEE_ID,
            "login",
        ]
        .iter()
        .any(|a| r.attrs.get(a).is_some_and(|v| eq(v, q)))
}

fn find<'a>(f: &Facts<'a>, q: &str) -> Found<'a> {
    let ws = &f.ws;
    let person = ws
        .desired
        .iter()
        .find(|d| {
            d.user_name().is_some_and(|n| eq(n.as_str(), q))
                || std::iter::once(&d.key)
                    .chain(&d.other_keys)
                    .any(|k| eq(&k.id, q) || eq(&k.to_string(), q))
        })
        .or_else(|| {
            let record = ws.records.iter().find(|r| record_names(r, q))?;
            ws.desired
                .iter()
                .find(|d| d.key == record.key || d.other_keys.contains(&record.key))
        });
    let link = match person {
        Some(p) => ws
            .links
            .iter()
            .find(|l| l.key == p.key || p.other_keys.contains(&l.key)),
        None => ws
            .links
            .iter()
            .find(|l| eq(l.user_name.as_str(), q) || eq(&l.key.id, q)),
    };
    let user = match (link, person) {
        (Some(l), _) => ws.users.iter().find(|u| u.id == l.scim_id),
        (None, Some(p)) => access::known(ws)
            .into_iter()
            .find(|k| k.link.is_none() && k.person.is_some_and(|m| m.key == p.key))
            .map(|k| k.user),
        (None, None) => ws.users.iter().find(|u| eq(u.user_name().as_str(), q)),
    };
    let records = match person {
        Some(p) => records_of(ws, p),
        None => ws.records.iter().filter(|r| record_names(r, q)).collect(),
    };
    let mut names: Vec<String> = vec![q.trim().to_lowercase()];
    names.extend(person.and_then(DesiredUser::user_name).map(|n| n.key()));
    names.extend(records.iter().map(|r| r.key.id.to_lowercase()));
    let issues = f
        .issues
        .iter()
        .filter(|i| i.hints.iter().any(|h| names.contains(&h.to_lowercase())))
        .collect();
    Found {
        person,
        user,
        link,
        records,
        issues,
    }
}

/// Every email and id the query could have meant, for a did-you-mean.
fn candidates(f: &Facts<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    out.extend(f.ws.users.iter().map(|u| u.user_name().to_string()));
    out.extend(
        f.ws.desired
            .iter()
            .filter_map(|d| d.user_name().map(|n| n.to_string())),
    );
    out.extend(f.ws.records.iter().map(|r| r.key.id.clone()));
    out.extend(
        f.ws.records
            .iter()
            .filter_map(|r| r.attrs.get(crate::model::attr::EMAIL).map(str::to_owned)),
    );
    out.sort();
    out.dedup();
    out
}

/// The nearest candidate, when it is near enough to be a typo (a few edits, under half its
/// length).
fn suggestion(f: &Facts<'_>, q: &str) -> Option<String> {
    let q = q.trim().to_lowercase();
    candidates(f)
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&q, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 3 && *d * 2 < c.chars().count().max(q.chars().count()))
        .min()
        .map(|(_, c)| c)
}

/// The plan's operations about the person: their user operations, and the groups they join or
/// leave.
fn operations<'a>(f: &Facts<'a>, found: &Found<'_>, name: Option<&UserName>) -> Vec<&'a Op> {
    let keys: Vec<String> = found
        .records
        .iter()
        .map(|r| r.key.to_string())
        .chain(found.person.iter().flat_map(|p| {
            std::iter::once(p.key.to_string()).chain(p.other_keys.iter().map(ToString::to_string))
        }))
        .chain(found.link.map(|l| l.key.to_string()))
        .collect();
    f.plan
        .operations
        .iter()
        .filter(|o| match o.user_name() {
            Some(n) => {
                keys.contains(&o.source_key().to_string())
                    || found.user.is_some_and(|u| o.scim_id() == Some(&u.id))
                    || name.is_some_and(|m| m == n)
            }
            None => name.is_some_and(|m| o.members().contains(m)),
        })
        .collect()
}

/// The plan's findings about the person: those that cite one of their keys, records or their
/// workspace id, or name them; and the plan-wide ones that hold their operations back.
fn findings(
    f: &Facts<'_>,
    found: &Found<'_>,
    name: Option<&UserName>,
    ops: &[&Op],
) -> Vec<crate::plan::Finding> {
    let mut cited: Vec<String> = found
        .records
        .iter()
        .flat_map(|r| {
            [
                r.key.to_string(),
                format!("{}: {}", r.key.source, r.location),
            ]
        })
        .collect();
    if let Some(p) = found.person {
        cited.push(p.key.to_string());
        cited.extend(p.other_keys.iter().map(ToString::to_string));
    }
    cited.extend(found.link.map(|l| l.key.to_string()));
    cited.extend(found.user.map(|u| format!("scim: {}", u.id)));
    let deactivated = ops.iter().any(|o| o.kind() == OpKind::DeactivateUser);
    let absent = found.person.is_none() && found.link.is_some();
    f.plan
        .findings
        .iter()
        .filter(|finding| {
            let about = finding.sources.iter().any(|s| cited.contains(s))
                || name.is_some_and(|n| names_in(&finding.message, n));
            let holds = match finding.code {
                FindingCode::MaxDeactivationsExceeded | FindingCode::MaxDeactivationsForced => {
                    deactivated
                }
                FindingCode::DeactivationsHeld => absent,
                FindingCode::TargetReadInconsistent => true,
                _ => false,
            };
            about || holds
        })
        .cloned()
        .collect()
}

/// Whether `message` names `name` as a whole address, not inside a longer one.
fn names_in(message: &str, name: &UserName) -> bool {
    let text = message.to_lowercase();
    let name = name.key();
    text.match_indices(&name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || "._%+-@".contains(c));
        !part(before) && !part(after)
    })
}

fn record_view(r: &SourceRecord) -> RecordView {
    let e = r.employment.as_ref();
    RecordView {
        source: r.key.source.clone(),
        key: r.key.to_string(),
        location: r.location.clone(),
        attrs: r.attrs.to_map(),
        status: e.and_then(|e| e.status.clone()),
        status_means: e.map(|e| match e.kind {
            StatusKind::Active => "active",
            StatusKind::Inactive => "inactive",
            StatusKind::Disabled => "disabled",
        }),
        start_date: e.and_then(|e| e.start).map(|d| d.to_string()),
        termination_date: e.and_then(|e| e.end).map(|d| d.to_string()),
        timezone: e.map(|e| e.timezone.to_string()),
    }
}

fn lifecycle_name(l: &Lifecycle) -> &'static str {
    match l {
        Lifecycle::Active => "active",
        Lifecycle::Inactive => "inactive",
        Lifecycle::Pending => "pending",
    }
}

fn join_view(f: &Facts<'_>, p: &DesiredUser) -> JoinView {
    JoinView {
        key: p.key.to_string(),
        other_keys: p.other_keys.iter().map(ToString::to_string).collect(),
        lifecycle: lifecycle_name(&p.lifecycle),
        reason: p.reason.clone(),
        leaves_at: p.leaving.as_ref().map(|l| time_text(l.effective)),
        attributes: access::origins(p, f.ws.managed)
            .into_iter()
            .map(|o| AttrView {
                attr: o.attr.path().to_owned(),
                value: o.value,
                from: o.from,
            })
            .collect(),
    }
}

fn target_view(u: &TargetUser) -> TargetView {
    TargetView {
        scim_id: u.id.0.clone(),
        active: u.active,
        role: u.role.clone(),
        attrs: u
            .attrs
            .iter()
            .map(|(a, v)| (a.path().to_owned(), v.to_owned()))
            .collect(),
    }
}

/// Findings that mean the sources or the links disagree about who the person is.
const CONFLICTS: [FindingCode; 7] = [
    FindingCode::DuplicateUserName,
    FindingCode::AmbiguousMatch,
    FindingCode::LinkConflict,
    FindingCode::EmailReused,
    FindingCode::UserNameHeld,
    FindingCode::JoinConflict,
    FindingCode::KeptBadRow,
];

/// The rule behind the plan's operations for a person.
fn rule_for_ops(f: &Facts<'_>, found: &Found<'_>, ops: &[&Op]) -> Option<(Rule, String, String)> {
    let user_ops: Vec<&&Op> = ops.iter().filter(|o| o.user_name().is_some()).collect();
    let first = user_ops
        .iter()
        .find(|o| o.kind() != OpKind::LinkUser)
        .or(user_ops.first())?;
    let reason = first.reason().to_owned();
    let id = found.user.map(|u| u.id.to_string()).unwrap_or_default();
    let name = first.subject();
    Some(match first.kind() {
        OpKind::CreateUser => (
            Rule::Create,
            format!("{name} is active in the sources and nobody in the workspace has that userName: the plan creates them (Notion sends an invite)"),
            reason,
        ),
        OpKind::PatchUser => {
            let changed: Vec<String> = first
                .changes()
                .iter()
                .map(|c| super::data::short_attr(&c.attr).to_owned())
                .collect();
            (
                Rule::Patch,
                format!("{name} is linked to {id} and the workspace differs from the sources in {}: the plan patches them", changed.join(", ")),
                reason,
            )
        }
        OpKind::ReaddUser => (
            Rule::Readd,
            format!("{name} is active in the sources again after idbridge took them out: the plan re-adds them"),
            reason,
        ),
        OpKind::LinkUser => (
            Rule::Adopt,
            format!("{name} is already in the workspace as {id} but not linked: the plan links them, and manages them from then on"),
            reason,
        ),
        OpKind::DeactivateUser if f.plan.blocked => (
            Rule::Guardrail,
            format!("the plan would deactivate {name}, but it is blocked by policy.max_deactivations: nothing is applied until the sources are checked, or the run is forced with --force"),
            reason,
        ),
        OpKind::DeactivateUser if reason.starts_with("out of scope") => (
            Rule::OutOfScope,
            format!("{name} is managed by idbridge but outside the configured [scope]: the plan deactivates them"),
            reason,
        ),
        OpKind::DeactivateUser if found.person.is_none() => (
            Rule::Absent,
            format!("{name} is linked but no source has them any more: the plan deactivates them"),
            reason,
        ),
        OpKind::DeactivateUser => (
            Rule::Terminated,
            format!("the sources say {name} left: the plan deactivates them"),
            reason,
        ),
        _ => return None,
    })
}

/// The rule when the plan holds no operation for the person.
fn rule_without_ops(
    f: &Facts<'_>,
    found: &Found<'_>,
    findings: &[crate::plan::Finding],
    name: &str,
) -> (Rule, String, String) {
    if let Some(why) = found.user.and_then(|u| protection(f.ws.policy, u)) {
        return (
            Rule::Protected,
            format!("{name} is {why}: idbridge never changes them, whatever the sources say"),
            found.person.map(|p| p.reason.clone()).unwrap_or_default(),
        );
    }
    let finding = |codes: &[FindingCode]| findings.iter().find(|x| codes.contains(&x.code));
    if let Some(c) = finding(&CONFLICTS) {
        return (
            Rule::Conflict,
            format!(
                "{name} is left untouched until the conflict is resolved ({})",
                c.code
            ),
            c.message.clone(),
        );
    }
    if let Some(held) = finding(&[
        FindingCode::DeactivationsHeld,
        FindingCode::TargetReadInconsistent,
    ]) {
        return (
            Rule::Guardrail,
            format!(
                "a guardrail holds {name}'s deactivation back this run ({})",
                held.code
            ),
            held.message.clone(),
        );
    }
    if let Some(n) = finding(&[FindingCode::UnadoptedMatch]) {
        return (
            Rule::NotAdopted,
            format!("{name} is in the workspace and matches the sources, but policy.adopt = \"none\": left alone"),
            n.message.clone(),
        );
    }
    let Some(person) = found.person else {
        return rule_without_person(found, name);
    };
    rule_by_lifecycle(person, found.user.is_some_and(|u| u.active), name)
}

/// The rule for a mapped person no finding and no protection explains: their dates and status
/// decide. `present`: they are active in the workspace.
fn rule_by_lifecycle(person: &DesiredUser, present: bool, name: &str) -> (Rule, String, String) {
    let reason = person.reason.clone();
    match (&person.lifecycle, &person.leaving) {
        (Lifecycle::Pending, _) => (
            Rule::NotStarted,
            format!("{name} has not started yet: not provisioned until their start date"),
            reason,
        ),
        (Lifecycle::Inactive, _) if reason.starts_with("out of scope") => (
            Rule::OutOfScope,
            format!("{name} is outside the configured [scope]: never created{}", if present { ", and not managed here" } else { "" }),
            reason,
        ),
        (Lifecycle::Inactive, _) => (
            Rule::Gone,
            format!("the sources say {name} left, and they are not in the workspace: nothing to do"),
            reason,
        ),
        (Lifecycle::Active, Some(leaving)) => (
            Rule::LeavingScheduled,
            format!(
                "{name} leaves on {}: kept until {}, then deactivated",
                leaving.last_day,
                time_text(leaving.effective)
            ),
            leaving.fact.clone(),
        ),
        (Lifecycle::Active, None) => (
            Rule::NoChange,
            format!("{name} is in the workspace and every managed attribute matches the sources: nothing to do"),
            reason,
        ),
    }
}

/// The rule for someone no mapped person stands for: a record that could not be read, a link
/// to nobody, or a workspace user nobody knows.
fn rule_without_person(found: &Found<'_>, name: &str) -> (Rule, String, String) {
    if let Some(issue) = found.issues.first() {
        return (
            Rule::SourceProblem,
            format!("{name}'s record could not be read: left untouched, and never deactivated because of it"),
            format!("{}: {}: {}", issue.source, issue.location, issue.message),
        );
    }
    match (found.user, found.link) {
        (Some(u), Some(l)) if !u.active => (
            Rule::Gone,
            format!("{name} is linked as {} but in no source, and already inactive: nothing to do", l.key),
            String::new(),
        ),
        (Some(_), Some(l)) => (
            Rule::Absent,
            format!(
                "{name} is linked as {} but in no source, yet the plan holds no deactivation for \
                 them: see the findings (a source no longer configured?)",
                l.key
            ),
            String::new(),
        ),
        (None, Some(l)) => (
            Rule::Gone,
            format!("{name} is linked as {} but in no source, and not in the workspace: nothing to do", l.key),
            String::new(),
        ),
        _ => (
            Rule::Unmanaged,
            format!("{name} is in the workspace, but no source knows them and no link names them: idbridge leaves them alone"),
            String::new(),
        ),
    }
}

/// Explain the person `query` names (an email or userName, an employee id, a source key), or
/// say nobody matches, with the nearest email or id when one is close.
pub fn explain(f: &Facts<'_>, query: &str) -> Result<Explanation, NotFound> {
    let found = find(f, query);
    if found.person.is_none()
        && found.user.is_none()
        && found.link.is_none()
        && found.records.is_empty()
        && found.issues.is_empty()
    {
        return Err(NotFound {
            query: query.to_owned(),
            target: f.target.to_owned(),
            suggestion: suggestion(f, query),
        });
    }
    let name: Option<UserName> = found
        .person
        .and_then(DesiredUser::user_name)
        .or_else(|| found.user.map(TargetUser::user_name))
        .or_else(|| found.link.map(|l| l.user_name.clone()));
    let ops = operations(f, &found, name.as_ref());
    let findings = findings(f, &found, name.as_ref(), &ops);
    let shown = name
        .as_ref()
        .map_or_else(|| query.trim().to_owned(), ToString::to_string);
    let (rule, summary, because) = rule_for_ops(f, &found, &ops)
        .unwrap_or_else(|| rule_without_ops(f, &found, &findings, &shown));
    let management = found.user.map(|u| {
        let known = access::Known {
            user: u,
            link: found.link,
            person: found.person,
            records: Vec::new(),
            journal: Vec::new(),
        };
        access::management(&f.ws, &known).text()
    });
    Ok(Explanation {
        query: query.to_owned(),
        target: f.target.to_owned(),
        at: time_text(f.now),
        user_name: name.map(|n| n.to_string()),
        decision: Decision {
            rule,
            operations: ops.iter().map(|o| o.kind()).collect(),
            summary,
            because,
        },
        operations: ops.into_iter().cloned().collect(),
        records: found.records.iter().map(|r| record_view(r)).collect(),
        join: found.person.map(|p| join_view(f, p)),
        workspace: found.user.map(target_view),
        management,
        link: found.link.map(|l| LinkView {
            key: l.key.to_string(),
            scim_id: l.scim_id.0.clone(),
            user_name: l.user_name.to_string(),
            active: l.active,
        }),
        history: Vec::new(),
        findings,
        issues: found.issues.into_iter().cloned().collect(),
    })
}

/// Values from sources and the workspace, made inert for a terminal (and a ticket).
fn safe(text: &str) -> String {
    terminal_safe(text, 1_000)
}

fn record_line(r: &RecordView) -> String {
    let attrs: Vec<String> = r
        .attrs
        .iter()
        .map(|(k, v)| format!("{k}={}", safe(v)))
        .collect();
    let mut line = format!(
        "  - {} ({}), {}: {}",
        r.source,
        safe(&r.key),
        safe(&r.location),
        attrs.join(", ")
    );
    if let Some(status) = &r.status {
        line.push_str(&format!(
            "; status {} (means {})",
            safe(status),
            r.status_means.unwrap_or("active")
        ));
    }
    if let Some(start) = &r.start_date {
        line.push_str(&format!("; starts {start}"));
    }
    if let Some(end) = &r.termination_date {
        line.push_str(&format!("; last day {end}"));
    }
    if let (Some(tz), true) = (
        &r.timezone,
        r.start_date.is_some() || r.termination_date.is_some(),
    ) {
        line.push_str(&format!(" ({tz})"));
    }
    line
}

/// The explanation as a short letter: the decision first, then the facts it rests on.
pub fn letter(e: &Explanation) -> String {
    let who = e.user_name.as_deref().unwrap_or(&e.query);
    let mut out = format!(
        "Why idbridge does what it does for {} (target {}, as of {})\n\n",
        safe(who),
        safe(&e.target),
        e.at
    );
    decision_part(e, &mut out);
    sources_part(e, &mut out);
    join_part(e, &mut out);
    workspace_part(e, &mut out);
    history_part(e, &mut out);
    findings_part(e, &mut out);
    out
}

fn value_text(v: &Option<crate::plan::ChangeValue>) -> String {
    v.as_ref()
        .and_then(crate::plan::ChangeValue::shown)
        .map_or_else(|| "∅".to_owned(), |text| safe(&text))
}

fn decision_part(e: &Explanation, out: &mut String) {
    let ops: Vec<&str> = e
        .decision
        .operations
        .iter()
        .map(|k| <&str>::from(*k))
        .collect();
    let what = if ops.is_empty() {
        "no operation".to_owned()
    } else {
        ops.join(", ")
    };
    out.push_str(&format!(
        "Decision: {what} (rule: {}).\n  {}.\n",
        e.decision.rule.as_str(),
        safe(&e.decision.summary)
    ));
    if !e.decision.because.is_empty() {
        out.push_str(&format!("  Because: {}\n", safe(&e.decision.because)));
    }
    for op in &e.operations {
        for c in op.changes() {
            out.push_str(&format!(
                "  {} {}: {} → {}\n",
                op.kind(),
                super::data::short_attr(&c.attr),
                value_text(&c.before),
                value_text(&c.after)
            ));
        }
        if !op.members().is_empty() {
            out.push_str(&format!("  {} group {}\n", op.kind(), safe(op.subject())));
        }
    }
}

fn sources_part(e: &Explanation, out: &mut String) {
    out.push_str("\nSources:\n");
    if e.records.is_empty() {
        out.push_str("  no source has a record of them\n");
    }
    for r in &e.records {
        out.push_str(&record_line(r));
        out.push('\n');
    }
    for i in &e.issues {
        out.push_str(&format!(
            "  - {}: {} could not be read: {} ({})\n",
            safe(&i.source),
            safe(&i.location),
            safe(&i.message),
            i.code.as_str()
        ));
    }
}

fn join_part(e: &Explanation, out: &mut String) {
    out.push_str("\nJoin and mapping:\n");
    let Some(j) = &e.join else {
        out.push_str("  no mapped person: the sources yield nobody for them\n");
        return;
    };
    let others = if j.other_keys.is_empty() {
        "no other source has them".to_owned()
    } else {
        format!("also {}", j.other_keys.join(", "))
    };
    out.push_str(&format!(
        "  one person, key {} ({others}); employment {}: {}\n",
        safe(&j.key),
        j.lifecycle,
        safe(&j.reason)
    ));
    if let Some(at) = &j.leaves_at {
        out.push_str(&format!("  deactivated from {at}\n"));
    }
    for a in &j.attributes {
        let from = if a.from.is_empty() {
            String::new()
        } else {
            format!("  ← {}", safe(&a.from))
        };
        out.push_str(&format!(
            "  {} = {}{from}\n",
            super::data::short_attr(&a.attr),
            a.value.as_deref().map_or_else(|| "∅".to_owned(), safe),
        ));
    }
}

fn workspace_part(e: &Explanation, out: &mut String) {
    out.push_str("\nWorkspace:\n");
    match &e.workspace {
        None => out.push_str("  not in the workspace\n"),
        Some(t) => {
            let role = t
                .role
                .as_deref()
                .map(|r| format!(", role {}", safe(r)))
                .unwrap_or_default();
            let stance = e
                .management
                .as_deref()
                .map(|m| format!("; idbridge: {m}"))
                .unwrap_or_default();
            let state = if t.active { "active" } else { "inactive" };
            out.push_str(&format!("  {}: {state}{role}{stance}\n", safe(&t.scim_id)));
            for (attr, value) in &t.attrs {
                out.push_str(&format!(
                    "  {} = {}\n",
                    super::data::short_attr(attr),
                    safe(value)
                ));
            }
        }
    }
    out.push_str("\nLink:\n");
    match &e.link {
        None => out.push_str("  none: idbridge has not linked them\n"),
        Some(l) => out.push_str(&format!(
            "  {} → {} (last written as {}, {})\n",
            safe(&l.key),
            safe(&l.scim_id),
            safe(&l.user_name),
            if l.active {
                "active"
            } else {
                "deactivated by idbridge"
            }
        )),
    }
}

fn history_part(e: &Explanation, out: &mut String) {
    if e.history.is_empty() {
        return;
    }
    out.push_str("\nLink history (oldest first):\n");
    for h in &e.history {
        let opt = |v: &Option<String>| v.as_deref().map(safe).unwrap_or_else(|| "-".to_owned());
        let mut line = format!(
            "  {} {}{}: {} → {} as {} ({})",
            h.at,
            safe(&h.cause),
            h.run.map(|r| format!(" (run {r})")).unwrap_or_default(),
            safe(&h.key),
            opt(&h.scim_id),
            opt(&h.user_name),
            opt(&h.state)
        );
        let mut was = Vec::new();
        if let Some(k) = &h.previous_key {
            was.push(format!("key {}", safe(k)));
        }
        if h.previous_scim_id.is_some() && h.previous_scim_id != h.scim_id {
            was.push(format!("id {}", opt(&h.previous_scim_id)));
        }
        if h.previous_user_name.is_some() && h.previous_user_name != h.user_name {
            was.push(format!("userName {}", opt(&h.previous_user_name)));
        }
        if !was.is_empty() {
            line.push_str(&format!("; was {}", was.join(", ")));
        }
        out.push_str(&line);
        out.push('\n');
    }
}

fn findings_part(e: &Explanation, out: &mut String) {
    if e.findings.is_empty() {
        return;
    }
    out.push_str("\nFindings:\n");
    for x in &e.findings {
        let severity = match x.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        out.push_str(&format!(
            "  - {severity} {}: {}\n",
            x.code.as_str(),
            safe(&x.message)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::access::tests::{link, person, record, target};
    use super::*;
    use crate::model::Attr;
    use crate::plan::Policy;
    use std::collections::BTreeSet;

    fn plan() -> Plan {
        serde_json::from_value(serde_json::json!({
            "version": 1, "generatedAt": "2026-03-02T09:00:00Z",
            "target": { "kind": "notion", "url": "http://t", "name": "test" },
            "sourceDigest": "", "targetDigest": "",
            "watch": { "scimIds": [], "userNames": [], "groupIds": [], "groupNames": [] },
            "blocked": false, "summary": {}, "operations": [], "findings": []
        }))
        .unwrap()
    }

    #[test]
    fn people_no_mapped_person_stands_for_are_explained_too() {
        let users = [
            target("5", "gone@acme.test", "", None),
            target("6", "guest@acme.test", "", None),
        ];
        let links = [link("hr:E9", "5", "gone@acme.test")];
        let issues = [SourceIssue {
            source: "hr".into(),
            location: "hr.csv line 7".into(),
            code: FindingCode::SourceRowInvalid,
            message: "terminationDate `31/02` is not a date".into(),
            skipped_person: true,
            hints: vec!["E7".into(), "zed@acme.test".into()],
        }];
        let managed: BTreeSet<Attr> = [Attr::UserName].into_iter().collect();
        let policy = Policy::default();
        let mut plan = plan();
        plan.operations = vec![serde_json::from_value(serde_json::json!({
            "op": "deactivate-user", "userName": "gone@acme.test", "scimId": "5",
            "sourceKey": "hr:E9", "reason": "hr: absent from every source (linked as hr:E9)"
        }))
        .unwrap()];
        let facts = Facts {
            ws: Workspace {
                users: &users,
                desired: &[],
                records: &[],
                links: &links,
                managed: &managed,
                policy: &policy,
                journal: &[],
                sso: &[],
            },
            plan: &plan,
            issues: &issues,
            target: "test",
            now: DateTime::UNIX_EPOCH,
        };
        let gone = explain(&facts, "gone@acme.test").unwrap();
        assert_eq!(gone.decision.rule, Rule::Absent);
        assert_eq!(gone.decision.operations, [OpKind::DeactivateUser]);
        assert_eq!(
            explain(&facts, "guest@acme.test").unwrap().decision.rule,
            Rule::Unmanaged
        );
        let zed = explain(&facts, "E7").unwrap();
        assert_eq!(zed.decision.rule, Rule::SourceProblem);
        assert!(
            zed.decision.because.contains("hr.csv line 7"),
            "{:?}",
            zed.decision
        );
        assert!(letter(&zed).contains("could not be read"));
    }

    #[test]
    fn a_typo_gets_a_suggestion_and_a_stranger_none() {
        let users = [target("1", "ada@acme.test", "Lead", None)];
        let desired = [person("hr:E1", "ada@acme.test", "Lead")];
        let records = [record("hr:E1", "ada@acme.test")];
        let links = [link("hr:E1", "1", "ada@acme.test")];
        let managed: BTreeSet<Attr> = [Attr::UserName, Attr::Title].into_iter().collect();
        let policy = Policy::default();
        let plan = plan();
        let facts = Facts {
            ws: Workspace {
                users: &users,
                desired: &desired,
                records: &records,
                links: &links,
                managed: &managed,
                policy: &policy,
                journal: &[],
                sso: &[],
            },
            plan: &plan,
            issues: &[],
            target: "test",
            now: DateTime::UNIX_EPOCH,
        };
        let typo = explain(&facts, "adaa@acme.test").unwrap_err();
        assert_eq!(typo.suggestion.as_deref(), Some("ada@acme.test"));
        assert!(typo.to_string().contains("did you mean ada@acme.test?"));
        assert_eq!(
            explain(&facts, "zed@elsewhere.test")
                .unwrap_err()
                .suggestion,
            None
        );
        let by_id = explain(&facts, "e1").unwrap();
        assert_eq!(by_id.decision.rule, Rule::NoChange);
        assert_eq!(by_id.user_name.as_deref(), Some("ada@acme.test"));
        assert!(letter(&by_id).contains("title = Lead  ← hr: title=Lead (hr.csv line 1)"));
        assert!(names_in(
            "x ada@acme.test, y",
            &UserName::new("ADA@acme.test")
        ));
        assert!(!names_in(
            "x bada@acme.test",
            &UserName::new("ada@acme.test")
        ));
    }
}
