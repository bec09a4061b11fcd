//! The journal reports: `runs`, `run ID`, `changes` and `prunes`, built from what the store
//! recorded. The CLI reads the store and fills the entry types below; the builders here are pure
//! and only arrange facts into a [`Report`].

use super::data::{short_attr, AttrChange, Cell, Column, Field, Report};
use crate::plan::{Change, ChangeValue, Op, OpKind};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::borrow::Cow;
use strum::IntoEnumIterator;

/// A run as the store recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    /// Its id.
    pub id: i64,
    /// `sync`, `apply`, `demo`.
    pub kind: String,
    /// The target's configured name.
    pub target: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `succeeded`, `failed`, `refused`, `aborted`.
    pub status: String,
    /// The planDigest of the plan applied.
    pub plan_digest: Option<String>,
    /// What started it (`None`: not recorded).
    pub trigger: Option<String>,
    /// The host it ran on.
    pub host: Option<String>,
    /// The OS account it ran as.
    pub os_user: Option<String>,
    /// Operations planned, per kind (the plan's summary).
    pub planned: Vec<(String, i64)>,
    /// The journal's outcome when it ended: done, failed, skipped, unknown.
    pub outcome: Option<[u64; 4]>,
    /// SCIM requests, retries and 429 replies.
    pub requests: Option<[u64; 3]>,
    /// When its journal was pruned.
    pub pruned_at: Option<DateTime<Utc>>,
    /// What went wrong as a whole (an apply error, or how an aborted run was found).
    pub problem: Option<String>,
}

/// A journal entry as the store recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpEntry {
    /// Its run.
    pub run_id: i64,
    /// Its position in the plan.
    pub seq: i64,
    /// The operation kind.
    pub op: String,
    /// The userName (or group displayName).
    pub subject: Option<String>,
    /// The SCIM id.
    pub scim_id: Option<String>,
    /// The source key.
    pub source_key: Option<String>,
    /// The source fact behind it (`None`: journaled before idbridge kept it).
    pub reason: Option<String>,
    /// Attribute changes as planned.
    pub changes: Vec<AttrChange>,
    /// Members, for membership operations.
    pub members: Vec<String>,
    /// `pending`, `done`, `failed`, `skipped`, `unknown`.
    pub status: String,
    /// The target's HTTP status, when it answered with an error.
    pub http_status: Option<u16>,
    /// Why it failed or was skipped.
    pub detail: Option<String>,
    /// When its outcome was recorded.
    pub updated_at: DateTime<Utc>,
}

/// A prune as the store recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneEntry {
    /// Its id.
    pub id: i64,
    /// The target pruned.
    pub target: String,
    /// When.
    pub pruned_at: DateTime<Utc>,
    /// Runs that finished before this were pruned.
    pub cutoff: DateTime<Utc>,
    /// Runs pruned.
    pub runs: u64,
    /// Journal entries deleted.
    pub operations: u64,
    /// Entries kept because a later run still needs them.
    pub kept: u64,
    /// `retention` or `report-prune`.
    pub reason: String,
    /// The host that ran it.
    pub host: Option<String>,
    /// The OS account that ran it.
    pub os_user: Option<String>,
}

/// A run's stored summary (JSON) read for a report: the planned counts per kind, in run order,
/// or what went wrong (an apply error, an aborted run).
pub fn summary_facts(summary_json: Option<&str>) -> (Vec<(String, i64)>, Option<String>) {
    let Some(value) = summary_json.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return (Vec::new(), None);
    };
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return (Vec::new(), Some(error.to_owned()));
    }
    // A held run (a guardrail, a source health gate) says why it wrote nothing.
    if let Some(refused) = value.get("refused").and_then(Value::as_str) {
        return (Vec::new(), Some(refused.to_owned()));
    }
    if value.get("aborted").is_some() {
        return (
            Vec::new(),
            Some("its process died before it finished; a later run marked it aborted".to_owned()),
        );
    }
    let counts = OpKind::iter()
        .filter_map(|k| {
            let name: &str = k.into();
            Some((name.to_owned(), value.get(name)?.as_i64()?))
        })
        .collect();
    (counts, None)
}

