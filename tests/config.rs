//! End-to-end: config loading through the `idbridge` binary. Bounded reads of the config file,
//! the store path resolved against the config's folder (not the working directory), mistakes
//! caught at load (a template reading nothing, `status_map` adding to the defaults), and secrets
//! never echoed (a token typed into the file, a credential in a URL).

use crate::support::{row, Run, Workspace};
use std::path::Path;
use std::process::Command;

/// Run `idbridge --config <ws>/idbridge.toml ARGS` from another working directory.
async fn run_from(ws: &Workspace, cwd: &Path, args: &[&str]) -> Run {
    let config = ws.path("idbridge.toml");
    let cwd = cwd.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .arg("--config")
            .arg(&config)
            .args(&args)
            .current_dir(&cwd)
            .output()
            .expect("idbridge runs");
        Run::from(output)
    })
    .await
    .unwrap()
}

/// Run `idbridge --config CONFIG ARGS` with any config path.
fn run_config(config: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("idbridge runs");
    Run::from(output)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_read_is_bounded_and_only_a_regular_file_is_read() {
    // A device would be read forever (13.7 GB before the kernel stopped it); a folder is no file.
    let dir = tempfile::tempdir().unwrap();
    for config in [Path::new("/dev/zero"), dir.path()] {
        let run = run_config(config, &["check-config"]).expect(2);
        assert!(
            run.stderr.contains("is not a regular file"),
            "{}: {}",
            config.display(),
            run.stderr
        );
    }
    // A valid config grown past 1 MiB (here by comments) is refused before it is parsed.
    let ws = Workspace::new().await;
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    ws.idbridge(&["check-config"]).await.expect(0);
    let mut text = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    let pad = format!("# {}\n", "-".repeat(1022));
    while text.len() <= 1 << 20 {
        text.push_str(&pad);
    }
    std::fs::write(ws.path("idbridge.toml"), text).unwrap();
    let run = ws.idbridge(&["check-config"]).await.expect(2);
    assert!(run.stderr.contains("larger than 1 MiB"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relative_store_path_is_beside_the_config_from_any_working_directory() {
    let mut ws = Workspace::new().await;
    ws.store_url = "sqlite://state.db?mode=rwc".into();
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    // A cron job starts in another folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let run = run_from(&ws, elsewhere.path(), &["-v", "sync", "--yes"])
        .await
        .expect(0);
    let db = ws.path("state.db");
    assert!(db.exists(), "the store is beside the config");
    assert!(!elsewhere.path().join("state.db").exists());
    // Every command that opens the store says where it is, absolute.
    assert!(
        run.stderr.contains(&db.display().to_string()),
        "{}",
        run.stderr
    );
    // A plan from yet another folder finds the links: nothing to do, nobody to adopt again.
    let run = run_from(&ws, elsewhere.path(), &["-v", "plan", "--format", "json"])
        .await
        .expect(0);
    assert_eq!(
        run.json()["operations"],
        serde_json::json!([]),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&db.display().to_string()),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_in_a_folder_that_does_not_exist_is_a_config_error() {
    let mut ws = Workspace::new().await;
    ws.store_url = "sqlite://no-such-folder/idbridge.db".into();
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let folder = ws.path("no-such-folder").display().to_string();
    for args in [&["plan"][..], &["sync", "--yes"][..]] {
        let run = ws.idbridge(args).await.expect(2);
        assert!(
            run.stderr.contains(&folder) && run.stderr.contains("does not exist"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let check = ws.idbridge(&["check-config"]).await.expect(2);
    assert!(check.stdout.contains("FAIL  store"), "{}", check.stdout);
    assert_eq!(ws.emu.write_count(), 0);
    assert!(
        !ws.path("no-such-folder").exists(),
        "the folder is not made"
    );

    // A missing file in a folder that exists is still "no links yet", and stays missing.
    ws.store_url = "sqlite://fresh.db".into();
    ws.write_config();
    ws.idbridge(&["plan"]).await.expect(0);
    assert!(!ws.path("fresh.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_reading_an_attribute_no_source_provides_is_an_error() {
    let mut ws = Workspace::new().await;
    ws.tail = "[mapping]\ntitle = \"{upper(titel)}\"\n".into();
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    for args in [&["check-config"][..], &["plan"][..], &["sync", "--yes"][..]] {
        let run = ws.idbridge(args).await.expect(2);
        assert!(
            run.stderr.contains("mapping.title") && run.stderr.contains("did you mean `title`?"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(ws.emu.write_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_map_adds_to_the_defaults_so_leavers_still_leave() {
    let mut ws = Workspace::new().await;
    // Written to admit contractors; `terminated` must keep its default meaning.
    ws.tail = "status_map = { contractor = \"active\" }\n".into();
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "contractor"),
        &row("E3", "Cy", "Eng", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert!(ws.active_names().contains(&"bob@acme.test".to_owned()));
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "terminated"),
        &row("E3", "Cy", "Eng", "active"),
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json", "--force"])
        .await
        .expect(0)
        .json();
    assert_eq!(plan["operations"][0]["op"], "deactivate-user", "{plan}");
    ws.idbridge(&["sync", "--yes", "--force"]).await.expect(0);
    assert!(!ws.active_names().contains(&"bob@acme.test".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_typed_into_the_config_is_never_printed() {
    const SECRET: &str = "typed-secret-6d1e";
    let mut ws = Workspace::new().await;
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let base = ws.target_extra.clone();
    // (extra [target] lines, extra [[sources]] lines, what the error says)
    let cases = [
        (
            format!("token = \"{SECRET}\"\n"),
            String::new(),
            "token_env",
        ),
        (format!("token = \"{SECRET}\n"), String::new(), ":"),
        (format!("api_key = {SECRET}\n"), String::new(), ":"),
        (
            format!("token = \"{SECRET}\"\ntoken = \"{SECRET}\"\n"),
            String::new(),
            "duplicate key",
        ),
        (
            String::new(),
            format!("password = \"{SECRET}\"\n"),
            "password_env",
        ),
    ];
    for (target, source, says) in cases {
        ws.target_extra = format!("{base}{target}");
        ws.tail = source;
        ws.write_config();
        for args in [&["check-config"][..], &["plan"][..]] {
            let run = ws.idbridge(args).await.expect(2);
            assert!(
                !run.stderr.contains(SECRET) && !run.stdout.contains(SECRET),
                "{args:?} printed the secret:\n{}\n{}",
                run.stdout,
                run.stderr
            );
            assert!(run.stderr.contains(says), "{says}: {}", run.stderr);
        }
    }
    ws.target_extra = format!("{base}token = \"{SECRET}\"\n");
    ws.tail = String::new();
    ws.write_config();
    let run = ws.idbridge(&["check-config"]).await.expect(2);
    assert!(
        run.stderr
            .contains("`target.token`: secrets are not read from the config text")
            && run.stderr.contains("token_env"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_in_a_url_is_refused_and_never_printed_or_saved() {
    const SECRET: &str = "url-secret-93ab";
    let ws = Workspace::new().await;
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    let base = ws.running.base_url();
    for url in [
        format!("{base}?token={SECRET}"),
        format!("{base}?a=1&access_token={SECRET}"),
        base.replacen("://", &format!("://admin:{SECRET}@"), 1),
    ] {
        std::fs::write(
            ws.path("idbridge.toml"),
            config.replace(&format!("url = \"{base}\""), &format!("url = \"{url}\"")),
        )
        .unwrap();
        let check = ws.idbridge(&["check-config"]).await.expect(2);
        assert!(
            check.stderr.contains("target.url") && check.stderr.contains("token_env"),
            "{}",
            check.stderr
        );
        let plan = ws.idbridge(&["plan", "--out", "plan.json"]).await.expect(2);
        for run in [&check, &plan] {
            assert!(
                !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
                "{url}:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
        assert!(!ws.path("plan.json").exists(), "no plan file is written");
    }
    assert_eq!(ws.emu.write_count(), 0);
}
