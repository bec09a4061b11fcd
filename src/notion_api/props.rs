//! Notion property values, pure: the database's schema, a report cell written as the type of
//! the property that holds its column, and a page's property read back into the same form, so a
//! publish can tell an unchanged page from a changed one without writing it.
//!
//! Notion's size limits (docs/notion.md, "Public API used for publishing"): the content of one
//! rich-text object holds at most 2,000 characters and an array of them at most 100 items, so a
//! long text is cut into chunks of 2,000 (counted in UTF-16 code units, as Notion's validation
//! counts; a chunk never splits a character) and at most 100 chunks; what is longer is cut with a
//! marker and the publish says so. A select option holds at most 100 characters and no comma.

use crate::report::{data::time_text, Cell};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Most characters (UTF-16 code units) in one rich-text object's content.
pub const MAX_TEXT_CHUNK: usize = 2_000;
/// Most items in one rich-text array.
pub const MAX_CHUNKS: usize = 100;
/// Most characters of a select option's name.
pub const MAX_OPTION_CHARS: usize = 100;
/// Most options of a multi-select value.
pub const MAX_OPTIONS: usize = 100;

/// The property types idbridge writes. Others (people, relation, formula, …) are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PropType {
    /// The database's one title property.
    Title,
    /// Text.
    RichText,
    /// A number.
    Number,
    /// A date or instant.
    Date,
    /// One option.
    Select,
    /// Several options.
    MultiSelect,
    /// A link.
    Url,
    /// An email address.
    Email,
}

impl PropType {
    /// Notion's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            PropType::Title => "title",
            PropType::RichText => "rich_text",
            PropType::Number => "number",
            PropType::Date => "date",
            PropType::Select => "select",
            PropType::MultiSelect => "multi_select",
            PropType::Url => "url",
            PropType::Email => "email",
        }
    }

    /// The type as Notion's interface names it.
    pub fn label(self) -> &'static str {
        match self {
            PropType::Title => "Title",
            PropType::RichText => "Text",
            PropType::Number => "Number",
            PropType::Date => "Date",
            PropType::Select => "Select",
            PropType::MultiSelect => "Multi-select",
            PropType::Url => "URL",
            PropType::Email => "Email",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "title" => PropType::Title,
            "rich_text" => PropType::RichText,
            "number" => PropType::Number,
            "date" => PropType::Date,
            "select" => PropType::Select,
            "multi_select" => PropType::MultiSelect,
            "url" => PropType::Url,
            "email" => PropType::Email,
            _ => return None,
        })
    }
}

/// A database's properties: name → type (`None`: a type idbridge does not write, kept by its
/// Notion name), and which one is the title.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    /// Property name → its type, or the Notion type name idbridge cannot write.
    pub properties: BTreeMap<String, Result<PropType, String>>,
}

impl Schema {
    /// The schema in a `GET /v1/databases/{id}` reply.
    pub fn from_database(reply: &Value) -> Result<Self, String> {
        let props = reply
            .get("properties")
            .and_then(Value::as_object)
            .ok_or("the database has no `properties`")?;
        let mut properties = BTreeMap::new();
        for (name, prop) in props {
            let kind = prop
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the property `{name}` has no type"))?;
            properties.insert(
                name.clone(),
                PropType::parse(kind).ok_or_else(|| kind.to_owned()),
            );
        }
        Ok(Self { properties })
    }

    /// The title property's name.
    pub fn title(&self) -> Option<&str> {
        self.properties
            .iter()
            .find(|(_, t)| **t == Ok(PropType::Title))
            .map(|(name, _)| name.as_str())
    }
}

/// A property value in one comparable form: what idbridge writes and what it reads back.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    /// Title or rich text: the whole text.
    Text(String),
    /// A number.
    Number(Option<f64>),
    /// A date (`YYYY-MM-DD`) or an instant (RFC 3339, UTC, seconds).
    Date(Option<String>),
    /// A select option.
    Select(Option<String>),
    /// Multi-select options.
    Multi(Vec<String>),
    /// URL or email.
    Plain(Option<String>),
}

/// A value as written: the comparable form, and whether it had to be cut to fit Notion's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The value.
    pub value: PropValue,
    /// It was cut.
    pub cut: bool,
}