/// A journal entry's planned changes (`detail_json`) and members (from `planned_json`).
pub fn planned_parts(
    detail_json: &str,
    planned_json: Option<&str>,
) -> (Vec<AttrChange>, Vec<String>) {
    let text =
        |v: Option<ChangeValue>| v.as_ref().and_then(ChangeValue::shown).map(Cow::into_owned);
    let changes = serde_json::from_str::<Vec<Change>>(detail_json)
        .unwrap_or_default()
        .into_iter()
        .map(|c| AttrChange {
            attr: c.attr.into_owned(),
            before: text(c.before),
            after: text(c.after),
        })
        .collect();
    let members = planned_json
        .and_then(|t| serde_json::from_str::<Op>(t).ok())
        .map(|op| op.members().iter().map(|m| m.to_string()).collect())
        .unwrap_or_default();
    (changes, members)
}

/// An entry's changes, with a membership change shown as one `members` change.
pub(crate) fn effective_changes(op: &OpEntry) -> Vec<AttrChange> {
    let mut changes = op.changes.clone();
    if !op.members.is_empty() {
        let list = Some(op.members.join(", "));
        let removed = op.op == <&str>::from(OpKind::RemoveMembers);
        changes.push(AttrChange {
            attr: "members".to_owned(),
            before: if removed { list.clone() } else { None },
            after: if removed { None } else { list },
        });
    }
    changes
}

fn duration(run: &RunEntry) -> Cell {
    run.finished_at.map_or(Cell::Null, |end| {
        Cell::Millis((end - run.started_at).num_milliseconds())
    })
}

fn outcome(run: &RunEntry, i: usize) -> Cell {
    run.outcome.map_or(Cell::Null, |o| Cell::count(o[i]))
}

fn requests(run: &RunEntry, i: usize) -> Cell {
    run.requests.map_or(Cell::Null, |r| Cell::count(r[i]))
}

const RUN_COLUMNS: [Column; 21] = [
    Column::new("run", "run"),
    Column::new("startedAt", "started"),
    Column::data("finishedAt", "finished"),
    Column::new("durationMs", "took"),
    Column::data("kind", "kind"),
    Column::new("trigger", "trigger"),
    Column::data("target", "target"),
    Column::new("result", "result"),
    Column::new("planned", "operations"),
    Column::new("done", "done"),
    Column::new("failed", "failed"),
    Column::data("skipped", "skipped"),
    Column::data("unknown", "unknown"),
    Column::new("scimRequests", "requests"),
    Column::new("retries", "retries"),
    Column::new("throttled", "429s"),
    Column::data("osUser", "user"),
    Column::data("host", "host"),
    Column::data("planDigest", "planDigest"),
    Column::data("prunedAt", "journal pruned"),
    Column::data("problem", "problem"),
];

/// `report runs`: when each run happened, what started it, how long it took, what it planned
/// and did, how many SCIM requests it made, and how it ended.
pub fn runs(entries: &[RunEntry], parameters: Vec<Field>, at: DateTime<Utc>) -> Report {
    let rows = entries
        .iter()
        .map(|r| {
            vec![
                Cell::Int(r.id),
                Cell::Time(r.started_at),
                r.finished_at.into(),
                duration(r),
                r.kind.as_str().into(),
                r.trigger.clone().into(),
                r.target.as_str().into(),
                r.status.as_str().into(),
                Cell::Counts(r.planned.clone()),
                outcome(r, 0),
                outcome(r, 1),
                outcome(r, 2),
                outcome(r, 3),
                requests(r, 0),
                requests(r, 1),
                requests(r, 2),
                r.os_user.clone().into(),
                r.host.clone().into(),
                r.plan_digest.clone().into(),
                r.pruned_at.into(),
                r.problem.clone().into(),
            ]
        })
        .collect();
    let mut notes = Vec::new();
    if entries.iter().any(|r| r.trigger.is_none()) {
        notes.push(
            "runs recorded before idbridge kept the trigger, host, user and SCIM request counts \
             show them empty"
                .to_owned(),
        );
    }
    Report {
        name: "runs",
        title: "Runs".to_owned(),
        generated_at: at,
        parameters,
        facts: Vec::new(),
        columns: RUN_COLUMNS.to_vec(),
        rows,
        empty: "No run in this window.".to_owned(),
        notes,
    }
}

