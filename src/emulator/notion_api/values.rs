//! Property values as Notion's public API checks and returns them: a page write validated
//! against the database's schema (unknown property, wrong type, the 2,000-character content and
//! 100-item array limits, commas in select options), stored in the form a read returns
//! (rich text with `plain_text` and annotations, instants as `…T09:00:00.000+00:00`), and the
//! query filters idbridge sends (`equals`, `is_not_empty` on title and rich text).

use super::ApiError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Most UTF-16 code units in one rich-text content.
const MAX_CONTENT: usize = 2_000;
/// Most items in an array (rich text, multi-select).
const MAX_ITEMS: usize = 100;

fn validation(message: String) -> ApiError {
    ApiError::new(400, "validation_error", message)
}

/// A property write for `schema`, checked and turned into its stored form.
pub(super) fn validate(
    schema: &BTreeMap<String, String>,
    properties: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut stored = Map::new();
    for (name, value) in properties {
        let Some(kind) = schema.get(name) else {
            return Err(validation(format!("{name} is not a property that exists.")));
        };
        let Some(inner) = value.get(kind.as_str()) else {
            return Err(validation(format!("{name} is expected to be {kind}.")));
        };
        let path = format!("body.properties.{name}.{kind}");
        let checked = match kind.as_str() {
            "title" | "rich_text" => rich_text(&path, inner)?,
            "number" => number(&path, inner)?,
            "date" => date(&path, inner)?,
            "select" => select(&path, inner)?,
            "multi_select" => multi_select(&path, inner)?,
            "url" | "email" => plain(&path, inner)?,
            other => {
                return Err(validation(format!(
                    "{name} is a {other} property, which this emulator does not write."
                )))
            }
        };
        stored.insert(
            name.clone(),
            json!({ "id": property_id(name), "type": kind, kind.as_str(): checked }),
        );
    }
    Ok(stored)
}

/// Every property of the schema with an empty value, as a new page holds them.
pub(super) fn empty(schema: &BTreeMap<String, String>) -> Map<String, Value> {
    schema
        .iter()
        .map(|(name, kind)| {
            let value = match kind.as_str() {
                "title" | "rich_text" | "multi_select" => json!([]),
                _ => Value::Null,
            };
            (
                name.clone(),
                json!({ "id": property_id(name), "type": kind, kind.as_str(): value }),
            )
        })
        .collect()
}

fn property_id(name: &str) -> String {
    // Notion's property ids are short opaque strings; a stable one per name is enough here.
    format!(
        "p{:x}",
        name.bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
    )
}

fn rich_text(path: &str, inner: &Value) -> Result<Value, ApiError> {
    let items = inner
        .as_array()
        .ok_or_else(|| validation(format!("{path} should be an array.")))?;
    if items.len() > MAX_ITEMS {
        return Err(validation(format!(
            "{path}.length should be ≤ `{MAX_ITEMS}`, instead was `{}`.",
            items.len()
        )));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let content = item
            .get("text")
            .and_then(|t| t.get("content"))
            .and_then(Value::as_str)
            .ok_or_else(|| validation(format!("{path}[{i}].text.content should be defined.")))?;
        let length = content.encode_utf16().count();
        if length > MAX_CONTENT {
            return Err(validation(format!(
                "{path}[{i}].text.content.length should be ≤ `{MAX_CONTENT}`, instead was `{length}`."
            )));
        }
        out.push(json!({
            "type": "text",
            "text": { "content": content, "link": null },
            "annotations": { "bold": false, "italic": false, "strikethrough": false,
                             "underline": false, "code": false, "color": "default" },
            "plain_text": content,
            "href": null,
        }));
    }
    Ok(Value::Array(out))
}

fn number(path: &str, inner: &Value) -> Result<Value, ApiError> {
    if inner.is_null() || inner.is_number() {
        Ok(inner.clone())
    } else {
        Err(validation(format!("{path} should be a number or `null`.")))
    }
}

