//! The HR CSV reader: header-mapped columns, UTF-8 with or without BOM, quoted fields (RFC 4180,
//! line breaks inside quotes included).
//!
//! The danger in a CSV is a stray quote: the parser then folds every following line into one
//! field until the next quote, and those people silently vanish from the export. So a row is
//! only trusted when its shape is plausible: the header's field count, every field within
//! `max_field_bytes` and `max_field_lines`, no line break in a column idbridge reads, and no
//! embedded line that looks like a whole row. A row that fails is reported with every physical
//! line it covers and names nobody (it could hold anyone), which holds every absence-based
//! deactivation of the run.

use super::row::{self, bad_row, RowRules};
use super::{Error, SourceRead};
use crate::config::HrCsvSettings;
use std::collections::HashMap;

/// Parse the CSV bytes of source `settings`; `label` names the file in locations (`hr.csv line 4`).
pub fn read_csv(settings: &HrCsvSettings, bytes: &[u8], label: &str) -> Result<SourceRead, Error> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(settings.delimiter)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let headers = headers(&mut reader, settings, label)?;
    let index = role_index(&headers, settings, label)?;
    let cols = &settings.columns;
    let rules = RowRules {
        source: &settings.name,
        columns: cols,
        status_map: &settings.status_map,
        timezone: settings.timezone,
        date_format: &settings.date_format,
    };
    let has = |column: &str| index.contains_key(column);
    let mut out = SourceRead {
        source: settings.name.clone(),
        fields: row::fields(&rules, &has),
        ..SourceRead::default()
    };
    let read_columns: Vec<usize> = index.values().copied().collect();
    let shape = Shape {
        headers: &headers,
        read_columns: &read_columns,
        settings,
    };
    let mut record = ::csv::ByteRecord::new();
    loop {
        let before = reader.position().clone();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // Nothing after an unreadable spot can be trusted: report it as naming nobody.
                let line = e.position().map_or(before.line(), |p| p.line());
                let message = format!("unreadable CSV from this line on: {e}");
                out.issues.push(bad_row(
                    &settings.name,
                    format!("{label} line {line}"),
                    message,
                    Vec::new(),
                ));
                break;
            }
        }
        let start = record.position().cloned().unwrap_or(before);
        let span = Span::of(bytes, &start, reader.position().byte());
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let location = span.location(label);
        if let Some(problem) = shape.problem(&record) {
            let message = format!(
                "{problem}; the row covers {} and may hold other people's rows (a stray `\"` swallows every line up to \
                 the next one), so it names nobody and nobody is deactivated for being absent until it is fixed",
                span.lines(label)
            );
            out.issues
                .push(bad_row(&settings.name, location, message, Vec::new()));
            continue;
        }
        let fields: Option<Vec<&str>> =
            record.iter().map(|f| std::str::from_utf8(f).ok()).collect();
        let Some(fields) = fields else {
            let message = "row is not valid UTF-8; save the file as UTF-8".to_owned();
            out.issues
                .push(bad_row(&settings.name, location, message, Vec::new()));
            continue;
        };
        let get = |column: &str| {
            index
                .get(column)
                .and_then(|i| fields.get(*i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        match row::record(&rules, &get, &has, location) {
            Ok(r) => out.records.push(r),
            Err(issue) => out.issues.push(*issue),
        }
    }
    row::drop_duplicates(&mut out);
    Ok(out)
}

/// The header names, trimmed.
fn headers(
    reader: &mut ::csv::Reader<&[u8]>,
    settings: &HrCsvSettings,
    label: &str,
) -> Result<Vec<String>, Error> {
    let header_error = |reason: String| Error::Header {
        source_name: settings.name.clone(),
        path: label.to_owned(),
        reason,
    };
    let raw = reader
        .byte_headers()
        .map_err(|e| header_error(e.to_string()))?
        .clone();
    raw.iter()
        .map(|h| String::from_utf8(h.to_vec()).map(|s| s.trim().to_owned()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            header_error("the header is not valid UTF-8; save the file as UTF-8".to_owned())
        })
}

/// How header names compare: without case and with runs of blanks as one space, so `Email` and
/// ` email ` are the same column to a reader of the file, and to idbridge.
fn header_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Configured column name -> field index, for every role the header has. Two header columns for
/// one role are refused: which of them holds the email is a guess, and a wrong guess provisions
/// the wrong person.
fn role_index(
    headers: &[String],
    settings: &HrCsvSettings,
    label: &str,
) -> Result<HashMap<String, usize>, Error> {
    let cols = &settings.columns;
    let roles = [
        (&cols.employee_id, "employee_id"),
        (&cols.email, "email"),
        (&cols.given_name, "given_name"),
        (&cols.family_name, "family_name"),
        (&cols.title, "title"),
        (&cols.department, "department"),
        (&cols.manager_email, "manager_email"),
        (&cols.status, "status"),
        (&cols.start_date, "start_date"),
        (&cols.termination_date, "termination_date"),
    ];
    let mut index = HashMap::new();
    for (column, key) in roles {
        let want = header_key(column);
        let found: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| header_key(h) == want)
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [] => {}
            [i] => {
                index.insert(column.clone(), *i);
            }
            many => {
                let columns: Vec<String> = many
                    .iter()
                    .map(|&i| format!("`{}` (column {})", headers[i], i + 1))
                    .collect();
                return Err(Error::AmbiguousHeader {
                    source_name: settings.name.clone(),
                    path: label.to_owned(),
                    column: column.clone(),
                    key: key.to_owned(),
                    columns: columns.join(", "),
                });
            }
        }
    }
    for (column, key) in [(&cols.employee_id, "employee_id"), (&cols.email, "email")] {
        if !index.contains_key(column.as_str()) {
            return Err(Error::MissingColumn {
                source_name: settings.name.clone(),
                path: label.to_owned(),
                column: column.clone(),
                key: key.to_owned(),
            });
        }
    }
    Ok(index)
}

