//! End-to-end: the exit-code table (docs/cli.md) through the `idbridge` binary. 0 ok; 1 blocked,
//! refused, findings or a failed operation; 2 usage or config error; 3 environment failure
//! (target, source or store unreachable, token refused); 4 run lock held (tests/run_lock.rs).

use crate::support::{row, Workspace, HEADER};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_target_exits_3() {
    let mut ws = Workspace::new().await;
    ws.target_extra = "rate_limit = 0\ntimeout = \"2s\"\nmax_retries = 0\n".into();
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    let url = url::Url::parse(&ws.running.base_url()).unwrap();
    let here = format!("127.0.0.1:{}", url.port().unwrap());
    std::fs::write(
        ws.path("idbridge.toml"),
        config.replace(&here, &format!("127.0.0.1:{}", closed_port())),
    )
    .unwrap();
    for args in [&["sync", "--yes"][..], &["plan"][..]] {
        let run = ws.idbridge(args).await.expect(3);
        assert!(
            run.stderr.contains("cannot connect to http://127.0.0.1:"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let check = ws.idbridge(&["check-config"]).await.expect(3);
    assert!(
        check.stdout.contains("FAIL  target test"),
        "{}",
        check.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_postgresql_store_exits_3() {
    let mut ws = Workspace::new().await;
    ws.store_url = format!("postgres://idbridge@127.0.0.1:{}/idbridge", closed_port());
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    for args in [&["sync", "--yes"][..], &["plan"][..], &["migrate"][..]] {
        let run = ws.idbridge(args).await.expect(3);
        assert!(
            run.stderr.contains("Could not connect to the store"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let check = ws.idbridge(&["check-config"]).await.expect(3);
    assert!(check.stdout.contains("FAIL  store"), "{}", check.stdout);
    assert_eq!(ws.emu.write_count(), 0);
}

/// `plan` opens the store before it reads the sources (so the store's reads overlap the source
/// read), yet a source that cannot be read is still the error an admin sees first, as when the
/// store was opened after it.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_export_is_reported_before_an_unreachable_store() {
    let mut ws = Workspace::new().await;
    ws.store_url = format!("postgres://idbridge@127.0.0.1:{}/idbridge", closed_port());
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    std::fs::remove_file(ws.path("hr.csv")).unwrap();
    let run = ws.idbridge(&["plan"]).await;
    assert!(run.stderr.contains("hr.csv"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("Could not connect to the store"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.emu.write_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_typo_exits_2() {
    let ws = Workspace::new().await;
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    std::fs::write(
        ws.path("idbridge.toml"),
        config.replace("token_file = ", "tokn_file = "),
    )
    .unwrap();
    for args in [&["sync", "--yes"][..], &["plan"][..], &["check-config"][..]] {
        let run = ws.idbridge(args).await.expect(2);
        assert!(run.stderr.contains("tokn_file"), "{args:?}: {}", run.stderr);
    }
    // A store URL that cannot be a store is a config error too, not an unreachable store.
    let mut ws = ws;
    ws.store_url = "mysql://db/idbridge".into();
    ws.write_config();
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(2);
    assert!(run.stderr.contains("only `sqlite:`"), "{}", run.stderr);
    // So is a SQLite parameter sqlx does not know: read when the URL is, not when connecting.
    ws.store_url = "sqlite://idbridge.db?mode=rwc&colour=blue".into();
    ws.write_config();
    for args in [&["sync", "--yes"][..], &["plan"][..], &["migrate"][..]] {
        let run = ws.idbridge(args).await.expect(2);
        assert!(
            run.stderr.contains("is not valid") && run.stderr.contains("colour"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(ws.emu.write_count(), 0);
}

/// The rule for a broken HR file: what the config names and the file lacks (a column) is a config
/// error, 2; a file that matches the config but yields nobody is refused by the empty-source
/// guardrail, 1. `check-config` says the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_header_only_csv_exits_1_and_a_missing_column_exits_2() {
    let ws = Workspace::new().await;
    ws.hr(&[]);
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert!(
        run.stderr.contains("yielded no valid person"),
        "{}",
        run.stderr
    );
    ws.idbridge(&["check-config"]).await.expect(1);

    let without_email = HEADER.replace(",email,", ",mail,");
    std::fs::write(
        ws.path("hr.csv"),
        format!("{without_email}\nE1,ada@acme.test,Ada,Test,Eng,Eng,,active,2020-01-01,\n"),
    )
    .unwrap();
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(2);
    assert!(run.stderr.contains("no `email` column"), "{}", run.stderr);
    let check = ws.idbridge(&["check-config"]).await.expect(2);
    assert!(check.stdout.contains("FAIL  sources"), "{}", check.stdout);
    assert_eq!(ws.emu.write_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_and_healthcheck_without_a_serve_table_are_config_errors() {
    let ws = Workspace::new().await;
    ws.hr(&["E1,ada@acme.test,Ada,Test,Eng,Eng,,active,2020-01-01,"]);
    let run = ws.idbridge(&["serve"]).await.expect(2);
    assert!(
        run.stderr.contains("needs a [serve] table"),
        "{}",
        run.stderr
    );
    let run = ws.idbridge(&["healthcheck"]).await.expect(2);
    assert!(
        run.stderr.contains("there is no [serve] table") && run.stderr.contains("--url"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.emu.write_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn help_shows_the_exit_code_table() {
    let ws = Workspace::new().await;
    let run = ws.idbridge(&["--help"]).await.expect(0);
    for line in [
        "Exit codes:",
        "2  usage or config error",
        "3  environment failure",
        "4  another run holds the run lock",
        "When 3 and 1 both apply, 3 wins.",
    ] {
        assert!(run.stdout.contains(line), "{line}:\n{}", run.stdout);
    }
}
