//! Target profiles: the only place that knows how Notion differs from a plain RFC 7643/7644 service.
//!
//! A profile turns target users into the managed attributes the planner compares, normalises desired
//! attributes the same way (so a second sync makes zero writes), and builds request bodies and
//! filters. The Notion facts used here are in docs/notion.md: emails are lowercased and
//! `name.formatted` may be missing and the role extension absent, meaning `member` ("Users"), the
//! lookup filter is `email eq` ("Filters"), and members leave a group in Entra's form, the one
//! Entra provisions Notion with ("Groups").

use super::wire::{self, ENTERPRISE_URN, GROUP_URN, NOTION_URN, PATCH_OP_URN, USER_URN};
use crate::model::{Attr, NameModel, ScimId, TargetUser, UserAttrs};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Which kind of SCIM service the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Notion's SCIM API.
    Notion,
    /// Any RFC 7644 service.
    Scim,
}

/// How a user is looked up by name (after a lost create reply, or a 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `filter=email eq "…"` (Notion's documented filter).
    EmailEq,
    /// `filter=userName eq "…"` (RFC 7644).
    UserNameEq,
}

/// How members are removed from a group in a PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRemoval {
    /// One `{"op":"remove","path":"members[value eq \"id\"]"}` per member (RFC 7644 §3.5.2.2, Okta).
    PathFilter,
    /// `{"op":"remove","path":"members","value":[{"value":"id"},…]}` (Entra's form; Entra
    /// provisions Notion groups with it).
    ValueList,
}

/// How a PatchOp's `op` is spelled: RFC 7644's lowercase (`replace`), or capitalised
/// (`Replace`, as Entra sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCase {
    /// `add`, `replace`, `remove`.
    Lower,
    /// `Add`, `Replace`, `Remove`.
    Capitalized,
}

/// How an `add` or `replace` names what it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetForm {
    /// One operation per attribute, each with a `path`.
    Path,
    /// One operation without a path whose value is an object of attribute paths to values
    /// (Entra's `{"op": "Replace", "value": {"active": false}}`).
    ValueObject,
}

/// One way to write a PATCH body: every choice a target might refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchForm {
    /// The spelling of `op`.
    pub case: OpCase,
    /// How `add`/`replace` name what they set.
    pub set: SetForm,
    /// How members leave a group.
    pub removal: MemberRemoval,
}

impl MemberRemoval {
    /// The other form.
    pub fn other(self) -> Self {
        match self {
            Self::PathFilter => Self::ValueList,
            Self::ValueList => Self::PathFilter,
        }
    }
}

impl SetForm {
    /// The other form.
    pub fn other(self) -> Self {
        match self {
            Self::Path => Self::ValueObject,
            Self::ValueObject => Self::Path,
        }
    }
}

impl OpCase {
    /// The other spelling.
    pub fn other(self) -> Self {
        match self {
            Self::Lower => Self::Capitalized,
            Self::Capitalized => Self::Lower,
        }
    }
}

/// How a person who left and came back is put back in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readd {
    /// `POST /Users` again with the same email: Notion removes a deactivated member from the
    /// workspace, and re-adds one by POST; the id may change.
    Recreate,
    /// Switch the kept user back on (`active: true`), then patch it (RFC 7644 services keep a
    /// deactivated user).
    Reactivate,
}

/// A target profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The kind of target.
    pub kind: TargetKind,
    /// Send and compare `externalId` (false when the target drops it).
    pub external_id: bool,
    /// The lookup filter.
    pub lookup: Lookup,
    /// The target lowercases emails (and `userName`, which is an email), so compare them lowercased.
    pub lowercase_emails: bool,
    /// The role to assume when a user has no role extension (`member` for Notion).
    pub default_role: Option<String>,
    /// The group-member removal form.
    pub member_removal: MemberRemoval,
    /// `Content-Type` of request bodies. Notion is known to take `application/json` (third-party
    /// clients in production); RFC 7644 §3.1 names `application/scim+json`.
    pub content_type: &'static str,
    /// How a returning person is put back.
    pub readd: Readd,
    /// How the target keeps names, so they are compared as kept: Notion keeps one name per
    /// person (docs/notion.md, "Users"), a plain SCIM service every part as sent.
    pub name_model: NameModel,
    /// Whether the role is read, compared and sent ([`Profile::role_attr`]): only when `[roles]`
    /// is configured, so a config without it never reads or writes a role.
    pub roles: bool,
}

