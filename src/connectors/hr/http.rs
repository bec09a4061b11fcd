//! The HR API reader (`kind = "hr-http"`): GET JSON pages with a bearer or basic token, find the
//! records array at a dotted path, follow next links or page numbers, and apply the same row rules
//! as the CSV reader. A page that cannot be read after retries (the shared policy, `crate::retry`:
//! a 429 or 503 waits as its `Retry-After` asks, up to 120 s) fails the whole read: a partial list
//! would look like people left. Two signs that the paging lost someone are issues that name
//! nobody, so they hold every absence-based deactivation of the run: one record id on two pages
//! (offset paging over a list that changed mid-read shifts the rest: one record comes twice and
//! another never), and, when the API reports its record count (`total`), a count that does not
//! match the distinct records received.
//!
//! With the BambooHR preset and no report id in the URL, the one request is BambooHR's custom
//! report: `POST …/v1/reports/custom?format=JSON` with a JSON body listing exactly the fields the
//! row rules read (`HttpRequest::BambooCustom`); a reply whose `fields` and records lack one of
//! them fails the read, since a status or termination date that silently never came would keep
//! leavers active. BambooHR's shape needs nothing else: ids as strings, `0000-00-00` for no date,
//! `Active`/`Inactive` statuses (the default status map).
//!
//! Every read is bounded: a reply is read chunk by chunk up to `max_reply_bytes`, the pages up to
//! `max_pages`, a next link seen before is a loop, and with `total` set the paging stops with an
//! error once it runs past the count. Each of these fails the whole read. Errors show a page's URL
//! without credentials and with query values blanked (an API key may ride in the query), except
//! the page-number parameter.

use super::row::{self, RowRules};
use super::{Error, SourceRead};
use crate::clock::Clock;
use crate::config::{HrHttpSettings, HttpAuth, HttpPaging, HttpRequest};
use crate::model::{FindingCode, SourceIssue};
use crate::retry::{Again, Failed, Policy, Throttle};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::time::Duration;

/// Attempts per page before the read fails.
const ATTEMPTS: u32 = 4;
/// First wait before a page is asked for again; the waits double (with jitter) up to
/// [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest wait between two attempts at a page, unless the API asks for longer.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Longest `Retry-After` honoured: an API that asks for longer fails the read at once (the run
/// would otherwise sit idle past its schedule); the same bound as a SCIM target's default
/// `max_retry_after`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

fn at_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, part| v.get(part))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `url` as errors show it: no user name or password, no fragment, and every query value but the
/// page number's replaced by `***`, since APIs take keys and signatures there.
fn shown(settings: &HrHttpSettings, url: &url::Url) -> String {
    let mut out = url.clone();
    let _ = out.set_username("");
    let _ = out.set_password(None);
    out.set_fragment(None);
    out.set_query(None);
    let page_param = match &settings.paging {
        HttpPaging::PageNumber { param, .. } => Some(param.as_str()),
        _ => None,
    };
    let pairs: Vec<String> = url
        .query_pairs()
        .map(|(k, v)| {
            if Some(k.as_ref()) == page_param {
                format!("{k}={v}")
            } else {
                format!("{k}=***")
            }
        })
        .collect();
    let mut text = out.to_string();
    if !pairs.is_empty() {
        text.push('?');
        text.push_str(&pairs.join("&"));
    }
    text
}

fn fail(settings: &HrHttpSettings, url: &url::Url, detail: impl Into<String>) -> Error {
    Error::Http {
        source_name: settings.name.clone(),
        url: shown(settings, url),
        detail: detail.into(),
    }
}

/// How reading a reply's body ended.
enum Body {
    /// The whole body.
    Read(Vec<u8>),
    /// The connection failed midway: worth another attempt.
    Broken(String),
    /// Over `max_reply_bytes` (announced, or seen while reading): the same next time.
    TooLarge(String),
}

