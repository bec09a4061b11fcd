//! What admins and scripts read: tables that stay readable and safe whatever the data holds,
//! JSON that keeps values whole.

use crate::support::{row, Workspace, TOKEN};
use idbridge::scim::{ClientSettings, Profile, TargetKind, Writer};
use idbridge::store::{NewRun, Store};

/// Someone puts 400 KB, starting with a terminal escape sequence, into a managed user's title by
/// hand in Notion. The plan's table shows a short, escaped cell at once; JSON keeps the value.
#[tokio::test(flavor = "multi_thread")]
async fn huge_and_hostile_values_render_as_short_escaped_cells() {
    let ws = Workspace::new().await;
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let ada = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "ada@acme.test")
        .unwrap();
    let hostile = format!("\u{1b}[2J\u{202e}{}", "x".repeat(400_000));
    let reply = reqwest::Client::new()
        .patch(format!("{}/Users/{}", ws.running.base_url(), ada.id))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "path": "title", "value": hostile }]
        }))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.status());

    let table = ws.idbridge(&["plan"]).await.expect(0);
    assert!(table.stdout.contains("patch-user"), "{}", table.stdout);
    assert!(
        table.stdout.len() < 20_000,
        "the table is {} bytes",
        table.stdout.len()
    );
    assert!(
        !table.stdout.contains('\u{1b}'),
        "raw ESC reached the terminal"
    );
    assert!(
        !table.stdout.contains('\u{202e}'),
        "a bidi override reached the terminal"
    );
    assert!(table.stdout.contains("\\u{1b}[2J"), "{}", table.stdout);

    let json = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(json["operations"][0]["changes"][0]["before"], hostile);
}

mod streams {
    //! The streams themselves: a reader that leaves early, a stdout that cannot be written, one
    //! JSON document per command, colours, RUST_LOG, progress.

    use crate::support::{row, Run, Workspace};
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    /// The binary on the workspace's config, with the logging environment cleared.
    fn idbridge(ws: &Workspace, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_idbridge"));
        cmd.arg("--config")
            .arg(ws.path("idbridge.toml"))
            .args(args)
            .current_dir(ws.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR");
        cmd
    }

    /// Run in a blocking thread so the in-process emulator keeps serving.
    async fn run(mut cmd: Command) -> Run {
        tokio::task::spawn_blocking(move || Run::from(cmd.output().unwrap()))
            .await
            .unwrap()
    }

    /// Read the first line of stdout, close the pipe, and let the command finish.
    async fn first_line_then_leave(mut cmd: Command) -> (String, Run) {
        tokio::task::spawn_blocking(move || {
            let mut child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            (line, Run::from(child.wait_with_output().unwrap()))
        })
        .await
        .unwrap()
    }

    fn people(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                row(
                    &format!("E{i}"),
                    &format!("Person{i}"),
                    "Engineer",
                    "active",
                )
            })
            .collect()
    }

    /// `idbridge plan | head -1` and `idbridge sync --yes | head -1`: the output is far larger
    /// than a pipe holds, so writes fail after the reader left. The command ends quietly with its
    /// own exit code, and what it does does not depend on when the reader left: the sync still
    /// creates everyone.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_reader_that_leaves_early_ends_the_output_quietly() {
        let ws = Workspace::new().await;
        let rows = people(300);
        ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
        let whole = run(idbridge(&ws, &["plan"])).await.expect(0);
        assert!(
            whole.stdout.len() > 128 * 1024,
            "the plan must overflow a pipe (64 KiB) and the reader's buffer: {} bytes",
            whole.stdout.len()
        );
        for args in [
            &["plan"][..],
            &["plan", "--format", "json"][..],
            &["sync", "--yes"][..],
        ] {
            let (line, done) = first_line_then_leave(idbridge(&ws, args)).await;
            assert!(!line.is_empty(), "{args:?}");
            let done = done.expect(0);
            assert!(
                !done.stderr.contains("panicked"),
                "{args:?}: {}",
                done.stderr
            );
            assert!(
                !done.stderr.contains("Broken pipe"),
                "{args:?}: {}",
                done.stderr
            );
        }
        assert_eq!(ws.active_names().len(), 301, "the sync ran to its end");
    }

    /// A stdout that cannot be written for another reason (a full disk) is an environment
    /// failure, 3, and says so; never a panic.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_stdout_that_cannot_be_written_exits_3() {
        let ws = Workspace::new().await;
        ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
        let mut cmd = idbridge(&ws, &["plan"]);
        cmd.stdout(std::fs::File::create("/dev/full").unwrap());
        let done = run(cmd).await.expect(3);
        assert!(
            done.stderr.contains("could not write the output to stdout"),
            "{}",
            done.stderr
        );
        assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
    }
}

