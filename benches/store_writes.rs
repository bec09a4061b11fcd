//! Benchmark: the store's write path, driven through the store API with N people (default
//! 100,000) and no SCIM server at all, so only the store is timed (docs/performance.md, "Store
//! write path"). Three phases on a fresh store:
//!
//! 1. a first sync: per person, the `pending` entry (its own durable commit, before the call),
//!    then the outcome (link and journal `done`); then the snapshots;
//! 2. a no-change sync: the snapshots again, none changed;
//! 3. a sync where 1% of the people changed: their snapshots.
//!
//! `IDBRIDGE_BENCH_MODE=per-call` records each outcome and each snapshot on its own, the way
//! apply and `sync` did before issue 14 (four commits per created person, one snapshot upsert per
//! person per run); the default, `grouped`, is today's path: `IDBRIDGE_BENCH_BATCH` (128, apply's
//! `PENDING_CHUNK`) pending entries to one durable commit, then their outcomes to one commit,
//! snapshots only when they change.
//! `IDBRIDGE_BENCH_STORE` picks the store (a SQLite file in a temporary folder by default; a
//! `postgres://` URL names a database to create and drop).
//!
//! Run: `cargo bench --bench store_writes` (`IDBRIDGE_BENCH_USERS` for other sizes). Without
//! `--bench` on the command line (e.g. `cargo test --all-targets`) it does nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Utc};
use idbridge::model::{ScimId, SourceKey};
use idbridge::store::{
    Link, LinkChange, LinkKind, LinkOrigin, LinkState, NewOperation, NewRun, OperationId, Outcome,
    RunId, RunOrigin, RunTrigger, Store, Transition,
};
use std::time::Instant;

const TARGET: &str = "bench";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("store_writes: run with `cargo bench --bench store_writes`");
        return;
    }
    let n: usize = env_or("IDBRIDGE_BENCH_USERS", 100_000);
    let batch: usize = env_or("IDBRIDGE_BENCH_BATCH", 128);
    let grouped = std::env::var("IDBRIDGE_BENCH_MODE").as_deref() != Ok("per-call");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let url = std::env::var("IDBRIDGE_BENCH_STORE").unwrap_or_else(|_| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            )
        });
        let scratch = scratch_postgres(&url).await;
        let store_url = scratch.as_ref().map_or(url.clone(), |(_, u)| u.clone());
        let store = Store::open(&store_url).await.unwrap();
        store.migrate().await.unwrap();
        let mode = if grouped { "grouped" } else { "per-call" };
        println!("store_writes: {n} people, {mode}, {}", store.backend());

        let t = Instant::now();
        let run = store.start_run(&new_run()).await.unwrap();
        first_sync(&store, run, n, grouped, batch).await;
        let creates = t.elapsed();
        let t = Instant::now();
        snapshots(&store, n, 0, grouped).await;
        report("first sync: journal and links", n, creates);
        report("first sync: snapshots", n, t.elapsed());
        let t = Instant::now();
        snapshots(&store, n, 0, grouped).await;
        report("no-change sync: snapshots", n, t.elapsed());
        let t = Instant::now();
        snapshots(&store, n, n / 100, grouped).await;
        report("1% changed: snapshots", n, t.elapsed());
        store.close().await;
        if let Some((admin, _)) = scratch {
            drop_postgres(&admin, &store_url).await;
        }
    });
}

fn report(what: &str, n: usize, took: std::time::Duration) {
    let secs = took.as_secs_f64();
    println!(
        "  {what:<32} {secs:>8.2} s  {:>9.0} people/s",
        n as f64 / secs.max(1e-9)
    );
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_773_600, 0).unwrap()
}

fn new_run() -> NewRun {
    NewRun {
        kind: "sync".into(),
        target_name: TARGET.into(),
        started_at: at(),
        plan_sha256: None,
        origin: RunOrigin {
            trigger: RunTrigger::Sync,
            host: "bench".into(),
            os_user: "bench".into(),
        },
        upcoming_json: None,
    }
}

fn key(i: usize) -> SourceKey {
    SourceKey::new("hr", format!("E{i:07}"))
}

fn link(i: usize) -> Link {
    Link {
        target_name: TARGET.into(),
        kind: LinkKind::User,
        key: key(i),
        scim_id: ScimId(format!("u-{i:07}")),
        user_name: format!("user{i}@acme.test"),
        state: LinkState::Active,
        origin: LinkOrigin::Created,
        updated_at: at(),
    }
}

fn pending(run: RunId, i: usize) -> NewOperation {
    NewOperation {
        run_id: run,
        seq: i as i64,
        op: "create-user".into(),
        target_name: TARGET.into(),
        user_name: Some(format!("user{i}@acme.test")),
        scim_id: None,
        source_key: Some(key(i).to_string()),
        detail_json: format!(r#"[{{"attr":"userName","after":"user{i}@acme.test"}}]"#),
        reason: Some(format!("hr: new person (hr.csv line {})", i + 2)),
        planned_json: None,
        at: at(),
    }
}

/// Every person created: `pending` first (durable before the call), then the outcome. Grouped:
/// `batch` pending entries to one commit, then their outcomes to one commit, as apply does.
async fn first_sync(store: &Store, run: RunId, n: usize, grouped: bool, batch: usize) {
    let people: Vec<usize> = (0..n).collect();
    for chunk in people.chunks(if grouped { batch } else { 1 }) {
        let entries: Vec<NewOperation> = chunk.iter().map(|&i| pending(run, i)).collect();
        let ids: Vec<OperationId> = store.journal_pending_many(&entries).await.unwrap();
        let mut waiting: Vec<Outcome> = Vec::new();
        for (&i, id) in chunk.iter().zip(ids) {
            let scim = format!("u-{i:07}");
            if grouped {
                waiting.push(Outcome::Link {
                    link: link(i),
                    change: LinkChange::new("create-user", None),
                });
                waiting.push(Outcome::Journal {
                    id,
                    to: Transition::Done {
                        scim_id: Some(scim),
                        http_status: None,
                    },
                    at: at(),
                });
            } else {
                store.take_over_link(&link(i)).await.unwrap();
                store
                    .journal_done(id, Some(&scim), None, at())
                    .await
                    .unwrap();
            }
        }
        store.commit_outcomes(&waiting).await.unwrap();
    }
}

/// The snapshots of a sync in which `changed` people (the first ones) have new attributes.
async fn snapshots(store: &Store, n: usize, changed: usize, grouped: bool) {
    let hash = |i: usize| format!("{:064x}", i + usize::from(i < changed) * n);
    if grouped {
        let current: Vec<(SourceKey, String)> = (0..n).map(|i| (key(i), hash(i))).collect();
        store.save_snapshots(TARGET, &current, at()).await.unwrap();
    } else {
        for i in 0..n {
            store
                .put_snapshot(TARGET, &key(i), &hash(i), at())
                .await
                .unwrap();
        }
    }
}

/// For a `postgres://` URL: a fresh database beside the one it names (admin URL, its URL).
async fn scratch_postgres(url: &str) -> Option<(String, String)> {
    if !url.starts_with("postgres") {
        return None;
    }
    sqlx::any::install_default_drivers();
    let name = format!("idbridge_bench_{}", std::process::id());
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut scratch = url::Url::parse(url).unwrap();
    scratch.set_path(&format!("/{name}"));
    Some((url.to_owned(), scratch.to_string()))
}

async fn drop_postgres(admin: &str, scratch: &str) {
    let name = url::Url::parse(scratch)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let pool = sqlx::AnyPool::connect(admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}
