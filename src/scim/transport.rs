//! The request core shared by a [`super::Reader`] and a [`super::Writer`]: the settings and
//! their checks, the HTTP client, the authorisation header, and one HTTP exchange inside the
//! concurrency bound (`limiter`) and the rate budget, with its reply body read up to a bound.
//! Retries are `retry`'s, error texts `replies`'.
//!
//! Safety rules that shape this file (docs/architecture.md, "Decisions worth knowing"):
//! - The bearer token is a `SecretString`; the header is marked sensitive; nothing here prints it.
//! - Every read is bounded: a reply body is read incrementally up to `max_reply_bytes`, an error
//!   body only up to an excerpt's worth.
//! - A connection that cannot be made is not a lost reply: nothing was sent
//!   ([`Attempt::NoConnection`]), so no lookup is needed before trying again.

use super::error::{Error, Result};
use super::limiter::Limiter;
use super::profile::Profile;
use super::redact::Redactor;
use super::stats::{Observer, Stats};
use crate::clock::Clock;
use crate::retry::Policy;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Largest page Notion serves (docs/notion.md, "Paging"); RFC services may allow more, we never ask.
pub(super) const MAX_PAGE_SIZE: u32 = 100;
/// Default of `max_reply_bytes`: a page of 100 Notion users is about 100 KB, so 32 MiB is 300
/// times the largest reply idbridge asks for, and still a bound on memory (docs/config.md).
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 32 << 20;
/// How much of an error body is read: only an excerpt of it is ever quoted.
pub(super) const ERROR_BODY_BYTES: usize = 64 << 10;
/// Longest wait for a connection (TCP and TLS), whatever the request timeout: a target that
/// does not answer a connection attempt within it is unreachable, not slow.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of a connection that failed other than by refusal or timeout (a DNS or TLS hiccup);
/// nothing was sent, so they need no lookup, and a couple are enough.
pub(super) const CONNECT_RETRIES: u32 = 2;
/// Pause before a connection retry, times the retry's number.
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Settings of a SCIM client. `Debug` shows the token as `[REDACTED]` (secrecy).
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
    /// Told how long each exchange took (`serve`'s latency histogram); `None`: nobody.
    pub observer: Option<Observer>,
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
            observer: None,
        }
    }
}

/// The connection to one target (one token), shared by the clones of its handles.
pub(super) struct Core {
    http: reqwest::Client,
    base: Url,
    /// The base URL as error messages show it: no credentials, query or fragment.
    pub(super) shown_base: String,
    pub(super) auth: HeaderValue,
    pub(super) redactor: Redactor,
    pub(super) token_source: String,
    pub(super) policy: Policy,
    pub(super) page_size: u32,
    pub(super) max_reply_bytes: u64,
    connect_timeout: Duration,
    limiter: Option<DefaultDirectRateLimiter>,
    pub(super) permits: Limiter,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) profile: Profile,
    pub(super) stats: Stats,
    observer: Option<Observer>,
    /// Set when the target asked for a wait longer than `max_retry_after`: until then no
    /// request is sent (a run that will not wait an hour must not knock every second either).
    pub(super) held_until: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// The PATCH forms the target was found to accept in this run (`forms`).
    pub(super) learned: std::sync::Mutex<super::forms::Learned>,
}

/// One HTTP exchange, before the retry policy looks at it.
pub(super) enum Attempt {
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

/// A final reply, after retries.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: String,
    /// An earlier attempt lost its reply, so the write may have been applied already.
    pub(super) after_lost: bool,
}

impl Reply {
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(super) fn empty(&self) -> bool {
        self.status == 204 || self.body.trim().is_empty()
    }
}

fn config(detail: &str) -> Error {
    Error::Config {
        detail: detail.to_owned(),
    }
}

impl Core {
    /// The core for `settings.base_url` with `profile`; `clock` gives "now" for HTTP-date
    /// `Retry-After`. Every setting is checked here, so a bad one is a config error before any
    /// request.
    pub(super) fn new(
        settings: ClientSettings,
        profile: Profile,
        clock: Arc<dyn Clock>,
    ) -> Result<Core> {
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
        let auth = auth_header(&settings)?;
        let limiter = rate_limiter(settings.rate_limit, settings.concurrency)?;
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
        Ok(Core {
            http,
            shown_base: shown_base(&base),
            base,
            auth,
            redactor: Redactor::new(settings.token.expose_secret()),
            token_source: settings.token_source,
            policy: Policy {
                retries: settings.max_retries,
                backoff_base: settings.backoff_base,
                backoff_max: settings.backoff_max.max(settings.backoff_base),
                max_retry_after: settings.max_retry_after,
                reconnects: CONNECT_RETRIES,
                reconnect_delay: CONNECT_RETRY_DELAY,
            },
            page_size: settings.page_size,
            max_reply_bytes: settings.max_reply_bytes,
            connect_timeout,
            limiter,
            permits: Limiter::new(settings.concurrency),
            clock,
            profile,
            stats: Stats::default(),
            observer: settings.observer,
            held_until: std::sync::Mutex::new(None),
            learned: std::sync::Mutex::default(),
        })
    }

