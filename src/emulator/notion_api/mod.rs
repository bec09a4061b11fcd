//! An emulation of the part of Notion's public REST API that idbridge publishes reports through
//! (docs/notion.md, "Public API used for publishing"): databases with a schema, their query with
//! the filters idbridge sends and cursor paging, page create and property update. It checks what
//! Notion checks (the bearer token, `Notion-Version`, property names and types, 2,000 characters
//! per rich-text content and 100 items per array, the request body size), answers errors in
//! Notion's shape (`{"object": "error", "status", "code", "message"}`), and can throttle at an
//! average rate with 429 `rate_limited` and `Retry-After` (switchable), hide a database from the
//! integration (404 `object_not_found`, as when it was never shared), and lose a reply after the
//! work was done.
//!
//! Served under `/v1/` by `idbridge emulator --notion-api` next to the SCIM emulator, or alone
//! on a loopback port by the tests ([`NotionApi::spawn`]). The state mutex is never held across
//! an `.await`.

mod values;

use super::{RateLimit, Running};
use crate::clock::Clock;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// Notion refuses request bodies above this size (docs/notion.md, "Public API used for
/// publishing").
pub const MAX_BODY_BYTES: usize = 500 * 1000;
/// Most results one query page returns.
const MAX_PAGE_SIZE: u64 = 100;

/// A Notion API error.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// A fault for the next request that reaches the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotionFault {
    /// Answer 429 `rate_limited` with this `Retry-After`.
    Throttle {
        /// Seconds.
        retry_after_secs: u64,
    },
    /// Do the work, then break the reply off (a lost reply).
    LoseReply,
    /// Answer 500 `internal_server_error` without doing the work.
    ServerError,
}

/// A request the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotionRequest {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Status answered.
    pub status: u16,
    /// The `Notion-Version` header sent.
    pub version: Option<String>,
}

/// A stored page, as a test reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct PageView {
    /// Its id.
    pub id: String,
    /// Its properties as the API returns them.
    pub properties: Map<String, Value>,
}

impl PageView {
    /// A title or rich-text property as one text.
    pub fn text(&self, property: &str) -> String {
        values::plain_text(self.properties.get(property))
    }
}

struct Database {
    title: String,
    shared: bool,
    schema: BTreeMap<String, String>,
    pages: Vec<PageView>,
}

struct Bucket {
    tokens: f64,
    at: tokio::time::Instant,
}

#[derive(Default)]
struct ApiState {
    tokens: HashSet<String>,
    databases: BTreeMap<String, Database>,
    rate_limit: Option<RateLimit>,
    bucket: Option<Bucket>,
    /// Faults, each for the next request or the next one to `METHOD /path`.
    faults: VecDeque<(Option<String>, NotionFault)>,
    requests: Vec<NotionRequest>,
    next_id: u64,
}

/// The emulated API: cheap to clone, clones share the state.
#[derive(Clone)]
pub struct NotionApi {
    state: Arc<Mutex<ApiState>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for NotionApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotionApi").finish_non_exhaustive()
    }
}

/// A schema the `changes` report (published one page per change) fills completely, for `idbridge emulator
/// --notion-api` (docs/reports.md, "Publishing to Notion").
pub fn changes_schema() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Change", "title"),
        ("when", "date"),
        ("operation", "select"),
        ("userName", "rich_text"),
        ("changes", "rich_text"),
        ("reason", "rich_text"),
        ("run", "number"),
        ("sequence", "number"),
        ("scimId", "rich_text"),
        ("sourceKey", "rich_text"),
    ]
}

/// A schema `[alerts] notion_database` fills completely: one page per alert episode
/// (docs/config.md, `[alerts]`).
pub fn alerts_schema() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Alert", "title"),
        ("Condition", "select"),
        ("Severity", "select"),
        ("Target", "rich_text"),
        ("Run", "number"),
        ("Message", "rich_text"),
        ("Since", "date"),
        ("Cleared", "date"),
        ("Status", "select"),
    ]
}

/// A schema for the `users` report (the access review), one page per person.
pub fn users_schema() -> Vec<(&'static str, &'static str)> {
    vec![
        ("userName", "title"),
        ("displayName", "rich_text"),
        ("role", "select"),
        ("status", "select"),
        ("idbridge", "rich_text"),
        ("employee id", "rich_text"),
        ("source keys", "multi_select"),
        ("attributes and where they come from", "rich_text"),
        ("last changed", "date"),
        ("last operation", "select"),
        ("run", "number"),
        ("SSO", "rich_text"),
        ("scimId", "rich_text"),
        ("managed", "select"),
    ]
}