/// Read the body chunk by chunk, never holding more than `limit` bytes.
async fn body(mut reply: reqwest::Response, limit: u64) -> Body {
    if let Some(announced) = reply.content_length().filter(|&n| n > limit) {
        return Body::TooLarge(format!("it announces {announced} bytes"));
    }
    let mut out = Vec::new();
    loop {
        match reply.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() as u64 + chunk.len() as u64 > limit {
                    return Body::TooLarge(format!("it went on past {limit} bytes"));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Body::Read(out),
            Err(e) => {
                return Body::Broken(format!("reading the reply failed: {}", e.without_url()))
            }
        }
    }
}

/// A failed attempt at a page: final (the error to report as it is), or worth another attempt
/// (what went wrong, for the "gave up" error once the attempts run out).
enum Problem {
    Final(Error),
    Transient(String),
}

/// Fetch one page under the shared retry policy (`crate::retry`): a 429 or 503 waits as its
/// `Retry-After` asks (seconds or an HTTP date read at `clock`'s now), up to
/// [`MAX_RETRY_AFTER`]; other 5xx, a failed request and a body cut short back off. A refused
/// token, another status, a reply too large or not JSON fail at once.
async fn fetch(
    client: &reqwest::Client,
    settings: &HrHttpSettings,
    url: &url::Url,
    clock: &dyn Clock,
) -> Result<Value, Error> {
    let policy = policy();
    let outcome = policy
        .run(
            |_| attempt(client, settings, url, &policy, clock),
            |failed, delay, retry| {
                if let Problem::Transient(why) = &failed.error {
                    tracing::warn!(
                        source = %settings.name,
                        url = %shown(settings, url),
                        problem = %why,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        retry,
                        "HR API page failed; retrying"
                    );
                }
            },
        )
        .await;
    match outcome {
        Ok(value) => Ok(value),
        Err(Failed {
            error: Problem::Final(e),
            ..
        }) => Err(e),
        Err(Failed {
            error: Problem::Transient(last),
            ..
        }) => Err(fail(
            settings,
            url,
            format!(
                "gave up after {ATTEMPTS} attempts ({last}); nothing from this source is used this run"
            ),
        )),
    }
}

/// The HR reader's retry policy: [`ATTEMPTS`] in all, a short backoff, `Retry-After` up to
/// [`MAX_RETRY_AFTER`]. A connection that cannot be made backs off like any failed request.
fn policy() -> Policy {
    Policy {
        retries: ATTEMPTS - 1,
        backoff_base: BACKOFF_BASE,
        backoff_max: BACKOFF_MAX,
        max_retry_after: MAX_RETRY_AFTER,
        reconnects: 0,
        reconnect_delay: Duration::ZERO,
    }
}