    /// One HTTP exchange, inside the concurrency bound and the rate budget. The permit is held
    /// until the body is read and released before any retry wait.
    pub(super) async fn attempt(
        &self,
        method: &Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Attempt> {
        let url = self.url(segments)?;
        self.check_held(method.as_str(), segments)?;
        let permit = self
            .permits
            .acquire()
            .await
            .ok_or_else(|| config("the SCIM client was shut down"))?;
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/scim+json, application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| config(&format!("cannot encode the request body: {e}")))?;
            request = request
                .header(CONTENT_TYPE, self.profile.content_type)
                .body(bytes);
        }
        self.stats.sent();
        let started = std::time::Instant::now();
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                permit.report(None);
                self.observe(started, None);
                return Ok(self.no_connection(&e));
            }
            Err(e) => {
                permit.report(None);
                self.observe(started, None);
                return Ok(Attempt::Lost {
                    detail: self.describe(&e),
                });
            }
        };
        let status = response.status().as_u16();
        permit.report(Some(status));
        self.stats.replied(status);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = self
            .read_body(&mut response, method.as_str(), segments, status)
            .await;
        self.observe(started, Some(status));
        match body? {
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

    fn observe(&self, started: std::time::Instant, status: Option<u16>) {
        if let Some(observer) = &self.observer {
            observer.0.replied(started.elapsed(), status);
        }
    }

    /// Hold every request back until the end of a wait the target asked for and idbridge would
    /// not make (a `Retry-After` beyond `max_retry_after`).
    pub(super) fn hold_until(&self, until: chrono::DateTime<chrono::Utc>) {
        if let Ok(mut held) = self.held_until.lock() {
            if held.is_none_or(|h| h < until) {
                *held = Some(until);
            }
        }
    }

    /// [`Error::HeldBack`] while a hold is on, so nothing is sent before the target's wait ends.
    fn check_held(&self, method: &str, segments: &[&str]) -> Result<()> {
        let until = self.held_until.lock().ok().and_then(|h| *h);
        let Some(until) = until else {
            return Ok(());
        };
        let left = (until - self.clock.now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return Ok(());
        }
        Err(Error::HeldBack {
            method: method.to_owned(),
            path: path_of(segments),
            retry_after: left,
        })
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
        let max = usize::try_from(self.max_reply_bytes).unwrap_or(usize::MAX);
        let success = (200..300).contains(&status);
        let too_large = || Error::ReplyTooLarge {
            method: method.to_owned(),
            path: path_of(segments),
            status,
            limit: self.max_reply_bytes,
        };
        if success
            && response
                .content_length()
                .is_some_and(|n| n > self.max_reply_bytes)
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
            format!("no connection within {:?}", self.connect_timeout)
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

    pub(super) fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| config("the target URL cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

/// `Authorization: Bearer …`, marked sensitive so no debug output of a request shows it.
fn auth_header(settings: &ClientSettings) -> Result<HeaderValue> {
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
    Ok(auth)
}

/// The client-side rate budget: `rate` requests per second on average, with a burst of at most
/// `concurrency` (never more are in flight anyway).
///
/// Without the burst a slot that no request was ready to take (all of them in flight, or a
/// waiter woken a little late) was lost for good, and a run at `rate_limit = 500` made 371
/// requests a second (docs/performance.md, "Scale"). With it, a late request takes the slot it
/// missed, so the average holds at `rate`; in any one second at most `rate + concurrency` go out.
fn rate_limiter(rate: Option<f64>, concurrency: usize) -> Result<Option<DefaultDirectRateLimiter>> {
    Ok(quota(rate, concurrency)?.map(RateLimiter::direct))
}

/// The quota of [`rate_limiter`].
fn quota(rate: Option<f64>, concurrency: usize) -> Result<Option<Quota>> {
    match rate {
        None => Ok(None),
        Some(rate) if rate.is_finite() && rate > 0.0 => {
            let burst = u32::try_from(concurrency)
                .ok()
                .and_then(NonZeroU32::new)
                .unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rate))
                .ok_or_else(|| config("the SCIM rate limit is too high"))?
                .allow_burst(burst);
            Ok(Some(quota))
        }
        Some(_) => Err(config(
            "the SCIM rate limit must be a positive number of requests per second",
        )),
    }
}

/// The base URL as messages show it: no credentials, query or fragment.
fn shown_base(base: &Url) -> String {
    let mut shown = base.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
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

/// `/Users/x` for `["Users", "x"]`, as messages show a request.
pub(super) fn path_of(segments: &[&str]) -> String {
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
    use governor::clock::FakeRelativeClock;

    /// At 500 a second with `concurrency` 4: at most 4 at once, then one per 2 ms; a slot nobody
    /// took while all requests were in flight is taken late rather than lost (up to 4 of them);
    /// over a second of steady demand, never more than `rate + concurrency`.
    #[test]
    fn the_rate_budget_averages_its_rate_and_catches_up_missed_slots() {
        let clock = FakeRelativeClock::default();
        let quota = quota(Some(500.0), 4).unwrap().unwrap();
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        let granted = |n: usize| (0..n).filter(|_| limiter.check().is_ok()).count();
        assert_eq!(granted(10), 4);
        clock.advance(Duration::from_millis(2));
        assert_eq!(granted(10), 1);
        // 9 ms with nobody asking (every request in flight): 4 slots wait, not 1.
        clock.advance(Duration::from_millis(9));
        assert_eq!(granted(10), 4);
        let mut sent = 0;
        for _ in 0..1000 {
            clock.advance(Duration::from_millis(1));
            sent += granted(10);
        }
        assert!((500..=504).contains(&sent), "{sent} in one second");
        assert!(quota_is_none_when_off());
    }

    fn quota_is_none_when_off() -> bool {
        matches!(quota(None, 4), Ok(None))
            && quota(Some(0.0), 4).is_err()
            && quota(Some(f64::NAN), 4).is_err()
    }
}