fn date(path: &str, inner: &Value) -> Result<Value, ApiError> {
    if inner.is_null() {
        return Ok(Value::Null);
    }
    let start = inner
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(|| validation(format!("{path}.start should be defined.")))?;
    // Notion answers an instant in its own spelling, milliseconds and offset included.
    let start = match chrono::DateTime::parse_from_rfc3339(start) {
        Ok(at) => at
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
            .to_string(),
        Err(_) if chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d").is_ok() => start.to_owned(),
        Err(_) => {
            return Err(validation(format!(
                "{path}.start should be a valid ISO 8601 date string, instead was `\"{start}\"`."
            )))
        }
    };
    Ok(json!({ "start": start, "end": null, "time_zone": null }))
}

fn option(path: &str, inner: &Value) -> Result<Value, ApiError> {
    let name = inner
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| validation(format!("{path}.name should be defined.")))?;
    if name.contains(',') {
        return Err(validation(format!(
            "{path}.name should not contain commas."
        )));
    }
    if name.chars().count() > 100 {
        return Err(validation(format!("{path}.name.length should be ≤ `100`.")));
    }
    Ok(json!({ "id": property_id(name), "name": name, "color": "default" }))
}

fn select(path: &str, inner: &Value) -> Result<Value, ApiError> {
    if inner.is_null() {
        return Ok(Value::Null);
    }
    option(path, inner)
}

fn multi_select(path: &str, inner: &Value) -> Result<Value, ApiError> {
    let items = inner
        .as_array()
        .ok_or_else(|| validation(format!("{path} should be an array.")))?;
    if items.len() > MAX_ITEMS {
        return Err(validation(format!(
            "{path}.length should be ≤ `{MAX_ITEMS}`, instead was `{}`.",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| option(&format!("{path}[{i}]"), item))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn plain(path: &str, inner: &Value) -> Result<Value, ApiError> {
    match inner {
        Value::Null => Ok(Value::Null),
        Value::String(s) if s.chars().count() <= 2_000 => Ok(inner.clone()),
        _ => Err(validation(format!(
            "{path} should be a string of at most 2000 characters or `null`."
        ))),
    }
}

/// A query filter as idbridge sends it: one property, `title` or `rich_text`, with `equals` or
/// `is_not_empty`. Anything else is refused, so a client sending more is caught in tests.
pub(super) struct Filter {
    property: String,
    equals: Option<String>,
}

impl Filter {
    pub(super) fn parse(
        filter: &Value,
        schema: &BTreeMap<String, String>,
    ) -> Result<Self, ApiError> {
        let property = filter
            .get("property")
            .and_then(Value::as_str)
            .ok_or_else(|| validation("body.filter.property should be defined.".to_owned()))?;
        let Some(kind) = schema.get(property) else {
            return Err(validation(format!(
                "Could not find property with name or id: {property}"
            )));
        };
        if !matches!(kind.as_str(), "title" | "rich_text") {
            return Err(validation(format!(
                "The emulator filters title and rich_text only, not {kind}."
            )));
        }
        let condition = filter.get(kind.as_str()).ok_or_else(|| {
            validation(format!(
                "body.filter.{kind} should be defined for a {kind} property."
            ))
        })?;
        if let Some(equals) = condition.get("equals").and_then(Value::as_str) {
            return Ok(Self {
                property: property.to_owned(),
                equals: Some(equals.to_owned()),
            });
        }
        if condition.get("is_not_empty") == Some(&Value::Bool(true)) {
            return Ok(Self {
                property: property.to_owned(),
                equals: None,
            });
        }
        Err(validation(format!(
            "body.filter.{kind} should hold `equals` or `is_not_empty: true` in this emulator."
        )))
    }

    pub(super) fn keeps(&self, properties: &Map<String, Value>) -> bool {
        let text = plain_text(properties.get(&self.property));
        match &self.equals {
            Some(value) => text == *value,
            None => !text.is_empty(),
        }
    }
}

/// A stored title or rich-text property as one text.
pub(super) fn plain_text(property: Option<&Value>) -> String {
    let Some(property) = property else {
        return String::new();
    };
    let kind = property.get("type").and_then(Value::as_str).unwrap_or("");
    property
        .get(kind)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("plain_text").and_then(Value::as_str))
                .collect::<String>()
        })
        .unwrap_or_default()
}