/// `cell` as a value of a property of type `kind`, or why it cannot be one (the column's
/// values are of another kind: a number column in a date property).
pub fn value_for(cell: &Cell, kind: PropType) -> Result<Written, String> {
    let plain = |cut: bool, value| Ok(Written { value, cut });
    match kind {
        PropType::Title | PropType::RichText => {
            let text = cell.text("\n");
            let (text, cut) = fit_text(&text, MAX_TEXT_CHUNK * MAX_CHUNKS);
            plain(cut, PropValue::Text(text))
        }
        PropType::Number => match cell {
            Cell::Null => plain(false, PropValue::Number(None)),
            Cell::Int(n) | Cell::Millis(n) => plain(false, PropValue::Number(Some(*n as f64))),
            other => Err(holds(other)),
        },
        PropType::Date => match cell {
            Cell::Null => plain(false, PropValue::Date(None)),
            Cell::Time(at) => plain(false, PropValue::Date(Some(time_text(*at)))),
            Cell::Date(day) => plain(
                false,
                PropValue::Date(Some(day.format("%Y-%m-%d").to_string())),
            ),
            other => Err(holds(other)),
        },
        PropType::Select => match cell {
            Cell::List(_) | Cell::Changes(_) | Cell::Counts(_) => Err(holds(cell)),
            Cell::Null => plain(false, PropValue::Select(None)),
            other => {
                let (name, cut) = option_name(&other.text(""));
                plain(cut, PropValue::Select((!name.is_empty()).then_some(name)))
            }
        },
        PropType::MultiSelect => {
            let items: Vec<String> = match cell {
                Cell::Null => Vec::new(),
                Cell::List(items) => items.clone(),
                other => vec![other.text("")],
            };
            let mut cut = items.len() > MAX_OPTIONS;
            let mut names = Vec::new();
            for item in items.iter().take(MAX_OPTIONS) {
                let (name, c) = option_name(item);
                cut |= c;
                if !name.is_empty() && !names.contains(&name) {
                    names.push(name);
                }
            }
            plain(cut, PropValue::Multi(names))
        }
        PropType::Url | PropType::Email => match cell {
            Cell::Text(text) if text.chars().count() <= 200 || kind == PropType::Url => {
                plain(false, PropValue::Plain(Some(text.clone())))
            }
            Cell::Null => plain(false, PropValue::Plain(None)),
            other => Err(holds(other)),
        },
    }
}

/// What a cell holds, in words, for a property of the wrong type.
fn holds(cell: &Cell) -> String {
    match cell {
        Cell::Int(_) | Cell::Millis(_) => "a number",
        Cell::Time(_) | Cell::Date(_) => "a date",
        Cell::List(_) => "a list",
        Cell::Null | Cell::Text(_) | Cell::Counts(_) | Cell::Changes(_) => "text",
    }
    .to_owned()
}

