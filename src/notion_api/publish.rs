//! Publishing a report into a Notion database: one page per row, found again by its key on the
//! next publish and updated in place, never duplicated.
//!
//! The key (a person's userName, a change's run and sequence) is the page's title, the property
//! every Notion database has, so a database needs nothing else to receive a report. Each other
//! column goes into the property of the same name when the database has one (of a type that
//! can hold it: checked for every row before any write) and is left out otherwise, which the
//! outcome lists. Pages of the database that no row names are left alone, and counted.
//!
//! Order of work: the schema, the columns matched to it, every page's properties built (so a
//! type mismatch stops the publish before anything is written), one paged read of the pages that
//! have a title, then per row: unchanged (no request), changed properties updated, or created.
//! A page Notion refuses fails alone; an error that would fail every later request too (the
//! token, the network, throttling past every retry) stops the publish, and the outcome says what
//! was done before it.

use super::client::{Client, Counts, DatabaseId, Key, Page};
use super::error::{Error, Result};
use super::props::{self, PropType, PropValue, Schema};
use crate::report::Report;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// The most bytes of properties one page request carries; Notion refuses larger request bodies
/// (docs/notion.md, "Public API used for publishing"), so the longest texts are cut to fit.
pub const MAX_PAGE_BYTES: usize = 400_000;

/// How a report becomes pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The column (its JSON key) whose value is the page's key, written to the title property.
    pub key: &'static str,
    /// What one page stands for, for messages ("person", "change").
    pub noun: &'static str,
}

/// What a publish did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The database.
    pub database: String,
    /// The title property, which holds each page's key.
    pub title_property: String,
    /// Keys of pages created, in report order.
    pub created: Vec<String>,
    /// Keys of pages updated, with the properties that changed.
    pub updated: Vec<(String, Vec<String>)>,
    /// Pages already as the report says.
    pub unchanged: usize,
    /// Keys of pages that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Pages of the database that no row of the report names: left alone.
    pub left_alone: usize,
    /// Keys more than one page holds: the first is kept up to date, the others left alone.
    pub duplicates: Vec<String>,
    /// Columns the database has no property for: not published.
    pub not_published: Vec<String>,
    /// Values cut to fit Notion's limits: (key, property).
    pub cut: Vec<(String, String)>,
    /// Rows not yet handled when the publish stopped.
    pub not_reached: usize,
    /// The error that stopped the publish before every row was handled.
    pub stopped: Option<Error>,
    /// Requests made.
    pub counts: Counts,
}

/// One column's destination.
#[derive(Debug, Clone)]
struct Target {
    column: usize,
    property: String,
    kind: PropType,
}

/// One page to be, built from one row.
#[derive(Debug)]
struct Planned {
    key: String,
    values: Vec<(String, PropType, PropValue)>,
}

