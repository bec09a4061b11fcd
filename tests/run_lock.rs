//! End-to-end: the run lock through the `idbridge` binary, on SQLite and PostgreSQL stores. Two
//! real processes against one emulator and one store: the second waits its turn (exit 4, names
//! the holder, writes nothing); a `kill -9`'d run is closed out as aborted by the next, which
//! checks what the dead run left unknown against the target; first runs at once on a fresh store
//! never fail on migrations.

use crate::support::{row, Run, Workspace, TOKEN};
use idbridge::emulator::{Fault, FaultKind};
use idbridge::store::{
    LockHolder, NewOperation, NewRun, OperationStatus, RunOrigin, RunStatus, RunTrigger, Store,
};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Start `idbridge --config <dir>/<config> ARGS` without waiting for it.
fn spawn(ws: &Workspace, config: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .arg("--config")
        .arg(ws.path(config))
        .args(args)
        .current_dir(ws.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idbridge starts")
}

/// Wait for a spawned run in a blocking thread, so the in-process emulator keeps serving.
async fn finish(child: Child) -> Run {
    tokio::task::spawn_blocking(move || Run::from(child.wait_with_output().expect("idbridge ends")))
        .await
        .unwrap()
}

/// Wait (boundedly) for something the test cannot be told about directly.
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting until {what}");
}

/// A scratch PostgreSQL database (dropped by [`drop_database`]), or `None` to skip.
pub(crate) async fn scratch_database(test: &str) -> Option<(String, String, String)> {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "DATABASE_URL must be set in CI"
        );
        eprintln!("SKIPPED: {test} (set DATABASE_URL to run it)");
        return None;
    };
    let name = format!("idbridge_lock_{}", uuid::Uuid::new_v4().simple());
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    Some((admin, name, url.to_string()))
}

