//! What tests and the control API read of the workspace: members and groups as stored.

use super::{emails_of, State, Status};
use crate::emulator::ENTERPRISE_SCHEMA;
use serde::Serialize;
use serde_json::Value;

/// A workspace account as stored, for test assertions (guests are left out).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// SCIM id.
    pub id: String,
    /// userName (lowercased email).
    pub user_name: String,
    /// In the workspace (false once removed).
    pub active: bool,
    /// Notion role; `None` when the extension is missing.
    pub role: Option<String>,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `name.givenName`.
    pub given_name: Option<String>,
    /// `name.familyName`.
    pub family_name: Option<String>,
    /// `name.formatted`.
    pub formatted: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// Email values, lowercased.
    pub emails: Vec<String>,
    /// The one phone number kept.
    pub phone: Option<String>,
    /// Enterprise `department`.
    pub department: Option<String>,
    /// Enterprise `manager.value`.
    pub manager: Option<String>,
    /// Enterprise `employeeNumber`.
    pub employee_number: Option<String>,
    /// Enterprise `costCenter`.
    pub cost_center: Option<String>,
    /// Enterprise `division`.
    pub division: Option<String>,
    /// Enterprise `organization`.
    pub organization: Option<String>,
    /// The full SCIM representation, as `GET /Users/{id}` would return it.
    pub resource: Value,
}

/// A group as stored, for test assertions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    /// SCIM id.
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// Member ids.
    pub members: Vec<String>,
    /// `externalId`.
    pub external_id: Option<String>,
    /// DELETE is refused.
    pub sole_full_access: bool,
}

impl State {
    pub fn member_views(&self) -> Vec<MemberView> {
        self.accounts
            .iter()
            .filter(|a| a.status != Status::Guest)
            .map(|a| {
                let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
                let name = a.doc.get("name");
                let ent = a.doc.get(ENTERPRISE_SCHEMA);
                let phone = a
                    .doc
                    .get("phoneNumbers")
                    .and_then(|p| p.get(0))
                    .and_then(|p| p.get("value"));
                MemberView {
                    id: a.id.clone(),
                    user_name: a.user_name().to_owned(),
                    active: a.status == Status::Member,
                    role: a.role().map(str::to_owned),
                    external_id: s(a.doc.get("externalId")),
                    given_name: s(name.and_then(|n| n.get("givenName"))),
                    family_name: s(name.and_then(|n| n.get("familyName"))),
                    formatted: s(name.and_then(|n| n.get("formatted"))),
                    display_name: s(a.doc.get("displayName")),
                    title: s(a.doc.get("title")),
                    emails: emails_of(&a.doc),
                    phone: s(phone),
                    department: s(ent.and_then(|e| e.get("department"))),
                    manager: s(ent
                        .and_then(|e| e.get("manager"))
                        .and_then(|m| m.get("value"))),
                    employee_number: s(ent.and_then(|e| e.get("employeeNumber"))),
                    cost_center: s(ent.and_then(|e| e.get("costCenter"))),
                    division: s(ent.and_then(|e| e.get("division"))),
                    organization: s(ent.and_then(|e| e.get("organization"))),
                    resource: self.user_json(a),
                }
            })
            .collect()
    }

    pub fn group_views(&self) -> Vec<GroupView> {
        self.groups
            .iter()
            .map(|g| GroupView {
                id: g.id.clone(),
                display_name: g.display_name.clone(),
                members: g.members.clone(),
                external_id: g.external_id.clone(),
                sole_full_access: g.sole_full_access,
            })
            .collect()
    }
}
