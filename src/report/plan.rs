//! What `plan`, `sync` and `apply` print for people: the plan as a table with its findings and
//! summary, and the error findings alone (for stderr, when stdout carries something else).

use super::{terminal_safe, MAX_CELL_CHARS};
use crate::plan::{Change, ChangeValue, Op, OpKind, Plan, Severity};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

fn value_text(value: &Option<ChangeValue>) -> String {
    match value.as_ref().and_then(ChangeValue::shown) {
        None => "∅".to_owned(),
        Some(text) => terminal_safe(&text, MAX_CELL_CHARS),
    }
}

fn short_attr(attr: &str) -> &str {
    attr.rsplit(':').next().unwrap_or(attr)
}

/// For a create or re-add, `userName`, the primary email and the name parts repeat what the row
/// already shows (the userName column and `displayName`), so the table leaves them out.
fn redundant(change: &Change, changes: &[Change]) -> bool {
    let has_display = changes.iter().any(|c| c.attr == "displayName");
    match change.attr.as_ref() {
        "userName" | "emails" => true,
        "name.givenName" | "name.familyName" => has_display,
        _ => false,
    }
}

fn changes_text(changes: &[Change], full: bool) -> String {
    changes
        .iter()
        .filter(|c| !(full && redundant(c, changes)))
        .map(|c| {
            if full {
                format!("{}={}", short_attr(&c.attr), value_text(&c.after))
            } else {
                format!(
                    "{}: {} → {}",
                    short_attr(&c.attr),
                    value_text(&c.before),
                    value_text(&c.after)
                )
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rows a table of operations holds before the next one starts: each is laid out on its own, so
/// a plan of 100,000 operations never becomes one table in memory.
const TABLE_ROWS: usize = 500;

/// How many operations a terminal is shown before the rest is summed up.
pub const TERMINAL_ROWS: usize = 1000;

/// The plan as a table, its findings and its summary.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    write_plan_text(plan, None, |part| out.push_str(part));
    out
}

/// The plan as text, handed to `emit` a part at a time: the operations in tables of at most
/// [`TABLE_ROWS`] rows, then the findings and the summary. With `rows`, only the first that many
/// operations are listed, followed by a line saying how many more there are and where to see
/// them.
pub fn write_plan_text(plan: &Plan, rows: Option<usize>, mut emit: impl FnMut(&str)) {
    if plan.operations.is_empty() {
        emit("No changes: the target already matches the sources.\n");
    }
    // Past the page, removals are still listed: an admin asked to confirm must see everyone
    // the run deactivates and every member and group it removes (they sort last, so a page of
    // patches would otherwise hide them all).
    let listed = plan
        .operations
        .iter()
        .enumerate()
        .filter(|(i, op)| rows.is_none_or(|r| *i < r) || removes(op));
    let mut shown = 0;
    let mut table: Option<Table> = None;
    for (i, op) in listed {
        shown += 1;
        let t = table.get_or_insert_with(|| {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(140)
                .set_header(["#", "operation", "userName", "changes", "reason"]);
            t
        });
        let full = matches!(op, Op::CreateUser(_) | Op::ReaddUser(_));
        t.add_row([
            (i + 1).to_string(),
            op.kind().to_string(),
            terminal_safe(op.subject(), MAX_CELL_CHARS),
            changes_text(op.changes(), full),
            terminal_safe(op.reason(), MAX_CELL_CHARS * 2),
        ]);
        if t.row_count() == TABLE_ROWS {
            emit(&format!("{t}\n"));
            table = None;
        }
    }
    if let Some(t) = table {
        emit(&format!("{t}\n"));
    }
    if shown < plan.operations.len() {
        emit(&format!(
            "… and {} more operations, not shown here, none of them a removal (every deactivation, \
             member removal and group deletion is listed above); `--format json` lists every one, as \
             does this output piped or redirected to a file\n",
            plan.operations.len() - shown
        ));
    }
    emit(&findings_and_summary(plan));
}

/// Whether `op` takes someone or something out of the workspace.
fn removes(op: &Op) -> bool {
    matches!(
        op.kind(),
        OpKind::DeactivateUser | OpKind::RemoveMembers | OpKind::DeleteGroup
    )
}

/// The plan's findings (ten sources each at most), its summary line and its digest.
fn findings_and_summary(plan: &Plan) -> String {
    let mut out = String::new();
    for f in &plan.findings {
        let tag = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        out.push_str(&format!(
            "{tag} [{}]: {}\n",
            f.code,
            terminal_safe(&f.message, MAX_CELL_CHARS * 8)
        ));
        for s in f.sources.iter().take(10) {
            out.push_str(&format!("    - {}\n", terminal_safe(s, MAX_CELL_CHARS * 2)));
        }
        if f.sources.len() > 10 {
            out.push_str(&format!("    … and {} more\n", f.sources.len() - 10));
        }
    }
    let summary: Vec<String> = plan
        .summary_in_order()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    out.push_str(&format!(
        "Plan for {} ({}): {}{}\n",
        terminal_safe(&plan.target.name, MAX_CELL_CHARS),
        terminal_safe(&plan.target.url, MAX_CELL_CHARS * 2),
        if summary.is_empty() {
            "nothing to do".to_owned()
        } else {
            summary.join(", ")
        },
        if plan.blocked {
            " — BLOCKED by a guardrail"
        } else {
            ""
        }
    ));
    if let Some(digest) = &plan.plan_digest {
        out.push_str(&format!("planDigest: {digest}\n"));
    }
    out
}

/// The plan's error findings, one line each (`error [code]: message`).
pub fn errors_text(plan: &Plan) -> String {
    let mut out = String::new();
    for f in plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        out.push_str(&format!(
            "error [{}]: {}\n",
            f.code,
            terminal_safe(&f.message, MAX_CELL_CHARS * 8)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Finding, FindingCode, TargetRef, Watch, PLAN_VERSION};

    fn plan(findings: Vec<Finding>) -> Plan {
        Plan {
            version: PLAN_VERSION,
            generated_at: "2026-03-02T09:00:00Z".to_owned(),
            target: TargetRef {
                kind: "notion".to_owned(),
                url: "https://api.notion.com/scim/v2".to_owned(),
                name: "acme".to_owned(),
            },
            source_digest: String::new(),
            target_digest: String::new(),
            plan_digest: None,
            watch: Watch::default(),
            blocked: false,
            summary: Default::default(),
            operations: Vec::new(),
            findings,
            gates: Vec::new(),
            absence: Default::default(),
        }
    }

    fn deactivations(n: usize) -> Plan {
        let mut p = plan(Vec::new());
        p.operations = (0..n)
            .map(|i| {
                Op::DeactivateUser(crate::plan::DeactivateUser {
                    user_name: crate::model::UserName::new(format!("p{i:05}@x.io")),
                    scim_id: crate::model::ScimId(format!("u{i}")),
                    source_key: crate::model::SourceKey::new("hr", format!("E{i}")),
                    reason: "hr: status=terminated".to_owned(),
                    changes: Vec::new(),
                })
            })
            .collect();
        p
    }

    /// A large plan is laid out in tables of [`TABLE_ROWS`], every row there, in order, once; a
    /// terminal sees the first rows and how many more there are.
    #[test]
    fn a_large_plan_is_written_in_parts_and_a_terminal_sees_a_page() {
        let p = deactivations(TABLE_ROWS * 2 + 7);
        let mut parts = Vec::new();
        write_plan_text(&p, None, |part| parts.push(part.to_owned()));
        // Three tables, then findings and summary.
        assert_eq!(parts.len(), 4);
        let whole = parts.concat();
        assert_eq!(whole, plan_text(&p));
        let mut at = 0;
        for i in 0..p.operations.len() {
            let name = format!("p{i:05}@x.io");
            let found = whole[at..]
                .find(&name)
                .unwrap_or_else(|| panic!("{name} missing or out of order"));
            at += found + name.len();
            assert_eq!(whole.matches(&name).count(), 1);
        }
        assert!(!whole.contains("more operations"));

        // A terminal page: the first rows, then every removal however far down, then the rest
        // counted. Here: 30 links, then 1,007 deactivations; a page of 10.
        let mut mixed = deactivations(TABLE_ROWS * 2 + 7);
        let links: Vec<Op> = (0..30)
            .map(|i| {
                Op::LinkUser(crate::plan::LinkUser {
                    user_name: crate::model::UserName::new(format!("l{i:05}@x.io")),
                    scim_id: crate::model::ScimId(format!("v{i}")),
                    source_key: crate::model::SourceKey::new("hr", format!("L{i}")),
                    reason: "hr: joined".to_owned(),
                    origin: Default::default(),
                    previous_key: None,
                })
            })
            .collect();
        mixed.operations.splice(0..0, links);
        let mut page = String::new();
        write_plan_text(&mixed, Some(10), |part| page.push_str(part));
        assert!(page.contains("l00009@x.io") && !page.contains("l00010@x.io"));
        for i in 0..(TABLE_ROWS * 2 + 7) {
            assert!(
                page.contains(&format!("p{i:05}@x.io")),
                "deactivation {i} hidden"
            );
        }
        assert!(page.contains("… and 20 more operations, not shown here, none of them a removal"));
        assert!(page.contains("Plan for acme"));
        let mut small = String::new();
        write_plan_text(&deactivations(3), Some(10), |part| small.push_str(part));
        assert_eq!(small, plan_text(&deactivations(3)));
    }

    #[test]
    fn errors_text_lists_the_errors_only_and_escapes_them() {
        let p = plan(vec![
            Finding::new(
                Severity::Error,
                FindingCode::LinkConflict,
                "ada\u{1b}[2J is linked elsewhere",
                Vec::new(),
            ),
            Finding::new(
                Severity::Warning,
                FindingCode::SourceRowInvalid,
                "bad row",
                Vec::new(),
            ),
        ]);
        assert_eq!(
            errors_text(&p),
            "error [link-conflict]: ada\\u{1b}[2J is linked elsewhere\n"
        );
        assert_eq!(errors_text(&plan(Vec::new())), "");
        assert!(plan_text(&p).starts_with("No changes: the target already matches the sources.\n"));
        assert!(plan_text(&p).contains("warning [source-row-invalid]: bad row\n"));
    }
}