mod json {
    //! `--format json`: every command prints exactly one JSON document on stdout, on success and
    //! on failure (`{"error": {"code", "kind", "message", "hint"}}`), with the usual exit code.

    use crate::support::{row, Run, Workspace};
    use serde_json::Value;

    /// stdout is one JSON document and nothing else (serde_json refuses trailing text).
    fn one_document(run: &Run) -> Value {
        let doc: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", run.stdout));
        assert!(doc.is_object(), "{doc}");
        doc
    }

    /// A failure's document: the exit code as `code`, its class, a message and a hint.
    fn error_document(run: &Run, code: i32, says: &str) {
        let doc = one_document(run);
        let error = &doc["error"];
        assert_eq!(error["code"], code, "{doc}");
        assert!(error["kind"].is_string(), "{doc}");
        assert!(!error["hint"].as_str().unwrap().is_empty(), "{doc}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{says}: {doc}"
        );
    }

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn break_config(ws: &Workspace) {
        let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
        std::fs::write(
            ws.path("idbridge.toml"),
            config.replace("token_file = ", "tokn_file = "),
        )
        .unwrap();
    }

    fn unreachable_target(ws: &Workspace) {
        let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
        let url = url::Url::parse(&ws.running.base_url()).unwrap();
        let here = format!("127.0.0.1:{}", url.port().unwrap());
        std::fs::write(
            ws.path("idbridge.toml"),
            config.replace(&here, &format!("127.0.0.1:{}", closed_port())),
        )
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn plan_sync_and_apply_print_one_document_whatever_happens() {
        let mut ws = Workspace::new().await;
        ws.target_extra = "rate_limit = 0\ntimeout = \"2s\"\nmax_retries = 0\n".into();
        ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
        let json = ["--format", "json"];
        let plan = ws
            .idbridge(&["plan", "--out", "plan.json", json[0], json[1]])
            .await;
        let doc = one_document(&plan.expect(0));
        assert_eq!(doc["operations"][0]["op"], "create-user", "{doc}");
        let apply = ws
            .idbridge(&["apply", "--plan", "plan.json", "--yes", json[0], json[1]])
            .await;
        let doc = one_document(&apply.expect(0));
        assert_eq!(doc["outcome"]["results"][0]["status"], "done", "{doc}");
        ws.hr(&[
            &row("E1", "Ada", "Engineer", "active"),
            &row("E2", "Bob", "Designer", "active"),
        ]);
        let sync = ws.idbridge(&["sync", "--yes", json[0], json[1]]).await;
        let doc = one_document(&sync.expect(0));
        assert_eq!(doc["outcome"]["results"][0]["userName"], "bob@acme.test");

        let apply = ws
            .idbridge(&["apply", "--plan", "missing.json", json[0], json[1]])
            .await;
        error_document(&apply.expect(2), 2, "missing.json");
        // The saved plan is stale now: refused, 1.
        let apply = ws
            .idbridge(&["apply", "--plan", "plan.json", "--yes", json[0], json[1]])
            .await;
        error_document(&apply.expect(1), 1, "");
        let usage = ws.idbridge(&["plan", "--bogus", json[0], json[1]]).await;
        error_document(&usage.expect(2), 2, "--bogus");

        unreachable_target(&ws);
        for args in [&["plan"][..], &["sync", "--yes"][..]] {
            let run = ws.idbridge(&[args, &json].concat()).await.expect(3);
            error_document(&run, 3, "cannot connect to");
        }
        break_config(&ws);
        for args in [
            &["plan"][..],
            &["sync", "--yes"][..],
            &["apply", "--plan", "plan.json"],
        ] {
            let run = ws.idbridge(&[args, &json].concat()).await.expect(2);
            error_document(&run, 2, "tokn_file");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn check_config_and_migrate_print_one_document_whatever_happens() {
        let mut ws = Workspace::new().await;
        ws.target_extra = "rate_limit = 0\ntimeout = \"2s\"\nmax_retries = 0\n".into();
        ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
        let doc = one_document(
            &ws.idbridge(&["migrate", "--format", "json"])
                .await
                .expect(0),
        );
        assert_eq!(doc["upToDate"], true, "{doc}");
        assert_eq!(doc["backend"], "SQLite", "{doc}");
        let doc = one_document(
            &ws.idbridge(&["check-config", "--format", "json"])
                .await
                .expect(0),
        );
        assert_eq!(doc["ok"], true, "{doc}");
        let checks: Vec<&str> = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["check"].as_str().unwrap())
            .collect();
        assert_eq!(checks, ["config", "store", "target", "source"]);

        // A failed check is part of check-config's own document, with its code.
        unreachable_target(&ws);
        let run = ws
            .idbridge(&["check-config", "--format", "json"])
            .await
            .expect(3);
        let doc = one_document(&run);
        assert_eq!(doc["ok"], false, "{doc}");
        assert_eq!(doc["code"], 3, "{doc}");
        let target = &doc["checks"][2];
        assert_eq!((&target["ok"], &target["code"]), (&false.into(), &3.into()));

        break_config(&ws);
        for command in ["check-config", "migrate"] {
            let run = ws.idbridge(&[command, "--format", "json"]).await.expect(2);
            error_document(&run, 2, "tokn_file");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn demo_saml_and_unknown_commands_print_one_document_whatever_happens() {
        let ws = Workspace::new().await;
        let doc = one_document(&ws.idbridge(&["demo", "--format", "json"]).await.expect(0));
        assert_eq!(doc["days"].as_array().unwrap().len(), 4, "{doc}");
        assert!(doc["workspace"].as_array().unwrap().len() > 3, "{doc}");
        std::fs::write(ws.path("a-file"), "").unwrap();
        let run = ws
            .idbridge(&["demo", "--keep", "a-file", "--format", "json"])
            .await
            .expect(2);
        error_document(&run, 2, "a-file");

        let metadata = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml/okta.xml");
        let run = ws
            .idbridge(&["saml", "check-metadata", metadata, "--format", "json"])
            .await;
        assert!(one_document(&run)["verdict"].is_string(), "{}", run.stdout);
        let run = ws
            .idbridge(&["saml", "check-metadata", "missing.xml", "--format", "json"])
            .await
            .expect(2);
        error_document(&run, 2, "missing.xml");
        let run = ws.idbridge(&["serve", "--format", "json"]).await.expect(2);
        error_document(&run, 2, "unexpected argument");
        let run = ws.idbridge(&["report", "--format", "json"]).await.expect(2);
        error_document(&run, 2, "requires a subcommand");
    }
}

mod terminal {
    //! Colours, log filters and progress: what reaches stderr on a terminal and off it.

    use crate::support::{row, Run, Workspace};
    use std::process::Command;

    fn idbridge(ws: &Workspace, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_idbridge"));
        cmd.arg("--config")
            .arg(ws.path("idbridge.toml"))
            .args(args)
            .current_dir(ws.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR");
        cmd
    }

    async fn run(mut cmd: Command) -> Run {
        tokio::task::spawn_blocking(move || Run::from(cmd.output().unwrap()))
            .await
            .unwrap()
    }

    fn people(ws: &Workspace, n: usize) {
        let rows: Vec<String> = (0..n)
            .map(|i| {
                row(
                    &format!("E{i}"),
                    &format!("Person{i}"),
                    "Engineer",
                    "active",
                )
            })
            .collect();
        ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Log lines to a pipe or a file carry no ANSI codes (tracing colours them by default).
    #[tokio::test(flavor = "multi_thread")]
    async fn logs_off_a_terminal_carry_no_colour_codes() {
        let ws = Workspace::new().await;
        people(&ws, 2);
        let done = run(idbridge(&ws, &["plan", "-vv"])).await.expect(0);
        assert!(done.stderr.contains("INFO"), "{}", done.stderr);
        assert!(!done.stderr.contains('\u{1b}'), "{:?}", done.stderr);
    }

    /// `RUST_LOG` is the filter when set; `-v` sets the level otherwise; a `RUST_LOG` that does
    /// not parse is ignored with a warning and the run goes on.
    #[tokio::test(flavor = "multi_thread")]
    async fn rust_log_is_the_filter_when_set() {
        let ws = Workspace::new().await;
        people(&ws, 2);
        let mut cmd = idbridge(&ws, &["plan"]);
        cmd.env("RUST_LOG", "idbridge=debug");
        let done = run(cmd).await.expect(0);
        assert!(done.stderr.contains("DEBUG"), "{}", done.stderr);
        assert!(done.stderr.contains("target read"), "{}", done.stderr);

        let quiet = run(idbridge(&ws, &["plan"])).await.expect(0);
        assert!(!quiet.stderr.contains("INFO"), "{}", quiet.stderr);
        let verbose = run(idbridge(&ws, &["plan", "-v"])).await.expect(0);
        assert!(verbose.stderr.contains("target read"), "{}", verbose.stderr);
        assert!(!verbose.stderr.contains("DEBUG"), "{}", verbose.stderr);

        // RUST_LOG wins over -v.
        let mut cmd = idbridge(&ws, &["plan", "-vv"]);
        cmd.env("RUST_LOG", "warn");
        let done = run(cmd).await.expect(0);
        assert!(!done.stderr.contains("INFO"), "{}", done.stderr);

        let mut cmd = idbridge(&ws, &["plan", "-v"]);
        cmd.env("RUST_LOG", "idbridge=loud");
        let done = run(cmd).await.expect(0);
        assert!(
            done.stderr.contains("ignoring RUST_LOG=\"idbridge=loud\""),
            "{}",
            done.stderr
        );
        assert!(
            done.stderr.contains("target read"),
            "-v still applies: {}",
            done.stderr
        );
    }

    /// Off a terminal, nothing of a progress display reaches stderr.
    #[tokio::test(flavor = "multi_thread")]
    async fn no_progress_off_a_terminal() {
        let ws = Workspace::new().await;
        people(&ws, 40);
        let done = run(idbridge(&ws, &["sync", "--yes"])).await.expect(0);
        assert_eq!(ws.active_names().len(), 41);
        for drawn in ['\r', '\u{1b}'] {
            assert!(
                !done.stderr.contains(drawn),
                "{drawn:?} in {:?}",
                done.stderr
            );
        }
        assert!(!done.stderr.contains("applying"), "{}", done.stderr);
    }

    /// On a terminal (a pseudo-terminal from util-linux `script`), sync shows the apply bar, and
    /// `--format json` shows none.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_terminal_shows_the_apply_bar() {
        let ws = Workspace::new().await;
        people(&ws, 40);
        let on_a_terminal = |args: &str| {
            let line = format!(
                "{} --config {} {args}",
                env!("CARGO_BIN_EXE_idbridge"),
                ws.path("idbridge.toml").display()
            );
            let mut cmd = Command::new("script");
            cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
                .stdin(std::process::Stdio::null())
                .env_remove("RUST_LOG");
            cmd
        };
        let json = run(on_a_terminal("plan --format json")).await.expect(0);
        assert!(
            !json.stdout.contains("reading the sources"),
            "{}",
            json.stdout
        );
        let done = run(on_a_terminal("sync --yes")).await.expect(0);
        assert_eq!(ws.active_names().len(), 41);
        assert!(done.stdout.contains("applying ["), "{:?}", done.stdout);
        assert!(done.stdout.contains("/40"), "{:?}", done.stdout);
    }
}

/// Text from a target's replies and from SAML documents reaches the terminal in `check-config`
/// lines, error messages and SAML reports: escaped there, whole in JSON.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_replies_and_documents_are_escaped_on_the_terminal() {
    let hostile = "bad \u{1b}[2J\u{202e}gpj.exe";
    let app = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "application/scim+json")],
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "400",
                "detail": hostile,
            })
            .to_string(),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let ws = Workspace::new().await;
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    std::fs::write(
        ws.path("idbridge.toml"),
        config.replace(&ws.running.base_url(), &format!("http://{addr}/scim/v2")),
    )
    .unwrap();
    let safe = |text: &str| !text.contains('\u{1b}') && !text.contains('\u{202e}');

