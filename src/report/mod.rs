//! Reports for people: plans rendered as text (this file), and the audit reports over the store:
//! a typed data model ([`data`]), the journal reports ([`audit`]) and scheduled starts and
//! terminations ([`upcoming`]), rendered as a table, JSON, CSV or Markdown ([`render`]). Pure
//! functions from data to text: the CLI reads the store and hands the records over.
//!
//! May import: `model`, `plan`, `mapping` (its date rule), comfy-table, csv, serde_json. Never an
//! edge module.

pub mod audit;
pub mod data;
pub mod render;
pub mod upcoming;

pub use data::{AttrChange, Cell, Column, Field, Report};
pub use render::{render, Format};

use crate::plan::{Change, Op, Plan};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::Value;

/// The longest value a table cell shows, in characters; JSON output keeps values whole.
pub const MAX_CELL_CHARS: usize = 120;

/// Text from sources or the target, made safe for a terminal: control characters (ESC above
/// all), bidirectional overrides and invisible format characters are shown as `\u{…}` escapes,
/// so data can neither drive the terminal nor disguise itself; then cut to `max` characters.
pub fn terminal_safe(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (shown, c) in text.chars().enumerate() {
        if shown >= max {
            out.push('…');
            break;
        }
        let invisible = c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
        if invisible {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn value_text(value: &Option<Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => return "∅".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    terminal_safe(&text, MAX_CELL_CHARS)
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
                terminal_safe(op.subject(), MAX_CELL_CHARS),
                changes_text(op.changes(), full),
                terminal_safe(op.reason(), MAX_CELL_CHARS * 2),
            ]);
        }
        out.push_str(&format!("{table}\n"));
    }
    for f in &plan.findings {
        out.push_str(&format!(
            "{} [{}]: {}\n",
            f.severity,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_drive_the_terminal_or_flood_a_table() {
        assert_eq!(
            terminal_safe("ada\u{1b}[2J\u{202E}gpj.exe", 100),
            "ada\\u{1b}[2J\\u{202e}gpj.exe"
        );
        assert_eq!(terminal_safe("a\u{200B}b\nc", 100), "a\\u{200b}b\\u{a}c");
        let long = "é".repeat(10_000);
        let cut = terminal_safe(&long, 50);
        assert_eq!(cut.chars().count(), 51);
        assert!(cut.ends_with('…'));
    }
}
