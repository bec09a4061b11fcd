//! A client of Notion's public REST API, small on purpose: a database's schema
//! (`GET /v1/databases/{id}`), its pages by a filter with cursor paging
//! (`POST /v1/databases/{id}/query`), a page created (`POST /v1/pages`) and a page's properties
//! updated (`PATCH /v1/pages/{id}`). docs/notion.md, "Public API used for publishing", has the
//! facts these rest on (version header, rate limit, error codes, size limits).
//!
//! - Every request carries `Notion-Version` and the integration token as a bearer token (a
//!   `SecretString`, the header marked sensitive; server text is scrubbed by the SCIM client's
//!   `Redactor` before any message holds it).
//! - Requests wait for a `governor` budget (3 per second by default, Notion's documented average),
//!   and a 429 or 529 is retried after its `Retry-After` through the shared policy (`retry`).
//! - Every reply body is read chunk by chunk up to `max_reply_bytes`, an error body only to 64 KiB.
//! - A page create whose reply was lost may have been applied: before it is sent again the page
//!   is looked up by its key, so a retry never makes a second page.

use super::error::{Error, Result};
use super::props::{PropType, Schema};
use crate::clock::Clock;
use crate::retry::{Again, Earlier, Failed, Policy, Throttle};
use crate::scim::redact::Redactor;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Notion's API root.
pub const DEFAULT_URL: &str = "https://api.notion.com";
/// The `Notion-Version` idbridge speaks: the last version whose databases are queried at
/// `/v1/databases/{id}/query` (docs/notion.md, "Public API used for publishing").
pub const DEFAULT_VERSION: &str = "2022-06-28";
/// The first version that moved database queries and page parents to data sources; idbridge
/// does not speak it yet.
pub const DATA_SOURCES_VERSION: &str = "2025-09-03";
/// Notion's largest page of query results.
const PAGE_SIZE: u32 = 100;
/// How much of an error body is read: only an excerpt is ever quoted.
const ERROR_BODY_BYTES: usize = 64 << 10;
/// The longest excerpt of Notion's message quoted in an error.
const MESSAGE_CHARS: usize = 500;
/// Longest wait for a connection, whatever the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a client. `Debug` shows the token as `[REDACTED]` (secrecy).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The API root, `https://api.notion.com` (the emulator's address in tests).
    pub url: Url,
    /// The `Notion-Version` header.
    pub version: String,
    /// The internal integration token.
    pub token: SecretString,
    /// Where the token is configured, for messages ("the environment variable X"); never the token.
    pub token_source: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Requests per second on average; `None` = no client-side limit.
    pub rate_limit: Option<f64>,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// First backoff delay.
    pub backoff_base: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// Largest reply body read.
    pub max_reply_bytes: u64,
    /// Most result pages one database query reads (100 pages each).
    pub max_query_pages: u32,
}

impl Settings {
    /// The documented defaults: 30 s timeout, 3 requests per second, 5 retries, `Retry-After`
    /// up to 120 s, backoff 500 ms to 30 s, replies up to 8 MiB, queries up to 1,000 result
    /// pages (100,000 pages of the database).
    pub fn new(url: Url, version: &str, token: SecretString, token_source: &str) -> Self {
        Self {
            url,
            version: version.to_owned(),
            token,
            token_source: token_source.to_owned(),
            timeout: Duration::from_secs(30),
            rate_limit: Some(3.0),
            max_retries: 5,
            max_retry_after: Duration::from_secs(120),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_reply_bytes: 8 << 20,
            max_query_pages: 1_000,
        }
    }
}

/// A database id: 32 hex digits, kept in Notion's dashed form, with the config key that named it
/// (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseId {
    id: String,
    origin: String,
}

