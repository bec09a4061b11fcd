//! Users: their SCIM representation, what Notion keeps of a user document and how it rewrites
//! it, create (a removed member is added back), replace, patch, and removal from the workspace
//! (sessions, group memberships and the owner's tokens go; the account lives on).

use super::Meta;
use super::{emails_of, operations, patch, Account, ApiError, Reply, State, Status};
use crate::emulator::profile::{DuplicatePost, ROLES};
use crate::emulator::{ENTERPRISE_SCHEMA, NOTION_SCHEMA, USER_SCHEMA};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

/// Core attributes a user document keeps; anything else a client sends is dropped silently.
const USER_KEYS: &[&str] = &[
    "externalId",
    "userName",
    "name",
    "displayName",
    "nickName",
    "profileUrl",
    "emails",
    "phoneNumbers",
    "addresses",
    "photos",
    "roles",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    ENTERPRISE_SCHEMA,
    NOTION_SCHEMA,
];

/// A user as the API shows them, written straight from the account: a list page of a large
/// workspace is serialized without first building (cloning) every user's document.
pub(super) struct UserOut<'a> {
    pub(super) a: &'a Account,
}

impl Serialize for UserOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.a;
        let mut out = s.serialize_map(None)?;
        // Notion lists only the core URN even when extension objects are present (docs/notion.md, "Users").
        out.serialize_entry("schemas", &[USER_SCHEMA])?;
        out.serialize_entry("id", &a.id)?;
        for key in USER_KEYS {
            if *key == "active" {
                out.serialize_entry("active", &(a.status == Status::Member))?;
            } else if let Some(v) = a.doc.get(*key) {
                out.serialize_entry(key, v)?;
            }
        }
        if !a.doc.contains_key("photos") {
            out.serialize_entry("photos", &[(); 0])?;
        }
        let meta = Meta {
            kind: "User",
            id: &a.id,
            created: a.created_ms,
            modified: a.modified_ms,
        };
        out.serialize_entry("meta", &meta)?;
        out.end()
    }
}

impl State {
    pub fn user_json(&self, a: &Account) -> Value {
        // Serializing a map with string keys cannot fail.
        serde_json::to_value(UserOut { a }).unwrap_or(Value::Null)
    }

    fn user_index(&self, id: &str) -> Result<usize, ApiError> {
        self.account_at(id)
            .filter(|at| self.visible(&self.accounts[*at]))
            .ok_or_else(|| ApiError::not_found("User", id))
    }

    pub fn get_user(&self, id: &str) -> Reply {
        let at = self.user_index(id)?;
        Ok((200, Some(self.user_json(&self.accounts[at]))))
    }

    /// Keep what Notion stores, in the form it returns it.
    fn normalize_user(&self, body: &Value) -> Result<Map<String, Value>, ApiError> {
        let Value::Object(input) = body else {
            return Err(ApiError::typed(
                400,
                "invalidSyntax",
                "A user must be a JSON object.",
            ));
        };
        let mut doc = known_keys(input);
        let user_name = user_name_of(&doc)?;
        doc.insert("userName".into(), json!(user_name));
        if !self.switches.keep_external_id {
            doc.remove("externalId");
        }
        normalize_emails(&mut doc, &user_name)?;
        keep_one_phone(&mut doc);
        self.rewrite(&mut doc);
        self.check_extensions(&mut doc)?;
        normalize_active(&mut doc)?;
        Ok(doc)
    }

    /// The two extensions are objects (an empty enterprise one is dropped), and a Notion role is
    /// a string, one of Notion's when the profile refuses others.
    fn check_extensions(&self, doc: &mut Map<String, Value>) -> Result<(), ApiError> {
        for ext in [ENTERPRISE_SCHEMA, NOTION_SCHEMA] {
            match doc.get(ext) {
                Some(Value::Object(o)) if o.is_empty() && ext == ENTERPRISE_SCHEMA => {
                    doc.remove(ext);
                }
                Some(Value::Object(_)) | None => {}
                Some(_) => {
                    return Err(ApiError::typed(
                        400,
                        "invalidValue",
                        format!("{ext} must be an object."),
                    ))
                }
            }
        }
        let Some(ext) = doc.get(NOTION_SCHEMA) else {
            return Ok(());
        };
        match ext.get("role") {
            Some(Value::String(role)) => {
                if self.switches.reject_unknown_role && !ROLES.contains(&role.as_str()) {
                    return Err(ApiError::typed(
                        400,
                        "invalidValue",
                        format!("The role {role:?} is not one of {}.", ROLES.join(", ")),
                    ));
                }
                Ok(())
            }
            _ => Err(ApiError::typed(
                400,
                "invalidValue",
                "A Notion role must be a string.",
            )),
        }
    }

