//! The `bamboohr` preset against a local emulation of BambooHR's two report endpoints (under
//! `/api/gateway.php/{company}/v1/`): with no report id in the URL, one `POST
//! …/reports/custom?format=JSON` whose body lists exactly the fields the row rules read, and a
//! reply in BambooHR's shape (`fields` and `employees`, ids as strings, `0000-00-00` for no
//! date, `Active`/`Inactive`); with a report id, the saved report by `GET`. A reply without a
//! field asked for, and a refused request, fail the read with the HTTP status, the URL without
//! secrets and what to do.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use idbridge::clock::SystemClock;
use idbridge::config::{self, SourceSettings};
use idbridge::connectors::hr::read_http;
use idbridge::model::StatusKind;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The API key; a canary that must never be in an error.
const KEY: &str = "bamboo-canary-key-31d7";

/// What the emulation received: (method, path, query `format`, JSON body).
type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Value)>>>;

fn employees() -> Value {
    json!([
        // Ids as strings, as BambooHR sends them; no termination: `0000-00-00`.
        { "id": "101", "workEmail": "ada@acme.test", "firstName": "Ada", "lastName": "Lovelace",
          "jobTitle": "Engineer", "department": "R&D", "supervisorEmail": null,
          "status": "Active", "hireDate": "2020-01-06", "terminationDate": "0000-00-00" },
        // Terminated with a date, still `Active` until then (a leaver whose last day is set).
        { "id": "102", "workEmail": "bob@acme.test", "firstName": "Bob", "lastName": "Byte",
          "jobTitle": "Designer", "department": "Design", "supervisorEmail": "ada@acme.test",
          "status": "Active", "hireDate": "2021-03-01", "terminationDate": "2026-12-31" },
        // Gone: `Inactive`, with the date they left.
        { "id": "103", "workEmail": "cy@acme.test", "firstName": "Cy", "lastName": "Cache",
          "jobTitle": "Analyst", "department": "Finance", "supervisorEmail": "ada@acme.test",
          "status": "Inactive", "hireDate": "2019-05-01", "terminationDate": "2025-08-15" },
    ])
}

/// `fields` of a reply, as BambooHR lists what the report holds.
fn fields_of(names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| json!({ "id": n, "type": "text", "name": n }))
        .collect()
}

