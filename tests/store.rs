//! Integration tests: store.
//!
//! One suite of async test functions, written once against a [`Ctx`], runs on both backends:
//! SQLite in a temp-file database, and PostgreSQL in a scratch database (random name) created on
//! the server named by `DATABASE_URL` and dropped afterwards. Without `DATABASE_URL` the
//! PostgreSQL half is skipped with a loud notice, or fails when `CI` is set, so CI can never pass
//! by silently testing one backend.

use chrono::{DateTime, Utc};
use idbridge::model::{ScimId, SourceKey};
use idbridge::store::{
    Backend, Error, Link, LinkChange, LinkKind, LinkOrigin, LinkState, LockHolder, NewOperation,
    NewRun, OperationId, OperationStatus, Outcome, PruneReason, PruneRequest, RunId, RunOrigin,
    RunStatus, RunTrigger, ScimCounts, Store, Transition, Window, WriteOutcome, WriteRecord,
};
use std::future::Future;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// What a suite function gets: a store, and the URL it was opened with (to open it again).
#[derive(Clone, Debug)]
struct Ctx {
    store: Store,
    url: String,
}

/// Whether the harness runs the migrations before the test.
#[derive(Clone, Copy)]
enum Setup {
    Migrated,
    Fresh,
}

/// A fixed instant plus `secs` seconds: the store never reads the clock, nor do its tests.
fn at(secs: i64) -> DateTime<Utc> {
    // 2026-11-27T10:00:00Z
    DateTime::from_timestamp(1_795_773_600 + secs, 0).unwrap_or_default()
}

/// The PostgreSQL server to use, or `None` to skip (never when `CI` is set).
fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "DATABASE_URL is not set but CI is: the PostgreSQL store tests must run in CI. \
                 Export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (or start a \
                 throwaway cluster: `. scripts/env.sh` does either)."
            );
            eprintln!(
                "\n*** SKIPPING PostgreSQL store test: DATABASE_URL is not set. ***\n\
                 *** Try DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres ***\n"
            );
            None
        }
    }
}

/// `admin_url` with its database replaced by `name`.
fn with_database(
    admin_url: &str,
    name: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn admin_exec(admin_url: &str, sql: String) -> TestResult {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Run `test` on a fresh SQLite file.
async fn on_sqlite<F, Fut>(setup: Setup, test: F) -> TestResult
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = TestResult> + Send + 'static,
{
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("store.db").display()
    );
    let store = Store::open(&url).await?;
    assert_eq!(store.backend(), Backend::Sqlite);
    if let Setup::Migrated = setup {
        store.migrate().await?;
    }
    let ctx = Ctx {
        store: store.clone(),
        url,
    };
    // A spawned task turns a failed assertion into a JoinError, so cleanup still runs.
    let outcome = tokio::spawn(test(ctx)).await;
    store.close().await;
    drop(dir);
    outcome?
}

/// Run `test` in a scratch PostgreSQL database, dropped afterwards; `Ok` without running when
/// there is no server to use.
async fn on_postgres<F, Fut>(setup: Setup, test: F) -> TestResult
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = TestResult> + Send + 'static,
{
    let Some(admin_url) = database_url() else {
        return Ok(());
    };
    let name = format!("idbridge_test_{}", uuid::Uuid::new_v4().simple());
    admin_exec(&admin_url, format!("CREATE DATABASE \"{name}\"")).await?;
    let url = with_database(&admin_url, &name)?;
    let outcome = async {
        let store = Store::open(&url).await?;
        assert_eq!(store.backend(), Backend::Postgres);
        if let Setup::Migrated = setup {
            store.migrate().await?;
        }
        let ctx = Ctx {
            store: store.clone(),
            url: url.clone(),
        };
        let outcome = tokio::spawn(test(ctx)).await;
        store.close().await;
        outcome?
    }
    .await;
    let dropped = admin_exec(
        &admin_url,
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await;
    outcome?;
    dropped
}

/// Each suite function becomes `store::sqlite::NAME` and `store::postgres::NAME`.
macro_rules! suite {
    ($($name:ident: $setup:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Err(e) = super::on_sqlite(super::Setup::$setup, super::$name).await {
                        panic!("{e}");
                    }
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Err(e) = super::on_postgres(super::Setup::$setup, super::$name).await {
                        panic!("{e}");
                    }
                }
            )+
        }
    };
}

suite! {
    migrate_is_idempotent: Migrated,
    runs_lifecycle: Migrated,
    journal_transitions_and_order: Migrated,
    unfinished_creates_finds_lost_creates: Migrated,
    links_lifecycle_and_scim_id_uniqueness: Migrated,
    snapshots_keep_the_last_hash: Migrated,
    read_only_store_reads: Migrated,
    read_only_before_migrations_is_none: Fresh,
    concurrent_journal_writes: Migrated,
    a_link_after_a_write_takes_over_its_id: Migrated,
    run_lock_is_exclusive_per_target: Fresh,
    dead_runs_are_aborted_and_their_pending_entries_unknown: Migrated,
    first_migrations_started_at_once_all_succeed: Fresh,
    the_aborted_status_migration_keeps_history: Fresh,
    runs_keep_their_origin_requests_outcome_and_upcoming: Migrated,
    report_queries_filter_by_time_and_target: Migrated,
    daily_operations_count_done_work_per_utc_day_and_kind: Migrated,
    pruning_deletes_old_journals_but_keeps_runs_needed_entries_and_a_record: Migrated,
    the_audit_migration_keeps_history_and_counts_it: Fresh,
    every_stored_spelling_passes_the_schema_and_reads_back: Migrated,
    saml_checks_keep_certificates_after_the_migration: Fresh,
    alert_state_is_one_row_per_target_condition_and_sink: Migrated,
    write_outcomes_keep_the_last_patch_of_each_attribute: Migrated,
    link_changes_are_kept_and_confirmations_move_links: Migrated,
    snapshots_are_written_only_when_they_change: Migrated,
    outcomes_commit_together_or_not_at_all: Migrated,
    whole_table_reads_cross_their_chunks_and_keep_every_key: Migrated,
}

// ---- the suite ----

async fn migrate_is_idempotent(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    store.migrate().await?;
    store.migrate().await?;
    store.ping().await?;
    assert!(store.runs(10).await?.is_empty());
    // A second handle on the same database sees the schema as up to date too.
    let again = Store::open(&ctx.url).await?;
    again.migrate().await?;
    again.close().await;
    Ok(())
}

fn new_run(kind: &str, target: &str, secs: i64) -> NewRun {
    NewRun {
        kind: kind.into(),
        target_name: target.into(),
        started_at: at(secs),
        plan_sha256: None,
        origin: RunOrigin {
            trigger: RunTrigger::Sync,
            host: "test-host".into(),
            os_user: "tester".into(),
        },
        upcoming_json: None,
    }
}