    fn domain_verified(&self, user_name: &str) -> bool {
        user_name
            .rsplit_once('@')
            .is_some_and(|(_, d)| self.verified_domains.iter().any(|v| v == d))
    }

    /// Emails `doc` claims that another account already owns.
    fn email_conflict(&self, doc: &Map<String, Value>, except: Option<&str>) -> Option<String> {
        let mut claimed = emails_of(doc);
        if let Some(u) = doc.get("userName").and_then(Value::as_str) {
            claimed.push(u.to_owned());
        }
        claimed.into_iter().find(|email| {
            self.owners_of(email)
                .iter()
                .any(|at| Some(self.accounts[*at].id.as_str()) != except)
        })
    }

    pub fn create_user(&mut self, body: &Value) -> Reply {
        let mut doc = self.normalize_user(body)?;
        let active = doc
            .remove("active")
            .and_then(|a| a.as_bool())
            .unwrap_or(true);
        let user_name = doc
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        doc.entry(NOTION_SCHEMA.to_owned())
            .or_insert_with(|| json!({"role": "member"}));
        if !doc.contains_key("photos") {
            doc.insert("photos".into(), json!([]));
        }
        let create_status = self.switches.create_status;
        let now = self.now_ms();
        let existing = self.owners_of(&user_name).first().copied();
        if let Some(at) = existing {
            if self.accounts[at].status == Status::Member {
                return match self.switches.duplicate_post {
                    DuplicatePost::Conflict => Err(ApiError::typed(
                        409,
                        "uniqueness",
                        format!("{user_name} is already a member of this workspace."),
                    )),
                    DuplicatePost::ReturnExisting => {
                        Ok((200, Some(self.user_json(&self.accounts[at]))))
                    }
                };
            }
        }
        if let Some(email) =
            self.email_conflict(&doc, existing.map(|at| self.accounts[at].id.as_str()))
        {
            return Err(ApiError::typed(
                409,
                "uniqueness",
                format!("{email} already belongs to another account."),
            ));
        }
        let status = if active {
            Status::Member
        } else {
            Status::Removed
        };
        let id = self.add_account(existing, status, doc, now);
        let at = self.user_index_any(&id)?;
        Ok((create_status, Some(self.user_json(&self.accounts[at]))))
    }

    /// Store a created user: an account known to Notion (a removed member or a guest) is added
    /// back (docs/notion.md, "Creating, removing and re-adding"), keeping its id when the profile says so; anyone else is a new account.
    fn add_account(
        &mut self,
        existing: Option<usize>,
        status: Status,
        doc: Map<String, Value>,
        now: i64,
    ) -> String {
        match existing {
            // An account known to Notion (a removed member or a guest) is added back
            // (docs/notion.md, "Creating, removing and re-adding").
            Some(at) => {
                let keep =
                    self.switches.readd_keeps_id || self.accounts[at].status == Status::Guest;
                let id = if keep {
                    self.accounts[at].id.clone()
                } else {
                    self.new_id()
                };
                let seq = self.seq();
                self.edit_account(at, |account| {
                    account.id = id.clone();
                    account.seq = seq;
                    account.status = status;
                    account.doc = doc;
                    account.modified_ms = now;
                });
                id
            }
            None => {
                let id = self.new_id();
                let seq = self.seq();
                self.push_account(Account {
                    id: id.clone(),
                    seq,
                    status,
                    doc,
                    created_ms: now,
                    modified_ms: now,
                });
                id
            }
        }
    }

    fn user_index_any(&self, id: &str) -> Result<usize, ApiError> {
        self.account_at(id)
            .ok_or_else(|| ApiError::not_found("User", id))
    }

    /// The document a PATCH or PUT starts from: what is stored plus `active`.
    fn editable_doc(&self, at: usize) -> Map<String, Value> {
        let mut doc = self.accounts[at].doc.clone();
        doc.insert(
            "active".into(),
            json!(self.accounts[at].status == Status::Member),
        );
        doc
    }