    let check = ws.idbridge(&["check-config"]).await.expect(1);
    assert!(check.stdout.contains("FAIL  target"), "{}", check.stdout);
    assert!(safe(&check.stdout), "{:?}", check.stdout);
    assert!(
        check.stdout.contains("bad \\u{1b}[2J\\u{202e}gpj"),
        "{}",
        check.stdout
    );
    let plan = ws.idbridge(&["plan"]).await.expect(1);
    assert!(plan.stderr.contains("\\u{1b}[2J"), "{}", plan.stderr);
    assert!(safe(&plan.stderr), "{:?}", plan.stderr);
    let json = ws.idbridge(&["plan", "--format", "json"]).await.expect(1);
    let message = json.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains(hostile), "{message}");

    let okta = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml/okta.xml");
    let metadata = std::fs::read_to_string(okta).unwrap().replace(
        "entityID=\"http://www.okta.com/",
        "entityID=\"http://www.okta.com/\u{202e}lmx.",
    );
    std::fs::write(ws.path("idp.xml"), metadata).unwrap();
    let report = ws.idbridge(&["saml", "check-metadata", "idp.xml"]).await;
    assert!(report
        .stdout
        .contains("entity ID: http://www.okta.com/\\u{202e}lmx."));
    assert!(safe(&report.stdout), "{:?}", report.stdout);
}