/// The JSON Notion takes for `value` in a property of type `kind`.
pub fn to_json(value: &PropValue, kind: PropType) -> Value {
    match value {
        PropValue::Text(text) => {
            let chunks: Vec<Value> = chunks(text)
                .into_iter()
                .map(|c| json!({ "type": "text", "text": { "content": c } }))
                .collect();
            json!({ kind.as_str(): chunks })
        }
        // Whole numbers (counts, ids) go out as integers, as a person would type them.
        PropValue::Number(Some(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
            json!({ "number": *n as i64 })
        }
        PropValue::Number(n) => json!({ "number": n }),
        PropValue::Date(None) => json!({ "date": null }),
        PropValue::Date(Some(start)) => json!({ "date": { "start": start } }),
        PropValue::Select(None) => json!({ "select": null }),
        PropValue::Select(Some(name)) => json!({ "select": { "name": name } }),
        PropValue::Multi(names) => {
            let options: Vec<Value> = names.iter().map(|n| json!({ "name": n })).collect();
            json!({ "multi_select": options })
        }
        PropValue::Plain(text) => json!({ kind.as_str(): text }),
    }
}

/// A page's property read back into the comparable form; `None` when it is absent or not of
/// the type `kind`.
pub fn read(property: &Value, kind: PropType) -> Option<PropValue> {
    let inner = property.get(kind.as_str())?;
    Some(match kind {
        PropType::Title | PropType::RichText => {
            let mut text = String::new();
            for item in inner.as_array()? {
                let piece = item
                    .get("plain_text")
                    .or_else(|| item.get("text").and_then(|t| t.get("content")))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                text.push_str(piece);
            }
            PropValue::Text(text)
        }
        PropType::Number => PropValue::Number(inner.as_f64()),
        PropType::Date => {
            PropValue::Date(inner.get("start").and_then(Value::as_str).map(normal_date))
        }
        PropType::Select => {
            PropValue::Select(inner.get("name").and_then(Value::as_str).map(str::to_owned))
        }
        PropType::MultiSelect => PropValue::Multi(
            inner
                .as_array()?
                .iter()
                .filter_map(|o| o.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect(),
        ),
        PropType::Url | PropType::Email => PropValue::Plain(inner.as_str().map(str::to_owned)),
    })
}

/// A date as Notion returns it (`2026-03-02T09:00:00.000+00:00`) in the form idbridge writes
/// (`2026-03-02T09:00:00Z`); a day stays a day.
fn normal_date(text: &str) -> String {
    match DateTime::parse_from_rfc3339(text) {
        Ok(at) => at
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        Err(_) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|_| text.to_owned()),
    }
}

/// A select option's name: no comma (Notion refuses one), at most 100 characters.
fn option_name(text: &str) -> (String, bool) {
    let name = text.replace(',', ";").trim().to_owned();
    let cut = name.chars().count() > MAX_OPTION_CHARS;
    (name.chars().take(MAX_OPTION_CHARS).collect(), cut)
}

/// `text` cut to at most `max` UTF-16 code units, a marker included, at a character boundary.
pub fn fit_text(text: &str, max: usize) -> (String, bool) {
    if utf16_len(text) <= max {
        return (text.to_owned(), false);
    }
    let total = text.chars().count();
    let mut out = String::new();
    let mut used = 0;
    let mut kept = 0;
    // Reserve room for the marker, whose digits are at most those of `total`.
    let reserve = utf16_len(&marker(total));
    for c in text.chars() {
        if used + c.len_utf16() + reserve > max {
            break;
        }
        used += c.len_utf16();
        kept += 1;
        out.push(c);
    }
    out.push_str(&marker(total - kept));
    (out, true)
}

fn marker(left_out: usize) -> String {
    format!(" … [{left_out} more characters not published; the other report formats hold them]")
}

fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `text` in chunks of at most [`MAX_TEXT_CHUNK`] UTF-16 code units, never splitting a
/// character; an empty text is no chunk at all.
pub fn chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > MAX_TEXT_CHUNK {
            out.push(std::mem::take(&mut current));
            used = 0;
        }
        used += c.len_utf16();
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The properties of one page, as Notion takes them.
pub fn properties_json(values: &[(String, PropType, PropValue)]) -> Map<String, Value> {
    values
        .iter()
        .map(|(name, kind, value)| (name.clone(), to_json(value, *kind)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::AttrChange;

    #[test]
    fn long_text_is_cut_into_chunks_of_2000_that_never_split_a_character() {
        let text = format!("{}{}", "a".repeat(1_999), "😀".repeat(2));
        let parts = chunks(&text);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0].chars().count(),
            1_999,
            "the emoji takes two code units"
        );
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| utf16_len(p) <= MAX_TEXT_CHUNK));
        assert!(chunks("").is_empty());
    }

    #[test]
    fn text_over_100_chunks_is_cut_with_a_marker_that_says_how_much() {
        let long = "x".repeat(MAX_TEXT_CHUNK * MAX_CHUNKS + 10);
        let written = value_for(&Cell::Text(long), PropType::RichText).unwrap();
        assert!(written.cut);
        let PropValue::Text(text) = &written.value else {
            panic!("text")
        };
        assert!(utf16_len(text) <= MAX_TEXT_CHUNK * MAX_CHUNKS);
        assert!(
            text.contains("more characters not published"),
            "{}",
            &text[text.len() - 120..]
        );
        let json = to_json(&written.value, PropType::RichText);
        assert_eq!(json["rich_text"].as_array().unwrap().len(), MAX_CHUNKS);
    }

    #[test]
    fn what_is_written_reads_back_equal() {
        let at = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
            .unwrap()
            .to_utc();
        let changes = Cell::Changes(vec![AttrChange {
            attr: "title".into(),
            before: Some("Engineer".into()),
            after: Some("Lead".into()),
        }]);
        let cases = [
            (Cell::Text("ada@acme.test".into()), PropType::Title),
            (changes, PropType::RichText),
            (Cell::Int(3), PropType::Number),
            (Cell::Time(at), PropType::Date),
            (Cell::Text("patch-user".into()), PropType::Select),
            (
                Cell::List(vec!["a".into(), "b,c".into()]),
                PropType::MultiSelect,
            ),
            (Cell::Null, PropType::Date),
        ];
        for (cell, kind) in cases {
            let written = value_for(&cell, kind).unwrap();
            let json = to_json(&written.value, kind);
            assert_eq!(
                read(&json, kind),
                Some(written.value),
                "{cell:?} as {kind:?}"
            );
        }
        // Notion answers an instant in its own spelling: still equal.
        let notion = json!({ "date": { "start": "2026-03-02T09:00:00.000+00:00", "end": null } });
        assert_eq!(
            read(&notion, PropType::Date),
            Some(PropValue::Date(Some("2026-03-02T09:00:00Z".into())))
        );
    }

    #[test]
    fn a_column_of_another_kind_is_refused_with_what_it_holds() {
        assert_eq!(
            value_for(&Cell::Text("x".into()), PropType::Number).unwrap_err(),
            "text"
        );
        assert_eq!(
            value_for(&Cell::Int(1), PropType::Date).unwrap_err(),
            "a number"
        );
        assert!(value_for(&Cell::List(vec![]), PropType::Select).is_err());
    }

    #[test]
    fn the_schema_names_its_title_and_keeps_types_it_cannot_write() {
        let schema = Schema::from_database(&json!({ "properties": {
            "Name": { "id": "title", "type": "title", "title": {} },
            "Owner": { "id": "x", "type": "people", "people": {} },
        }}))
        .unwrap();
        assert_eq!(schema.title(), Some("Name"));
        assert_eq!(schema.properties["Owner"], Err("people".to_owned()));
    }
}