/// One request for a page, judged for the retry policy.
async fn attempt(
    client: &reqwest::Client,
    settings: &HrHttpSettings,
    url: &url::Url,
    policy: &Policy,
    clock: &dyn Clock,
) -> Result<Value, Failed<Problem>> {
    let transient = |why: String| Failed::backoff(Problem::Transient(why));
    let fatal = |why: String| Failed::never(Problem::Final(fail(settings, url, why)));
    let mut request = match &settings.request {
        HttpRequest::Get => client.get(url.clone()),
        // Asking for a report changes nothing in BambooHR, so the POST is retried like a GET.
        HttpRequest::BambooCustom { fields } => client
            .post(url.clone())
            .json(&serde_json::json!({ "title": "idbridge", "fields": fields })),
    }
    .header("Accept", "application/json");
    if let Some(token) = &settings.token {
        request = match settings.auth {
            HttpAuth::Bearer => request.bearer_auth(token.expose_secret()),
            HttpAuth::Basic => request.basic_auth(token.expose_secret(), Some("x")),
        };
    }
    let reply = request
        .send()
        .await
        .map_err(|e| transient(format!("request failed: {}", e.without_url())))?;
    let status = reply.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(fatal(format!(
            "the HR API refused the token (HTTP {}); check token_env/token_file and auth",
            status.as_u16()
        )));
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::SERVICE_UNAVAILABLE
    {
        let header = reply
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        let busy = format!("HTTP {}", status.as_u16());
        return Err(match policy.throttled(header, clock.now()) {
            Throttle::Wait(wait) => Failed {
                again: Again::Asked(wait),
                ..transient(busy)
            },
            Throttle::Backoff => transient(busy),
            Throttle::TooLong(wait) => fatal(format!(
                "the HR API is busy ({busy}) and asked to wait {}s (Retry-After), longer than idbridge waits \
                 ({}s); nothing from this source is used this run. Run again later",
                wait.as_secs(),
                MAX_RETRY_AFTER.as_secs()
            )),
        });
    }
    if status.is_server_error() {
        return Err(transient(format!("HTTP {}", status.as_u16())));
    }
    if !status.is_success() {
        return Err(fatal(format!(
            "HTTP {}{}",
            status.as_u16(),
            refusal_hint(settings, status.as_u16())
        )));
    }
    let bytes = match body(reply, settings.max_reply_bytes).await {
        Body::Read(b) => b,
        Body::Broken(why) => return Err(transient(why)),
        Body::TooLarge(why) => {
            return Err(fatal(format!(
                "the reply is larger than max_reply_bytes = {} ({why}); nothing from this source is used this \
                 run. Raise sources.max_reply_bytes if one page really is that large, or page the API",
                settings.max_reply_bytes
            )))
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| fatal(format!("the reply is not JSON: {e}")))
}

/// What to check when the API refused the request itself.
fn refusal_hint(settings: &HrHttpSettings, status: u16) -> &'static str {
    match (&settings.request, status) {
        (HttpRequest::BambooCustom { .. }, 404) => {
            "; BambooHR has no such company or endpoint: check the company domain in `url` \
             (https://api.bamboohr.com/api/gateway.php/<company>/v1)"
        }
        (HttpRequest::BambooCustom { .. }, _) => {
            "; BambooHR refused the custom report request: check that every field name in \
             sources.columns is a BambooHR field (its API lists them at /v1/meta/fields)"
        }
        (HttpRequest::Get, 404) => "; check `url` (for BambooHR, the report id)",
        (HttpRequest::Get, _) => "",
    }
}

/// A BambooHR custom report must bring back every field it was asked for, in its `fields` list
/// or in its records: one the API key may not see, or a misspelt one, would otherwise read as
/// "no status" (everyone active) or "no termination date", and leavers would keep access.
fn check_fields(settings: &HrHttpSettings, url: &url::Url, body: &Value) -> Result<(), Error> {
    let HttpRequest::BambooCustom { fields } = &settings.request else {
        return Ok(());
    };
    let mut present: std::collections::BTreeSet<String> = body
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("id").and_then(scalar))
        .collect();
    let records = at_path(body, &settings.records).and_then(Value::as_array);
    for record in records.into_iter().flatten() {
        if let Some(object) = record.as_object() {
            present.extend(object.keys().cloned());
        }
    }
    let missing: Vec<&str> = fields
        .iter()
        .filter(|f| !present.contains(f.as_str()))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(fail(
        settings,
        url,
        format!(
            "BambooHR's custom report came back without the field(s) `{}`; nothing from this \
             source is used this run. Check the names in sources.columns against BambooHR's \
             fields (/v1/meta/fields) and that the API key's user may see them",
            missing.join("`, `")
        ),
    ))
}