    pub fn replace_user(&mut self, id: &str, body: &Value, token: &str) -> Reply {
        let at = self.user_index(id)?;
        let mut doc = self.normalize_user(body)?;
        let old = &self.accounts[at].doc;
        // Photos are read only on create (docs/notion.md, "Updates (PATCH and PUT)"); a PUT without the role keeps it, since Notion
        // users always carry one.
        doc.remove("photos");
        if let Some(photos) = old.get("photos") {
            doc.insert("photos".into(), photos.clone());
        }
        if !doc.contains_key(NOTION_SCHEMA) {
            if let Some(ext) = old.get(NOTION_SCHEMA) {
                doc.insert(NOTION_SCHEMA.into(), ext.clone());
            }
        }
        doc.entry("active".to_owned()).or_insert(json!(true));
        self.commit_user(at, doc, token)
    }

    pub fn patch_user(&mut self, id: &str, body: &Value, token: &str) -> Reply {
        let at = self.user_index(id)?;
        self.check_patch_forms(body)?;
        let mut doc = self.editable_doc(at);
        for (op, path, value) in operations(body)? {
            if path
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case("photos"))
            {
                continue;
            }
            patch::apply(&mut doc, op, path.as_deref(), value.as_ref())?;
        }
        // Photos are read only on create (docs/notion.md, "Updates (PATCH and PUT)").
        doc.remove("photos");
        if let Some(photos) = self.accounts[at].doc.get("photos") {
            doc.insert("photos".into(), photos.clone());
        }
        if self.accounts[at].doc.contains_key(NOTION_SCHEMA) && !doc.contains_key(NOTION_SCHEMA) {
            return Err(ApiError::typed(
                400,
                "mutability",
                "A member's role cannot be removed.",
            ));
        }
        let doc = self.normalize_user(&Value::Object(doc))?;
        self.commit_user(at, doc, token)
    }

    /// Check and store an edited user; `active: false` removes it from the workspace.
    fn commit_user(&mut self, at: usize, mut doc: Map<String, Value>, token: &str) -> Reply {
        let active = doc
            .remove("active")
            .and_then(|a| a.as_bool())
            .unwrap_or(true);
        let account = &self.accounts[at];
        let id = account.id.clone();
        let was_member = account.status == Status::Member;
        if self.switches.verified_domains_only && !self.domain_verified(account.user_name()) {
            let touched = ["userName", "name", "displayName", "emails"]
                .iter()
                .any(|k| account.doc.get(*k) != doc.get(*k));
            if touched {
                return Err(ApiError::new(
                    self.switches.verified_domain_status,
                    format!(
                        "{} is not in a verified domain, so its name and email cannot be changed.",
                        account.user_name()
                    ),
                ));
            }
        }
        if let Some(email) = self.email_conflict(&doc, Some(&id)) {
            return Err(ApiError::typed(
                409,
                "uniqueness",
                format!("{email} already belongs to another account."),
            ));
        }
        let role_changed = account.role()
            != doc
                .get(NOTION_SCHEMA)
                .and_then(|e| e.get("role"))
                .and_then(Value::as_str);
        if was_member && !active {
            self.check_removable(&id, token)?;
        }
        if !was_member && active && !self.switches.patch_reactivates {
            return Err(ApiError::typed(
                400,
                "mutability",
                "A removed member comes back with POST /Users, not active: true.",
            ));
        }
        let now = self.now_ms();
        self.edit_account(at, |account| {
            account.doc = doc;
            account.modified_ms = now;
            if active && !was_member {
                account.status = Status::Member;
            }
        });
        if role_changed {
            // A token dies when its creator's role changes (docs/notion.md, "Tokens").
            self.revoke_tokens_of(&id);
        }
        if was_member && !active {
            self.remove_member(&id);
        }
        let at = self.user_index_any(&id)?;
        Ok((200, Some(self.user_json(&self.accounts[at]))))
    }

    fn check_removable(&self, id: &str, token: &str) -> Result<(), ApiError> {
        let own = self
            .tokens
            .iter()
            .any(|t| t.token == token && t.owner_id == id);
        if own {
            return Err(ApiError::new(
                self.switches.owner_removal_status,
                "The owner who created this SCIM token cannot be removed through the API.",
            ));
        }
        Ok(())
    }

    /// Removal from the workspace: sessions end, group memberships go, and an owner's tokens
    /// are revoked (docs/notion.md, "Creating, removing and re-adding"). The account itself lives on, so a POST can add it back.
    fn remove_member(&mut self, id: &str) {
        let now = self.now_ms();
        if let Some(at) = self.account_at(id) {
            let user_name = self.accounts[at].user_name().to_owned();
            self.removals.push(super::Removal {
                id: id.to_owned(),
                user_name,
            });
            self.edit_account(at, |a| {
                a.status = Status::Removed;
                a.modified_ms = now;
            });
        }
        self.revoke_tokens_of(id);
        for g in self.groups.iter_mut() {
            let before = g.members.len();
            g.members.retain(|m| m != id);
            if g.members.len() != before {
                g.modified_ms = now;
            }
        }
    }

    pub fn delete_user(&mut self, id: &str, token: &str) -> Reply {
        let at = self
            .account_at(id)
            .filter(|at| self.accounts[*at].status == Status::Member)
            .ok_or_else(|| ApiError::not_found("User", id))?;
        let id = self.accounts[at].id.clone();
        self.check_removable(&id, token)?;
        self.remove_member(&id);
        Ok((self.switches.delete_status, None))
    }
}

