//! `report drift`: where the workspace and idbridge's view of it part ways. Two questions, one
//! row per (user, attribute): does a managed attribute of a managed user differ from what the
//! sources say now (the next sync puts it back), and was it changed in the workspace by hand
//! since idbridge last wrote it (the target's value is not the one the journal says idbridge
//! wrote)? The journal holds every value idbridge wrote (`after` of each done operation), so the
//! second question needs no snapshot of the target. Pure: built from a [`Workspace`].

use super::access::{known, protection, Workspace};
use super::audit::OpEntry;
use super::data::{short_attr, Cell, Column, Field, Report};
use crate::model::{Attr, DesiredUser, Lifecycle, TargetUser};
use chrono::{DateTime, Utc};

/// What kind of drift a row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    /// The target's value is not the one idbridge last wrote: someone changed it in the
    /// workspace.
    ByHand,
    /// The target holds what idbridge last wrote, and the sources changed since.
    SourceChanged,
    /// The target differs from the sources and the journal holds no write of this attribute
    /// (an adopted user, or a journal pruned since).
    Differs,
}

impl DriftKind {
    /// The phrase a report shows.
    pub fn text(self) -> &'static str {
        match self {
            DriftKind::ByHand => "changed in the workspace by hand",
            DriftKind::SourceChanged => "the sources changed",
            DriftKind::Differs => "differs from the sources",
        }
    }
}

/// One attribute of one user that drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftRow {
    /// The target's userName.
    pub user_name: String,
    /// The SCIM id.
    pub scim_id: String,
    /// The person's source key.
    pub source_key: Option<String>,
    /// The attribute's SCIM path (`active` for the account's state).
    pub attr: String,
    /// What the sources say now (`None`: no value, or no source person).
    pub source_value: Option<String>,
    /// What the target holds.
    pub target_value: Option<String>,
    /// What idbridge last wrote, when the journal holds a write of it.
    pub written: Option<String>,
    /// When that write was done.
    pub written_at: Option<DateTime<Utc>>,
    /// The run that did it.
    pub written_by_run: Option<i64>,
    /// The kind of drift.
    pub kind: DriftKind,
    /// Whether the next sync puts the source value back.
    pub next_sync_restores: bool,
    /// The source fact for the source value.
    pub fact: String,
}

/// The last value idbridge wrote to `path` of a user, from that user's journal (oldest first).
/// A create or a re-add writes `active: true` without listing it among its changes.
fn last_written<'a>(ops: &[&'a OpEntry], path: &str) -> Option<(Option<String>, &'a OpEntry)> {
    ops.iter().rev().find_map(|o| {
        let listed = o
            .changes
            .iter()
            .rev()
            .find(|c| c.attr == path)
            .map(|c| (c.after.clone(), *o));
        let adds = ["create-user", "readd-user"].contains(&o.op.as_str());
        listed.or_else(|| (path == "active" && adds).then(|| (Some(bool_text(true)), *o)))
    })
}

fn same(attr: Option<Attr>, a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if attr.is_some_and(Attr::case_insensitive) => {
            a.to_lowercase() == b.to_lowercase()
        }
        (a, b) => a == b,
    }
}

fn bool_text(b: bool) -> String {
    b.to_string()
}

/// One attribute of a user as the sources and the target have it.
struct Compared {
    /// The SCIM path (`active` for the account's state).
    path: String,
    /// The managed attribute (`None` for `active`).
    attr: Option<Attr>,
    source: Option<String>,
    target: Option<String>,
}

/// The attributes to compare for a user: the managed ones, then `active`.
fn values(ws: &Workspace<'_>, person: Option<&DesiredUser>, user: &TargetUser) -> Vec<Compared> {
    let mut out: Vec<_> = ws
        .managed
        .iter()
        .map(|a| Compared {
            path: a.path().to_owned(),
            attr: Some(*a),
            source: person.and_then(|p| p.attrs.get(a).map(str::to_owned)),
            target: user.attrs.get(a).map(str::to_owned),
        })
        .collect();
    let wanted = person.and_then(|p| match p.lifecycle {
        Lifecycle::Active => Some(true),
        Lifecycle::Inactive => Some(false),
        Lifecycle::Pending => None,
    });
    out.push(Compared {
        path: "active".to_owned(),
        attr: None,
        source: wanted.map(bool_text),
        target: Some(bool_text(user.active)),
    });
    out
}

/// The drift of every managed user, by userName then attribute.
pub fn drift_rows(ws: &Workspace<'_>) -> Vec<DriftRow> {
    let mut rows = Vec::new();
    for k in known(ws) {
        // Only users idbridge writes to: a protected or unmanaged user never gets the sources'
        // values, so "drift" would mean nothing.
        if k.link.is_none() || protection(ws.policy, k.user).is_some() {
            continue;
        }
        let ops = &k.journal;
        for Compared {
            path,
            attr,
            source,
            target,
        } in values(ws, k.person, k.user)
        {
            let source_known = k.person.is_some() && (attr.is_some() || source.is_some());
            let differs = source_known && !same(attr, source.as_deref(), target.as_deref());
            let written = last_written(ops, &path);
            let by_hand = written
                .as_ref()
                .is_some_and(|(value, _)| !same(attr, value.as_deref(), target.as_deref()));
            if !differs && !by_hand {
                continue;
            }
            let kind = match (by_hand, &written) {
                (true, _) => DriftKind::ByHand,
                (false, Some(_)) => DriftKind::SourceChanged,
                (false, None) => DriftKind::Differs,
            };
            let fact = k
                .person
                .map(|p| match attr.and_then(|a| p.provenance.get(&a)) {
                    Some(facts) if !facts.is_empty() => crate::model::cite(facts.iter()),
                    _ => p.reason.clone(),
                })
                .unwrap_or_else(|| "no source person any more".to_owned());
            rows.push(DriftRow {
                user_name: k.user.user_name().to_string(),
                scim_id: k.user.id.0.clone(),
                source_key: k
                    .person
                    .map(|p| p.key.to_string())
                    .or_else(|| k.link.map(|l| l.key.to_string())),
                attr: path,
                source_value: source,
                target_value: target,
                written: written.as_ref().and_then(|(v, _)| v.clone()),
                written_at: written.as_ref().map(|(_, o)| o.updated_at),
                written_by_run: written.as_ref().map(|(_, o)| o.run_id),
                kind,
                next_sync_restores: differs,
                fact,
            });
        }
    }
    rows
}

