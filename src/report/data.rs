//! The report data model: what a report says, as typed values, apart from how it is rendered
//! (module `render`). A report is a title, the parameters it was made with, a few facts, columns
//! and rows of [`Cell`]s, and notes; every renderer (table, JSON, CSV, Markdown, and later HTML
//! or a Notion database) reads the same [`Report`].

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// One value of a report, typed so that each format can show it in its own way (a count stays a
/// number in JSON, a list stays a list, changes stay `{attr, before, after}` objects).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value.
    Null,
    /// Text, from the store, the sources or the target: untrusted, escaped by each renderer.
    Text(String),
    /// A count or an id.
    Int(i64),
    /// An instant.
    Time(DateTime<Utc>),
    /// A calendar day (HR dates).
    Date(NaiveDate),
    /// A duration in milliseconds.
    Millis(i64),
    /// Counts by name, in the order given (zeros are left out of text).
    Counts(Vec<(String, i64)>),
    /// Several values.
    List(Vec<String>),
    /// Attribute changes, before → after.
    Changes(Vec<AttrChange>),
}

/// One changed attribute: `attr` is the SCIM path; `None` means absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrChange {
    /// SCIM PATCH path.
    pub attr: String,
    /// The value before.
    pub before: Option<String>,
    /// The value after.
    pub after: Option<String>,
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::Text(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::Text(text.to_owned())
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Null, Into::into)
    }
}

impl From<DateTime<Utc>> for Cell {
    fn from(at: DateTime<Utc>) -> Self {
        Cell::Time(at)
    }
}

impl Cell {
    /// A count (saturating: counts never reach `i64::MAX`).
    pub fn count(n: u64) -> Cell {
        Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// The cell as one piece of plain text; `sep` joins the lines of lists and changes. Text is
    /// returned as is: escaping is the renderer's job.
    pub fn text(&self, sep: &str) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Text(text) => text.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Time(at) => time_text(*at),
            Cell::Date(day) => day.format("%Y-%m-%d").to_string(),
            Cell::Millis(ms) => duration_text(*ms),
            Cell::Counts(counts) => counts
                .iter()
                .filter(|(_, n)| *n != 0)
                .map(|(name, n)| format!("{n} {name}"))
                .collect::<Vec<_>>()
                .join(", "),
            Cell::List(items) => items.join(", "),
            Cell::Changes(changes) => changes
                .iter()
                .map(AttrChange::text)
                .collect::<Vec<_>>()
                .join(sep),
        }
    }

    /// The cell as JSON: numbers stay numbers, lists arrays, changes objects.
    pub fn json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(n) | Cell::Millis(n) => json!(n),
            Cell::Counts(counts) => Value::Object(
                counts
                    .iter()
                    .map(|(name, n)| (name.clone(), json!(n)))
                    .collect::<Map<_, _>>(),
            ),
            Cell::List(items) => json!(items),
            Cell::Changes(changes) => Value::Array(
                changes
                    .iter()
                    .map(|c| json!({ "attr": c.attr, "before": c.before, "after": c.after }))
                    .collect(),
            ),
            Cell::Text(_) | Cell::Time(_) | Cell::Date(_) => Value::String(self.text("")),
        }
    }
}

impl AttrChange {
    /// `title: Engineer → Lead`, with the enterprise URN left out of the name and `∅` for absent.
    pub fn text(&self) -> String {
        let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "∅".to_owned());
        format!(
            "{}: {} → {}",
            short_attr(&self.attr),
            value(&self.before),
            value(&self.after)
        )
    }
}

/// The last segment of a SCIM path (`…:enterprise:2.0:User:department` → `department`).
pub fn short_attr(attr: &str) -> &str {
    attr.rsplit(':').next().unwrap_or(attr)
}