async fn runs_lifecycle(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let first = store.start_run(&new_run("sync", "notion", 0)).await?;
    let second = store
        .start_run(&NewRun {
            plan_sha256: Some("ab".repeat(32)),
            ..new_run("apply", "notion", 60)
        })
        .await?;
    assert_ne!(first, second);
    assert_eq!(format!("{first}"), first.0.to_string());

    let run = store.run(first).await?.ok_or("run 1 missing")?;
    assert_eq!(run.id, first);
    assert_eq!(run.kind, "sync");
    assert_eq!(run.target_name, "notion");
    assert_eq!(run.started_at, at(0));
    assert_eq!(run.finished_at, None);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.plan_sha256, None);
    assert_eq!(run.summary_json, None);

    store
        .finish_run(first, at(30), RunStatus::Succeeded, r#"{"created":2}"#)
        .await?;
    let run = store.run(first).await?.ok_or("run 1 missing")?;
    assert_eq!(run.finished_at, Some(at(30)));
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.summary_json.as_deref(), Some(r#"{"created":2}"#));

    store
        .finish_run(second, at(90), RunStatus::Refused, "{}")
        .await?;
    let runs = store.runs(10).await?;
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![second, first],
        "newest first"
    );
    assert_eq!(runs[0].status, RunStatus::Refused);
    assert_eq!(runs[0].plan_sha256, Some("ab".repeat(32)));
    assert_eq!(store.runs(1).await?.len(), 1);

    let missing = RunId(second.0 + 1000);
    assert!(store.run(missing).await?.is_none());
    let err = store
        .finish_run(missing, at(1), RunStatus::Failed, "{}")
        .await
        .err()
        .ok_or("finishing a missing run must fail")?;
    assert!(matches!(err, Error::RunNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("no run with id"), "{err}");
    Ok(())
}

fn new_op(run: RunId, seq: i64, op: &str, target: &str, user: &str, secs: i64) -> NewOperation {
    NewOperation {
        run_id: run,
        seq,
        op: op.into(),
        target_name: target.into(),
        user_name: Some(user.into()),
        scim_id: None,
        source_key: Some(format!("hr:{user}")),
        detail_json: format!(r#"{{"userName":"{user}"}}"#),
        reason: Some(format!("hr: {user} (hr.csv line {seq})")),
        planned_json: None,
        at: at(secs),
    }
}

async fn journal_transitions_and_order(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let run = store.start_run(&new_run("sync", "notion", 0)).await?;
    // Recorded out of seq order on purpose: operations() must sort by seq.
    let c = store
        .journal_pending(&new_op(run, 3, "patch-user", "notion", "c@x", 1))
        .await?;
    let a = store
        .journal_pending(&new_op(run, 1, "create-user", "notion", "a@x", 2))
        .await?;
    let b = store
        .journal_pending(&NewOperation {
            scim_id: Some("planned-b".into()),
            ..new_op(run, 2, "deactivate-user", "notion", "b@x", 3)
        })
        .await?;

    let pending = store.operations(run).await?;
    assert!(pending.iter().all(|o| o.status == OperationStatus::Pending));
    assert_eq!(pending[0].created_at, at(2));
    assert_eq!(pending[0].updated_at, at(2));

    store
        .journal_done(a, Some("scim-a"), Some(201), at(10))
        .await?;
    store.journal_done(b, None, Some(200), at(11)).await?;
    store
        .journal_failed(c, Some(500), "target said 500", at(12))
        .await?;

    let ops = store.operations(run).await?;
    assert_eq!(ops.iter().map(|o| o.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    let (oa, ob, oc) = (&ops[0], &ops[1], &ops[2]);
    assert_eq!(oa.id, a);
    assert_eq!(oa.run_id, run);
    assert_eq!(oa.op, "create-user");
    assert_eq!(oa.target_name, "notion");
    assert_eq!(oa.user_name.as_deref(), Some("a@x"));
    assert_eq!(oa.source_key.as_deref(), Some("hr:a@x"));
    assert_eq!(oa.detail_json, r#"{"userName":"a@x"}"#);
    assert_eq!(oa.status, OperationStatus::Done);
    assert_eq!(oa.scim_id.as_deref(), Some("scim-a"));
    assert_eq!(oa.http_status, Some(201));
    assert_eq!(oa.error, None);
    assert_eq!(oa.created_at, at(2));
    assert_eq!(oa.updated_at, at(10));
    assert_eq!(
        ob.scim_id.as_deref(),
        Some("planned-b"),
        "None keeps the planned id"
    );
    assert_eq!(oc.status, OperationStatus::Failed);
    assert_eq!(oc.http_status, Some(500));
    assert_eq!(oc.error.as_deref(), Some("target said 500"));

    // done is final
    let err = store
        .journal_failed(a, None, "late", at(20))
        .await
        .err()
        .ok_or("done must be final")?;
    assert!(matches!(err, Error::OperationFinal { .. }), "{err:?}");
    assert!(err.to_string().contains("already `done`"), "{err}");

    // failed may still resolve (a lost reply that did succeed)
    store
        .journal_done(c, Some("scim-c"), Some(200), at(21))
        .await?;

    // skipped, and final too
    let d = store
        .journal_pending(&new_op(run, 4, "add-members", "notion", "d@x", 22))
        .await?;
    store
        .journal_skipped(d, "create-user a@x failed", at(23))
        .await?;
    let err = store
        .journal_done(d, None, None, at(24))
        .await
        .err()
        .ok_or("skipped must be final")?;
    assert!(matches!(err, Error::OperationFinal { .. }), "{err:?}");
    let ops = store.operations(run).await?;
    assert_eq!(ops[3].status, OperationStatus::Skipped);
    assert_eq!(
        ops[3].skip_reason.as_deref(),
        Some("create-user a@x failed")
    );
    assert_eq!(ops[3].http_status, None);

    // unknown ids and runs
    let err = store
        .journal_done(idbridge::store::OperationId(d.0 + 1000), None, None, at(25))
        .await
        .err()
        .ok_or("missing op must fail")?;
    assert!(matches!(err, Error::OperationNotFound { .. }), "{err:?}");
    let err = store
        .journal_pending(&new_op(
            RunId(run.0 + 1000),
            1,
            "create-user",
            "notion",
            "z@x",
            26,
        ))
        .await
        .err()
        .ok_or("op for a missing run must fail")?;
    assert!(matches!(err, Error::RunNotFound { .. }), "{err:?}");

    // another run's journal is separate
    let other = store.start_run(&new_run("sync", "notion", 100)).await?;
    assert!(store.operations(other).await?.is_empty());
    Ok(())
}

async fn unfinished_creates_finds_lost_creates(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let run = store.start_run(&new_run("sync", "notion", 0)).await?;
    let lost = store
        .journal_pending(&new_op(run, 1, "create-user", "notion", "lost@x", 1))
        .await?;
    let ok = store
        .journal_pending(&new_op(run, 2, "create-user", "notion", "ok@x", 2))
        .await?;
    store
        .journal_done(ok, Some("s-ok"), Some(201), at(3))
        .await?;
    let failed = store
        .journal_pending(&new_op(run, 3, "readd-user", "notion", "back@x", 4))
        .await?;
    store
        .journal_failed(failed, None, "timed out", at(5))
        .await?;
    // Not a create: never listed.
    store
        .journal_pending(&new_op(run, 4, "patch-user", "notion", "p@x", 6))
        .await?;
    // Another target: not listed for "notion".
    let elsewhere = store
        .journal_pending(&new_op(run, 5, "create-user", "other", "o@x", 7))
        .await?;

    let found = store.unfinished_creates("notion").await?;
    assert_eq!(
        found.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![lost, failed]
    );
    assert_eq!(found[0].user_name.as_deref(), Some("lost@x"));
    assert_eq!(found[1].status, OperationStatus::Failed);
    assert_eq!(
        store
            .unfinished_creates("other")
            .await?
            .iter()
            .map(|o| o.id)
            .collect::<Vec<_>>(),
        vec![elsewhere]
    );

    // Once the next run recognises the user, the entry stops being unfinished.
    store
        .journal_done(lost, Some("s-lost"), None, at(50))
        .await?;
    let found = store.unfinished_creates("notion").await?;
    assert_eq!(found.iter().map(|o| o.id).collect::<Vec<_>>(), vec![failed]);
    assert!(store.unfinished_creates("nobody").await?.is_empty());
    Ok(())
}

fn link(target: &str, kind: LinkKind, key: &SourceKey, scim: &str, name: &str, secs: i64) -> Link {
    Link {
        target_name: target.into(),
        kind,
        key: key.clone(),
        scim_id: ScimId::from(scim),
        user_name: name.into(),
        state: LinkState::Active,
        origin: LinkOrigin::Created,
        updated_at: at(secs),
    }
}

async fn links_lifecycle_and_scim_id_uniqueness(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let ada = SourceKey::new("hr", "E-1");
    let bob = SourceKey::new("hr", "E-2");
    let eng = SourceKey::new("ldap", "cn=eng");

    store
        .upsert_link(&link("notion", LinkKind::User, &ada, "u-1", "ada@x", 1))
        .await?;
    store
        .upsert_link(&link(
            "notion",
            LinkKind::Group,
            &eng,
            "g-1",
            "Engineering",
            2,
        ))
        .await?;
    let links = store.links("notion").await?;
    assert_eq!(links.len(), 2);
    assert_eq!(
        links[0],
        link("notion", LinkKind::User, &ada, "u-1", "ada@x", 1)
    );
    assert_eq!(links[1].kind, LinkKind::Group);

    // Update in place: same key, new id, name, origin.
    let updated = Link {
        origin: LinkOrigin::Recovered,
        ..link("notion", LinkKind::User, &ada, "u-1b", "ada.l@x", 3)
    };
    store.upsert_link(&updated).await?;
    let links = store.links("notion").await?;
    assert_eq!(links.len(), 2);
    assert_eq!(links[0], updated);

    // The same SCIM id for another key on the same target and kind: refused, clearly.
    let err = store
        .upsert_link(&link("notion", LinkKind::User, &bob, "u-1b", "bob@x", 4))
        .await
        .err()
        .ok_or("a SCIM id must not be linked twice")?;
    assert!(matches!(err, Error::ScimIdTaken(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`u-1b`"), "{text}");
    assert!(text.contains("`hr:E-2`"), "{text}");
    assert!(text.contains("already linked to `hr:E-1`"), "{text}");
    assert_eq!(store.links("notion").await?.len(), 2, "nothing written");

    // ...but fine for another kind or another target.
    store
        .upsert_link(&link(
            "notion",
            LinkKind::Group,
            &bob,
            "u-1b",
            "bob-group",
            5,
        ))
        .await?;
    store
        .upsert_link(&link("other", LinkKind::User, &bob, "u-1b", "bob@x", 6))
        .await?;
    assert_eq!(store.links("other").await?.len(), 1);
    assert_eq!(store.links("notion").await?.len(), 3);

    // State changes.
    store
        .set_link_state(
            "notion",
            LinkKind::User,
            &ada,
            LinkState::Deactivated,
            at(7),
        )
        .await?;
    let ada_link = store
        .links("notion")
        .await?
        .into_iter()
        .find(|l| l.key == ada)
        .ok_or("ada's link vanished")?;
    assert_eq!(ada_link.state, LinkState::Deactivated);
    assert_eq!(ada_link.updated_at, at(7));
    assert_eq!(ada_link.scim_id, ScimId::from("u-1b"));
    let err = store
        .set_link_state("notion", LinkKind::User, &bob, LinkState::Active, at(8))
        .await
        .err()
        .ok_or("no user link for bob on notion")?;
    assert!(matches!(err, Error::LinkNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("hr:E-2"), "{err}");

    // Delete (idempotent), and the freed SCIM id can be linked again.
    store.delete_link("notion", LinkKind::User, &ada).await?;
    store.delete_link("notion", LinkKind::User, &ada).await?;
    assert!(store
        .links("notion")
        .await?
        .iter()
        .all(|l| !(l.key == ada && l.kind == LinkKind::User)));
    store
        .upsert_link(&link("notion", LinkKind::User, &bob, "u-1b", "bob@x", 9))
        .await?;
    assert!(store.links("nobody").await?.is_empty());
    Ok(())
}

async fn snapshots_keep_the_last_hash(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let ada = SourceKey::new("hr", "E-1");
    let bob = SourceKey::new("hr", "E-2");
    store.put_snapshot("notion", &bob, "h-bob", at(1)).await?;
    store.put_snapshot("notion", &ada, "h-ada-1", at(2)).await?;
    store.put_snapshot("notion", &ada, "h-ada-2", at(3)).await?;
    store.put_snapshot("other", &ada, "h-other", at(4)).await?;

    let snaps = store.snapshots("notion").await?;
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0].key, ada);
    assert_eq!(snaps[0].attr_hash, "h-ada-2");
    assert_eq!(snaps[0].seen_at, at(3));
    assert_eq!(snaps[0].target_name, "notion");
    assert_eq!(snaps[1].key, bob);
    assert_eq!(snaps[1].attr_hash, "h-bob");
    let other = store.snapshots("other").await?;
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].attr_hash, "h-other");
    assert!(store.snapshots("nobody").await?.is_empty());
    Ok(())
}

/// A sync that changed nothing writes no snapshot (issue 14: a snapshot upsert per person per run
/// was the whole cost of a no-change sync): only new or changed hashes are written, and
/// `seen_at` stays when the hash was first seen.
async fn snapshots_are_written_only_when_they_change(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let ada = SourceKey::new("hr", "E-1");
    let bob = SourceKey::new("hr", "E-2");
    let first = [
        (ada.clone(), "h-ada".to_owned()),
        (bob.clone(), "h-bob".to_owned()),
    ];
    assert_eq!(store.save_snapshots("notion", &first, at(1)).await?, 2);
    assert_eq!(store.save_snapshots("notion", &first, at(2)).await?, 0);
    let snaps = store.snapshots("notion").await?;
    assert!(snaps.iter().all(|s| s.seen_at == at(1)), "{snaps:?}");

    let changed = [
        (ada.clone(), "h-ada-2".to_owned()),
        (bob.clone(), "h-bob".to_owned()),
    ];
    assert_eq!(store.save_snapshots("notion", &changed, at(3)).await?, 1);
    let snaps = store.snapshots("notion").await?;
    assert_eq!(
        (snaps[0].attr_hash.as_str(), snaps[0].seen_at),
        ("h-ada-2", at(3))
    );
    assert_eq!(
        (snaps[1].attr_hash.as_str(), snaps[1].seen_at),
        ("h-bob", at(1))
    );
    // Another target's snapshots are its own.
    assert_eq!(store.save_snapshots("other", &changed, at(4)).await?, 2);
    assert_eq!(store.save_snapshots("notion", &[], at(5)).await?, 0);
    assert_eq!(store.snapshots("notion").await?.len(), 2);
    Ok(())
}

/// The links and snapshots every run reads whole come from the database in chunks of 5,000 rows
/// (issue 14): more than two chunks of keys that a careless pager would lose or repeat (quotes,
/// backslashes, commas, a control character, case that differs only, text past the BMP) all come
/// back once, in the order the row-by-row read gives, and nothing of another target's.
async fn whole_table_reads_cross_their_chunks_and_keep_every_key(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let odd = [
        "E-\"quoted\"",
        "E-'single'",
        "E-back\\slash",
        "E-a,b",
        "E-\u{1}ctl",
        "e-lower",
        "E-LOWER",
        "E-😀",
        "",
        " E-space",
    ];
    let mut keys: Vec<SourceKey> = (0..20_500)
        .map(|i| SourceKey::new(if i % 3 == 0 { "ldap" } else { "hr" }, format!("E-{i}")))
        .collect();
    keys.extend(odd.iter().map(|id| SourceKey::new("hr", *id)));
    for (i, key) in keys.iter().enumerate() {
        let name = format!("p{i}@x");
        let user = link("notion", LinkKind::User, key, &format!("u-{i}"), &name, 1);
        store.upsert_link(&user).await?;
    }
    let groups = [
        SourceKey::new("ldap", "cn=b"),
        SourceKey::new("ldap", "cn=a"),
    ];
    for (i, key) in groups.iter().enumerate() {
        let group = link("notion", LinkKind::Group, key, &format!("g-{i}"), "G", 1);
        store.upsert_link(&group).await?;
    }
    let elsewhere = link("other", LinkKind::User, &keys[0], "u-other", "o@x", 1);
    store.upsert_link(&elsewhere).await?;

    let packed = store.plan_links("notion").await?;
    let whole = store.links("notion").await?;
    assert_eq!(packed.len(), keys.len() + groups.len());
    let seen = |kind, key: &SourceKey, scim: &str, name: &str| {
        (
            format!("{kind:?}"),
            key.clone(),
            scim.to_owned(),
            name.to_owned(),
        )
    };
    let from_packed: Vec<_> = packed
        .iter()
        .map(|l| seen(l.kind, &l.key, &l.scim_id.0, &l.user_name))
        .collect();
    let from_whole: Vec<_> = whole
        .iter()
        .map(|l| seen(l.kind, &l.key, &l.scim_id.0, &l.user_name))
        .collect();
    assert_eq!(from_packed, from_whole);
    assert_eq!(packed.last().map(|l| l.kind), Some(LinkKind::Group));
    let odd_back = packed.iter().filter(|l| odd.contains(&l.key.id.as_str()));
    assert_eq!(odd_back.count(), odd.len());

    let hashes: Vec<(SourceKey, String)> =
        keys.iter().map(|k| (k.clone(), format!("h-{k}"))).collect();
    assert_eq!(
        store.save_snapshots("notion", &hashes, at(1)).await?,
        keys.len()
    );
    // Compared against every stored hash: unchanged writes nothing, one change writes one.
    assert_eq!(store.save_snapshots("notion", &hashes, at(2)).await?, 0);
    let mut changed = hashes.clone();
    changed[12_345].1 = "h-new".to_owned();
    assert_eq!(store.save_snapshots("notion", &changed, at(3)).await?, 1);
    assert_eq!(
        store.save_snapshots("other", &changed[..3], at(4)).await?,
        3
    );
    Ok(())
}

/// A link row of a kind idbridge does not know (a SQLite file edited past its CHECK constraint)
/// fails the read that every plan makes, naming the table and column, as it did when links were
/// read row by row; it is never left out, which would make its person look unlinked.
#[tokio::test]
async fn sqlite_a_link_of_an_unknown_kind_fails_the_read() {
    let test = |ctx: Ctx| async move {
        let ada = SourceKey::new("hr", "E-1");
        let user = link("notion", LinkKind::User, &ada, "u-1", "ada@x", 1);
        ctx.store.upsert_link(&user).await?;
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&ctx.url).await?;
        sqlx::raw_sql(
            "PRAGMA ignore_check_constraints = ON; \
             INSERT INTO links (target_name, kind, source, source_id, scim_id, user_name, state, \
             origin, updated_at) VALUES ('notion', 'User', 'hr', 'E-2', 'u-2', 'bob@x', 'active', \
             'created', '2026-01-01T00:00:00Z')",
        )
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        match ctx.store.plan_links("notion").await {
            Err(Error::Corrupt {
                table,
                column,
                value,
                ..
            }) => {
                assert_eq!((table, column, value.as_str()), ("links", "kind", "User"));
            }
            other => panic!("expected a corrupt kind, got {other:?}"),
        }
        Ok(())
    };
    if let Err(e) = on_sqlite(Setup::Migrated, test).await {
        panic!("{e}");
    }
}

/// A group commit of outcomes is one transaction: an entry that cannot move on fails the whole
/// commit and nothing of it is stored (its entries stay `pending` for the next run to check);
/// otherwise every outcome lands, a missing link's state change is no error, and a link that
/// takes another key's SCIM id says so.
async fn outcomes_commit_together_or_not_at_all(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let run = store.start_run(&new_run("sync", "notion", 0)).await?;
    let a = store
        .journal_pending(&new_op(run, 1, "create-user", "notion", "a@x", 1))
        .await?;
    let b = store
        .journal_pending(&new_op(run, 2, "create-user", "notion", "b@x", 1))
        .await?;
    let (ka, kb) = (SourceKey::new("hr", "a"), SourceKey::new("hr", "b"));
    let done = |id, scim: &str| Outcome::Journal {
        id,
        to: Transition::Done {
            scim_id: Some(scim.into()),
            http_status: None,
        },
        at: at(2),
    };
    let broken = [
        Outcome::Link {
            link: link("notion", LinkKind::User, &ka, "u-a", "a@x", 2),
            change: LinkChange::new("create-user", None),
        },
        done(a, "u-a"),
        done(OperationId(a.0 + 1000), "u-z"),
    ];
    let err = store
        .commit_outcomes(&broken)
        .await
        .err()
        .ok_or("a missing entry must fail the commit")?;
    assert!(matches!(err, Error::OperationNotFound { .. }), "{err}");
    assert!(
        store.links("notion").await?.is_empty(),
        "nothing of a failed commit is stored"
    );
    assert_eq!(
        store.operations(run).await?[0].status,
        OperationStatus::Pending
    );

    let good = [
        Outcome::Link {
            link: link("notion", LinkKind::User, &ka, "u-a", "a@x", 2),
            change: LinkChange::new("create-user", None),
        },
        done(a, "u-a"),
        Outcome::LinkState {
            target_name: "notion".into(),
            kind: LinkKind::User,
            key: SourceKey::new("hr", "nobody"),
            state: LinkState::Deactivated,
            at: at(2),
            change: LinkChange::new("deactivate-user", None),
        },
        // b's create came back with a's id (an existing user): the link follows the write.
        Outcome::Link {
            link: link("notion", LinkKind::User, &kb, "u-a", "b@x", 3),
            change: LinkChange::new("create-user", None),
        },
        Outcome::LinkName {
            target_name: "notion".into(),
            kind: LinkKind::User,
            key: kb.clone(),
            user_name: "b2@x".into(),
            at: at(3),
            change: LinkChange::new("patch-user", None),
        },
        done(b, "u-a"),
    ];
    let moved = store.commit_outcomes(&good).await?;
    assert_eq!(moved.len(), 1);
    assert_eq!((&moved[0].from, &moved[0].link.key), (&ka, &kb));
    let links = store.links("notion").await?;
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].key.clone(), links[0].user_name.as_str()),
        (kb.clone(), "b2@x")
    );
    let ops = store.operations(run).await?;
    assert!(
        ops.iter().all(|o| o.status == OperationStatus::Done),
        "{ops:?}"
    );
    // Done is final: committing it again fails, and nothing else of that commit lands.
    let again = [
        Outcome::Unlink {
            target_name: "notion".into(),
            kind: LinkKind::User,
            key: kb.clone(),
        },
        done(a, "u-a"),
    ];
    assert!(store.commit_outcomes(&again).await.is_err());
    assert_eq!(store.links("notion").await?.len(), 1);
    assert!(store.commit_outcomes(&[]).await?.is_empty());
    Ok(())
}

async fn read_only_store_reads(ctx: Ctx) -> TestResult {
    let rw = &ctx.store;
    let key = SourceKey::new("hr", "E-1");
    let run = rw.start_run(&new_run("sync", "notion", 0)).await?;
    rw.journal_pending(&new_op(run, 1, "create-user", "notion", "a@x", 1))
        .await?;
    rw.upsert_link(&link("notion", LinkKind::User, &key, "u-1", "a@x", 2))
        .await?;
    rw.put_snapshot("notion", &key, "h", at(3)).await?;

    let ro = Store::open_read_only(&ctx.url)
        .await?
        .ok_or("a migrated store must open read-only")?;
    assert!(ro.is_read_only());
    assert_eq!(ro.backend(), rw.backend());
    ro.ping().await?;
    assert_eq!(ro.runs(10).await?.len(), 1);
    assert_eq!(ro.operations(run).await?.len(), 1);
    assert_eq!(ro.unfinished_creates("notion").await?.len(), 1);
    assert_eq!(ro.links("notion").await?.len(), 1);
    assert_eq!(ro.snapshots("notion").await?.len(), 1);

    // Every reader query works through the read-only handle; it has no method that writes
    // (and the database would refuse one: see the store's unit tests).
    assert!(ro.latest_upcoming(None).await?.is_empty());
    assert_eq!(ro.run_targets().await?, vec!["notion".to_owned()]);
    assert!(ro.run(run).await?.is_some());
    assert!(ro.runs_in(&Window::default(), 10).await?.len() == 1);
    assert!(ro.done_operations(&Window::default(), 10).await?.is_empty());
    assert!(ro.prunes(None).await?.is_empty());
    assert!(ro.audit_schema_present().await?);
    assert!(ro.saml_checks(10).await?.is_empty());
    assert_eq!(ro.user_link_states("A@X").await?.len(), 1);
    // A writer hands out the same reads.
    let reader: &idbridge::store::StoreRead = rw.reader();
    assert!(!reader.is_read_only());
    assert_eq!(reader.links("notion").await?, ro.links("notion").await?);
    assert_eq!(ro.links("notion").await?[0].scim_id, ScimId::from("u-1"));
    ro.close().await;
    Ok(())
}

/// A read-only open of a PostgreSQL database that was never created is "no links yet".
#[tokio::test]
async fn postgres_read_only_on_a_missing_database_is_none() -> TestResult {
    let Some(admin_url) = database_url() else {
        return Ok(());
    };
    let name = format!("idbridge_missing_{}", uuid::Uuid::new_v4().simple());
    let url = with_database(&admin_url, &name)?;
    assert!(Store::open_read_only(&url).await?.is_none());
    // Opening for writing does not create databases: that is an error naming the database.
    let err = Store::open(&url)
        .await
        .err()
        .ok_or("a missing database cannot be opened for writing")?;
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&name), "{err}");
    Ok(())
}