const COLUMNS: [Column; 12] = [
    Column::new("userName", "userName"),
    Column::new("attr", "attribute"),
    Column::new("sourceValue", "sources say"),
    Column::new("targetValue", "workspace has"),
    Column::new("drift", "drift"),
    Column::new("lastWritten", "idbridge wrote"),
    Column::new("lastWrittenAt", "written at"),
    Column::data("run", "run"),
    Column::data("nextSync", "next sync"),
    Column::data("fact", "source fact"),
    Column::data("sourceKey", "sourceKey"),
    Column::data("scimId", "scimId"),
];

/// `report drift`: the rows above as a report.
pub fn report(rows: &[DriftRow], parameters: Vec<Field>, at: DateTime<Utc>) -> Report {
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r.user_name.as_str().into(),
                short_attr(&r.attr).into(),
                r.source_value.clone().into(),
                r.target_value.clone().into(),
                r.kind.text().into(),
                r.written.clone().into(),
                r.written_at.into(),
                r.written_by_run.map_or(Cell::Null, Cell::Int),
                Cell::Text(
                    if r.next_sync_restores {
                        "puts the source value back"
                    } else {
                        "no change"
                    }
                    .to_owned(),
                ),
                r.fact.as_str().into(),
                r.source_key.clone().into(),
                r.scim_id.as_str().into(),
            ]
        })
        .collect();
    let by_hand = rows.iter().filter(|r| r.kind == DriftKind::ByHand).count();
    Report {
        name: "drift",
        title: "Drift between the workspace, the sources and idbridge's last writes".to_owned(),
        generated_at: at,
        parameters,
        facts: vec![
            Field::new("rows", "drifted attributes", Cell::count(rows.len() as u64)),
            Field::new("byHand", "changed by hand", Cell::count(by_hand as u64)),
        ],
        columns: COLUMNS.to_vec(),
        rows: cells,
        empty: "No drift: every managed user holds what the sources say and what idbridge last \
                wrote."
            .to_owned(),
        notes: vec![
            "users and attributes idbridge manages; \"idbridge wrote\": the last write its journal holds"
                .to_owned(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::super::access::tests::{link, person, record, target};
    use super::*;
    use crate::model::Attr;
    use crate::plan::Policy;
    use crate::report::AttrChange;
    use std::collections::BTreeSet;

    fn wrote(id: &str, attr: &str, value: &str, run: i64) -> OpEntry {
        OpEntry {
            run_id: run,
            seq: 1,
            op: "patch-user".into(),
            subject: None,
            scim_id: Some(id.into()),
            source_key: None,
            reason: None,
            changes: vec![AttrChange {
                attr: attr.into(),
                before: None,
                after: Some(value.into()),
            }],
            members: Vec::new(),
            status: "done".into(),
            http_status: None,
            detail: None,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_hand_change_and_a_source_change_are_told_apart() {
        let users = [
            target("1", "ada@acme.test", "Intern", None),
            target("2", "bob@acme.test", "Designer", None),
            target("3", "cy@acme.test", "PM", None),
        ];
        let desired = [
            person("hr:E1", "ada@acme.test", "Lead"),
            person("hr:E2", "bob@acme.test", "Head of Design"),
            person("hr:E3", "cy@acme.test", "PM"),
        ];
        let records = [record("hr:E1", "ada@acme.test")];
        let links = [
            link("hr:E1", "1", "ada@acme.test"),
            link("hr:E2", "2", "bob@acme.test"),
            link("hr:E3", "3", "cy@acme.test"),
        ];
        let journal = [
            wrote("1", "title", "Lead", 1),
            wrote("2", "title", "Designer", 1),
            wrote("3", "title", "PM", 1),
        ];
        let managed: BTreeSet<Attr> = [Attr::UserName, Attr::Title].into_iter().collect();
        let policy = Policy::default();
        let ws = Workspace {
            users: &users,
            desired: &desired,
            records: &records,
            links: &links,
            managed: &managed,
            policy: &policy,
            journal: &journal,
            sso: &[],
        };
        let rows = drift_rows(&ws);
        let kinds: Vec<(&str, &str, DriftKind)> = rows
            .iter()
            .map(|r| (r.user_name.as_str(), r.attr.as_str(), r.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("ada@acme.test", "title", DriftKind::ByHand),
                ("bob@acme.test", "title", DriftKind::SourceChanged),
            ]
        );
        assert_eq!(rows[0].written.as_deref(), Some("Lead"));
        assert_eq!(rows[0].target_value.as_deref(), Some("Intern"));
        assert_eq!(rows[0].fact, "hr: title=Lead (hr.csv line 1)");
    }
}
