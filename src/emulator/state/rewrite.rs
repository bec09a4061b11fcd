//! What the workspace keeps of a user document beyond Notion's documented rewrites (`users`):
//! the name model (Notion's one merged name, or every part as sent) and the attribute rules a
//! profile can turn on to play a target that lowercases or drops an attribute.

use super::State;
use crate::emulator::profile::NameModel;
use crate::emulator::ENTERPRISE_SCHEMA;
use serde_json::{json, Map, Value};

impl State {
    /// Rewrite `doc` (already normalised by `users`) into what this workspace stores and returns.
    pub(super) fn rewrite(&self, doc: &mut Map<String, Value>) {
        for name in &self.switches.drop_attributes {
            edit_attribute(doc, name, |_| None);
        }
        for name in &self.switches.lowercase_attributes {
            edit_attribute(doc, name, |v| match v {
                Value::String(s) => Some(Value::String(s.to_lowercase())),
                other => Some(other),
            });
        }
        if self.switches.name_model == NameModel::Single {
            single_name(doc);
        }
    }
}

/// Apply `edit` to the attribute called `name`: a core attribute, or one of the enterprise
/// extension's (`department`, `employeeNumber`); `None` drops it.
fn edit_attribute(doc: &mut Map<String, Value>, name: &str, edit: impl Fn(Value) -> Option<Value>) {
    let key = doc.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
    if let Some(key) = key {
        if let Some(value) = doc.remove(&key) {
            if let Some(kept) = edit(value) {
                doc.insert(key, kept);
            }
        }
        return;
    }
    let Some(Value::Object(ext)) = doc.get_mut(ENTERPRISE_SCHEMA) else {
        return;
    };
    let key = ext.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
    if let Some(key) = key {
        if let Some(value) = ext.remove(&key) {
            if let Some(kept) = edit(value) {
                ext.insert(key, kept);
            }
        }
    }
    if ext.is_empty() {
        doc.remove(ENTERPRISE_SCHEMA);
    }
}

/// Notion keeps one name per person (docs/notion.md, "Users"): `formatted` when sent, else the
/// parts joined. What comes back is that name as `displayName` and re-split on its first
/// whitespace as `givenName` and `familyName`; `formatted` is never returned (some real
/// accounts lack it) and a `displayName` sent is not a name field, so it is dropped.
fn single_name(doc: &mut Map<String, Value>) {
    let part = |key: &str| {
        doc.get("name")
            .and_then(|n| n.get(key))
            .and_then(Value::as_str)
            .map(collapse)
            .filter(|s| !s.is_empty())
    };
    let joined = [part("givenName"), part("familyName")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let merged = part("formatted").or((!joined.is_empty()).then_some(joined));
    doc.remove("name");
    doc.remove("displayName");
    match merged {
        Some(full) => {
            let mut name = Map::new();
            match full.split_once(' ') {
                Some((given, family)) => {
                    name.insert("givenName".into(), json!(given));
                    name.insert("familyName".into(), json!(family));
                }
                None => {
                    name.insert("givenName".into(), json!(full));
                }
            }
            doc.insert("name".into(), Value::Object(name));
            doc.insert("displayName".into(), json!(full));
        }
        None => {
            // Notion shows every member by some name: with none, the email.
            if let Some(user_name) = doc.get("userName").cloned() {
                doc.insert("displayName".into(), user_name);
            }
        }
    }
}

/// Inner runs of whitespace as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn one_name_is_kept_and_read_back_re_split() {
        let mut d = doc(json!({
            "userName": "m@example.com",
            "name": {"givenName": "Mary  Ann", "familyName": "Smith"},
            "displayName": "Countess"
        }));
        single_name(&mut d);
        assert_eq!(
            Value::Object(d),
            json!({
                "userName": "m@example.com",
                "name": {"givenName": "Mary", "familyName": "Ann Smith"},
                "displayName": "Mary Ann Smith"
            })
        );
        let mut d = doc(
            json!({"userName": "a@example.com", "name": {"formatted": "Ada", "givenName": "X"}}),
        );
        single_name(&mut d);
        assert_eq!(d["name"], json!({"givenName": "Ada"}));
        assert_eq!(d["displayName"], json!("Ada"));
        let mut d = doc(json!({"userName": "n@example.com", "displayName": "Nobody"}));
        single_name(&mut d);
        assert!(!d.contains_key("name"));
        assert_eq!(d["displayName"], json!("n@example.com"));
    }

    #[test]
    fn the_defaults_are_notion_strict_and_a_profile_can_change_them() {
        use crate::emulator::profile::{Profile, DEFAULT_VERIFIED_DOMAIN};
        let default = Profile::default();
        assert_eq!(default.switches.name_model, NameModel::Single);
        assert!(default.switches.verified_domains_only);
        assert_eq!(default.seed.verified_domains, [DEFAULT_VERIFIED_DOMAIN]);
        let p = Profile::from_toml_str(
            "[switches]\nname_model = \"as-sent\"\nlowercase_attributes = [\"title\"]\n\
             drop_attributes = [\"department\"]\n[seed]\nverified_domains = [\"acme.test\"]\n",
        )
        .unwrap();
        assert_eq!(p.switches.name_model, NameModel::AsSent);
        assert_eq!(p.switches.lowercase_attributes, ["title"]);
        assert_eq!(p.switches.drop_attributes, ["department"]);
        assert_eq!(p.seed.verified_domains, ["acme.test"]);
        assert!(Profile::from_toml_str("[switches]\nname_model = \"two\"").is_err());
    }

    #[test]
    fn attributes_are_lowercased_or_dropped_core_and_enterprise() {
        let mut d = doc(json!({
            "title": "Lead",
            ENTERPRISE_SCHEMA: {"department": "R&D", "employeeNumber": "E1"}
        }));
        edit_attribute(&mut d, "title", |v| {
            Some(json!(v.as_str().unwrap().to_lowercase()))
        });
        edit_attribute(&mut d, "department", |_| None);
        assert_eq!(
            Value::Object(d.clone()),
            json!({"title": "lead", ENTERPRISE_SCHEMA: {"employeeNumber": "E1"}})
        );
        edit_attribute(&mut d, "employeeNumber", |_| None);
        assert_eq!(Value::Object(d), json!({"title": "lead"}));
    }
}