fn has_value(p: &Value) -> bool {
    p.get("value")
        .and_then(Value::as_str)
        .is_some_and(|v| !v.trim().is_empty())
}

/// The core attributes of `input`, under their canonical names; anything else, and nulls, are
/// dropped silently.
fn known_keys(input: &Map<String, Value>) -> Map<String, Value> {
    let mut doc = Map::new();
    for (key, value) in input {
        let canonical = USER_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key));
        if let Some(k) = canonical {
            if !value.is_null() {
                doc.insert((*k).to_owned(), value.clone());
            }
        }
    }
    doc
}

/// `userName`: required, an email, lowercased.
fn user_name_of(doc: &Map<String, Value>) -> Result<String, ApiError> {
    let user_name = doc
        .get("userName")
        .and_then(Value::as_str)
        .map(|u| u.trim().to_ascii_lowercase())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::typed(400, "invalidValue", "userName is required."))?;
    if !user_name.contains('@') {
        return Err(ApiError::typed(
            400,
            "invalidValue",
            "userName must be an email address.",
        ));
    }
    Ok(user_name)
}

/// Emails lowercased, at most 5; without any, the userName is the primary work email.
fn normalize_emails(doc: &mut Map<String, Value>, user_name: &str) -> Result<(), ApiError> {
    match doc.get_mut("emails") {
        Some(Value::Array(items)) => {
            for item in items.iter_mut() {
                if let Some(Value::String(v)) = item.get_mut("value") {
                    *v = v.trim().to_ascii_lowercase();
                }
            }
            if items.len() > 5 {
                return Err(ApiError::typed(
                    400,
                    "invalidValue",
                    "At most 5 emails per account.",
                ));
            }
        }
        Some(_) => {
            return Err(ApiError::typed(
                400,
                "invalidValue",
                "emails must be an array.",
            ));
        }
        None => {
            doc.insert(
                "emails".into(),
                json!([{"value": user_name, "primary": true, "type": "work"}]),
            );
        }
    }
    Ok(())
}

/// Notion keeps one number: the primary, else the first with a value (docs/notion.md, "Users").
fn keep_one_phone(doc: &mut Map<String, Value>) {
    let Some(phones) = doc.get("phoneNumbers").and_then(Value::as_array) else {
        return;
    };
    let kept = phones
        .iter()
        .find(|p| p.get("primary") == Some(&json!(true)) && has_value(p))
        .or_else(|| phones.iter().find(|p| has_value(p)))
        .map(|p| {
            let mut one = Map::new();
            for key in ["value", "type", "primary"] {
                if let Some(v) = p.get(key) {
                    one.insert(key.to_owned(), v.clone());
                }
            }
            Value::Object(one)
        });
    match kept {
        Some(p) => doc.insert("phoneNumbers".into(), json!([p])),
        None => doc.remove("phoneNumbers"),
    };
}

/// `active` is a boolean. Entra has sent `"value": "False"`: booleans written as strings are
/// read too.
fn normalize_active(doc: &mut Map<String, Value>) -> Result<(), ApiError> {
    if let Some(Value::String(text)) = doc.get("active") {
        match text.to_ascii_lowercase().as_str() {
            "true" => doc.insert("active".into(), json!(true)),
            "false" => doc.insert("active".into(), json!(false)),
            _ => None,
        };
    }
    match doc.get("active") {
        Some(active) if !active.is_boolean() => Err(ApiError::typed(
            400,
            "invalidValue",
            "active must be a boolean.",
        )),
        _ => Ok(()),
    }
}
