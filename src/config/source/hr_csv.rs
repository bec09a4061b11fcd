//! `kind = "hr-csv"`: an HR export file, with the bounds that keep one bad file from taking
//! memory or hiding rows.

use super::{date_format, default_status_map, Columns, Common, SourceSettings};
use crate::config::raw::{RawColumns, RawHrCsv};
use crate::config::resolve::Resolver;
use crate::config::ConfigError;
use crate::model::StatusKind;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Resolved HR CSV source.
#[derive(Debug, Clone)]
pub struct HrCsvSettings {
    /// Source name.
    pub name: String,
    /// Absolute path of the CSV file.
    pub path: PathBuf,
    /// Column names.
    pub columns: Columns,
    /// Lowercased HR status -> class.
    pub status_map: BTreeMap<String, StatusKind>,
    /// Time zone of dates.
    pub timezone: Tz,
    /// strftime format of dates.
    pub date_format: String,
    /// Field delimiter.
    pub delimiter: u8,
    /// Largest trusted field, in bytes: a longer one makes its row unidentified.
    pub max_field_bytes: usize,
    /// Most lines one quoted field may span before its row is unidentified.
    pub max_field_lines: usize,
    /// Largest file read, in bytes: a larger one fails the read (nothing of it is used).
    pub max_file_bytes: u64,
    /// Join attribute (canonical name), default `email`.
    pub join_attr: String,
}

/// Default `max_field_bytes`: far above any cell idbridge reads (a long note fits), and a bound on
/// the memory one field may take.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 8 * 1024;
/// Default `max_field_lines`: a postal address (street, second line, city, country) fits; a
/// stray quote that swallowed several rows does not.
pub const DEFAULT_MAX_FIELD_LINES: usize = 4;
/// Default `max_file_bytes`: 256 MiB is some 500,000 people of 500 bytes each, and a bound on a
/// path that names something endless (a pipe, `/dev/zero`, a file still being written).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

impl HrCsvSettings {
    /// Defaults for a CSV at `path` (used by the demo and tests).
    pub fn new(name: &str, path: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            path,
            columns: Columns::resolve(&RawColumns::default()),
            status_map: default_status_map(),
            timezone: Tz::UTC,
            date_format: "%Y-%m-%d".to_owned(),
            delimiter: b',',
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_field_lines: DEFAULT_MAX_FIELD_LINES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            join_attr: "email".to_owned(),
        }
    }
}

impl Resolver<'_> {
    pub(super) fn hr_csv(
        &self,
        c: Common<'_>,
        s: &RawHrCsv,
    ) -> Result<SourceSettings, ConfigError> {
        let Some(path) = &s.path else {
            return self.invalid(c.at, &c.key("path"), "an hr-csv source needs `path`");
        };
        let timezone = self.timezone(&s.timezone, &c.key("timezone"))?;
        let delimiter = match &s.delimiter {
            None => b',',
            Some(d) if d.get_ref().len() == 1 && d.get_ref().is_ascii() => {
                d.get_ref().as_bytes()[0]
            }
            Some(d) => {
                return self.invalid(
                    d.span().start,
                    &c.key("delimiter"),
                    "must be one ASCII character",
                )
            }
        };
        Ok(SourceSettings::HrCsv(Box::new(HrCsvSettings {
            name: c.name.to_owned(),
            path: self.base.join(path.get_ref()),
            columns: Columns::resolve(&s.columns),
            timezone,
            status_map: self.status_map(&s.status_map, &format!("sources[{}]", c.i))?,
            date_format: date_format(&s.date_format),
            delimiter,
            max_field_bytes: self.positive(
                &s.max_field_bytes,
                &c.key("max_field_bytes"),
                DEFAULT_MAX_FIELD_BYTES as i64,
                1 << 20,
            )? as usize,
            max_field_lines: self.positive(
                &s.max_field_lines,
                &c.key("max_field_lines"),
                DEFAULT_MAX_FIELD_LINES as i64,
                1_000,
            )? as usize,
            max_file_bytes: self.positive(
                &s.max_file_bytes,
                &c.key("max_file_bytes"),
                DEFAULT_MAX_FILE_BYTES as i64,
                1 << 40,
            )? as u64,
            join_attr: c.join_attr,
        })))
    }
}
