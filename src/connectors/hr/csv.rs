//! The HR CSV reader: header-mapped columns, UTF-8 with or without BOM, quoted fields.

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
    let mut record = ::csv::ByteRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken quote can swallow the rest of the file: report it and stop rather than guess.
                let line = e.position().map_or(line, |p| p.line());
                let message = format!("unreadable CSV: {e}");
                out.issues.push(bad_row(
                    &settings.name,
                    format!("{label} line {line}"),
                    message,
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
        if fields.len() != headers.len() {
            let hints: Vec<String> = [get(&cols.employee_id), get(&cols.email)]
                .into_iter()
                .flatten()
                .collect();
            let message = format!(
                "row has {} fields but the header has {}; fix the quoting or the separators",
                fields.len(),
                headers.len()
            );
            out.issues
                .push(bad_row(&settings.name, location, message, hints));
            continue;
        }
        match row::record(&rules, &get, &has, location) {
            Ok(r) => out.records.push(r),
            Err(issue) => out.issues.push(*issue),
        }
    }
    row::drop_duplicates(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests;
