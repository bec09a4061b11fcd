//! The HR API source against a local HTTP server: next-link and page-number paging, a 500 in the
//! middle (retried), a page that keeps failing (the whole read fails, nothing partial), basic and
//! bearer auth, BambooHR's report shape, and the bounds on a read: reply size, paging loops,
//! paging past the reported total, and paging that shifted mid-read (one record on two pages).

use crate::support::{Workspace, OWNER};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use idbridge::clock::SystemClock;
use idbridge::config::{self, SourceSettings};
use idbridge::connectors::hr::read_http;
use idbridge::model::FindingCode;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Api {
    hits: AtomicUsize,
    /// Fail this many requests for page 2 with a 500.
    page2_failures: AtomicUsize,
    /// `/v1/shifted` pages as offset paging does when the list changed between two pages.
    shifted: AtomicBool,
    /// `/v1/busy` answers this many requests with `?status=` (429 by default) and `Retry-After:
    /// ?after=`.
    busy: AtomicUsize,
}

fn person(id: u32) -> serde_json::Value {
    json!({
        "id": id, "workEmail": format!("p{id}@acme.test"), "firstName": format!("P{id}"), "lastName": "Test",
        "jobTitle": "Engineer", "status": if id == 3 { "Inactive" } else { "Active" },
        "hireDate": "2020-01-01", "terminationDate": if id == 3 { "2021-06-30" } else { "0000-00-00" }
    })
}

async fn paged(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    api.hits.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer hr-token") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    if page == 2 && api.page2_failures.load(Ordering::SeqCst) > 0 {
        api.page2_failures.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let people: Vec<_> = match page {
        1 => (1..=2).map(person).collect(),
        2 => (3..=4).map(person).collect(),
        _ => vec![],
    };
    let next = (page < 2).then(|| format!("/v1/people?page={}", page + 1));
    Json(json!({ "data": { "items": people }, "links": { "next": next } })).into_response()
}

async fn bamboo(headers: HeaderMap) -> Response {
    // BambooHR: the API key as the basic-auth user name, any password.
    let expected = "Basic YmFtYm9vLWtleTp4"; // base64("bamboo-key:x")
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({ "title": "idbridge", "fields": [], "employees": [person(1), person(3), {"id": "9", "workEmail": "", "status": "Active"}] }))
        .into_response()
}

/// Two records, and whatever count `?claim=` says (absent: no count at all).
async fn counted(Query(q): Query<HashMap<String, String>>) -> Response {
    let meta = match q.get("claim") {
        Some(c) => json!({ "total": c.parse::<u64>().map_or(json!(c), |n| json!(n)) }),
        None => json!({}),
    };
    Json(json!({ "data": { "items": [person(1), person(2)] }, "meta": meta })).into_response()
}

/// `?records=N` records in one reply, with a Content-Length; `&stream=1` sends it in chunks
/// without one.
async fn big(State(api): State<Arc<Api>>, Query(q): Query<HashMap<String, String>>) -> Response {
    api.hits.fetch_add(1, Ordering::SeqCst);
    let n: u32 = q.get("records").and_then(|n| n.parse().ok()).unwrap_or(1);
    let text = json!({ "data": { "items": (1..=n).map(person).collect::<Vec<_>>() } }).to_string();
    if q.contains_key("stream") {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = text
            .into_bytes()
            .chunks(16 * 1024)
            .map(|c| Ok(c.to_vec()))
            .collect();
        return axum::body::Body::from_stream(futures::stream::iter(chunks)).into_response();
    }
    text.into_response()
}

/// Links back to itself.
async fn looping(State(api): State<Arc<Api>>) -> Response {
    api.hits.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "data": { "items": [person(1)] }, "links": { "next": "/v1/loop" } }))
        .into_response()
}

/// One record per page, a total of 3, and a next link to a new cursor on every page, forever.
async fn endless(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    api.hits.fetch_add(1, Ordering::SeqCst);
    let cursor: u32 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(1);
    Json(json!({
        "data": { "items": [person(cursor)] }, "meta": { "total": 3 },
        "links": { "next": format!("/v1/endless?cursor={}", cursor + 1) }
    }))
    .into_response()
}

