//! SCIM wire types (RFC 7643 resources, RFC 7644 list envelope), parsed leniently.
//!
//! Real targets bend the schema: Notion omits `name.formatted`, drops its own extension URN from
//! `schemas`, sends `meta` timestamps as epoch-millisecond strings and adds enum values without notice
//! (docs/notion.md, "Users"). So every field is optional, `null` reads as "absent", unknown fields are
//! kept in `extra` (a PUT can send them back), and nothing here interprets timestamps or roles.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Core user schema URN (RFC 7643 §4.1).
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core group schema URN (RFC 7643 §4.2).
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise user extension URN (RFC 7643 §4.3).
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Notion's user extension URN (carries the workspace `role`).
pub const NOTION_URN: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";
/// PATCH request message URN (RFC 7644 §3.5.2).
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// List response message URN (RFC 7644 §3.4.2).
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Error message URN (RFC 7644 §3.12).
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// `null` and a missing field both read as the type's default (servers send either).
fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A scalar kept as an opaque string: Notion's `meta.created` is `"1787393411245"`, another server may
/// send a number or an RFC 3339 date; none of it is meaningful to idbridge.
fn opaque_string<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(other) => Some(other.to_string()),
    })
}

/// A boolean that some servers send as `"true"`/`"false"`.
fn lenient_bool<'de, D>(deserializer: D) -> Result<Option<bool>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Bool(flag)) => Some(flag),
        Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// A SCIM user resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Schema URNs as sent (Notion lists only the core URN even when extensions are present).
    #[serde(default, deserialize_with = "null_default")]
    pub schemas: Vec<String>,
    /// The target's id; empty when the server sent none (the client rejects such replies).
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// `externalId` (client-assigned; some targets drop it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `userName` (an email for Notion).
    #[serde(default, deserialize_with = "null_default")]
    pub user_name: String,
    /// `name`; any sub-field may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `emails`, possibly including secondary addresses.
    #[serde(default, deserialize_with = "null_default")]
    pub emails: Vec<Email>,
    /// `active`; absent means active.
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
    /// The enterprise extension object, if any.
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise: Option<EnterpriseUser>,
    /// Notion's extension object (`role`), if any; missing on some Notion users.
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:notion:2.0:User",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notion: Option<NotionUser>,
    /// `meta`, kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Every other attribute (phoneNumbers, photos, addresses, ...), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    /// The primary email, else the first one with a value.
    pub fn primary_email(&self) -> Option<&str> {
        let with_value = || self.emails.iter().filter(|e| !e.value.trim().is_empty());
        with_value()
            .find(|e| e.primary == Some(true))
            .or_else(|| with_value().next())
            .map(|e| e.value.as_str())
    }
}

