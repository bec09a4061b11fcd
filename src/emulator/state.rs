//! The emulator's workspace: accounts (members, removed members, guests), groups, tokens, the
//! rate-limit buckets, pending faults and the request log, with every SCIM operation on them.
//!
//! Everything here is synchronous and runs under the emulator's one mutex; `routes` does the
//! HTTP. Users and groups are kept as JSON documents so PATCH (`patch`) works on them directly;
//! `normalize_user` then applies what Notion rewrites (lowercased emails, one phone number).

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::filter;
use super::patch::{self, Op};
use super::profile::{
    DuplicatePost, Fault, FaultKind, MaxCount, Profile, RateLimit, RemovedUser, SeedGroup,
    SeedUser, Switches, ROLES,
};
use super::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, NOTION_SCHEMA, USER_SCHEMA};
use crate::clock::Clock;

/// Where `meta.location` points: another host than the one called, as Notion does
/// (docs/notion.md, "Hosts and base URL").
const LOCATION_BASE: &str = "https://app.notion.com/scim/v2";
/// Notion's page size cap (docs/notion.md, "Paging").
const MAX_COUNT: usize = 100;
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

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub token: String,
    pub owner_id: String,
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    at: tokio::time::Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct PendingFault {
    fault: Fault,
    seen: u64,
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
}

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

/// Paging and filter parameters of a list call.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `filter`.
    pub filter: Option<String>,
    /// `startIndex`, raw.
    pub start_index: Option<String>,
    /// `count`, raw.
    pub count: Option<String>,
    /// `excludedAttributes`, lowercased (Entra asks groups without `members`).
    pub excluded: Vec<String>,
}

impl ListQuery {
    /// Read the parameters from a raw query string (names are case-insensitive).
    pub fn parse(query: Option<&str>) -> Self {
        let mut out = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.to_ascii_lowercase().as_str() {
                "filter" => out.filter = Some(value.into_owned()),
                "startindex" => out.start_index = Some(value.into_owned()),
                "count" => out.count = Some(value.into_owned()),
                "excludedattributes" => {
                    out.excluded = value
                        .split(',')
                        .map(|a| a.trim().to_ascii_lowercase())
                        .filter(|a| !a.is_empty())
                        .collect();
                }
                _ => {}
            }
        }
        out
    }
}

pub(crate) struct State {
    pub prefix: String,
    pub switches: Switches,
    pub rate_limit: Option<RateLimit>,
    pub verified_domains: Vec<String>,
    pub accounts: Vec<Account>,
    pub groups: Vec<Group>,
    pub tokens: Vec<Token>,
    buckets: HashMap<String, Bucket>,
    faults: Vec<PendingFault>,
    pub requests: Vec<RequestRecord>,
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
            groups: Vec::new(),
            tokens: Vec::new(),
            buckets: HashMap::new(),
            faults: Vec::new(),
            requests: Vec::new(),
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
        state
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

    // ----- seeding and control -----

