//! End-to-end: the `idbridge` binary against the emulator over HTTP, with a SQLite (and one
//! PostgreSQL) store: create, patch, deactivate, re-add, idempotence, saved plans, guardrails,
//! bad rows, throttling and faults, lost replies and crashes.

use crate::support::{row, Workspace, NO_GRACE, OWNER, TOKEN};
use idbridge::emulator::{Fault, FaultKind, Profile, RateLimit, SeedUser, Switches};
use idbridge::store::{NewOperation, NewRun, RunOrigin, RunTrigger, Store};

fn ops(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["op"].as_str().unwrap().to_owned(),
                o["userName"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_creates_patches_deactivates_readds_and_is_idempotent() {
    let ws = Workspace::notion_like().await;
    ws.hr(&[
        &row("E1", "Ada", "Engineer", "active"),
        &row("E2", "Bob", "Designer", "active"),
        &row("E3", "Cy", "PM", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        ws.active_names(),
        ["ada@acme.test", "bob@acme.test", "cy@acme.test", OWNER]
    );
    let ada = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "ada@acme.test")
        .unwrap();
    assert_eq!(ada.title.as_deref(), Some("Engineer"));
    assert_eq!(ada.department.as_deref(), Some("Eng"));
    assert_eq!(ada.employee_number.as_deref(), Some("E1"));

    // A second sync with no source change makes zero write calls.
    let writes = ws.emu.write_count();
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert!(ops(&plan).is_empty(), "{plan}");
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "an unchanged source must make no writes"
    );

    // Promotion and a leaver: one patch of one attribute, one deactivation.
    ws.hr(&[
        &row("E1", "Ada", "Lead", "active"),
        &row("E2", "Bob", "Designer", "terminated"),
        &row("E3", "Cy", "PM", "active"),
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        ops(&plan),
        pairs(&[
            ("patch-user", "ada@acme.test"),
            ("deactivate-user", "bob@acme.test")
        ])
    );
    let patch = &plan["operations"][0];
    assert_eq!(
        patch["changes"],
        serde_json::json!([{ "attr": "title", "before": "Engineer", "after": "Lead" }])
    );
    assert_eq!(patch["reason"], "hr: title=Lead (hr.csv line 2)", "{patch}");
    assert!(plan["operations"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("status=terminated"));
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names(), ["ada@acme.test", "cy@acme.test", OWNER]);

    // The leaver returns: re-added with a POST of the same email.
    ws.hr(&[
        &row("E1", "Ada", "Lead", "active"),
        &row("E2", "Bob", "Designer", "active"),
        &row("E3", "Cy", "PM", "active"),
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(ops(&plan), pairs(&[("readd-user", "bob@acme.test")]));
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        ws.active_names(),
        ["ada@acme.test", "bob@acme.test", "cy@acme.test", OWNER]
    );
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes);
}

#[tokio::test(flavor = "multi_thread")]
async fn readd_stores_the_new_id_when_notion_issues_one() {
    let ws = Workspace::notion_like().await;
    ws.emu.set_switches(Switches {
        readd_keeps_id: false,
        ..Switches::default()
    });
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let old = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "bob@acme.test")
        .unwrap()
        .id;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "terminated"),
    ]);
    ws.idbridge(&["sync", "--yes", "--force"]).await.expect(0);
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let new = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "bob@acme.test" && m.active)
        .unwrap()
        .id;
    assert_ne!(old, new);
    let store = Store::open(&ws.store_url).await.unwrap();
    let link = store
        .links("test")
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.key.id == "E2")
        .unwrap();
    assert_eq!(link.scim_id.0, new);
    // And the next run is quiet: the new id is the one idbridge watches.
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes);
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_is_applied_as_reviewed_and_refused_when_stale() {
    let ws = Workspace::notion_like().await;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&["plan", "--out", "plan.json"]).await.expect(0);
    // The source changes after review: apply still does exactly the reviewed plan.
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
        &row("E3", "Cy", "Eng", "active"),
    ]);
    ws.idbridge(&["apply", "--plan", "plan.json", "--yes"])
        .await
        .expect(0);
    assert_eq!(ws.active_names(), ["ada@acme.test", "bob@acme.test", OWNER]);
    // Applying it again is refused: the target is no longer what was reviewed.
    let writes = ws.emu.write_count();
    let run = ws
        .idbridge(&["apply", "--plan", "plan.json", "--yes"])
        .await
        .expect(1);
    assert!(
        run.stderr
            .contains("target changed since the plan was made"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.emu.write_count(), writes);

    // Someone edits a watched user in Notion between plan and apply.
    ws.hr(&[
        &row("E1", "Ada", "Lead", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&["plan", "--out", "plan2.json"])
        .await
        .expect(0);
    let bob = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "bob@acme.test")
        .unwrap();
    let url = format!("{}/Users/{}", ws.running.base_url(), bob.id);
    let reply = reqwest::Client::new()
        .patch(url)
        .bearer_auth(TOKEN)
        .json(
            &serde_json::json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations":[{"op":"replace","path":"title","value":"Changed by hand"}]}),
        )
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    let writes = ws.emu.write_count();
    ws.idbridge(&["apply", "--plan", "plan2.json", "--yes"])
        .await
        .expect(1);
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "a stale plan must make no write"
    );

    // A plan for another target is refused.
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("plan2.json")).unwrap()).unwrap();
    plan["target"]["name"] = "elsewhere".into();
    std::fs::write(ws.path("plan3.json"), plan.to_string()).unwrap();
    let run = ws
        .idbridge(&["apply", "--plan", "plan3.json", "--yes"])
        .await
        .expect(1);
    assert!(
        run.stderr.contains("made for target elsewhere"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guardrail_refuses_mass_deactivation_unless_forced() {
    let mut ws = Workspace::notion_like().await;
    // The guardrail is the subject: the leavers are due at once (no absence grace).
    ws.tail = format!("[policy]\n{NO_GRACE}");
    let rows: Vec<String> = (1..=10)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    ws.hr(&[&rows[0], &rows[1]]);
    let writes = ws.emu.write_count();
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert!(
        run.stdout.contains("max-deactivations-exceeded"),
        "{}",
        run.stdout
    );
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "a refused plan writes nothing"
    );
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert_eq!(plan["blocked"], true);
    ws.idbridge(&["sync", "--yes", "--force"]).await.expect(0);
    assert_eq!(ws.active_names().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_export_aborts_and_bad_rows_never_deactivate() {
    let mut ws = Workspace::notion_like().await;
    ws.tail = "[policy]\nmax_deactivations = 10\n".into();
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
        &row("E3", "Cy", "Eng", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let writes = ws.emu.write_count();

    ws.hr(&[]);
    let requests = ws.emu.requests().len();
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert!(
        run.stderr.contains("yielded no valid person"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.emu.write_count(), writes);
    // The target's read starts only once every source has yielded someone: a broken export
    // sends the target nothing at all (the sync's token probe comes before the sources).
    let lists: Vec<String> = ws.emu.requests()[requests..]
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/Users"))
        .map(|r| r.path.clone())
        .collect();
    assert!(lists.is_empty(), "{lists:?}");

    // Bob's row is broken (unknown status): reported with its line, Bob stays, and the held
    // deactivation is an error (exit 1) until the row is fixed.
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "retired"),
        &row("E3", "Cy", "Eng", "active"),
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert!(ops(&plan).is_empty(), "{plan}");
    let finding = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "source-row-invalid")
        .unwrap();
    assert_eq!(finding["sources"][0], "hr: hr.csv line 3");
    assert!(plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "kept-bad-row"));
    // A row too broken to name anyone holds every absence-based deactivation, as an error.
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        ",,Nameless,Row,,,,active,,",
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert!(ops(&plan).is_empty(), "{plan}");
    assert!(plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "deactivations-held" && f["severity"] == "error"));
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(ws.emu.write_count(), writes);
    assert_eq!(ws.active_names().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn owners_orphans_and_guests_are_left_alone() {
    let ws = Workspace::notion_like().await;
    ws.emu
        .seed_user(SeedUser::member("contractor@acme.test", "Con", "Tractor"));
    ws.emu.seed_user(SeedUser {
        role: Some("owner".into()),
        ..SeedUser::member("boss@acme.test", "Boss", "Owner")
    });
    ws.emu.seed_user(SeedUser {
        guest: true,
        ..SeedUser::member("guest@other.test", "Gue", "St")
    });
    // The boss is terminated in HR and the token owner is in HR with another title: neither is touched.
    ws.hr(&[
        "E9,boss@acme.test,Boss,Owner,CEO,Exec,,terminated,2020-01-01,2021-01-01",
        &format!("E8,{OWNER},Olivia,Owner,IT,IT,,active,2020-01-01,"),
        &row("E1", "Ada", "Eng", "active"),
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(ops(&plan), pairs(&[("create-user", "ada@acme.test")]));
    let codes: Vec<&str> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"protected-user"), "{codes:?}");
    let orphans = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "orphan-users")
        .unwrap();
    assert_eq!(
        orphans["sources"],
        serde_json::json!(["contractor@acme.test"])
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert!(ws.active_names().contains(&"boss@acme.test".to_owned()));
    assert!(ws
        .active_names()
        .contains(&"contractor@acme.test".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_a_429_storm_and_500s_without_duplicates() {
    let mut ws = Workspace::with_profile(Profile {
        rate_limit: Some(RateLimit {
            per_second: 20.0,
            burst: 3,
        }),
        ..Profile::default()
    })
    .await;
    ws.target_extra = "rate_limit = 0\ntimeout = \"5s\"\nconcurrency = 8\nmax_retries = 8\nmax_retry_after = \"5s\"\n".into();
    for nth in [2, 5] {
        ws.emu.push_fault(Fault {
            nth,
            method: Some("POST".into()),
            path_prefix: Some("/Users".into()),
            kind: FaultKind::Status500,
        });
    }
    ws.emu.push_fault(Fault {
        nth: 7,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::Status503,
    });
    let rows: Vec<String> = (1..=25)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let statuses: Vec<u16> = ws.emu.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&429),
        "the storm never happened: {statuses:?}"
    );
    assert!(statuses.contains(&500) && statuses.contains(&503));
    let names = ws.active_names();
    assert_eq!(names.len(), 26, "{names:?}");
    let all = ws.emu.members();
    assert_eq!(all.len(), 26, "no duplicate accounts");
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "nothing was lost: the re-run has nothing to do"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_reply_on_create_is_recovered_without_duplicate() {
    let ws = Workspace::notion_like().await;
    ws.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::CommitThenDrop,
    });
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.members().len(), 3);
    let store = Store::open(&ws.store_url).await.unwrap();
    assert_eq!(store.links("test").await.unwrap().len(), 2);
}

/// A crash right after a create reached Notion: the journal says `pending`, Notion has the user,
/// no link exists. Even with adoption off, the next run links it back instead of creating it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_a_write_is_recovered_from_the_journal() {
    let mut ws = Workspace::notion_like().await;
    ws.tail = "[policy]\nadopt = \"none\"\n".into();
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    // What the crashed run left behind.
    let store = Store::open(&ws.store_url).await.unwrap();
    store.migrate().await.unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
        .unwrap()
        .to_utc();
    let run = store
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
    store
        .journal_pending(&NewOperation {
            run_id: run,
            seq: 0,
            op: "create-user".into(),
            target_name: "test".into(),
            user_name: Some("ada@acme.test".into()),
            scim_id: None,
            source_key: Some("hr:E1".into()),
            detail_json: "[]".into(),
            reason: None,
            planned_json: None,
            at: now,
        })
        .await
        .unwrap();
    store.close().await;
    ws.emu
        .seed_user(SeedUser::member("ada@acme.test", "Ada", "Test"));

    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        ops(&plan)[0],
        ("link-user".to_owned(), "ada@acme.test".to_owned())
    );
    assert!(plan["operations"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("recover:"));
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let posts = ws
        .emu
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 0, "the user must not be created twice");
    assert_eq!(
        ws.emu
            .members()
            .iter()
            .filter(|m| m.user_name == "ada@acme.test")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_stops_before_any_write_and_is_never_printed() {
    let ws = Workspace::notion_like().await;
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    ws.emu.revoke_token(TOKEN);
    // A refused token is an environment failure: exit 3, for sync and check-config alike.
    let run = ws.idbridge(&["-vvv", "sync", "--yes"]).await.expect(3);
    assert!(
        run.stderr.contains("token was rejected") || run.stderr.contains("revoked"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.emu.write_count(), 0);
    let check = ws.idbridge(&["check-config"]).await.expect(3);
    assert!(check.stdout.contains("FAIL"), "{}", check.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_reports_each_connection() {
    let ws = Workspace::notion_like().await;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "retired"),
    ]);
    let run = ws.idbridge(&["check-config"]).await.expect(0);
    assert!(run.stdout.contains("token accepted"), "{}", run.stdout);
    assert!(
        run.stdout.contains("1 valid people, 1 rows skipped"),
        "{}",
        run.stdout
    );
    assert!(
        !ws.path("idbridge.db").exists(),
        "check-config must not create the store"
    );
    std::fs::write(
        ws.path("idbridge.toml"),
        "[target]\nkind = \"notion\"\ntoken_file = \"token\"\nbogus = 1\n",
    )
    .unwrap();
    let run = ws.idbridge(&["check-config"]).await.expect(2);
    assert!(
        run.stderr.contains("idbridge.toml:4: `target.bogus`"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_with_a_postgresql_store() {
    let Some(admin) = std::env::var("DATABASE_URL").ok() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "DATABASE_URL must be set in CI"
        );
        eprintln!("SKIPPED: sync_with_a_postgresql_store (set DATABASE_URL to run it)");
        return;
    };
    let name = format!("idbridge_e2e_{}", uuid::Uuid::new_v4().simple());
    let (pool_url, db_url) = {
        let mut url = url::Url::parse(&admin).unwrap();
        let base = url.clone();
        url.set_path(&format!("/{name}"));
        (base.to_string(), url.to_string())
    };
    sqlx::any::install_default_drivers();
    let admin_pool = sqlx::AnyPool::connect(&pool_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin_pool)
        .await
        .unwrap();
    let mut ws = Workspace::notion_like().await;
    ws.store_url = db_url;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    let first = ws.idbridge(&["sync", "--yes"]).await;
    let second = ws.idbridge(&["plan", "--format", "json"]).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin_pool)
    .await
    .unwrap();
    first.expect(0);
    assert!(ops(&second.expect(0).json()).is_empty());
}

/// Notion's list order is unstable: a read that does not add up must never be used to decide that
/// someone left. The run goes on with zero deactivations and exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn an_inconsistent_target_read_deactivates_nobody() {
    let mut ws = Workspace::notion_like().await;
    ws.target_extra = "rate_limit = 0\ntimeout = \"5s\"\npage_size = 2\n".into();
    ws.tail = format!("[policy]\nmax_deactivations = 10\n{NO_GRACE}");
    let rows: Vec<String> = (1..=5)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    // P5 leaves, P6 joins; meanwhile the listing shifts under the reader.
    let mut rows2: Vec<String> = rows[..4].to_vec();
    rows2.push(row("E6", "P6", "Eng", "active"));
    ws.hr(&rows2.iter().map(String::as_str).collect::<Vec<_>>());
    ws.emu.set_switches(Switches {
        insert_during_read: true,
        ..Switches::default()
    });
    let run = ws
        .idbridge(&["sync", "--yes", "--format", "json"])
        .await
        .expect(1);
    let doc = run.json();
    let ops: Vec<&str> = doc["plan"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert!(!ops.contains(&"deactivate-user"), "{ops:?}");
    assert!(ops.contains(&"create-user"), "other work goes on: {ops:?}");
    let codes: Vec<&str> = doc["plan"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"target-read-inconsistent"), "{codes:?}");
    assert!(ws
        .emu
        .members()
        .iter()
        .any(|m| m.user_name == "p5@acme.test" && m.active));
    // Once the listing is stable again, the leaver goes.
    ws.emu.set_switches(Switches::default());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert!(ws
        .emu
        .members()
        .iter()
        .any(|m| m.user_name == "p5@acme.test" && !m.active));
}

#[tokio::test(flavor = "multi_thread")]
async fn limit_starts_small() {
    let ws = Workspace::notion_like().await;
    let rows: Vec<String> = (1..=6)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    let run = ws
        .idbridge(&["sync", "--yes", "--limit", "2"])
        .await
        .expect(0);
    assert!(run.stdout.contains("limit-deferred"), "{}", run.stdout);
    assert_eq!(ws.active_names().len(), 3, "the owner and two people");
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names().len(), 7);
}