/// Publish `report` into the database `db`. `Err` when nothing could be written (the
/// database cannot be read or does not fit the report); otherwise the outcome, which holds the
/// error that stopped the publish midway, if one did.
pub async fn publish(
    client: &Client,
    db: &DatabaseId,
    report: &Report,
    layout: &Layout,
) -> Result<Outcome> {
    let schema = client.database(db).await?;
    let (title, targets, not_published) = match_columns(&schema, db, report, layout)?;
    let (planned, cut, duplicate_rows) = build(report, layout, &title, &targets)?;
    let filter = json!({ "property": title, "title": { "is_not_empty": true } });
    let existing = client.query(db, Some(&filter)).await?;
    let mut by_key: HashMap<String, Vec<Page>> = HashMap::new();
    for page in existing {
        let key = page
            .properties
            .get(&title)
            .and_then(|p| props::read(p, PropType::Title))
            .and_then(|v| match v {
                PropValue::Text(t) => Some(t),
                _ => None,
            })
            .unwrap_or_default();
        by_key.entry(key).or_default().push(page);
    }
    let mut outcome = Outcome {
        database: db.to_string(),
        title_property: title.clone(),
        not_published,
        cut,
        ..Outcome::default()
    };
    outcome.failed.extend(duplicate_rows);
    let named: std::collections::HashSet<&str> = planned.iter().map(|p| p.key.as_str()).collect();
    outcome.left_alone = by_key
        .iter()
        .filter(|(k, _)| !named.contains(k.as_str()))
        .map(|(_, pages)| pages.len())
        .sum();
    outcome.duplicates = by_key
        .iter()
        .filter(|(k, pages)| pages.len() > 1 && named.contains(k.as_str()))
        .map(|(k, _)| k.clone())
        .collect();
    outcome.duplicates.sort();
    for (i, page) in planned.iter().enumerate() {
        let result = write_one(client, db, &title, page, by_key.get(&page.key)).await;
        match result {
            Ok(Written::Created) => outcome.created.push(page.key.clone()),
            Ok(Written::Updated(changed)) => outcome.updated.push((page.key.clone(), changed)),
            Ok(Written::Unchanged) => outcome.unchanged += 1,
            Err(e) if stops(&e) => {
                outcome.not_reached = planned.len() - i;
                outcome.stopped = Some(e);
                break;
            }
            Err(e) => outcome.failed.push((page.key.clone(), e.to_string())),
        }
    }
    outcome.counts = client.counts();
    Ok(outcome)
}

/// An error every later request would meet too.
fn stops(e: &Error) -> bool {
    e.is_environment() || e.is_setup()
}

enum Written {
    Created,
    Updated(Vec<String>),
    Unchanged,
}

async fn write_one(
    client: &Client,
    db: &DatabaseId,
    title: &str,
    page: &Planned,
    existing: Option<&Vec<Page>>,
) -> Result<Written> {
    match existing.and_then(|pages| pages.first()) {
        Some(current) => {
            let changed: Vec<&(String, PropType, PropValue)> = page
                .values
                .iter()
                .filter(|(name, kind, value)| {
                    current
                        .properties
                        .get(name)
                        .and_then(|p| props::read(p, *kind))
                        .as_ref()
                        != Some(value)
                })
                .collect();
            if changed.is_empty() {
                return Ok(Written::Unchanged);
            }
            let names = changed.iter().map(|(n, _, _)| n.clone()).collect();
            let owned: Vec<(String, PropType, PropValue)> = changed.into_iter().cloned().collect();
            client
                .update_page(&current.id, &props::properties_json(&owned))
                .await?;
            Ok(Written::Updated(names))
        }
        None => {
            let key = Key {
                property: title.to_owned(),
                kind: PropType::Title,
                value: page.key.clone(),
            };
            client
                .create_page(db, &props::properties_json(&page.values), Some(&key))
                .await?;
            Ok(Written::Created)
        }
    }
}

type Matched = (String, Vec<Target>, Vec<String>);

/// The title property, where each other column goes, and the columns with nowhere to go; or
/// every property that does not fit, at once.
fn match_columns(
    schema: &Schema,
    db: &DatabaseId,
    report: &Report,
    layout: &Layout,
) -> Result<Matched> {
    let mut problems = Vec::new();
    let title = schema.title().map(str::to_owned);
    if title.is_none() {
        problems.push("it has no title property".to_owned());
    }
    if !report.columns.iter().any(|c| c.key == layout.key) {
        return Err(Error::Config {
            detail: format!(
                "the {} report has no column `{}` to key pages by",
                report.name, layout.key
            ),
        });
    }
    let mut targets = Vec::new();
    let mut not_published = Vec::new();
    for (i, column) in report.columns.iter().enumerate() {
        if column.key == layout.key {
            continue;
        }
        let name = column.title.to_owned();
        match schema.properties.get(&name) {
            None => not_published.push(name),
            Some(Ok(PropType::Title)) => problems.push(format!(
                "the title property `{name}` holds each page's key ({}), but `{name}` is also a \
                 column: rename the title property",
                layout.noun
            )),
            Some(Err(other)) => problems.push(format!(
                "`{name}` is a {other} property, which idbridge does not write: make it a Text \
                 property, or delete it to leave the column out"
            )),
            Some(Ok(kind)) => {
                let refused = report.rows.iter().find_map(|row| {
                    row.get(i)
                        .and_then(|cell| props::value_for(cell, *kind).err())
                });
                match refused {
                    Some(holds) => problems.push(format!(
                        "`{name}` is a {} property but the column holds {holds}: make it {}",
                        kind.label(),
                        fitting(&holds)
                    )),
                    None => targets.push(Target {
                        column: i,
                        property: name,
                        kind: *kind,
                    }),
                }
            }
        }
    }
    match title {
        Some(title) if problems.is_empty() => Ok((title, targets, not_published)),
        _ => Err(Error::Schema {
            database: db.to_string(),
            report: report.name.to_owned(),
            problems,
        }),
    }
}

