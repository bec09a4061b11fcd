//! The Notion database alert sink of `idbridge serve`, through the binary, against the emulation
//! of Notion's public API: one page per alert episode, no new page while the condition holds,
//! the same page updated when it clears, the webhook getting the same alerts when both sinks are
//! set, a database not shared with the integration logged clearly without failing the run and
//! the page made once it is shared, `check-config` naming a missing property, and the
//! integration token never in a log.

use crate::alerts::{assert_no_hook, runs, write_hook, Receiver};
use crate::serve::{serve_table, succeeded_runs, Serve};
use crate::support::{row, Workspace, NO_GRACE};
use idbridge::clock::SystemClock;
use idbridge::emulator::notion_api::{alerts_schema, NotionApi, PageView};
use idbridge::emulator::Running;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The integration token; a canary that must never be printed.
const NOTION_TOKEN: &str = "ntn_canary_alerts_7c3e9b1d05";

/// Poll an async probe (boundedly, 45 s).
async fn until<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..900 {
        if probe().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

/// The Notion API emulation with one alerts database shared with the integration.
struct Notion {
    api: NotionApi,
    running: Running,
    db: String,
}

async fn notion(schema: &[(&str, &str)]) -> Notion {
    let api = NotionApi::new(Arc::new(SystemClock));
    api.add_token(NOTION_TOKEN);
    let db = api.add_database("idbridge alerts", schema);
    let running = api.clone().spawn().await.expect("the Notion API starts");
    Notion { api, running, db }
}

/// `[notion]` with the token in a file (0600), and `[alerts]` writing into the database, with
/// `extra` keys (a webhook, warn_days, …).
fn tables(ws: &Workspace, n: &Notion, extra: &str) -> String {
    let path = ws.path("notion-token");
    std::fs::write(&path, format!("{NOTION_TOKEN}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    format!(
        "[alerts]\nnotion_database = \"{}\"\n{extra}\n[notion]\nurl = \"{}\"\n\
         token_file = \"notion-token\"\nrate_limit = 0\n",
        n.db.replace('-', ""),
        n.running.root_url()
    )
}

/// A property's inner value (`select`, `date`, `number`, … as the API returns it).
fn prop<'a>(page: &'a PageView, name: &str) -> &'a Value {
    let p = &page.properties[name];
    &p[p["type"].as_str().unwrap()]
}

fn select(page: &PageView, name: &str) -> String {
    prop(page, name)["name"].as_str().unwrap_or("").to_owned()
}

fn requests(n: &Notion, method: &str, path: &str) -> usize {
    n.api
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.starts_with(path) && r.status < 300)
        .count()
}