/// `idbridge emulator` as a process, driven through its control routes, then synced against.
#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_command_serves_and_obeys_its_control_routes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args([
            "emulator",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--control",
            "--token-owner",
            OWNER,
            "--token-file",
        ])
        .arg(dir.path().join("token"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let root = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http
            .get(format!("{root}/scim/v2/ServiceProviderConfig"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the emulator did not start");
    let seeded = http
        .post(format!("{root}/_emulator/users"))
        .json(&serde_json::json!({"user_name": "stray@acme.test", "given_name": "S", "family_name": "T"}))
        .send()
        .await
        .unwrap();
    assert!(seeded.status().is_success(), "{}", seeded.status());
    let config = format!(
        "[store]\nurl = \"sqlite://{}?mode=rwc\"\n[target]\nname = \"t\"\nkind = \"notion\"\nurl = \"{root}/scim/v2\"\ntoken_file = \"token\"\nrate_limit = 0\n\
         [[sources]]\nname = \"hr\"\nkind = \"hr-csv\"\npath = \"hr.csv\"\n",
        dir.path().join("db.sqlite").display()
    );
    std::fs::write(dir.path().join("idbridge.toml"), config).unwrap();
    std::fs::write(
        dir.path().join("hr.csv"),
        format!(
            "{}\n{}\n",
            crate::support::HEADER,
            row("E1", "Ada", "Eng", "active")
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
                .arg("--config")
                .arg(dir.join("idbridge.toml"))
                .args(["sync", "--yes", "--format", "json"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let state: serde_json::Value = http
        .get(format!("{root}/_emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = state.to_string();
    assert!(
        text.contains("ada@acme.test") && text.contains("stray@acme.test"),
        "{text}"
    );
}

/// The README's first command: the demo runs offline, tells its whole story, and ends quiet.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_offline_and_ends_with_nothing_to_do() {
    let out = tokio::task::spawn_blocking(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .arg("demo")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "1 link-user, 11 create-user, 1 patch-user",
        "1 create-user, 1 patch-user, 1 deactivate-user",
        "1 create-user, 1 readd-user",
        "nothing to do",
        "SCIM write calls: 0",
        "The journal (idbridge report runs)",
        "4 row(s)",
    ] {
        assert!(stdout.contains(needle), "missing `{needle}` in:\n{stdout}");
    }
    assert!(
        stdout.contains("sam.contractor@acme.example"),
        "the contractor is still there"
    );
}

/// One refused write (Notion refuses profile changes outside verified domains) fails that
/// operation only: the others are applied, the journal says which failed (exit code: see below).
#[tokio::test(flavor = "multi_thread")]
async fn one_refused_write_does_not_stop_the_others() {
    let ws = Workspace::with_profile(Profile {
        seed: idbridge::emulator::Seed {
            verified_domains: vec!["acme.test".into()],
            ..Default::default()
        },
        ..Profile::default()
    })
    .await;
    ws.emu
        .seed_user(SeedUser::member("outsider@other.test", "Out", "Sider"));
    ws.emu.set_switches(Switches {
        verified_domains_only: true,
        ..Switches::default()
    });
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        "E2,outsider@other.test,Renamed,Person,Eng,Eng,,active,2020-01-01,",
        &row("E3", "Cy", "Eng", "active"),
    ]);
    // Exit 1: a 403 on one write fails that write; the token check passes, so the run goes on.
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert!(
        run.stdout.contains("FAILED") && run.stdout.contains("outsider@other.test"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 done, 1 failed") || run.stdout.contains("3 done, 1 failed"),
        "{}",
        run.stdout
    );
    assert!(
        ws.active_names().contains(&"ada@acme.test".to_owned())
            && ws.active_names().contains(&"cy@acme.test".to_owned())
    );
    let store = Store::open(&ws.store_url).await.unwrap();
    let runs = store.runs(1).await.unwrap();
    let journal = store.operations(runs[0].id).await.unwrap();
    let failed: Vec<_> = journal
        .iter()
        .filter(|o| o.status.to_string() == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].http_status, Some(403));
}

/// The token never reaches output, even at trace level on a successful run.
#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_never_logged_at_trace_level() {
    let ws = Workspace::notion_like().await;
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let run = ws
        .idbridge(&["-vvv", "--log-format", "json", "sync", "--yes"])
        .await
        .expect(0);
    assert!(
        run.stderr.len() > 1000,
        "trace logging produced almost nothing:\n{}",
        run.stderr
    );
    ws.idbridge(&["-vvv", "plan", "--format", "json"])
        .await
        .expect(0);
}

/// The token is revoked while a sync runs (Notion revokes it when its owner leaves or changes
/// role): the write in flight finishes, every later write is skipped, the journal says so, exit 3
/// (an environment failure during apply wins over the failed operations).
#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_mid_run_stops_every_later_write() {
    let mut ws = Workspace::notion_like().await;
    ws.target_extra = "rate_limit = 0\ntimeout = \"5s\"\nconcurrency = 1\nmax_retries = 0\n".into();
    ws.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::Stall { millis: 1500 },
    });
    let rows: Vec<String> = (1..=4)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    let emu = ws.emu.clone();
    let revoke = tokio::spawn(async move {
        // Wait until the first create is in the emulator (it stalls after doing the work).
        for _ in 0..200 {
            if emu.members().len() > 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        emu.revoke_token(TOKEN);
    });
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(3);
    revoke.await.unwrap();
    assert!(
        run.stdout.contains("writes stopped") && run.stdout.contains("token"),
        "{}",
        run.stdout
    );
    assert_eq!(ws.emu.members().len(), 2, "only the write in flight landed");
    let store = Store::open(&ws.store_url).await.unwrap();
    let runs = store.runs(1).await.unwrap();
    let journal = store.operations(runs[0].id).await.unwrap();
    let count = |s: &str| journal.iter().filter(|o| o.status.to_string() == s).count();
    assert_eq!(
        (count("done"), count("failed") + count("skipped")),
        (1, 3),
        "{journal:#?}"
    );
    assert!(count("skipped") >= 2);
}

/// A plain RFC 7644 target (`kind = "scim"`): `userName eq` lookups, `externalId` sent and
/// compared, and a returning person switched back on with `PATCH active=true` (the service keeps
/// deactivated users, listed as inactive).
#[tokio::test(flavor = "multi_thread")]
async fn a_plain_scim_target_deactivates_and_reactivates_in_place() {
    let mut ws = Workspace::notion_like().await;
    ws.kind = "scim";
    ws.emu.set_switches(Switches {
        removed_user: idbridge::emulator::RemovedUser::Inactive,
        ..Switches::default()
    });
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let create = &plan["operations"][0];
    assert!(
        create["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["attr"] == "externalId" && c["after"] == "E1"),
        "{create}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let bob = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "bob@acme.test")
        .unwrap();
    assert_eq!(bob.external_id.as_deref(), Some("E2"));
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "terminated"),
    ]);
    ws.idbridge(&["sync", "--yes", "--force"]).await.expect(0);
    assert!(ws.emu.members().iter().any(|m| m.id == bob.id && !m.active));
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(plan["operations"][0]["op"], "readd-user");
    assert_eq!(plan["operations"][0]["scimId"], bob.id.as_str());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert!(
        ws.emu.members().iter().any(|m| m.id == bob.id && m.active),
        "re-activated in place, same id"
    );
    assert_eq!(
        ws.emu.members().len(),
        3,
        "the owner, ada and bob: no second account for bob"
    );
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes);
}

/// A target that keeps failing with server errors during apply is an environment failure (exit 3),
/// not a refused operation (exit 1): a scheduler retries the former and alerts on the latter.
#[tokio::test(flavor = "multi_thread")]
async fn server_errors_that_outlast_the_retries_during_apply_exit_3() {
    let mut ws = Workspace::notion_like().await;
    ws.target_extra = "rate_limit = 0\ntimeout = \"5s\"\nmax_retries = 1\n".into();
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    for nth in 1..=4 {
        ws.emu.push_fault(Fault {
            nth,
            method: Some("PATCH".into()),
            path_prefix: Some("/Users".into()),
            kind: FaultKind::Status500,
        });
    }
    ws.hr(&[&row("E1", "Ada", "Lead", "active")]);
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(3);
    assert!(run.stdout.contains("FAILED"), "{}", run.stdout);
}

/// A sync that changes nothing writes nothing to the store but its run record (issue 14: a
/// snapshot upsert per person per run was the whole 61 s of a 100k no-change sync): no journal
/// entry, no link, snapshot or write record touched. A change to one person rewrites that
/// person's snapshot only.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_that_changes_nothing_writes_only_its_run_record() {
    let ws = Workspace::new().await;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Ops", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let store = Store::open(&ws.store_url).await.unwrap();
    let before = (
        store.snapshots("test").await.unwrap(),
        store.links("test").await.unwrap(),
        store.write_outcomes("test").await.unwrap(),
    );
    let runs = store.runs(10).await.unwrap().len();
    let writes = ws.emu.write_count();

    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes, "nothing to change");
    let after = (
        store.snapshots("test").await.unwrap(),
        store.links("test").await.unwrap(),
        store.write_outcomes("test").await.unwrap(),
    );
    assert_eq!(after, before, "a no-change sync rewrote stored rows");
    let all = store.runs(10).await.unwrap();
    assert_eq!(all.len(), runs + 1, "one run record more");
    assert!(store.operations(all[0].id).await.unwrap().is_empty());

    ws.hr(&[
        &row("E1", "Ada", "Staff Eng", "active"),
        &row("E2", "Bob", "Ops", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let snaps = store.snapshots("test").await.unwrap();
    let changed: Vec<&str> = snaps
        .iter()
        .zip(&before.0)
        .filter(|(now, then)| now != then)
        .map(|(now, _)| now.key.id.as_str())
        .collect();
    assert_eq!(
        changed,
        ["E1"],
        "only the changed person's snapshot is written"
    );
    store.close().await;
}