/// The `name` complex attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// `formatted` (Notion's recommended field, but not always returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// `givenName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `familyName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Other sub-attributes (middleName, honorificPrefix, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `emails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Email {
    /// The address.
    #[serde(default, deserialize_with = "null_default")]
    pub value: String,
    /// `type` (`work`, `home`, ...).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `primary`.
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub primary: Option<bool>,
    /// Other sub-attributes (`display`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The enterprise extension (RFC 7643 §4.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnterpriseUser {
    /// `employeeNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    /// `department`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// `manager` (Notion wants the manager's email in `value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
    /// Other sub-attributes (`costCenter`, `division`, `organization`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The enterprise `manager` attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manager {
    /// `value`: a user id in RFC 7643, an email for Notion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Other sub-attributes (`displayName`, `$ref`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Notion's user extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotionUser {
    /// Workspace role, an open string (`owner`, `membership_admin`, `member`, `restricted_member`,
    /// or whatever Notion adds next).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Anything else Notion puts there.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Resource `meta`. Timestamps are opaque strings: never parse them as dates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `resourceType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// `created`, as sent.
    #[serde(
        default,
        deserialize_with = "opaque_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<String>,
    /// `lastModified`, as sent.
    #[serde(
        default,
        deserialize_with = "opaque_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified: Option<String>,
    /// `location` (may name another host than the base URL: never follow it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `version` (ETag), if the server has them.
    #[serde(
        default,
        deserialize_with = "opaque_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A SCIM group resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Schema URNs as sent.
    #[serde(default, deserialize_with = "null_default")]
    pub schemas: Vec<String>,
    /// The target's id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// `displayName`.
    #[serde(default, deserialize_with = "null_default")]
    pub display_name: String,
    /// `externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `members` (a server may leave them out of list replies).
    #[serde(default, deserialize_with = "null_default")]
    pub members: Vec<Member>,
    /// `meta`, kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Every other attribute.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of a group's `members`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The member's id.
    #[serde(default, deserialize_with = "null_default")]
    pub value: String,
    /// `display`, if sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Other sub-attributes (`$ref`, `type`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A list response (RFC 7644 §3.4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// Schema URNs as sent.
    #[serde(default, deserialize_with = "null_default")]
    pub schemas: Vec<String>,
    /// `totalResults`: the size of the whole result set (required by the RFC; checked by reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_results: Option<u64>,
    /// `startIndex` of this page (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// `itemsPerPage`: the number of items in this page (Notion), not the requested count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_page: Option<u64>,
    /// The page's resources.
    #[serde(
        rename = "Resources",
        alias = "resources",
        default = "Vec::new",
        deserialize_with = "null_default",
        bound(deserialize = "T: Deserialize<'de>")
    )]
    pub resources: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped like a real Notion user as published, anonymised, by a third party (docs/notion.md,
    /// "Users").
    fn notion_user() -> Value {
        json!({
            "schemas": [USER_URN],
            "id": "0b3c1d2e-0000-0000-0000-000000000001",
            "userName": "Ada@Example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "old@example.com"}, {"value": "Ada@Example.com", "primary": true}],
            "displayName": "Ada Lovelace",
            "active": true,
            "photos": [],
            "meta": {"resourceType": "User", "created": "1787393411245", "lastModified": 1787393411245_u64,
                     "location": "https://app.notion.com/scim/v2/Users/0b3c"},
            NOTION_URN: {"role": "restricted_member"}
        })
    }

    #[test]
    fn parses_notion_shapes_leniently() {
        let user: User = serde_json::from_value(notion_user()).unwrap();
        assert_eq!(user.user_name, "Ada@Example.com");
        assert_eq!(user.primary_email(), Some("Ada@Example.com"));
        assert_eq!(user.name.as_ref().unwrap().formatted, None);
        assert_eq!(
            user.notion.as_ref().unwrap().role.as_deref(),
            Some("restricted_member")
        );
        let meta = user.meta.as_ref().unwrap();
        assert_eq!(meta.created.as_deref(), Some("1787393411245"));
        assert_eq!(meta.last_modified.as_deref(), Some("1787393411245"));
        assert!(user.extra.contains_key("photos"));
    }

    #[test]
    fn nulls_and_missing_fields_are_absent() {
        let user: User = serde_json::from_value(json!({
            "id": "x", "userName": "a@b.c", "emails": null, "name": null, "active": "false",
            "title": null
        }))
        .unwrap();
        assert!(user.emails.is_empty());
        assert_eq!(user.active, Some(false));
        assert_eq!(user.primary_email(), None);
    }

    #[test]
    fn first_email_when_none_is_primary() {
        let user: User = serde_json::from_value(json!({
            "id": "x", "emails": [{"value": ""}, {"value": "b@x.io"}, {"value": "c@x.io"}]
        }))
        .unwrap();
        assert_eq!(user.primary_email(), Some("b@x.io"));
    }

    #[test]
    fn list_response_round_trip() {
        let page: ListResponse<User> = serde_json::from_value(json!({
            "schemas": [LIST_RESPONSE_URN], "totalResults": 3, "startIndex": 1, "itemsPerPage": 1,
            "Resources": [notion_user()]
        }))
        .unwrap();
        assert_eq!(page.total_results, Some(3));
        assert_eq!(page.resources.len(), 1);
        let empty: ListResponse<Group> =
            serde_json::from_value(json!({"totalResults": 0})).unwrap();
        assert!(empty.resources.is_empty());
    }
}