impl Profile {
    /// Notion's SCIM API.
    pub fn notion() -> Self {
        Self {
            kind: TargetKind::Notion,
            external_id: false,
            lookup: Lookup::EmailEq,
            lowercase_emails: true,
            default_role: Some("member".to_owned()),
            member_removal: MemberRemoval::ValueList,
            content_type: "application/json",
            readd: Readd::Recreate,
            name_model: NameModel::Single,
            roles: false,
        }
    }

    /// A plain RFC 7644 service.
    pub fn scim() -> Self {
        Self {
            kind: TargetKind::Scim,
            external_id: true,
            lookup: Lookup::UserNameEq,
            lowercase_emails: false,
            default_role: None,
            member_removal: MemberRemoval::PathFilter,
            content_type: "application/scim+json",
            readd: Readd::Reactivate,
            name_model: NameModel::Parts,
            roles: false,
        }
    }

    /// The profile for a target kind.
    pub fn for_kind(kind: TargetKind) -> Self {
        match kind {
            TargetKind::Notion => Self::notion(),
            TargetKind::Scim => Self::scim(),
        }
    }

    /// What to do about a rejected token, naming where it is configured (`token_source`, e.g.
    /// "the file /etc/idbridge/token"; never the token). Notion revokes a token when the owner who
    /// created it leaves the workspace or changes role (docs/notion.md, "Tokens"); other services get
    /// generic wording.
    pub fn token_advice(&self, token_source: &str) -> String {
        match self.kind {
            TargetKind::Notion => format!(
                "Notion revokes a SCIM token when the workspace owner who created it leaves the \
                 workspace or changes role; have a workspace owner create a new token, then update \
                 {token_source}"
            ),
            TargetKind::Scim => {
                format!("create a new token in the target service, then update {token_source}")
            }
        }
    }

    /// What a refused group delete (400, 403 or 409) adds to the target's reason. Notion refuses
    /// to delete a group that is the only full-access holder of a page (docs/notion.md, "Groups"):
    /// say so and what to do, rather than leave a bare status. Other services get no guess.
    pub fn group_delete_refused(&self, display_name: &str) -> String {
        match self.kind {
            TargetKind::Notion => format!(
                "the target refused to delete group `{display_name}`; Notion does this when the group is the \
                 only full-access holder of a page: give that page another full-access member or group, then re-run"
            ),
            TargetKind::Scim => format!(
                "the target refused to delete group `{display_name}`: resolve what it objects to in the \
                 target service, then re-run"
            ),
        }
    }