impl DatabaseId {
    /// Read an id as Notion shows it: 32 hex digits with or without dashes, or a database URL
    /// (`https://www.notion.so/acme/0123…cdef?v=…`), whose last 32 hex digits before `?` are the
    /// id. `origin` names where it was configured.
    pub fn parse(text: &str, origin: &str) -> std::result::Result<Self, String> {
        let text = text.trim();
        let path = text.split(['?', '#']).next().unwrap_or("");
        let hex: String = path.chars().filter(|c| *c != '-').collect();
        let tail: String = hex
            .chars()
            .rev()
            .take_while(char::is_ascii_hexdigit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if tail.len() < 32 || (!text.contains('/') && hex.len() != 32) {
            return Err(format!(
                "`{text}` is not a Notion database id: copy the 32 hexadecimal characters of the \
                 database's link (Share → Copy link), before `?v=`"
            ));
        }
        let h = tail[tail.len() - 32..].to_ascii_lowercase();
        let id = format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        );
        Ok(Self {
            id,
            origin: origin.to_owned(),
        })
    }

    /// The dashed id.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The config key that named it.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl std::fmt::Display for DatabaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

/// A page as a query or a write returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Its id.
    pub id: String,
    /// Its property values, as Notion sent them (`props` reads them).
    pub properties: Map<String, Value>,
}

/// The key a page is found by: a title or rich-text property and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The property's name.
    pub property: String,
    /// Its type (title or rich text).
    pub kind: PropType,
    /// The value.
    pub value: String,
}

/// Requests one client made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// 429 replies.
    pub throttled: u64,
}

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

/// The client of one integration token. Cheap to share behind an `Arc`; requests may run
/// concurrently and share the rate budget.
pub struct Client {
    http: reqwest::Client,
    root: Url,
    version: HeaderValue,
    auth: HeaderValue,
    redactor: Redactor,
    token_source: String,
    policy: Policy,
    limiter: Option<DefaultDirectRateLimiter>,
    max_reply_bytes: u64,
    max_query_pages: u32,
    clock: Arc<dyn Clock>,
    stats: Stats,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("root", &self.root.as_str())
            .finish_non_exhaustive()
    }
}

/// One HTTP exchange before the retry policy judges it.
enum Attempt {
    Reply {
        status: u16,
        retry_after: Option<String>,
        body: String,
    },
    Lost(String),
    NoConnection {
        detail: String,
        retry: bool,
    },
}

fn config(detail: impl Into<String>) -> Error {
    Error::Config {
        detail: detail.into(),
    }
}