/// apply tells its progress hook of every operation once, with the operation's kind and status.
#[tokio::test(flavor = "multi_thread")]
async fn the_progress_hook_hears_of_each_operation_once() {
    use idbridge::apply::{self, Progress, Status};
    use idbridge::plan::{OpKind, Plan};
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Heard {
        total: Mutex<Option<usize>>,
        ops: Mutex<Vec<(OpKind, Status)>>,
    }
    impl Progress for Heard {
        fn start(&self, total: usize) {
            *self.total.lock().unwrap() = Some(total);
        }
        fn finished(&self, kind: OpKind, status: Status) {
            self.ops.lock().unwrap().push((kind, status));
        }
    }

    let ws = Workspace::new().await;
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    ws.hr(&[
        &row("E1", "Ada", "Manager", "active"),
        &row("E2", "Bob", "Designer", "active"),
        &row("E3", "Cy", "PM", "active"),
    ]);
    ws.idbridge(&["plan", "--out", "plan.json"]).await.expect(0);
    let plan: Plan = serde_json::from_slice(&std::fs::read(ws.path("plan.json")).unwrap()).unwrap();
    let kinds: Vec<OpKind> = plan.operations.iter().map(|o| o.kind()).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");

    let clock: Arc<dyn idbridge::clock::Clock> = Arc::new(idbridge::clock::SystemClock);
    let store = Store::open(&ws.store_url).await.unwrap();
    let mut settings = ClientSettings::new(
        url::Url::parse(&ws.running.base_url()).unwrap(),
        secrecy::SecretString::from(TOKEN),
    );
    settings.rate_limit = None;
    let client = Writer::new(
        settings,
        Profile::for_kind(TargetKind::Notion),
        clock.clone(),
    )
    .unwrap();
    let run_id = store
        .start_run(&NewRun {
            kind: "test".into(),
            target_name: "test".into(),
            started_at: clock.now(),
            plan_sha256: None,
            origin: idbridge::store::RunOrigin {
                trigger: idbridge::store::RunTrigger::Sync,
                host: "test-host".into(),
                os_user: "tester".into(),
            },
            upcoming_json: None,
        })
        .await
        .unwrap();
    let heard = Arc::new(Heard::default());
    let outcome = apply::apply_with_progress(
        &plan,
        &client,
        &store,
        clock,
        run_id,
        apply::Options {
            target_name: "test".into(),
            deactivate: idbridge::plan::DeactivateMode::ActiveFalse,
            batch_size: 100,
            concurrency: 4,
            stop: None,
        },
        Some(heard.clone()),
    )
    .await
    .unwrap();
    assert_eq!(*heard.total.lock().unwrap(), Some(3));
    let mut ops = heard.ops.lock().unwrap().clone();
    let mut expected: Vec<(OpKind, Status)> =
        outcome.results.iter().map(|r| (r.op, r.status)).collect();
    ops.sort_by_key(|(k, _)| k.to_string());
    expected.sort_by_key(|(k, _)| k.to_string());
    assert_eq!(ops, expected);
    assert!(ops.iter().all(|(_, s)| *s == Status::Done), "{ops:?}");
}