/// The property types that can hold a column holding `holds`.
fn fitting(holds: &str) -> &'static str {
    match holds {
        "a number" => "a Number or Text property",
        "a date" => "a Date or Text property",
        "a list" => "a Multi-select or Text property",
        _ => "a Text property",
    }
}

type Built = (Vec<Planned>, Vec<(String, String)>, Vec<(String, String)>);

/// Every row's page: its key and property values, cut to Notion's limits. Also the values cut,
/// and the rows whose key is empty or repeats an earlier row's (not published).
fn build(report: &Report, layout: &Layout, title: &str, targets: &[Target]) -> Result<Built> {
    let key_at = report
        .columns
        .iter()
        .position(|c| c.key == layout.key)
        .unwrap_or_default();
    let mut planned = Vec::new();
    let mut cut = Vec::new();
    let mut refused = Vec::new();
    let mut seen = BTreeMap::new();
    for row in &report.rows {
        let key_cell = row
            .get(key_at)
            .cloned()
            .unwrap_or(crate::report::Cell::Null);
        let key = props::value_for(&key_cell, PropType::Title).map_err(|e| Error::Config {
            detail: format!("a key of the {} report is not text ({e})", report.name),
        })?;
        let PropValue::Text(key_text) = key.value else {
            continue;
        };
        if key_text.trim().is_empty() {
            refused.push((
                String::new(),
                format!("a {} with no key was not published", layout.noun),
            ));
            continue;
        }
        if seen.insert(key_text.clone(), ()).is_some() {
            refused.push((
                key_text,
                "another row has the same key; only the first was published".to_owned(),
            ));
            continue;
        }
        let mut values = vec![(
            title.to_owned(),
            PropType::Title,
            PropValue::Text(key_text.clone()),
        )];
        for target in targets {
            let cell = row
                .get(target.column)
                .cloned()
                .unwrap_or(crate::report::Cell::Null);
            let written = props::value_for(&cell, target.kind).map_err(|holds| Error::Config {
                detail: format!("the column `{}` holds {holds}", target.property),
            })?;
            if written.cut {
                cut.push((key_text.clone(), target.property.clone()));
            }
            values.push((target.property.clone(), target.kind, written.value));
        }
        for property in fit_page(&mut values) {
            cut.push((key_text.clone(), property));
        }
        planned.push(Planned {
            key: key_text,
            values,
        });
    }
    Ok((planned, cut, refused))
}

