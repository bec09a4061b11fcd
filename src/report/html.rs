//! The `html` report format: one self-contained page (no external asset, no script, readable
//! offline and on paper) with a title, when it was made and from which store and target, the
//! parameters and facts, a chart of the changes over time ([`chart`](super::chart)), the report's
//! table and its notes. Pure: the same report and page give the same bytes.
//!
//! Every value from the store is untrusted. Each is shown as text: invisible and control
//! characters escaped as in the terminal ([`terminal_safe`]), then `&`, `<`, `>`, `"` and `'` as
//! entities, so an HR name like `"><img src=x onerror=…>` is text in a cell and never markup. A
//! Content-Security-Policy in the page forbids every fetch, script, plugin, form and frame and
//! allows exactly one stylesheet, the inline one below, by its SHA-256: a value that slipped
//! through as markup could still not run or load anything.

use super::chart::{self, Activity};
use super::data::{time_text, Cell, Report};
use super::render::shown_fields;
use super::terminal_safe;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// What the page shows around the report, read by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The store the report was read from, password masked (`None`: not said).
    pub store: Option<String>,
    /// The target it is about (`None`: every target in the store).
    pub target: Option<String>,
    /// The counts for the chart of changes over time (`None`: not read).
    pub activity: Option<Activity>,
}

