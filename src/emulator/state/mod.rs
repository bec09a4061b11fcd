//! The emulator's workspace: accounts (members, removed members, guests), groups, tokens, the
//! rate-limit buckets, pending faults and chaos draws, the request log and the removals, with
//! every SCIM operation on them.
//!
//! Everything here is synchronous and runs under the emulator's one mutex; `routes` does the
//! HTTP. Users and groups are kept as JSON documents so PATCH (`patch`) works on them directly;
//! `users` then applies what Notion rewrites (lowercased emails, one phone number).
//!
//! This file holds the workspace's types and what every part shares (ids, list order, `meta`,
//! PATCH operations); each part lives in its own file: [`seed`] (profile seeding), [`auth`]
//! (tokens and rate limits), [`faults`] (one-shot, and drawn at random by chaos), [`forms`] (the
//! PATCH forms a workspace accepts), [`index`] (accounts by id and email, the list order),
//! [`listing`] (paging, filters, list calls), [`users`], [`rewrite`] (the name model and the
//! attributes a workspace rewrites), [`groups`] and [`views`] (what tests and `--control` read).

mod auth;
mod faults;
mod forms;
mod groups;
mod index;
mod listing;
mod rewrite;
mod seed;
mod users;
mod views;

pub use listing::ListQuery;
pub use views::{GroupView, MemberView};

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value};

use super::patch::{self, Op};
use super::profile::{Chaos, Profile, RateLimit, Switches};
use super::NOTION_SCHEMA;
use crate::clock::Clock;
use auth::{Bucket, Token, WorkspaceWindow};
use faults::PendingFault;

/// Where `meta.location` points: another host than the one called, as Notion does
/// (docs/notion.md, "Hosts and base URL").
const LOCATION_BASE: &str = "https://app.notion.com/scim/v2";

/// A failed request, rendered by `routes` in the profile's error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// RFC 7644 `scimType`, when one applies.
    pub scim_type: Option<&'static str>,
    /// Human-readable detail.
    pub detail: String,
    /// `Retry-After` seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status and a detail.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type: None,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// An error with a `scimType`.
    pub fn typed(status: u16, scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            scim_type: Some(scim_type),
            ..Self::new(status, detail)
        }
    }

    fn not_found(kind: &str, id: &str) -> Self {
        Self::new(404, format!("{kind} {id} was not found."))
    }
}

impl From<patch::PatchError> for ApiError {
    fn from(e: patch::PatchError) -> Self {
        Self::typed(400, e.scim_type, e.detail)
    }
}

/// A successful answer: status and optional JSON body.
pub type Reply = Result<(u16, Option<Value>), ApiError>;

/// Where an account stands with the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Member,
    Removed,
    Guest,
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: String,
    /// List order; smaller first. Inserted-during-read members get a smaller one than everyone.
    pub seq: i64,
    pub status: Status,
    /// Attributes as stored (no `id`, `meta`, `schemas`, `active`).
    pub doc: Map<String, Value>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

impl Account {
    fn user_name(&self) -> &str {
        self.doc
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn role(&self) -> Option<&str> {
        self.doc
            .get(NOTION_SCHEMA)
            .and_then(|ext| ext.get("role"))
            .and_then(Value::as_str)
    }

    fn owns_email(&self, email: &str) -> bool {
        self.user_name().eq_ignore_ascii_case(email)
            || emails_of(&self.doc).iter().any(|e| e == email)
    }
}

fn emails_of(doc: &Map<String, Value>) -> Vec<String> {
    doc.get("emails")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|e| e.get("value").and_then(Value::as_str))
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub seq: i64,
    pub display_name: String,
    pub members: Vec<String>,
    pub external_id: Option<String>,
    pub sole_full_access: bool,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, prefix included.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Status answered.
    pub status: u16,
    /// POST/PUT/PATCH/DELETE under the prefix.
    pub is_write: bool,
    /// Got past auth, rate limit and faults into a resource handler.
    pub handled: bool,
    /// A write the resource handler carried out (answered 2xx, whether or not the reply then
    /// reached the client); a write it refused (404, 409, 400) or that never reached it (429,
    /// an injected 5xx) is not.
    pub executed: bool,
    /// The faults injected into this request, by their kebab-case kind (`status429`,
    /// `commit-then-drop`, ...; `stall` for a slow reply), one-shot or drawn by chaos.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub injected: Vec<&'static str>,
}

