//! One HR row, whatever it came from (a CSV line, a JSON record): required id and email (a
//! usable address under [`parse_email`], as is the manager's), status through `status_map`,
//! start and termination dates. Shared by the CSV and HTTP readers so both
//! apply exactly the same rules.

use super::SourceRead;
use crate::config::Columns;
use crate::model::{
    attr, parse_email, AttrNames, Attrs, Employment, FindingCode, SourceIssue, SourceKey,
    SourceRecord, StatusKind,
};
use chrono::NaiveDate;
use chrono_tz::Tz;
use foldhash::HashMap;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// The rules of one HR source.
#[derive(Debug, Clone, Copy)]
pub struct RowRules<'a> {
    /// Source name.
    pub source: &'a str,
    /// Column (or field) names.
    pub columns: &'a Columns,
    /// Lowercased status -> kind.
    pub status_map: &'a BTreeMap<String, StatusKind>,
    /// Time zone of the dates.
    pub timezone: Tz,
    /// strftime format of the dates.
    pub date_format: &'a str,
}

/// Every name a row can fill, shared by every HR record of the process: built from a map of
/// its own, each record held its own copy of the names (about 250 bytes a record;
/// docs/performance.md, "Scale").
static NAMES: LazyLock<AttrNames> =
    LazyLock::new(|| AttrNames::new(crate::config::names::HR_NAMES.map(str::to_owned)));

/// A skipped row.
pub fn bad_row(source: &str, location: String, message: String, hints: Vec<String>) -> SourceIssue {
    SourceIssue {
        source: source.to_owned(),
        location,
        code: FindingCode::SourceRowInvalid,
        message,
        hints,
        skipped_person: true,
    }
}