/// The page's stylesheet. Its SHA-256 is the only source the page's CSP allows, so it is a
/// constant: the hash is of exactly these bytes.
const STYLE: &str = "
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  font-size: 14px; line-height: 1.4; color: #1a1a1a; background: #ffffff; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 24px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.facts dt { font-weight: 600; color: #444444; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
svg.chart { display: block; width: 100%; max-width: 960px; height: auto; }
ul.legend { list-style: none; padding: 0; margin: 8px 0; display: flex; flex-wrap: wrap; gap: 4px 18px; }
ul.legend .count { color: #555555; }
p.caption, footer { color: #555555; font-size: 12px; }
table.rows { border-collapse: collapse; width: 100%; font-size: 12px; }
table.rows th, table.rows td { border: 1px solid #d0d7de; padding: 4px 6px; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
table.rows td.long { overflow-wrap: anywhere; }
table.rows thead th { background: #eef2f7; overflow-wrap: normal; }
div.scroll { overflow-x: auto; }
table.rows tbody tr:nth-child(even) { background: #f8f9fb; }
table.rows td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.rows td.atom { white-space: nowrap; }
p.empty { font-style: italic; }
aside.note { border-left: 4px solid #d4a72c; background: #fff8e1; padding: 6px 10px; margin: 8px 0; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; font-size: 10pt; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  h2 { break-after: avoid; }
  section.activity { break-inside: avoid; }
  svg.chart { max-width: 100%; }
  div.scroll { overflow: visible; }
  table.rows { font-size: 7pt; }
  table.rows thead { display: table-header-group; }
  table.rows tr { break-inside: avoid; }
}
";

/// The Content-Security-Policy of every page: nothing may be fetched, run, embedded or submitted,
/// and the only stylesheet is [`STYLE`], allowed by its hash (CSP Level 3, "hash-source").
pub fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; \
         form-action 'none'"
    )
}

/// `text` as HTML text or attribute value: `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A value from the store, made inert: invisible characters shown as escapes, then HTML-escaped.
fn value(text: &str) -> String {
    escape(&terminal_safe(text, usize::MAX))
}

/// A cell's content: lines of lists, counts and changes on lines of their own; instants in a
/// `<time>` element.
fn cell_html(cell: &Cell) -> String {
    let lines = |items: Vec<String>| {
        items
            .iter()
            .map(|i| value(i))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    match cell {
        Cell::Changes(changes) => lines(changes.iter().map(|c| c.text()).collect()),
        Cell::List(items) => lines(items.clone()),
        Cell::Counts(counts) => lines(
            counts
                .iter()
                .filter(|(_, n)| *n != 0)
                .map(|(name, n)| format!("{n} {name}"))
                .collect(),
        ),
        Cell::Time(at) => format!("<time datetime=\"{0}\">{0}</time>", time_text(*at)),
        other => value(&other.text("")),
    }
}

/// The class of a column: numbers right-aligned; numbers, instants and dates never wrapped (a
/// time cut in two reads as two values). Text may break anywhere, so a huge value cannot widen
/// the table past the page.
fn column_class(report: &Report, column: usize) -> &'static str {
    let cells = || {
        report
            .rows
            .iter()
            .filter_map(move |row| row.get(column))
            .filter(|c| **c != Cell::Null)
    };
    if cells().next().is_none() {
        ""
    } else if cells().all(|c| matches!(c, Cell::Int(_) | Cell::Millis(_))) {
        " class=\"num\""
    } else if cells().all(|c| matches!(c, Cell::Time(_) | Cell::Date(_))) {
        " class=\"atom\""
    } else {
        ""
    }
}

/// Words up to this long are never broken; a longer one (a digest, a huge value) may break
/// anywhere, so it cannot widen the table past the page while short words keep whole.
const LONG_WORD: usize = 24;

fn has_long_word(cell: &Cell) -> bool {
    cell.text(" ")
        .split_whitespace()
        .any(|word| word.chars().count() > LONG_WORD)
}

/// The report as one HTML page.
pub fn page(report: &Report, page: &Page) -> String {
    let title = value(&report.title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"idbridge\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        content_security_policy()
    );
    out.push_str(&header(report, page, &title));
    out.push_str("<section class=\"activity\">\n<h2>Changes over time</h2>\n");
    match &page.activity {
        Some(activity) => out.push_str(&chart::svg(activity)),
        None => out.push_str(
            "<p class=\"caption\">The journal's activity was not read for this page.</p>\n",
        ),
    }
    out.push_str("</section>\n");
    out.push_str(&rows(report));
    if !report.notes.is_empty() {
        out.push_str("<section class=\"notes\">\n<h2>Notes</h2>\n");
        for note in &report.notes {
            let _ = writeln!(
                out,
                "<aside class=\"note\"><strong>Note:</strong> {}</aside>",
                value(note)
            );
        }
        out.push_str("</section>\n");
    }
    let _ = write!(
        out,
        "<footer>\n<p>{} row(s). Made by idbridge <code>report {}</code> at {}. Values from the \
         sources and the target are shown as text.</p>\n</footer>\n</body>\n</html>\n",
        report.rows.len(),
        escape(report.name),
        time_text(report.generated_at)
    );
    out
}

/// The title and the facts of the page: when, from where, with which parameters.
fn header(report: &Report, page: &Page, title: &str) -> String {
    let generated = time_text(report.generated_at);
    let mut out = format!(
        "<header>\n<h1>{title}</h1>\n<dl class=\"facts\">\n\
         <dt>Generated</dt><dd><time datetime=\"{generated}\">{generated}</time></dd>\n"
    );
    if let Some(store) = &page.store {
        let _ = writeln!(out, "<dt>Store</dt><dd>{}</dd>", value(store));
    }
    let target = page
        .target
        .as_deref()
        .map_or_else(|| "every target in the store".to_owned(), value);
    let _ = writeln!(out, "<dt>Target</dt><dd>{target}</dd>");
    for f in shown_fields(report).filter(|f| f.key != "target") {
        let _ = writeln!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            escape(f.label),
            cell_html(&f.value)
        );
    }
    out.push_str("</dl>\n</header>\n");
    out
}

/// The report's rows as a table, or what it means that there are none.
fn rows(report: &Report) -> String {
    let mut out = format!(
        "<section class=\"report\">\n<h2>{}</h2>\n",
        escape(&format!("{} row(s)", report.rows.len()))
    );
    if report.rows.is_empty() {
        let _ = writeln!(out, "<p class=\"empty\">{}</p>", value(&report.empty));
        out.push_str("</section>\n");
        return out;
    }
    out.push_str("<div class=\"scroll\">\n<table class=\"rows\">\n<thead>\n<tr>");
    for c in &report.columns {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(c.title));
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    let classes: Vec<&str> = (0..report.columns.len())
        .map(|i| column_class(report, i))
        .collect();
    for row in &report.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = match classes.get(i).copied().unwrap_or("") {
                "" if has_long_word(cell) => " class=\"long\"",
                class => class,
            };
            let _ = write!(out, "<td{class}>{}</td>", cell_html(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::data::{AttrChange, Column, Field};
    use super::*;
    use chrono::{TimeZone, Utc};

    fn report(rows: Vec<Vec<Cell>>) -> Report {
        Report {
            name: "changes",
            title: "Changes <since> 2026-03-01".into(),
            generated_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
            parameters: vec![Field::new("since", "since", "2026-03-01")],
            facts: Vec::new(),
            columns: vec![
                Column::new("when", "when"),
                Column::new("n", "n"),
                Column::data("changes", "changes"),
            ],
            rows,
            empty: "nothing <changed>".into(),
            notes: vec!["a \"note\"".into()],
        }
    }

    const HOSTILE: &str = "\"><img src=x onerror=alert(1)><script>alert(2)</script>\u{202E}'";

    #[test]
    fn every_value_is_text_never_markup() {
        let r = report(vec![vec![
            Cell::Time(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()),
            Cell::Int(3),
            Cell::Changes(vec![AttrChange {
                attr: "name.givenName".into(),
                before: None,
                after: Some(HOSTILE.into()),
            }]),
        ]]);
        let html = page(
            &r,
            &Page {
                store: Some(HOSTILE.into()),
                target: Some(HOSTILE.into()),
                activity: None,
            },
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains('\u{202E}'), "{html}");
        assert!(html.contains(
            "givenName: ∅ → &quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;\\u{202e}&#39;"
        ), "{html}");
        assert!(html.contains("<title>Changes &lt;since&gt; 2026-03-01</title>"));
        assert!(html.contains("<td class=\"num\">3</td>"), "{html}");
        assert!(html.contains("<td class=\"atom\"><time datetime=\"2026-03-02T09:00:00Z\">"));
        assert!(html.contains("a &quot;note&quot;"));
    }

    #[test]
    fn the_policy_allows_only_the_inline_stylesheet_by_its_hash() {
        let html = page(&report(Vec::new()), &Page::default());
        let csp = content_security_policy();
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(
            html.split("<style>")
                .nth(1)
                .unwrap()
                .split("</style>")
                .next()
                .unwrap(),
        ));
        assert!(
            csp.contains(&format!("'sha256-{hash}'")),
            "the hash is of the page's style"
        );
        // The policy comes before the stylesheet, or it would not cover it.
        assert!(html.find("Content-Security-Policy").unwrap() < html.find("<style>").unwrap());
        assert!(!html.contains("<script") && !html.contains(" style=") && !html.contains("src="));
        assert!(
            html.contains("<p class=\"empty\">nothing &lt;changed&gt;</p>"),
            "{html}"
        );
        assert!(html.contains("not read for this page"));
        assert!(html.contains("<dt>Target</dt><dd>every target in the store</dd>"));
        assert_eq!(
            html,
            page(&report(Vec::new()), &Page::default()),
            "deterministic"
        );
    }
}
