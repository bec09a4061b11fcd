//! Groups: their SCIM representation (members with their `display`), create, replace, patch
//! (with Notion's per-PATCH member cap) and delete (refused for a group that alone gives some
//! pages full access).

use super::listing::{exclude, ListQuery};
use super::{operations, patch, ApiError, Group, Reply, State, Status};
use crate::emulator::profile::DuplicateGroup;
use crate::emulator::GROUP_SCHEMA;
use serde_json::{json, Map, Value};

impl State {
    pub(super) fn group_json(&self, g: &Group) -> Value {
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|m| {
                let display = self.account(m).map(|a| a.user_name().to_owned());
                json!({"value": m, "display": display})
            })
            .collect();
        let mut out = Map::new();
        out.insert("schemas".into(), json!([GROUP_SCHEMA]));
        out.insert("id".into(), json!(g.id));
        if let Some(external_id) = &g.external_id {
            out.insert("externalId".into(), json!(external_id));
        }
        out.insert("displayName".into(), json!(g.display_name));
        out.insert("members".into(), Value::Array(members));
        out.insert(
            "meta".into(),
            self.meta("Group", &g.id, g.created_ms, g.modified_ms),
        );
        Value::Object(out)
    }

    fn group_index(&self, id: &str) -> Result<usize, ApiError> {
        self.groups
            .iter()
            .position(|g| g.id == id)
            .ok_or_else(|| ApiError::not_found("Group", id))
    }

    pub fn get_group(&self, id: &str, query: &ListQuery) -> Reply {
        let at = self.group_index(id)?;
        let mut body = self.group_json(&self.groups[at]);
        exclude(&mut body, &query.excluded);
        Ok((200, Some(body)))
    }

    /// Read `displayName`, `members` and `externalId` from a group document, checking members.
    fn group_fields(
        &self,
        doc: &Map<String, Value>,
    ) -> Result<(String, Vec<String>, Option<String>), ApiError> {
        let display_name = doc
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| ApiError::typed(400, "invalidValue", "displayName is required."))?
            .to_owned();
        let mut members: Vec<String> = Vec::new();
        // A large group repeats no member without a quadratic `contains`.
        let mut seen = std::collections::HashSet::new();
        match doc.get("members") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let value = item.get("value").and_then(Value::as_str).ok_or_else(|| {
                        ApiError::typed(400, "invalidValue", "Each member needs a value.")
                    })?;
                    match self.account(value) {
                        Some(a) if a.status == Status::Member => {
                            if seen.insert(a.id.as_str()) {
                                members.push(a.id.clone());
                            }
                        }
                        // Groups hold members only, never guests (docs/notion.md, "Groups").
                        _ => {
                            return Err(ApiError::typed(
                                400,
                                "invalidValue",
                                format!("{value} is not a member of this workspace."),
                            ))
                        }
                    }
                }
            }
            Some(_) => {
                return Err(ApiError::typed(
                    400,
                    "invalidValue",
                    "members must be an array.",
                ))
            }
        }
        let external_id = doc
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|_| self.switches.keep_external_id);
        Ok((display_name, members, external_id))
    }

    fn name_taken(&self, name: &str, except: Option<&str>) -> bool {
        self.groups
            .iter()
            .any(|g| Some(g.id.as_str()) != except && g.display_name.eq_ignore_ascii_case(name))
    }

    pub fn create_group(&mut self, body: &Value) -> Reply {
        let Value::Object(doc) = body else {
            return Err(ApiError::typed(
                400,
                "invalidSyntax",
                "A group must be a JSON object.",
            ));
        };
        let doc = canonical_keys(doc);
        let (display_name, members, external_id) = self.group_fields(&doc)?;
        let unique = self.switches.duplicate_group_name == DuplicateGroup::Conflict;
        if unique && self.name_taken(&display_name, None) {
            return Err(ApiError::typed(
                409,
                "uniqueness",
                format!("A group named {display_name} exists."),
            ));
        }
        let id = self.new_id();
        let seq = self.seq();
        let now = self.now_ms();
        let group = Group {
            id,
            seq,
            display_name,
            members,
            external_id,
            sole_full_access: false,
            created_ms: now,
            modified_ms: now,
        };
        let body = self.group_json(&group);
        self.groups.push(group);
        Ok((self.switches.create_status, Some(body)))
    }

    fn store_group(&mut self, at: usize, doc: &Map<String, Value>) -> Reply {
        let (display_name, members, external_id) = self.group_fields(doc)?;
        let id = self.groups[at].id.clone();
        let unique = self.switches.duplicate_group_name == DuplicateGroup::Conflict;
        if unique && self.name_taken(&display_name, Some(&id)) {
            return Err(ApiError::typed(
                409,
                "uniqueness",
                format!("A group named {display_name} exists."),
            ));
        }
        let now = self.now_ms();
        let group = &mut self.groups[at];
        group.display_name = display_name;
        group.members = members;
        group.external_id = external_id;
        group.modified_ms = now;
        Ok((200, Some(self.group_json(&self.groups[at]))))
    }

    pub fn replace_group(&mut self, id: &str, body: &Value) -> Reply {
        let at = self.group_index(id)?;
        let Value::Object(doc) = body else {
            return Err(ApiError::typed(
                400,
                "invalidSyntax",
                "A group must be a JSON object.",
            ));
        };
        self.store_group(at, &canonical_keys(doc))
    }

    pub fn patch_group(&mut self, id: &str, body: &Value) -> Reply {
        let at = self.group_index(id)?;
        self.check_patch_forms(body)?;
        let group = &self.groups[at];
        let mut doc = Map::new();
        doc.insert("displayName".into(), json!(group.display_name));
        if let Some(external_id) = &group.external_id {
            doc.insert("externalId".into(), json!(external_id));
        }
        let members: Vec<Value> = group.members.iter().map(|m| json!({"value": m})).collect();
        doc.insert("members".into(), Value::Array(members));
        let ops = operations(body)?;
        if let Some(cap) = self.switches.group_members_per_patch_cap {
            let touched: usize = ops
                .iter()
                .map(|(_, p, v)| members_touched(p.as_deref(), v.as_ref()))
                .sum();
            if touched > cap {
                return Err(ApiError::typed(
                    400,
                    "tooMany",
                    format!("At most {cap} members may change in one PATCH; this one changes {touched}."),
                ));
            }
        }
        for (op, path, value) in ops {
            patch::apply(&mut doc, op, path.as_deref(), value.as_ref())?;
        }
        self.store_group(at, &doc)
    }

    pub fn delete_group(&mut self, id: &str) -> Reply {
        let at = self.group_index(id)?;
        if self.groups[at].sole_full_access {
            return Err(ApiError::typed(
                self.switches.group_delete_refused_status,
                "mutability",
                "Deleting this group would leave pages with nobody having full access.",
            ));
        }
        self.groups.remove(at);
        Ok((self.switches.delete_status, None))
    }

    pub fn set_sole_full_access(&mut self, group_id: &str, on: bool) {
        for g in self.groups.iter_mut().filter(|g| g.id == group_id) {
            g.sole_full_access = on;
        }
    }
}

fn canonical_keys(doc: &Map<String, Value>) -> Map<String, Value> {
    doc.iter()
        .filter_map(|(k, v)| {
            ["displayName", "members", "externalId"]
                .into_iter()
                .find(|c| c.eq_ignore_ascii_case(k))
                .map(|c| (c.to_owned(), v.clone()))
        })
        .collect()
}

/// How many members one group PATCH operation adds or removes (for the per-PATCH cap).
fn members_touched(path: Option<&str>, value: Option<&Value>) -> usize {
    let count = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
    match path {
        Some(p) if p.to_ascii_lowercase().starts_with("members[") => 1,
        Some(p) if p.eq_ignore_ascii_case("members") => count(value),
        Some(_) => 0,
        None => count(value.and_then(|v| {
            v.as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("members")))
                .map(|(_, v)| v)
        })),
    }
}
