//! The HR CSV reader: header-mapped columns, UTF-8 with or without BOM, quoted fields.

use super::{Error, SourceRead};
use crate::config::HrCsvSettings;
use crate::model::{attr, Employment, SourceIssue, SourceKey, SourceRecord, StatusKind};
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap};

/// Parse the CSV bytes of source `settings`; `label` names the file in locations (`hr.csv line 4`).
pub fn read_csv(settings: &HrCsvSettings, bytes: &[u8], label: &str) -> Result<SourceRead, Error> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(settings.delimiter)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let header_error = |reason: String| Error::Header {
        source_name: settings.name.clone(),
        path: label.to_owned(),
        reason,
    };
    let headers = reader
        .byte_headers()
        .map_err(|e| header_error(e.to_string()))?
        .clone();
    let headers: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8(h.to_vec()).map(|s| s.trim().to_owned()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            header_error("the header is not valid UTF-8; save the file as UTF-8".to_owned())
        })?;
    let index: HashMap<&str, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let cols = &settings.columns;
    let required = |column: &str, key: &str| {
        index
            .get(column)
            .copied()
            .ok_or_else(|| Error::MissingColumn {
                source_name: settings.name.clone(),
                path: label.to_owned(),
                column: column.to_owned(),
                key: key.to_owned(),
            })
    };
    let id_col = required(&cols.employee_id, "employee_id")?;
    let email_col = required(&cols.email, "email")?;
    let optional = |column: &str| index.get(column).copied();
    let profile_cols = [
        (attr::GIVEN_NAME, optional(&cols.given_name)),
        (attr::FAMILY_NAME, optional(&cols.family_name)),
        (attr::TITLE, optional(&cols.title)),
        (attr::DEPARTMENT, optional(&cols.department)),
        (attr::MANAGER, optional(&cols.manager_email)),
    ];
    let status_col = optional(&cols.status);
    let start_col = optional(&cols.start_date);
    let end_col = optional(&cols.termination_date);

    let mut out = SourceRead {
        source: settings.name.clone(),
        ..SourceRead::default()
    };
    out.fields = [attr::EMPLOYEE_ID, attr::EMAIL]
        .into_iter()
        .chain(
            profile_cols
                .iter()
                .filter(|(_, col)| col.is_some())
                .map(|(name, _)| *name),
        )
        .map(str::to_owned)
        .collect();
    let issue = |location: String, message: String, hints: Vec<String>| SourceIssue {
        source: settings.name.clone(),
        location,
        code: "source-row-invalid".to_owned(),
        message,
        hints,
        skipped_person: true,
    };
    let mut record = ::csv::ByteRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken quote can swallow the rest of the file: report it and stop rather than guess.
                let line = e.position().map_or(line, |p| p.line());
                out.issues.push(issue(
                    format!("{label} line {line}"),
                    format!("unreadable CSV: {e}"),
                    Vec::new(),
                ));
                break;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        let location = format!("{label} line {line}");
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let fields: Option<Vec<&str>> =
            record.iter().map(|f| std::str::from_utf8(f).ok()).collect();
        let Some(fields) = fields else {
            out.issues.push(issue(
                location,
                "row is not valid UTF-8; save the file as UTF-8".to_owned(),
                Vec::new(),
            ));
            continue;
        };
        let cell = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let id = cell(Some(id_col));
        let email = cell(Some(email_col));
        let hints: Vec<String> = id
            .iter()
            .chain(email.iter())
            .map(|s| s.to_string())
            .collect();
        if fields.len() != headers.len() {
            out.issues.push(issue(
                location,
                format!(
                    "row has {} fields but the header has {}; fix the quoting or the separators",
                    fields.len(),
                    headers.len()
                ),
                hints,
            ));
            continue;
        }
        match parse_row(settings, &cell, id, email, status_col, start_col, end_col) {
            Ok(employment) => {
                let mut attrs = BTreeMap::new();
                attrs.insert(
                    attr::EMPLOYEE_ID.to_owned(),
                    id.unwrap_or_default().to_owned(),
                );
                attrs.insert(attr::EMAIL.to_owned(), email.unwrap_or_default().to_owned());
                for (name, col) in profile_cols {
                    if let Some(value) = cell(col) {
                        attrs.insert(name.to_owned(), value.to_owned());
                    }
                }
                out.records.push(SourceRecord {
                    key: SourceKey::new(&settings.name, id.unwrap_or_default()),
                    location,
                    attrs,
                    employment: Some(employment),
                });
            }
            Err(message) => out.issues.push(issue(location, message, hints)),
        }
    }
    drop_duplicates(&mut out);
    Ok(out)
}