async fn report(
    State(seen): State<Seen>,
    method: Method,
    Path((company, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push((
        method.to_string(),
        format!("/api/gateway.php/{company}/v1/reports/{id}"),
        q.get("format").cloned(),
        body.clone(),
    ));
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:x"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if company != "acme" {
        return StatusCode::NOT_FOUND.into_response();
    }
    match (method, id.as_str()) {
        (Method::POST, "custom") => {
            let asked: Vec<String> = body["fields"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if asked.iter().any(|f| f == "unknownField") {
                return (StatusCode::BAD_REQUEST, "Invalid field").into_response();
            }
            // BambooHR leaves out what the key's user may not see: `hidden*` fields here.
            let kept: Vec<&str> = asked
                .iter()
                .map(String::as_str)
                .filter(|f| !f.starts_with("hidden"))
                .collect();
            let mut people = employees();
            for person in people.as_array_mut().unwrap() {
                let object = person.as_object_mut().unwrap();
                object.retain(|k, _| k == "id" || kept.contains(&k.as_str()));
            }
            Json(json!({ "title": body["title"], "fields": fields_of(&kept), "employees": people }))
                .into_response()
        }
        (Method::GET, "42") => Json(json!({
            "title": "IT provisioning",
            "fields": fields_of(&["id", "workEmail", "firstName", "lastName", "status",
                                  "hireDate", "terminationDate"]),
            "employees": employees(),
        }))
        .into_response(),
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn emulation() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/api/gateway.php/{company}/v1/reports/{id}",
            get(report).post(report),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/api/gateway.php"), seen)
}

fn source(dir: &std::path::Path, body: &str) -> Box<config::HrHttpSettings> {
    std::fs::write(dir.join("bamboo"), format!("{KEY}\n")).unwrap();
    std::fs::write(dir.join("scim"), "scim\n").unwrap();
    let text = format!(
        "[target]\nkind = \"notion\"\ntoken_file = \"scim\"\n\n[[sources]]\nname = \"hr\"\n\
         kind = \"hr-http\"\npreset = \"bamboohr\"\ntoken_file = \"bamboo\"\n{body}\n"
    );
    let settings = config::parse(&text, &dir.join("idbridge.toml"), dir).unwrap();
    match settings.sources.into_iter().next().unwrap() {
        SourceSettings::HrHttp(s) => s,
        other => panic!("not hr-http: {other:?}"),
    }
}

fn day(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

#[tokio::test]
async fn without_a_report_id_the_preset_posts_a_custom_report_of_exactly_the_fields_read() {
    let (base, seen) = emulation().await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(dir.path(), &format!("url = \"{base}/acme/v1\"\n"));
    let read = read_http(&s, &SystemClock).await.unwrap();

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "one request: {requests:?}");
    let (method, path, format, body) = &requests[0];
    assert_eq!(method, "POST");
    assert_eq!(path, "/api/gateway.php/acme/v1/reports/custom");
    assert_eq!(format.as_deref(), Some("JSON"));
    assert_eq!(
        body["fields"],
        json!([
            "id",
            "workEmail",
            "firstName",
            "lastName",
            "jobTitle",
            "department",
            "supervisorEmail",
            "status",
            "hireDate",
            "terminationDate"
        ]),
        "exactly the fields the mapping and the lifecycle rules read"
    );

    assert!(read.issues.is_empty(), "{:?}", read.issues);
    let ids: Vec<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids, ["101", "102", "103"], "ids as BambooHR's strings");
    let ada = &read.records[0];
    assert_eq!(&ada.attrs["title"], "Engineer");
    let job = ada.employment.as_ref().unwrap();
    assert_eq!(job.kind, StatusKind::Active);
    assert_eq!(job.start, day(2020, 1, 6));
    assert_eq!(job.end, None, "0000-00-00 is no date");
    assert!(
        !ada.attrs.contains_key("manager"),
        "a null supervisor is none"
    );
    let bob = read.records[1].employment.as_ref().unwrap();
    assert_eq!(
        (bob.kind, bob.end),
        (StatusKind::Active, day(2026, 12, 31)),
        "a termination date ahead: still active, leaving on that day"
    );
    assert_eq!(&read.records[1].attrs["manager"], "ada@acme.test");
    let cy = read.records[2].employment.as_ref().unwrap();
    assert_eq!(cy.status.as_deref(), Some("Inactive"));
    assert_eq!((cy.kind, cy.end), (StatusKind::Inactive, day(2025, 8, 15)));
}

#[tokio::test]
async fn columns_set_by_hand_change_the_fields_asked_for() {
    let (base, seen) = emulation().await;
    let dir = tempfile::tempdir().unwrap();
    // The same field for two roles is asked for once; `…/reports/custom` works as the root does.
    let s = source(
        dir.path(),
        &format!(
            "url = \"{base}/acme/v1/reports/custom\"\n[sources.columns]\nemail = \"workEmail\"\n\
             title = \"department\"\nmanager_email = \"workEmail\"\n"
        ),
    );
    read_http(&s, &SystemClock).await.unwrap();
    let requests = seen.lock().unwrap().clone();
    let (_, _, format, body) = &requests[0];
    assert_eq!(format.as_deref(), Some("JSON"));
    assert_eq!(
        body["fields"],
        json!([
            "id",
            "workEmail",
            "firstName",
            "lastName",
            "department",
            "status",
            "hireDate",
            "terminationDate"
        ])
    );
}

#[tokio::test]
async fn with_a_report_id_the_saved_report_is_read_by_get() {
    let (base, seen) = emulation().await;
    let dir = tempfile::tempdir().unwrap();
    let s = source(
        dir.path(),
        &format!("url = \"{base}/acme/v1/reports/42?format=JSON\"\n"),
    );
    let read = read_http(&s, &SystemClock).await.unwrap();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, "GET");
    assert_eq!(requests[0].3, Value::Null, "no body");
    assert_eq!(read.records.len(), 3);
    assert_eq!(
        read.records[2].employment.as_ref().unwrap().kind,
        StatusKind::Inactive
    );
}

#[tokio::test]
async fn a_field_that_does_not_come_back_or_is_refused_fails_the_read_and_says_what_to_do() {
    let (base, _) = emulation().await;
    let dir = tempfile::tempdir().unwrap();
    // The key's user may not see the termination date: leavers would look like they stay.
    let s = source(
        dir.path(),
        &format!(
            "url = \"{base}/acme/v1\"\n[sources.columns]\ntermination_date = \"hiddenTermination\"\n"
        ),
    );
    let err = read_http(&s, &SystemClock).await.unwrap_err().to_string();
    assert!(
        err.contains("without the field(s) `hiddenTermination`")
            && err.contains("nothing from this source is used this run")
            && err.contains("/api/gateway.php/acme/v1/reports/custom?format=***"),
        "{err}"
    );
    assert!(!err.contains(KEY), "{err}");

    let s = source(
        dir.path(),
        &format!("url = \"{base}/acme/v1\"\n[sources.columns]\ntitle = \"unknownField\"\n"),
    );
    let err = read_http(&s, &SystemClock).await.unwrap_err().to_string();
    assert!(
        err.contains("HTTP 400") && err.contains("is a BambooHR field"),
        "{err}"
    );

    let s = source(dir.path(), &format!("url = \"{base}/globex/v1\"\n"));
    let err = read_http(&s, &SystemClock).await.unwrap_err().to_string();
    assert!(
        err.contains("HTTP 404") && err.contains("company domain"),
        "{err}"
    );
    assert!(!err.contains(KEY), "{err}");
}

#[test]
fn the_custom_report_comes_in_one_reply_as_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scim"), "scim\n").unwrap();
    for (extra, says) in [
        ("next = \"links.next\"\n", "remove the paging keys"),
        ("page_param = \"page\"\n", "remove the paging keys"),
    ] {
        let text = format!(
            "[target]\nkind = \"notion\"\ntoken_file = \"scim\"\n\n[[sources]]\nname = \"hr\"\n\
             kind = \"hr-http\"\npreset = \"bamboohr\"\nurl = \"https://api.bamboohr.com/api/gateway.php/acme/v1\"\n{extra}"
        );
        let err = config::parse(&text, &dir.path().join("idbridge.toml"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{err}");
    }
    let text = "[target]\nkind = \"notion\"\ntoken_file = \"scim\"\n\n[[sources]]\nname = \"hr\"\n\
                kind = \"hr-http\"\npreset = \"bamboohr\"\n\
                url = \"https://api.bamboohr.com/api/gateway.php/acme/v1/reports/custom?format=CSV\"\n";
    let err = config::parse(text, &dir.path().join("idbridge.toml"), dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("format=CSV") && err.contains(":9:"), "{err}");
}