    /// What a 409 on a create adds when a lookup by name then finds nobody: who the target may
    /// know that this token's lookups cannot see.
    pub fn unseen_existing_user(&self) -> &'static str {
        match self.kind {
            TargetKind::Notion => {
                "the target says the user exists but a lookup by name finds nobody (a guest, or an \
                 account outside this workspace?)"
            }
            TargetKind::Scim => {
                "the target says the user exists but a lookup by userName finds nobody (an account \
                 this token cannot see?)"
            }
        }
    }

    /// What to do about changes the target refused on its own, for the plan's `write-refused`
    /// finding (which then lists the email domains involved and who is in each). Notion changes
    /// a person's name or email only when the organization has verified that person's email
    /// domain (docs/notion.md, "Verified domains"); other services get no guess.
    pub fn refusal_advice(&self) -> &'static str {
        match self.kind {
            TargetKind::Notion => {
                "Notion changes a person's name or email only when the organization has verified that \
                 person's email domain: verify each domain below in Notion (Manage organization > General > \
                 Manage email domains), then run with --retry-refused"
            }
            TargetKind::Scim => {
                "Fix what the target objects to (its reasons are listed with each change), then run \
                 with --retry-refused"
            }
        }
    }

    /// Whether a refusal of a patch that changes `attr` may be the target's rule about that very
    /// attribute: Notion refuses name and email changes outside verified domains (docs/notion.md,
    /// "Verified domains"), so when a refused Notion patch holds such attributes only they are
    /// taken as refused, and the patch's other attributes are sent again on their own next run.
    pub fn refusal_targets(&self, attr: Attr) -> bool {
        match self.kind {
            TargetKind::Notion => matches!(
                attr,
                Attr::UserName
                    | Attr::GivenName
                    | Attr::FamilyName
                    | Attr::DisplayName
                    | Attr::Email
            ),
            TargetKind::Scim => false,
        }
    }

    /// Normalise one value of `attr` the way the target stores it; `None` when it is empty (an empty
    /// string and an absent attribute are the same to the planner).
    pub fn normalise_value(&self, attr: Attr, value: &str) -> Option<String> {
        self.normalised(attr, value).map(Cow::into_owned)
    }

    /// [`Profile::normalise_value`], borrowed when the value is already in its normal form (as
    /// a target's own replies mostly are): a 100,000-user read copies each value once, into
    /// its packed user, instead of twice.
    fn normalised<'v>(&self, attr: Attr, value: &'v str) -> Option<Cow<'v, str>> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let lower = self.lowercase_emails && attr.case_insensitive();
        if lower && (!value.is_ascii() || value.bytes().any(|b| b.is_ascii_uppercase())) {
            Some(Cow::Owned(value.to_lowercase()))
        } else {
            Some(Cow::Borrowed(value))
        }
    }

    /// Whether this profile manages `attr` at all. Of the role attributes only the target's own
    /// ([`Profile::role_attr`]) is managed, and only when roles are.
    pub fn manages(&self, attr: Attr) -> bool {
        match attr {
            Attr::ExternalId => self.external_id,
            Attr::NotionRole | Attr::Roles => self.roles && attr == self.role_attr(),
            _ => true,
        }
    }

    /// The attribute that carries this target's role: Notion's extension `role` (its `roles` is
    /// free text for hover cards, docs/notion.md, "Users"), RFC 7643's `roles` elsewhere.
    pub fn role_attr(&self) -> Attr {
        match self.kind {
            TargetKind::Notion => Attr::NotionRole,
            TargetKind::Scim => Attr::Roles,
        }
    }

    /// Normalise a user as read from the target into the managed attrs the planner compares.
    pub fn to_target_user(&self, user: &wire::User) -> TargetUser {
        // Packed once at the end: a user's values are one allocation (model::UserAttrs).
        let mut pairs = Vec::with_capacity(12);
        let mut put = |attr: Attr, value: Option<_>| {
            if !self.manages(attr) {
                return;
            }
            if let Some(v) = value.and_then(|v| self.normalised(attr, v)) {
                pairs.push((attr, v));
            }
        };
        put(Attr::UserName, Some(&user.user_name));
        let name = user.name.as_ref();
        put(Attr::GivenName, name.and_then(|n| n.given_name.as_deref()));
        put(
            Attr::FamilyName,
            name.and_then(|n| n.family_name.as_deref()),
        );
        put(Attr::DisplayName, user.display_name.as_deref());
        put(Attr::Email, user.primary_email());
        put(Attr::Title, user.title.as_deref());
        put(Attr::ExternalId, user.external_id.as_deref());
        let ent = user.enterprise.as_ref();
        put(
            Attr::EmployeeNumber,
            ent.and_then(|e| e.employee_number.as_deref()),
        );
        put(Attr::Department, ent.and_then(|e| e.department.as_deref()));
        put(
            Attr::Manager,
            ent.and_then(|e| e.manager.as_ref())
                .and_then(|m| m.value.as_deref()),
        );
        let role = match self.kind {
            TargetKind::Notion => user
                .notion
                .as_ref()
                .and_then(|n| n.role.as_deref())
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .or_else(|| self.default_role.clone()),
            TargetKind::Scim => primary_role(user),
        };
        put(self.role_attr(), role.as_deref());
        TargetUser {
            id: ScimId(user.id.clone()),
            attrs: pairs.into_iter().collect(),
            active: user.active.unwrap_or(true),
            role,
        }
    }

    /// Normalise desired attrs the same way as [`Profile::to_target_user`].
    pub fn normalise_desired(&self, attrs: &UserAttrs) -> UserAttrs {
        attrs
            .iter()
            .filter(|(attr, _)| self.manages(*attr))
            .filter_map(|(attr, value)| self.normalise_value(attr, value).map(|v| (attr, v)))
            .collect()
    }

    /// The JSON value of `attr` in a request body.
    fn wire_value(attr: Attr, value: &str) -> Value {
        match attr {
            Attr::Email => json!([{"value": value, "type": "work", "primary": true}]),
            Attr::Manager => json!({"value": value}),
            // RFC 7643 §4.1.2: multi-valued; idbridge manages the primary one.
            Attr::Roles => json!([{"value": value, "primary": true}]),
            _ => Value::String(value.to_owned()),
        }
    }

    /// The JSON body of a `POST /Users` for these attrs (`active: true`).
    pub fn create_body(&self, attrs: &UserAttrs) -> Value {
        let attrs = self.normalise_desired(attrs);
        let mut body = Map::new();
        let mut name = Map::new();
        let mut enterprise = Map::new();
        let mut notion = Map::new();
        for (attr, value) in &attrs {
            let wire = Self::wire_value(attr, value);
            match attr {
                Attr::GivenName => {
                    name.insert("givenName".into(), wire);
                }
                Attr::FamilyName => {
                    name.insert("familyName".into(), wire);
                }
                Attr::EmployeeNumber => {
                    enterprise.insert("employeeNumber".into(), wire);
                }
                Attr::Department => {
                    enterprise.insert("department".into(), wire);
                }
                Attr::Manager => {
                    enterprise.insert("manager".into(), wire);
                }
                Attr::NotionRole => {
                    notion.insert("role".into(), wire);
                }
                other => {
                    body.insert(other.path().to_owned(), wire);
                }
            }
        }
        // Notion has a single name field and recommends `formatted`; sending it alongside the
        // parts is harmless for any RFC 7643 service.
        let formatted = [Attr::GivenName, Attr::FamilyName]
            .iter()
            .filter_map(|a| attrs.get(a))
            .collect::<Vec<_>>()
            .join(" ");
        if !formatted.is_empty() {
            name.insert("formatted".into(), Value::String(formatted));
        }
        let mut schemas = vec![Value::String(USER_URN.into())];
        if !enterprise.is_empty() {
            schemas.push(Value::String(ENTERPRISE_URN.into()));
        }
        if !notion.is_empty() {
            schemas.push(Value::String(NOTION_URN.into()));
        }
        let mut out = Map::new();
        out.insert("schemas".into(), Value::Array(schemas));
        out.extend(body);
        if !name.is_empty() {
            out.insert("name".into(), Value::Object(name));
        }
        out.insert("active".into(), Value::Bool(true));
        if !enterprise.is_empty() {
            out.insert(ENTERPRISE_URN.into(), Value::Object(enterprise));
        }
        if !notion.is_empty() {
            out.insert(NOTION_URN.into(), Value::Object(notion));
        }
        Value::Object(out)
    }

    /// RFC 7644 PatchOp for `(attr, new value)` changes: `replace` with a path for `Some`, `remove`
    /// with a path for `None`. Unmanaged attributes (externalId when the target drops it) are left out.
    pub fn patch_body(&self, changes: &[(Attr, Option<String>)]) -> Value {
        self.patch_body_in(changes, SetForm::Path)
    }

    /// [`Profile::patch_body`] in `set` form. In the value-object form the new values go in one
    /// `replace` keyed by their paths; a removal keeps its path, the only form RFC 7644 has.
    pub fn patch_body_in(&self, changes: &[(Attr, Option<String>)], set: SetForm) -> Value {
        let mut ops = Vec::new();
        let mut object = Map::new();
        for (attr, value) in changes.iter().filter(|(attr, _)| self.manages(*attr)) {
            match value.as_deref().and_then(|v| self.normalise_value(*attr, v)) {
                // The value-object form nests the role in its extension object, the form
                // third-party Notion clients send (docs/notion.md, "Workspace roles").
                Some(v) if set == SetForm::ValueObject && *attr == Attr::NotionRole => {
                    object.insert(NOTION_URN.to_owned(), json!({"role": v}));
                }
                Some(v) if set == SetForm::ValueObject => {
                    object.insert(attr.path().to_owned(), Self::wire_value(*attr, &v));
                }
                Some(v) => ops.push(
                    json!({"op": "replace", "path": attr.path(), "value": Self::wire_value(*attr, &v)}),
                ),
                None => ops.push(json!({"op": "remove", "path": attr.path()})),
            }
        }
        if !object.is_empty() {
            ops.insert(0, json!({"op": "replace", "value": object}));
        }
        patch_op(ops)
    }

    /// PatchOp that sets `active` (value-as-object form, as Entra sends it to Notion).
    pub fn active_body(&self, active: bool) -> Value {
        self.active_body_in(active, SetForm::ValueObject)
    }

    /// [`Profile::active_body`] in `set` form.
    pub fn active_body_in(&self, active: bool, set: SetForm) -> Value {
        patch_op(vec![set_op("replace", "active", json!(active), set)])
    }

    /// The `filter` expression that finds a user by name.
    pub fn user_filter(&self, user_name: &str) -> String {
        let value = if self.lowercase_emails {
            user_name.trim().to_lowercase()
        } else {
            user_name.trim().to_owned()
        };
        let attr = match self.lookup {
            Lookup::EmailEq => "email",
            Lookup::UserNameEq => "userName",
        };
        eq_filter(attr, &value)
    }

    /// Whether `user` is the one [`Profile::user_filter`] asked for (a server may ignore filters or
    /// match loosely, so the client checks).
    pub fn matches_user_name(&self, user: &wire::User, user_name: &str) -> bool {
        let want = user_name.trim();
        let same = |have: &str| {
            if self.lowercase_emails {
                have.trim().to_lowercase() == want.to_lowercase()
            } else {
                have.trim() == want
            }
        };
        same(&user.user_name)
            || (self.lookup == Lookup::EmailEq && user.emails.iter().any(|e| same(&e.value)))
    }

    /// The JSON body of a `POST /Groups`.
    pub fn group_body(&self, display_name: &str, member_ids: &[ScimId]) -> Value {
        json!({
            "schemas": [GROUP_URN],
            "displayName": display_name,
            "members": member_values(member_ids),
        })
    }

    /// PatchOp adding `ids` to a group.
    pub fn add_members_body(&self, ids: &[ScimId]) -> Value {
        self.add_members_body_in(ids, SetForm::Path)
    }

    /// [`Profile::add_members_body`] in `set` form.
    pub fn add_members_body_in(&self, ids: &[ScimId], set: SetForm) -> Value {
        patch_op(vec![set_op(
            "add",
            "members",
            Value::Array(member_values(ids)),
            set,
        )])
    }

    /// PatchOp removing `ids` from a group, in this profile's form.
    pub fn remove_members_body(&self, ids: &[ScimId]) -> Value {
        self.remove_members_body_in(ids, self.member_removal)
    }

    /// PatchOp removing `ids` from a group, in `form`.
    pub fn remove_members_body_in(&self, ids: &[ScimId], form: MemberRemoval) -> Value {
        let ops = match form {
            MemberRemoval::ValueList => {
                vec![json!({"op": "remove", "path": "members", "value": member_values(ids)})]
            }
            MemberRemoval::PathFilter => ids
                .iter()
                .map(|id| json!({"op": "remove", "path": format!("members[{}]", eq_filter("value", &id.0))}))
                .collect(),
        };
        patch_op(ops)
    }

    /// PatchOp renaming a group.
    pub fn rename_group_body(&self, display_name: &str) -> Value {
        self.rename_group_body_in(display_name, SetForm::Path)
    }

    /// [`Profile::rename_group_body`] in `set` form.
    pub fn rename_group_body_in(&self, display_name: &str, set: SetForm) -> Value {
        patch_op(vec![set_op(
            "replace",
            "displayName",
            json!(display_name),
            set,
        )])
    }
}