/// A JSON value as a message quotes it: at most 100 characters, since it is kept per page and
/// could be a whole object.
fn shown_value(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// What the API said its record count was, page by page, against the records it sent.
#[derive(Debug, Default)]
struct Count {
    /// Distinct records: a record whose id came on an earlier page is counted there only.
    received: u64,
    /// Records that repeated an id from an earlier page.
    repeated: u64,
    /// (page, the value at `total` as read: a number, or what stood there instead).
    reported: Vec<(u32, Result<u64, String>)>,
}

impl Count {
    /// Count page `body`: `distinct` new records, `repeated` ones seen on earlier pages.
    fn page(&mut self, settings: &HrHttpSettings, body: &Value, distinct: u64, repeated: u64) {
        self.received += distinct;
        self.repeated += repeated;
        if let Some(path) = &settings.total {
            let page = self.reported.len() as u32 + 1;
            let value = match at_path(body, path) {
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|t| t.trim().parse().ok()))
                    .ok_or_else(|| format!("`{}`", shown_value(v))),
                None => Err("nothing".to_owned()),
            };
            self.reported.push((page, value));
        }
    }

    /// Why paging must stop although the API links another page after page `page`: with a record
    /// count reported, a read can run past it by one empty closing page, not more. A loop over
    /// ever-new links would otherwise go on to `max_pages`.
    fn runaway(&self, settings: &HrHttpSettings, page: u32) -> Option<String> {
        let path = settings.total.as_ref()?;
        let total = self
            .reported
            .iter()
            .filter_map(|(_, v)| v.as_ref().ok().copied())
            .max()?;
        (self.received > total || u64::from(page) > total).then(|| {
            format!(
                "the API reports {total} records at `{path}`, but after {} records in {page} pages it links yet another \
                 page; stopping there (a paging loop?), and nothing from this source is used this run",
                self.received
            )
        })
    }

    /// An issue naming nobody when the count cannot be confirmed: a record the API counted but
    /// did not send could be anyone, so no absence-based deactivation may rely on this read.
    fn check(&self, settings: &HrHttpSettings) -> Option<SourceIssue> {
        let path = settings.total.as_ref()?;
        let numbers: std::collections::BTreeSet<u64> = self
            .reported
            .iter()
            .filter_map(|(_, v)| v.as_ref().ok().copied())
            .collect();
        let problem =
            if let Some((page, Err(found))) = self.reported.iter().find(|(_, v)| v.is_err()) {
                format!("page {page} has {found} at `{path}` where the record count should be")
            } else if numbers.len() > 1 {
                let list: Vec<String> = numbers.iter().map(u64::to_string).collect();
                format!(
                    "the pages report different totals at `{path}` ({})",
                    list.join(", ")
                )
            } else if let Some(&total) = numbers.first().filter(|&&t| t != self.received) {
                let repeats = match self.repeated {
                    0 => String::new(),
                    n => format!(
                        " distinct ones ({} in all: {n} came again on a later page)",
                        self.received + n
                    ),
                };
                format!(
                    "the API reports {total} records at `{path}` but sent {}{repeats}",
                    self.received
                )
            } else {
                return None;
            };
        Some(SourceIssue {
            source: settings.name.clone(),
            location: format!("{} total", settings.url.path()),
            code: FindingCode::SourceTotalMismatch,
            message: format!(
                "{problem}; some people may be missing from this read, so nobody is deactivated for being absent \
                 this run (check the API's paging, or unset `total`)"
            ),
            skipped_person: true,
            hints: Vec::new(),
        })
    }
}

/// Ids shown in a `source-paging-overlap` message; the rest are counted.
const OVERLAPS_SHOWN: usize = 5;

/// The pages each record id came on.
#[derive(Debug, Default)]
struct Pages(std::collections::BTreeMap<String, std::collections::BTreeSet<u32>>);

impl Pages {
    /// Note `id` on `page`; true when it already came on an earlier page.
    fn seen(&mut self, id: String, page: u32) -> bool {
        let pages = self.0.entry(id).or_default();
        let earlier = pages.iter().any(|&p| p < page);
        pages.insert(page);
        earlier
    }

