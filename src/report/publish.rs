//! What publishing to a Notion database shows, pure: the changes as one row per operation (one
//! page per change, keyed by its run and sequence, docs/reports.md, "Publishing to Notion"), and
//! the summary of a publish: what was created, updated, left unchanged, failed, and what was
//! left alone, as a [`Report`] every format renders.

use super::audit::{effective_changes, ChangeFilter, OpEntry};
use super::data::{Cell, Column, Field, Report};
use chrono::{DateTime, Utc};

/// The key of a change's page: its run and its place in the run's plan.
pub fn change_key(run: i64, seq: i64) -> String {
    format!("run {run} op {seq}")
}

/// The JSON key of the column that holds each change's key.
pub const CHANGE_KEY: &str = "change";

const CHANGE_PAGE_COLUMNS: [Column; 10] = [
    Column::new(CHANGE_KEY, "change"),
    Column::new("doneAt", "when"),
    Column::new("op", "operation"),
    Column::new("userName", "userName"),
    Column::new("changes", "changes"),
    Column::new("reason", "reason"),
    Column::new("run", "run"),
    Column::new("seq", "sequence"),
    Column::data("scimId", "scimId"),
    Column::data("sourceKey", "sourceKey"),
];

/// The changes done in a window, one row per operation (every changed attribute before → after
/// in one cell), oldest first: what `report changes --publish notion` writes, one page each.
pub fn change_pages(
    ops: &[OpEntry],
    filter: &ChangeFilter,
    parameters: Vec<Field>,
    at: DateTime<Utc>,
) -> Report {
    let rows = ops
        .iter()
        .filter(|o| filter.keeps(o))
        .map(|o| {
            vec![
                Cell::Text(change_key(o.run_id, o.seq)),
                Cell::Time(o.updated_at),
                o.op.as_str().into(),
                o.subject.clone().into(),
                Cell::Changes(effective_changes(o)),
                o.reason.clone().into(),
                Cell::Int(o.run_id),
                Cell::Int(o.seq),
                o.scim_id.clone().into(),
                o.source_key.clone().into(),
            ]
        })
        .collect();
    Report {
        name: "changes",
        title: "Changes made in the target, one per operation".to_owned(),
        generated_at: at,
        parameters,
        facts: Vec::new(),
        columns: CHANGE_PAGE_COLUMNS.to_vec(),
        rows,
        empty: "No change was made in this window.".to_owned(),
        notes: Vec::new(),
    }
}

/// A publish, as the CLI hands it over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishView {
    /// The report published.
    pub report: String,
    /// The database id.
    pub database: String,
    /// The title property that holds each page's key.
    pub title_property: String,
    /// Keys of pages created.
    pub created: Vec<String>,
    /// Keys of pages updated, with the properties that changed.
    pub updated: Vec<(String, Vec<String>)>,
    /// Pages already as the report says.
    pub unchanged: usize,
    /// Keys that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Pages no row names, left alone.
    pub left_alone: usize,
    /// Keys more than one page holds.
    pub duplicates: Vec<String>,
    /// Columns with no property of their name.
    pub not_published: Vec<String>,
    /// Values cut to fit: (key, property).
    pub cut: Vec<(String, String)>,
    /// Requests, retries, 429s.
    pub requests: [u64; 3],
}

const PUBLISH_COLUMNS: [Column; 3] = [
    Column::new("key", "page"),
    Column::new("action", "action"),
    Column::new("detail", "detail"),
];

