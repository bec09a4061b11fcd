//! End-to-end: a refused write is not a refused token. A 403 on a write fails that operation with
//! the server's own explanation and the run goes on, unless the token check that follows
//! (`GET /Users?count=1`) is refused too; a 401 halts at once. Token errors name where the token
//! is configured, speak of Notion only for Notion targets, and never print the token.

use crate::support::{row, Run, Workspace, TOKEN};
use idbridge::emulator::{Fault, FaultKind, Profile, RequestRecord, Seed, SeedUser, Switches};
use idbridge::store::Store;

/// The token check idbridge sends after a 403 on a write (the target read uses pages of 100).
fn is_token_check(r: &RequestRecord) -> bool {
    r.method == "GET"
        && r.path.ends_with("/Users")
        && r.query.as_deref() == Some("startIndex=1&count=1")
}

fn token_checks(ws: &Workspace) -> Vec<RequestRecord> {
    ws.emu
        .requests()
        .into_iter()
        .filter(is_token_check)
        .collect()
}

/// Journal statuses of the latest run, counted: (done, failed, skipped), and the failed rows'
/// HTTP statuses.
async fn journal(ws: &Workspace) -> ((usize, usize, usize), Vec<Option<u16>>) {
    let store = Store::open(&ws.store_url).await.unwrap();
    let runs = store.runs(1).await.unwrap();
    let ops = store.operations(runs[0].id).await.unwrap();
    let count = |s: &str| ops.iter().filter(|o| o.status.to_string() == s).count();
    let failed = ops
        .iter()
        .filter(|o| o.status.to_string() == "failed")
        .map(|o| o.http_status)
        .collect();
    ((count("done"), count("failed"), count("skipped")), failed)
}

fn title_of(ws: &Workspace, user_name: &str) -> Option<String> {
    ws.emu
        .members()
        .into_iter()
        .find(|m| m.user_name == user_name)
        .and_then(|m| m.title)
}