impl Client {
    /// A client; every setting is checked here, so a bad one fails before any request.
    pub fn new(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self> {
        let root = settings.url.clone();
        if !matches!(root.scheme(), "http" | "https") || root.cannot_be_a_base() {
            return Err(config(format!(
                "the Notion API URL {root} is not an http(s) URL; leave notion.url out for \
                 {DEFAULT_URL}"
            )));
        }
        check_version(&settings.version).map_err(config)?;
        let token = settings.token.expose_secret().trim();
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err(config(format!(
                "the integration token in {} is empty or holds spaces",
                settings.token_source
            )));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            config(format!(
                "the integration token in {} holds characters an HTTP header cannot carry",
                settings.token_source
            ))
        })?;
        auth.set_sensitive(true);
        let version = HeaderValue::from_str(&settings.version)
            .map_err(|_| config("notion.version is not a header value"))?;
        let limiter = match settings.rate_limit {
            None => None,
            Some(rps) if rps.is_finite() && rps > 0.0 => {
                let period = Duration::from_secs_f64(1.0 / rps);
                let quota = Quota::with_period(period)
                    .ok_or_else(|| config("notion.rate_limit is too high"))?
                    .allow_burst(NonZeroU32::MIN);
                Some(RateLimiter::direct(quota))
            }
            Some(_) => return Err(config("notion.rate_limit must be a positive number")),
        };
        if settings.max_reply_bytes == 0 || settings.max_query_pages == 0 {
            return Err(config(
                "notion.max_reply_bytes and the query page bound must be at least 1",
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(CONNECT_TIMEOUT))
            .user_agent(concat!("idbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            root,
            version,
            auth,
            redactor: Redactor::new(token),
            token_source: settings.token_source,
            policy: Policy {
                retries: settings.max_retries,
                backoff_base: settings.backoff_base,
                backoff_max: settings.backoff_max.max(settings.backoff_base),
                max_retry_after: settings.max_retry_after,
                reconnects: 2,
                reconnect_delay: Duration::from_millis(250),
            },
            limiter,
            max_reply_bytes: settings.max_reply_bytes,
            max_query_pages: settings.max_query_pages,
            clock,
            stats: Stats::default(),
        })
    }

    /// Requests made so far.
    pub fn counts(&self) -> Counts {
        Counts {
            requests: self.stats.requests.load(Ordering::SeqCst),
            retries: self.stats.retries.load(Ordering::SeqCst),
            throttled: self.stats.throttled.load(Ordering::SeqCst),
        }
    }

    /// The database's schema: its properties and their types (`GET /v1/databases/{id}`). A 404
    /// or 403 is [`Error::NotShared`].
    pub async fn database(&self, db: &DatabaseId) -> Result<Schema> {
        let reply = self
            .send(Method::GET, &["databases", db.as_str()], None, Some(db))
            .await?;
        Schema::from_database(&reply).map_err(|detail| Error::InvalidReply {
            method: "GET".into(),
            path: format!("/v1/databases/{db}"),
            detail,
        })
    }

    /// Every page of the database that `filter` keeps (all pages without one), following
    /// `next_cursor` up to the bound of result pages.
    pub async fn query(&self, db: &DatabaseId, filter: Option<&Value>) -> Result<Vec<Page>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..self.max_query_pages {
            let mut body = json!({ "page_size": PAGE_SIZE });
            if let Some(filter) = filter {
                body["filter"] = filter.clone();
            }
            if let Some(cursor) = &cursor {
                body["start_cursor"] = json!(cursor);
            }
            let reply = self
                .send(
                    Method::POST,
                    &["databases", db.as_str(), "query"],
                    Some(&body),
                    Some(db),
                )
                .await?;
            let invalid = |detail: &str| Error::InvalidReply {
                method: "POST".into(),
                path: format!("/v1/databases/{db}/query"),
                detail: detail.to_owned(),
            };
            let results = reply
                .get("results")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("it has no `results` list"))?;
            for result in results {
                pages.push(page_of(result).map_err(|d| invalid(&d))?);
            }
            let more = reply.get("has_more").and_then(Value::as_bool) == Some(true);
            let next = reply.get("next_cursor").and_then(Value::as_str);
            match (more, next) {
                (false, _) => return Ok(pages),
                (true, None) => {
                    return Err(invalid("`has_more` is true but `next_cursor` is null"))
                }
                (true, Some(next)) => {
                    if !seen.insert(next.to_owned()) {
                        return Err(Error::Paging {
                            database: db.to_string(),
                            detail: format!("the cursor {next} came back twice"),
                        });
                    }
                    cursor = Some(next.to_owned());
                }
            }
        }
        Err(Error::Paging {
            database: db.to_string(),
            detail: format!(
                "it holds more than {} result pages of {PAGE_SIZE}; publish into a database \
                 with fewer pages",
                self.max_query_pages
            ),
        })
    }

    /// The pages whose key property equals `key.value`.
    pub async fn query_by_key(&self, db: &DatabaseId, key: &Key) -> Result<Vec<Page>> {
        let filter = json!({
            "property": key.property,
            key.kind.as_str(): { "equals": key.value },
        });
        self.query(db, Some(&filter)).await
    }

    /// Create a page in the database. With `key`, a create whose reply was lost is looked up
    /// by it before it is sent again, so a retry never makes a second page.
    pub async fn create_page(
        &self,
        db: &DatabaseId,
        properties: &Map<String, Value>,
        key: Option<&Key>,
    ) -> Result<Page> {
        let body = json!({
            "parent": { "database_id": db.as_str() },
            "properties": properties,
        });
        let path = "/v1/pages";
        let reply = self
            .retrying("POST", path, |earlier: Earlier| {
                let body = &body;
                async move {
                    if earlier.any_maybe_applied {
                        if let Some(key) = key {
                            let found = self.query_by_key(db, key).await.map_err(Failed::never)?;
                            if let Some(page) = found.into_iter().next() {
                                return Ok(page_json(&page));
                            }
                        }
                    }
                    let attempt = self.attempt(&Method::POST, &["pages"], Some(body)).await?;
                    self.judge("POST", path, attempt, Some(db))
                }
            })
            .await?;
        page_of(&reply).map_err(|detail| Error::InvalidReply {
            method: "POST".into(),
            path: path.into(),
            detail,
        })
    }

    /// Replace the given properties of a page (others are left as they are).
    pub async fn update_page(
        &self,
        page_id: &str,
        properties: &Map<String, Value>,
    ) -> Result<Page> {
        let body = json!({ "properties": properties });
        let reply = self
            .send(Method::PATCH, &["pages", page_id], Some(&body), None)
            .await?;
        page_of(&reply).map_err(|detail| Error::InvalidReply {
            method: "PATCH".into(),
            path: format!("/v1/pages/{page_id}"),
            detail,
        })
    }

    /// A request whose repetition is harmless (reads, queries, property updates), with retries.
    /// `db` is the database the request is about, so a 404/403 says to share it.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
        db: Option<&DatabaseId>,
    ) -> Result<Value> {
        let path = format!("/v1/{}", segments.join("/"));
        let (method, path) = (&method, path.as_str());
        self.retrying(method.as_str(), path, |_| async move {
            let attempt = self.attempt(method, segments, body).await?;
            self.judge(method.as_str(), path, attempt, db)
        })
        .await
    }

    async fn retrying<F, Fut>(&self, method: &str, path: &str, attempt: F) -> Result<Value>
    where
        F: FnMut(Earlier) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Value, Failed<Error>>>,
    {
        self.policy
            .run(attempt, |failed, wait, retry| {
                self.stats.retries.fetch_add(1, Ordering::SeqCst);
                tracing::info!(
                    method,
                    path,
                    retry,
                    wait_ms = wait.as_millis() as u64,
                    error = %failed.error,
                    "retrying a Notion request"
                );
            })
            .await
            .map_err(|failed| failed.error)
    }

    /// One HTTP exchange within the rate budget, its body read up to the bound.
    async fn attempt(
        &self,
        method: &Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> std::result::Result<Attempt, Failed<Error>> {
        let mut url = self.root.clone();
        url.path_segments_mut()
            .map_err(|()| Failed::never(config("the Notion API URL cannot take a path")))?
            .pop_if_empty()
            .push("v1")
            .extend(segments);
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, self.auth.clone())
            .header("Notion-Version", self.version.clone());
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| Failed::never(config(format!("cannot encode a request: {e}"))))?;
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        self.stats.requests.fetch_add(1, Ordering::SeqCst);
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                let refused = is_refused(&e);
                return Ok(Attempt::NoConnection {
                    detail: if refused {
                        "the connection was refused".to_owned()
                    } else {
                        self.describe(&e)
                    },
                    retry: !refused && !e.is_timeout(),
                });
            }
            Err(e) => return Ok(Attempt::Lost(self.describe(&e))),
        };
        let status = response.status().as_u16();
        if status == 429 {
            self.stats.throttled.fetch_add(1, Ordering::SeqCst);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(
            match self
                .read_body(&mut response, method, segments, status)
                .await?
            {
                Ok(body) => Attempt::Reply {
                    status,
                    retry_after,
                    body,
                },
                Err(detail) => Attempt::Lost(detail),
            },
        )
    }

    /// A reply body read chunk by chunk: a success body whole up to `max_reply_bytes` (larger
    /// is final: the same request gets the same reply), an error body only up to an excerpt's
    /// worth. The inner error is a reply that broke off.
    async fn read_body(
        &self,
        response: &mut reqwest::Response,
        method: &Method,
        segments: &[&str],
        status: u16,
    ) -> std::result::Result<std::result::Result<String, String>, Failed<Error>> {
        let success = (200..300).contains(&status);
        if success
            && response
                .content_length()
                .is_some_and(|n| n > self.max_reply_bytes)
        {
            return Err(Failed::never(self.too_large(method, segments)));
        }
        let limit = if success {
            usize::try_from(self.max_reply_bytes).unwrap_or(usize::MAX)
        } else {
            ERROR_BODY_BYTES
        };
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = limit - bytes.len();
                    if chunk.len() > room {
                        if success {
                            return Err(Failed::never(self.too_large(method, segments)));
                        }
                        bytes.extend_from_slice(&chunk[..room]);
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Ok(Err(format!(
                        "the HTTP {status} reply broke off: {}",
                        self.describe(&e)
                    )))
                }
            }
        }
        Ok(Ok(String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn too_large(&self, method: &Method, segments: &[&str]) -> Error {
        Error::ReplyTooLarge {
            method: method.to_string(),
            path: format!("/v1/{}", segments.join("/")),
            limit: self.max_reply_bytes,
        }
    }

    /// The verdict on one exchange: its JSON body, or how it failed and whether to try again.
    // A large error is fine here: one is built per HTTP exchange, next to a network round trip.
    #[allow(clippy::result_large_err)]
    fn judge(
        &self,
        method: &str,
        path: &str,
        attempt: Attempt,
        db: Option<&DatabaseId>,
    ) -> std::result::Result<Value, Failed<Error>> {
        let (status, retry_after, body) = match attempt {
            Attempt::Reply {
                status,
                retry_after,
                body,
            } => (status, retry_after, body),
            Attempt::Lost(detail) => {
                return Err(Failed {
                    error: self.transport(method, path, detail),
                    again: Again::Backoff,
                    maybe_applied: true,
                })
            }
            Attempt::NoConnection { detail, retry } => {
                let error = self.transport(method, path, detail);
                return Err(if retry {
                    Failed {
                        error,
                        again: Again::Reconnect,
                        maybe_applied: false,
                    }
                } else {
                    Failed::never(error)
                });
            }
        };
        if (200..300).contains(&status) {
            return serde_json::from_str(&body).map_err(|e| {
                Failed::never(Error::InvalidReply {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    detail: format!("HTTP {status} but the body is not JSON ({e})"),
                })
            });
        }
        Err(self.refusal(method, path, status, retry_after.as_deref(), &body, db))
    }

    /// What a non-2xx reply means: which error, and whether and when to try again.
    fn refusal(
        &self,
        method: &str,
        path: &str,
        status: u16,
        retry_after: Option<&str>,
        body: &str,
        db: Option<&DatabaseId>,
    ) -> Failed<Error> {
        let (code, message) = self.error_body(body);
        let api = Error::Api {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            code: code.clone(),
            message,
        };
        match status {
            401 => Failed::never(Error::Unauthorized {
                method: method.to_owned(),
                path: path.to_owned(),
                token_source: self.token_source.clone(),
            }),
            403 | 404 if db.is_some() && !path.starts_with("/v1/pages/") => {
                let db = db.map(|d| (d.to_string(), d.origin().to_owned()));
                let (database, key) = db.unwrap_or_default();
                Failed::never(Error::NotShared {
                    database,
                    key,
                    status,
                    code,
                })
            }
            429 => self.throttled(
                method,
                path,
                retry_after,
                Error::RateLimited {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    asked: None,
                    max: self.policy.max_retry_after,
                },
                false,
            ),
            503 | 529 => self.throttled(method, path, retry_after, api, true),
            // Notion: "the transaction could not be completed … try again".
            409 => Failed::backoff(api),
            500..=599 => Failed {
                error: api,
                again: Again::Backoff,
                maybe_applied: true,
            },
            _ => Failed::never(api),
        }
    }

    /// A throttled reply: wait its `Retry-After` up to the cap, else the backoff; a longer wait
    /// asked for ends the retries.
    fn throttled(
        &self,
        method: &str,
        path: &str,
        retry_after: Option<&str>,
        error: Error,
        maybe_applied: bool,
    ) -> Failed<Error> {
        match self.policy.throttled(retry_after, self.clock.now()) {
            Throttle::Wait(wait) => Failed {
                error,
                again: Again::Asked(wait),
                maybe_applied,
            },
            Throttle::Backoff => Failed {
                error,
                again: Again::Backoff,
                maybe_applied,
            },
            Throttle::TooLong(asked) => Failed::never(Error::RateLimited {
                method: method.to_owned(),
                path: path.to_owned(),
                asked: Some(asked),
                max: self.policy.max_retry_after,
            }),
        }
    }

    fn transport(&self, method: &str, path: &str, detail: String) -> Error {
        Error::Transport {
            method: method.to_owned(),
            path: path.to_owned(),
            detail,
        }
    }

    /// Notion's `code` and `message`, scrubbed of the token and cut.
    fn error_body(&self, body: &str) -> (String, String) {
        let clean = self.redactor.redact(body);
        let parsed: Option<Value> = serde_json::from_str(&clean).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(Value::as_str)
                .map(|s| self.redactor.redact(s))
        };
        let code = field("code").unwrap_or_else(|| "no error code".to_owned());
        let message = field("message").unwrap_or_else(|| clean.trim().to_owned());
        let mut cut: String = message.chars().take(MESSAGE_CHARS).collect();
        if cut.len() < message.len() {
            cut.push('…');
        }
        (
            crate::report::terminal_safe(&code, 64),
            crate::report::terminal_safe(&cut, MESSAGE_CHARS + 1),
        )
    }

    fn describe(&self, error: &reqwest::Error) -> String {
        let kind = if error.is_timeout() {
            "the request timed out"
        } else if error.is_connect() {
            "the connection failed"
        } else {
            "the request failed"
        };
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        let text = if causes.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind} ({})", causes.join(": "))
        };
        self.redactor.redact(&text)
    }
}

