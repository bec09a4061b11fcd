//! The SCIM HTTP client: authenticated requests with a client-side rate budget, bounded concurrency,
//! retries (Retry-After, capped exponential backoff) and create calls that never duplicate a user.
//!
//! Safety rules that shape this file (docs/architecture.md, "Decisions worth knowing"):
//! - A POST is not idempotent. After a reply is lost (timeout, transport error, unreadable body, 5xx)
//!   the write may have committed, so the client looks the resource up before sending it again.
//! - Offset pagination over an unstable order can skip and duplicate records while `totalResults`
//!   still adds up (RFC 7644 §3.4.2.4), so a full read checks itself and says when it does not add up.
//! - The bearer token is a `SecretString`; the header is marked sensitive; error texts built from
//!   server replies are scrubbed of it, and of its encoded forms, in case a server echoes it back
//!   (`redact`).
//! - Every read is bounded: a reply body is read incrementally up to `max_reply_bytes` (an error
//!   body only up to an excerpt's worth), and a paged read that makes no progress stops
//!   (`paging`).
//! - A connection that cannot be made is not a lost reply: nothing was sent, so it fails fast
//!   with [`Error::Connect`] after at most a couple of quick retries (none when refused).
//! - Throttling shrinks the number of requests in flight (`limiter`), not only the pace.
//! - A 401, or a 403 on a read, is a rejected token. A 403 on a write may refuse only that change
//!   (Notion's verified-domain rule), so it is [`Error::Forbidden`]; the caller tells the two apart
//!   with [`Client::probe`].

use super::error::{excerpt, explain_with, parse_error_body_with, Error, Result};
use super::limiter::Limiter;
use super::paging::{Pager, Step};
use super::profile::Profile;
use super::redact::Redactor;
use super::retry::{classify, parse_retry_after, Backoff, StatusClass};
use super::wire;
use crate::clock::Clock;
use crate::model::{Attr, ScimId, UserAttrs};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How many times a full read that does not add up is read again from page 1.
const READ_RETRIES: u32 = 3;
/// Largest page Notion serves (docs/notion.md, "Paging"); RFC services may allow more, we never ask.
const MAX_PAGE_SIZE: u32 = 100;
/// Default of `max_reply_bytes`: a page of 100 Notion users is about 100 KB, so 32 MiB is 300
/// times the largest reply idbridge asks for, and still a bound on memory (docs/config.md).
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 32 << 20;
/// How much of an error body is read: only an excerpt of it is ever quoted.
const ERROR_BODY_BYTES: usize = 64 << 10;
/// Longest wait for a connection (TCP and TLS), whatever the request timeout: a target that
/// does not answer a connection attempt within it is unreachable, not slow.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of a connection that failed other than by refusal or timeout (a DNS or TLS hiccup);
/// nothing was sent, so they need no lookup, and a couple are enough.
const CONNECT_RETRIES: u32 = 2;
/// Pause before a connection retry, times the retry's number.
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Settings of a [`Client`]. `Debug` shows the token as `[REDACTED]` (secrecy).
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// SCIM base URL, e.g. `https://api.notion.com/scim/v2`.
    pub base_url: Url,
    /// The bearer token.
    pub token: SecretString,
    /// Where the token is configured, for the advice of a token error, e.g. "the environment
    /// variable NOTION_SCIM_TOKEN" or "the file /etc/idbridge/token". Never the token itself.
    pub token_source: String,
    /// Per-request timeout (connect, send and read the whole reply).
    pub timeout: Duration,
    /// Client-side budget in requests per second; `None` = no limit.
    pub rate_limit: Option<f64>,
    /// Most requests in flight at once, shared by clones of the client.
    pub concurrency: usize,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Longest `Retry-After` honoured; a longer one fails with [`Error::RateLimited`].
    pub max_retry_after: Duration,
    /// First backoff delay.
    pub backoff_base: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// Page size of list reads (1 to 100).
    pub page_size: u32,
    /// Largest reply body read; a larger success reply fails with [`Error::ReplyTooLarge`].
    pub max_reply_bytes: u64,
}