/// The summary of a publish: a row per page created, updated or failed (unchanged pages are
/// counted, not listed), the counts as facts, and notes on what was left alone or cut.
pub fn publish_summary(view: &PublishView, at: DateTime<Utc>) -> Report {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for key in &view.created {
        rows.push(vec![key.as_str().into(), "created".into(), Cell::Null]);
    }
    for (key, changed) in &view.updated {
        rows.push(vec![
            key.as_str().into(),
            "updated".into(),
            Cell::List(changed.clone()),
        ]);
    }
    for (key, why) in &view.failed {
        rows.push(vec![
            key.as_str().into(),
            "failed".into(),
            why.as_str().into(),
        ]);
    }
    let count = |n: usize| Cell::count(n as u64);
    let facts = vec![
        Field::new("database", "database", view.database.as_str()),
        Field::new(
            "titleProperty",
            "key property",
            view.title_property.as_str(),
        ),
        Field::new("created", "created", count(view.created.len())),
        Field::new("updated", "updated", count(view.updated.len())),
        Field::new("unchanged", "unchanged", count(view.unchanged)),
        Field::new("failed", "failed", count(view.failed.len())),
        Field::new("leftAlone", "left alone", count(view.left_alone)),
        Field::new(
            "notPublished",
            "columns not published",
            Cell::List(view.not_published.clone()),
        ),
        Field::new("requests", "API requests", Cell::count(view.requests[0])),
        Field::new("retries", "retries", Cell::count(view.requests[1])),
        Field::new("throttled", "429s", Cell::count(view.requests[2])),
    ];
    Report {
        name: "publish",
        title: format!("The {} report published to Notion", view.report),
        generated_at: at,
        parameters: vec![Field::new("report", "report", view.report.as_str())],
        facts,
        columns: PUBLISH_COLUMNS.to_vec(),
        rows,
        empty: "Every page was already as the report says: nothing was written.".to_owned(),
        notes: publish_notes(view),
    }
}

fn publish_notes(view: &PublishView) -> Vec<String> {
    let mut notes = Vec::new();
    if view.left_alone > 0 {
        notes.push(format!(
            "{} page(s) of the database are not in this report and were left alone (idbridge \
             never deletes or archives a page)",
            view.left_alone
        ));
    }
    if !view.not_published.is_empty() {
        notes.push(format!(
            "the database has no property named {}: those columns were not published (add a \
             property of that name to publish one)",
            view.not_published.join(", ")
        ));
    }
    for key in &view.duplicates {
        notes.push(format!(
            "several pages have the key `{key}`: the first was kept up to date, the others were \
             left alone; delete the extra ones in Notion"
        ));
    }
    for (key, property) in &view.cut {
        notes.push(format!(
            "`{property}` of `{key}` was cut to fit Notion's limits (2,000 characters per text \
             piece, 100 pieces); the other report formats hold it whole"
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn op(run: i64, seq: i64, user: &str) -> OpEntry {
        OpEntry {
            run_id: run,
            seq,
            op: "patch-user".into(),
            subject: Some(user.into()),
            scim_id: Some("id-1".into()),
            source_key: Some("hr:E1".into()),
            reason: Some("hr: status=active (hr.csv line 2)".into()),
            changes: vec![super::super::AttrChange {
                attr: "title".into(),
                before: Some("Engineer".into()),
                after: Some("Lead".into()),
            }],
            members: vec![],
            status: "done".into(),
            http_status: None,
            detail: None,
            updated_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn one_row_per_operation_keyed_by_run_and_sequence() {
        let at = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
        let ops = [op(3, 1, "ada@acme.test"), op(3, 2, "bob@acme.test")];
        let only_bob = ChangeFilter {
            user: Some("BOB@acme.test".into()),
            op: None,
        };
        let report = change_pages(&ops, &only_bob, vec![], at);
        assert_eq!(report.rows.len(), 1);
        assert_eq!(report.rows[0][0], Cell::Text("run 3 op 2".into()));
        assert_eq!(report.rows[0][4].text("; "), "title: Engineer → Lead");
    }

    #[test]
    fn the_summary_lists_writes_and_says_what_was_left_alone() {
        let at = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
        let view = PublishView {
            report: "changes".into(),
            created: vec!["run 1 op 1".into()],
            updated: vec![("run 1 op 2".into(), vec!["reason".into()])],
            unchanged: 4,
            left_alone: 2,
            not_published: vec!["scimId".into()],
            ..PublishView::default()
        };
        let report = publish_summary(&view, at);
        assert_eq!(report.rows.len(), 2);
        assert!(report
            .notes
            .iter()
            .any(|n| n.contains("2 page(s)") && n.contains("left alone")));
        assert!(report.notes.iter().any(|n| n.contains("scimId")));
    }
}