    /// An issue naming nobody when an id came on two pages. A list that changes while it is
    /// paged by offset shifts under the reader: a record added or removed before the current
    /// offset makes the next page repeat one record and another be skipped, and nothing in the
    /// replies says who. The count alone cannot tell, since the repeat fills the gap.
    fn check(&self, settings: &HrHttpSettings) -> Option<SourceIssue> {
        let repeated: Vec<(&String, Vec<String>)> = self
            .0
            .iter()
            .filter(|(_, pages)| pages.len() > 1)
            .map(|(id, pages)| (id, pages.iter().map(u32::to_string).collect()))
            .collect();
        if repeated.is_empty() {
            return None;
        }
        let pages: std::collections::BTreeSet<u32> = self
            .0
            .values()
            .filter(|pages| pages.len() > 1)
            .flatten()
            .copied()
            .collect();
        let pages: Vec<String> = pages.iter().map(u32::to_string).collect();
        let mut named: Vec<String> = repeated
            .iter()
            .take(OVERLAPS_SHOWN)
            .map(|(id, pages)| format!("`{id}` on pages {}", pages.join(" and ")))
            .collect();
        if repeated.len() > OVERLAPS_SHOWN {
            named.push(format!("and {} more", repeated.len() - OVERLAPS_SHOWN));
        }
        Some(SourceIssue {
            source: settings.name.clone(),
            location: format!("{} pages {}", settings.url.path(), pages.join(", ")),
            code: FindingCode::SourcePagingOverlap,
            message: format!(
                "the API sent the same record on more than one page ({} `{}`: {}); its paging shifted while it \
                 was read, so another record may have been skipped, and nobody is deactivated for being absent this \
                 run. Run again; if it keeps happening, have the API sort by a stable key or page with `next` links \
                 (cursors)",
                if repeated.len() == 1 { "id" } else { "ids" },
                settings.columns.employee_id,
                named.join(", ")
            ),
            skipped_person: true,
            hints: Vec::new(),
        })
    }
}

/// What reading the pages gathers, page after page.
struct Gathered<'s> {
    settings: &'s HrHttpSettings,
    rules: RowRules<'s>,
    out: SourceRead,
    /// Top-level field names seen in any record.
    seen_fields: std::collections::BTreeSet<String>,
    count: Count,
    pages: Pages,
}

impl<'s> Gathered<'s> {
    fn new(settings: &'s HrHttpSettings) -> Self {
        Self {
            settings,
            rules: RowRules {
                source: &settings.name,
                columns: &settings.columns,
                status_map: &settings.status_map,
                timezone: settings.timezone,
                date_format: &settings.date_format,
            },
            out: SourceRead {
                source: settings.name.clone(),
                ..SourceRead::default()
            },
            seen_fields: std::collections::BTreeSet::new(),
            count: Count::default(),
            pages: Pages::default(),
        }
    }

    /// Take in page number `page` (counted from 1), read from `url`; returns how many records it
    /// held.
    fn page(&mut self, url: &url::Url, body: &Value, page: u32) -> Result<usize, Error> {
        let settings = self.settings;
        let Some(records) = at_path(body, &settings.records).and_then(Value::as_array) else {
            return Err(fail(
                settings,
                url,
                format!(
                    "no records array at `{}` in the reply; set `records` to its dotted path",
                    settings.records
                ),
            ));
        };
        let mut repeated = 0;
        for record in records {
            let id = at_path(record, &settings.columns.employee_id).and_then(scalar);
            if record.is_object() && id.is_some_and(|id| self.pages.seen(id, page)) {
                repeated += 1;
            }
        }
        self.count
            .page(settings, body, records.len() as u64 - repeated, repeated);
        for (n, record) in records.iter().enumerate() {
            let location = format!("{} page {page} record {}", settings.url.path(), n + 1);
            self.record(record, location);
        }
        Ok(records.len())
    }