async fn read_only_before_migrations_is_none(ctx: Ctx) -> TestResult {
    // The database exists (SQLite: an empty file; PostgreSQL: an empty database) but has no schema.
    assert!(Store::open_read_only(&ctx.url).await?.is_none());
    // And opening it read-only created nothing.
    ctx.store.migrate().await?;
    assert!(Store::open_read_only(&ctx.url).await?.is_some());
    Ok(())
}

/// apply journals with bounded concurrency: parallel writers must not trip over each other.
async fn concurrent_journal_writes(ctx: Ctx) -> TestResult {
    let store = ctx.store.clone();
    let run = store.start_run(&new_run("sync", "notion", 0)).await?;
    let mut tasks = Vec::new();
    for seq in 0..24_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("u{seq}@x");
            let id = store
                .journal_pending(&new_op(run, seq, "create-user", "notion", &user, seq))
                .await?;
            store
                .journal_done(id, Some(&format!("s{seq}")), Some(201), at(100 + seq))
                .await
        }));
    }
    for task in tasks {
        task.await??;
    }
    let ops = store.operations(run).await?;
    assert_eq!(ops.len(), 24);
    assert!(ops.iter().all(|o| o.status == OperationStatus::Done));
    assert_eq!(
        ops.iter().map(|o| o.seq).collect::<Vec<_>>(),
        (0..24).collect::<Vec<_>>()
    );
    Ok(())
}

