//! `[[sources]]`: the resolved source of each kind ([`SourceSettings`]), what every source checks
//! (its name), and what the two HR kinds share (column names, the status map, the time zone and
//! format of dates). Each kind resolves in its own file: [`hr_csv`], [`hr_http`], [`ldap`].

pub mod hr_csv;
pub mod hr_http;
pub mod ldap;

use super::raw::{RawColumns, RawSource};
use super::resolve::{spellings, Resolver};
use super::ConfigError;
use crate::model::StatusKind;
use chrono_tz::Tz;
use hr_csv::HrCsvSettings;
use hr_http::HrHttpSettings;
use ldap::LdapSettings;
use std::collections::BTreeMap;
use toml::Spanned;

/// One resolved source.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    /// `kind = "hr-http"`.
    HrHttp(Box<HrHttpSettings>),
    /// `kind = "hr-csv"`.
    HrCsv(Box<HrCsvSettings>),
    /// `kind = "ldap"`.
    Ldap(Box<LdapSettings>),
}

impl SourceSettings {
    /// The source's name.
    pub fn name(&self) -> &str {
        match self {
            SourceSettings::HrCsv(s) => &s.name,
            SourceSettings::HrHttp(s) => &s.name,
            SourceSettings::Ldap(s) => &s.name,
        }
    }

    /// The attribute that joins this source's records to other sources'.
    pub fn join_attr(&self) -> &str {
        match self {
            SourceSettings::HrCsv(s) => &s.join_attr,
            SourceSettings::HrHttp(s) => &s.join_attr,
            SourceSettings::Ldap(s) => &s.join_attr,
        }
    }
}

/// Which CSV column (or HR API field) holds what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// Employee id (required).
    pub employee_id: String,
    /// Work email (required).
    pub email: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Title.
    pub title: String,
    /// Department.
    pub department: String,
    /// Manager email.
    pub manager_email: String,
    /// Employment status.
    pub status: String,
    /// Start date.
    pub start_date: String,
    /// Termination date.
    pub termination_date: String,
}

impl Columns {
    pub(in crate::config) fn resolve(raw: &RawColumns) -> Self {
        let pick = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_owned());
        Self {
            employee_id: pick(&raw.employee_id, "employee_id"),
            email: pick(&raw.email, "email"),
            given_name: pick(&raw.given_name, "first_name"),
            family_name: pick(&raw.family_name, "last_name"),
            title: pick(&raw.title, "title"),
            department: pick(&raw.department, "department"),
            manager_email: pick(&raw.manager_email, "manager_email"),
            status: pick(&raw.status, "status"),
            start_date: pick(&raw.start_date, "start_date"),
            termination_date: pick(&raw.termination_date, "termination_date"),
        }
    }
}

/// `status_map` values: a class, or `""` to remove a default entry.
pub(in crate::config) const STATUS_CLASSES: [(&str, Option<StatusKind>); 3] = [
    ("active", Some(StatusKind::Active)),
    ("inactive", Some(StatusKind::Inactive)),
    ("", None),
];

/// The default status map: `active` and `leave` keep a person in, `terminated`/`inactive` take them out.
pub fn default_status_map() -> BTreeMap<String, StatusKind> {
    [
        ("active", StatusKind::Active),
        ("leave", StatusKind::Active),
        ("on leave", StatusKind::Active),
        ("terminated", StatusKind::Inactive),
        ("inactive", StatusKind::Inactive),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// An HR source's date format (ISO dates when unset).
fn date_format(value: &Option<Spanned<String>>) -> String {
    value
        .as_ref()
        .map(|f| f.get_ref().clone())
        .unwrap_or_else(|| "%Y-%m-%d".to_owned())
}

impl Resolver<'_> {
    /// Entry `i`: its name (non-empty, no `:`, since it is part of every source key) and join
    /// attribute, then what its kind needs.
    pub(in crate::config) fn source(
        &self,
        i: usize,
        spanned: &Spanned<RawSource>,
    ) -> Result<SourceSettings, ConfigError> {
        let s = spanned.get_ref();
        let name = s.name().get_ref().trim();
        if name.is_empty() || name.contains(':') {
            return self.invalid(
                s.name().span().start,
                &format!("sources[{i}].name"),
                "must be non-empty and contain no `:`",
            );
        }
        let join_attr = s
            .join_attr()
            .map(|j| j.get_ref().trim().to_owned())
            .unwrap_or_else(|| "email".to_owned());
        let at = spanned.span().start;
        let common = Common {
            i,
            at,
            name,
            join_attr,
        };
        match s {
            RawSource::HrCsv(raw) => self.hr_csv(common, raw),
            RawSource::HrHttp(raw) => self.hr_http(common, raw),
            RawSource::Ldap(raw) => self.ldap(common, raw),
        }
    }

    /// The IANA time zone of an HR source's dates (UTC when unset).
    fn timezone(&self, value: &Option<Spanned<String>>, key: &str) -> Result<Tz, ConfigError> {
        let Some(tz) = value else {
            return Ok(Tz::UTC);
        };
        tz.get_ref().parse::<Tz>().or_else(|_| {
            self.invalid(
                tz.span().start,
                key,
                format!(
                    "unknown time zone `{}`; use an IANA name such as \"Europe/Paris\"",
                    tz.get_ref()
                ),
            )
        })
    }

    /// An HR source's `status_map`, on top of the defaults.
    fn status_map(
        &self,
        map: &Option<Spanned<BTreeMap<String, String>>>,
        key: &str,
    ) -> Result<BTreeMap<String, StatusKind>, ConfigError> {
        // Entries add to the defaults rather than replace them: a map written for one new status
        // must not turn `terminated` into an unknown status, which keeps leavers in.
        let mut out = default_status_map();
        let Some(map) = map else {
            return Ok(out);
        };
        for (status, class) in map.get_ref() {
            let at = map.span().start;
            let key = format!("{key}.status_map.{status}");
            let status = status.trim().to_lowercase();
            let Some((_, class)) = STATUS_CLASSES.iter().find(|(n, _)| n == class) else {
                return self.invalid(
                    at,
                    &key,
                    format!(
                        "`{class}` must be one of {} (\"\" removes a default entry)",
                        spellings(&STATUS_CLASSES)
                    ),
                );
            };
            match class {
                Some(class) => out.insert(status, *class),
                None => out.remove(&status),
            };
        }
        Ok(out)
    }
}

/// What every kind's resolver gets: the entry's index and position, its checked name and its
/// join attribute.
struct Common<'a> {
    i: usize,
    /// Byte offset of the entry, for keys it lacks.
    at: usize,
    name: &'a str,
    join_attr: String,
}

impl Common<'_> {
    /// `sources[i].<k>`.
    fn key(&self, k: &str) -> String {
        format!("sources[{}].{k}", self.i)
    }
}
