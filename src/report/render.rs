//! Renderers: a [`Report`] as a terminal table, JSON, CSV, Markdown or an HTML page (module
//! `html`, which also needs the page's [`Page`]: where the report was read and the chart's
//! counts). Pure: text in, text out.
//!
//! Every value from the store is untrusted (it came from an HR export, a directory or the
//! target). Each format neutralises it in its own way:
//! - table: control, bidirectional and invisible characters shown as `\u{…}`, cells cut at
//!   [`MAX_CELL_CHARS`] (see [`terminal_safe`]);
//! - CSV: RFC 4180 quoting, and a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
//!   return gets a `'` in front so a spreadsheet never runs it as a formula (OWASP, "CSV
//!   Injection");
//! - Markdown: the same escapes for invisible characters, HTML's `&`, `<`, `>` as entities and
//!   Markdown's emphasis, code, link and table punctuation (backslash, backtick, `*`, `_`, `[`,
//!   `]`, `|`, `~`) backslash-escaped,
//!   so a value can neither close a table cell nor become a link, an image or HTML;
//! - HTML: the same escapes for invisible characters, then `&`, `<`, `>`, `"`, `'` as entities,
//!   under a Content-Security-Policy that allows no script and no fetch (module `html`);
//! - JSON: values whole; JSON escaping is the consumer's safety.

use super::data::{time_text, Cell, Report};
use super::html::{self, Page};
use super::{terminal_safe, MAX_CELL_CHARS};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ColumnConstraint, ContentArrangement, Table};

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for the terminal, fitted to `width`.
    Table,
    /// One JSON document.
    Json,
    /// RFC 4180 CSV: the rows only, one header line.
    Csv,
    /// A Markdown document.
    Md,
    /// One self-contained HTML page with a chart of the changes over time.
    Html,
}

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CSV writer refused a row (a report whose rows and columns disagree: a bug).
    #[error("cannot write the {report} report as CSV: {detail}. This is a bug in idbridge; please report it")]
    Csv {
        /// Which report.
        report: &'static str,
        /// The writer's reason.
        detail: String,
    },
}

/// Render `report` in `format`; `width` is the table's width in columns. An HTML page made here
/// says neither its store nor its chart: [`render_page`] takes them.
pub fn render(report: &Report, format: Format, width: u16) -> Result<String, Error> {
    render_page(report, format, width, &Page::default())
}

/// Render `report` in `format`, with `page` around it when the format is HTML.
pub fn render_page(
    report: &Report,
    format: Format,
    width: u16,
    page: &Page,
) -> Result<String, Error> {
    match format {
        Format::Html => Ok(html::page(report, page)),
        Format::Table => Ok(table(report, width)),
        Format::Json => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        )),
        Format::Csv => csv(report),
        Format::Md => Ok(markdown(report)),
    }
}

/// Parameters and facts with a value (JSON keeps the empty ones as `null`).
pub(super) fn shown_fields(report: &Report) -> impl Iterator<Item = &super::data::Field> {
    report
        .parameters
        .iter()
        .chain(&report.facts)
        .filter(|f| f.value != Cell::Null)
}

fn safe(text: &str) -> String {
    terminal_safe(text, MAX_CELL_CHARS)
}

/// A cell for the terminal: each line of a list or of changes escaped and cut on its own.
fn table_cell(cell: &Cell) -> String {
    match cell {
        Cell::Changes(changes) => changes
            .iter()
            .map(|c| safe(&c.text()))
            .collect::<Vec<_>>()
            .join("\n"),
        Cell::List(items) => items.iter().map(|i| safe(i)).collect::<Vec<_>>().join("\n"),
        Cell::Counts(_) => safe(&cell.text("")).replace(", ", "\n"),
        other => safe(&other.text("")),
    }
}

