//! Alerts of `idbridge serve`, through the binary, against local receivers (a small axum server
//! in the test standing in for Slack or a program): one alert per condition over many runs, one
//! recovery when it clears, no second alert after a restart (the state is in the store), the
//! Slack and generic bodies, a webhook URL that never shows in the logs, and a webhook that is
//! down never failing the sync (its alert goes out once it answers).

use crate::serve::{scrape, serve_table, succeeded_runs, value, Serve};
use crate::support::{row, Workspace, NO_GRACE, OWNER, TOKEN};
use idbridge::store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The secret part of the webhook URL: it must never show in a log or an output.
pub(crate) const HOOK_PATH: &str = "/services/T0CANARY/B0CANARY/hook-secret-9d2e41";

/// Poll an async probe (boundedly, 45 s).
macro_rules! until {
    ($what:expr, $probe:expr) => {{
        let mut found = None;
        for _ in 0..900 {
            if let Some(v) = $probe {
                found = Some(v);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found.unwrap_or_else(|| panic!("gave up waiting for {}", $what))
    }};
}

/// A local webhook receiver: records every JSON body POSTed to it.
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<serde_json::Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        let app = axum::Router::new().fallback(move |body: axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body.0);
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{HOOK_PATH}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, got, task }
    }

    pub(crate) fn bodies(&self) -> Vec<serde_json::Value> {
        self.got.lock().unwrap().clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `[alerts]` with the webhook URL in the file `hook` (0600).
fn alerts_table(ws: &Workspace, url: &str, extra: &str) -> String {
    write_hook(ws, url);
    format!("[alerts]\nwebhook_url_file = \"hook\"\n{extra}")
}

pub(crate) fn write_hook(ws: &Workspace, url: &str) {
    let path = ws.path("hook");
    std::fs::write(&path, format!("{url}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

pub(crate) async fn runs(serve: &Serve, result: &str) -> f64 {
    value(
        &scrape(serve).await,
        "idbridge_runs_total",
        &[("result", result)],
    )
    .unwrap_or(0.0)
}

pub(crate) fn assert_no_hook(text: &str, receiver_url: &str) {
    assert!(!text.contains("hook-secret-9d2e41"), "{text}");
    assert!(!text.contains(receiver_url), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_alerts_once_survives_a_restart_and_recovers_once() {
    let receiver = Receiver::start().await;
    let mut ws = Workspace::new().await;
    ws.tail = format!(
        "{}\n{}",
        serve_table(&ws, "every = \"1s\""),
        alerts_table(&ws, &receiver.url, "")
    );
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    until!("a succeeded run", {
        (succeeded_runs(&serve).await >= 1.0).then_some(())
    });
    assert_eq!(receiver.count(), 0, "nothing to say while all is well");

    ws.emu.revoke_token(TOKEN);
    until!("the token alert", { (receiver.count() >= 1).then_some(()) });
    let errors = runs(&serve, "error").await;
    until!("three more failed runs", {
        (runs(&serve, "error").await >= errors + 3.0).then_some(())
    });
    assert_eq!(
        receiver.count(),
        1,
        "one alert, not one per run: {:?}",
        receiver.bodies()
    );
    let text = receiver.bodies()[0]["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("CRITICAL") && text.contains("token-revoked"),
        "{text}"
    );
    assert!(text.contains("target test"), "{text}");
    assert_eq!(receiver.bodies()[0].as_object().unwrap().len(), 1);
    let (code, first_log) = serve.terminate().await;
    assert_eq!(code, 0, "{first_log}");

    // A restart reads the state from the store: still revoked, and no second alert.
    let serve = Serve::start(&ws, "idbridge.toml", "serve2").await;
    until!("two failed runs after the restart", {
        (runs(&serve, "error").await >= 2.0).then_some(())
    });
    assert_eq!(receiver.count(), 1, "{:?}", receiver.bodies());

    // A working token in the same file: one recovery.
    let fresh = "canary-token-alerts-6b1f";
    ws.emu.add_token(fresh, OWNER);
    std::fs::write(ws.path("token"), format!("{fresh}\n")).unwrap();
    until!("the recovery", { (receiver.count() >= 2).then_some(()) });
    let ok = succeeded_runs(&serve).await;
    until!("two more succeeded runs", {
        (succeeded_runs(&serve).await >= ok + 2.0).then_some(())
    });
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2, "one alert and one recovery: {bodies:?}");
    let text = bodies[1]["text"].as_str().unwrap();
    assert!(
        text.contains("RESOLVED") && text.contains("token-revoked"),
        "{text}"
    );
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert_no_hook(&first_log, &receiver.url);
    assert_no_hook(&log, &receiver.url);
    assert!(!log.contains(TOKEN) && !log.contains(fresh), "{log}");

    let store = Store::open(&ws.store_url).await.unwrap();
    let states = store.alert_states("test").await.unwrap();
    let token = states
        .iter()
        .find(|s| s.condition == "token-revoked")
        .unwrap();
    assert!(
        token.raised_sent_at.is_some() && token.cleared_sent_at.is_some(),
        "{token:?}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_plan_alerts_once_in_the_generic_body_and_recovers_when_the_plan_passes() {
    let receiver = Receiver::start().await;
    let mut ws = Workspace::new().await;
    let people: Vec<String> = (1..=10)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    let rows: Vec<&str> = people.iter().map(String::as_str).collect();
    ws.hr(&rows);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    // Three of ten leave (30% > the default 10%): every run's plan is held.
    ws.tail = format!(
        "[policy]\n{NO_GRACE}\n{}\n{}",
        serve_table(&ws, "every = \"1s\""),
        alerts_table(&ws, &receiver.url, "format = \"generic\"\n")
    );
    ws.hr(&rows[3..]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    until!("the held-plan alert", {
        (receiver.count() >= 1).then_some(())
    });
    let refused = runs(&serve, "refused").await;
    until!("three more held runs", {
        (runs(&serve, "refused").await >= refused + 3.0).then_some(())
    });
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let alert = &bodies[0];
    let mut keys: Vec<&str> = alert
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cleared",
            "condition",
            "message",
            "runId",
            "severity",
            "since",
            "target"
        ]
    );
    assert_eq!(alert["condition"], "plan-held");
    assert_eq!(alert["severity"], "warning");
    assert_eq!(alert["target"], "test");
    assert!(alert["runId"].as_i64().is_some(), "{alert}");
    assert!(alert["cleared"].is_null(), "{alert}");
    let since = alert["since"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(since).is_ok(),
        "{alert}"
    );
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("policy.max_deactivations"),
        "{alert}"
    );

    // Everyone is back: the plan passes, one recovery.
    ws.hr(&rows);
    until!("the recovery", { (receiver.count() >= 2).then_some(()) });
    let ok = succeeded_runs(&serve).await;
    until!("two more succeeded runs", {
        (succeeded_runs(&serve).await >= ok + 2.0).then_some(())
    });
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let recovery = &bodies[1];
    assert_eq!(recovery["condition"], "plan-held");
    assert_eq!(recovery["since"], alert["since"]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(recovery["cleared"].as_str().unwrap()).is_ok(),
        "{recovery}"
    );
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert_no_hook(&log, &receiver.url);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_webhook_never_fails_the_sync_and_a_rotated_url_gets_the_alert() {
    let mut ws = Workspace::new().await;
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml");
    std::fs::copy(
        format!("{fixtures}/metadata-soon-expiring.xml"),
        ws.path("idp.xml"),
    )
    .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}{HOOK_PATH}", closed.local_addr().unwrap());
    drop(closed);
    // The certificate ends 2030-01-15: within 3650 days of any day these tests run before 2030.
    ws.tail = format!(
        "{}\n[saml]\nmetadata = \"idp.xml\"\n\n{}",
        serve_table(&ws, "every = \"1s\""),
        alerts_table(&ws, &dead_url, "warn_days = 3650\ntimeout = \"2s\"\n")
    );
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    until!("three succeeded runs with the webhook down", {
        (succeeded_runs(&serve).await >= 3.0).then_some(())
    });
    assert_eq!(runs(&serve, "error").await, 0.0, "{}", serve.log());
    assert!(
        serve.log().contains("alert not delivered"),
        "{}",
        serve.log()
    );

    // The URL in the same file is replaced: the pending alert goes out, once.
    let receiver = Receiver::start().await;
    write_hook(&ws, &receiver.url);
    until!("the certificate alert", {
        (receiver.count() >= 1).then_some(())
    });
    let ok = succeeded_runs(&serve).await;
    until!("two more succeeded runs", {
        (succeeded_runs(&serve).await >= ok + 2.0).then_some(())
    });
    assert_eq!(receiver.count(), 1, "{:?}", receiver.bodies());
    let text = receiver.bodies()[0]["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("idp-cert-expiring") && text.contains("2030-01-15"),
        "{text}"
    );

    // A renewed certificate in the metadata: one recovery.
    std::fs::copy(format!("{fixtures}/okta.xml"), ws.path("idp.xml")).unwrap();
    until!("the recovery", { (receiver.count() >= 2).then_some(()) });
    let text = receiver.bodies()[1]["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("RESOLVED") && text.contains("idp-cert-expiring"),
        "{text}"
    );
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert_no_hook(&log, &receiver.url);
    assert_no_hook(&log, &dead_url);
}
