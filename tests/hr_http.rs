//! The HR API source against a local HTTP server: next-link and page-number paging, a 500 in the
//! middle (retried), a page that keeps failing (the whole read fails, nothing partial), basic and
//! bearer auth, and BambooHR's report shape.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use idbridge::config::{self, SourceSettings};
use idbridge::connectors::hr::read_http;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Api {
    hits: AtomicUsize,
    /// Fail this many requests for page 2 with a 500.
    page2_failures: AtomicUsize,
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

async fn serve(api: Arc<Api>) -> String {
    let app = Router::new()
        .route("/v1/counted", get(counted))
        .route("/v1/people", get(paged))
        .route("/v1/pages", get(paged))
        .route("/reports/custom", get(bamboo))
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
    let read = read_http(&s).await.unwrap();
    assert!(read.issues.is_empty(), "{:?}", read.issues);
    let ids: Vec<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    assert_eq!(read.records[0].attrs["title"], "Engineer");
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
    let err = read_http(&s).await.unwrap_err().to_string();
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
    let read = read_http(&s).await.unwrap();
    assert_eq!(read.records.len(), 4);
    assert_eq!(
        api.hits.load(Ordering::SeqCst),
        3,
        "pages 1, 2 and the empty page 3"
    );
}

#[tokio::test]
async fn bamboohr_preset_reads_a_custom_report() {
    let base = serve(Arc::new(Api::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(
        dir.path(),
        &format!(
            "url = \"{base}/reports/custom\"\npreset = \"bamboohr\"\ntoken_file = \"bamboo\"\n"
        ),
    );
    let read = read_http(&s).await.unwrap();
    assert_eq!(read.records.len(), 2);
    assert_eq!(read.records[0].attrs["email"], "p1@acme.test");
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
            "url = \"{base}/reports/custom\"\npreset = \"bamboohr\"\ntoken_file = \"bad-key\"\n"
        ),
    );
    let err = read_http(&s).await.unwrap_err().to_string();
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
        async move { read_http(&s).await.unwrap() }
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
        assert_eq!(issue.code, "source-total-mismatch");
        assert!(issue.skipped_person && issue.hints.is_empty(), "{issue:?}");
        assert!(issue.message.contains(says), "{claim}: {}", issue.message);
    }
}