    /// One record, read by the row rules (or reported).
    fn record(&mut self, record: &Value, location: String) {
        let Some(object) = record.as_object() else {
            self.out.issues.push(row::bad_row(
                &self.settings.name,
                location,
                "the record is not a JSON object".to_owned(),
                Vec::new(),
            ));
            return;
        };
        self.seen_fields.extend(object.keys().cloned());
        let get = |field: &str| at_path(record, field).and_then(scalar);
        let has = |field: &str| at_path(record, field).is_some();
        match row::record(&self.rules, &get, &has, location) {
            Ok(r) => self.out.records.push(r),
            Err(issue) => self.out.issues.push(*issue),
        }
    }

    /// The read, once the last page is in: duplicates dropped, paging and count checked.
    fn finish(mut self) -> SourceRead {
        let seen_fields = &self.seen_fields;
        self.out.fields = row::fields(&self.rules, &|field: &str| {
            seen_fields.contains(field.split('.').next().unwrap_or(field))
        });
        row::drop_duplicates(&mut self.out);
        self.out.issues.extend(self.pages.check(self.settings));
        self.out.issues.extend(self.count.check(self.settings));
        self.out
    }
}

/// `url` with the page-number parameter set to `number`, its other query pairs kept.
fn with_page_number(url: &mut url::Url, param: &str, number: u64) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != param)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(param, &number.to_string());
}

/// The page after the one read from `url` (`None` at the last), by the configured paging.
fn next_page(
    settings: &HrHttpSettings,
    url: &url::Url,
    body: &Value,
    records: usize,
    page_number: &mut u64,
) -> Result<Option<url::Url>, Error> {
    Ok(match &settings.paging {
        HttpPaging::None => None,
        HttpPaging::NextLink(path) => match at_path(body, path).and_then(scalar) {
            Some(link) => Some(
                url.join(&link)
                    .map_err(|e| fail(settings, url, format!("bad next link: {e}")))?,
            ),
            None => None,
        },
        HttpPaging::PageNumber { .. } => {
            *page_number += 1;
            (records > 0).then(|| url.clone())
        }
    })
}

/// The pages of a read already fetched, taken in as [`read_http`] takes them in (records, counts,
/// repeats, the next-page decision), for the fuzz targets: no network. The read stops where
/// `read_http` would stop: at the first page that names no next one.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn read_pages(settings: &HrHttpSettings, bodies: &[Value]) -> Result<SourceRead, Error> {
    let mut gathered = Gathered::new(settings);
    let mut url = settings.url.clone();
    let mut page_number = match &settings.paging {
        HttpPaging::PageNumber { start, .. } => *start,
        _ => 0,
    };
    for (page, body) in (1u32..).zip(bodies) {
        let records = gathered.page(&url, body, page)?;
        match next_page(settings, &url, body, records, &mut page_number)? {
            Some(next) => {
                if let Some(why) = gathered.count.runaway(settings, page) {
                    return Err(fail(settings, &url, why));
                }
                url = next;
            }
            None => break,
        }
    }
    Ok(gathered.finish())
}