/// Whether a version can work: a date, and one that still has database queries.
pub fn check_version(version: &str) -> std::result::Result<(), String> {
    let date = chrono::NaiveDate::parse_from_str(version, "%Y-%m-%d").map_err(|_| {
        format!(
            "notion.version `{version}` is not a Notion-Version (a date such as {DEFAULT_VERSION})"
        )
    })?;
    let first = chrono::NaiveDate::from_ymd_opt(2022, 6, 28).unwrap_or(date);
    let moved = chrono::NaiveDate::from_ymd_opt(2025, 9, 3).unwrap_or(date);
    if date < first || date >= moved {
        return Err(format!(
            "notion.version {version} is not one idbridge speaks: it needs a version from \
             {DEFAULT_VERSION} up to (not including) {DATA_SOURCES_VERSION}, which moved database \
             queries to data sources; leave notion.version out for {DEFAULT_VERSION}"
        ));
    }
    Ok(())
}

fn is_refused(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        source = cause.source();
    }
    false
}

fn page_of(value: &Value) -> std::result::Result<Page, String> {
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .ok_or("a page has no `id`")?;
    let properties = value
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(Page {
        id: id.to_owned(),
        properties,
    })
}

fn page_json(page: &Page) -> Value {
    json!({ "object": "page", "id": page.id, "properties": page.properties })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_ids_are_read_from_ids_and_links() {
        let dashed = "0123abcd-4567-89ab-cdef-0123456789ab";
        for text in [
            dashed,
            "0123abcd456789abcdef0123456789ab",
            "0123ABCD456789ABCDEF0123456789AB",
            "https://www.notion.so/acme/Access-review-0123abcd456789abcdef0123456789ab?v=ffff",
        ] {
            assert_eq!(
                DatabaseId::parse(text, "k").unwrap().as_str(),
                dashed,
                "{text}"
            );
        }
        for bad in [
            "",
            "0123",
            "0123abcd456789abcdef0123456789abff",
            "zz23abcd456789abcdef0123456789ab",
        ] {
            assert!(
                DatabaseId::parse(bad, "k")
                    .unwrap_err()
                    .contains("Copy link"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_token_is_in_no_debug_output() {
        let token = "ntn_secret_value_0123456789";
        let settings = Settings::new(
            Url::parse(DEFAULT_URL).unwrap(),
            DEFAULT_VERSION,
            SecretString::from(token.to_owned()),
            "the file /etc/idbridge/notion-token",
        );
        assert!(!format!("{settings:?}").contains(token));
        let client = Client::new(settings, Arc::new(crate::clock::SystemClock)).unwrap();
        assert!(!format!("{client:?}").contains(token));
        assert!(client.auth.is_sensitive());
        // Server text that quotes the header back is scrubbed before any message holds it.
        let (_, message) = client.error_body(&format!(
            r#"{{"object":"error","code":"unauthorized","message":"bad header Bearer {token}"}}"#
        ));
        assert!(!message.contains(token), "{message}");
    }

    #[test]
    fn versions_before_data_sources_only() {
        assert!(check_version(DEFAULT_VERSION).is_ok());
        assert!(check_version("2025-09-02").is_ok());
        assert!(check_version("2025-09-03")
            .unwrap_err()
            .contains("data sources"));
        assert!(check_version("2021-08-16").is_err());
        assert!(check_version("latest").unwrap_err().contains("a date"));
    }
}
