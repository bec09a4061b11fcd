//! PATCH for the emulator (RFC 7644 §3.5.2): path parsing and the add/replace/remove operations,
//! applied to a resource held as a JSON object.
//!
//! Users and groups are both stored as JSON documents, so one implementation serves both. It
//! accepts every shape IdPs send to Notion (docs/notion.md, "Updates (PATCH and PUT)" and
//! "Groups"): ops in any case, the
//! value-as-object form (keys may themselves be paths, as Entra sends extension attributes),
//! dotted paths, extension-URN paths, and `attr[sub eq "v"].sub` value filters. Pure: no I/O.

use serde_json::{Map, Value};

use super::filter::{self, Filter};
use super::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, NOTION_SCHEMA, USER_SCHEMA};

/// A PATCH operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `add`: set, append to arrays, merge into objects.
    Add,
    /// `replace`: set, merge into objects, replace arrays.
    Replace,
    /// `remove`: clear the target.
    Remove,
}

impl Op {
    /// Parse an op name in any case (Entra sends `Replace`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "add" => Some(Self::Add),
            "replace" => Some(Self::Replace),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }
}

/// A PATCH failure, as the SCIM `scimType` and a detail sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    /// RFC 7644 §3.12 `scimType`.
    pub scim_type: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

fn error(scim_type: &'static str, detail: impl Into<String>) -> PatchError {
    PatchError {
        scim_type,
        detail: detail.into(),
    }
}

/// A parsed attribute path: the keys into the document, then an optional value filter on the
/// last key (a multi-valued attribute) and a sub-attribute of the matching elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPath {
    /// Keys from the document root; an extension is one key, its full URN.
    pub keys: Vec<String>,
    /// `[attr eq "value"]` on the last key.
    pub filter: Option<Filter>,
    /// `.sub` after the filter.
    pub sub: Option<String>,
}

const KNOWN: &[&str] = &[
    "userName",
    "name",
    "formatted",
    "givenName",
    "familyName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "emails",
    "phoneNumbers",
    "addresses",
    "photos",
    "roles",
    "externalId",
    "value",
    "type",
    "primary",
    "display",
    "manager",
    "department",
    "division",
    "costCenter",
    "organization",
    "employeeNumber",
    "role",
    "members",
    "streetAddress",
    "locality",
    "region",
    "postalCode",
    "country",
];

/// Attribute names are case-insensitive (RFC 7643 §2.1); store them in their canonical case.
fn canonical(name: &str) -> String {
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |k| (*k).to_owned())
}

/// Parse a PATCH `path`.
pub fn parse_path(path: &str) -> Result<PatchPath, PatchError> {
    let path = path.trim();
    if path.is_empty() {
        return Err(error("invalidPath", "The path is empty."));
    }
    let mut keys = Vec::new();
    let mut rest = path;
    if path.len() >= 4 && path[..4].eq_ignore_ascii_case("urn:") {
        let lower = path.to_ascii_lowercase();
        let schema = [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA, NOTION_SCHEMA]
            .into_iter()
            // Longest first, since the extension URNs do not share a prefix with the core ones
            // but a future one might.
            .filter(|urn| lower.starts_with(&urn.to_ascii_lowercase()))
            .max_by_key(|urn| urn.len())
            .ok_or_else(|| error("invalidPath", format!("The schema in {path:?} is unknown.")))?;
        let after = &path[schema.len()..];
        let is_core = schema == USER_SCHEMA || schema == GROUP_SCHEMA;
        if after.is_empty() {
            if is_core {
                return Err(error(
                    "invalidPath",
                    "A path cannot be a whole core schema.",
                ));
            }
            return Ok(PatchPath {
                keys: vec![schema.to_owned()],
                filter: None,
                sub: None,
            });
        }
        rest = after
            .strip_prefix(':')
            .ok_or_else(|| error("invalidPath", format!("The path {path:?} is malformed.")))?;
        if !is_core {
            keys.push(schema.to_owned());
        }
    }
    let (head, filter, sub) = match rest.find('[') {
        Some(open) => {
            let close = rest
                .rfind(']')
                .filter(|close| *close > open)
                .ok_or_else(|| error("invalidPath", format!("The path {path:?} has no ']'.")))?;
            let filter =
                filter::parse(&rest[open + 1..close]).map_err(|e| error("invalidFilter", e.0))?;
            let after = &rest[close + 1..];
            let sub = if after.is_empty() {
                None
            } else {
                let sub = after.strip_prefix('.').ok_or_else(|| {
                    error("invalidPath", format!("The path {path:?} is malformed."))
                })?;
                Some(canonical(sub))
            };
            (&rest[..open], Some(filter), sub)
        }
        None => (rest, None, None),
    };
    for part in head.split('.') {
        if part.is_empty() || !part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(error(
                "invalidPath",
                format!("The path {path:?} is malformed."),
            ));
        }
        keys.push(canonical(part));
    }
    let filter = filter.map(|f| Filter {
        attr: canonical(&f.attr),
        value: f.value,
    });
    Ok(PatchPath { keys, filter, sub })
}

