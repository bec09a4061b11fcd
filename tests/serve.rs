//! `idbridge serve` and `idbridge healthcheck` through the binary, as an admin runs them: the
//! schedule against the SCIM emulator, /metrics read by a Prometheus text parser, /readyz
//! following the store and the token, the token-protected /runs and POST /sync, SIGTERM in the
//! middle of a run, and two replicas on one PostgreSQL store with the leader killed.

use crate::run_lock::{drop_database, scratch_database};
use crate::support::{row, Run, Workspace, NO_GRACE, TOKEN};
use idbridge::emulator::{Fault, FaultKind};
use idbridge::store::{OperationStatus, RunStatus, RunTrigger, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const API_TOKEN: &str = "api-canary-0f9e8d7c6b";

/// A `[serve]` table on a free loopback port, with the API token in a file.
pub(crate) fn serve_table(ws: &Workspace, schedule: &str) -> String {
    let path = ws.path("api-token");
    std::fs::write(&path, format!("{API_TOKEN}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    format!("[serve]\nlisten = \"127.0.0.1:0\"\n{schedule}\napi_token_file = \"api-token\"\n")
}

/// A running `idbridge serve`.
pub(crate) struct Serve {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Serve {
    /// Start `serve` with `config` (a file in the workspace) and wait for its address.
    pub(crate) async fn start(ws: &Workspace, config: &str, name: &str) -> Serve {
        let ready = ws.path(&format!("{name}.addr"));
        let log = ws.path(&format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .arg("--config")
            .arg(ws.path(config))
            .args(["-v", "serve", "--ready-file"])
            .arg(&ready)
            .current_dir(ws.dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("idbridge serve starts");
        let mut serve = Serve {
            child: Some(child),
            addr: "127.0.0.1:1".parse().unwrap(),
            log,
        };
        let text = wait_for(&format!("{name} to listen"), || {
            std::fs::read_to_string(&ready)
                .ok()
                .filter(|t| t.ends_with('\n'))
        })
        .await;
        serve.addr = text.trim().parse().unwrap();
        serve
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (boundedly) for the exit code.
    pub(crate) async fn terminate(mut self) -> (i32, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut child = self.child.take().unwrap();
        let code = tokio::task::spawn_blocking(move || {
            for _ in 0..600 {
                if let Some(status) = child.try_wait().unwrap() {
                    return status.code().unwrap_or(-1);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            panic!("serve did not stop within 30 s of SIGTERM");
        })
        .await
        .unwrap();
        (code, self.log())
    }

    /// `kill -9`.
    fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Poll `probe` (boundedly) until it yields something.
async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(v) = probe() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn status(url: &str) -> u16 {
    client()
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Poll an async probe (boundedly, 30 s).
macro_rules! wait_async {
    ($what:expr, $probe:expr) => {{
        let mut found = None;
        for _ in 0..600 {
            if let Some(v) = $probe {
                found = Some(v);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found.unwrap_or_else(|| panic!("gave up waiting for {}", $what))
    }};
}

/// /metrics, parsed by a Prometheus text-format parser.
pub(crate) async fn scrape(serve: &Serve) -> prometheus_parse::Scrape {
    let response = client().get(serve.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of a counter or gauge sample (the sum of counts for a histogram's `_count`).
pub(crate) fn value(
    scrape: &prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.iter().map(|b| b.count).fold(0.0, f64::max)
            }
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

pub(crate) async fn succeeded_runs(serve: &Serve) -> f64 {
    value(
        &scrape(serve).await,
        "idbridge_runs_total",
        &[("result", "succeeded")],
    )
    .unwrap_or(0.0)
}

fn healthcheck(ws: &Workspace, args: &[&str]) -> Run {
    let mut all = vec!["healthcheck"];
    all.extend_from_slice(args);
    ws.run(&all)
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_syncs_on_its_schedule_and_reports_metrics() {
    let mut ws = Workspace::new().await;
    ws.tail = serve_table(&ws, "every = \"1s\"");
    ws.hr(&[
        &row("E1", "Ada", "Engineer", "active"),
        &row("E2", "Bob", "Designer", "active"),
    ]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    assert_eq!(status(&serve.url("/healthz")).await, 200);
    wait_async!("/readyz 200", {
        (status(&serve.url("/readyz")).await == 200).then_some(())
    });
    let ws_ref = &ws;
    wait_for("both people created", || {
        let names = ws_ref.active_names();
        (names.contains(&"ada@acme.test".to_owned()) && names.contains(&"bob@acme.test".to_owned()))
            .then_some(())
    })
    .await;
    // Several ticks: the first run creates, the later ones find nothing to do.
    wait_async!("three succeeded runs", {
        (succeeded_runs(&serve).await >= 3.0).then_some(())
    });
    let metrics = scrape(&serve).await;
    assert_eq!(
        value(
            &metrics,
            "idbridge_operations_total",
            &[("kind", "create-user"), ("result", "done")]
        ),
        Some(2.0),
        "two creates over all runs"
    );
    let latency = value(
        &metrics,
        "idbridge_scim_request_duration_seconds",
        &[("status", "2xx")],
    )
    .unwrap_or(0.0);
    assert!(
        latency >= 3.0,
        "the SCIM latency histogram counts requests: {latency}"
    );
    assert!(value(&metrics, "idbridge_scim_requests_total", &[]).unwrap_or(0.0) >= 3.0);
    assert!(value(&metrics, "idbridge_scim_throttled_total", &[]).is_some());
    assert!(value(&metrics, "idbridge_scim_retries_total", &[]).is_some());
    let last = value(&metrics, "idbridge_last_success_timestamp_seconds", &[]).unwrap();
    let now = idbridge::clock::Clock::now(&idbridge::clock::SystemClock).timestamp() as f64;
    assert!((now - last).abs() < 60.0, "last success {last}, now {now}");
    assert_eq!(value(&metrics, "idbridge_ready", &[]), Some(1.0));
    // No [saml] metadata: no certificate gauge sample.
    assert!(value(&metrics, "idbridge_idp_certificate_expiry_seconds", &[]).is_none());

    // /runs: the token, and only the token.
    let runs_url = serve.url("/runs");
    assert_eq!(status(&runs_url).await, 401);
    let wrong = client()
        .get(&runs_url)
        .bearer_auth("api-canary-0f9e8d7c6X")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    let runs: serde_json::Value = client()
        .get(&runs_url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = runs["runs"].as_array().unwrap();
    assert!(list.len() >= 3, "{runs}");
    assert!(list
        .iter()
        .all(|r| r["origin"]["trigger"] == "schedule" && r["targetName"] == "test"));
    assert_eq!(
        list.iter().filter(|r| r["journal"]["done"] == 2).count(),
        1,
        "{runs}"
    );

    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(TOKEN) && !log.contains(API_TOKEN), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn post_sync_runs_now_with_the_token_and_conflicts_while_busy() {
    let mut ws = Workspace::new().await;
    ws.target_extra.push_str("concurrency = 1\n");
    ws.tail = serve_table(&ws, "every = \"1h\"");
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    // At start, the hour's tick has no recorded run: it is caught up once.
    wait_async!("the catch-up run", {
        (succeeded_runs(&serve).await >= 1.0).then_some(())
    });
    // Probes answer from cached state: they never call the target.
    let requests = ws.emu.requests().len();
    for _ in 0..20 {
        assert_eq!(status(&serve.url("/readyz")).await, 200);
    }
    assert_eq!(
        ws.emu.requests().len(),
        requests,
        "a readiness probe called the target"
    );
    let sync_url = serve.url("/sync");
    let post = |token: Option<&str>| {
        let request = client().post(&sync_url);
        let request = match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post(None).await, 401);
    assert_eq!(post(Some("nope")).await, 401);
    // A slow run: each create stalls, so the second POST finds it going on.
    ws.hr(&[
        &row("E1", "Ada", "Engineer", "active"),
        &row("E2", "Bob", "Designer", "active"),
    ]);
    ws.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::Stall { millis: 1500 },
    });
    assert_eq!(post(Some(API_TOKEN)).await, 202);
    assert_eq!(post(Some(API_TOKEN)).await, 409);
    wait_async!("the POST /sync run", {
        (succeeded_runs(&serve).await >= 2.0).then_some(())
    });
    let runs: serde_json::Value = client()
        .get(serve.url("/runs"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = runs["runs"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{runs}");
    assert_eq!(list[0]["origin"]["trigger"], "post-sync", "{runs}");
    assert_eq!(list[0]["status"], "succeeded", "{runs}");
    assert_eq!(list[1]["origin"]["trigger"], "schedule", "{runs}");
    assert!(ws.active_names().contains(&"bob@acme.test".to_owned()));
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_api_token_runs_and_sync_are_not_there() {
    let mut ws = Workspace::new().await;
    ws.tail = "[serve]\nlisten = \"127.0.0.1:0\"\nevery = \"1h\"\n".into();
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    assert_eq!(status(&serve.url("/runs")).await, 404);
    let post = client()
        .post(serve.url("/sync"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404);
    // A body beyond the cap is refused before any handler reads it.
    let big = client()
        .post(serve.url("/sync"))
        .body(vec![b'x'; 64 * 1024])
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(413);
    assert!(big == 404 || big == 413, "{big}");
    // A client that never finishes its headers is cut off, and others are served meanwhile.
    let addr = serve.addr;
    let slow = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        started.elapsed()
    });
    assert_eq!(status(&serve.url("/healthz")).await, 200);
    let held = slow.await.unwrap();
    assert!(
        held >= Duration::from_secs(5) && held < Duration::from_secs(20),
        "the slow client was held {held:?}"
    );
    let (code, _) = serve.terminate().await;
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_follows_the_token_and_the_store_and_healthcheck_says_so() {
    let mut ws = Workspace::new().await;
    ws.tail = serve_table(&ws, "every = \"1s\"");
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    // Nothing listens yet: unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    healthcheck(&ws, &["--url", &format!("http://127.0.0.1:{port}")]).expect(3);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    wait_async!("/readyz 200", {
        (status(&serve.url("/readyz")).await == 200).then_some(())
    });
    let base = format!("http://{}", serve.addr);
    let ready = healthcheck(&ws, &["--url", &base]).expect(0);
    assert!(ready.stderr.contains("ready"), "{}", ready.stderr);

    // The token is revoked: the next run's read is refused, readiness drops.
    ws.emu.revoke_token(TOKEN);
    wait_async!("/readyz 503 after the token was revoked", {
        let r = client().get(serve.url("/readyz")).send().await.unwrap();
        if r.status() == 503 {
            let body: serde_json::Value = r.json().await.unwrap();
            (body["token"] == "failed" && body["store"] == "passed").then_some(())
        } else {
            None
        }
    });
    let not_ready = healthcheck(&ws, &["--url", &base]).expect(1);
    assert!(not_ready.stderr.contains("503"), "{}", not_ready.stderr);
    let metrics = scrape(&serve).await;
    assert_eq!(value(&metrics, "idbridge_ready", &[]), Some(0.0));
    // The revocation lands before the run's read (the read is refused: `error`) or between the
    // read and a write (the write is refused: `failed`); either way a run did not succeed.
    let errors = value(&metrics, "idbridge_runs_total", &[("result", "error")]).unwrap_or(0.0)
        + value(&metrics, "idbridge_runs_total", &[("result", "failed")]).unwrap_or(0.0);
    assert!(
        errors >= 1.0,
        "{:?}\n{}",
        metrics
            .samples
            .iter()
            .filter(|s| s.metric.starts_with("idbridge_runs"))
            .collect::<Vec<_>>(),
        serve.log()
    );

    // A new token in the same file: picked up by the next run, no restart.
    let fresh = "canary-token-fresh-81c3";
    ws.emu.add_token(fresh, crate::support::OWNER);
    std::fs::write(ws.path("token"), format!("{fresh}\n")).unwrap();
    wait_async!("/readyz 200 with the rotated token", {
        (status(&serve.url("/readyz")).await == 200).then_some(())
    });

    // The store becomes unreadable: not ready, and it says which check failed.
    std::fs::write(ws.path("idbridge.db"), vec![b'x'; 8192]).unwrap();
    let _ = std::fs::remove_file(ws.path("idbridge.db-wal"));
    let _ = std::fs::remove_file(ws.path("idbridge.db-shm"));
    wait_async!("/readyz 503 with the store broken", {
        let r = client().get(serve.url("/readyz")).send().await.unwrap();
        if r.status() == 503 {
            let body: serde_json::Value = r.json().await.unwrap();
            (body["store"] == "failed").then_some(())
        } else {
            None
        }
    });
    healthcheck(&ws, &["--url", &base]).expect(1);
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(TOKEN) && !log.contains(fresh), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_exits_3_for_a_later_retry() {
    let mut ws = Workspace::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    ws.tail = format!("[serve]\nlisten = \"127.0.0.1:{port}\"\nevery = \"1h\"\n");
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let run = ws.idbridge(&["serve"]).await.expect(3);
    assert!(
        run.stderr
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
    drop(taken);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_reads_the_address_from_the_config() {
    let mut ws = Workspace::new().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    ws.tail = format!("[serve]\nlisten = \"0.0.0.0:{port}\"\nevery = \"1h\"\n");
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    healthcheck(&ws, &[]).expect(3);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    assert_eq!(serve.addr.port(), port);
    let mut code = -1;
    for _ in 0..200 {
        code = healthcheck(&ws, &[]).code;
        if code == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(code, 0);
    drop(serve);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_finishes_the_call_in_flight_and_journals_the_rest() {
    let mut ws = Workspace::new().await;
    ws.target_extra.push_str("concurrency = 1\n");
    ws.tail = serve_table(&ws, "every = \"1h\"");
    let people: Vec<String> = (1..=8)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Engineer", "active"))
        .collect();
    let rows: Vec<&str> = people.iter().map(String::as_str).collect();
    ws.hr(&rows);
    for nth in 1..=8 {
        ws.emu.push_fault(Fault {
            nth,
            method: Some("POST".into()),
            path_prefix: Some("/Users".into()),
            kind: FaultKind::Stall { millis: 700 },
        });
    }
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    // The catch-up run starts; stop it once the first create is in.
    let ws_ref = &ws;
    wait_for("the first create", || {
        (ws_ref.active_names().len() >= 2).then_some(())
    })
    .await;
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    let created = ws.active_names().len() - 1;
    assert!(
        created < 8,
        "the run stopped early: {created} created\n{log}"
    );

    let store = Store::open(&ws.store_url).await.unwrap();
    let runs = store.runs(10).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let ops = store.operations(run.id).await.unwrap();
    assert_eq!(ops.len(), 8);
    assert!(
        ops.iter().all(|o| o.status != OperationStatus::Pending),
        "no operation is left without its outcome: {ops:?}"
    );
    let done = ops
        .iter()
        .filter(|o| o.status == OperationStatus::Done)
        .count();
    assert_eq!(done, created, "{ops:?}");
    let skipped: Vec<_> = ops
        .iter()
        .filter(|o| o.status == OperationStatus::Skipped)
        .collect();
    assert_eq!(skipped.len(), 8 - created);
    assert!(
        skipped
            .iter()
            .all(|o| o.skip_reason.as_deref().unwrap_or("").contains("SIGTERM")),
        "{skipped:?}"
    );
    // The next start plans the rest again.
    let serve = Serve::start(&ws, "idbridge.toml", "again").await;
    let _ = serve.pid();
    drop(serve);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_postgres_run_each_tick_once_and_survive_the_leader_kill() {
    let Some((admin, name, db_url)) = scratch_database("serve replicas").await else {
        return;
    };
    let mut ws = Workspace::new().await;
    ws.store_url = db_url.clone();
    ws.target_extra.push_str("concurrency = 1\n");
    ws.tail = serve_table(&ws, "every = \"1s\"");
    ws.hr(&[
        &row("E1", "Ada", "Engineer", "active"),
        &row("E2", "Bob", "Designer", "active"),
    ]);
    // Every list read stalls a little, so runs last long enough to be caught holding the lock.
    for nth in 1..=400 {
        ws.emu.push_fault(Fault {
            nth,
            method: Some("GET".into()),
            path_prefix: Some("/Users".into()),
            kind: FaultKind::Stall { millis: 150 },
        });
    }
    let a = Serve::start(&ws, "idbridge.toml", "a").await;
    let b = Serve::start(&ws, "idbridge.toml", "b").await;
    wait_async!("a few runs", {
        let (ra, rb) = (succeeded_runs(&a).await, succeeded_runs(&b).await);
        (ra + rb >= 4.0).then_some(())
    });
    let skipped = |m: &prometheus_parse::Scrape| {
        value(
            m,
            "idbridge_ticks_skipped_total",
            &[("reason", "lock-held")],
        )
        .unwrap_or(0.0)
            + value(
                m,
                "idbridge_ticks_skipped_total",
                &[("reason", "already-run")],
            )
            .unwrap_or(0.0)
    };
    let (ma, mb) = (scrape(&a).await, scrape(&b).await);
    assert!(
        skipped(&ma) + skipped(&mb) >= 2.0,
        "the loser of each tick skips it"
    );

    // Catch a holds the run lock, then kill -9 it mid-run.
    let pool = sqlx::AnyPool::connect(&db_url).await.unwrap();
    let tag = format!("idbridge serve {} %", a.pid());
    wait_async!("a holding the run lock", {
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND s.application_name LIKE $1",
        )
        .bind(&tag)
        .fetch_one(&pool)
        .await
        .unwrap();
        (held > 0).then_some(())
    });
    a.kill();
    let before = succeeded_runs(&b).await;
    wait_async!("b running the next ticks", {
        (succeeded_runs(&b).await >= before + 2.0).then_some(())
    });
    let store = Store::open(&db_url).await.unwrap();
    let runs = store.runs(1000).await.unwrap();
    // Exactly one run per tick: no two scheduled runs started in the same second.
    let mut seconds: Vec<i64> = runs
        .iter()
        .filter(|r| {
            r.origin
                .as_ref()
                .is_some_and(|o| o.trigger == RunTrigger::Schedule)
        })
        .map(|r| r.started_at.timestamp())
        .collect();
    let total = seconds.len();
    seconds.sort();
    seconds.dedup();
    assert_eq!(seconds.len(), total, "two runs of one tick: {runs:#?}");
    assert!(
        runs.iter()
            .all(|r| r.status != RunStatus::Running || r.finished_at.is_none()),
        "{runs:#?}"
    );
    let (code, log) = b.terminate().await;
    assert_eq!(code, 0, "{log}");
    store.close().await;
    pool.close().await;
    drop_database(&admin, &name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_plan_is_held_recorded_and_counted_never_forced() {
    let mut ws = Workspace::new().await;
    let people: Vec<String> = (1..=10)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    let rows: Vec<&str> = people.iter().map(String::as_str).collect();
    ws.hr(&rows);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let before = ws.active_names();
    let writes = ws.emu.write_count();
    // Three of ten leave (30% > the default 10%): every run's plan is blocked.
    // The guardrail is the subject: the leavers are due at once (no absence grace).
    ws.tail = format!(
        "[policy]\n{NO_GRACE}\n{}",
        serve_table(&ws, "every = \"1s\"")
    );
    ws.hr(&rows[3..]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    let refused = wait_async!("two refused runs", {
        let m = scrape(&serve).await;
        value(&m, "idbridge_runs_total", &[("result", "refused")]).filter(|v| *v >= 2.0)
    });
    assert!(refused >= 2.0);
    assert_eq!(ws.active_names(), before, "nobody was deactivated");
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "nothing was written to the target"
    );
    let runs: serde_json::Value = client()
        .get(serve.url("/runs"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held = &runs["runs"][0];
    assert_eq!(held["status"], "refused", "{runs}");
    assert_eq!(held["origin"]["trigger"], "schedule", "{runs}");
    assert!(
        held["summaryJson"]
            .as_str()
            .unwrap()
            .contains("policy.max_deactivations"),
        "{runs}"
    );
    // Readiness is about the store and the token, not about runs that were held.
    assert_eq!(status(&serve.url("/readyz")).await, 200);
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("plan held, nothing applied"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn saml_metadata_is_checked_and_recorded_on_every_run() {
    let mut ws = Workspace::new().await;
    let metadata = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml/okta.xml");
    ws.tail = format!(
        "{}\n[saml]\nmetadata = \"{metadata}\"\n",
        serve_table(&ws, "every = \"1s\"")
    );
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let serve = Serve::start(&ws, "idbridge.toml", "serve").await;
    wait_async!("two runs", {
        (succeeded_runs(&serve).await >= 2.0).then_some(())
    });
    let metrics = scrape(&serve).await;
    let expiry = metrics
        .samples
        .iter()
        .find(|s| s.metric == "idbridge_idp_certificate_expiry_seconds")
        .expect("the certificate gauge after a metadata check");
    assert!(expiry.labels.get("entity").is_some_and(|e| !e.is_empty()));
    let (code, log) = serve.terminate().await;
    assert_eq!(code, 0, "{log}");
    let store = Store::open(&ws.store_url).await.unwrap();
    let checks = store.saml_checks(100).await.unwrap();
    assert!(checks.len() >= 2, "one recorded check per run: {checks:?}");
    assert!(checks.iter().all(|c| c.kind == "metadata"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_catches_up_the_last_missed_tick_once_and_a_restart_does_not_repeat_it() {
    let mut ws = Workspace::new().await;
    // A daily cron tick in a named zone: its last occurrence is hours away from any test run.
    ws.tail = serve_table(
        &ws,
        "cron = \"30 3 * * *\"\ntimezone = \"America/New_York\"\njitter = \"200ms\"",
    );
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let first = Serve::start(&ws, "idbridge.toml", "first").await;
    wait_async!("the catch-up run", {
        (succeeded_runs(&first).await >= 1.0).then_some(())
    });
    let (code, log) = first.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("cron \"30 3 * * *\" in America/New_York"),
        "{log}"
    );

    let second = Serve::start(&ws, "idbridge.toml", "second").await;
    let skipped = wait_async!("the restart to skip the tick already run", {
        let m = scrape(&second).await;
        value(
            &m,
            "idbridge_ticks_skipped_total",
            &[("reason", "already-run")],
        )
    });
    assert_eq!(skipped, 1.0);
    assert_eq!(succeeded_runs(&second).await, 0.0);
    let (code, log) = second.terminate().await;
    assert_eq!(code, 0, "{log}");
    let store = Store::open(&ws.store_url).await.unwrap();
    let runs = store.runs(10).await.unwrap();
    assert_eq!(
        runs.len(),
        1,
        "one run for the missed tick, not one per start: {runs:#?}"
    );
}