    pub fn seed_user(&mut self, user: &SeedUser) -> String {
        let user_name = user.user_name.trim().to_ascii_lowercase();
        let mut doc = Map::new();
        if let Some(external_id) = &user.external_id {
            doc.insert("externalId".into(), json!(external_id));
        }
        doc.insert("userName".into(), json!(user_name));
        let mut name = Map::new();
        if let Some(formatted) = &user.formatted {
            name.insert("formatted".into(), json!(formatted));
        }
        if let Some(given) = &user.given_name {
            name.insert("givenName".into(), json!(given));
        }
        if let Some(family) = &user.family_name {
            name.insert("familyName".into(), json!(family));
        }
        let display = user.formatted.clone().or_else(|| {
            let joined = [user.given_name.as_deref(), user.family_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        });
        if !name.is_empty() {
            doc.insert("name".into(), Value::Object(name));
        }
        if let Some(display) = display {
            doc.insert("displayName".into(), json!(display));
        }
        let mut emails = vec![json!({"value": user_name, "primary": true, "type": "work"})];
        for extra in &user.secondary_emails {
            emails.push(json!({"value": extra.to_ascii_lowercase(), "primary": false}));
        }
        doc.insert("emails".into(), Value::Array(emails));
        if let Some(title) = &user.title {
            doc.insert("title".into(), json!(title));
        }
        doc.insert("photos".into(), json!([]));
        if let Some(role) = user.role.as_deref().filter(|r| !r.is_empty()) {
            doc.insert(NOTION_SCHEMA.into(), json!({ "role": role }));
        }
        let status = if user.guest {
            Status::Guest
        } else if user.active {
            Status::Member
        } else {
            Status::Removed
        };
        let now = self.now_ms();
        if let Some(existing) = self.accounts.iter_mut().find(|a| a.owns_email(&user_name)) {
            existing.doc = doc;
            existing.status = status;
            existing.modified_ms = now;
            return existing.id.clone();
        }
        let id = match &user.id {
            Some(id) => id.clone(),
            None => self.new_id(),
        };
        let seq = self.seq();
        self.accounts.push(Account {
            id: id.clone(),
            seq,
            status,
            doc,
            created_ms: now,
            modified_ms: now,
        });
        id
    }

    pub fn seed_group(&mut self, group: &SeedGroup) -> String {
        let members = group
            .members
            .iter()
            .filter_map(|m| {
                self.accounts
                    .iter()
                    .find(|a| a.id == *m || a.user_name().eq_ignore_ascii_case(m))
                    .filter(|a| a.status == Status::Member)
                    .map(|a| a.id.clone())
            })
            .collect();
        let id = match &group.id {
            Some(id) => id.clone(),
            None => self.new_id(),
        };
        let seq = self.seq();
        let now = self.now_ms();
        self.groups.push(Group {
            id: id.clone(),
            seq,
            display_name: group.display_name.clone(),
            members,
            external_id: group.external_id.clone(),
            sole_full_access: group.sole_full_access,
            created_ms: now,
            modified_ms: now,
        });
        id
    }

    pub fn add_token(&mut self, token: &str, owner: &str) {
        let owner_lower = owner.trim().to_ascii_lowercase();
        let owner_id = match self
            .accounts
            .iter_mut()
            .find(|a| a.owns_email(&owner_lower))
        {
            Some(account) => {
                account.status = Status::Member;
                account
                    .doc
                    .insert(NOTION_SCHEMA.into(), json!({"role": "owner"}));
                account.id.clone()
            }
            None => self.seed_user(&SeedUser {
                user_name: owner_lower,
                role: Some("owner".into()),
                ..SeedUser::default()
            }),
        };
        self.tokens.retain(|t| t.token != token);
        self.tokens.push(Token {
            token: token.to_owned(),
            owner_id,
            revoked: false,
        });
    }

    pub fn revoke_token(&mut self, token: &str) {
        for t in self.tokens.iter_mut().filter(|t| t.token == token) {
            t.revoked = true;
        }
    }

    fn revoke_tokens_of(&mut self, account_id: &str) {
        for t in self.tokens.iter_mut().filter(|t| t.owner_id == account_id) {
            t.revoked = true;
        }
    }

    pub fn push_fault(&mut self, fault: Fault) {
        self.faults.push(PendingFault { fault, seen: 0 });
    }

    pub fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.rate_limit = limit;
        self.buckets.clear();
    }

    pub fn set_sole_full_access(&mut self, group_id: &str, on: bool) {
        for g in self.groups.iter_mut().filter(|g| g.id == group_id) {
            g.sole_full_access = on;
        }
    }

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

    // ----- request plumbing -----

    /// The first pending fault that is due for this request, consumed. Every matching fault
    /// counts the request, so two faults on the same route keep independent counts.
    pub fn take_fault(&mut self, method: &str, path: &str, rest: &str) -> Option<FaultKind> {
        let mut fired = None;
        for (at, pending) in self.faults.iter_mut().enumerate() {
            let fault = &pending.fault;
            let method_ok = fault
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            let path_ok = fault.path_prefix.as_deref().is_none_or(|p| {
                path.to_ascii_lowercase()
                    .starts_with(&p.to_ascii_lowercase())
                    || rest
                        .to_ascii_lowercase()
                        .starts_with(&p.to_ascii_lowercase())
            });
            if method_ok && path_ok {
                pending.seen += 1;
                if fired.is_none() && pending.seen >= fault.nth {
                    fired = Some(at);
                }
            }
        }
        fired.map(|at| self.faults.remove(at).fault.kind)
    }