fn table(report: &Report, width: u16) -> String {
    let mut out = format!("{}\n", safe(&report.title));
    for f in shown_fields(report) {
        out.push_str(&format!(
            "  {}: {}\n",
            f.label,
            table_cell(&f.value).replace('\n', ", ")
        ));
    }
    if report.rows.is_empty() {
        out.push_str(&format!("{}\n", safe(&report.empty)));
    } else {
        let shown: Vec<usize> = (0..report.columns.len())
            .filter(|i| report.columns[*i].in_table)
            .collect();
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width)
            .set_header(shown.iter().map(|i| report.columns[*i].title));
        for row in &report.rows {
            t.add_row(
                shown
                    .iter()
                    .map(|i| row.get(*i).map(table_cell).unwrap_or_default()),
            );
        }
        // Instants, dates and numbers are never wrapped: a time cut in two reads as two values.
        // Text columns take up the rest of the width.
        for (at, i) in shown.iter().enumerate() {
            let atomic = report.rows.iter().all(|row| {
                matches!(
                    row.get(*i),
                    None | Some(
                        Cell::Null | Cell::Int(_) | Cell::Time(_) | Cell::Date(_) | Cell::Millis(_)
                    )
                )
            });
            if let (true, Some(column)) = (atomic, t.column_mut(at)) {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
        out.push_str(&format!("{t}\n"));
    }
    for note in &report.notes {
        out.push_str(&format!(
            "note: {}\n",
            terminal_safe(note, MAX_CELL_CHARS * 4)
        ));
    }
    out.push_str(&format!(
        "{} row(s); generated {}\n",
        report.rows.len(),
        time_text(report.generated_at)
    ));
    out
}

/// A spreadsheet must never run a cell: one that starts with a formula trigger gets a `'`.
pub fn neutralise_formula(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn csv(report: &Report) -> Result<String, Error> {
    let fail = |e: &dyn std::fmt::Display| Error::Csv {
        report: report.name,
        detail: e.to_string(),
    };
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer
        .write_record(report.columns.iter().map(|c| c.title))
        .map_err(|e| fail(&e))?;
    for row in &report.rows {
        writer
            .write_record(row.iter().map(|cell| neutralise_formula(cell.text("; "))))
            .map_err(|e| fail(&e))?;
    }
    let bytes = writer.into_inner().map_err(|e| fail(&e))?;
    String::from_utf8(bytes).map_err(|e| fail(&e))
}

/// Text made inert for Markdown: invisible characters escaped as in the terminal, HTML's
/// specials as entities, Markdown's punctuation backslash-escaped.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in terminal_safe(text, usize::MAX).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn markdown_cell(cell: &Cell) -> String {
    match cell {
        Cell::Changes(changes) => changes
            .iter()
            .map(|c| markdown_text(&c.text()))
            .collect::<Vec<_>>()
            .join("<br>"),
        Cell::List(items) => items
            .iter()
            .map(|i| markdown_text(i))
            .collect::<Vec<_>>()
            .join("<br>"),
        other => markdown_text(&other.text("")),
    }
}

fn markdown(report: &Report) -> String {
    let mut out = format!("# {}\n\n", markdown_text(&report.title));
    out.push_str(&format!(
        "- **Generated**: {}\n",
        time_text(report.generated_at)
    ));
    for f in shown_fields(report) {
        out.push_str(&format!(
            "- **{}**: {}\n",
            markdown_text(f.label),
            markdown_cell(&f.value)
        ));
    }
    out.push('\n');
    if report.rows.is_empty() {
        out.push_str(&format!("{}\n", markdown_text(&report.empty)));
    } else {
        let titles: Vec<String> = report
            .columns
            .iter()
            .map(|c| markdown_text(c.title))
            .collect();
        out.push_str(&format!("| {} |\n", titles.join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(titles.len())));
        for row in &report.rows {
            let cells: Vec<String> = row.iter().map(markdown_cell).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    for note in &report.notes {
        out.push_str(&format!("\n> **Note:** {}\n", markdown_text(note)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::data::{AttrChange, Column, Field};
    use super::*;
    use chrono::{TimeZone, Utc};

    fn report(rows: Vec<Vec<Cell>>) -> Report {
        Report {
            name: "test",
            title: "Test".into(),
            generated_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
            parameters: vec![Field::new("since", "since", "2026-03-01")],
            facts: Vec::new(),
            columns: vec![Column::new("a", "a"), Column::data("b", "b")],
            rows,
            empty: "nothing".into(),
            notes: vec!["a note".into()],
        }
    }

    #[test]
    fn csv_neutralises_formulas_and_quotes_per_rfc_4180() {
        let r = report(vec![
            vec![
                Cell::from("=HYPERLINK(\"http://evil.test\",\"x\")"),
                Cell::from("plain"),
            ],
            vec![Cell::from("+1"), Cell::from("-2")],
            vec![Cell::from("@SUM(A1)"), Cell::from("\tx")],
            vec![Cell::from("a,b"), Cell::from("line\nbreak")],
            vec![Cell::Int(3), Cell::Null],
        ]);
        let text = render(&r, Format::Csv, 80).unwrap();
        assert_eq!(
            text,
            "a,b\r\n\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\",plain\r\n'+1,'-2\r\n'@SUM(A1),'\tx\r\n\"a,b\",\"line\nbreak\"\r\n3,\r\n"
        );
    }

    #[test]
    fn markdown_values_cannot_break_the_table_or_inject_html() {
        let r = report(vec![vec![
            Cell::from("a|b <script>x</script> [l](http://e) \u{1b}"),
            Cell::Changes(vec![AttrChange {
                attr: "title".into(),
                before: Some("*x*".into()),
                after: None,
            }]),
        ]]);
        let text = render(&r, Format::Md, 80).unwrap();
        assert!(text.contains(
            "| a\\|b &lt;script&gt;x&lt;/script&gt; \\[l\\](http://e) \\\\u{1b} | title: \\*x\\* → ∅ |"
        ), "{text}");
        assert!(!text.contains("<script>"));
    }

    #[test]
    fn the_table_hides_data_columns_and_escapes_cells() {
        let r = report(vec![vec![Cell::from("x\u{1b}[2J"), Cell::from("hidden")]]);
        let text = render(&r, Format::Table, 60).unwrap();
        assert!(text.contains("x\\u{1b}[2J"), "{text}");
        assert!(!text.contains("hidden"), "{text}");
        assert!(text.contains("note: a note"), "{text}");
        let empty = render(&report(Vec::new()), Format::Table, 60).unwrap();
        assert!(empty.contains("nothing"), "{empty}");
    }

    #[test]
    fn json_keys_rows_by_column() {
        let r = report(vec![vec![Cell::Int(1), Cell::List(vec!["x".into()])]]);
        let v: serde_json::Value =
            serde_json::from_str(&render(&r, Format::Json, 80).unwrap()).unwrap();
        assert_eq!(v["rows"][0]["a"], 1);
        assert_eq!(v["rows"][0]["b"][0], "x");
        assert_eq!(v["parameters"]["since"], "2026-03-01");
        assert_eq!(v["generatedAt"], "2026-03-02T09:00:00Z");
    }
}