/// The link written after a successful SCIM write follows the write: an id another key held is
/// moved in one transaction (and the move reported), even with many workers at once.
async fn a_link_after_a_write_takes_over_its_id(ctx: Ctx) -> TestResult {
    let store = ctx.store.clone();
    let old = SourceKey::new("hr", "E-1");
    let new = SourceKey::new("hr", "N-1");
    store
        .upsert_link(&link("notion", LinkKind::User, &old, "u-1", "ada@x", 1))
        .await?;
    let moved = store
        .take_over_link(&link("notion", LinkKind::User, &new, "u-1", "ada@x", 2))
        .await?;
    assert_eq!(moved, Some(old.clone()));
    let links = store.links("notion").await?;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].key, new);
    // Taking over one's own id moves nothing; other targets and kinds are untouched.
    store
        .upsert_link(&link("other", LinkKind::User, &old, "u-1", "ada@x", 3))
        .await?;
    assert_eq!(
        store
            .take_over_link(&link("notion", LinkKind::User, &new, "u-1", "ada@x", 4))
            .await?,
        None
    );
    assert_eq!(store.links("other").await?.len(), 1);
    // Concurrent workers (apply runs creates side by side) never fail on locking.
    let mut tasks = Vec::new();
    for i in 0..16_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let key = SourceKey::new("hr", format!("W-{i}"));
            store
                .take_over_link(&link(
                    "notion",
                    LinkKind::User,
                    &key,
                    &format!("w-{i}"),
                    &format!("w{i}@x"),
                    10 + i,
                ))
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await??, None);
    }
    assert_eq!(store.links("notion").await?.len(), 17);
    Ok(())
}

fn holder(command: &str, pid: u32) -> LockHolder {
    LockHolder {
        command: command.into(),
        pid,
        host: "host-a".into(),
        started_at: at(0),
    }
}

/// One run per store and target: a second taker is refused and told who holds it; another target
/// is independent; releasing (or dropping, as a dying process does) frees it.
async fn run_lock_is_exclusive_per_target(ctx: Ctx) -> TestResult {
    let first = ctx.store.lock_run("notion", &holder("sync", 4242)).await?;
    assert_eq!(first.target_name(), "notion");
    // Another handle, as another process would have.
    let other = Store::open(&ctx.url).await?;
    let err = other
        .lock_run("notion", &holder("apply", 7))
        .await
        .err()
        .ok_or("a second run must not get the lock")?;
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert!(err.is_lock_held() && !err.is_environment());
    let text = err.to_string();
    assert!(
        text.contains("`idbridge sync` (pid 4242 on host host-a, started 2026-11-27T10:00:00Z)"),
        "{text}"
    );
    assert!(
        text.contains("target `notion`") && text.contains("wrote nothing"),
        "{text}"
    );
    // Another target sharing the store runs independently.
    let elsewhere = other.lock_run("other", &holder("sync", 8)).await?;
    first.release().await;
    let second = other.lock_run("notion", &holder("apply", 7)).await?;
    assert_eq!(second.holder().command, "apply");
    drop(second);
    drop(elsewhere);
    let third = ctx.store.lock_run("notion", &holder("sync", 9)).await?;
    third.release().await;
    // The lock needs no schema and writes none: the database is still empty.
    assert!(Store::open_read_only(&ctx.url).await?.is_none());
    other.close().await;
    Ok(())
}

/// Runs left `running` are dead once the lock is ours: each becomes `aborted` with a summary of its
/// journal, its `pending` entries `unknown`; unknown creates are still offered for recovery.
async fn dead_runs_are_aborted_and_their_pending_entries_unknown(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let dead = store.start_run(&new_run("sync", "notion", 0)).await?;
    let done = store
        .journal_pending(&new_op(dead, 0, "create-user", "notion", "a@x", 1))
        .await?;
    store
        .journal_done(done, Some("s-a"), Some(201), at(2))
        .await?;
    let lost = store
        .journal_pending(&new_op(dead, 1, "create-user", "notion", "b@x", 3))
        .await?;
    store
        .journal_pending(&new_op(dead, 2, "deactivate-user", "notion", "c@x", 4))
        .await?;
    let failed = store
        .journal_pending(&new_op(dead, 3, "patch-user", "notion", "d@x", 5))
        .await?;
    store
        .journal_failed(failed, Some(500), "boom", at(6))
        .await?;
    let finished = store.start_run(&new_run("sync", "notion", 10)).await?;
    store
        .finish_run(finished, at(11), RunStatus::Succeeded, "{}")
        .await?;
    let elsewhere = store.start_run(&new_run("sync", "other", 12)).await?;

    let lock = store.lock_run("notion", &holder("sync", 1)).await?;
    let aborted = store.abort_dead_runs(&lock, at(100)).await?;
    assert_eq!(aborted.len(), 1);
    let a = &aborted[0];
    assert_eq!((a.id, a.kind.as_str(), a.started_at), (dead, "sync", at(0)));
    assert_eq!((a.done, a.failed, a.skipped), (1, 1, 0));
    let unknown: Vec<_> = a.unknown.iter().map(|o| (o.seq, o.op.as_str())).collect();
    assert_eq!(unknown, vec![(1, "create-user"), (2, "deactivate-user")]);

    let run = store.run(dead).await?.ok_or("dead run missing")?;
    assert_eq!(run.status, RunStatus::Aborted);
    assert_eq!(run.finished_at, Some(at(100)));
    let summary: serde_json::Value =
        serde_json::from_str(run.summary_json.as_deref().unwrap_or(""))?;
    assert_eq!(
        summary["aborted"]["journal"],
        serde_json::json!({"done": 1, "failed": 1, "skipped": 0, "unknown": 2})
    );
    assert_eq!(summary["aborted"]["foundBy"]["pid"], 1);
    let statuses: Vec<_> = store
        .operations(dead)
        .await?
        .iter()
        .map(|o| o.status)
        .collect();
    use OperationStatus::*;
    assert_eq!(statuses, vec![Done, Unknown, Unknown, Failed]);
    // The other target's run and the finished run are untouched.
    assert_eq!(
        store.run(elsewhere).await?.map(|r| r.status),
        Some(RunStatus::Running)
    );
    assert_eq!(
        store.run(finished).await?.map(|r| r.status),
        Some(RunStatus::Succeeded)
    );
    // A create whose outcome is unknown is looked for in the target by the next plan.
    let creates: Vec<_> = store.unfinished_creates("notion").await?;
    assert_eq!(creates.iter().map(|o| o.id).collect::<Vec<_>>(), vec![lost]);
    // And an unknown entry can still be resolved.
    store.journal_done(lost, Some("s-b"), None, at(101)).await?;
    // Nothing left to close.
    assert!(store.abort_dead_runs(&lock, at(102)).await?.is_empty());
    Ok(())
}