impl ClientSettings {
    /// Settings with the documented defaults: 30 s timeout, 2 requests per second, 4 in flight,
    /// 5 retries, Retry-After up to 120 s, backoff 500 ms to 30 s, pages of 100, replies up to
    /// 32 MiB.
    pub fn new(base_url: Url, token: SecretString) -> Self {
        Self {
            base_url,
            token,
            token_source: "the token configured as target.token_env or target.token_file"
                .to_owned(),
            timeout: Duration::from_secs(30),
            rate_limit: Some(2.0),
            concurrency: 4,
            max_retries: 5,
            max_retry_after: Duration::from_secs(120),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            page_size: MAX_PAGE_SIZE,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

/// What `create_user` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// 201: a new resource.
    Created,
    /// The user was already there (409 then found by lookup, or a 200 reply, which RFC 7644 §3.3
    /// does not use for new resources; Notion answers a POST for an existing account by adding it).
    Existing,
    /// A reply was lost (timeout, transport error, 5xx) and the lookup found the user: the lost
    /// write had committed.
    RecoveredAfterLostReply,
}

/// The result of a full read of `/Users`.
#[derive(Debug, Clone)]
pub struct UserRead {
    /// Users, de-duplicated by id (of the last read when inconsistent).
    pub users: Vec<wire::User>,
    /// Whether the read added up (no duplicate, `totalResults` stable and equal to the distinct count).
    pub consistent: bool,
    /// Why the last read did not add up (empty when consistent).
    pub problems: Vec<String>,
    /// Full reads made (1 when the first one added up).
    pub attempts: u32,
}

/// The result of a full read of `/Groups`.
#[derive(Debug, Clone)]
pub struct GroupRead {
    /// Groups, de-duplicated by id.
    pub groups: Vec<wire::Group>,
    /// Whether the read added up.
    pub consistent: bool,
    /// Why the last read did not add up.
    pub problems: Vec<String>,
    /// Full reads made.
    pub attempts: u32,
}

/// A SCIM client bound to one target (one token). Cheap to clone; clones share the rate budget and
/// the concurrency bound.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    /// The base URL as error messages show it: no credentials, query or fragment.
    shown_base: String,
    auth: HeaderValue,
    redactor: Redactor,
    token_source: String,
    max_retries: u32,
    max_retry_after: Duration,
    backoff_base: Duration,
    backoff_max: Duration,
    page_size: u32,
    max_reply_bytes: u64,
    connect_timeout: Duration,
    limiter: Option<DefaultDirectRateLimiter>,
    permits: Limiter,
    clock: Arc<dyn Clock>,
    profile: Profile,
    stats: super::stats::Stats,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so no field holding the token can ever be printed.
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("profile", &self.inner.profile.kind)
            .field("token", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// One HTTP exchange, before the retry policy looks at it.
enum Attempt {
    Reply {
        status: u16,
        retry_after: Option<String>,
        body: String,
    },
    /// No usable reply after the request went out: timeout, a connection that broke, an
    /// unreadable body. The request may have been processed.
    Lost { detail: String },
    /// No connection: nothing was sent. `retry` is false when another try would fail the same
    /// way (refused) or has already waited its full connect timeout.
    NoConnection { detail: String, retry: bool },
}

/// The retry state of one logical request.
struct Retries {
    backoff: Backoff,
    connect_failures: u32,
}

/// The retry policy's verdict on one attempt.
enum Verdict {
    Final {
        status: u16,
        body: String,
    },
    Fail(Error),
    Retry {
        delay: Duration,
        status: Option<u16>,
        maybe_committed: bool,
        error: Error,
    },
}

/// A final reply after retries.
struct Reply {
    status: u16,
    body: String,
    /// An earlier attempt lost its reply, so the write may have been applied already.
    after_lost: bool,
}

impl Reply {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn empty(&self) -> bool {
        self.status == 204 || self.body.trim().is_empty()
    }
}

/// A create request either got a reply or was found by lookup after a lost reply.
enum Created<T> {
    Reply(Reply),
    Recovered(T),
}

/// One pass of a paged read.
struct Pass<T> {
    items: Vec<T>,
    problems: Vec<String>,
    /// Why the listing stopped for lack of progress, if it did.
    stalled: Option<String>,
    /// Page requests made.
    pages: u64,
}

impl Client {
    /// A client for `settings.base_url` with `profile`; `clock` gives "now" for HTTP-date `Retry-After`.
    pub fn new(
        settings: ClientSettings,
        profile: Profile,
        clock: Arc<dyn Clock>,
    ) -> Result<Client> {
        let config = |detail: &str| Error::Config {
            detail: detail.to_owned(),
        };
        let base = settings.base_url.clone();
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config(&format!(
                "the target URL {base} is not an http(s) URL; set target.url to the SCIM base, e.g. \
                 https://api.notion.com/scim/v2"
            )));
        }
        if settings.page_size == 0 || settings.page_size > MAX_PAGE_SIZE {
            return Err(config("the SCIM page size must be between 1 and 100"));
        }
        if settings.concurrency == 0 {
            return Err(config("the SCIM concurrency must be at least 1"));
        }
        let token = settings.token.expose_secret().trim();
        if token.is_empty() {
            return Err(config(&format!(
                "the SCIM token is empty; put the token in {}",
                settings.token_source
            )));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            config("the SCIM token contains characters that cannot go in an HTTP header; copy it again")
        })?;
        auth.set_sensitive(true);
        let limiter = match settings.rate_limit {
            None => None,
            Some(rate) if rate.is_finite() && rate > 0.0 => {
                let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rate))
                    .ok_or_else(|| config("the SCIM rate limit is too high"))?
                    .allow_burst(NonZeroU32::MIN);
                Some(RateLimiter::direct(quota))
            }
            Some(_) => {
                return Err(config(
                    "the SCIM rate limit must be a positive number of requests per second",
                ))
            }
        };
        let connect_timeout = settings.timeout.min(CONNECT_TIMEOUT);
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(connect_timeout)
            .user_agent(concat!("idbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(&format!("cannot build the HTTP client: {e}")))?;
        if settings.max_reply_bytes == 0 {
            return Err(config("the largest SCIM reply must be at least 1 byte"));
        }
        let mut shown = base.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.set_query(None);
        shown.set_fragment(None);
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                shown_base: shown.to_string(),
                base,
                auth,
                redactor: Redactor::new(settings.token.expose_secret()),
                token_source: settings.token_source,
                max_retries: settings.max_retries,
                max_retry_after: settings.max_retry_after,
                backoff_base: settings.backoff_base,
                backoff_max: settings.backoff_max.max(settings.backoff_base),
                page_size: settings.page_size,
                max_reply_bytes: settings.max_reply_bytes,
                connect_timeout,
                limiter,
                permits: Limiter::new(settings.concurrency),
                clock,
                profile,
                stats: Default::default(),
            }),
        })
    }

    /// Requests sent so far by this client and its clones (for the run's record).
    pub fn request_counts(&self) -> super::RequestCounts {
        self.inner.stats.counts()
    }

    /// The target profile.
    pub fn profile(&self) -> &Profile {
        &self.inner.profile
    }

    /// Authenticated probe `GET /Users?count=1`. (Notion answers `/ServiceProviderConfig` without a
    /// token, so that endpoint cannot test one.)
    pub async fn probe(&self) -> Result<()> {
        let query = [("startIndex", "1".to_owned()), ("count", "1".to_owned())];
        let reply = self.send(Method::GET, &["Users"], &query, None).await?;
        let path = "/Users";
        self.expect_ok("GET", path, &reply)?;
        self.parse::<wire::ListResponse<Value>>("GET", path, &reply.body)?;
        Ok(())
    }

    /// Full paged read of `/Users`, checked for consistency and re-read up to 3 times when it does
    /// not add up. An inconsistent result is returned, marked, for the caller to act on (it then
    /// deactivates nobody).
    pub async fn read_users(&self) -> Result<UserRead> {
        let (users, consistent, problems, attempts) = self
            .read_consistent::<wire::User>("Users", |u| &u.id)
            .await?;
        Ok(UserRead {
            users,
            consistent,
            problems,
            attempts,
        })
    }

    /// Full paged read of `/Groups`, with the same checks as [`Client::read_users`].
    pub async fn read_groups(&self) -> Result<GroupRead> {
        let (groups, consistent, problems, attempts) = self
            .read_consistent::<wire::Group>("Groups", |g| &g.id)
            .await?;
        Ok(GroupRead {
            groups,
            consistent,
            problems,
            attempts,
        })
    }

    /// `GET /Users/{id}`; `None` on 404.
    pub async fn get_user(&self, id: &ScimId) -> Result<Option<wire::User>> {
        let path = format!("/Users/{id}");
        let reply = self.send(Method::GET, &["Users", &id.0], &[], None).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        self.expect_ok("GET", &path, &reply)?;
        self.parse_user("GET", &path, &reply.body).map(Some)
    }

    /// `GET /Groups/{id}`; `None` on 404.
    pub async fn get_group(&self, id: &ScimId) -> Result<Option<wire::Group>> {
        let path = format!("/Groups/{id}");
        let reply = self
            .send(Method::GET, &["Groups", &id.0], &[], None)
            .await?;
        if reply.status == 404 {
            return Ok(None);
        }
        self.expect_ok("GET", &path, &reply)?;
        self.parse_group("GET", &path, &reply.body).map(Some)
    }

    /// Find a user by name with the profile's filter (`email eq "x"` for Notion, `userName eq "x"`
    /// otherwise). Only an exact match counts, in case the server ignores or loosens the filter.
    pub async fn find_user(&self, user_name: &str) -> Result<Option<wire::User>> {
        let filter = self.inner.profile.user_filter(user_name);
        let list: wire::ListResponse<wire::User> = self.filtered("Users", filter).await?;
        Ok(list
            .resources
            .into_iter()
            .find(|u| !u.id.is_empty() && self.inner.profile.matches_user_name(u, user_name)))
    }

    /// Find a group by exact `displayName`.
    pub async fn find_group(&self, display_name: &str) -> Result<Option<wire::Group>> {
        let filter = super::profile::eq_filter("displayName", display_name);
        let list: wire::ListResponse<wire::Group> = self.filtered("Groups", filter).await?;
        Ok(list
            .resources
            .into_iter()
            .find(|g| !g.id.is_empty() && g.display_name == display_name))
    }

    /// `POST /Users`. Never retried blindly: after a lost reply the user is looked up first and
    /// returned if found; a 409 means it exists, so it is looked up and returned as `Existing`.
    pub async fn create_user(&self, attrs: &UserAttrs) -> Result<(wire::User, CreateOutcome)> {
        let user_name = attrs
            .get(&Attr::UserName)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Config {
                detail: "cannot create a user without userName; fix the userName mapping".into(),
            })?;
        let body = self.inner.profile.create_body(attrs);
        let path = "/Users";
        match self
            .send_create(&["Users"], &body, || self.find_user(user_name))
            .await?
        {
            Created::Recovered(user) => Ok((user, CreateOutcome::RecoveredAfterLostReply)),
            Created::Reply(reply) if reply.ok() => {
                let user = self.parse_user("POST", path, &reply.body)?;
                let outcome = if reply.status == 200 {
                    CreateOutcome::Existing
                } else {
                    CreateOutcome::Created
                };
                Ok((user, outcome))
            }
            Created::Reply(reply) if reply.status == 409 => match self.find_user(user_name).await? {
                // The earlier, lost attempt committed after the lookup ran.
                Some(user) if reply.after_lost => Ok((user, CreateOutcome::RecoveredAfterLostReply)),
                Some(user) => Ok((user, CreateOutcome::Existing)),
                None => Err(self.api_error("POST", path, &reply).with_note(
                    "the target says the user exists but a lookup by name finds nobody (a guest, or \
                     an account outside this workspace?)",
                )),
            },
            Created::Reply(reply) => Err(self.api_error("POST", path, &reply)),
        }
    }

    /// `PATCH /Users/{id}` with the profile's PatchOp for `changes`. `Some(user)` when the target
    /// returns the updated user (200), `None` on 204.
    pub async fn patch_user(
        &self,
        id: &ScimId,
        changes: &[(Attr, Option<String>)],
    ) -> Result<Option<wire::User>> {
        let body = self.inner.profile.patch_body(changes);
        let path = format!("/Users/{id}");
        let reply = self
            .send(Method::PATCH, &["Users", &id.0], &[], Some(&body))
            .await?;
        self.expect_ok("PATCH", &path, &reply)?;
        if reply.empty() {
            return Ok(None);
        }
        self.parse_user("PATCH", &path, &reply.body).map(Some)
    }

    /// Set `active` with `PATCH {"op":"replace","value":{"active":…}}`. For Notion `false` removes
    /// the user from the workspace; a 404 on a retry after a lost reply counts as done.
    pub async fn set_active(&self, id: &ScimId, active: bool) -> Result<()> {
        let body = self.inner.profile.active_body(active);
        let path = format!("/Users/{id}");
        let reply = self
            .send(Method::PATCH, &["Users", &id.0], &[], Some(&body))
            .await?;
        if !active && reply.status == 404 && reply.after_lost {
            return Ok(());
        }
        self.expect_ok("PATCH", &path, &reply)
    }

    /// `DELETE /Users/{id}` (204 or 200). A 404 on a retry after a lost reply counts as done.
    pub async fn delete_user(&self, id: &ScimId) -> Result<()> {
        self.delete(&["Users", &id.0]).await
    }

    /// `PUT /Users/{id}` with `body`, returning the updated user.
    pub async fn put_user(&self, id: &ScimId, body: &Value) -> Result<wire::User> {
        let path = format!("/Users/{id}");
        let reply = self
            .send(Method::PUT, &["Users", &id.0], &[], Some(body))
            .await?;
        self.expect_ok("PUT", &path, &reply)?;
        self.parse_user("PUT", &path, &reply.body)
    }

    /// `POST /Groups` with the given members, with the same lost-reply and 409 handling as
    /// [`Client::create_user`] (lookup by `displayName`).
    pub async fn create_group(
        &self,
        display_name: &str,
        member_ids: &[ScimId],
    ) -> Result<wire::Group> {
        let body = self.inner.profile.group_body(display_name, member_ids);
        let path = "/Groups";
        match self
            .send_create(&["Groups"], &body, || self.find_group(display_name))
            .await?
        {
            Created::Recovered(group) => Ok(group),
            Created::Reply(reply) if reply.ok() => self.parse_group("POST", path, &reply.body),
            Created::Reply(reply) if reply.status == 409 => {
                match self.find_group(display_name).await? {
                    Some(group) => Ok(group),
                    None => Err(self.api_error("POST", path, &reply)),
                }
            }
            Created::Reply(reply) => Err(self.api_error("POST", path, &reply)),
        }
    }

    /// Add and remove group members with `PATCH /Groups/{id}`, at most `batch` members per request
    /// (Notion's limit is undocumented; keep it conservative). Adds go first.
    pub async fn patch_group_members(
        &self,
        id: &ScimId,
        add: &[ScimId],
        remove: &[ScimId],
        batch: usize,
    ) -> Result<()> {
        let batch = batch.max(1);
        let profile = &self.inner.profile;
        let bodies = add
            .chunks(batch)
            .map(|c| profile.add_members_body(c))
            .chain(remove.chunks(batch).map(|c| profile.remove_members_body(c)));
        for body in bodies {
            self.patch_group(id, &body).await?;
        }
        Ok(())
    }

    /// Rename a group (`replace displayName`).
    pub async fn rename_group(&self, id: &ScimId, display_name: &str) -> Result<()> {
        let body = self.inner.profile.rename_group_body(display_name);
        self.patch_group(id, &body).await
    }

    /// `DELETE /Groups/{id}`. A 404 on a retry after a lost reply counts as done.
    pub async fn delete_group(&self, id: &ScimId) -> Result<()> {
        self.delete(&["Groups", &id.0]).await
    }

    async fn patch_group(&self, id: &ScimId, body: &Value) -> Result<()> {
        let path = format!("/Groups/{id}");
        let reply = self
            .send(Method::PATCH, &["Groups", &id.0], &[], Some(body))
            .await?;
        self.expect_ok("PATCH", &path, &reply)
    }

    async fn delete(&self, segments: &[&str]) -> Result<()> {
        let path = path_of(segments);
        let reply = self.send(Method::DELETE, segments, &[], None).await?;
        if reply.status == 404 && reply.after_lost {
            return Ok(());
        }
        self.expect_ok("DELETE", &path, &reply)
    }

    async fn filtered<T: DeserializeOwned>(&self, resource: &str, filter: String) -> Result<T> {
        let query = [
            ("filter", filter),
            ("startIndex", "1".to_owned()),
            ("count", self.inner.page_size.to_string()),
        ];
        let path = format!("/{resource}");
        let reply = self.send(Method::GET, &[resource], &query, None).await?;
        self.expect_ok("GET", &path, &reply)?;
        self.parse("GET", &path, &reply.body)
    }

    /// Read every page, up to `1 + READ_RETRIES` times until a read adds up. A listing that
    /// makes no progress in every attempt is an error ([`Error::Paging`]): nothing it returned
    /// can be trusted, not even for creates.
    async fn read_consistent<T: DeserializeOwned>(
        &self,
        resource: &str,
        id_of: fn(&T) -> &String,
    ) -> Result<(Vec<T>, bool, Vec<String>, u32)> {
        let mut attempts = 0;
        let mut requests = 0;
        loop {
            attempts += 1;
            let pass = self.read_pages(resource, id_of).await?;
            requests += pass.pages;
            let retry = attempts <= READ_RETRIES;
            if let Some(detail) = pass.stalled {
                if !retry {
                    return Err(Error::Paging {
                        path: format!("/{resource}"),
                        detail: self.redact(&detail),
                        requests,
                    });
                }
                tracing::warn!(
                    resource,
                    attempts,
                    detail,
                    "SCIM listing makes no progress; reading again"
                );
                continue;
            }
            if pass.problems.is_empty() {
                return Ok((pass.items, true, pass.problems, attempts));
            }
            let problems = pass.problems;
            if !retry {
                tracing::warn!(
                    resource,
                    attempts,
                    ?problems,
                    "SCIM read still inconsistent; giving up"
                );
                return Ok((pass.items, false, problems, attempts));
            }
            tracing::warn!(
                resource,
                attempts,
                ?problems,
                "SCIM read inconsistent; reading again"
            );
        }
    }

    /// One full paged read: items de-duplicated by id, the reasons it does not add up, and
    /// whether it stopped for lack of progress.
    async fn read_pages<T: DeserializeOwned>(
        &self,
        resource: &str,
        id_of: fn(&T) -> &String,
    ) -> Result<Pass<T>> {
        let path = format!("/{resource}");
        let mut items = Vec::new();
        let mut pager = Pager::new(resource, self.inner.page_size);
        let stalled = loop {
            let query = [
                ("startIndex", pager.start().to_string()),
                ("count", self.inner.page_size.to_string()),
            ];
            let reply = self.send(Method::GET, &[resource], &query, None).await?;
            self.expect_ok("GET", &path, &reply)?;
            let page: wire::ListResponse<T> = self.parse("GET", &path, &reply.body)?;
            let got = page.resources.len() as u64;
            let mut new = 0;
            for item in page.resources {
                if pager.accept(id_of(&item)) {
                    new += 1;
                    items.push(item);
                }
            }
            match pager.end_page(page.total_results, got, new) {
                Step::Next(_) => {}
                Step::Done => break None,
                Step::Stalled(why) => break Some(why),
            }
        };
        let problems = pager.problems(items.len());
        Ok(Pass {
            items,
            problems,
            stalled,
            pages: pager.pages(),
        })
    }

    /// Send a create: retried only after the lookup confirms the lost write did not commit.
    async fn send_create<T, F, Fut>(
        &self,
        segments: &[&str],
        body: &Value,
        lookup: F,
    ) -> Result<Created<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let path = path_of(segments);
        let mut retry = self.retries();
        let mut retries = 0;
        let mut after_lost = false;
        loop {
            let attempt = self
                .attempt(&Method::POST, segments, &[], Some(body))
                .await?;
            match self.judge("POST", &path, attempt, &mut retry) {
                Verdict::Final { status, body } => {
                    return Ok(Created::Reply(Reply {
                        status,
                        body,
                        after_lost,
                    }))
                }
                Verdict::Fail(error) => return Err(error),
                Verdict::Retry {
                    delay,
                    status,
                    maybe_committed,
                    error,
                } => {
                    if retries >= self.inner.max_retries {
                        return Err(error);
                    }
                    retries += 1;
                    self.log_retry("POST", &path, status, delay, retries, maybe_committed);
                    tokio::time::sleep(delay).await;
                    if maybe_committed {
                        after_lost = true;
                        // The write may have landed: look before writing again.
                        if let Some(found) = lookup().await? {
                            tracing::info!(path = %path, "SCIM create reply was lost but the resource exists; adopting it");
                            return Ok(Created::Recovered(found));
                        }
                    }
                }
            }
        }
    }

    /// Send an idempotent request (GET, PUT, PATCH, DELETE) with retries; returns the final reply.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply> {
        let path = path_of(segments);
        let mut retry = self.retries();
        let mut retries = 0;
        let mut after_lost = false;
        loop {
            let attempt = self.attempt(&method, segments, query, body).await?;
            match self.judge(method.as_str(), &path, attempt, &mut retry) {
                Verdict::Final { status, body } => {
                    return Ok(Reply {
                        status,
                        body,
                        after_lost,
                    })
                }
                Verdict::Fail(error) => return Err(error),
                Verdict::Retry {
                    delay,
                    status,
                    maybe_committed,
                    error,
                } => {
                    if retries >= self.inner.max_retries {
                        return Err(error);
                    }
                    retries += 1;
                    after_lost |= maybe_committed;
                    self.log_retry(
                        method.as_str(),
                        &path,
                        status,
                        delay,
                        retries,
                        maybe_committed,
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn log_retry(
        &self,
        method: &str,
        path: &str,
        status: Option<u16>,
        delay: Duration,
        retry: u32,
        maybe_committed: bool,
    ) {
        self.inner.stats.retried();
        // Method, path, status and delay only: never headers.
        tracing::warn!(
            method,
            path,
            status = status.map(i64::from).unwrap_or(-1),
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            retry,
            max_retries = self.inner.max_retries,
            reply_lost = maybe_committed,
            "SCIM request failed; retrying"
        );
    }

    fn retries(&self) -> Retries {
        Retries {
            backoff: Backoff::new(self.inner.backoff_base, self.inner.backoff_max),
            connect_failures: 0,
        }
    }

    /// Apply the retry policy to one attempt.
    fn judge(&self, method: &str, path: &str, attempt: Attempt, retry: &mut Retries) -> Verdict {
        let backoff = &mut retry.backoff;
        let (status, retry_after, body) = match attempt {
            Attempt::NoConnection {
                detail,
                retry: again,
            } => {
                retry.connect_failures += 1;
                return self.no_connection_verdict(method, path, detail, again, retry);
            }
            Attempt::Lost { detail } => {
                return Verdict::Retry {
                    delay: backoff.next_delay(),
                    status: None,
                    maybe_committed: true,
                    error: Error::Transport {
                        method: method.to_owned(),
                        path: path.to_owned(),
                        detail,
                    },
                }
            }
            Attempt::Reply {
                status,
                retry_after,
                body,
            } => (status, retry_after, body),
        };
        match classify(status) {
            StatusClass::Success | StatusClass::Final => Verdict::Final { status, body },
            StatusClass::Auth | StatusClass::Forbidden => {
                Verdict::Fail(self.refusal(method, path, status, &body))
            }
            StatusClass::Throttled => {
                let asked = retry_after
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, self.inner.clock.now()));
                let limited = |retry_after| Error::RateLimited {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    status,
                    retry_after,
                };
                match asked {
                    Some(wait) if wait > self.inner.max_retry_after => Verdict::Fail(limited(wait)),
                    Some(wait) => Verdict::Retry {
                        delay: wait,
                        status: Some(status),
                        maybe_committed: status >= 500,
                        error: limited(wait),
                    },
                    None => Verdict::Retry {
                        delay: backoff.next_delay(),
                        status: Some(status),
                        maybe_committed: status >= 500,
                        error: limited(Duration::ZERO),
                    },
                }
            }
            StatusClass::ServerError => {
                let reply = Reply {
                    status,
                    body,
                    after_lost: false,
                };
                Verdict::Retry {
                    delay: backoff.next_delay(),
                    status: Some(status),
                    maybe_committed: true,
                    error: self.api_error(method, path, &reply),
                }
            }
        }
    }

    /// A connection that could not be made: nothing was sent, so no lookup before trying
    /// again and no long backoff; and at most [`CONNECT_RETRIES`] tries more.
    fn no_connection_verdict(
        &self,
        method: &str,
        path: &str,
        detail: String,
        again: bool,
        retry: &Retries,
    ) -> Verdict {
        let error = Error::Connect {
            url: self.inner.shown_base.clone(),
            method: method.to_owned(),
            path: path.to_owned(),
            detail,
        };
        if !again || retry.connect_failures > CONNECT_RETRIES {
            return Verdict::Fail(error);
        }
        Verdict::Retry {
            delay: CONNECT_RETRY_DELAY * retry.connect_failures,
            status: None,
            maybe_committed: false,
            error,
        }
    }

    /// One HTTP exchange, inside the concurrency bound and the rate budget. The permit is held
    /// until the body is read and released before any retry wait.
    async fn attempt(
        &self,
        method: &Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Attempt> {
        let url = self.url(segments)?;
        let permit = self
            .inner
            .permits
            .acquire()
            .await
            .ok_or_else(|| Error::Config {
                detail: "the SCIM client was shut down".into(),
            })?;
        if let Some(limiter) = &self.inner.limiter {
            limiter.until_ready().await;
        }
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, self.inner.auth.clone())
            .header(ACCEPT, "application/scim+json, application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| Error::Config {
                detail: format!("cannot encode the request body: {e}"),
            })?;
            request = request
                .header(CONTENT_TYPE, self.inner.profile.content_type)
                .body(bytes);
        }
        self.inner.stats.sent();
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                permit.report(None);
                return Ok(self.no_connection(&e));
            }
            Err(e) => {
                permit.report(None);
                return Ok(Attempt::Lost {
                    detail: self.describe(&e),
                });
            }
        };
        let status = response.status().as_u16();
        permit.report(Some(status));
        self.inner.stats.replied(status);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match self
            .read_body(&mut response, method.as_str(), segments, status)
            .await?
        {
            Ok(body) => Ok(Attempt::Reply {
                status,
                retry_after,
                body,
            }),
            Err(e) => Ok(Attempt::Lost {
                detail: format!(
                    "reading the HTTP {status} reply failed: {}",
                    self.describe(&e)
                ),
            }),
        }
    }

    /// Read a reply body chunk by chunk. A success body is read whole up to `max_reply_bytes`
    /// (larger is [`Error::ReplyTooLarge`], never retried: the same request gets the same
    /// reply); an error body only up to [`ERROR_BODY_BYTES`], the rest left unread, since only
    /// an excerpt of it is ever quoted. The inner error is a transport failure mid-body.
    async fn read_body(
        &self,
        response: &mut reqwest::Response,
        method: &str,
        segments: &[&str],
        status: u16,
    ) -> Result<std::result::Result<String, reqwest::Error>> {
        let max = usize::try_from(self.inner.max_reply_bytes).unwrap_or(usize::MAX);
        let success = (200..300).contains(&status);
        let too_large = || Error::ReplyTooLarge {
            method: method.to_owned(),
            path: path_of(segments),
            status,
            limit: self.inner.max_reply_bytes,
        };
        if success
            && response
                .content_length()
                .is_some_and(|n| n > self.inner.max_reply_bytes)
        {
            return Err(too_large());
        }
        let limit = if success {
            max
        } else {
            max.min(ERROR_BODY_BYTES)
        };
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Ok(Err(e)),
            };
            let room = limit - bytes.len();
            if chunk.len() > room {
                if success {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk[..room]);
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Ok(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// A connection that could not be made: refused (retrying at once would be refused again),
    /// timed out (it already waited the connect timeout), or failed otherwise (a DNS or TLS
    /// failure, worth a quick retry).
    fn no_connection(&self, error: &reqwest::Error) -> Attempt {
        let refused = io_kind(error) == Some(std::io::ErrorKind::ConnectionRefused);
        let detail = if refused {
            "the connection was refused (nothing listens there, or a firewall rejects it)"
                .to_owned()
        } else if error.is_timeout() {
            format!("no connection within {:?}", self.inner.connect_timeout)
        } else {
            self.describe(error)
        };
        Attempt::NoConnection {
            detail,
            retry: !refused && !error.is_timeout(),
        }
    }

    /// A transport error in words, without the URL (kept short) and scrubbed of the token.
    fn describe(&self, error: &reqwest::Error) -> String {
        let kind = if error.is_timeout() {
            "the request timed out"
        } else if error.is_connect() {
            "the connection failed"
        } else if error.is_body() || error.is_decode() {
            "the reply body could not be read"
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
        self.redact(&text)
    }

    fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config {
                detail: "the target URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn expect_ok(&self, method: &str, path: &str, reply: &Reply) -> Result<()> {
        if reply.ok() {
            Ok(())
        } else {
            Err(self.api_error(method, path, reply))
        }
    }

    /// The error for a non-success reply.
    fn api_error(&self, method: &str, path: &str, reply: &Reply) -> Error {
        if matches!(
            classify(reply.status),
            StatusClass::Auth | StatusClass::Forbidden
        ) {
            return self.refusal(method, path, reply.status, &reply.body);
        }
        let (scim_type, detail) = self.explain_error(reply.status, &reply.body);
        Error::Api {
            method: method.to_owned(),
            path: path.to_owned(),
            status: reply.status,
            scim_type,
            detail,
        }
    }

    /// The error for a 401 or 403. A 401 is a refused token. A 403 on a read is too (a read of
    /// `/Users` is what checks a token). A 403 on a write may refuse only that change, so it is
    /// [`Error::Forbidden`] with the server's own explanation, for the caller to check the token.
    fn refusal(&self, method: &str, path: &str, status: u16, body: &str) -> Error {
        let is_read = matches!(method, "GET" | "HEAD");
        if status == 403 && !is_read {
            let (scim_type, detail) = self.explain_error(status, body);
            return Error::Forbidden {
                method: method.to_owned(),
                path: path.to_owned(),
                status,
                scim_type,
                detail,
            };
        }
        let body = self.redact(body);
        let redact = |text: &str| self.redact(text);
        Error::Unauthorized {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            detail: explain_with(&body, &redact).1,
            advice: self.inner.profile.token_advice(&self.inner.token_source),
        }
    }

    /// `(scimType or code, detail)` of an error body, redacted before anything is cut from it
    /// (a cut could split an echoed token into pieces that no longer match) and after the JSON
    /// is decoded (an escaped token is plain text once decoded).
    fn explain_error(&self, status: u16, body: &str) -> (Option<String>, String) {
        let body = self.redact(body);
        parse_error_body_with(status, &body, &|text| self.redact(text))
    }

    fn parse<T: DeserializeOwned>(&self, method: &str, path: &str, body: &str) -> Result<T> {
        serde_json::from_str(body).map_err(|e| Error::InvalidReply {
            method: method.to_owned(),
            path: path.to_owned(),
            detail: format!(
                "the JSON does not parse ({}); body: {}",
                self.redact(&e.to_string()),
                self.quote(body)
            ),
        })
    }

    /// An excerpt of a reply body for an error message, redacted before it is cut. Only the
    /// start of the body is looked at: an excerpt never needs more.
    fn quote(&self, body: &str) -> String {
        let mut end = body.len().min(ERROR_BODY_BYTES);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        excerpt(&self.redact(&body[..end]))
    }

    fn parse_user(&self, method: &str, path: &str, body: &str) -> Result<wire::User> {
        let user: wire::User = self.parse(method, path, body)?;
        if user.id.is_empty() {
            return Err(self.no_id(method, path));
        }
        Ok(user)
    }

    fn parse_group(&self, method: &str, path: &str, body: &str) -> Result<wire::Group> {
        let group: wire::Group = self.parse(method, path, body)?;
        if group.id.is_empty() {
            return Err(self.no_id(method, path));
        }
        Ok(group)
    }

    fn no_id(&self, method: &str, path: &str) -> Error {
        Error::InvalidReply {
            method: method.to_owned(),
            path: path.to_owned(),
            detail: "the resource has no id".into(),
        }
    }

    /// Remove the token, in any form a server may echo it in, from text that came from the
    /// server (or from an error that quotes a request).
    fn redact(&self, text: &str) -> String {
        self.inner.redactor.redact(text)
    }
}

/// The kind of the first I/O error in `error`'s chain of causes.
fn io_kind(error: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = cause.source();
    }
    None
}

fn path_of(segments: &[&str]) -> String {
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.push_str(segment);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use chrono::TimeZone;

    const CANARY: &str = "canary-tok-3f9a1c77e2";

    fn client() -> Client {
        let clock = Arc::new(FixedClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        ));
        let settings = ClientSettings::new(
            Url::parse("http://127.0.0.1:9/scim/v2").unwrap(),
            SecretString::from(CANARY),
        );
        Client::new(settings, Profile::notion(), clock).unwrap()
    }

    #[test]
    fn token_not_in_debug() {
        let settings = ClientSettings::new(
            Url::parse("http://127.0.0.1:9/scim/v2").unwrap(),
            SecretString::from(CANARY),
        );
        assert!(!format!("{settings:?}").contains(CANARY));
        let client = client();
        assert!(!format!("{client:?}").contains(CANARY));
        assert!(!format!("{:?}", client.inner.auth).contains(CANARY));
    }

    #[test]
    fn server_echo_of_token_is_redacted() {
        let client = client();
        let reply = Reply {
            status: 400,
            body: format!(r#"{{"detail":"bad header Bearer {CANARY}"}}"#),
            after_lost: false,
        };
        let err = client.api_error("GET", "/Users", &reply);
        assert!(!err.to_string().contains(CANARY));
        assert!(!format!("{err:?}").contains(CANARY));
    }

    #[test]
    fn a_token_across_the_cut_of_an_excerpt_is_still_redacted() {
        // The excerpt keeps 200 characters; the token straddles that cut, in a plain body and
        // in a JSON detail. Cutting first would leave a piece of it that no longer matches.
        let client = client();
        let text = format!("{} {CANARY} tail", "x".repeat(190));
        for body in [text.clone(), format!(r#"{{"detail":"{text}"}}"#)] {
            let reply = Reply {
                status: 400,
                body,
                after_lost: false,
            };
            let err = client.api_error("GET", "/Users", &reply).to_string();
            assert!(!err.contains(&CANARY[..6]), "{err}");
        }
        let err = client
            .parse::<Value>("GET", "/Users", &format!("{} {CANARY}", "y".repeat(195)))
            .unwrap_err()
            .to_string();
        assert!(!err.contains(&CANARY[..6]), "{err}");
    }

    #[test]
    fn a_403_on_a_write_is_a_refusal_and_on_a_read_a_rejected_token() {
        let clock = Arc::new(FixedClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        ));
        let mut settings = ClientSettings::new(
            Url::parse("http://127.0.0.1:9/scim/v2").unwrap(),
            SecretString::from(CANARY),
        );
        settings.token_source = "the file /etc/idbridge/token".into();
        let client = Client::new(settings, Profile::scim(), clock).unwrap();
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"403","detail":"not in a verified domain {CANARY}"}}"#
        );
        let write = client.refusal("PATCH", "/Users/1", 403, &body);
        assert!(write.is_forbidden(), "{write:?}");
        assert!(write
            .to_string()
            .contains("not in a verified domain [REDACTED]"));
        for (method, status) in [("GET", 403), ("GET", 401), ("PATCH", 401), ("DELETE", 401)] {
            let err = client.refusal(method, "/Users", status, &body);
            assert!(err.is_auth(), "{method} {status}: {err:?}");
            let text = err.to_string();
            assert!(
                text.ends_with("update the file /etc/idbridge/token") && !text.contains("Notion"),
                "{text}"
            );
            assert!(!text.contains(CANARY) && !format!("{err:?}").contains(CANARY));
        }
    }

    #[test]
    fn urls_keep_the_base_path() {
        let client = client();
        assert_eq!(
            client.url(&["Users", "a b/c"]).unwrap().as_str(),
            "http://127.0.0.1:9/scim/v2/Users/a%20b%2Fc"
        );
        assert_eq!(path_of(&["Users", "x"]), "/Users/x");
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let base = Url::parse("http://127.0.0.1:9/scim/v2").unwrap();
        let mut s = ClientSettings::new(base.clone(), SecretString::from(CANARY));
        s.page_size = 101;
        assert!(matches!(
            Client::new(s, Profile::scim(), clock.clone()),
            Err(Error::Config { .. })
        ));
        let mut s = ClientSettings::new(base.clone(), SecretString::from(CANARY));
        s.rate_limit = Some(0.0);
        assert!(matches!(
            Client::new(s, Profile::scim(), clock.clone()),
            Err(Error::Config { .. })
        ));
        let s = ClientSettings::new(base.clone(), SecretString::from("bad\ntoken"));
        let err = Client::new(s, Profile::scim(), clock.clone()).unwrap_err();
        assert!(!err.to_string().contains("bad\ntoken"));
        let s = ClientSettings::new(
            Url::parse("mailto:x@y").unwrap(),
            SecretString::from(CANARY),
        );
        assert!(Client::new(s, Profile::scim(), clock).is_err());
    }

    fn quick(url: &str) -> ClientSettings {
        let mut s = ClientSettings::new(Url::parse(url).unwrap(), SecretString::from(CANARY));
        s.rate_limit = None;
        s.timeout = Duration::from_secs(5);
        s.backoff_base = Duration::from_millis(1);
        s.backoff_max = Duration::from_millis(2);
        s
    }

    /// A loopback port nothing listens on (bound, then closed).
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A listener that accepts connections and closes them at once, counting them.
    async fn accept_and_drop() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        (port, count)
    }

    #[tokio::test]
    async fn a_refused_connection_fails_at_once_as_cannot_connect() {
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let port = closed_port();
        let client = Client::new(
            quick(&format!("http://u:p@127.0.0.1:{port}/scim/v2?x=1")),
            Profile::notion(),
            clock,
        )
        .unwrap();
        let err = client.get_user(&ScimId::from("x")).await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot connect to http://127.0.0.1:{port}/scim/v2: the connection was refused"
            )),
            "{text}"
        );
        assert!(
            text.contains("GET /Users/x") && !text.contains(CANARY),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_failed_handshake_is_retried_twice_quickly_and_never_looked_up() {
        // TLS to a port that closes every connection: the handshake fails before any byte of
        // the request is sent, so even a POST is simply tried again, at most twice.
        let (port, connections) = accept_and_drop().await;
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let client = Client::new(
            quick(&format!("https://127.0.0.1:{port}/scim/v2")),
            Profile::notion(),
            clock,
        )
        .unwrap();
        let mut attrs = UserAttrs::new();
        attrs.insert(Attr::UserName, "ada@example.com".into());
        let err = client.create_user(&attrs).await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains("POST /Users"), "{err}");
        // One try and two retries; a lookup (GET) would have added connections.
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            1 + CONNECT_RETRIES as usize
        );
    }

    #[tokio::test]
    async fn a_connection_dropped_after_the_request_is_a_lost_reply() {
        // Plain HTTP to the same kind of port: the request went out, the reply never came. The
        // request may have been processed, so it is the lost-reply path with every retry.
        let (port, connections) = accept_and_drop().await;
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let mut settings = quick(&format!("http://127.0.0.1:{port}/scim/v2"));
        settings.max_retries = 3;
        let client = Client::new(settings, Profile::notion(), clock).unwrap();
        let err = client.get_user(&ScimId::from("x")).await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(err.to_string().contains("GET /Users/x"));
        assert!(!err.to_string().contains(CANARY));
        assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    }
}