/// A member taken out of the workspace (by `DELETE` or `active: false`), in the order it
/// happened: what a test checks to say nobody was deactivated by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// The account's id.
    pub id: String,
    /// Its userName when it was removed.
    pub user_name: String,
}

/// The workspace.
pub(crate) struct State {
    pub prefix: String,
    pub switches: Switches,
    pub rate_limit: Option<RateLimit>,
    pub verified_domains: Vec<String>,
    /// Every account, in creation order; changed only through `index` (`push_account`,
    /// `edit_account`) so the indexes stay complete.
    pub accounts: Vec<Account>,
    index: index::Index,
    pub groups: Vec<Group>,
    pub tokens: Vec<Token>,
    buckets: HashMap<String, Bucket>,
    workspace_window: WorkspaceWindow,
    faults: Vec<PendingFault>,
    /// Random faults, with their own RNG so turning chaos on leaves ids and shuffles as they were.
    chaos: Option<(Chaos, StdRng)>,
    /// Seed of chaos's current list order; 0 is list order itself.
    order_epoch: u64,
    pub requests: Vec<RequestRecord>,
    pub removals: Vec<Removal>,
    rng: StdRng,
    next_seq: i64,
    first_seq: i64,
    inserted: u64,
    clock: Arc<dyn Clock>,
}

impl State {
    pub fn new(profile: Profile, clock: Arc<dyn Clock>) -> Self {
        let mut state = Self {
            prefix: profile.prefix.clone(),
            switches: profile.switches.clone(),
            rate_limit: profile.rate_limit,
            verified_domains: profile
                .seed
                .verified_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            accounts: Vec::new(),
            index: index::Index::default(),
            groups: Vec::new(),
            tokens: Vec::new(),
            buckets: HashMap::new(),
            workspace_window: WorkspaceWindow::new(profile.workspace_budget),
            faults: Vec::new(),
            chaos: None,
            order_epoch: 0,
            requests: Vec::new(),
            removals: Vec::new(),
            rng: StdRng::seed_from_u64(profile.rng_seed),
            next_seq: 0,
            first_seq: 0,
            inserted: 0,
            clock,
        };
        for user in &profile.seed.users {
            state.seed_user(user);
        }
        for group in &profile.seed.groups {
            state.seed_group(group);
        }
        for token in &profile.seed.tokens {
            state.add_token(&token.token, &token.owner);
        }
        for fault in profile.faults {
            state.push_fault(fault);
        }
        state.set_chaos(profile.chaos);
        state
    }

    /// The emulator's "now" (for `meta` and HTTP-date `Retry-After`).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    fn new_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    fn seq(&mut self) -> i64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// `meta` of a resource.
    fn meta(&self, kind: &str, id: &str, created: i64, modified: i64) -> Value {
        let meta = Meta {
            kind,
            id,
            created,
            modified,
        };
        // Serializing a map with string keys cannot fail.
        serde_json::to_value(meta).unwrap_or(Value::Null)
    }
}

/// A resource's `meta`, as Notion writes it (times as millisecond strings).
struct Meta<'a> {
    kind: &'a str,
    id: &'a str,
    created: i64,
    modified: i64,
}

impl serde::Serialize for Meta<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let collection = if self.kind == "User" {
            "Users"
        } else {
            "Groups"
        };
        let mut out = s.serialize_map(Some(4))?;
        out.serialize_entry("resourceType", self.kind)?;
        out.serialize_entry("created", &self.created.to_string())?;
        out.serialize_entry("lastModified", &self.modified.to_string())?;
        out.serialize_entry(
            "location",
            &format_args!("{LOCATION_BASE}/{collection}/{}", self.id),
        )?;
        out.end()
    }
}

/// One PATCH operation: what, where, with which value.
type Operation = (Op, Option<String>, Option<Value>);

/// The `Operations` of a PatchOp body (RFC 7644 §3.5.2).
fn operations(body: &Value) -> Result<Vec<Operation>, ApiError> {
    let ops = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations")))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| {
            ApiError::typed(400, "invalidSyntax", "A PATCH needs an Operations array.")
        })?;
    ops.iter()
        .map(|op| {
            let get = |name: &str| {
                op.as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                    .map(|(_, v)| v.clone())
            };
            let name = get("op")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let kind = Op::parse(&name).ok_or_else(|| {
                ApiError::typed(
                    400,
                    "invalidSyntax",
                    format!("The op {name:?} is not add, replace or remove."),
                )
            })?;
            let path = get("path").and_then(|v| v.as_str().map(str::to_owned));
            Ok((kind, path, get("value")))
        })
        .collect()
}