fn parse_row<'a>(
    settings: &HrCsvSettings,
    cell: &dyn Fn(Option<usize>) -> Option<&'a str>,
    id: Option<&str>,
    email: Option<&str>,
    status_col: Option<usize>,
    start_col: Option<usize>,
    end_col: Option<usize>,
) -> Result<Employment, String> {
    let cols = &settings.columns;
    if id.is_none() {
        return Err(format!(
            "`{}` is empty; every row needs a stable employee id",
            cols.employee_id
        ));
    }
    match email {
        None => {
            return Err(format!(
                "`{}` is empty; every row needs a work email",
                cols.email
            ))
        }
        Some(e) if !looks_like_email(e) => {
            return Err(format!(
                "`{}` value `{e}` is not an email address",
                cols.email
            ))
        }
        Some(_) => {}
    }
    let (status, kind) = match status_col {
        None => (None, StatusKind::Active),
        Some(col) => match cell(Some(col)) {
            None => {
                return Err(format!(
                    "`{}` is empty; give every row a status",
                    cols.status
                ))
            }
            Some(raw) => match settings.status_map.get(&raw.to_lowercase()) {
                Some(kind) => (Some(raw.to_owned()), *kind),
                None => {
                    let known: Vec<&str> = settings.status_map.keys().map(String::as_str).collect();
                    return Err(format!(
                        "unknown status `{raw}`; known: {}; add it to sources.status_map",
                        known.join(", ")
                    ));
                }
            },
        },
    };
    let date = |col: Option<usize>, name: &str| -> Result<Option<NaiveDate>, String> {
        match cell(col) {
            None => Ok(None),
            Some(text) => NaiveDate::parse_from_str(text, &settings.date_format)
                .map(Some)
                .map_err(|_| {
                    format!(
                        "`{name}` value `{text}` is not a date in the format `{}`",
                        settings.date_format
                    )
                }),
        }
    };
    let start = date(start_col, &cols.start_date)?;
    let end = date(end_col, &cols.termination_date)?;
    Ok(Employment {
        status,
        kind,
        start,
        end,
        timezone: settings.timezone,
    })
}

/// A deliberately loose check: one `@`, something on both sides, no whitespace.
fn looks_like_email(text: &str) -> bool {
    let mut parts = text.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None)
        if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'))
        && !text.chars().any(char::is_whitespace)
}

/// Two rows for one employee id, or two ids with one email, are ambiguous: both rows are
/// reported and skipped (their ids and emails protect the person from deactivation).
fn drop_duplicates(read: &mut SourceRead) {
    let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_email: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in read.records.iter().enumerate() {
        by_id.entry(r.key.id.clone()).or_default().push(i);
        if let Some(email) = r.attrs.get(attr::EMAIL) {
            by_email.entry(email.to_lowercase()).or_default().push(i);
        }
    }
    let mut bad: BTreeMap<usize, String> = BTreeMap::new();
    for (what, groups) in [("employee id", &by_id), ("email", &by_email)] {
        for (value, rows) in groups.iter().filter(|(_, rows)| rows.len() > 1) {
            let places: Vec<&str> = rows
                .iter()
                .map(|&i| read.records[i].location.as_str())
                .collect();
            for &i in rows {
                bad.entry(i).or_insert_with(|| {
                    format!(
                        "{what} `{value}` appears on several rows ({}); keep one row per person",
                        places.join(", ")
                    )
                });
            }
        }
    }
    for (i, message) in bad.iter().rev() {
        let r = read.records.remove(*i);
        let hints = [Some(r.key.id.clone()), r.attrs.get(attr::EMAIL).cloned()]
            .into_iter()
            .flatten()
            .collect();
        read.issues.push(SourceIssue {
            source: read.source.clone(),
            location: r.location,
            code: "source-row-invalid".to_owned(),
            message: message.clone(),
            hints,
            skipped_person: true,
        });
    }
    read.issues.sort_by_key(|i| natural_location(&i.location));
}

fn natural_location(location: &str) -> (String, u64) {
    match location.rsplit_once(" line ") {
        Some((file, line)) => (file.to_owned(), line.parse().unwrap_or(0)),
        None => (location.to_owned(), 0),
    }
}

#[cfg(test)]
mod tests;