impl NotionApi {
    /// An empty API: no token, no database, no rate limit.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::new(Mutex::new(ApiState::default())),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ApiState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Accept this integration token.
    pub fn add_token(&self, token: &str) {
        self.lock().tokens.insert(token.to_owned());
    }

    /// A database shared with the integration, with `(name, type)` properties (exactly one
    /// `title`); returns its id.
    pub fn add_database(&self, title: &str, properties: &[(&str, &str)]) -> String {
        let mut st = self.lock();
        let id = st.new_id();
        let schema = properties
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        st.databases.insert(
            id.clone(),
            Database {
                title: title.to_owned(),
                shared: true,
                schema,
                pages: Vec::new(),
            },
        );
        id
    }

    /// Share the database with the integration, or take it away.
    pub fn set_shared(&self, database: &str, shared: bool) {
        if let Some(db) = self.lock().databases.get_mut(database) {
            db.shared = shared;
        }
    }

    /// Throttle at this average rate (429 with `Retry-After` beyond it), or not at all.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut st = self.lock();
        st.rate_limit = limit;
        st.bucket = None;
    }

    /// Queue a fault for the next request.
    pub fn push_fault(&self, fault: NotionFault) {
        self.lock().faults.push_back((None, fault));
    }

    /// Queue a fault for the next request to `method` `path` (e.g. `POST`, `/v1/pages`).
    pub fn push_fault_on(&self, method: &str, path: &str, fault: NotionFault) {
        self.lock()
            .faults
            .push_back((Some(format!("{method} {path}")), fault));
    }

    /// The database's pages, oldest first.
    pub fn pages(&self, database: &str) -> Vec<PageView> {
        self.lock()
            .databases
            .get(database)
            .map(|d| d.pages.clone())
            .unwrap_or_default()
    }

    /// Add a page as a person would in Notion's interface (no validation).
    pub fn add_page(&self, database: &str, title: &str) -> Option<String> {
        let mut st = self.lock();
        let id = st.new_id();
        let db = st.databases.get_mut(database)?;
        let mut properties = values::empty(&db.schema);
        let title_name = db.schema.iter().find(|(_, t)| *t == "title")?.0.clone();
        let mut given = Map::new();
        given.insert(
            title_name,
            json!({ "title": [{ "type": "text", "text": { "content": title } }] }),
        );
        properties.extend(values::validate(&db.schema, &given).ok()?);
        db.pages.push(PageView {
            id: id.clone(),
            properties,
        });
        Some(id)
    }

    /// Set a title or rich-text property of a page as a person editing it in Notion would.
    pub fn set_text(&self, page: &str, property: &str, text: &str) -> bool {
        let mut st = self.lock();
        for db in st.databases.values_mut() {
            let Some(kind) = db.schema.get(property).cloned() else {
                continue;
            };
            let mut given = Map::new();
            given.insert(
                property.to_owned(),
                json!({ kind.as_str(): [{ "type": "text", "text": { "content": text } }] }),
            );
            let Ok(stored) = values::validate(&db.schema, &given) else {
                continue;
            };
            if let Some(p) = db.pages.iter_mut().find(|p| p.id == page) {
                p.properties.extend(stored);
                return true;
            }
        }
        false
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<NotionRequest> {
        self.lock().requests.clone()
    }

    /// The router of the `/v1/` endpoints.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1/databases/{id}", get(retrieve_database))
            .route("/v1/databases/{id}/query", post(query_database))
            .route("/v1/pages", post(create_page))
            .route("/v1/pages/{id}", patch(update_page))
            .route("/v1/{*rest}", axum::routing::any(unknown))
            .with_state(self.clone())
    }

    /// Serve alone on a free loopback port in a background task.
    pub async fn spawn(self) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        let task = tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Running {
            addr,
            prefix: String::new(),
            task,
        })
    }
}