const OP_COLUMNS: [Column; 10] = [
    Column::new("seq", "#"),
    Column::new("op", "operation"),
    Column::new("userName", "userName"),
    Column::new("status", "status"),
    Column::new("scimId", "scimId"),
    Column::new("changes", "changes"),
    Column::new("reason", "reason"),
    Column::data("httpStatus", "http"),
    Column::new("detail", "error / skip reason"),
    Column::data("sourceKey", "sourceKey"),
];

/// `report run ID`: the run's facts, then every operation with its changes before → after, its
/// status, SCIM id, and error.
pub fn run(entry: &RunEntry, ops: &[OpEntry], at: DateTime<Utc>) -> Report {
    let r = entry;
    let facts = vec![
        Field::new("run", "run", Cell::Int(r.id)),
        Field::new("kind", "kind", r.kind.as_str()),
        Field::new("trigger", "trigger", r.trigger.clone()),
        Field::new("target", "target", r.target.as_str()),
        Field::new("startedAt", "started", r.started_at),
        Field::new("finishedAt", "finished", r.finished_at),
        Field::new("durationMs", "took", duration(r)),
        Field::new("result", "result", r.status.as_str()),
        Field::new("planned", "operations", Cell::Counts(r.planned.clone())),
        Field::new("done", "done", outcome(r, 0)),
        Field::new("failed", "failed", outcome(r, 1)),
        Field::new("skipped", "skipped", outcome(r, 2)),
        Field::new("unknown", "unknown", outcome(r, 3)),
        Field::new("planDigest", "planDigest", r.plan_digest.clone()),
        Field::new("osUser", "user", r.os_user.clone()),
        Field::new("host", "host", r.host.clone()),
        Field::new("scimRequests", "SCIM requests", requests(r, 0)),
        Field::new("retries", "retries", requests(r, 1)),
        Field::new("throttled", "429 replies", requests(r, 2)),
        Field::new("prunedAt", "journal pruned", r.pruned_at),
        Field::new("problem", "problem", r.problem.clone()),
    ];
    let rows = ops
        .iter()
        .map(|o| {
            vec![
                Cell::Int(o.seq + 1),
                o.op.as_str().into(),
                o.subject.clone().into(),
                o.status.as_str().into(),
                o.scim_id.clone().into(),
                Cell::Changes(effective_changes(o)),
                o.reason.clone().into(),
                o.http_status
                    .map_or(Cell::Null, |s| Cell::Int(i64::from(s))),
                o.detail.clone().into(),
                o.source_key.clone().into(),
            ]
        })
        .collect();
    let mut notes = Vec::new();
    if let Some(pruned) = r.pruned_at {
        notes.push(format!(
            "the journal of this run was pruned on {}: only the run's counts remain, and any \
             create whose outcome was never confirmed",
            super::data::time_text(pruned)
        ));
    }
    notes.extend(missing_reasons(ops));
    Report {
        name: "run",
        title: format!("Run {} ({} on {})", r.id, r.kind, r.target),
        generated_at: at,
        parameters: Vec::new(),
        facts,
        columns: OP_COLUMNS.to_vec(),
        rows,
        empty: "This run has no journal entries.".to_owned(),
        notes,
    }
}

fn missing_reasons(ops: &[OpEntry]) -> Option<String> {
    let n = ops.iter().filter(|o| o.reason.is_none()).count();
    (n > 0).then(|| {
        format!(
            "{n} journal entr{} predate the recording of reasons; their reason is empty",
            if n == 1 { "y" } else { "ies" }
        )
    })
}