/// People 1, 2 and 4-8, four a page, with `meta.total` = 7, by `?page=`; with `&links=1` each
/// page but the last links the next. Once `shifted`, page 2 starts one record early, as offset
/// paging does when a record before it moved between the two requests: person 5 comes on pages
/// 1 and 2, and person 8 on none.
async fn shifted(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let ids: &[u32] = match (page, api.shifted.load(Ordering::SeqCst)) {
        (1, _) => &[1, 2, 4, 5],
        (2, false) => &[6, 7, 8],
        (2, true) => &[5, 6, 7],
        _ => &[],
    };
    let next = (q.contains_key("links") && !ids.is_empty())
        .then(|| format!("/v1/shifted?links=1&page={}", page + 1));
    Json(json!({
        "data": { "items": ids.iter().map(|&id| person(id)).collect::<Vec<_>>() },
        "meta": { "total": 7 }, "links": { "next": next }
    }))
    .into_response()
}

/// Busy (`Api::busy` times) with the status and `Retry-After` the query asks for, then one page.
async fn busy(State(api): State<Arc<Api>>, Query(q): Query<HashMap<String, String>>) -> Response {
    api.hits.fetch_add(1, Ordering::SeqCst);
    if api.busy.load(Ordering::SeqCst) > 0 {
        api.busy.fetch_sub(1, Ordering::SeqCst);
        let status = q.get("status").and_then(|s| s.parse().ok()).unwrap_or(429);
        let after = q.get("after").cloned().unwrap_or_default();
        return (
            StatusCode::from_u16(status).unwrap(),
            [("retry-after", after)],
        )
            .into_response();
    }
    Json(json!({ "data": { "items": [person(1), person(2)] } })).into_response()
}