/// Instants in reports: RFC 3339, UTC, whole seconds.
pub fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `850ms`, `12.3s`, `4m 05s`, `2h 03m`.
pub fn duration_text(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1_000;
    if secs < 60 {
        return format!("{}.{}s", secs, (ms % 1_000) / 100);
    }
    if secs < 3_600 {
        return format!("{}m {:02}s", secs / 60, secs % 60);
    }
    format!("{}h {:02}m", secs / 3_600, (secs % 3_600) / 60)
}

/// A column: `key` names it in JSON (camelCase, stable), `title` in tables, CSV and Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// JSON key.
    pub key: &'static str,
    /// Header.
    pub title: &'static str,
    /// Whether the terminal table shows it (every other format shows every column).
    pub in_table: bool,
}

impl Column {
    /// A column every format shows.
    pub const fn new(key: &'static str, title: &'static str) -> Self {
        Self {
            key,
            title,
            in_table: true,
        }
    }

    /// A column the terminal table leaves out, to fit (JSON, CSV and Markdown keep it).
    pub const fn data(key: &'static str, title: &'static str) -> Self {
        Self {
            key,
            title,
            in_table: false,
        }
    }
}

/// A named value outside the rows: a parameter, or a fact about the whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// JSON key.
    pub key: &'static str,
    /// Label.
    pub label: &'static str,
    /// Value.
    pub value: Cell,
}

impl Field {
    /// A field.
    pub fn new(key: &'static str, label: &'static str, value: impl Into<Cell>) -> Self {
        Self {
            key,
            label,
            value: value.into(),
        }
    }
}

/// A report: one audit question answered from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Which report (`runs`, `run`, `changes`, `upcoming`, `prunes`, `prune`).
    pub name: &'static str,
    /// Its title.
    pub title: String,
    /// When it was made (the injected clock).
    pub generated_at: DateTime<Utc>,
    /// The parameters it was made with (filters, window).
    pub parameters: Vec<Field>,
    /// Facts about the whole report (for `run ID`: the run).
    pub facts: Vec<Field>,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows, one cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// What it means that there are no rows.
    pub empty: String,
    /// Caveats a reader must not miss (a pruned journal, facts not recorded).
    pub notes: Vec<String>,
}

impl Report {
    /// The report as one JSON document (the `--format json` output).
    pub fn to_json(&self) -> Value {
        let fields = |fields: &[Field]| -> Value {
            Value::Object(
                fields
                    .iter()
                    .map(|f| (f.key.to_owned(), f.value.json()))
                    .collect(),
            )
        };
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                Value::Object(
                    self.columns
                        .iter()
                        .zip(row)
                        .map(|(c, cell)| (c.key.to_owned(), cell.json()))
                        .collect(),
                )
            })
            .collect();
        let columns: Vec<Value> = self
            .columns
            .iter()
            .map(|c| json!({ "key": c.key, "title": c.title }))
            .collect();
        json!({
            "report": self.name,
            "title": self.title,
            "generatedAt": time_text(self.generated_at),
            "parameters": fields(&self.parameters),
            "facts": fields(&self.facts),
            "columns": columns,
            "rows": rows,
            "notes": self.notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_their_type_in_json_and_read_well_as_text() {
        let counts = Cell::Counts(vec![("create-user".into(), 2), ("patch-user".into(), 0)]);
        assert_eq!(counts.text(""), "2 create-user");
        assert_eq!(counts.json(), json!({ "create-user": 2, "patch-user": 0 }));
        let changes = Cell::Changes(vec![AttrChange {
            attr: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".into(),
            before: None,
            after: Some("Eng".into()),
        }]);
        assert_eq!(changes.text("; "), "department: ∅ → Eng");
        assert_eq!(changes.json()[0]["before"], Value::Null);
        assert_eq!(Cell::Int(3).json(), json!(3));
        assert_eq!(Cell::Null.text(""), "");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration_text(0), "0ms");
        assert_eq!(duration_text(12_345), "12.3s");
        assert_eq!(duration_text(245_000), "4m 05s");
        assert_eq!(duration_text(7_380_000), "2h 03m");
        assert_eq!(duration_text(-5), "0ms");
    }
}