/// The physical lines one record covers (a quoted field may hold line breaks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first: u64,
    last: u64,
}

impl Span {
    /// The span of the record the csv crate places at `start` and whose terminator ends before
    /// `end`. The crate's position is where it began parsing, which is before any blank lines it
    /// skipped and, in a CRLF file, on the `\n` that ended the previous line: those line ends
    /// are counted here so the first line is the one the record's text is on.
    fn of(bytes: &[u8], start: &::csv::Position, end: u64) -> Span {
        let from = usize::try_from(start.byte()).unwrap_or(bytes.len());
        let to = usize::try_from(end).unwrap_or(bytes.len());
        let raw = bytes.get(from..to.max(from)).unwrap_or_default();
        let lead = raw
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        let first = start.line() + raw[..lead].iter().filter(|&&b| b == b'\n').count() as u64;
        let raw = &raw[lead..];
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let breaks = raw.iter().filter(|&&b| b == b'\n').count() as u64;
        Span {
            first,
            last: first + breaks,
        }
    }

    /// `hr.csv line 4`, or `hr.csv lines 4-9` for a record over several lines.
    fn location(&self, label: &str) -> String {
        if self.first == self.last {
            format!("{label} line {}", self.first)
        } else {
            format!("{label} lines {}-{}", self.first, self.last)
        }
    }

    /// For messages: `line 4` or `lines 4-9 (6 lines)`.
    fn lines(&self, label: &str) -> String {
        if self.first == self.last {
            format!("{label} line {}", self.first)
        } else {
            format!(
                "{label} lines {}-{} ({} lines)",
                self.first,
                self.last,
                self.last - self.first + 1
            )
        }
    }
}

/// What a trustworthy row looks like.
struct Shape<'a> {
    headers: &'a [String],
    read_columns: &'a [usize],
    settings: &'a HrCsvSettings,
}

impl Shape<'_> {
    /// Why the record cannot be trusted to be one person's row, if it cannot.
    fn problem(&self, record: &::csv::ByteRecord) -> Option<String> {
        let delimiter = self.settings.delimiter;
        if record.len() != self.headers.len() {
            return Some(format!(
                "the row has {} fields but the header has {}",
                record.len(),
                self.headers.len()
            ));
        }
        for (i, field) in record.iter().enumerate() {
            let name = format!("`{}` (column {})", self.headers[i], i + 1);
            if field.len() > self.settings.max_field_bytes {
                return Some(format!(
                    "field {name} is {} bytes, over max_field_bytes = {}",
                    field.len(),
                    self.settings.max_field_bytes
                ));
            }
            let lines: Vec<&[u8]> = field.split(|&b| b == b'\n').collect();
            if lines.len() > self.settings.max_field_lines {
                return Some(format!(
                    "field {name} spans {} lines, over max_field_lines = {}",
                    lines.len(),
                    self.settings.max_field_lines
                ));
            }
            if lines.len() > 1 && self.read_columns.contains(&i) {
                return Some(format!(
                    "field {name} holds a line break, which no id, email, name, title, status or date has"
                ));
            }
            let row_like = self.headers.len().saturating_sub(1).max(1);
            if lines
                .iter()
                .skip(1)
                .any(|l| l.iter().filter(|&&b| b == delimiter).count() >= row_like)
            {
                return Some(format!(
                    "field {name} holds a line with as many separators as a whole row"
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