fn no_token(log: &str) {
    for form in crate::support::secret_forms(NOTION_TOKEN) {
        assert!(!log.contains(&form), "the token leaked as {form:?}\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_plan_is_one_page_updated_in_place_when_it_clears_and_the_webhook_gets_it_too() {
    let n = notion(&alerts_schema()).await;
    let receiver = Receiver::start().await;
    let mut ws = Workspace::new().await;
    let people: Vec<String> = (1..=10)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    let rows: Vec<&str> = people.iter().map(String::as_str).collect();
    ws.hr(&rows);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    write_hook(&ws, &receiver.url);
    // Leavers go at once (no absence grace), so the guardrail holds every run's plan.
    ws.tail = format!(
        "[policy]\n{NO_GRACE}\n{}\n{}",
        serve_table(&ws, "every = \"1s\""),
        tables(
            &ws,
            &n,
            "webhook_url_file = \"hook\"\nformat = \"generic\"\n"
        )
    );
    // Three of ten leave (30% > the default 10%): every run's plan is held.
    ws.hr(&rows[3..]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    until("the page and the webhook alert", || async {
        !n.api.pages(&n.db).is_empty() && receiver.count() >= 1
    })
    .await;
    let refused = runs(&serve, "refused").await;
    until("three more held runs", || async {
        runs(&serve, "refused").await >= refused + 3.0
    })
    .await;
    let pages = n.api.pages(&n.db);
    assert_eq!(pages.len(), 1, "one page per episode, not per run");
    assert_eq!(receiver.count(), 1, "{:?}", receiver.bodies());
    let page = &pages[0];
    let hook = &receiver.bodies()[0];
    let since = hook["since"].as_str().unwrap();
    assert_eq!(
        page.text("Alert"),
        format!("plan-held on test since {since}")
    );
    assert_eq!(select(page, "Condition"), "plan-held");
    assert_eq!(select(page, "Severity"), "warning");
    assert_eq!(select(page, "Status"), "open");
    assert_eq!(page.text("Target"), "test");
    assert_eq!(prop(page, "Run").as_i64(), hook["runId"].as_i64());
    assert!(
        page.text("Message").contains("policy.max_deactivations"),
        "{page:?}"
    );
    let started =
        chrono::DateTime::parse_from_rfc3339(prop(page, "Since")["start"].as_str().unwrap());
    assert_eq!(
        started.unwrap(),
        chrono::DateTime::parse_from_rfc3339(since).unwrap()
    );
    assert!(prop(page, "Cleared").is_null(), "{page:?}");

    // Everyone is back: the plan passes, and the same page is marked cleared.
    ws.hr(&rows);
    until("the page cleared", || async {
        n.api
            .pages(&n.db)
            .first()
            .is_some_and(|p| select(p, "Status") == "cleared")
    })
    .await;
    let ok = succeeded_runs(&serve).await;
    until("two more succeeded runs", || async {
        succeeded_runs(&serve).await >= ok + 2.0
    })
    .await;
    let pages = n.api.pages(&n.db);
    assert_eq!(pages.len(), 1, "the recovery updates the page: {pages:?}");
    assert_eq!(pages[0].id, page.id);
    assert!(prop(&pages[0], "Cleared")["start"].is_string(), "{pages:?}");
    assert_eq!(requests(&n, "POST", "/v1/pages"), 1, "one create");
    assert_eq!(requests(&n, "PATCH", "/v1/pages/"), 1, "one update");
    let bodies = receiver.bodies();
    assert_eq!(
        bodies.len(),
        2,
        "the webhook's alert and recovery: {bodies:?}"
    );
    assert!(bodies[1]["cleared"].is_string(), "{bodies:?}");
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("alerts go to the Notion alert database"),
        "{log}"
    );
    no_token(&log);
    assert_no_hook(&log, &receiver.url);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_not_shared_is_logged_without_failing_runs_and_gets_its_page_once_shared() {
    let n = notion(&alerts_schema()).await;
    n.api.set_shared(&n.db, false);
    let mut ws = Workspace::new().await;
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml");
    std::fs::copy(
        format!("{fixtures}/metadata-soon-expiring.xml"),
        ws.path("idp.xml"),
    )
    .unwrap();
    // The certificate ends 2030-01-15: within 3650 days of any day these tests run before 2030.
    ws.tail = format!(
        "{}\n[saml]\nmetadata = \"idp.xml\"\n\n{}",
        serve_table(&ws, "every = \"1s\""),
        tables(&ws, &n, "warn_days = 3650\ntimeout = \"5s\"\n")
    );
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    until("three succeeded runs with the database hidden", || async {
        succeeded_runs(&serve).await >= 3.0
    })
    .await;
    assert_eq!(runs(&serve, "error").await, 0.0, "{}", serve.log());
    let log = serve.log();
    assert!(log.contains("alert not delivered"), "{log}");
    assert!(
        log.contains("has not been shared with the integration")
            && log.contains("alerts.notion_database"),
        "{log}"
    );
    assert!(n.api.pages(&n.db).is_empty());
    let store = idbridge::store::Store::open(&ws.store_url).await.unwrap();
    let recorded = store
        .runs_in(&idbridge::store::Window::default(), 100)
        .await
        .unwrap();
    assert!(recorded.len() >= 3, "every run is recorded: {recorded:?}");
    let states = store.alert_states("test").await.unwrap();
    let pending = states
        .iter()
        .find(|s| s.sink == "notion" && s.condition == "idp-cert-expiring")
        .expect("the notion sink's episode is kept");
    assert!(
        pending.raised_sent_at.is_none() && pending.attempts >= 1,
        "{pending:?}"
    );
    store.close().await;

    // Shared now: the pending alert becomes one page at the next run, and no second.
    n.api.set_shared(&n.db, true);
    until("the page", || async { !n.api.pages(&n.db).is_empty() }).await;
    let ok = succeeded_runs(&serve).await;
    until("two more succeeded runs", || async {
        succeeded_runs(&serve).await >= ok + 2.0
    })
    .await;
    let pages = n.api.pages(&n.db);
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(select(&pages[0], "Condition"), "idp-cert-expiring");
    assert!(pages[0].text("Message").contains("2030-01-15"), "{pages:?}");
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    no_token(&log);
}

#[tokio::test]
async fn check_config_names_a_missing_property_and_passes_a_fitting_database() {
    let schema: Vec<(&str, &str)> = alerts_schema()
        .into_iter()
        .filter(|(name, _)| *name != "Cleared")
        .collect();
    let n = notion(&schema).await;
    let mut ws = Workspace::new().await;
    ws.tail = tables(&ws, &n, "");
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let run = ws.idbridge(&["check-config"]).await.expect(2);
    assert!(
        run.stdout.contains(
            "the property `Cleared` is missing: add a Date or Text property named `Cleared`"
        ),
        "{}",
        run.stdout
    );
    no_token(&run.stdout);
    no_token(&run.stderr);

    let fits = notion(&alerts_schema()).await;
    ws.tail = tables(&ws, &fits, "");
    ws.write_config();
    let run = ws.idbridge(&["check-config"]).await.expect(0);
    assert!(run.stdout.contains("takes alert pages"), "{}", run.stdout);
}
