//! Rendering of plans for people: pure functions from data to text.
//!
//! May import: `model`, `plan`, comfy-table. Never an edge module.

use crate::plan::{Change, Op, Plan, Severity};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::Value;

fn value_text(value: &Option<Value>) -> String {
    match value {
        None | Some(Value::Null) => "∅".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn short_attr(attr: &str) -> &str {
    attr.rsplit(':').next().unwrap_or(attr)
}

/// For a create or re-add, `userName`, the primary email and the name parts repeat what the row
/// already shows (the userName column and `displayName`), so the table leaves them out.
fn redundant(change: &Change, changes: &[Change]) -> bool {
    let has_display = changes.iter().any(|c| c.attr == "displayName");
    match change.attr.as_str() {
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

/// The plan as a table, its findings and its summary.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.operations.is_empty() {
        out.push_str("No changes: the target already matches the sources.\n");
    } else {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(140)
            .set_header(["#", "operation", "userName", "changes", "reason"]);
        for (i, op) in plan.operations.iter().enumerate() {
            let full = matches!(op, Op::CreateUser(_) | Op::ReaddUser(_));
            table.add_row([
                (i + 1).to_string(),
                op.kind().to_string(),
                op.subject().to_owned(),
                changes_text(op.changes(), full),
                op.reason().to_owned(),
            ]);
        }
        out.push_str(&format!("{table}\n"));
    }
    for f in &plan.findings {
        let tag = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        out.push_str(&format!("{tag} [{}]: {}\n", f.code, f.message));
        for s in f.sources.iter().take(10) {
            out.push_str(&format!("    - {s}\n"));
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
        plan.target.name,
        plan.target.url,
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