/// What `report changes` keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Only this person (userName, case-insensitive), including the groups they joined or left.
    pub user: Option<String>,
    /// Only this kind.
    pub op: Option<OpKind>,
}

impl ChangeFilter {
    pub(crate) fn keeps(&self, op: &OpEntry) -> bool {
        let kind = self.op.is_none_or(|k| <&str>::from(k) == op.op);
        let user = self.user.as_deref().is_none_or(|u| {
            op.subject
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(u))
                || op.members.iter().any(|m| m.eq_ignore_ascii_case(u))
        });
        kind && user
    }
}

const CHANGE_COLUMNS: [Column; 10] = [
    Column::new("doneAt", "when"),
    Column::new("op", "operation"),
    Column::new("userName", "userName"),
    Column::new("attr", "attribute"),
    Column::new("before", "before"),
    Column::new("after", "after"),
    Column::new("reason", "reason"),
    Column::new("run", "run"),
    Column::data("scimId", "scimId"),
    Column::data("sourceKey", "sourceKey"),
];

/// `report changes`: who was created, changed, deactivated, re-added or moved between groups,
/// when, and which source fact caused it: one row per changed attribute of each operation done.
/// `prunes` are the prunes recorded, so a window the journal no longer covers says so.
pub fn changes(
    ops: &[OpEntry],
    filter: &ChangeFilter,
    parameters: Vec<Field>,
    prunes: &[PruneEntry],
    since: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Report {
    let kept: Vec<&OpEntry> = ops.iter().filter(|o| filter.keeps(o)).collect();
    let mut rows = Vec::new();
    for o in &kept {
        let row = |change: Option<&AttrChange>| {
            vec![
                Cell::Time(o.updated_at),
                o.op.as_str().into(),
                o.subject.clone().into(),
                change.map(|c| short_attr(&c.attr)).into(),
                change.and_then(|c| c.before.clone()).into(),
                change.and_then(|c| c.after.clone()).into(),
                o.reason.clone().into(),
                Cell::Int(o.run_id),
                o.scim_id.clone().into(),
                o.source_key.clone().into(),
            ]
        };
        let changes = effective_changes(o);
        if changes.is_empty() {
            rows.push(row(None));
        }
        rows.extend(changes.iter().map(|c| row(Some(c))));
    }
    let mut notes: Vec<String> = prunes
        .iter()
        .filter(|p| p.cutoff > since)
        .map(|p| {
            format!(
                "the journal of runs of target {} that finished before {} was pruned on {} \
                 ({}): changes made before then are not shown",
                p.target,
                super::data::time_text(p.cutoff),
                super::data::time_text(p.pruned_at),
                p.reason
            )
        })
        .collect();
    let owned: Vec<OpEntry> = kept.into_iter().cloned().collect();
    notes.extend(missing_reasons(&owned));
    Report {
        name: "changes",
        title: "Changes made in the target".to_owned(),
        generated_at: at,
        parameters,
        facts: Vec::new(),
        columns: CHANGE_COLUMNS.to_vec(),
        rows,
        empty: "No change was made in this window.".to_owned(),
        notes,
    }
}

/// `report prunes` (and what `report prune` did): when journal entries were deleted, which,
/// why, and by whom.
pub fn prunes(name: &'static str, entries: &[PruneEntry], at: DateTime<Utc>) -> Report {
    let columns = vec![
        Column::new("prune", "prune"),
        Column::new("prunedAt", "when"),
        Column::new("target", "target"),
        Column::new("cutoff", "runs finished before"),
        Column::new("runs", "runs"),
        Column::new("operations", "entries deleted"),
        Column::new("kept", "entries kept"),
        Column::new("reason", "reason"),
        Column::new("osUser", "user"),
        Column::data("host", "host"),
    ];
    let rows = entries
        .iter()
        .map(|p| {
            vec![
                Cell::Int(p.id),
                Cell::Time(p.pruned_at),
                p.target.as_str().into(),
                Cell::Time(p.cutoff),
                Cell::count(p.runs),
                Cell::count(p.operations),
                Cell::count(p.kept),
                p.reason.as_str().into(),
                p.os_user.clone().into(),
                p.host.clone().into(),
            ]
        })
        .collect();
    Report {
        name,
        title: if name == "prune" {
            "Journal pruned".to_owned()
        } else {
            "Journal prunes".to_owned()
        },
        generated_at: at,
        parameters: Vec::new(),
        facts: Vec::new(),
        columns,
        rows,
        empty: if name == "prune" {
            "Nothing to prune: no run finished before that date, or its journal was pruned already."
                .to_owned()
        } else {
            "The journal was never pruned.".to_owned()
        },
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
    }

    fn op(kind: &str, subject: &str, members: &[&str]) -> OpEntry {
        OpEntry {
            run_id: 1,
            seq: 0,
            op: kind.into(),
            subject: Some(subject.into()),
            scim_id: None,
            source_key: None,
            reason: Some("hr: status=active (hr.csv line 2)".into()),
            changes: Vec::new(),
            members: members.iter().map(|m| m.to_string()).collect(),
            status: "done".into(),
            http_status: None,
            detail: None,
            updated_at: at(9),
        }
    }

    #[test]
    fn summaries_give_counts_in_run_order_or_the_problem() {
        let (counts, problem) =
            summary_facts(Some(r#"{"patch-user":1,"create-user":2,"link-user":0}"#));
        assert_eq!(
            counts,
            vec![
                ("link-user".to_owned(), 0),
                ("create-user".to_owned(), 2),
                ("patch-user".to_owned(), 1)
            ]
        );
        assert_eq!(problem, None);
        let (_, problem) = summary_facts(Some(r#"{"error":"journal down"}"#));
        assert_eq!(problem.as_deref(), Some("journal down"));
        assert!(summary_facts(Some(r#"{"aborted":{}}"#)).1.is_some());
        let held = r#"{"refused":"held by a source health gate; nothing was applied","summary":{"create-user":0}}"#;
        assert_eq!(
            summary_facts(Some(held)).1.as_deref(),
            Some("held by a source health gate; nothing was applied")
        );
        assert_eq!(summary_facts(None), (Vec::new(), None));
    }

    #[test]
    fn the_user_filter_finds_people_and_the_groups_they_joined() {
        let ops = [
            op("create-user", "Ada@acme.test", &[]),
            op("create-user", "bob@acme.test", &[]),
            op("add-members", "Eng", &["ada@acme.test", "bob@acme.test"]),
        ];
        let filter = ChangeFilter {
            user: Some("ada@ACME.test".into()),
            op: None,
        };
        let report = changes(&ops, &filter, Vec::new(), &[], at(0), at(10));
        let who: Vec<String> = report.rows.iter().map(|r| r[2].text("")).collect();
        assert_eq!(who, ["Ada@acme.test", "Eng"]);
        assert_eq!(report.rows[1][3].text(""), "members");
        assert_eq!(report.rows[1][5].text(""), "ada@acme.test, bob@acme.test");
        let only = ChangeFilter {
            user: None,
            op: Some(OpKind::AddMembers),
        };
        assert_eq!(
            changes(&ops, &only, Vec::new(), &[], at(0), at(10))
                .rows
                .len(),
            1
        );
    }

    #[test]
    fn a_pruned_window_says_so() {
        let prune = PruneEntry {
            id: 1,
            target: "t".into(),
            pruned_at: at(8),
            cutoff: at(5),
            runs: 2,
            operations: 9,
            kept: 0,
            reason: "retention".into(),
            host: None,
            os_user: None,
        };
        let report = changes(
            &[],
            &ChangeFilter::default(),
            Vec::new(),
            std::slice::from_ref(&prune),
            at(1),
            at(10),
        );
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert!(report.notes[0].contains("pruned"));
        let later = changes(
            &[],
            &ChangeFilter::default(),
            Vec::new(),
            &[prune],
            at(6),
            at(10),
        );
        assert!(later.notes.is_empty());
    }
}