async fn serve(api: Arc<Api>) -> String {
    let app = Router::new()
        .route("/v1/busy", get(busy))
        .route("/v1/big", get(big))
        .route("/v1/loop", get(looping))
        .route("/v1/endless", get(endless))
        .route("/v1/counted", get(counted))
        .route("/v1/shifted", get(shifted))
        .route("/v1/people", get(paged))
        .route("/v1/pages", get(paged))
        .route("/v1/reports/7", get(bamboo))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn source(dir: &std::path::Path, body: &str) -> Box<config::HrHttpSettings> {
    std::fs::write(dir.join("token"), "hr-token\n").unwrap();
    std::fs::write(dir.join("bamboo"), "bamboo-key\n").unwrap();
    std::fs::write(dir.join("scim"), "scim\n").unwrap();
    let text = format!("[target]\nkind = \"notion\"\ntoken_file = \"scim\"\n\n[[sources]]\nname = \"hr\"\nkind = \"hr-http\"\n{body}\n");
    let settings = config::parse(&text, &dir.join("idbridge.toml"), dir).unwrap();
    match settings.sources.into_iter().next().unwrap() {
        SourceSettings::HrHttp(s) => s,
        other => panic!("not hr-http: {other:?}"),
    }
}

#[tokio::test]
async fn next_link_paging_survives_a_500_in_the_middle() {
    let api = Arc::new(Api::default());
    api.page2_failures.store(2, Ordering::SeqCst);
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(
        dir.path(),
        &format!(
            "url = \"{base}/v1/people\"\ntoken_file = \"token\"\nrecords = \"data.items\"\nnext = \"links.next\"\n\
             [sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\ngiven_name = \"firstName\"\nfamily_name = \"lastName\"\n\
             title = \"jobTitle\"\nstart_date = \"hireDate\"\ntermination_date = \"terminationDate\"\n\
             [sources.status_map]\nactive = \"active\"\ninactive = \"inactive\"\n"
        ),
    );
    let read = read_http(&s, &SystemClock).await.unwrap();
    assert!(read.issues.is_empty(), "{:?}", read.issues);
    let ids: Vec<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    assert_eq!(&read.records[0].attrs["title"], "Engineer");
    let three = read.records[2].employment.as_ref().unwrap();
    assert_eq!(three.end, chrono::NaiveDate::from_ymd_opt(2021, 6, 30));
    assert!(
        read.records[0].employment.as_ref().unwrap().end.is_none(),
        "0000-00-00 means no date"
    );
    assert!(
        read.records[2].location.ends_with("page 2 record 1"),
        "{}",
        read.records[2].location
    );
    assert_eq!(
        api.hits.load(Ordering::SeqCst),
        4,
        "page 1, two failures, page 2"
    );
}

#[tokio::test]
async fn a_page_that_keeps_failing_fails_the_read() {
    let api = Arc::new(Api::default());
    api.page2_failures.store(100, Ordering::SeqCst);
    let base = serve(api).await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(
        dir.path(),
        &format!("url = \"{base}/v1/pages\"\ntoken_file = \"token\"\nrecords = \"data.items\"\npage_param = \"page\"\n[sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\n"),
    );
    let err = read_http(&s, &SystemClock).await.unwrap_err().to_string();
    assert!(
        err.contains("gave up after 4 attempts") && err.contains("HTTP 500"),
        "{err}"
    );
    assert!(!err.contains("hr-token"));
}

#[tokio::test]
async fn page_number_paging_stops_on_an_empty_page() {
    let api = Arc::new(Api::default());
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(
        dir.path(),
        &format!("url = \"{base}/v1/pages\"\ntoken_file = \"token\"\nrecords = \"data.items\"\npage_param = \"page\"\n[sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\nstatus = \"status\"\n[sources.status_map]\nactive = \"active\"\ninactive = \"inactive\"\n"),
    );
    let read = read_http(&s, &SystemClock).await.unwrap();
    assert_eq!(read.records.len(), 4);
    assert_eq!(
        api.hits.load(Ordering::SeqCst),
        3,
        "pages 1, 2 and the empty page 3"
    );
}

#[tokio::test]
async fn bamboohr_preset_reads_a_saved_report_by_get() {
    let base = serve(Arc::new(Api::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(
        dir.path(),
        &format!(
            "url = \"{base}/v1/reports/7?format=JSON\"\npreset = \"bamboohr\"\ntoken_file = \"bamboo\"\n"
        ),
    );
    let read = read_http(&s, &SystemClock).await.unwrap();
    assert_eq!(read.records.len(), 2);
    assert_eq!(&read.records[0].attrs["email"], "p1@acme.test");
    assert_eq!(
        read.records[1].employment.as_ref().unwrap().kind,
        idbridge::model::StatusKind::Inactive
    );
    assert_eq!(
        read.issues.len(),
        1,
        "the record without an email is reported"
    );
    assert_eq!(read.issues[0].hints, vec!["9".to_owned()]);
    // A wrong key is a clear error, not an empty source.
    std::fs::write(dir.path().join("bad-key"), "wrong\n").unwrap();
    let s = source(
        dir.path(),
        &format!(
            "url = \"{base}/v1/reports/7?format=JSON\"\npreset = \"bamboohr\"\ntoken_file = \"bad-key\"\n"
        ),
    );
    let err = read_http(&s, &SystemClock).await.unwrap_err().to_string();
    assert!(err.contains("refused the token"), "{err}");
}

/// The API's own record count is checked: records it counted but did not send could be anyone,
/// so the read carries an issue that names nobody (which holds absence-based deactivations).
#[tokio::test]
async fn a_total_that_does_not_match_the_records_names_nobody() {
    let base = serve(Arc::new(Api::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let read = |claim: &str| {
        let s = source(
            dir.path(),
            &format!(
                "url = \"{base}/v1/counted{claim}\"\nrecords = \"data.items\"\ntotal = \"meta.total\"\n\
                 [sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\n"
            ),
        );
        async move { read_http(&s, &SystemClock).await.unwrap() }
    };
    let ok = read("?claim=2").await;
    assert!(ok.issues.is_empty(), "{:?}", ok.issues);
    assert_eq!(ok.records.len(), 2);
    for (claim, says) in [
        ("?claim=3", "reports 3 records at `meta.total` but sent 2"),
        ("?claim=many", "`\"many\"` at `meta.total`"),
        ("", "nothing at `meta.total`"),
    ] {
        let read = read(claim).await;
        assert_eq!(
            read.records.len(),
            2,
            "the records themselves are still read"
        );
        assert_eq!(read.issues.len(), 1, "{claim}: {:?}", read.issues);
        let issue = &read.issues[0];
        assert_eq!(issue.code, FindingCode::SourceTotalMismatch);
        assert!(issue.skipped_person && issue.hints.is_empty(), "{issue:?}");
        assert!(issue.message.contains(says), "{claim}: {}", issue.message);
    }
}

/// A reply over `max_reply_bytes` fails the read at once (it would be as large on a retry),
/// whether it announces its length or streams; the error names the page without the API key
/// the query carries, and the limit.
#[tokio::test]
async fn a_reply_over_max_reply_bytes_fails_the_read() {
    let api = Arc::new(Api::default());
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let read = |query: &str, limit: u64| {
        let s = source(
            dir.path(),
            &format!(
                "url = \"{base}/v1/big?tenant=acme-internal&records=2000{query}\"\nrecords = \"data.items\"\n\
                 max_reply_bytes = {limit}\n[sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\n"
            ),
        );
        async move { read_http(&s, &SystemClock).await }
    };
    let whole = read("", 10_000_000).await.unwrap();
    assert_eq!(whole.records.len(), 2000);
    for (query, says) in [
        ("", "it announces"),
        ("&stream=1", "it went on past 100000 bytes"),
    ] {
        let before = api.hits.load(Ordering::SeqCst);
        let err = read(query, 100_000).await.unwrap_err().to_string();
        assert!(
            err.contains("larger than max_reply_bytes = 100000") && err.contains(says),
            "{query}: {err}"
        );
        assert!(
            err.contains("/v1/big?tenant=***&records=***"),
            "the page is named, its query values are not: {err}"
        );
        assert!(!err.contains("acme-internal"), "{err}");
        assert_eq!(api.hits.load(Ordering::SeqCst), before + 1, "not retried");
    }
}

#[tokio::test]
async fn a_next_link_back_to_a_page_already_read_fails_the_read() {
    let api = Arc::new(Api::default());
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(
        dir.path(),
        &format!(
            "url = \"{base}/v1/loop\"\nrecords = \"data.items\"\nnext = \"links.next\"\nmax_pages = 50\n\
             [sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\n"
        ),
    );
    let err = read_http(&s, &SystemClock).await.unwrap_err().to_string();
    assert!(err.contains("links back to a page already read"), "{err}");
    assert_eq!(api.hits.load(Ordering::SeqCst), 1);
}

/// An API that reports 3 records but links page after page: the read stops one page past the
/// count, with an error, instead of reading on to `max_pages`.
#[tokio::test]
async fn paging_past_the_reported_total_fails_the_read() {
    let api = Arc::new(Api::default());
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(
        dir.path(),
        &format!(
            "url = \"{base}/v1/endless\"\nrecords = \"data.items\"\nnext = \"links.next\"\ntotal = \"meta.total\"\n\
             max_pages = 50\n[sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\n"
        ),
    );
    let err = read_http(&s, &SystemClock).await.unwrap_err().to_string();
    assert!(
        err.contains("reports 3 records at `meta.total`, but after 4 records in 4 pages"),
        "{err}"
    );
    assert!(err.contains("/v1/endless?cursor=***"), "{err}");
    assert_eq!(api.hits.load(Ordering::SeqCst), 4);
}

#[test]
fn max_reply_bytes_has_a_default_and_belongs_to_hr_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = source(dir.path(), "url = \"https://hr.example/v1/people\"\n");
    assert_eq!(s.max_reply_bytes, 64 * 1024 * 1024);
    let text = "[target]\nkind = \"notion\"\ntoken_file = \"scim\"\n\n[[sources]]\nname = \"hr\"\nkind = \"hr-csv\"\n\
                path = \"hr.csv\"\nmax_reply_bytes = 10\n";
    let err = config::parse(text, &dir.path().join("idbridge.toml"), dir.path()).unwrap_err();
    assert!(err.to_string().contains("max_reply_bytes"), "{err}");
}

/// Through the binary: an HR API whose reply is over `max_reply_bytes` is a source that
/// misbehaves, exit 3, and the run writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_hr_api_reply_over_its_limit_stops_the_run_with_exit_3() {
    let base = serve(Arc::new(Api::default())).await;
    let ws = Workspace::new().await;
    ws.hr(&[]);
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    let api = format!(
        "kind = \"hr-http\"\nurl = \"{base}/v1/big?tenant=acme-internal&records=2000\"\nrecords = \"data.items\"\n\
         max_reply_bytes = 100000\n[sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\n"
    );
    let config = config.replace("kind = \"hr-csv\"\npath = \"hr.csv\"\n", &api);
    std::fs::write(ws.path("idbridge.toml"), config).unwrap();
    for args in [&["plan"][..], &["sync", "--yes"][..]] {
        let run = ws.idbridge(args).await.expect(3);
        assert!(
            run.stderr.contains("HR API source `hr`")
                && run.stderr.contains("/v1/big?tenant=***&records=***")
                && run.stderr.contains("larger than max_reply_bytes = 100000")
                && !run.stderr.contains("acme-internal"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(ws.emu.write_count(), 0);
    assert_eq!(ws.active_names(), [OWNER]);
}

/// Offset paging over a list that changed mid-read: page 2 repeats person 5, person 8 is never
/// sent, and the count still adds up to the reported 7. The repeat is an issue that names
/// nobody (with page numbers or next links, with or without `total`), and `total` is compared
/// with the 6 distinct records.
#[tokio::test]
async fn a_record_on_two_pages_is_an_issue_that_names_nobody() {
    let api = Arc::new(Api::default());
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let read = |paging: &str, total: &str| {
        let query = if paging.starts_with("next") {
            "?links=1"
        } else {
            ""
        };
        let s = source(
            dir.path(),
            &format!(
                "url = \"{base}/v1/shifted{query}\"\nrecords = \"data.items\"\n{paging}\n{total}\n\
                 [sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\n"
            ),
        );
        async move { read_http(&s, &SystemClock).await.unwrap() }
    };
    let page_param = "page_param = \"page\"";
    let next = "next = \"links.next\"";
    let total = "total = \"meta.total\"";
    let steady = read(page_param, total).await;
    assert!(steady.issues.is_empty(), "{:?}", steady.issues);
    assert_eq!(steady.records.len(), 7);

    api.shifted.store(true, Ordering::SeqCst);
    let read_ = read(page_param, total).await;
    let codes: Vec<&str> = read_.issues.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "source-row-invalid",
            "source-row-invalid",
            "source-paging-overlap",
            "source-total-mismatch"
        ],
        "{:?}",
        read_.issues
    );
    let overlap = &read_.issues[2];
    assert!(
        overlap.skipped_person && overlap.hints.is_empty(),
        "{overlap:?}"
    );
    assert_eq!(overlap.location, "/v1/shifted pages 1, 2");
    assert!(
        overlap.message.contains("(id `id`: `5` on pages 1 and 2)")
            && overlap
                .message
                .contains("nobody is deactivated for being absent"),
        "{}",
        overlap.message
    );
    let mismatch = &read_.issues[3];
    assert!(
        mismatch
            .message
            .contains("reports 7 records at `meta.total` but sent 6 distinct ones (7 in all: 1 came again on a later page)"),
        "{}",
        mismatch.message
    );
    // Next links shift the same way; without `total` the repeat alone holds.
    let linked = read(next, "").await;
    let codes: Vec<&str> = linked.issues.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "source-row-invalid",
            "source-row-invalid",
            "source-paging-overlap"
        ],
        "{:?}",
        linked.issues
    );
    assert!(linked.issues[2].hints.is_empty());
    assert_eq!(linked.issues[2].location, "/v1/shifted pages 1, 2");
}

/// Through the binary, the reported case: person 8, linked and still in HR, is not sent because
/// the paging shifted. Before, the count matched, person 5 was a duplicate, and person 8 was
/// deactivated with exit 0. Now every absence-based deactivation is held: an error, exit 1,
/// naming the pages, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn an_hr_api_paging_shift_deactivates_nobody() {
    let api = Arc::new(Api::default());
    let base = serve(api.clone()).await;
    let mut ws = Workspace::new().await;
    ws.tail = "[policy]\nmax_deactivations = 100\n".into();
    ws.hr(&[]);
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    let source = format!(
        "kind = \"hr-http\"\nurl = \"{base}/v1/shifted\"\nrecords = \"data.items\"\npage_param = \"page\"\n\
         total = \"meta.total\"\n[sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\nstatus = \"status\"\n\
         [sources.status_map]\nactive = \"active\"\ninactive = \"inactive\"\n"
    );
    let config = config.replace("kind = \"hr-csv\"\npath = \"hr.csv\"\n", &source);
    std::fs::write(ws.path("idbridge.toml"), config).unwrap();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names().len(), 8, "{:?}", ws.active_names());
    let writes = ws.emu.write_count();

    api.shifted.store(true, Ordering::SeqCst);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert_eq!(plan["operations"], json!([]), "{plan:#}");
    let held = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "deactivations-held")
        .expect("deactivations-held");
    assert_eq!(held["severity"], "error");
    assert_eq!(
        held["sources"],
        json!(["hr: /v1/shifted pages 1, 2", "hr: /v1/shifted total"])
    );
    let message = held["message"].as_str().unwrap();
    assert!(
        message.contains("1 people are missing")
            && message.contains("sent a record on two pages")
            && !message.contains("rows"),
        "{message}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(ws.emu.write_count(), writes, "nothing was written");
    assert!(ws.active_names().contains(&"p8@acme.test".to_owned()));
}