/// One `op` setting `path` to `value`, in `set` form.
fn set_op(op: &str, path: &str, value: Value, set: SetForm) -> Value {
    match set {
        SetForm::Path => json!({"op": op, "path": path, "value": value}),
        SetForm::ValueObject => json!({"op": op, "value": {path: value}}),
    }
}

/// `body` with every `op` spelled in `case`.
pub fn with_op_case(mut body: Value, case: OpCase) -> Value {
    if case == OpCase::Lower {
        return body;
    }
    if let Some(ops) = body.get_mut("Operations").and_then(Value::as_array_mut) {
        for op in ops {
            if let Some(Value::String(name)) = op.get_mut("op") {
                let mut chars = name.chars();
                *name = chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default();
            }
        }
    }
    body
}

fn member_values(ids: &[ScimId]) -> Vec<Value> {
    ids.iter().map(|id| json!({"value": id.0})).collect()
}

fn patch_op(ops: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": ops})
}

/// Quote a filter value per RFC 7644 §3.4.2.2 (a JSON string: backslash and double quote escaped).
pub fn quote_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `attr eq "value"`.
pub fn eq_filter(attr: &str, value: &str) -> String {
    format!("{attr} eq {}", quote_filter_value(value))
}

/// The role of a generic SCIM user: the value of the `roles` entry marked primary, else of the
/// first entry with a value (RFC 7643 §4.1.2; a role that is a bare string is taken as is).
fn primary_role(user: &wire::User) -> Option<String> {
    let roles = user.extra.get("roles")?.as_array()?;
    let value = |r: &Value| {
        r.get("value")
            .and_then(Value::as_str)
            .or_else(|| r.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    roles
        .iter()
        .filter(|r| r.get("primary").and_then(Value::as_bool) == Some(true))
        .find_map(value)
        .or_else(|| roles.iter().find_map(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: Value) -> wire::User {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_value_is_borrowed_only_when_already_normal() {
        let notion = Profile::notion();
        for value in [
            "ada@x.io",
            " Ada@X.io ",
            "ÉLODIE@x.io",
            "élodie@x.io",
            "İ@x.io",
            "a\u{212A}@x.io",
            "  ",
        ] {
            let want = Some(value.trim().to_lowercase()).filter(|v| !v.is_empty());
            let got = notion.normalised(Attr::Email, value);
            assert_eq!(got.as_deref(), want.as_deref(), "{value:?}");
            // Borrowed only when lowercasing changes nothing; an ASCII lowercase address always.
            let borrowed = matches!(got, Some(Cow::Borrowed(_)));
            if borrowed {
                assert_eq!(want.as_deref(), Some(value.trim()), "{value:?}");
            }
            if value == "ada@x.io" {
                assert!(borrowed);
            }
            // Not an address: kept as written.
            let title = notion.normalised(Attr::Title, value);
            assert!(matches!(title, None | Some(Cow::Borrowed(_))), "{value:?}");
        }
    }

    #[test]
    fn token_advice_names_the_source_and_only_notion_names_notion() {
        let source = "the environment variable MY_TOKEN";
        let notion = Profile::notion().token_advice(source);
        assert!(
            notion.contains("Notion revokes") && notion.ends_with(source),
            "{notion}"
        );
        let scim = Profile::scim().token_advice(source);
        assert!(!scim.contains("Notion") && scim.ends_with(source), "{scim}");
    }

    #[test]
    fn only_notion_words_name_notion() {
        let notion = Profile::notion();
        let scim = Profile::scim();
        let refused = notion.group_delete_refused("Eng");
        assert!(
            refused.contains("group `Eng`") && refused.contains("only full-access holder"),
            "{refused}"
        );
        let refused = scim.group_delete_refused("Eng");
        assert!(
            refused.contains("group `Eng`") && !refused.contains("Notion"),
            "{refused}"
        );
        assert!(notion
            .unseen_existing_user()
            .contains("outside this workspace"));
        let unseen = scim.unseen_existing_user();
        assert!(
            !unseen.contains("Notion")
                && !unseen.contains("workspace")
                && !unseen.contains("guest"),
            "{unseen}"
        );
        assert_eq!(
            (notion.readd, scim.readd),
            (Readd::Recreate, Readd::Reactivate)
        );
    }

    fn attrs(pairs: &[(Attr, &str)]) -> UserAttrs {
        pairs.iter().map(|(a, v)| (*a, (*v).to_owned())).collect()
    }

    #[test]
    fn filter_quoting() {
        assert_eq!(quote_filter_value("a@b.c"), r#""a@b.c""#);
        assert_eq!(quote_filter_value(r#"x"y\z"#), r#""x\"y\\z""#);
        assert_eq!(
            Profile::notion().user_filter(" Ada@Example.COM "),
            r#"email eq "ada@example.com""#
        );
        assert_eq!(Profile::scim().user_filter("Ada"), r#"userName eq "Ada""#);
    }

    #[test]
    fn notion_normalisation() {
        let u = user(json!({
            "id": "1", "userName": "Ada@Example.COM",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "Other@x.io"}, {"value": "ADA@example.com", "primary": true}],
            "externalId": "hr:1", "title": " ",
            ENTERPRISE_URN: {"department": "R&D", "manager": {"value": "Boss@Example.com"}}
        }));
        let t = Profile::notion().to_target_user(&u);
        assert_eq!(
            t.attrs,
            attrs(&[
                (Attr::UserName, "ada@example.com"),
                (Attr::GivenName, "Ada"),
                (Attr::FamilyName, "Lovelace"),
                (Attr::Email, "ada@example.com"),
                (Attr::Department, "R&D"),
                (Attr::Manager, "boss@example.com"),
            ])
        );
        assert_eq!(
            t.role.as_deref(),
            Some("member"),
            "missing extension = member"
        );
        assert!(t.active);
    }

    #[test]
    fn scim_normalisation_keeps_case_and_external_id() {
        let u = user(json!({
            "id": "1", "userName": "Ada", "active": false, "externalId": "hr:1",
            "emails": [{"value": "First@x.io"}, {"value": "second@x.io"}],
            crate::scim::wire::NOTION_URN: {"role": "owner"}
        }));
        let t = Profile::scim().to_target_user(&u);
        assert_eq!(t.attrs.get(&Attr::UserName), Some("Ada"));
        assert_eq!(t.attrs.get(&Attr::Email), Some("First@x.io"));
        assert_eq!(t.attrs.get(&Attr::ExternalId), Some("hr:1"));
        assert_eq!(t.role, None);
        assert!(!t.active);
    }

    #[test]
    fn notion_role_from_extension() {
        let u = user(json!({"id": "1", "userName": "a@b.c",
            crate::scim::wire::NOTION_URN: {"role": "restricted_member"}}));
        assert_eq!(
            Profile::notion().to_target_user(&u).role.as_deref(),
            Some("restricted_member")
        );
    }

    #[test]
    fn desired_normalised_like_target() {
        let desired = attrs(&[
            (Attr::UserName, "Ada@Example.com"),
            (Attr::Email, "Ada@Example.com"),
            (Attr::ExternalId, "hr:1"),
            (Attr::Title, ""),
            (Attr::GivenName, " Ada "),
        ]);
        let n = Profile::notion().normalise_desired(&desired);
        assert_eq!(
            n,
            attrs(&[
                (Attr::UserName, "ada@example.com"),
                (Attr::GivenName, "Ada"),
                (Attr::Email, "ada@example.com"),
            ])
        );
        let s = Profile::scim().normalise_desired(&desired);
        assert_eq!(s.get(&Attr::ExternalId), Some("hr:1"));
        assert_eq!(s.get(&Attr::UserName), Some("Ada@Example.com"));
        // Round trip: what we create reads back as what we want.
        let mut body = Profile::notion().create_body(&desired);
        body["id"] = json!("x");
        let back = Profile::notion().to_target_user(&user(body));
        assert_eq!(back.attrs, n);
    }

    #[test]
    fn create_body_shape() {
        let body = Profile::scim().create_body(&attrs(&[
            (Attr::UserName, "ada"),
            (Attr::GivenName, "Ada"),
            (Attr::FamilyName, "Lovelace"),
            (Attr::Email, "ada@x.io"),
            (Attr::ExternalId, "hr:1"),
            (Attr::Manager, "boss@x.io"),
            (Attr::EmployeeNumber, "42"),
        ]));
        assert_eq!(
            body,
            json!({
                "schemas": [USER_URN, ENTERPRISE_URN],
                "userName": "ada",
                "emails": [{"value": "ada@x.io", "type": "work", "primary": true}],
                "externalId": "hr:1",
                "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
                "active": true,
                ENTERPRISE_URN: {"employeeNumber": "42", "manager": {"value": "boss@x.io"}}
            })
        );
        let plain = Profile::notion().create_body(&attrs(&[
            (Attr::UserName, "a@b.c"),
            (Attr::ExternalId, "x"),
        ]));
        assert_eq!(
            plain,
            json!({"schemas": [USER_URN], "userName": "a@b.c", "active": true})
        );
    }

    #[test]
    fn patch_body_shape() {
        let body = Profile::notion().patch_body(&[
            (Attr::Title, Some("Lead".into())),
            (Attr::Email, Some("New@x.io".into())),
            (Attr::Manager, Some("b@x.io".into())),
            (Attr::Department, None),
            (Attr::ExternalId, Some("dropped".into())),
            (Attr::GivenName, Some("  ".into())),
        ]);
        assert_eq!(
            body,
            json!({"schemas": [PATCH_OP_URN], "Operations": [
                {"op": "replace", "path": "title", "value": "Lead"},
                {"op": "replace", "path": "emails", "value": [{"value": "new@x.io", "type": "work", "primary": true}]},
                {"op": "replace", "path": Attr::Manager.path(), "value": {"value": "b@x.io"}},
                {"op": "remove", "path": Attr::Department.path()},
                {"op": "remove", "path": "name.givenName"},
            ]})
        );
        assert_eq!(
            Profile::notion().active_body(false),
            json!({"schemas": [PATCH_OP_URN], "Operations": [{"op": "replace", "value": {"active": false}}]})
        );
    }

    #[test]
    fn group_member_bodies() {
        let ids = [ScimId::from("a"), ScimId::from("b\"")];
        assert_eq!(
            Profile::notion().remove_members_body(&ids)["Operations"],
            json!([{"op": "remove", "path": "members", "value": [{"value": "a"}, {"value": "b\""}]}])
        );
        assert_eq!(
            Profile::scim().remove_members_body(&ids)["Operations"],
            json!([{"op": "remove", "path": "members[value eq \"a\"]"},
                   {"op": "remove", "path": "members[value eq \"b\\\"\"]"}])
        );
        assert_eq!(
            Profile::scim().add_members_body(&ids[..1])["Operations"],
            json!([{"op": "add", "path": "members", "value": [{"value": "a"}]}])
        );
    }

    #[test]
    fn every_patch_form_says_the_same_change() {
        let notion = Profile::notion();
        let changes = [
            (Attr::Title, Some("Lead".to_owned())),
            (Attr::GivenName, Some("Ada".to_owned())),
            (Attr::Department, None),
        ];
        assert_eq!(
            notion.patch_body_in(&changes, SetForm::ValueObject)["Operations"],
            json!([
                {"op": "replace", "value": {"title": "Lead", "name.givenName": "Ada"}},
                {"op": "remove", "path": Attr::Department.path()},
            ])
        );
        assert_eq!(
            notion.active_body_in(false, SetForm::Path)["Operations"],
            json!([{"op": "replace", "path": "active", "value": false}])
        );
        let ids = [ScimId::from("a")];
        assert_eq!(
            notion.add_members_body_in(&ids, SetForm::ValueObject)["Operations"],
            json!([{"op": "add", "value": {"members": [{"value": "a"}]}}])
        );
        assert_eq!(
            notion.rename_group_body_in("Eng", SetForm::ValueObject)["Operations"],
            json!([{"op": "replace", "value": {"displayName": "Eng"}}])
        );
        assert_eq!(
            notion.remove_members_body_in(&ids, MemberRemoval::PathFilter)["Operations"],
            json!([{"op": "remove", "path": "members[value eq \"a\"]"}])
        );
        let body = with_op_case(notion.patch_body(&changes), OpCase::Capitalized);
        let ops: Vec<&str> = body["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["op"].as_str().unwrap())
            .collect();
        assert_eq!(ops, ["Replace", "Replace", "Remove"]);
        assert_eq!(
            with_op_case(notion.active_body(true), OpCase::Lower),
            notion.active_body(true)
        );
    }

    #[test]
    fn kind_serde_is_lowercase() {
        assert_eq!(
            serde_json::to_string(&TargetKind::Notion).unwrap(),
            r#""notion""#
        );
        assert_eq!(
            serde_json::from_str::<TargetKind>(r#""scim""#).unwrap(),
            TargetKind::Scim
        );
    }
    #[test]
    fn roles_are_read_and_sent_only_when_managed_and_in_each_target_form() {
        let notion_user = user(json!({"id": "1", "userName": "a@x.io",
            NOTION_URN: {"role": "membership_admin"},
            "roles": [{"value": "Lead engineer"}]}));
        let mut notion = Profile::notion();
        assert!(!notion.manages(Attr::NotionRole));
        assert_eq!(
            notion
                .to_target_user(&notion_user)
                .attrs
                .get(&Attr::NotionRole),
            None
        );
        notion.roles = true;
        let t = notion.to_target_user(&notion_user);
        assert_eq!(t.attrs.get(&Attr::NotionRole), Some("membership_admin"));
        assert_eq!(
            t.attrs.get(&Attr::Roles),
            None,
            "Notion's `roles` is hover-card text"
        );
        // A user without the extension is a member (docs/notion.md, "Users").
        let bare = notion.to_target_user(&user(json!({"id": "2", "userName": "b@x.io"})));
        assert_eq!(bare.attrs.get(&Attr::NotionRole), Some("member"));

        let mut attrs = UserAttrs::new();
        attrs.insert(Attr::UserName, "a@x.io".into());
        attrs.insert(Attr::NotionRole, "restricted_member".into());
        let body = notion.create_body(&attrs);
        assert_eq!(body[NOTION_URN], json!({"role": "restricted_member"}));
        assert!(body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(NOTION_URN)));
        let change = [(Attr::NotionRole, Some("member".to_owned()))];
        assert_eq!(
            notion.patch_body(&change)["Operations"],
            json!([{"op": "replace", "path": Attr::NotionRole.path(), "value": "member"}])
        );
        assert_eq!(
            notion.patch_body_in(&change, SetForm::ValueObject)["Operations"],
            json!([{"op": "replace", "value": {NOTION_URN: {"role": "member"}}}])
        );

        let mut scim = Profile::scim();
        scim.roles = true;
        let scim_user = user(json!({"id": "3", "userName": "c@x.io",
            "roles": [{"value": "viewer"}, {"value": "editor", "primary": true}]}));
        let t = scim.to_target_user(&scim_user);
        assert_eq!(t.attrs.get(&Attr::Roles), Some("editor"));
        assert_eq!(t.attrs.get(&Attr::NotionRole), None);
        let change = [(Attr::Roles, Some("admin".to_owned()))];
        assert_eq!(
            scim.patch_body(&change)["Operations"],
            json!([{"op": "replace", "path": "roles", "value": [{"value": "admin", "primary": true}]}])
        );
        let mut attrs = UserAttrs::new();
        attrs.insert(Attr::UserName, "c@x.io".into());
        attrs.insert(Attr::Roles, "admin".into());
        assert_eq!(
            scim.create_body(&attrs)["roles"],
            json!([{"value": "admin", "primary": true}])
        );
    }
}