/// The safety issue's case: Notion refuses two people's email changes (not a verified domain) with
/// a 403 while another person leaves and a third is promoted. Each refusal fails its operation
/// with Notion's own words after one token check for the run; the leaver is still removed and the
/// promotion applied; the token is not called rejected; exit 1. The next run does the same rather
/// than skipping everything.
#[tokio::test(flavor = "multi_thread")]
async fn a_403_on_a_write_fails_that_write_only_and_the_leaver_is_still_removed() {
    let ws = Workspace::with_profile(Profile {
        seed: Seed {
            verified_domains: vec!["acme.test".into()],
            ..Default::default()
        },
        ..Profile::default()
    })
    .await;
    ws.emu
        .seed_user(SeedUser::member("outsider@other.test", "Out", "Sider"));
    ws.emu
        .seed_user(SeedUser::member("stranger@else.test", "Stran", "Ger"));
    ws.emu.set_switches(Switches {
        verified_domains_only: true,
        ..Switches::default()
    });
    let outsider = |email: &str| format!("E2,{email},Out,Sider,Eng,Eng,,active,2020-01-01,");
    let stranger = |email: &str| format!("E4,{email},Stran,Ger,Eng,Eng,,active,2020-01-01,");
    ws.hr(&[
        &row("E1", "Ada", "Engineer", "active"),
        &outsider("outsider@other.test"),
        &row("E3", "Cy", "PM", "active"),
        &stranger("stranger@else.test"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);

    ws.hr(&[
        &row("E1", "Ada", "Lead", "active"),
        &outsider("sider@other.test"),
        &row("E3", "Cy", "PM", "terminated"),
        &stranger("ger@else.test"),
    ]);
    ws.emu.clear_requests();
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(1);
    let refused =
        "outsider@other.test is not in a verified domain, so its name and email cannot be changed.";
    assert!(
        run.stdout.contains("FAILED") && run.stdout.contains(refused),
        "{}",
        run.stdout
    );
    let also_refused =
        "stranger@else.test is not in a verified domain, so its name and email cannot be changed.";
    assert!(run.stdout.contains(also_refused), "{}", run.stdout);
    assert!(
        !run.stdout.contains("writes stopped") && !run.stdout.contains("token was rejected"),
        "{}",
        run.stdout
    );
    assert!(
        !ws.active_names().contains(&"cy@acme.test".to_owned()),
        "the leaver must be removed even though another write was refused"
    );
    assert_eq!(title_of(&ws, "ada@acme.test").as_deref(), Some("Lead"));
    assert!(ws
        .active_names()
        .contains(&"outsider@other.test".to_owned()));
    assert_eq!(journal(&ws).await, ((2, 2, 0), vec![Some(403), Some(403)]));
    assert_eq!(token_checks(&ws).len(), 1, "one token check per run");

    // The refused changes are still wanted but were learnt: the next run does everything else,
    // sends neither again and names both domains in one finding (exit 0: nothing failed).
    ws.hr(&[
        &row("E1", "Ada", "Director", "active"),
        &outsider("sider@other.test"),
        &row("E3", "Cy", "PM", "terminated"),
        &stranger("ger@else.test"),
    ]);
    ws.emu.clear_requests();
    let run = ws
        .idbridge(&["sync", "--yes", "--format", "json"])
        .await
        .expect(0);
    let plan = &run.json()["plan"];
    let held: Vec<&serde_json::Value> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "write-refused")
        .collect();
    assert_eq!(held.len(), 1, "{plan:#}");
    let message = held[0]["message"].as_str().unwrap();
    assert!(
        message.contains("other.test (outsider@other.test)")
            && message.contains("else.test (stranger@else.test)"),
        "{message}"
    );
    assert!(held[0]["sources"].to_string().contains(refused), "{plan:#}");
    assert_eq!(title_of(&ws, "ada@acme.test").as_deref(), Some("Director"));
    assert_eq!(journal(&ws).await, ((1, 0, 0), vec![]));
    assert!(token_checks(&ws).is_empty(), "nothing was refused");
}

/// `people` creates, `concurrency` at a time. The first create to arrive revokes the token once
/// its work is done (an owner revoking it at that moment) and answers after `stall_millis`, so
/// every call handled after it is refused.
async fn revoke_during_the_first_create(
    ws: &mut Workspace,
    concurrency: usize,
    people: usize,
    stall_millis: u64,
) -> Run {
    ws.target_extra =
        format!("rate_limit = 0\ntimeout = \"5s\"\nconcurrency = {concurrency}\nmax_retries = 0\n");
    ws.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::CommitThenRevoke { stall_millis },
    });
    let rows: Vec<String> = (1..=people)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    let run = ws.idbridge(&["sync", "--yes", "--format", "json"]).await;
    // A halted run is a token failure: 3, which wins over the failed operations (docs/cli.md).
    assert!(
        run.code == 3,
        "exit {}\n{}\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    run.no_secret()
}

/// Notion may answer a revoked token with 403 (unconfirmed). The 403 on a create is checked with
/// `GET /Users?count=1`; that is refused too, so the run halts: the later creates are skipped, and
/// the reason says what to update.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_mid_run_answering_403_is_checked_then_halts_the_run() {
    let mut ws = Workspace::new().await;
    ws.emu.set_switches(Switches {
        auth_failure_status: 403,
        ..Switches::default()
    });
    let run = revoke_during_the_first_create(&mut ws, 1, 4, 0).await;
    let outcome = &run.json()["outcome"];
    let halted = outcome["halted"].as_str().unwrap_or_default();
    let token_file = ws.path("token").display().to_string();
    assert!(
        halted.starts_with("POST /Users answered HTTP 403")
            && halted.contains("the token check that followed, GET /Users, was refused too")
            && halted.contains("token was rejected")
            && halted.contains("Notion revokes")
            && halted.ends_with(&format!("update the file {token_file}")),
        "{outcome:#}"
    );
    assert_eq!(ws.emu.members().len(), 2, "only the write in flight landed");
    assert_eq!(journal(&ws).await, ((1, 1, 2), vec![Some(403)]));
    let checks = token_checks(&ws);
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].status, 403);
}

/// A 401 needs no check: the run halts at once, and the reason names the token file.
#[tokio::test(flavor = "multi_thread")]
async fn a_401_mid_run_halts_without_a_token_check() {
    let mut ws = Workspace::new().await;
    let run = revoke_during_the_first_create(&mut ws, 1, 4, 0).await;
    let outcome = &run.json()["outcome"];
    let halted = outcome["halted"].as_str().unwrap_or_default();
    let token_file = ws.path("token").display().to_string();
    assert!(
        halted.starts_with("POST /Users answered HTTP 401")
            && halted.ends_with(&format!("update the file {token_file}")),
        "{outcome:#}"
    );
    assert_eq!(journal(&ws).await, ((1, 1, 2), vec![Some(401)]));
    assert!(token_checks(&ws).is_empty(), "{:?}", token_checks(&ws));
}