    /// The live token in an `Authorization` header, or the auth failure.
    pub fn authenticate(&self, header: Option<&str>) -> Result<String, ApiError> {
        let status = self.switches.auth_failure_status;
        let token = header
            .and_then(|h| {
                let (scheme, token) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| ApiError::new(status, "A bearer token is required."))?;
        match self.tokens.iter().find(|t| t.token == token) {
            Some(t) if !t.revoked => Ok(t.token.clone()),
            Some(_) => Err(ApiError::new(status, "The token has been revoked.")),
            None => Err(ApiError::new(status, "The token is not valid.")),
        }
    }

    /// Take one request from the token's bucket, or say how long to wait.
    pub fn rate_check(&mut self, token: &str) -> Result<(), ApiError> {
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let now = tokio::time::Instant::now();
        let burst = f64::from(limit.burst.max(1));
        let bucket = self.buckets.entry(token.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / limit.per_second).ceil();
        // Saturating float-to-int cast; Retry-After is whole seconds, at least 1.
        let secs = (wait as u64).max(1);
        Err(ApiError {
            retry_after: Some(secs),
            ..ApiError::typed(429, "tooMany", "Rate limited: slow down and retry later.")
        })
    }

    // ----- representation -----

    fn meta(&self, kind: &str, id: &str, created: i64, modified: i64) -> Value {
        let collection = if kind == "User" { "Users" } else { "Groups" };
        json!({
            "resourceType": kind,
            "created": created.to_string(),
            "lastModified": modified.to_string(),
            "location": format!("{LOCATION_BASE}/{collection}/{id}"),
        })
    }

    pub fn user_json(&self, a: &Account) -> Value {
        let mut out = Map::new();
        // Notion lists only the core URN even when extension objects are present
        // (docs/notion.md, "Users").
        out.insert("schemas".into(), json!([USER_SCHEMA]));
        out.insert("id".into(), json!(a.id));
        for key in USER_KEYS {
            if *key == "active" {
                out.insert("active".into(), json!(a.status == Status::Member));
                continue;
            }
            if let Some(v) = a.doc.get(*key) {
                out.insert((*key).to_owned(), v.clone());
            }
        }
        if !out.contains_key("photos") {
            out.insert("photos".into(), json!([]));
        }
        out.insert(
            "meta".into(),
            self.meta("User", &a.id, a.created_ms, a.modified_ms),
        );
        Value::Object(out)
    }

    fn group_json(&self, g: &Group) -> Value {
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|m| {
                let display = self
                    .accounts
                    .iter()
                    .find(|a| a.id == *m)
                    .map(|a| a.user_name().to_owned());
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

    // ----- lists -----

    fn page(&self, query: &ListQuery) -> Result<(usize, usize), ApiError> {
        let start = match &query.start_index {
            Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
                ApiError::typed(
                    400,
                    "invalidValue",
                    format!("startIndex {raw:?} is not a number."),
                )
            })?,
            None => 1,
        };
        // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0.
        let start = if self.switches.ignore_start_index {
            1
        } else {
            usize::try_from(start.max(1)).unwrap_or(1)
        };
        let count = match &query.count {
            Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
                ApiError::typed(
                    400,
                    "invalidValue",
                    format!("count {raw:?} is not a number."),
                )
            })?,
            None => MAX_COUNT as i64,
        };
        let mut count = usize::try_from(count.max(0)).unwrap_or(0);
        if count > MAX_COUNT {
            match self.switches.max_count {
                MaxCount::Clamp => count = MAX_COUNT,
                MaxCount::Reject => {
                    return Err(ApiError::typed(
                        400,
                        "invalidValue",
                        format!("count may not exceed {MAX_COUNT}."),
                    ))
                }
            }
        }
        Ok((start, count))
    }

    /// The `totalResults` a list reports: the true count, or the lie the switches ask for
    /// (unfiltered lists only, so lookups stay truthful).
    fn reported_total(&self, query: &ListQuery, total: usize) -> u64 {
        match (self.switches.total_results, &query.filter) {
            (Some(lie), None) => lie,
            _ => total as u64,
        }
    }

    fn envelope(resources: Vec<Value>, total: u64, start: usize) -> Value {
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        })
    }

    fn order<T>(&mut self, items: &mut [T], seq: impl Fn(&T) -> i64) {
        items.sort_by_key(seq);
        if self.switches.unstable_order {
            items.shuffle(&mut self.rng);
        }
    }

    fn visible(&self, a: &Account) -> bool {
        match a.status {
            Status::Member => true,
            Status::Removed => self.switches.removed_user == RemovedUser::Inactive,
            Status::Guest => false,
        }
    }

    pub fn list_users(&mut self, query: &ListQuery) -> Reply {
        let matcher = match &query.filter {
            Some(text) => self.user_filter(text)?,
            None => None,
        };
        let mut found: Vec<(i64, String)> = self
            .accounts
            .iter()
            .filter(|a| self.visible(a))
            .filter(|a| matcher.as_ref().is_none_or(|m| m(a)))
            .map(|a| (a.seq, a.id.clone()))
            .collect();
        self.order(&mut found, |(seq, _)| *seq);
        let total = found.len();
        let (start, count) = self.page(query)?;
        let resources: Vec<Value> = found
            .iter()
            .skip(start - 1)
            .take(count)
            .filter_map(|(_, id)| self.accounts.iter().find(|a| a.id == *id))
            .map(|a| self.user_json(a))
            .collect();
        let body = Self::envelope(resources, self.reported_total(query, total), start);
        if self.switches.insert_during_read && query.filter.is_none() && start == 1 {
            self.insert_member();
        }
        Ok((200, Some(body)))
    }

    /// A member who joins while a client pages through `/Users`: first in order, so every
    /// later page shifts by one and `totalResults` grows (docs/notion.md, "Paging").
    fn insert_member(&mut self) {
        self.inserted += 1;
        let domain = self
            .verified_domains
            .first()
            .cloned()
            .unwrap_or_else(|| "example.com".to_owned());
        let user = SeedUser {
            user_name: format!("joined-mid-read-{}@{domain}", self.inserted),
            given_name: Some("Joined".into()),
            family_name: Some(format!("Midread{}", self.inserted)),
            ..SeedUser::default()
        };
        let id = self.seed_user(&user);
        self.first_seq -= 1;
        let seq = self.first_seq;
        for a in self.accounts.iter_mut().filter(|a| a.id == id) {
            a.seq = seq;
        }
    }

    #[allow(clippy::type_complexity)]
    fn user_filter(&self, text: &str) -> Result<Option<Box<dyn Fn(&Account) -> bool>>, ApiError> {
        let invalid = |detail: String| ApiError::typed(400, "invalidFilter", detail);
        let parsed = match filter::parse(text) {
            Ok(parsed) => parsed,
            Err(e) if self.switches.reject_unknown_filter => return Err(invalid(e.0)),
            Err(_) => return Ok(None),
        };
        let value = parsed.value.clone();
        let attr = parsed.attr.to_ascii_lowercase();
        let name_part = |part: &'static str, value: String| -> Box<dyn Fn(&Account) -> bool> {
            Box::new(move |a: &Account| {
                a.doc
                    .get("name")
                    .and_then(|n| n.get(part))
                    .and_then(Value::as_str)
                    == Some(value.as_str())
            })
        };
        Ok(Some(match attr.as_str() {
            // Notion lowercases emails, so email lookups ignore case (docs/notion.md, "Filters").
            "email" => {
                let value = value.to_ascii_lowercase();
                Box::new(move |a: &Account| a.owns_email(&value))
            }
            "username" if self.switches.user_name_filter => {
                Box::new(move |a: &Account| a.user_name().eq_ignore_ascii_case(&value))
            }
            // The snake_case names are Notion's own and match case-sensitively
            // (docs/notion.md, "Filters").
            "given_name" if parsed.attr == "given_name" => name_part("givenName", value),
            "family_name" if parsed.attr == "family_name" => name_part("familyName", value),
            _ if self.switches.reject_unknown_filter => {
                return Err(invalid(format!(
                    "Filtering on {:?} is not supported; use email, given_name or family_name.",
                    parsed.attr
                )))
            }
            _ => return Ok(None),
        }))
    }

    pub fn list_groups(&mut self, query: &ListQuery) -> Reply {
        let wanted = match &query.filter {
            Some(text) => {
                let parsed =
                    filter::parse(text).map_err(|e| ApiError::typed(400, "invalidFilter", e.0))?;
                if !parsed.attr.eq_ignore_ascii_case("displayName") {
                    return Err(ApiError::typed(
                        400,
                        "invalidFilter",
                        "Groups can only be filtered on displayName.",
                    ));
                }
                Some(parsed.value)
            }
            None => None,
        };
        let mut found: Vec<(i64, String)> = self
            .groups
            .iter()
            .filter(|g| {
                wanted
                    .as_deref()
                    .is_none_or(|w| g.display_name.eq_ignore_ascii_case(w))
            })
            .map(|g| (g.seq, g.id.clone()))
            .collect();
        self.order(&mut found, |(seq, _)| *seq);
        let total = found.len();
        let (start, count) = self.page(query)?;
        let resources = found
            .iter()
            .skip(start - 1)
            .take(count)
            .filter_map(|(_, id)| self.groups.iter().find(|g| g.id == *id))
            .map(|g| {
                let mut body = self.group_json(g);
                exclude(&mut body, &query.excluded);
                body
            })
            .collect();
        let reported = self.reported_total(query, total);
        Ok((200, Some(Self::envelope(resources, reported, start))))
    }

    // ----- users -----

    fn user_index(&self, id: &str) -> Result<usize, ApiError> {
        self.accounts
            .iter()
            .position(|a| a.id == id && self.visible(a))
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
        let mut doc = Map::new();
        for (key, value) in input {
            let canonical = USER_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key));
            if let Some(k) = canonical {
                if !value.is_null() {
                    doc.insert((*k).to_owned(), value.clone());
                }
            }
        }
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
        doc.insert("userName".into(), json!(user_name));
        if !self.switches.keep_external_id {
            doc.remove("externalId");
        }
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
        if let Some(phones) = doc.get("phoneNumbers").and_then(Value::as_array) {
            // Notion keeps one number: the primary, else the first with a value
            // (docs/notion.md, "Users").
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
        if let Some(ext) = doc.get(NOTION_SCHEMA) {
            match ext.get("role") {
                Some(Value::String(role)) => {
                    if self.switches.reject_unknown_role && !ROLES.contains(&role.as_str()) {
                        return Err(ApiError::typed(
                            400,
                            "invalidValue",
                            format!("The role {role:?} is not one of {}.", ROLES.join(", ")),
                        ));
                    }
                }
                _ => {
                    return Err(ApiError::typed(
                        400,
                        "invalidValue",
                        "A Notion role must be a string.",
                    ))
                }
            }
        }
        // Entra has sent `"value": "False"` for active; read booleans written as strings too.
        if let Some(Value::String(text)) = doc.get("active") {
            match text.to_ascii_lowercase().as_str() {
                "true" => doc.insert("active".into(), json!(true)),
                "false" => doc.insert("active".into(), json!(false)),
                _ => None,
            };
        }
        if let Some(active) = doc.get("active") {
            if !active.is_boolean() {
                return Err(ApiError::typed(
                    400,
                    "invalidValue",
                    "active must be a boolean.",
                ));
            }
        }
        Ok(doc)
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
            self.accounts
                .iter()
                .any(|a| Some(a.id.as_str()) != except && a.owns_email(email))
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
        let existing = self.accounts.iter().position(|a| a.owns_email(&user_name));
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
        let id = match existing {
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
                let account = &mut self.accounts[at];
                account.id = id.clone();
                account.seq = seq;
                account.status = status;
                account.doc = doc;
                account.modified_ms = now;
                id
            }
            None => {
                let id = self.new_id();
                let seq = self.seq();
                self.accounts.push(Account {
                    id: id.clone(),
                    seq,
                    status,
                    doc,
                    created_ms: now,
                    modified_ms: now,
                });
                id
            }
        };
        let at = self.user_index_any(&id)?;
        Ok((create_status, Some(self.user_json(&self.accounts[at]))))
    }

    fn user_index_any(&self, id: &str) -> Result<usize, ApiError> {
        self.accounts
            .iter()
            .position(|a| a.id == id)
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
        // Photos are read only on create (docs/notion.md, "Updates (PATCH and PUT)"); a PUT
        // without the role keeps it, since Notion users always carry one.
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
        let account = &mut self.accounts[at];
        account.doc = doc;
        account.modified_ms = now;
        if active && !was_member {
            account.status = Status::Member;
        }
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
    /// are revoked (docs/notion.md, "Creating, removing and re-adding"). The account itself lives
    /// on, so a POST can add it back.
    fn remove_member(&mut self, id: &str) {
        let now = self.now_ms();
        for a in self.accounts.iter_mut().filter(|a| a.id == id) {
            a.status = Status::Removed;
            a.modified_ms = now;
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
            .accounts
            .iter()
            .position(|a| a.id == id && a.status == Status::Member)
            .ok_or_else(|| ApiError::not_found("User", id))?;
        let id = self.accounts[at].id.clone();
        self.check_removable(&id, token)?;
        self.remove_member(&id);
        Ok((self.switches.delete_status, None))
    }

    // ----- groups -----

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
        match doc.get("members") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let value = item.get("value").and_then(Value::as_str).ok_or_else(|| {
                        ApiError::typed(400, "invalidValue", "Each member needs a value.")
                    })?;
                    let account = self.accounts.iter().find(|a| a.id == value);
                    match account {
                        Some(a) if a.status == Status::Member => {
                            if !members.contains(&a.id) {
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
        if self.name_taken(&display_name, None) {
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
        if self.name_taken(&display_name, Some(&id)) {
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
}

/// Honour `excludedAttributes` for the one attribute clients leave out: group `members`.
fn exclude(body: &mut Value, excluded: &[String]) {
    if let Some(object) = body.as_object_mut() {
        if excluded.iter().any(|a| a == "members") {
            object.remove("members");
        }
    }
}

fn has_value(p: &Value) -> bool {
    p.get("value")
        .and_then(Value::as_str)
        .is_some_and(|v| !v.trim().is_empty())
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