/// Read every page of the HR API; `clock` reads an HTTP-date `Retry-After`.
pub async fn read_http(settings: &HrHttpSettings, clock: &dyn Clock) -> Result<SourceRead, Error> {
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .build()
        .map_err(|e| {
            fail(
                settings,
                &settings.url,
                format!("cannot build an HTTP client: {e}"),
            )
        })?;
    let mut gathered = Gathered::new(settings);
    let mut url = settings.url.clone();
    let mut visited = std::collections::BTreeSet::new();
    let mut page_number = match &settings.paging {
        HttpPaging::PageNumber { start, .. } => *start,
        _ => 0,
    };
    for page in 1..=settings.max_pages {
        if let HttpPaging::PageNumber { param, .. } = &settings.paging {
            with_page_number(&mut url, param, page_number);
        }
        if !visited.insert(url.to_string()) {
            return Err(fail(
                settings,
                &url,
                "the API links back to a page already read (a paging loop); nothing from this source is used this run",
            ));
        }
        let body = fetch(&client, settings, &url, clock).await?;
        check_fields(settings, &url, &body)?;
        let records = gathered.page(&url, &body, page)?;
        match next_page(settings, &url, &body, records, &mut page_number)? {
            Some(next) => {
                if let Some(why) = gathered.count.runaway(settings, page) {
                    return Err(fail(settings, &url, why));
                }
                url = next;
            }
            None => return Ok(gathered.finish()),
        }
    }
    Err(fail(
        settings,
        &url,
        format!(
            "more than max_pages = {} pages; nothing from this source is used this run. Raise max_pages if that \
             is right",
            settings.max_pages
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceSettings;

    fn settings(total: Option<&str>) -> HrHttpSettings {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scim"), "scim\n").unwrap();
        let total = total.map_or(String::new(), |t| format!("total = \"{t}\"\n"));
        let text = format!(
            "[target]\nkind = \"notion\"\ntoken_file = \"scim\"\n\n[[sources]]\nname = \"hr\"\nkind = \"hr-http\"\n\
             url = \"https://hr.example/v1/people\"\npage_param = \"page\"\n{total}[sources.columns]\nemployee_id = \"id\"\n"
        );
        let parsed = crate::config::parse(&text, &dir.path().join("idbridge.toml"), dir.path());
        match parsed.unwrap().sources.into_iter().next() {
            Some(SourceSettings::HrHttp(s)) => *s,
            other => panic!("not hr-http: {other:?}"),
        }
    }

    #[test]
    fn only_an_id_seen_on_an_earlier_page_is_a_repeat() {
        let s = settings(None);
        let mut pages = Pages::default();
        assert!(!pages.seen("E5".into(), 1));
        assert!(
            !pages.seen("E5".into(), 1),
            "twice on one page: a duplicate row, not a shift"
        );
        assert!(pages.check(&s).is_none());
        assert!(pages.seen("E5".into(), 2));
        assert!(!pages.seen("E6".into(), 2));
        let issue = pages.check(&s).expect("an overlap");
        assert_eq!(issue.code, FindingCode::SourcePagingOverlap);
        assert!(issue.skipped_person && issue.hints.is_empty(), "{issue:?}");
        assert_eq!(issue.location, "/v1/people pages 1, 2");
        assert!(
            issue.message.contains("(id `id`: `E5` on pages 1 and 2)"),
            "{}",
            issue.message
        );
    }

    #[test]
    fn an_overlap_names_five_ids_and_counts_the_rest() {
        let s = settings(None);
        let mut pages = Pages::default();
        for n in 0..8 {
            pages.seen(format!("E{n}"), 1);
            pages.seen(format!("E{n}"), 3);
        }
        let issue = pages.check(&s).expect("an overlap");
        assert_eq!(issue.location, "/v1/people pages 1, 3");
        assert!(
            issue.message.contains("(ids `id`: `E0` on pages 1 and 3, ")
                && issue.message.contains("`E4` on pages 1 and 3, and 3 more)")
                && !issue.message.contains("`E5`"),
            "{}",
            issue.message
        );
    }

    /// The reported case: 7 records sent, one of them a repeat, against a total of 7.
    #[test]
    fn the_total_is_compared_with_the_distinct_records() {
        let s = settings(Some("meta.total"));
        let body = serde_json::json!({ "meta": { "total": 7 } });
        let mut count = Count::default();
        count.page(&s, &body, 4, 0);
        count.page(&s, &body, 2, 1);
        let issue = count.check(&s).expect("a mismatch");
        assert!(issue.hints.is_empty());
        assert!(
            issue.message.contains(
                "reports 7 records at `meta.total` but sent 6 distinct ones (7 in all: 1 came again on a later page)"
            ),
            "{}",
            issue.message
        );
        let mut whole = Count::default();
        whole.page(&s, &body, 4, 0);
        whole.page(&s, &body, 3, 0);
        assert!(whole.check(&s).is_none());
    }
}
