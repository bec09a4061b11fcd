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
//!
//! Every read is bounded: only a regular file is opened (a pipe blocks, a device never ends), it
//! is streamed (`csv::rows`) and read no further than `max_file_bytes`, the header is held to 1024
//! columns and 64 KiB, and a row to its header's fields times `max_field_bytes` bytes; a longer
//! row is parsed to its end without being kept, and is unidentified.

use super::row::{self, bad_row, RowRules};
use super::{Error, SourceRead};
use crate::config::HrCsvSettings;
use rows::{Limits, Row, Rows, Stop};
use std::collections::HashMap;
use std::io::Read;

mod rows;

/// The header line: far more columns and bytes than any HR export has, and a bound all the same.
const HEADER_LIMITS: Limits = Limits {
    bytes: 64 * 1024,
    fields: 1024,
};

/// Read the CSV file of source `settings`, streamed, at most `max_file_bytes` of it.
pub fn read_csv_file(settings: &HrCsvSettings) -> Result<SourceRead, Error> {
    let path = &settings.path;
    let shown = path.display().to_string();
    let read_error = |e: std::io::Error| Error::Read {
        source_name: settings.name.clone(),
        path: shown.clone(),
        reason: e.to_string(),
    };
    // A pipe or a device would block or never end (`/dev/zero`), and a directory has no rows:
    // only a regular file is an export. Checked before opening, since opening a FIFO blocks.
    let not_a_file = |meta: &std::fs::Metadata| Error::NotAFile {
        source_name: settings.name.clone(),
        path: shown.clone(),
        kind: file_kind(meta),
    };
    let meta = std::fs::metadata(path).map_err(read_error)?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    let file = std::fs::File::open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    read_stream(settings, file, &label, &shown)
}

fn file_kind(meta: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe".to_owned();
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device".to_owned();
        }
        if t.is_socket() {
            return "a socket".to_owned();
        }
    }
    if meta.is_dir() {
        "a directory".to_owned()
    } else {
        "not a regular file".to_owned()
    }
}

/// Parse the CSV bytes of source `settings`; `label` names the file in locations (`hr.csv line 4`).
pub fn read_csv(settings: &HrCsvSettings, bytes: &[u8], label: &str) -> Result<SourceRead, Error> {
    read_stream(settings, bytes, label, label)
}

/// Parse a CSV stream; `label` names it in locations, `path` in errors.
fn read_stream(
    settings: &HrCsvSettings,
    input: impl Read,
    label: &str,
    path: &str,
) -> Result<SourceRead, Error> {
    let stopped = |stop: Stop| stop_error(settings, path, stop);
    let mut rows = Rows::new(input, settings.delimiter, settings.max_file_bytes);
    let headers = headers(&mut rows, settings, label, path)?;
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
    let limits = shape.limits();
    while let Some((raw, span)) = rows.next(limits).map_err(stopped)? {
        let fields: Vec<&[u8]> = raw.fields().into_iter().map(<[u8]>::trim_ascii).collect();
        if matches!(raw, Row::Fields { .. }) && fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        let location = span.location(label);
        if let Some(problem) = shape.problem(&raw, &fields) {
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
            fields.iter().map(|f| std::str::from_utf8(f).ok()).collect();
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

/// The error for a stream that stopped before its end.
fn stop_error(settings: &HrCsvSettings, path: &str, stop: Stop) -> Error {
    match stop {
        Stop::Io(e) => Error::Read {
            source_name: settings.name.clone(),
            path: path.to_owned(),
            reason: e.to_string(),
        },
        Stop::TooLarge => Error::TooLarge {
            source_name: settings.name.clone(),
            path: path.to_owned(),
            limit: settings.max_file_bytes,
        },
    }
}

/// The header names, trimmed (none for an empty file).
fn headers<R: Read>(
    rows: &mut Rows<R>,
    settings: &HrCsvSettings,
    label: &str,
    path: &str,
) -> Result<Vec<String>, Error> {
    let header_error = |reason: String| Error::Header {
        source_name: settings.name.clone(),
        path: label.to_owned(),
        reason,
    };
    let next = rows
        .next(HEADER_LIMITS)
        .map_err(|stop| stop_error(settings, path, stop))?;
    let Some((raw, _)) = next else {
        return Ok(Vec::new());
    };
    if let Row::Oversize { fields, bytes } = raw {
        return Err(header_error(format!(
            "it has {fields} columns and {bytes} bytes, over the {} columns and {} bytes a header may have; \
             is this the export idbridge should read?",
            HEADER_LIMITS.fields, HEADER_LIMITS.bytes
        )));
    }
    raw.fields()
        .into_iter()
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

/// What a trustworthy row looks like.
struct Shape<'a> {
    headers: &'a [String],
    read_columns: &'a [usize],
    settings: &'a HrCsvSettings,
}

impl Shape<'_> {
    /// What a data row may hold: the header's fields, each within `max_field_bytes`. A row over
    /// that cannot pass [`Shape::problem`], so it is not kept in memory either.
    fn limits(&self) -> Limits {
        let fields = self.headers.len().max(1);
        Limits {
            bytes: fields.saturating_mul(self.settings.max_field_bytes),
            fields,
        }
    }

    /// Why the record cannot be trusted to be one person's row, if it cannot. `fields` are the
    /// record's fields, trimmed.
    fn problem(&self, raw: &Row, fields: &[&[u8]]) -> Option<String> {
        let delimiter = self.settings.delimiter;
        let count = match raw {
            Row::Fields { .. } => fields.len(),
            Row::Oversize { fields, .. } => *fields,
        };
        if count != self.headers.len() {
            return Some(format!(
                "the row has {count} fields but the header has {}",
                self.headers.len()
            ));
        }
        if let Row::Oversize { bytes, .. } = raw {
            return Some(format!(
                "the row's fields hold {bytes} bytes, over the {} a row of {} fields may hold \
                 ({} x max_field_bytes = {})",
                self.limits().bytes,
                count,
                count,
                self.settings.max_field_bytes
            ));
        }
        for (i, field) in fields.iter().enumerate() {
            // Named only when something is wrong: this runs for every field of every row.
            let name = || format!("`{}` (column {})", self.headers[i], i + 1);
            if field.len() > self.settings.max_field_bytes {
                return Some(format!(
                    "field {} is {} bytes, over max_field_bytes = {}",
                    name(),
                    field.len(),
                    self.settings.max_field_bytes
                ));
            }
            let breaks = field.iter().filter(|&&b| b == b'\n').count();
            if breaks == 0 {
                continue;
            }
            if breaks + 1 > self.settings.max_field_lines {
                return Some(format!(
                    "field {} spans {} lines, over max_field_lines = {}",
                    name(),
                    breaks + 1,
                    self.settings.max_field_lines
                ));
            }
            if self.read_columns.contains(&i) {
                return Some(format!(
                    "field {} holds a line break, which no id, email, name, title, status or date has",
                    name()
                ));
            }
            let row_like = self.headers.len().saturating_sub(1).max(1);
            if field
                .split(|&b| b == b'\n')
                .skip(1)
                .any(|l| l.iter().filter(|&&b| b == delimiter).count() >= row_like)
            {
                return Some(format!(
                    "field {} holds a line with as many separators as a whole row",
                    name()
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