/// Apply one operation to `doc`.
pub fn apply(
    doc: &mut Map<String, Value>,
    op: Op,
    path: Option<&str>,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    match path {
        Some(path) => apply_path(doc, op, &parse_path(path)?, value),
        None => {
            if op == Op::Remove {
                return Err(error("noTarget", "A remove operation needs a path."));
            }
            let Some(Value::Object(object)) = value else {
                return Err(error(
                    "invalidValue",
                    "An operation without a path needs an object value.",
                ));
            };
            for (key, value) in object {
                let parsed = parse_path(key)?;
                apply_path(doc, op, &parsed, Some(value))?;
            }
            Ok(())
        }
    }
}

fn apply_path(
    doc: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let Some((last, parents)) = path.keys.split_last() else {
        return Err(error("invalidPath", "The path is empty."));
    };
    if path.filter.is_some() && !parents.is_empty() {
        return Err(error(
            "invalidPath",
            "Value filters are supported on top-level attributes only.",
        ));
    }
    let mut target = doc;
    for key in parents {
        if op == Op::Remove && !target.contains_key(key) {
            return Ok(());
        }
        let slot = target
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return Err(error("invalidPath", "The path crosses a simple attribute."));
        };
        target = next;
    }
    if let Some(filter) = &path.filter {
        return apply_filtered(target, last, filter, path.sub.as_deref(), op, value);
    }
    match op {
        Op::Remove => {
            match (target.get_mut(last), value) {
                // The Entra form: remove the listed elements of a multi-valued attribute.
                (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                    items.retain(|item| !gone.iter().any(|g| same_element(item, g)));
                }
                _ => {
                    target.remove(last);
                }
            }
            Ok(())
        }
        Op::Add | Op::Replace => {
            let value =
                value.ok_or_else(|| error("invalidValue", "The operation has no value."))?;
            set(target, last, value.clone(), op);
            Ok(())
        }
    }
}

fn set(target: &mut Map<String, Value>, key: &str, value: Value, op: Op) {
    match (target.get_mut(key), value) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (k, v) in new {
                set(old, &k, v, op);
            }
        }
        (Some(Value::Array(old)), Value::Array(new)) if op == Op::Add => {
            for item in new {
                if !old.iter().any(|o| same_element(o, &item)) {
                    old.push(item);
                }
            }
        }
        (Some(Value::Array(old)), item @ Value::Object(_)) if op == Op::Add => {
            if !old.iter().any(|o| same_element(o, &item)) {
                old.push(item);
            }
        }
        (_, value) => {
            target.insert(key.to_owned(), value);
        }
    }
}

