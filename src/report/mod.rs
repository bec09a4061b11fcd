//! Every table and text document idbridge shows people, rendered by pure functions from data to
//! text; the CLI reads, runs and prints, and hands the records over. What commands print:
//! plans and their error findings ([`plan`]), what a run did ([`outcome`]), SAML check reports
//! ([`saml`]), `check-config` lines ([`check`]) and the demo's workspace ([`workspace`]). The
//! audit reports over the store: a typed data model ([`data`]), the journal reports ([`audit`])
//! and scheduled starts and terminations ([`upcoming`]), rendered as a table, JSON, CSV,
//! Markdown ([`render`]) or one HTML page ([`html`]) with a chart of the changes over time
//! ([`chart`]); what publishing to a Notion database shows ([`publish`]). Whatever came from a source, the target or a SAML document goes
//! through [`terminal_safe`] before it is shown.
//!
//! May import: `model`, `plan`, `mapping` (its date rule), `saml` (its report types),
//! comfy-table, csv, serde_json, sha2 and base64 (the HTML page's CSP hash). Never an edge module: records of `apply`, `store` and the
//! emulator arrive as this module's own view types.

pub mod access;
pub mod audit;
pub mod chart;
pub mod check;
pub mod data;
pub mod drift;
pub mod explain;
pub mod html;
pub mod outcome;
pub mod plan;
pub mod publish;
pub mod render;
pub mod saml;
pub mod sso;
pub mod upcoming;
pub mod workspace;

pub use check::{check_text, safe_lines};
pub use data::{AttrChange, Cell, Column, Field, Report};
pub use outcome::{outcome_text, OpLine, OpStatus, OutcomeView};
pub use plan::{errors_text, plan_text, write_plan_text, TERMINAL_ROWS};
pub use render::{render, render_page, Format};
pub use workspace::{workspace_table, Member};

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