impl ApiState {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        let n = self.next_id;
        format!("{:08x}-0000-4000-8000-{:012x}", 0x1d_b1d9e0_u64 + n, n)
    }

    fn database(&self, id: &str) -> Result<&Database, ApiError> {
        self.databases
            .get(&dashed(id))
            .filter(|d| d.shared)
            .ok_or_else(|| not_found("database", id))
    }

    fn database_mut(&mut self, id: &str) -> Result<&mut Database, ApiError> {
        self.databases
            .get_mut(&dashed(id))
            .filter(|d| d.shared)
            .ok_or_else(|| not_found("database", id))
    }

    /// Take one request from the bucket, or say how long to wait.
    fn rate_check(&mut self) -> Result<(), ApiError> {
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let now = tokio::time::Instant::now();
        let burst = f64::from(limit.burst.max(1));
        let bucket = self.bucket.get_or_insert(Bucket {
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
        Err(ApiError {
            retry_after: Some((wait as u64).max(1)),
            ..ApiError::new(
                429,
                "rate_limited",
                "You have been rate limited. Please try again in a few minutes.",
            )
        })
    }
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(
        404,
        "object_not_found",
        format!(
            "Could not find {what} with ID: {id}. Make sure the relevant pages and databases are \
             shared with your integration."
        ),
    )
}

/// An id with or without dashes, in the dashed form.
fn dashed(id: &str) -> String {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return id.to_owned();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// What every request goes through before its handler: the log entry, a queued fault, the
/// token, the version header, the rate limit and the body's size. Returns the fault to apply
/// after the work (a lost reply).
fn gate(
    st: &mut ApiState,
    request: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<NotionFault>, ApiError> {
    let due = st
        .faults
        .iter()
        .position(|(on, _)| on.as_deref().is_none_or(|on| on == request));
    let fault = due
        .and_then(|i| st.faults.remove(i))
        .map(|(_, fault)| fault);
    match fault {
        Some(NotionFault::Throttle { retry_after_secs }) => {
            return Err(ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(429, "rate_limited", "Injected fault: rate limited.")
            })
        }
        Some(NotionFault::ServerError) => {
            return Err(ApiError::new(
                500,
                "internal_server_error",
                "Injected fault: unexpected error.",
            ))
        }
        _ => {}
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !token.is_some_and(|t| st.tokens.contains(t)) {
        return Err(ApiError::new(401, "unauthorized", "API token is invalid."));
    }
    let version = headers.get("notion-version").and_then(|v| v.to_str().ok());
    match version {
        None => {
            return Err(ApiError::new(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
            ))
        }
        Some(v) if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err() => {
            return Err(ApiError::new(
                400,
                "validation_error",
                format!("Notion-Version header failed validation: `{v}` is not a version."),
            ))
        }
        Some(_) => {}
    }
    st.rate_check()?;
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            413,
            "validation_error",
            format!("Request body too large: {} bytes.", body.len()),
        ));
    }
    Ok(fault)
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::new(400, "invalid_json", "Error parsing JSON body."))
}

fn page_json(page: &PageView, database: &str, at: &str) -> Value {
    json!({
        "object": "page",
        "id": page.id,
        "created_time": at,
        "last_edited_time": at,
        "archived": false,
        "parent": { "type": "database_id", "database_id": database },
        "properties": page.properties,
        "url": format!("https://www.notion.so/{}", page.id.replace('-', "")),
    })
}