/// Elements of a multi-valued attribute are the same when their `value`s match (case-blind,
/// since emails and ids are both compared that way by Notion).
fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(Value::String(x)), Some(Value::String(y))) => x.eq_ignore_ascii_case(y),
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn matches(item: &Value, filter: &Filter) -> bool {
    match item.get(&filter.attr) {
        Some(Value::String(s)) => s.eq_ignore_ascii_case(&filter.value),
        Some(Value::Bool(b)) => b.to_string() == filter.value.to_ascii_lowercase(),
        Some(Value::Number(n)) => n.to_string() == filter.value,
        _ => false,
    }
}

fn apply_filtered(
    target: &mut Map<String, Value>,
    key: &str,
    filter: &Filter,
    sub: Option<&str>,
    op: Op,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    if op == Op::Remove {
        if let Some(Value::Array(items)) = target.get_mut(key) {
            match sub {
                Some(sub) => {
                    for item in items.iter_mut().filter(|i| matches(i, filter)) {
                        if let Value::Object(fields) = item {
                            fields.remove(sub);
                        }
                    }
                }
                None => items.retain(|item| !matches(item, filter)),
            }
        }
        return Ok(());
    }
    let value = value.ok_or_else(|| error("invalidValue", "The operation has no value."))?;
    let slot = target
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    let Value::Array(items) = slot else {
        return Err(error(
            "invalidPath",
            "The filtered attribute is not multi-valued.",
        ));
    };
    let mut found = false;
    for item in items.iter_mut().filter(|i| matches(i, filter)) {
        found = true;
        if let Value::Object(fields) = item {
            match (sub, value) {
                (Some(sub), v) => {
                    fields.insert(sub.to_owned(), v.clone());
                }
                (None, Value::Object(new)) => {
                    for (k, v) in new {
                        fields.insert(k.clone(), v.clone());
                    }
                }
                (None, _) => {
                    return Err(error(
                        "invalidValue",
                        "A filtered element needs an object value.",
                    ))
                }
            }
        }
    }
    if !found {
        // RFC 7644 §3.5.2.1: adding through a filter that matches nothing creates the element.
        let mut fields = Map::new();
        fields.insert(filter.attr.clone(), Value::String(filter.value.clone()));
        match (sub, value) {
            (Some(sub), v) => {
                fields.insert(sub.to_owned(), v.clone());
            }
            (None, Value::Object(new)) => fields.extend(new.clone()),
            (None, _) => {
                return Err(error(
                    "invalidValue",
                    "A filtered element needs an object value.",
                ))
            }
        }
        items.push(Value::Object(fields));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn parses_paths() {
        let p = parse_path("name.givenName").unwrap();
        assert_eq!(p.keys, ["name", "givenName"]);
        let p = parse_path("NAME.GIVENNAME").unwrap();
        assert_eq!(p.keys, ["name", "givenName"]);
        let p = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
            .unwrap();
        assert_eq!(p.keys, [ENTERPRISE_SCHEMA, "department"]);
        let p =
            parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
                .unwrap();
        assert_eq!(p.keys, [ENTERPRISE_SCHEMA, "manager", "value"]);
        let p = parse_path("urn:ietf:params:scim:schemas:extension:notion:2.0:User:role").unwrap();
        assert_eq!(p.keys, [NOTION_SCHEMA, "role"]);
        let p = parse_path("urn:ietf:params:scim:schemas:extension:notion:2.0:User").unwrap();
        assert_eq!(p.keys, [NOTION_SCHEMA]);
        let p = parse_path("urn:ietf:params:scim:schemas:core:2.0:User:title").unwrap();
        assert_eq!(p.keys, ["title"]);
        let p = parse_path("members[value eq \"abc\"]").unwrap();
        assert_eq!(p.keys, ["members"]);
        assert_eq!(p.filter.unwrap().value, "abc");
        let p = parse_path("emails[type eq \"work\"].value").unwrap();
        assert_eq!(p.sub.as_deref(), Some("value"));
        for bad in [
            "",
            "a..b",
            "urn:bogus:thing",
            "emails[type eq \"work\"",
            "x[type co \"a\"]",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn value_as_object_merges_and_sets() {
        let mut d = doc(json!({"name": {"givenName": "A", "familyName": "B"}, "active": true}));
        apply(
            &mut d,
            Op::Replace,
            None,
            Some(&json!({"active": false, "name": {"givenName": "C"},
                          "urn:ietf:params:scim:schemas:extension:notion:2.0:User": {"role": "owner"}})),
        )
        .unwrap();
        assert_eq!(d["active"], json!(false));
        assert_eq!(d["name"], json!({"givenName": "C", "familyName": "B"}));
        assert_eq!(d[NOTION_SCHEMA]["role"], json!("owner"));
        // Keys of a value object may be extension paths (Entra).
        apply(
            &mut d,
            Op::Add,
            None,
            Some(&json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D"})),
        )
        .unwrap();
        assert_eq!(d[ENTERPRISE_SCHEMA]["department"], json!("R&D"));
    }

    #[test]
    fn path_forms_set_and_remove() {
        let mut d = doc(json!({"title": "Eng"}));
        apply(
            &mut d,
            Op::Replace,
            Some("name.givenName"),
            Some(&json!("X")),
        )
        .unwrap();
        assert_eq!(d["name"]["givenName"], json!("X"));
        apply(
            &mut d,
            Op::Add,
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
            Some(&json!({"value": "boss@x.com"})),
        )
        .unwrap();
        assert_eq!(
            d[ENTERPRISE_SCHEMA]["manager"]["value"],
            json!("boss@x.com")
        );
        apply(&mut d, Op::Remove, Some("title"), None).unwrap();
        assert!(!d.contains_key("title"));
        apply(&mut d, Op::Remove, Some("nickName"), None).unwrap();
        assert!(Op::parse("Remove").is_some() && Op::parse("delete").is_none());
        assert_eq!(
            apply(&mut d, Op::Remove, None, None).unwrap_err().scim_type,
            "noTarget"
        );
    }

    #[test]
    fn multi_valued_attributes() {
        let mut d = doc(json!({"members": [{"value": "a"}, {"value": "b"}]}));
        apply(
            &mut d,
            Op::Add,
            Some("members"),
            Some(&json!([{"value": "c"}, {"value": "a"}])),
        )
        .unwrap();
        assert_eq!(d["members"].as_array().unwrap().len(), 3);
        apply(&mut d, Op::Remove, Some("members[value eq \"a\"]"), None).unwrap();
        apply(
            &mut d,
            Op::Remove,
            Some("members"),
            Some(&json!([{"value": "b"}])),
        )
        .unwrap();
        assert_eq!(d["members"], json!([{"value": "c"}]));
        apply(
            &mut d,
            Op::Replace,
            Some("members"),
            Some(&json!([{"value": "z"}])),
        )
        .unwrap();
        assert_eq!(d["members"], json!([{"value": "z"}]));
        apply(&mut d, Op::Remove, Some("members"), None).unwrap();
        assert!(!d.contains_key("members"));

        let mut d = doc(json!({"emails": [{"type": "work", "value": "a@x.com"}]}));
        apply(
            &mut d,
            Op::Replace,
            Some("emails[type eq \"work\"].value"),
            Some(&json!("b@x.com")),
        )
        .unwrap();
        assert_eq!(d["emails"], json!([{"type": "work", "value": "b@x.com"}]));
        apply(
            &mut d,
            Op::Add,
            Some("emails[type eq \"home\"].value"),
            Some(&json!("h@x.com")),
        )
        .unwrap();
        assert_eq!(d["emails"][1], json!({"type": "home", "value": "h@x.com"}));
        apply(
            &mut d,
            Op::Replace,
            Some("emails"),
            Some(&json!([{"value": "only@x.com"}])),
        )
        .unwrap();
        assert_eq!(d["emails"], json!([{"value": "only@x.com"}]));
    }
}