pub(crate) async fn drop_database(admin: &str, name: &str) {
    let pool = sqlx::AnyPool::connect(admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// After a `kill -9`, PostgreSQL ends the dead client's session (and its advisory lock) as soon
/// as it sees the socket closed; wait for that rather than race it.
async fn wait_for_no_advisory_lock(db_url: &str) {
    let pool = sqlx::AnyPool::connect(db_url).await.unwrap();
    for _ in 0..500 {
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if held == 0 {
            pool.close().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the dead run's advisory lock was never released");
}

/// The whole story on one store: a sync stalls inside apply holding the lock; a second sync, a
/// migrate and an apply wait their turn (exit 4) without a request to the target or a row in the
/// store; `plan` still works; the first is killed with SIGKILL and its run stays `running`; the
/// next sync marks it aborted, finds Ada (whose create landed but was never recorded) in the
/// target instead of creating her again, and succeeds.
async fn second_run_waits_and_a_killed_run_is_closed_out(mut ws: Workspace) {
    ws.target_extra =
        "rate_limit = 0\ntimeout = \"60s\"\nconcurrency = 1\nmax_retries = 0\n".into();
    ws.tail = "[policy]\nadopt = \"none\"\n".into();
    ws.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::Stall { millis: 30_000 },
    });
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let ws = ws;
    ws.idbridge(&["plan", "--out", "plan.json"]).await.expect(0);

    let mut first = spawn(&ws, "idbridge.toml", &["sync", "--yes"]);
    wait_until("the first sync's create reached the workspace", || {
        ws.emu.members().len() == 2
    })
    .await;
    let requests = ws.emu.requests().len();
    let holder = format!("`idbridge sync` (pid {} on host", first.id());
    for args in [
        &["sync", "--yes"][..],
        &["migrate"][..],
        &["apply", "--plan", "plan.json", "--yes"][..],
    ] {
        let run = ws.idbridge(args).await.expect(4);
        assert!(
            run.stderr.contains("holds the run lock for target `test`")
                && run.stderr.contains(&holder),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(
        ws.emu.requests().len(),
        requests,
        "a run that waits its turn never reaches the target"
    );
    let store = Store::open(&ws.store_url).await.unwrap();
    let runs = store.runs(10).await.unwrap();
    assert_eq!(runs.len(), 1, "only the first run is recorded: {runs:?}");
    let dead = runs[0].id;
    let journal = store.operations(dead).await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].status, OperationStatus::Pending);
    // `plan` takes no lock and writes nothing.
    ws.idbridge(&["plan"]).await.expect(0);

    first.kill().unwrap();
    first.wait().unwrap();
    if ws.store_url.starts_with("postgres") {
        wait_for_no_advisory_lock(&ws.store_url).await;
    }
    let run = store.run(dead).await.unwrap().unwrap();
    assert_eq!(
        run.status,
        RunStatus::Running,
        "kill -9 leaves the run running"
    );

    let next = ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert!(
        next.stderr
            .contains(&format!("run {dead} (`sync` on target `test`"))
            && next.stderr.contains("Marked aborted")
            && next
                .stderr
                .contains("unknown: 1 (create-user ada@acme.test)"),
        "{}",
        next.stderr
    );
    let run = store.run(dead).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Aborted);
    assert!(run.finished_at.is_some());
    let journal = store.operations(dead).await.unwrap();
    assert_eq!(journal[0].status, OperationStatus::Unknown);
    // The create was never assumed: the target was read and Ada linked back, not created again.
    let runs = store.runs(10).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    let ops: Vec<(String, OperationStatus)> = store
        .operations(runs[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.op, o.status))
        .collect();
    assert_eq!(ops, [("link-user".to_owned(), OperationStatus::Done)]);
    assert_eq!(
        ws.emu
            .members()
            .iter()
            .filter(|m| m.user_name == "ada@acme.test")
            .count(),
        1
    );
    store.close().await;
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_waits_and_a_killed_run_is_closed_out_sqlite() {
    second_run_waits_and_a_killed_run_is_closed_out(Workspace::new().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_waits_and_a_killed_run_is_closed_out_postgresql() {
    on_fresh_postgres(
        "a_second_run_waits_and_a_killed_run_is_closed_out_postgresql",
        second_run_waits_and_a_killed_run_is_closed_out,
    )
    .await;
}

/// A lock held elsewhere (here by the test itself, recorded as another host's `sync`): the CLI
/// names that holder and exits 4 before reading anything; the lock is per target.
async fn a_held_lock_is_named(ws: Workspace) {
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let store = Store::open(&ws.store_url).await.unwrap();
    let held = store
        .lock_run(
            "test",
            &LockHolder {
                command: "sync".into(),
                pid: 31337,
                host: "cron-box".into(),
                started_at: chrono::DateTime::from_timestamp(1_795_773_600, 0).unwrap(),
            },
        )
        .await
        .unwrap();
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(4);
    assert!(
        run.stderr
            .contains("`idbridge sync` (pid 31337 on host cron-box, started 2026-11-27T10:00:00Z)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        ws.emu.requests().len(),
        0,
        "nothing was read from the target"
    );
    assert!(
        Store::open_read_only(&ws.store_url)
            .await
            .unwrap()
            .is_none(),
        "nothing was written to the store, not even its schema"
    );
    // Another target on the same store is not held up.
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    std::fs::write(
        ws.path("other.toml"),
        config.replace("name = \"test\"", "name = \"other\""),
    )
    .unwrap();
    let other = finish(spawn(&ws, "other.toml", &["sync", "--yes"])).await;
    other.expect(0);
    held.release().await;
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_is_named_sqlite() {
    a_held_lock_is_named(Workspace::new().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_is_named_postgresql() {
    on_fresh_postgres("a_held_lock_is_named_postgresql", a_held_lock_is_named).await;
}

fn never_a_migration_error(run: &Run) {
    assert!(
        !run.stderr.contains("already exists") && !run.stderr.contains("migrations"),
        "{}",
        run.stderr
    );
}

/// Four targets sharing a fresh store start at once: all run (the lock is per target) and the
/// schema is created once, never "table runs already exists". On SQLite, three fresh stores in a
/// row, because whether processes overlap is up to the scheduler.
async fn targets_at_once(ws: Workspace) {
    ws.hr(&[&row("E0", "Ada", "Eng", "active")]);
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    let sqlite = !ws.store_url.starts_with("postgres");
    let rounds = if sqlite { 3 } else { 1 };
    let names = ["P1", "P2", "P3"];
    for round in 0..rounds {
        let store_url = if sqlite {
            format!(
                "sqlite://{}?mode=rwc",
                ws.path(&format!("fresh{round}.db")).display()
            )
        } else {
            ws.store_url.clone()
        };
        let mut configs = vec!["idbridge.toml".to_owned()];
        std::fs::write(
            ws.path("idbridge.toml"),
            config.replace(&ws.store_url, &store_url),
        )
        .unwrap();
        for (i, name) in names.iter().enumerate() {
            let csv = format!("hr{i}.csv");
            let person = row(
                &format!("E{}", i + 1),
                &format!("{name}r{round}"),
                "Eng",
                "active",
            );
            std::fs::write(
                ws.path(&csv),
                format!("{}\n{person}\n", crate::support::HEADER),
            )
            .unwrap();
            let file = format!("t{i}.toml");
            std::fs::write(
                ws.path(&file),
                config
                    .replace(&ws.store_url, &store_url)
                    .replace("name = \"test\"", &format!("name = \"t{i}\""))
                    .replace("path = \"hr.csv\"", &format!("path = \"{csv}\"")),
            )
            .unwrap();
            configs.push(file);
        }
        let children: Vec<Child> = configs
            .iter()
            .map(|c| spawn(&ws, c, &["sync", "--yes"]))
            .collect();
        for child in children {
            let run = finish(child).await;
            never_a_migration_error(&run);
            run.expect(0);
        }
    }
}

/// Two first runs of one target at once on a fresh store: each either did the work or waited
/// its turn (4), never a migration error.
async fn one_target_twice_at_once(ws: Workspace) {
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let runs = [
        spawn(&ws, "idbridge.toml", &["sync", "--yes"]),
        spawn(&ws, "idbridge.toml", &["sync", "--yes"]),
    ];
    let mut codes = Vec::new();
    for child in runs {
        let run = finish(child).await.no_secret();
        never_a_migration_error(&run);
        assert!(matches!(run.code, 0 | 4), "{}\n{}", run.code, run.stderr);
        codes.push(run.code);
    }
    assert!(codes.contains(&0), "{codes:?}");
    assert_eq!(ws.active_names().len(), 2, "Ada was created once");
}

async fn on_fresh_postgres<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Workspace) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some((admin, name, url)) = scratch_database(test).await else {
        return;
    };
    let mut ws = Workspace::new().await;
    ws.store_url = url;
    let outcome = tokio::spawn(body(ws)).await;
    drop_database(&admin, &name).await;
    outcome.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_at_once_on_a_fresh_store_sqlite() {
    targets_at_once(Workspace::new().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_at_once_on_a_fresh_store_postgresql() {
    on_fresh_postgres(
        "targets_at_once_on_a_fresh_store_postgresql",
        targets_at_once,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_target_twice_at_once_on_a_fresh_store_sqlite() {
    one_target_twice_at_once(Workspace::new().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_target_twice_at_once_on_a_fresh_store_postgresql() {
    on_fresh_postgres(
        "one_target_twice_at_once_on_a_fresh_store_postgresql",
        one_target_twice_at_once,
    )
    .await;
}

/// What a dead run left `unknown` is never assumed done or undone: the next plan re-reads the
/// target. Here the dead run's patch never landed (it is planned again) and its deactivation did
/// (nothing more to do).
#[tokio::test(flavor = "multi_thread")]
async fn unknown_patches_and_deactivations_are_checked_against_the_target() {
    let ws = Workspace::new().await;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    ws.hr(&[
        &row("E1", "Ada", "Lead", "active"),
        &row("E2", "Bob", "Eng", "terminated"),
    ]);
    let id = |name: &str| {
        ws.emu
            .members()
            .into_iter()
            .find(|m| m.user_name == name)
            .unwrap()
            .id
    };
    let (ada, bob) = (id("ada@acme.test"), id("bob@acme.test"));
    // A run that journaled both and died; only the deactivation reached the workspace.
    let store = Store::open(&ws.store_url).await.unwrap();
    let now = chrono::DateTime::from_timestamp(1_795_773_600, 0).unwrap();
    let dead = store
        .start_run(&NewRun {
            kind: "sync".into(),
            target_name: "test".into(),
            started_at: now,
            plan_sha256: None,
            origin: RunOrigin {
                trigger: RunTrigger::Sync,
                host: "test-host".into(),
                os_user: "tester".into(),
            },
            upcoming_json: None,
        })
        .await
        .unwrap();
    for (seq, op, user, scim_id) in [
        (0, "patch-user", "ada@acme.test", &ada),
        (1, "deactivate-user", "bob@acme.test", &bob),
    ] {
        store
            .journal_pending(&NewOperation {
                run_id: dead,
                seq,
                op: op.into(),
                target_name: "test".into(),
                user_name: Some(user.into()),
                scim_id: Some(scim_id.clone()),
                source_key: None,
                detail_json: "[]".into(),
                reason: None,
                planned_json: None,
                at: now,
            })
            .await
            .unwrap();
    }
    let reply = reqwest::Client::new()
        .delete(format!("{}/Users/{bob}", ws.running.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.status());
    ws.emu.clear_requests();

    let run = ws
        .idbridge(&["sync", "--yes", "--format", "json"])
        .await
        .expect(0);
    assert!(
        run.stderr
            .contains("unknown: 2 (patch-user ada@acme.test, deactivate-user bob@acme.test)"),
        "{}",
        run.stderr
    );
    let doc = run.json();
    let ops: Vec<&str> = doc["plan"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["patch-user"],
        "the patch is redone, the deactivation is not"
    );
    let writes: Vec<String> = ws
        .emu
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(
        writes[0].starts_with("PATCH") && writes[0].contains(&ada),
        "{writes:?}"
    );
    let ada_now = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "ada@acme.test")
        .unwrap();
    assert_eq!(ada_now.title.as_deref(), Some("Lead"));
    assert!(!ws.active_names().contains(&"bob@acme.test".to_owned()));
    assert_eq!(
        store.run(dead).await.unwrap().map(|r| r.status),
        Some(RunStatus::Aborted)
    );
    store.close().await;
}