/// A source on `/v1/busy` with `query`.
fn busy_source(dir: &std::path::Path, base: &str, query: &str) -> Box<config::HrHttpSettings> {
    source(
        dir,
        &format!(
            "url = \"{base}/v1/busy?{query}\"\nrecords = \"data.items\"\n[sources.columns]\nemployee_id = \"id\"\nemail = \"workEmail\"\n"
        ),
    )
}

/// The clock of the Retry-After date tests.
fn at(hour: u32) -> idbridge::clock::FixedClock {
    use chrono::TimeZone;
    idbridge::clock::FixedClock::new(
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 1, hour, 0, 0)
            .unwrap(),
    )
}

/// The HR API asks to wait an hour: the read fails at once, saying so, instead of retrying into
/// the same refusal (the reader had fixed sleeps and no `Retry-After`).
#[tokio::test]
async fn issue_9_a_retry_after_longer_than_the_cap_fails_the_read_at_once() {
    let api = Arc::new(Api::default());
    api.busy.store(100, Ordering::SeqCst);
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = busy_source(dir.path(), &base, "after=3600");
    let err = read_http(&s, &SystemClock).await.unwrap_err().to_string();
    assert!(
        err.contains("busy (HTTP 429) and asked to wait 3600s (Retry-After), longer than idbridge waits (120s)"),
        "{err}"
    );
    assert_eq!(api.hits.load(Ordering::SeqCst), 1, "no retry");
}

/// An HTTP-date `Retry-After` is read at the injected clock: an hour ahead is too long; in the
/// past it means "now", and the read goes on. A 503 is throttling too.
#[tokio::test]
async fn issue_9_a_retry_after_date_is_read_at_the_injected_clock() {
    let api = Arc::new(Api::default());
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = busy_source(
        dir.path(),
        &base,
        "status=503&after=Sun,%2001%20Mar%202026%2013:00:00%20GMT",
    );
    api.busy.store(1, Ordering::SeqCst);
    let err = read_http(&s, &at(12)).await.unwrap_err().to_string();
    assert!(err.contains("asked to wait 3600s"), "{err}");
    assert_eq!(api.hits.load(Ordering::SeqCst), 1);
    api.busy.store(2, Ordering::SeqCst);
    let read = read_http(&s, &at(14)).await.unwrap();
    assert_eq!(read.records.len(), 2);
    assert_eq!(
        api.hits.load(Ordering::SeqCst),
        1 + 3,
        "two busy replies, then the page"
    );
}