/// Answer one request: the gate, the handler under the lock, the log entry, the reply.
fn answer(
    api: &NotionApi,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    handler: impl FnOnce(&mut ApiState, &str) -> Result<Value, ApiError>,
) -> Response {
    let at = api.clock.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut st = api.lock();
    let request = format!("{method} {path}");
    let outcome = gate(&mut st, &request, headers, body)
        .and_then(|fault| Ok((handler(&mut st, &at)?, fault)));
    let response = match outcome {
        Ok((value, Some(NotionFault::LoseReply))) => broken_reply(&value),
        Ok((value, _)) => json_reply(200, &value),
        Err(err) => error_reply(&err),
    };
    st.requests.push(NotionRequest {
        method: method.to_string(),
        path: path.to_owned(),
        status: response.status().as_u16(),
        version: headers
            .get("notion-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    response
}

async fn retrieve_database(
    State(api): State<NotionApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/databases/{id}");
    answer(
        &api,
        &Method::GET,
        &path,
        &headers,
        &Bytes::new(),
        |st, at| {
            let db = st.database(&id)?;
            let properties: Map<String, Value> = db
                .schema
                .iter()
                .map(|(name, kind)| {
                    (
                        name.clone(),
                        json!({ "id": name, "name": name, "type": kind, kind.as_str(): {} }),
                    )
                })
                .collect();
            Ok(json!({
                "object": "database",
                "id": dashed(&id),
                "created_time": at,
                "title": [{ "type": "text", "text": { "content": db.title }, "plain_text": db.title }],
                "properties": properties,
            }))
        },
    )
}

async fn query_database(
    State(api): State<NotionApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/databases/{id}/query");
    answer(
        &api,
        &Method::POST,
        &path,
        &headers,
        &body.clone(),
        |st, at| {
            let request = parse_body(&body)?;
            let db = st.database(&id)?;
            let size = match request.get("page_size") {
                None => MAX_PAGE_SIZE,
                Some(v) => v
                    .as_u64()
                    .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                    .ok_or_else(|| {
                        ApiError::new(
                            400,
                            "validation_error",
                            "body failed validation: body.page_size should be ≤ `100`.",
                        )
                    })?,
            };
            let filter = match request.get("filter") {
                None => None,
                Some(f) => Some(values::Filter::parse(f, &db.schema)?),
            };
            let kept: Vec<&PageView> = db
                .pages
                .iter()
                .filter(|p| filter.as_ref().is_none_or(|f| f.keeps(&p.properties)))
                .collect();
            // The cursor is the id of the first page of the next batch, as Notion's cursors are.
            let start = match request.get("start_cursor").and_then(Value::as_str) {
            None => 0,
            Some(cursor) => kept.iter().position(|p| p.id == cursor).ok_or_else(|| {
                ApiError::new(
                    400,
                    "validation_error",
                    format!("body failed validation: body.start_cursor `{cursor}` is not a cursor of this query."),
                )
            })?,
        };
            let end = (start + size as usize).min(kept.len());
            let database = dashed(&id);
            let results: Vec<Value> = kept[start..end]
                .iter()
                .map(|p| page_json(p, &database, at))
                .collect();
            let next = kept.get(end).map(|p| p.id.clone());
            Ok(json!({
                "object": "list",
                "results": results,
                "next_cursor": next,
                "has_more": next.is_some(),
                "type": "page_or_database",
                "page_or_database": {},
            }))
        },
    )
}

async fn create_page(State(api): State<NotionApi>, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        &api,
        &Method::POST,
        "/v1/pages",
        &headers,
        &body.clone(),
        |st, at| {
            let request = parse_body(&body)?;
            let database = request
                .get("parent")
                .and_then(|p| p.get("database_id"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "validation_error",
                        "body failed validation: body.parent.database_id should be defined.",
                    )
                })?
                .to_owned();
            let given = properties_of(&request)?;
            let id = st.new_id();
            let db = st.database_mut(&database)?;
            let mut properties = values::empty(&db.schema);
            properties.extend(values::validate(&db.schema, &given)?);
            let page = PageView { id, properties };
            let reply = page_json(&page, &dashed(&database), at);
            db.pages.push(page);
            Ok(reply)
        },
    )
}

async fn update_page(
    State(api): State<NotionApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/pages/{id}");
    answer(
        &api,
        &Method::PATCH,
        &path,
        &headers,
        &body.clone(),
        |st, at| {
            let request = parse_body(&body)?;
            let given = properties_of(&request)?;
            let wanted = dashed(&id);
            let (database, db) = st
                .databases
                .iter_mut()
                .filter(|(_, d)| d.shared)
                .find(|(_, d)| d.pages.iter().any(|p| p.id == wanted))
                .ok_or_else(|| not_found("page", &id))?;
            let stored = values::validate(&db.schema, &given)?;
            let page = db
                .pages
                .iter_mut()
                .find(|p| p.id == wanted)
                .ok_or_else(|| not_found("page", &id))?;
            page.properties.extend(stored);
            Ok(page_json(page, database, at))
        },
    )
}

fn properties_of(request: &Value) -> Result<Map<String, Value>, ApiError> {
    request
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                400,
                "validation_error",
                "body failed validation: body.properties should be defined, instead was `undefined`.",
            )
        })
}

async fn unknown(method: Method, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let _ = headers;
    error_reply(&ApiError::new(
        400,
        "invalid_request_url",
        format!(
            "Invalid request URL: {method} {} is not emulated.",
            uri.path()
        ),
    ))
}

fn json_reply(status: u16, value: &Value) -> Response {
    let mut response = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn error_reply(err: &ApiError) -> Response {
    let body = json!({
        "object": "error",
        "status": err.status,
        "code": err.code,
        "message": err.message,
    });
    let mut response = json_reply(err.status, &body);
    if let Some(secs) = err.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The work is done; half the body goes out under a `Content-Length` promising more, so the
/// client's read of the reply fails.
fn broken_reply(value: &Value) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let full = bytes.len() + 64;
    let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
    let mut response = Response::new(Body::from_stream(Body::from(half).into_data_stream()));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    response
}