/// Run the binary with one extra environment variable.
async fn idbridge_with_env(ws: &Workspace, var: (&str, &str), args: &[&str]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"));
    command
        .arg("--config")
        .arg(ws.path("idbridge.toml"))
        .args(args)
        .current_dir(ws.dir.path())
        .env(var.0, var.1);
    tokio::task::spawn_blocking(move || Run::from(command.output().expect("idbridge runs")))
        .await
        .unwrap()
}

/// A plain SCIM target's token error speaks of no Notion; it names the configured file or
/// variable, for a 401 and for a 403 on the first read alike, and never prints the token.
#[tokio::test(flavor = "multi_thread")]
async fn token_errors_name_the_configured_source_and_only_notion_targets_mention_notion() {
    let mut ws = Workspace::new().await;
    ws.kind = "scim";
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    ws.emu.revoke_token(TOKEN);
    let token_file = ws.path("token").display().to_string();
    for status in [401, 403] {
        ws.emu.set_switches(Switches {
            auth_failure_status: status,
            ..Switches::default()
        });
        let run = ws.idbridge(&["sync", "--yes"]).await.no_secret();
        // An environment failure before any write: 3.
        assert!(run.code == 3, "exit {}: {}", run.code, run.stderr);
        assert!(
            run.stderr.contains(&format!("HTTP {status}"))
                && run.stderr.contains("token was rejected")
                && run
                    .stderr
                    .contains(&format!("update the file {token_file}"))
                && !run.stderr.contains("Notion")
                && !run.stderr.contains("NOTION_SCIM_TOKEN"),
            "{}",
            run.stderr
        );
        let check = ws.idbridge(&["check-config"]).await.expect(3);
        assert!(
            check
                .stdout
                .contains(&format!("update the file {token_file}"))
                && !check.stdout.contains("Notion"),
            "{}",
            check.stdout
        );
    }
    assert_eq!(ws.emu.write_count(), 0);

    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    let config = config.replace(
        "token_file = \"token\"",
        "token_env = \"IDBRIDGE_E2E_SCIM_TOKEN\"",
    );
    std::fs::write(ws.path("idbridge.toml"), config).unwrap();
    let run = idbridge_with_env(&ws, ("IDBRIDGE_E2E_SCIM_TOKEN", TOKEN), &["sync", "--yes"])
        .await
        .no_secret();
    assert!(run.code == 3, "exit {}: {}", run.code, run.stderr);
    assert!(
        run.stderr
            .contains("update the environment variable IDBRIDGE_E2E_SCIM_TOKEN")
            && !run.stderr.contains("Notion"),
        "{}",
        run.stderr
    );
}

/// Several writes are refused at once by a token revoked mid-run (answering 403): they share one
/// token check, and that check is sent only once every call in flight has its reply (the create
/// that revoked the token answers 1.5 s late), so no write goes out while the verdict is pending
/// or after it.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refusals_share_one_token_check_sent_after_every_call_in_flight() {
    let mut ws = Workspace::new().await;
    ws.emu.set_switches(Switches {
        auth_failure_status: 403,
        ..Switches::default()
    });
    let run = revoke_during_the_first_create(&mut ws, 4, 8, 1500).await;
    let outcome = &run.json()["outcome"];
    assert!(outcome["halted"].is_string(), "{outcome:#}");
    let requests = ws.emu.requests();
    let checks: Vec<usize> = (0..requests.len())
        .filter(|&i| is_token_check(&requests[i]))
        .collect();
    assert_eq!(checks.len(), 1, "{requests:#?}");
    assert_eq!(requests[checks[0]].status, 403);
    let late_writes: Vec<_> = requests[checks[0]..]
        .iter()
        .filter(|r| r.is_write)
        .collect();
    assert!(late_writes.is_empty(), "{late_writes:#?}");
    let ((done, failed, skipped), _) = journal(&ws).await;
    assert_eq!(done + failed + skipped, 8);
    assert!(failed >= 1);
}