/// Several processes starting on a fresh store at once all end with the schema, none with
/// "table runs already exists".
async fn first_migrations_started_at_once_all_succeed(ctx: Ctx) -> TestResult {
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(Store::open(&ctx.url).await?);
    }
    let mut tasks = Vec::new();
    for store in handles.clone() {
        tasks.push(tokio::spawn(async move { store.migrate().await }));
    }
    for task in tasks {
        task.await??;
    }
    for store in handles {
        assert!(store.runs(1).await?.is_empty());
        store.close().await;
    }
    Ok(())
}

/// Upgrading a store with history to the `aborted`/`unknown` statuses keeps every run and journal
/// entry (SQLite rebuilds both tables), keeps ids from being reused, and keeps the cascade.
async fn the_aborted_status_migration_keeps_history(ctx: Ctx) -> TestResult {
    const BEFORE: i64 = 20261128000100;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&ctx.url).await?;
    let migrator = match ctx.store.backend() {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.run_to(BEFORE, &pool).await?;
    // Written as that schema had them (today's store code writes columns it lacked).
    for (run, target, secs) in [(1i64, "notion", 0), (2, "gone", 2)] {
        sqlx::query(
            "INSERT INTO runs (id, kind, target_name, started_at, status) \
             VALUES ($1, 'sync', $2, $3, 'running')",
        )
        .bind(run)
        .bind(target)
        .bind(at(secs).to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .execute(&pool)
        .await?;
        sqlx::query(
            "INSERT INTO operations (id, run_id, seq, op, target_name, user_name, detail_json, \
             status, created_at, updated_at) VALUES ($1, $1, 0, 'create-user', $2, 'a@x', '[]', \
             'pending', $3, $3)",
        )
        .bind(run)
        .bind(target)
        .bind(at(secs + 1).to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .execute(&pool)
        .await?;
    }
    if ctx.store.backend() == Backend::Postgres {
        // Explicit ids do not move PostgreSQL's sequences; the ones the schema had would.
        sqlx::raw_sql(sqlx::AssertSqlSafe(
            "SELECT setval('runs_id_seq', 2); SELECT setval('operations_id_seq', 2);".to_owned(),
        ))
        .execute(&pool)
        .await?;
    }
    pool.close().await;
    let store = &ctx.store;
    let (old, gone, pending) = (RunId(1), RunId(2), idbridge::store::OperationId(1));

    store.migrate().await?;
    assert_eq!(store.runs(10).await?.len(), 2);
    let ops = store.operations(old).await?;
    assert_eq!(ops.iter().map(|o| o.id).collect::<Vec<_>>(), vec![pending]);
    // The newest run is deleted by hand: its id must still never come back.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&ctx.url).await?;
    sqlx::query("DELETE FROM runs WHERE id = $1")
        .bind(gone.0)
        .execute(&pool)
        .await?;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operations")
        .fetch_one(&pool)
        .await?;
    assert_eq!(left, 1, "deleting a run still deletes its journal");
    pool.close().await;
    let next = store.start_run(&new_run("sync", "notion", 4)).await?;
    assert!(next.0 > gone.0, "run id {next} reused");
    let lock = store.lock_run("notion", &holder("sync", 2)).await?;
    let aborted = store.abort_dead_runs(&lock, at(5)).await?;
    assert_eq!(
        aborted.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![old, next]
    );
    Ok(())
}

/// A run keeps what an auditor asks about it: trigger, host and OS user from its start, the SCIM
/// requests it made, its journal counted by outcome when it ends, and the upcoming events it saw;
/// each journal entry keeps the plan's reason and the planned operation.
async fn runs_keep_their_origin_requests_outcome_and_upcoming(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let run = store
        .start_run(&NewRun {
            plan_sha256: Some("cd".repeat(32)),
            origin: RunOrigin {
                trigger: RunTrigger::ApplyPlan,
                host: "cron-1".into(),
                os_user: "idbridge".into(),
            },
            upcoming_json: Some("[]".into()),
            ..new_run("apply", "notion", 0)
        })
        .await?;
    let fresh = store.run(run).await?.ok_or("run missing")?;
    assert_eq!(fresh.journal, None, "no outcome before the end");
    assert_eq!(fresh.scim, None);
    let a = store
        .journal_pending(&NewOperation {
            planned_json: Some(r#"{"op":"create-user"}"#.into()),
            ..new_op(run, 0, "create-user", "notion", "a@x", 1)
        })
        .await?;
    let b = store
        .journal_pending(&new_op(run, 1, "patch-user", "notion", "b@x", 1))
        .await?;
    store
        .journal_pending(&new_op(run, 2, "patch-user", "notion", "c@x", 1))
        .await?;
    store
        .journal_done(a, Some("id-a"), Some(201), at(2))
        .await?;
    store.journal_failed(b, Some(403), "refused", at(2)).await?;
    store
        .finish_run(run, at(3), RunStatus::Failed, r#"{"create-user":1}"#)
        .await?;
    store
        .record_scim_counts(
            run,
            ScimCounts {
                requests: 9,
                retries: 2,
                throttled: 1,
            },
        )
        .await?;
    let record = store.run(run).await?.ok_or("run missing")?;
    let origin = record.origin.ok_or("origin missing")?;
    assert_eq!(origin.trigger, RunTrigger::ApplyPlan);
    assert_eq!(
        (origin.host.as_str(), origin.os_user.as_str()),
        ("cron-1", "idbridge")
    );
    let journal = record.journal.ok_or("counts missing")?;
    assert_eq!(
        (
            journal.done,
            journal.failed,
            journal.skipped,
            journal.unknown
        ),
        (1, 1, 0, 0),
        "the pending one is none of these"
    );
    let scim = record.scim.ok_or("requests missing")?;
    assert_eq!((scim.requests, scim.retries, scim.throttled), (9, 2, 1));
    assert_eq!(record.upcoming_json.as_deref(), Some("[]"));
    assert_eq!(record.pruned_at, None);
    let ops = store.operations(run).await?;
    assert_eq!(ops[0].reason.as_deref(), Some("hr: a@x (hr.csv line 0)"));
    assert_eq!(
        ops[0].planned_json.as_deref(),
        Some(r#"{"op":"create-user"}"#)
    );
    assert_eq!(ops[1].planned_json, None);
    let missing = RunId(run.0 + 100);
    let err = store
        .record_scim_counts(missing, ScimCounts::default())
        .await
        .err()
        .ok_or("a missing run must be an error")?;
    assert!(matches!(err, Error::RunNotFound { .. }), "{err:?}");
    Ok(())
}

/// The queries behind `report runs`, `changes` and `upcoming`: by time window (since inclusive,
/// until exclusive) and target, done operations by when they were done, and the latest run of
/// each target that recorded upcoming events.
async fn report_queries_filter_by_time_and_target(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let with_upcoming = |kind: &str, target: &str, secs: i64, json: Option<&str>| NewRun {
        upcoming_json: json.map(str::to_owned),
        ..new_run(kind, target, secs)
    };
    let r1 = store
        .start_run(&with_upcoming("sync", "notion", 0, Some(r#"["old"]"#)))
        .await?;
    let r2 = store
        .start_run(&with_upcoming("sync", "notion", 100, Some(r#"["new"]"#)))
        .await?;
    let r3 = store
        .start_run(&with_upcoming("apply", "notion", 200, None))
        .await?;
    let other = store
        .start_run(&with_upcoming("sync", "other", 150, Some("[]")))
        .await?;
    for (run, secs) in [(r1, 10), (r2, 110), (r3, 210), (other, 160)] {
        let op = store
            .journal_pending(&new_op(run, 0, "patch-user", "notion", "a@x", secs))
            .await?;
        store.journal_done(op, None, None, at(secs + 1)).await?;
        let failed = store
            .journal_pending(&new_op(run, 1, "patch-user", "notion", "b@x", secs))
            .await?;
        store
            .journal_failed(failed, None, "no", at(secs + 1))
            .await?;
    }
    let ids = |runs: Vec<idbridge::store::RunRecord>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
    let all = Window::default();
    // Newest first by id (the order they started in, right even when `--now` pins the clock).
    assert_eq!(ids(store.runs_in(&all, 10).await?), vec![other, r3, r2, r1]);
    assert_eq!(ids(store.runs_in(&all, 2).await?), vec![other, r3]);
    let window = Window {
        since: Some(at(100)),
        until: Some(at(200)),
        target_name: None,
    };
    assert_eq!(ids(store.runs_in(&window, 10).await?), vec![other, r2]);
    let notion = Window {
        target_name: Some("notion".into()),
        ..window.clone()
    };
    assert_eq!(ids(store.runs_in(&notion, 10).await?), vec![r2]);

    let done = store.done_operations(&window, 10).await?;
    assert_eq!(
        done.iter()
            .map(|o| (o.run_id, o.status))
            .collect::<Vec<_>>(),
        vec![(r2, OperationStatus::Done), (other, OperationStatus::Done)],
        "done only, oldest first, by when they were done"
    );
    assert_eq!(store.done_operations(&all, 3).await?.len(), 3, "bounded");

    let latest = store.latest_upcoming(None).await?;
    assert_eq!(ids(latest.clone()), vec![r2, other]);
    assert_eq!(latest[0].upcoming_json.as_deref(), Some(r#"["new"]"#));
    assert_eq!(
        ids(store.latest_upcoming(Some("other")).await?),
        vec![other]
    );
    assert_eq!(store.run_targets().await?, vec!["notion", "other"]);
    Ok(())
}

/// The HTML report's chart: operations done, counted per UTC day (by when they were done, not
/// when they were journaled) and kind, for one target or all, within the window.
async fn daily_operations_count_done_work_per_utc_day_and_kind(ctx: Ctx) -> TestResult {
    const DAY: i64 = 86_400;
    let store = &ctx.store;
    let run = store.start_run(&new_run("sync", "notion", 0)).await?;
    let other = store.start_run(&new_run("sync", "other", 0)).await?;
    // 2026-11-27T10:00Z + 14h is 2026-11-28T00:00Z: journaled on the 27th, done on the 28th.
    let entries = [
        (run, "create-user", "notion", 0, 1),
        (run, "create-user", "notion", 0, 2),
        (run, "patch-user", "notion", 0, 3),
        (run, "create-user", "notion", 13 * 3_600, 14 * 3_600),
        (run, "deactivate-user", "notion", 2 * DAY, 2 * DAY),
        (other, "create-user", "other", 0, 5),
    ];
    for (seq, (run, op, target, journaled, done)) in entries.into_iter().enumerate() {
        let id = store
            .journal_pending(&new_op(run, seq as i64, op, target, "a@x", journaled))
            .await?;
        store.journal_done(id, None, None, at(done)).await?;
    }
    let failed = store
        .journal_pending(&new_op(run, 9, "patch-user", "notion", "b@x", 0))
        .await?;
    store.journal_failed(failed, None, "no", at(1)).await?;

    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    let counts = |rows: Vec<idbridge::store::DailyOps>| {
        rows.into_iter()
            .map(|r| (r.day, r.op, r.count))
            .collect::<Vec<_>>()
    };
    let notion = Window {
        target_name: Some("notion".into()),
        ..Window::default()
    };
    assert_eq!(
        counts(store.daily_operations(&notion, 100).await?),
        vec![
            (day("2026-11-27"), "create-user".to_owned(), 2),
            (day("2026-11-27"), "patch-user".to_owned(), 1),
            (day("2026-11-28"), "create-user".to_owned(), 1),
            (day("2026-11-29"), "deactivate-user".to_owned(), 1),
        ],
        "done only, per UTC day of when it was done, then per kind"
    );
    let all = counts(store.daily_operations(&Window::default(), 100).await?);
    assert_eq!(all[0], (day("2026-11-27"), "create-user".to_owned(), 3));
    let window = Window {
        since: Some(at(14 * 3_600)),
        until: Some(at(2 * DAY)),
        target_name: None,
    };
    assert_eq!(
        counts(store.daily_operations(&window, 100).await?),
        vec![(day("2026-11-28"), "create-user".to_owned(), 1)]
    );
    assert_eq!(
        store.daily_operations(&notion, 2).await?.len(),
        2,
        "bounded"
    );
    Ok(())
}

fn prune_request(cutoff: i64, at_secs: i64) -> PruneRequest {
    PruneRequest {
        cutoff: at(cutoff),
        at: at(at_secs),
        reason: PruneReason::ReportPrune,
        host: "host-a".into(),
        os_user: "auditor".into(),
    }
}

/// A prune deletes the journal of the lock's target's runs that finished before the cutoff,
/// except creates a later run still needs; the runs stay (marked, counts kept, upcoming events
/// dropped), and a record says who pruned what and when. Nothing old enough: nothing recorded.
async fn pruning_deletes_old_journals_but_keeps_runs_needed_entries_and_a_record(
    ctx: Ctx,
) -> TestResult {
    let store = &ctx.store;
    let old = store
        .start_run(&NewRun {
            upcoming_json: Some("[]".into()),
            ..new_run("sync", "notion", 0)
        })
        .await?;
    let done = store
        .journal_pending(&new_op(old, 0, "patch-user", "notion", "a@x", 1))
        .await?;
    store.journal_done(done, None, None, at(2)).await?;
    let lost = store
        .journal_pending(&new_op(old, 1, "create-user", "notion", "b@x", 1))
        .await?;
    store
        .journal_failed(lost, None, "reply lost", at(2))
        .await?;
    let refused = store
        .journal_pending(&new_op(old, 2, "patch-user", "notion", "c@x", 1))
        .await?;
    store
        .journal_failed(refused, Some(400), "bad", at(2))
        .await?;
    store
        .finish_run(
            old,
            at(3),
            RunStatus::Failed,
            r#"{"patch-user":2,"create-user":1}"#,
        )
        .await?;
    let recent = store.start_run(&new_run("sync", "notion", 50)).await?;
    store
        .journal_pending(&new_op(recent, 0, "patch-user", "notion", "a@x", 51))
        .await?;
    store
        .finish_run(recent, at(60), RunStatus::Succeeded, "{}")
        .await?;
    let elsewhere = store.start_run(&new_run("sync", "other", 0)).await?;
    store
        .journal_pending(&new_op(elsewhere, 0, "patch-user", "other", "a@x", 1))
        .await?;
    store
        .finish_run(elsewhere, at(3), RunStatus::Succeeded, "{}")
        .await?;

    let lock = store.lock_run("notion", &holder("report prune", 1)).await?;
    let record = store
        .prune(&lock, &prune_request(10, 100))
        .await?
        .ok_or("the old run must be pruned")?;
    assert_eq!((record.runs, record.operations, record.kept), (1, 2, 1));
    assert_eq!(record.reason, PruneReason::ReportPrune);
    assert_eq!(record.os_user.as_deref(), Some("auditor"));

    let ops = store.operations(old).await?;
    assert_eq!(
        ops.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![lost],
        "the lost create stays"
    );
    assert_eq!(store.unfinished_creates("notion").await?.len(), 1);
    let run = store.run(old).await?.ok_or("the run row stays")?;
    assert_eq!(run.pruned_at, Some(at(100)));
    assert_eq!(
        run.upcoming_json, None,
        "personal data goes with the journal"
    );
    let counts = run.journal.ok_or("counts stay")?;
    assert_eq!((counts.done, counts.failed), (1, 2));
    assert_eq!(
        store.operations(recent).await?.len(),
        1,
        "newer runs untouched"
    );
    assert_eq!(
        store.operations(elsewhere).await?.len(),
        1,
        "other targets untouched"
    );

    assert_eq!(
        store.prune(&lock, &prune_request(10, 200)).await?,
        None,
        "nothing left"
    );
    let prunes = store.prunes(None).await?;
    assert_eq!(prunes, vec![record]);
    assert!(store.prunes(Some("other")).await?.is_empty());
    Ok(())
}

/// Upgrading a store with history to the audit schema keeps every run and journal entry and counts
/// each finished run's journal into its row, so old runs report their outcome too.
async fn the_audit_migration_keeps_history_and_counts_it(ctx: Ctx) -> TestResult {
    const BEFORE: i64 = 20261201000000;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&ctx.url).await?;
    let migrator = match ctx.store.backend() {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.run_to(BEFORE, &pool).await?;
    assert!(!ctx.store.audit_schema_present().await?);
    // Written as the old schema had them.
    sqlx::query(
        "INSERT INTO runs (id, kind, target_name, started_at, finished_at, status, summary_json) \
         VALUES (1, 'sync', 'notion', '2026-11-27T10:00:00.000000Z', \
         '2026-11-27T10:00:01.000000Z', 'failed', '{}'), \
         (2, 'sync', 'notion', '2026-11-27T10:00:02.000000Z', NULL, 'running', NULL)",
    )
    .execute(&pool)
    .await?;
    for (id, run, status) in [
        (1i64, 1i64, "done"),
        (2, 1, "done"),
        (3, 1, "failed"),
        (4, 2, "pending"),
    ] {
        sqlx::query(
            "INSERT INTO operations (id, run_id, seq, op, target_name, detail_json, status, \
             created_at, updated_at) VALUES ($1, $2, 0, 'patch-user', 'notion', '[]', $3, \
             '2026-11-27T10:00:00.000000Z', '2026-11-27T10:00:00.000000Z')",
        )
        .bind(id)
        .bind(run)
        .bind(status)
        .execute(&pool)
        .await?;
    }
    pool.close().await;
    let store = &ctx.store;
    store.migrate().await?;
    assert!(store.audit_schema_present().await?);
    let finished = store.run(RunId(1)).await?.ok_or("run 1 kept")?;
    let counts = finished.journal.ok_or("counted")?;
    assert_eq!((counts.done, counts.failed, counts.skipped), (2, 1, 0));
    assert_eq!(finished.origin, None, "not recorded then");
    let running = store.run(RunId(2)).await?.ok_or("run 2 kept")?;
    assert_eq!(
        running.journal, None,
        "a running run is counted when it ends"
    );
    let ops = store.operations(RunId(1)).await?;
    assert_eq!(ops.len(), 3);
    assert!(ops.iter().all(|o| o.reason.is_none()));
    Ok(())
}

// ---- backend-specific tests ----

/// The SQLite run lock is a `flock` on a file beside the database, holding the holder's record
/// while it is held and nothing after: a stale record never names a run that has ended.
#[tokio::test]
async fn sqlite_run_lock_file_names_only_a_live_holder() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("store.db");
    let store = Store::open(&format!("sqlite://{}?mode=rwc", db.display())).await?;
    let lock_file = dir.path().join("store.db.run-notion.lock");
    let lock = store.lock_run("notion", &holder("sync", 4242)).await?;
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lock_file)?)?;
    assert_eq!(record["pid"], 4242);
    assert_eq!(record["command"], "sync");
    lock.release().await;
    assert_eq!(std::fs::read_to_string(&lock_file)?, "");
    // Any process holding the file lock holds the run lock, recorded or not.
    let other = std::fs::File::open(&lock_file)?;
    other.try_lock()?;
    let err = store
        .lock_run("notion", &holder("apply", 7))
        .await
        .err()
        .ok_or("a flock held elsewhere must be respected")?;
    let text = err.to_string();
    assert!(
        text.contains("has not recorded who it is") && !text.contains("4242"),
        "{text}"
    );
    drop(other);
    store
        .lock_run("notion", &holder("apply", 7))
        .await?
        .release()
        .await;
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn sqlite_read_only_on_a_missing_file_is_none_and_creates_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("never.db");
    for url in [
        format!("sqlite://{}?mode=rwc", path.display()),
        format!("sqlite://{}", path.display()),
        format!("sqlite:{}", path.display()),
        path.display().to_string(),
    ] {
        assert!(Store::open_read_only(&url).await?.is_none(), "{url}");
        assert!(!path.exists(), "{url} created the file");
    }
    assert_eq!(
        std::fs::read_dir(dir.path())?.count(),
        0,
        "nothing at all was created"
    );
    Ok(())
}

#[tokio::test]
async fn sqlite_plain_paths_are_created_on_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (url, file) in [
        (
            dir.path().join("plain.db").display().to_string(),
            "plain.db",
        ),
        (
            format!("sqlite:{}", dir.path().join("colon.db").display()),
            "colon.db",
        ),
        (
            format!("sqlite://{}", dir.path().join("slashes.db").display()),
            "slashes.db",
        ),
    ] {
        let store = Store::open(&url).await?;
        store.migrate().await?;
        let run = store.start_run(&new_run("demo", "notion", 0)).await?;
        store.close().await;
        assert!(dir.path().join(file).exists(), "{url}");
        let ro = Store::open_read_only(&url)
            .await?
            .ok_or("read-only reopen")?;
        assert_eq!(ro.runs(5).await?[0].id, run);
        ro.close().await;
    }
    Ok(())
}

/// `sqlite::memory:` (documented in docs/config.md) opens, migrates and keeps what it is given.
#[tokio::test]
async fn sqlite_in_memory_stores_open_and_keep_their_data() -> TestResult {
    for url in [
        "sqlite::memory:",
        ":memory:",
        "sqlite://idbridge-mem?mode=memory",
    ] {
        let store = Store::open(url).await.map_err(|e| format!("{url}: {e}"))?;
        store.migrate().await?;
        let run = store.start_run(&new_run("demo", "notion", 0)).await?;
        assert_eq!(store.runs(5).await?[0].id, run, "{url}");
        // Nothing to read from a fresh in-memory database opened again.
        assert!(Store::open_read_only(url).await?.is_none(), "{url}");
        store.close().await;
    }
    Ok(())
}

/// A folder whose name looks like a percent-escape is that folder, never a decoded one.
#[tokio::test]
async fn sqlite_paths_that_look_escaped_are_taken_literally() -> TestResult {
    let dir = tempfile::tempdir()?;
    let folder = dir.path().join("a%41 b?#");
    std::fs::create_dir(&folder)?;
    let path = folder.join("x.db");
    let store = Store::open(&path.display().to_string()).await?;
    store.migrate().await?;
    store.close().await;
    assert!(path.exists(), "the store is in {}", folder.display());
    assert!(!dir.path().join("aA b?#").exists());
    let url = idbridge::store::resolve_path("sqlite://x.db?mode=rwc", &folder)
        .ok_or("the folder is UTF-8")?;
    let ro = Store::open_read_only(&url)
        .await?
        .ok_or("the anchored URL names the same file")?;
    assert!(ro.runs(5).await?.is_empty());
    ro.close().await;
    Ok(())
}

#[tokio::test]
async fn unsupported_urls_are_rejected_clearly() -> TestResult {
    let err = Store::open("mysql://root:SeCrEtPw@localhost/db")
        .await
        .err()
        .ok_or("mysql is not supported")?;
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("SeCrEtPw"), "{text}");
    assert!(text.contains("root:***@"), "{text}");
    Ok(())
}

/// A password in the URL never shows in an error's Display or Debug, nor in a store's Debug.
#[tokio::test]
async fn postgres_password_never_appears_in_errors() -> TestResult {
    const SECRET: &str = "SeCrEtPw";
    for url in [
        format!("postgres://postgres:{SECRET}@127.0.0.1:1/x"),
        format!("postgres://postgres@127.0.0.1:1/x?password={SECRET}"),
        format!("postgres://postgres:{SECRET}@127.0.0.1:notaport/x"),
    ] {
        let err = Store::open(&url).await.err().ok_or("port 1 must refuse")?;
        let text = format!("{err}\n{err:?}");
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("***"), "the redacted URL is named: {text}");
        let err = Store::open_read_only(&url)
            .await
            .err()
            .ok_or("port 1 must refuse")?;
        let text = format!("{err}\n{err:?}");
        assert!(!text.contains(SECRET), "{text}");
    }

    // Against a real server (trust auth ignores the password; otherwise the error must hide it).
    let Some(admin_url) = database_url() else {
        return Ok(());
    };
    let mut url = url::Url::parse(&admin_url)?;
    if url.password().is_some() {
        return Ok(()); // a real password: do not replace it
    }
    url.set_password(Some(SECRET))
        .map_err(|()| "cannot set a password")?;
    match Store::open(url.as_str()).await {
        Ok(store) => {
            let text = format!("{store:?}");
            assert!(!text.contains(SECRET), "{text}");
            assert!(store.redacted_url().contains("***"));
            // The admin database usually has no idbridge tables: the query error names the URL.
            if let Err(err) = store.run(RunId(-1)).await {
                let text = format!("{err}\n{err:?}");
                assert!(!text.contains(SECRET), "{text}");
            }
            store.close().await;
        }
        Err(err) => {
            let text = format!("{err}\n{err:?}");
            assert!(!text.contains(SECRET), "{text}");
        }
    }
    Ok(())
}

/// Every variant of every stored enum, written through the store, passes the migrations' CHECK
/// constraints and reads back as itself: the enums' derived spellings are the schema's.
async fn every_stored_spelling_passes_the_schema_and_reads_back(ctx: Ctx) -> TestResult {
    use strum::IntoEnumIterator;
    let store = &ctx.store;
    for (i, (trigger, status)) in RunTrigger::iter()
        .zip(RunStatus::iter().cycle())
        .enumerate()
    {
        let secs = i64::try_from(i)?;
        let mut run = new_run("sync", "spelled", secs);
        run.origin.trigger = trigger;
        let id = store.start_run(&run).await?;
        store.finish_run(id, at(secs + 1), status, "{}").await?;
        let back = store.run(id).await?.ok_or("the run is there")?;
        assert_eq!(back.origin.map(|o| o.trigger), Some(trigger));
        assert_eq!(back.status, status);
    }
    // Statuses beyond the triggers' count, on runs of their own.
    for status in RunStatus::iter() {
        let id = store.start_run(&new_run("sync", "statuses", 0)).await?;
        store.finish_run(id, at(1), status, "{}").await?;
        assert_eq!(store.run(id).await?.map(|r| r.status), Some(status));
    }

    let mut n = 0;
    for kind in LinkKind::iter() {
        for state in LinkState::iter() {
            for origin in LinkOrigin::iter() {
                n += 1;
                let key = SourceKey::new("hr", format!("E-{n}"));
                let mut l = link("spelled", kind, &key, &format!("u-{n}"), "x@y", n);
                l.state = state;
                l.origin = origin;
                store.upsert_link(&l).await?;
            }
        }
    }
    let links = store.links("spelled").await?;
    assert_eq!(links.len(), 12);
    for kind in LinkKind::iter() {
        for state in LinkState::iter() {
            for origin in LinkOrigin::iter() {
                let found = links
                    .iter()
                    .any(|l| l.kind == kind && l.state == state && l.origin == origin);
                assert!(found, "{kind} {state} {origin}");
            }
        }
    }

    // Journal: pending, then each final status; `unknown` when a dead run is closed out.
    let run = store.start_run(&new_run("sync", "journal", 0)).await?;
    let done = store
        .journal_pending(&new_op(run, 1, "create-user", "journal", "a@x", 1))
        .await?;
    let failed = store
        .journal_pending(&new_op(run, 2, "create-user", "journal", "b@x", 1))
        .await?;
    let skipped = store
        .journal_pending(&new_op(run, 3, "create-user", "journal", "c@x", 1))
        .await?;
    store
        .journal_pending(&new_op(run, 4, "create-user", "journal", "d@x", 1))
        .await?;
    store.journal_done(done, None, Some(201), at(2)).await?;
    store
        .journal_failed(failed, Some(500), "boom", at(2))
        .await?;
    store.journal_skipped(skipped, "held", at(2)).await?;
    let pending: Vec<OperationStatus> = store
        .operations(run)
        .await?
        .iter()
        .map(|o| o.status)
        .collect();
    assert_eq!(
        pending,
        [
            OperationStatus::Done,
            OperationStatus::Failed,
            OperationStatus::Skipped,
            OperationStatus::Pending
        ]
    );
    let lock = store.lock_run("journal", &holder("sync", 1)).await?;
    store.abort_dead_runs(&lock, at(3)).await?;
    let statuses: Vec<OperationStatus> = store
        .operations(run)
        .await?
        .iter()
        .map(|o| o.status)
        .collect();
    let all: Vec<OperationStatus> = OperationStatus::iter()
        .filter(|s| *s != OperationStatus::Pending)
        .collect();
    assert_eq!(statuses, all);
    lock.release().await;

    // Prunes, one per reason.
    for reason in PruneReason::iter() {
        let target = format!("prune-{reason}");
        let id = store.start_run(&new_run("sync", &target, 0)).await?;
        store
            .finish_run(id, at(1), RunStatus::Succeeded, "{}")
            .await?;
        let lock = store.lock_run(&target, &holder("report prune", 1)).await?;
        let request = PruneRequest {
            cutoff: at(10),
            at: at(10),
            reason,
            host: "h".into(),
            os_user: "u".into(),
        };
        let record = store
            .prune(&lock, &request)
            .await?
            .ok_or("one run to prune")?;
        assert_eq!(record.reason, reason);
        let stored = store.prunes(Some(&target)).await?;
        assert_eq!(
            stored.iter().map(|p| p.reason).collect::<Vec<_>>(),
            [reason]
        );
        lock.release().await;
    }
    Ok(())
}

/// A store migrated before the certificates column is "older" for the reports (they ask for
/// `idbridge migrate`); migrated, it keeps the checks recorded before and stores a metadata
/// check's certificates.
async fn saml_checks_keep_certificates_after_the_migration(ctx: Ctx) -> TestResult {
    const BEFORE: i64 = 20261210000000;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&ctx.url).await?;
    let migrator = match ctx.store.backend() {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.run_to(BEFORE, &pool).await?;
    assert!(!ctx.store.audit_schema_present().await?);
    sqlx::query(
        "INSERT INTO saml_checks (kind, subject, verdict, findings_json, checked_at) \
         VALUES ('response', 'a@x', 'accept', '[]', '2026-11-27T10:00:00.000000Z')",
    )
    .execute(&pool)
    .await?;
    pool.close().await;
    let store = &ctx.store;
    store.migrate().await?;
    assert!(store.audit_schema_present().await?);
    let certs =
        r#"[{"use":"signing","sha256":"ab","notAfter":"2040-01-01T00:00:00Z","keyBits":2048}]"#;
    store
        .record_saml_check(
            "metadata",
            Some("https://idp"),
            "accept",
            "[]",
            Some(certs),
            at(5),
        )
        .await?;
    let history = store.saml_checks(10).await?;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].certificates_json.as_deref(), Some(certs));
    assert_eq!(history[1].certificates_json, None, "recorded before");
    Ok(())
}

async fn alert_state_is_one_row_per_target_condition_and_sink(ctx: Ctx) -> TestResult {
    use idbridge::store::AlertState;
    let store = &ctx.store;
    let raised = AlertState {
        target_name: "notion".into(),
        condition: "token-revoked".into(),
        sink: "webhook".into(),
        raised_at: at(0),
        run_id: Some(4),
        message: "the target refused the token".into(),
        raised_sent_at: None,
        cleared_at: None,
        cleared_sent_at: None,
        attempts: 1,
        last_error: Some("the alert webhook (URL from the file /x): answered HTTP 500".into()),
    };
    store.put_alert_state(&raised).await?;
    store
        .put_alert_state(&AlertState {
            target_name: "other".into(),
            ..raised.clone()
        })
        .await?;
    assert_eq!(store.alert_states("notion").await?, vec![raised.clone()]);
    // The same key again replaces the row: one episode per condition and sink.
    let cleared = AlertState {
        raised_sent_at: Some(at(10)),
        cleared_at: Some(at(60)),
        cleared_sent_at: Some(at(61)),
        attempts: 0,
        last_error: None,
        run_id: None,
        ..raised.clone()
    };
    store.put_alert_state(&cleared).await?;
    let held = AlertState {
        condition: "plan-held".into(),
        ..raised.clone()
    };
    store.put_alert_state(&held).await?;
    assert_eq!(store.alert_states("notion").await?, vec![held, cleared]);
    // A read-only handle reads it too (the reports may show it one day).
    let reader = Store::open_read_only(&ctx.url).await?.ok_or("no store")?;
    assert_eq!(reader.alert_states("notion").await?.len(), 2);
    reader.close().await;
    Ok(())
}

fn write(
    scim: &str,
    attr: &str,
    sent: Option<&str>,
    outcome: WriteOutcome,
    secs: i64,
) -> WriteRecord {
    WriteRecord {
        target_name: "notion".into(),
        scim_id: ScimId(scim.into()),
        attr: attr.into(),
        sent: sent.map(str::to_owned),
        outcome,
        read_back: None,
        reason: None,
        http_status: None,
        user_name: "x@other.test".into(),
        source_key: Some("hr:E1".into()),
        run_id: None,
        recorded_at: at(secs),
    }
}

/// One row per (user, attribute): a newer outcome replaces the older one, whatever it sent; every
/// outcome spelling and a removal (`sent: None`) read back as written; targets stay apart.
async fn write_outcomes_keep_the_last_patch_of_each_attribute(ctx: Ctx) -> TestResult {
    let store = &ctx.store;
    let run = store.start_run(&new_run("sync", "notion", 0)).await?;
    let refused = WriteRecord {
        reason: Some("x@other.test is not in a verified domain".into()),
        http_status: Some(403),
        run_id: Some(run),
        ..write(
            "u1",
            "name.givenName",
            Some("Xav"),
            WriteOutcome::Refused,
            1,
        )
    };
    store.record_write(&refused).await?;
    store
        .record_write(&write(
            "u1",
            "title",
            Some("Lead"),
            WriteOutcome::Applied,
            2,
        ))
        .await?;
    let applied = WriteRecord {
        read_back: Some("lead".into()),
        ..write("u1", "title", Some("Boss"), WriteOutcome::Applied, 3)
    };
    store.record_write(&applied).await?;
    store
        .record_write(&write("u2", "title", None, WriteOutcome::Applied, 4))
        .await?;
    let mut other = write("u1", "title", Some("X"), WriteOutcome::Refused, 5);
    other.target_name = "other".into();
    store.record_write(&other).await?;

    let rows = store.write_outcomes("notion").await?;
    assert_eq!(
        rows,
        vec![
            refused,
            applied,
            write("u2", "title", None, WriteOutcome::Applied, 4)
        ]
    );
    assert_eq!(store.write_outcomes("other").await?, vec![other]);
    Ok(())
}

/// Every link change is appended to the history with what it was before, the cause and the run
/// (nothing when nothing changed); a `same` confirmation moves the former link to the new key in
/// the same transaction and is marked acted on once; `new` moves nothing. Both decisions' spellings
/// pass the schema.
async fn link_changes_are_kept_and_confirmations_move_links(ctx: Ctx) -> TestResult {
    use idbridge::store::{Decision, LinkChange, NewConfirmation, RunId};
    let store = &ctx.store;
    let (e2, n7) = (SourceKey::new("hr", "E2"), SourceKey::new("hr", "N7"));
    let run = Some(RunId(5));
    let first = link("t", LinkKind::User, &e2, "u-2", "bob@x", 1);
    store
        .save_link(&first, &LinkChange::new("create-user", run))
        .await?;
    store
        .save_link(&first, &LinkChange::new("patch-user", run))
        .await?;
    let renamed = link("t", LinkKind::User, &e2, "u-2", "rob@x", 2);
    store
        .save_link(&renamed, &LinkChange::new("patch-user", run))
        .await?;
    store
        .set_link_state_logged(
            ("t", LinkKind::User, &e2),
            LinkState::Deactivated,
            at(3),
            &LinkChange::new("deactivate-user", run),
        )
        .await?;
    let confirmation = |decision| NewConfirmation {
        target_name: "t".into(),
        user_name: "rob@x".into(),
        key: n7.clone(),
        former_key: e2.clone(),
        former_scim_id: ScimId::from("u-2"),
        decision,
        note: Some("ticket 42".into()),
        host: "h".into(),
        os_user: "alice".into(),
        at: at(4),
    };
    let new = store.confirm(&confirmation(Decision::New)).await?;
    assert_eq!(store.links("t").await?[0].key, e2, "`new` moves nothing");
    let same = store.confirm(&confirmation(Decision::Same)).await?;
    let links = store.links("t").await?;
    assert_eq!(links.len(), 1);
    assert_eq!(
        (&links[0].key, links[0].state),
        (&n7, LinkState::Deactivated)
    );
    store.consume_confirmation(same, RunId(6), at(5)).await?;
    store.consume_confirmation(same, RunId(7), at(6)).await?;

    let history = store.link_history("t", LinkKind::User).await?;
    type Row = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = history
        .iter()
        .map(|h| {
            let after = h
                .after
                .as_ref()
                .map(|a| (a.user_name.clone(), a.state.to_string()));
            let (name, state) = after.unwrap_or_default();
            (
                h.cause.clone(),
                name,
                state,
                h.before.as_ref().map(|b| b.user_name.clone()),
                h.previous_key.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    let s = |v: &str| v.to_owned();
    assert_eq!(
        rows,
        [
            (s("create-user"), s("bob@x"), s("active"), None, None),
            (
                s("patch-user"),
                s("rob@x"),
                s("active"),
                Some(s("bob@x")),
                None
            ),
            (
                s("deactivate-user"),
                s("rob@x"),
                s("deactivated"),
                Some(s("rob@x")),
                None
            ),
            (
                s("confirm"),
                s("rob@x"),
                s("deactivated"),
                Some(s("rob@x")),
                Some(s("hr:E2"))
            ),
        ]
    );
    assert_eq!(history[3].key, n7);
    assert_eq!(history[0].run_id, run);
    let decisions = store.confirmations("t").await?;
    assert_eq!(decisions.len(), 2);
    assert_eq!(
        (decisions[0].id, decisions[0].what.decision),
        (new, Decision::New)
    );
    assert_eq!(decisions[0].consumed_run_id, None);
    assert_eq!(
        decisions[1].consumed_run_id,
        Some(RunId(6)),
        "acted on once"
    );
    assert_eq!(decisions[1].what.note.as_deref(), Some("ticket 42"));
    Ok(())
}