/// Halve the longest text of a page until its properties fit [`MAX_PAGE_BYTES`]; returns the
/// properties cut.
fn fit_page(values: &mut [(String, PropType, PropValue)]) -> Vec<String> {
    let mut cut = Vec::new();
    loop {
        let size = serde_json::to_vec(&Value::Object(props::properties_json(values)))
            .map(|b| b.len())
            .unwrap_or(0);
        if size <= MAX_PAGE_BYTES {
            return cut;
        }
        let longest = values
            .iter_mut()
            .skip(1) // never the key
            .filter_map(|(name, _, value)| match value {
                PropValue::Text(text) => Some((name, text)),
                _ => None,
            })
            .max_by_key(|(_, text)| text.len());
        let Some((name, text)) = longest else {
            return cut;
        };
        let half = text.encode_utf16().count() / 2;
        *text = props::fit_text(text, half).0;
        if !cut.contains(name) {
            cut.push(name.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Cell, Column};
    use chrono::TimeZone;
    use serde_json::Map;

    fn report(rows: Vec<Vec<Cell>>) -> Report {
        Report {
            name: "changes",
            title: "t".into(),
            generated_at: chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            parameters: vec![],
            facts: vec![],
            columns: vec![
                Column::new("change", "change"),
                Column::new("doneAt", "when"),
                Column::new("run", "run"),
                Column::new("reason", "reason"),
            ],
            rows,
            empty: String::new(),
            notes: vec![],
        }
    }

    fn schema(props: &[(&str, &str)]) -> Schema {
        let mut map = Map::new();
        for (name, kind) in props {
            map.insert((*name).into(), json!({ "type": kind }));
        }
        Schema::from_database(&json!({ "properties": map })).unwrap()
    }

    const LAYOUT: Layout = Layout {
        key: "change",
        noun: "change",
    };

    fn db() -> DatabaseId {
        DatabaseId::parse(
            "0123abcd456789abcdef0123456789ab",
            "notion.changes_database",
        )
        .unwrap()
    }

    #[test]
    fn every_misfit_property_is_named_at_once_with_what_to_make_it() {
        let rows = vec![vec![
            Cell::Text("run 1 op 1".into()),
            Cell::Time(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()),
            Cell::Int(1),
            Cell::Text("hr: status=active".into()),
        ]];
        let s = schema(&[("Name", "title"), ("when", "number"), ("run", "people")]);
        let Err(Error::Schema { problems, .. }) = match_columns(&s, &db(), &report(rows), &LAYOUT)
        else {
            panic!("a schema error")
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0]
            .contains("`when` is a Number property but the column holds a date: make it a Date"));
        assert!(problems[1].contains("`run` is a people property"));
    }

    #[test]
    fn columns_without_a_property_are_left_out_and_listed() {
        let rows = vec![vec![
            Cell::Text("k".into()),
            Cell::Null,
            Cell::Int(2),
            Cell::Null,
        ]];
        let s = schema(&[("Key", "title"), ("run", "number")]);
        let (title, targets, missing) = match_columns(&s, &db(), &report(rows), &LAYOUT).unwrap();
        assert_eq!(title, "Key");
        assert_eq!(targets.len(), 1);
        assert_eq!(missing, vec!["when".to_owned(), "reason".to_owned()]);
    }

    #[test]
    fn a_huge_row_is_cut_to_fit_one_request_and_says_which_property() {
        let huge = "€".repeat(190_000);
        let rows = vec![vec![
            Cell::Text("k".into()),
            Cell::Null,
            Cell::Null,
            Cell::Text(huge),
        ]];
        let s = schema(&[("Key", "title"), ("reason", "rich_text")]);
        let r = report(rows);
        let (title, targets, _) = match_columns(&s, &db(), &r, &LAYOUT).unwrap();
        let (planned, cut, _) = build(&r, &LAYOUT, &title, &targets).unwrap();
        assert_eq!(cut, vec![("k".to_owned(), "reason".to_owned())]);
        let size = serde_json::to_vec(&Value::Object(props::properties_json(&planned[0].values)))
            .unwrap()
            .len();
        assert!(size <= MAX_PAGE_BYTES, "{size}");
    }

    #[test]
    fn repeated_and_empty_keys_are_not_published_and_said() {
        let rows = vec![
            vec![Cell::Text("a".into()), Cell::Null, Cell::Null, Cell::Null],
            vec![Cell::Text("a".into()), Cell::Null, Cell::Null, Cell::Null],
            vec![Cell::Null, Cell::Null, Cell::Null, Cell::Null],
        ];
        let r = report(rows);
        let (planned, _, refused) = build(&r, &LAYOUT, "Key", &[]).unwrap();
        assert_eq!(planned.len(), 1);
        assert_eq!(refused.len(), 2);
    }
}