fn profile(columns: &Columns) -> [(&'static str, &str); 5] {
    [
        (attr::GIVEN_NAME, columns.given_name.as_str()),
        (attr::FAMILY_NAME, columns.family_name.as_str()),
        (attr::TITLE, columns.title.as_str()),
        (attr::DEPARTMENT, columns.department.as_str()),
        (attr::MANAGER, columns.manager_email.as_str()),
    ]
}

/// Canonical attribute names the source provides, given which columns exist.
pub fn fields(rules: &RowRules<'_>, has: &dyn Fn(&str) -> bool) -> BTreeSet<String> {
    [attr::EMPLOYEE_ID, attr::EMAIL]
        .into_iter()
        .chain(
            profile(rules.columns)
                .into_iter()
                .filter(|(_, col)| has(col))
                .map(|(name, _)| name),
        )
        .map(str::to_owned)
        .collect()
}

/// Build a record. `get(column)` returns the trimmed, non-empty value; `has(column)` whether the
/// column exists at all (an absent status column means "active", an empty status cell is an error).
pub fn record(
    rules: &RowRules<'_>,
    get: &dyn Fn(&str) -> Option<String>,
    has: &dyn Fn(&str) -> bool,
    location: String,
) -> Result<SourceRecord, Box<SourceIssue>> {
    let cols = rules.columns;
    let id = get(&cols.employee_id);
    let email = get(&cols.email);
    let hints: Vec<String> = id.iter().chain(email.iter()).cloned().collect();
    let fail = |message: String| {
        Box::new(bad_row(
            rules.source,
            location.clone(),
            message,
            hints.clone(),
        ))
    };
    let id = id
        .ok_or_else(|| {
            format!(
                "`{}` is empty; every row needs a stable employee id",
                cols.employee_id
            )
        })
        .map_err(&fail)?;
    let email = email
        .ok_or_else(|| format!("`{}` is empty; every row needs a work email", cols.email))
        .and_then(|e| address(&cols.email, &e))
        .map_err(&fail)?;
    let manager = get(&cols.manager_email)
        .map(|m| address(&cols.manager_email, &m))
        .transpose()
        .map_err(&fail)?;
    let (status, kind) = status(rules, get, has).map_err(&fail)?;
    let start = date(rules, get, &cols.start_date).map_err(&fail)?;
    let end = date(rules, get, &cols.termination_date).map_err(&fail)?;
    let mut pairs: Vec<(&str, String)> = Vec::with_capacity(8);
    pairs.push((attr::EMPLOYEE_ID, id.clone()));
    pairs.push((attr::EMAIL, email));
    for (name, column) in profile(cols) {
        if let Some(value) = get(column) {
            pairs.push((name, value));
        }
    }
    if let Some(manager) = manager {
        pairs.push((attr::MANAGER, manager));
    }
    let attrs = Attrs::build(&NAMES, &pairs);
    Ok(SourceRecord {
        key: SourceKey::new(rules.source, id),
        location,
        attrs,
        employment: Some(Employment {
            status,
            kind,
            start,
            end,
            timezone: rules.timezone,
        }),
    })
}

/// An address cell, in the form idbridge uses ([`parse_email`]), or why it is not usable. The
/// value is shown escaped, so an invisible character shows up in the message.
fn address(column: &str, value: &str) -> Result<String, String> {
    parse_email(value).map_err(|why| {
        format!(
            "`{column}` value \"{}\" is not a usable address: {why}",
            value.escape_debug()
        )
    })
}

/// The status as written and what it means.
fn status(
    rules: &RowRules<'_>,
    get: &dyn Fn(&str) -> Option<String>,
    has: &dyn Fn(&str) -> bool,
) -> Result<(Option<String>, StatusKind), String> {
    let column = &rules.columns.status;
    if !has(column) {
        return Ok((None, StatusKind::Active));
    }
    let Some(raw) = get(column) else {
        return Err(format!("`{column}` is empty; give every row a status"));
    };
    match rules.status_map.get(&raw.to_lowercase()) {
        Some(kind) => Ok((Some(raw), *kind)),
        None => {
            let known: Vec<&str> = rules.status_map.keys().map(String::as_str).collect();
            Err(format!(
                "unknown status `{raw}`; known: {}; add it to sources.status_map",
                known.join(", ")
            ))
        }
    }
}

/// A date cell; HR exports (BambooHR among them) write "no date" as an all-zero date.
fn date(
    rules: &RowRules<'_>,
    get: &dyn Fn(&str) -> Option<String>,
    column: &str,
) -> Result<Option<NaiveDate>, String> {
    match get(column) {
        Some(text) if text.chars().all(|c| c == '0' || c == '-' || c == '/') => Ok(None),
        None => Ok(None),
        Some(text) => NaiveDate::parse_from_str(&text, rules.date_format)
            .map(Some)
            .map_err(|_| {
                format!(
                    "`{column}` value `{text}` is not a date in the format `{}`",
                    rules.date_format
                )
            }),
    }
}

/// Two rows for one employee id, or two ids with one email, are ambiguous: both rows are
/// reported and skipped (their ids and emails protect the person from deactivation).
pub fn drop_duplicates(read: &mut SourceRead) {
    let bad = duplicated_rows(&read.records);
    if bad.is_empty() {
        return;
    }
    // Taken out in one pass: removing each bad row on its own moved every row after it, so an
    // export with many duplicates took time quadratic in its length.
    let mut at = 0;
    let taken: Vec<SourceRecord> = read
        .records
        .extract_if(.., |_| {
            at += 1;
            bad.contains_key(&(at - 1))
        })
        .collect();
    for (r, message) in taken.into_iter().zip(bad.into_values()) {
        let hints = [
            Some(r.key.id.clone()),
            r.attrs.get(attr::EMAIL).map(str::to_owned),
        ]
        .into_iter()
        .flatten()
        .collect();
        read.issues
            .push(bad_row(&read.source, r.location, message, hints));
    }
    read.issues.sort_by_key(|i| natural_location(&i.location));
}

/// The rows (by index) that share an employee id or an email (case-insensitively) with another,
/// each with why: the id's message when it has both.
fn duplicated_rows(records: &[SourceRecord]) -> BTreeMap<usize, String> {
    // Keys borrow from the rows (an email is copied only when it has capitals), and a value
    // seen once holds its row alone: a million distinct rows allocate no list each.
    let mut by_id: HashMap<&str, Rows> =
        HashMap::with_capacity_and_hasher(records.len(), Default::default());
    let mut by_email: HashMap<Cow<'_, str>, Rows> =
        HashMap::with_capacity_and_hasher(records.len(), Default::default());
    for (i, r) in records.iter().enumerate() {
        by_id.entry(&r.key.id).or_default().add(i);
        if let Some(email) = r.attrs.get(attr::EMAIL) {
            let key = if email
                .bytes()
                .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
            {
                Cow::Owned(email.to_lowercase())
            } else {
                Cow::Borrowed(email)
            };
            by_email.entry(key).or_default().add(i);
        }
    }
    let mut bad: BTreeMap<usize, String> = BTreeMap::new();
    let ids = by_id.iter().map(|(k, rows)| (*k, rows));
    mark_shared(records, "employee id", ids, &mut bad);
    let emails = by_email.iter().map(|(k, rows)| (k.as_ref(), rows));
    mark_shared(records, "email", emails, &mut bad);
    bad
}

/// Mark every row whose `what` it shares with another row, unless an earlier call marked it.
fn mark_shared<'v>(
    records: &[SourceRecord],
    what: &str,
    groups: impl Iterator<Item = (&'v str, &'v Rows)>,
    bad: &mut BTreeMap<usize, String>,
) {
    for (value, rows) in groups {
        let Rows::Many(rows) = rows else { continue };
        let places: Vec<&str> = rows.iter().map(|&i| records[i].location.as_str()).collect();
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

/// The rows that carry one value.
#[derive(Default)]
enum Rows {
    #[default]
    None,
    One(usize),
    Many(Vec<usize>),
}

impl Rows {
    fn add(&mut self, row: usize) {
        *self = match std::mem::take(self) {
            Rows::None => Rows::One(row),
            Rows::One(first) => Rows::Many(vec![first, row]),
            Rows::Many(mut rows) => {
                rows.push(row);
                Rows::Many(rows)
            }
        };
    }
}

/// `hr.csv line 10` sorts after `hr.csv line 9`; `hr.csv lines 12-14` sorts at line 12.
fn natural_location(location: &str) -> (String, u64) {
    let split = location
        .rsplit_once(" lines ")
        .or_else(|| location.rsplit_once(" line "))
        .or_else(|| location.rsplit_once(" record "));
    match split {
        Some((file, n)) => {
            let first = n.split('-').next().unwrap_or(n);
            (file.to_owned(), first.parse().unwrap_or(0))
        }
        None => (location.to_owned(), 0),
    }
}
