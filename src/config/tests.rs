//! Config parsing and validation tests.

use super::policy::{ADOPT_MODES, DEACTIVATE_MODES, DISABLED_MODES};
use super::raw::SourceKind;
use super::source::hr_http::{AUTHS, PRESETS};
use super::source::ldap::{DIALECTS, LDAP_ROLES, NESTED, SCOPES};
use super::source::STATUS_CLASSES;
use super::*;
use crate::model::StatusKind;
use crate::plan::{Adopt, DeactivateMode, DisabledAccounts, Threshold};
use secrecy::ExposeSecret;
use std::path::Path;
use strum::IntoEnumIterator;

fn dir_with_token() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "tok-123\n").unwrap();
    dir
}

fn parse_in(dir: &Path, text: &str) -> Result<Settings, ConfigError> {
    parse(text, &dir.join("idbridge.toml"), dir)
}

const MINIMAL: &str = r#"
[target]
kind = "notion"
token_file = "token"

[[sources]]
name = "hr"
kind = "hr-csv"
path = "hr.csv"
"#;

#[test]
fn minimal_config_gets_defaults() {
    let dir = dir_with_token();
    let s = parse_in(dir.path(), MINIMAL).unwrap();
    assert_eq!(s.target.url.as_str(), "https://api.notion.com/scim/v2");
    assert_eq!(s.target.token.expose_secret(), "tok-123");
    assert_eq!(
        s.target.token_source,
        format!("the file {}", dir.path().join("token").display())
    );
    assert_eq!(s.target.rate_limit, Some(2.0));
    assert_eq!(s.target.page_size, 100);
    assert_eq!(s.target.max_reply_bytes, 32 * 1024 * 1024);
    // The default store lives beside the config file, whatever the working directory.
    assert_eq!(
        s.store_url.expose_secret(),
        format!("sqlite://{}/idbridge.db?mode=rwc", dir.path().display())
    );
    assert_eq!(s.policy.max_deactivations, Threshold::Percent(10.0));
    let SourceSettings::HrCsv(hr) = &s.sources[0] else {
        panic!("expected an hr-csv source")
    };
    assert_eq!(hr.path, dir.path().join("hr.csv"));
    assert_eq!(hr.columns.email, "email");
    assert!(
        !format!("{s:?}").contains("tok-123"),
        "token leaked into Debug"
    );
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let dir = dir_with_token();
    let text = MINIMAL.replace("kind = \"notion\"", "kind = \"notion\"\ntokn = \"x\"");
    let err = parse_in(dir.path(), &text).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid { line: 4, key, .. } if key == "target.tokn"),
        "{err}"
    );
    let text = MINIMAL.replace("token_file", "tokn_file");
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(err.contains("did you mean `token_file`"), "{err}");
}

#[test]
fn semantic_errors_name_key_and_line() {
    let dir = dir_with_token();
    let cases = [
        ("kind = \"notion\"", "kind = \"slack\"", "target.kind", 3),
        (
            "path = \"hr.csv\"",
            "path = \"hr.csv\"\ntimezone = \"Mars/Base\"",
            "sources[0].timezone",
            10,
        ),
        (
            "token_file = \"token\"",
            "token_file = \"token\"\ntoken_env = \"X\"",
            "target.token_env",
            5,
        ),
        (
            "token_file = \"token\"",
            "token_file = \"token\"\ntimeout = \"soon\"",
            "target.timeout",
            5,
        ),
        (
            "token_file = \"token\"",
            "token_file = \"token\"\nmax_reply_bytes = 1000",
            "target.max_reply_bytes",
            5,
        ),
    ];
    for (from, to, key, line) in cases {
        let text = MINIMAL.replace(from, to);
        match parse_in(dir.path(), &text) {
            Err(ConfigError::Invalid {
                key: k, line: l, ..
            }) => {
                assert_eq!((k.as_str(), l), (key, line), "for {to}");
            }
            other => panic!("expected Invalid for {to}, got {other:?}"),
        }
    }
}

#[test]
fn csv_field_limits_have_defaults_bounds_and_belong_to_csv_only() {
    let dir = dir_with_token();
    let s = parse_in(dir.path(), MINIMAL).unwrap();
    let SourceSettings::HrCsv(hr) = &s.sources[0] else {
        panic!("expected an hr-csv source")
    };
    assert_eq!((hr.max_field_bytes, hr.max_field_lines), (8192, 4));
    let set = MINIMAL.replace(
        "path = \"hr.csv\"",
        "path = \"hr.csv\"\nmax_field_bytes = 100\nmax_field_lines = 2",
    );
    let SourceSettings::HrCsv(hr) = &parse_in(dir.path(), &set).unwrap().sources[0] else {
        panic!("expected an hr-csv source")
    };
    assert_eq!((hr.max_field_bytes, hr.max_field_lines), (100, 2));
    for (extra, key) in [
        ("max_field_lines = 0", "sources[0].max_field_lines"),
        ("max_field_bytes = 2000000", "sources[0].max_field_bytes"),
        ("total = \"meta.total\"", "sources[0].total"),
    ] {
        let text = MINIMAL.replace("path = \"hr.csv\"", &format!("path = \"hr.csv\"\n{extra}"));
        match parse_in(dir.path(), &text) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{extra}"),
            other => panic!("expected Invalid for {extra}, got {other:?}"),
        }
    }
}

#[test]
fn policy_values_parse() {
    let dir = dir_with_token();
    let text = format!(
        "{MINIMAL}\n[policy]\nmax_deactivations = 3\ndeactivate = \"delete\"\nadopt = \"none\"\n"
    );
    let s = parse_in(dir.path(), &text).unwrap();
    assert_eq!(s.policy.max_deactivations, Threshold::Count(3));
    assert_eq!(s.policy.deactivate, DeactivateMode::Delete);
    assert_eq!(s.policy.adopt, Adopt::None);
    let bad = format!("{MINIMAL}\n[policy]\nmax_deactivations = \"lots\"\n");
    assert!(matches!(
        parse_in(dir.path(), &bad),
        Err(ConfigError::Invalid { .. })
    ));
}

#[test]
fn absence_grace_parses_with_defaults_and_bounds() {
    use crate::plan::AbsenceGrace;
    let dir = dir_with_token();
    let s = parse_in(dir.path(), MINIMAL).unwrap();
    assert_eq!(s.policy.absence_grace, AbsenceGrace::default());
    let text = format!("{MINIMAL}\n[policy]\nabsence_grace = {{ runs = 0, duration = \"0s\" }}\n");
    assert_eq!(
        parse_in(dir.path(), &text).unwrap().policy.absence_grace,
        AbsenceGrace::NONE
    );
    // A key left out keeps its default.
    let text = format!("{MINIMAL}\n[policy]\nabsence_grace = {{ duration = \"3d\" }}\n");
    let grace = parse_in(dir.path(), &text).unwrap().policy.absence_grace;
    assert_eq!(
        (grace.runs, grace.duration),
        (2, chrono::TimeDelta::days(3))
    );
    for (value, key) in [
        ("{ runs = -1 }", "policy.absence_grace.runs"),
        ("{ runs = 5000 }", "policy.absence_grace.runs"),
        ("{ duration = \"24\" }", "policy.absence_grace.duration"),
        ("{ duration = \"400d\" }", "policy.absence_grace.duration"),
    ] {
        let text = format!("{MINIMAL}\n[policy]\nabsence_grace = {value}\n");
        let err = parse_in(dir.path(), &text).unwrap_err().to_string();
        assert!(err.contains(key), "{value}: {err}");
    }
    let text = format!("{MINIMAL}\n[policy]\nabsence_grace = {{ days = 2 }}\n");
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(err.contains("days"), "{err}");
}

#[test]
fn missing_token_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = parse_in(dir.path(), MINIMAL).unwrap_err().to_string();
    assert!(err.contains("token"), "{err}");
    assert!(err.contains("cannot read secret file"), "{err}");
}

#[test]
fn password_in_store_url_is_refused() {
    let dir = dir_with_token();
    let text = format!("[store]\nurl = \"postgres://u:pw@db/x\"\n{MINIMAL}");
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(err.contains("url_env"), "{err}");
    assert!(!err.contains("pw@"), "{err}");
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("s"), None);
    assert_eq!(parse_duration("10 parsecs"), None);
}

/// Config durations use the one grammar (docs/config.md, "Durations"): compound and day units
/// are read (the old parser refused `1h 30m` and `2d`), a bare number is still refused here.
#[test]
fn config_durations_take_the_one_grammar() {
    let dir = dir_with_token();
    let with = |key: &str, value: &str| {
        MINIMAL.replace(
            "token_file = \"token\"",
            &format!("token_file = \"token\"\n{key} = \"{value}\""),
        )
    };
    let s = parse_in(dir.path(), &with("timeout", "1m 30s")).unwrap();
    assert_eq!(s.target.timeout, Duration::from_secs(90));
    let s = parse_in(dir.path(), &with("max_retry_after", "1d")).unwrap();
    assert_eq!(s.target.max_retry_after, Duration::from_secs(86_400));
    for bad in ["30", "0s", "soon"] {
        match parse_in(dir.path(), &with("timeout", bad)) {
            Err(ConfigError::Invalid { key, line: 5, .. }) if key == "target.timeout" => {}
            other => panic!("{bad}: expected an error at target.timeout, got {other:?}"),
        }
    }
}

#[test]
fn store_retention_is_keep_by_default_and_at_least_a_day() {
    let dir = dir_with_token();
    let s = parse_in(dir.path(), MINIMAL).unwrap();
    assert_eq!(s.store_retention, None);
    let with = |value: &str| format!("[store]\nretention = \"{value}\"\n{MINIMAL}");
    let s = parse_in(dir.path(), &with("400d")).unwrap();
    assert_eq!(s.store_retention, Some(Duration::from_secs(400 * 86_400)));
    let s = parse_in(dir.path(), &with("8w")).unwrap();
    assert_eq!(s.store_retention, Some(Duration::from_secs(56 * 86_400)));
    assert_eq!(
        parse_in(dir.path(), &with("keep")).unwrap().store_retention,
        None
    );
    for bad in ["1h", "soon", "0d", "-3d"] {
        let err = parse_in(dir.path(), &with(bad)).unwrap_err().to_string();
        assert!(
            err.contains("idbridge.toml:2:") && err.contains("store.retention"),
            "{bad}: {err}"
        );
    }
}

/// The example configs in `examples/` must stay valid (secrets pointed at a file for the test).
#[test]
fn example_configs_parse() {
    let dir = dir_with_token();
    std::fs::write(dir.path().join("ca.pem"), "not read at load time").unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["idbridge.toml", "ldap-hr.toml"] {
        let text = std::fs::read_to_string(root.join("examples").join(name)).unwrap();
        let text = text
            .replace(
                "token_env = \"NOTION_SCIM_TOKEN\"",
                "token_file = \"token\"",
            )
            .replace(
                "password_env = \"LDAP_BIND_PASSWORD\"",
                "password_file = \"token\"",
            )
            .replace(
                "url_env = \"IDBRIDGE_STORE_URL\"",
                "url = \"sqlite://x.db\"",
            )
            .replace("/etc/idbridge/acme-ca.pem", "ca.pem");
        let settings =
            parse_in(dir.path(), &text).unwrap_or_else(|e| panic!("examples/{name}: {e}"));
        assert!(!settings.sources.is_empty());
        if name == "ldap-hr.toml" {
            assert_eq!(settings.mapping.join.require, vec!["hr".to_owned()]);
            assert_eq!(settings.mapping.scope.groups.len(), 1);
            let SourceSettings::Ldap(ldap) = &settings.sources[0] else {
                panic!("ldap first")
            };
            assert!(ldap.starttls && ldap.groups.is_some());
        }
    }
}

#[test]
fn mapping_and_join_errors_name_key_and_column() {
    let dir = dir_with_token();
    let text = format!("{MINIMAL}\n[mapping]\ntitle = \"{{upper(title}}\"\n");
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(
        err.contains("mapping.title") && err.contains("column"),
        "{err}"
    );
    let text = format!("{MINIMAL}\n[join]\nrequire = [\"payroll\"]\n");
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(
        err.contains("join.require") && err.contains("payroll"),
        "{err}"
    );
    let text = format!("{MINIMAL}\n[mapping]\nnickname = \"{{x}}\"\n");
    assert!(parse_in(dir.path(), &text)
        .unwrap_err()
        .to_string()
        .contains("unknown SCIM attribute"));
}

#[test]
fn fixed_choices_are_checked_with_their_line() {
    let dir = dir_with_token();
    std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
    let ldap = |extra: &str| {
        format!(
            "[target]\nkind = \"notion\"\ntoken_file = \"token\"\n\n[[sources]]\nname = \"corp\"\nkind = \"ldap\"\n\
             url = \"ldap://127.0.0.1:389\"\nusers = {{ base = \"ou=people,dc=x\" }}\n{extra}\n"
        )
    };
    let cases = [
        (
            ldap("dialect = \"novell\""),
            "sources[0].dialect",
            10,
            "\"openldap\"",
        ),
        (
            ldap("nested = \"in-chain\""),
            "sources[0].nested",
            10,
            "Active Directory",
        ),
        (
            format!("{MINIMAL}\n[policy]\ndeactivate = \"suspend\"\n"),
            "policy.deactivate",
            12,
            "\"active-false\", \"delete\"",
        ),
        (
            format!("{MINIMAL}\n[policy]\nadopt = \"all\"\n"),
            "policy.adopt",
            12,
            "\"match-email\", \"none\"",
        ),
    ];
    for (text, key, line, hint) in cases {
        match parse_in(dir.path(), &text) {
            Err(e @ ConfigError::Invalid { .. }) => {
                let ConfigError::Invalid {
                    key: k, line: l, ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((k.as_str(), *l), (key, line), "{e}");
                assert!(e.to_string().contains(hint), "{e}");
            }
            other => panic!("{key}: expected Invalid, got {other:?}"),
        }
    }
    let ad = ldap("dialect = \"ad\"\nnested = \"in-chain\"");
    let settings = parse_in(dir.path(), &ad).unwrap();
    let SourceSettings::Ldap(l) = &settings.sources[0] else {
        panic!("ldap")
    };
    assert_eq!(
        (l.dialect, l.nested),
        (LdapDialect::ActiveDirectory, NestedGroups::InChain)
    );
}

/// The config file's name and a config around `extra` lines, for the secret tests.
fn config_with(dir: &Path, text: &str) -> Result<Settings, ConfigError> {
    std::fs::write(dir.join("pw"), "pw\n").unwrap();
    parse_in(dir, text)
}

// Over 80 lines: a table of cases, one per line or two; split, the table would be harder to
// read as a whole.
#[test]
fn a_secret_typed_into_the_config_is_never_echoed() {
    const SECRET: &str = "s3cr3t-canary-77";
    let dir = dir_with_token();
    let target = |line: &str| {
        MINIMAL.replace(
            "token_file = \"token\"",
            &format!("token_file = \"token\"\n{line}"),
        )
    };
    let source = |line: &str| format!("{MINIMAL}{line}\n");
    let cases = [
        // The natural slip: `token` for `token_env`.
        (
            target(&format!("token = \"{SECRET}\"")),
            Some("target.token"),
            "token_env",
        ),
        // Syntax errors on the secret's own line.
        (target(&format!("token = \"{SECRET}")), None, ""),
        (target(&format!("token = {SECRET}")), None, ""),
        (
            target(&format!("token = \"{SECRET}\"\ntoken = \"{SECRET}\"")),
            None,
            "",
        ),
        // Another table, other names.
        (
            source(&format!("password = \"{SECRET}\"")),
            Some("sources[0].password"),
            "password_env",
        ),
        (
            source(&format!("bind_password = '{SECRET}'")),
            Some("sources[0].bind_password"),
            "password_env",
        ),
        (
            source(&format!("api_key = \"{SECRET}\"")),
            Some("sources[0].api_key"),
            "token_env",
        ),
        (
            format!("[store]\nsecret = \"{SECRET}\"\n{MINIMAL}"),
            Some("store.secret"),
            "url_env",
        ),
        // A secret inside an inline table under an unknown key.
        (
            target(&format!("creds = {{ token = \"{SECRET}\" }}")),
            Some("target.creds"),
            "unknown key",
        ),
        // A later, unrelated error while the file holds a secret.
        (
            format!(
                "{}\n[policy]\nadopt = \"{SECRET}\"\n",
                target(&format!("x_token = \"{SECRET}\""))
            ),
            Some("target.x_token"),
            "",
        ),
    ];
    for (text, key, hint) in cases {
        let err = config_with(dir.path(), &text).unwrap_err();
        let shown = format!("{err}\n{err:?}");
        assert!(!shown.contains(SECRET), "the secret leaked:\n{shown}");
        assert!(
            !shown.contains("s3cr3t"),
            "part of the secret leaked:\n{shown}"
        );
        if let Some(key) = key {
            assert!(
                matches!(&err, ConfigError::Invalid { key: k, .. } if k == key),
                "{key}: {shown}"
            );
        }
        assert!(shown.contains(hint), "{hint}: {shown}");
    }
    // A syntax error elsewhere keeps its line for the admin, with the secret masked.
    let text = target(&format!("token = \"{SECRET}\"\ntoken = \"{SECRET}\""));
    let err = config_with(dir.path(), &text).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Parse { line: 6, snippet: Some(s), .. } if s == "token = \"***\""),
        "{err:?}"
    );
}

// Over 80 lines: a table of cases, one per line or two; split, the table would be harder to
// read as a whole.
#[test]
fn credentials_in_urls_are_refused_by_name() {
    const SECRET: &str = "s3cr3t-canary-88";
    let dir = dir_with_token();
    let target_url = |url: &str| {
        MINIMAL.replace(
            "kind = \"notion\"",
            &format!("kind = \"notion\"\nurl = \"{url}\""),
        )
    };
    let ldap = |url: &str| {
        format!(
            "[target]\nkind = \"notion\"\ntoken_file = \"token\"\n\n[[sources]]\nname = \"corp\"\nkind = \"ldap\"\n\
             url = \"{url}\"\nusers = {{ base = \"ou=people,dc=x\" }}\n"
        )
    };
    let http = |url: &str| {
        format!(
            "[target]\nkind = \"notion\"\ntoken_file = \"token\"\n\n[[sources]]\nname = \"hr\"\nkind = \"hr-http\"\n\
             url = \"{url}\"\n"
        )
    };
    let cases = [
        (
            target_url(&format!("https://x.test/scim/v2?token={SECRET}")),
            "target.url",
            "`token=…`",
        ),
        (
            target_url(&format!("https://x.test/scim/v2?a=1&access_token={SECRET}")),
            "target.url",
            "`access_token=…`",
        ),
        (
            target_url(&format!("https://admin:{SECRET}@x.test/scim/v2")),
            "target.url",
            "before the host",
        ),
        (
            target_url(&format!("https://admin:{SECRET}/x@x.test/scim/v2")),
            "target.url",
            "before the host",
        ),
        (
            target_url(&format!("htps:/broken?sig={SECRET}")),
            "target.url",
            "`sig=…`",
        ),
        (
            http(&format!("https://hr.test/v1/employees?api_key={SECRET}")),
            "sources[0].url",
            "`api_key=…`",
        ),
        (
            ldap(&format!("ldap://cn=admin:{SECRET}@127.0.0.1:389")),
            "sources[0].url",
            "before the host",
        ),
        (
            format!("[store]\nurl = \"postgres://db/idb?password={SECRET}\"\n{MINIMAL}"),
            "store.url",
            "`password=…`",
        ),
        (
            format!("[store]\nurl = \"postgres://u:{SECRET}@db/idb\"\n{MINIMAL}"),
            "store.url",
            "a password",
        ),
    ];
    for (text, key, what) in cases {
        let err = parse_in(dir.path(), &text).unwrap_err();
        let shown = format!("{err}\n{err:?}");
        assert!(!shown.contains(SECRET), "the secret leaked:\n{shown}");
        assert!(
            matches!(&err, ConfigError::Invalid { key: k, .. } if k == key),
            "{key}: {shown}"
        );
        assert!(shown.contains(what), "{what}: {shown}");
    }
    // Plain URLs, a store user without a password, paths with `@` are fine.
    for text in [
        target_url("https://x.test:8443/scim/v2?tenant=acme"),
        format!("[store]\nurl = \"postgres://idbridge@db:5432/idb?sslmode=require\"\n{MINIMAL}"),
    ] {
        parse_in(dir.path(), &text).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_relative_store_path_resolves_against_the_config_folder() {
    let dir = dir_with_token();
    let store = |url: &str| {
        let text = format!("[store]\nurl = \"{url}\"\n{MINIMAL}");
        let s = parse_in(dir.path(), &text).unwrap_or_else(|e| panic!("{url}: {e}"));
        s.store_url.expose_secret().to_owned()
    };
    let d = dir.path().display();
    assert_eq!(
        store("sqlite://state.db?mode=rwc"),
        format!("sqlite://{d}/state.db?mode=rwc")
    );
    assert_eq!(
        store("sqlite:sub/state.db"),
        format!("sqlite://{d}/sub/state.db")
    );
    assert_eq!(store("state.db"), format!("{d}/state.db"));
    assert_eq!(store("/var/lib/idbridge/x.db"), "/var/lib/idbridge/x.db");
    assert_eq!(store("sqlite::memory:"), "sqlite::memory:");
    assert_eq!(store("postgres://u@db/idb"), "postgres://u@db/idb");
    // A URL from url_file too.
    std::fs::write(dir.path().join("store-url"), "sqlite://from-file.db\n").unwrap();
    let text = format!("[store]\nurl_file = \"store-url\"\n{MINIMAL}");
    let s = parse_in(dir.path(), &text).unwrap();
    assert_eq!(
        s.store_url.expose_secret(),
        format!("sqlite://{d}/from-file.db")
    );
}

#[test]
fn load_reads_only_a_bounded_regular_file() {
    let dir = dir_with_token();
    let path = dir.path().join("idbridge.toml");
    // A valid config padded past the bound: refused before it is parsed.
    let mut text = MINIMAL.to_owned();
    let pad = format!("# {}\n", "x".repeat(1000));
    while text.len() as u64 <= MAX_CONFIG_BYTES {
        text.push_str(&pad);
    }
    std::fs::write(&path, &text).unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert!(err.contains("larger than 1 MiB"), "{err}");
    std::fs::write(&path, MINIMAL).unwrap();
    load(&path).unwrap();
    for irregular in [dir.path(), Path::new("/dev/zero")] {
        if irregular.exists() {
            let err = load(irregular).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
    }
    std::fs::write(&path, b"[target]\nkind = \"\xff\"\n").unwrap();
    assert!(load(&path).unwrap_err().to_string().contains("not UTF-8"));
}

#[test]
fn a_relative_config_path_still_anchors_paths_to_its_folder() {
    // `load` makes the folder absolute, so the resolved paths do not depend on the working
    // directory of later code.
    let dir = dir_with_token();
    std::fs::write(dir.path().join("idbridge.toml"), MINIMAL).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let relative = pathdiff(dir.path(), &cwd);
    let s = load(&relative.join("idbridge.toml")).unwrap();
    let SourceSettings::HrCsv(hr) = &s.sources[0] else {
        panic!("hr-csv")
    };
    assert!(hr.path.is_absolute(), "{}", hr.path.display());
    assert!(s.store_url.expose_secret().starts_with("sqlite:///"));
}

/// `to` written relative to `from` (both absolute), through `..` as needed.
fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

#[test]
fn status_map_entries_add_to_the_defaults() {
    let dir = dir_with_token();
    let text = MINIMAL.replace(
        "path = \"hr.csv\"",
        "path = \"hr.csv\"\nstatus_map = { Contractor = \"active\", leave = \"\", inactive = \"active\" }",
    );
    let s = parse_in(dir.path(), &text).unwrap();
    let SourceSettings::HrCsv(hr) = &s.sources[0] else {
        panic!("hr-csv")
    };
    let map = &hr.status_map;
    assert_eq!(
        map.get("terminated"),
        Some(&StatusKind::Inactive),
        "a default stays"
    );
    assert_eq!(
        map.get("contractor"),
        Some(&StatusKind::Active),
        "an entry adds"
    );
    assert_eq!(
        map.get("inactive"),
        Some(&StatusKind::Active),
        "an entry overrides"
    );
    assert_eq!(map.get("leave"), None, "\"\" removes a default");
    assert_eq!(map.get("on leave"), Some(&StatusKind::Active));
    let bad = MINIMAL.replace(
        "path = \"hr.csv\"",
        "path = \"hr.csv\"\nstatus_map = { gone = \"left\" }",
    );
    let err = parse_in(dir.path(), &bad).unwrap_err().to_string();
    assert!(
        err.contains("sources[0].status_map.gone")
            && err.contains("\"active\", \"inactive\", \"\""),
        "{err}"
    );
}

const LDAP_HR: &str = r#"
[target]
kind = "notion"
token_file = "token"

[[sources]]
name = "corp"
kind = "ldap"
url = "ldap://127.0.0.1:389"
users = { base = "ou=people,dc=x" }
extra_attributes = ["costCenter"]

[[sources]]
name = "hr"
kind = "hr-csv"
path = "hr.csv"
"#;

/// Each source kind is read as its own struct, chosen by `kind`: a key of another kind is
/// refused at its line (before, only a hand-kept list of keys was, and `max_pages` on a CSV
/// source, `columns` on an LDAP one, passed unread), a misspelt key is matched against its own
/// kind's keys, and the positions of everything else are still the file's.
// Over 80 lines: a table of cases; split, the table would be harder to read as a whole.
#[test]
fn each_source_kind_takes_only_its_own_keys() {
    let dir = dir_with_token();
    // `(text, key, line, says)`; LDAP_HR's ldap entry is lines 6-11, its hr-csv entry 13-16.
    let cases = [
        (
            MINIMAL.replace("path = \"hr.csv\"", "path = \"hr.csv\"\nmax_pages = 5"),
            "sources[0].max_pages",
            10,
            "`max_pages` does not apply to a `hr-csv` source",
        ),
        (
            MINIMAL.replace("path = \"hr.csv\"", "path = \"hr.csv\"\nbind_dn = \"cn=x\""),
            "sources[0].bind_dn",
            10,
            "`bind_dn` does not apply to a `hr-csv` source",
        ),
        (
            LDAP_HR.replace(
                "extra_attributes",
                "columns = { email = \"mail\" }\nextra_attributes",
            ),
            "sources[0].columns",
            11,
            "`columns` does not apply to a `ldap` source",
        ),
        (
            LDAP_HR.replace("path = \"hr.csv\"", "path = \"hr.csv\"\ntimeout = \"5s\""),
            "sources[1].timeout",
            17,
            "`timeout` does not apply to a `hr-csv` source",
        ),
        (
            LDAP_HR.replace(
                "extra_attributes",
                "serch_timeout = \"5s\"\nextra_attributes",
            ),
            "sources[0].serch_timeout",
            11,
            "did you mean `search_timeout`?",
        ),
        (
            MINIMAL.replace("kind = \"hr-csv\"", "knd = \"hr-csv\""),
            "sources[0].knd",
            8,
            "did you mean `kind`?",
        ),
        (
            LDAP_HR.replace("users = { base", "users = { filtr = \"(x)\", base"),
            "sources[0].users.filtr",
            10,
            "did you mean `filter`?",
        ),
    ];
    for (text, key, line, says) in cases {
        match parse_in(dir.path(), &text) {
            Err(e @ ConfigError::Invalid { .. }) => {
                let ConfigError::Invalid {
                    key: k, line: l, ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((k.as_str(), *l), (key, line), "{e}");
                assert!(e.to_string().contains(says), "{says}: {e}");
            }
            other => panic!("{key}: expected Invalid, got {other:?}"),
        }
    }
    // A missing kind is serde's error, at the entry.
    let text = MINIMAL.replace("kind = \"hr-csv\"\n", "");
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(
        err.contains("idbridge.toml:6:") && err.contains("missing field `kind`"),
        "{err}"
    );
    // Two kinds side by side each keep their own keys.
    let both = LDAP_HR.replace(
        "path = \"hr.csv\"",
        "path = \"hr.csv\"\ndelimiter = \";\"\nmax_file_bytes = 1000",
    );
    let settings = parse_in(dir.path(), &both).unwrap();
    let SourceSettings::HrCsv(hr) = &settings.sources[1] else {
        panic!("hr-csv second")
    };
    assert_eq!((hr.delimiter, hr.max_file_bytes), (b';', 1000));
}

// Over 80 lines: a table of cases, one per line or two; split, the table would be harder to
// read as a whole.
#[test]
fn templates_read_only_what_some_source_provides() {
    let dir = dir_with_token();
    let ok = |base: &str, tail: &str| {
        parse_in(dir.path(), &format!("{base}\n{tail}\n"))
            .unwrap_or_else(|e| panic!("{tail}: {e}"));
    };
    let fails = |base: &str, tail: &str, key: &str, says: &str| {
        let err = parse_in(dir.path(), &format!("{base}\n{tail}\n")).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key: k, .. } if k == key),
            "{tail}: {err}"
        );
        assert!(err.to_string().contains(says), "{tail}: {err}");
    };
    fails(
        MINIMAL,
        "[mapping]\ntitle = \"{upper(titel)}\"",
        "mapping.title",
        "did you mean `title`?",
    );
    fails(
        MINIMAL,
        "[mapping]\ngivenName = \"{first_name}\"",
        "mapping.givenName",
        "as `givenName`",
    );
    fails(
        MINIMAL,
        "[mapping]\ndisplayName = \"{displayName}\"",
        "mapping.displayName",
        "They provide: department, email,",
    );
    fails(
        MINIMAL,
        "[mapping]\nemail = \"{lower(crop.mail)}\"",
        "mapping.email",
        "`crop` is not a configured source",
    );
    fails(
        LDAP_HR,
        "[mapping]\nemail = \"{lower(crop.mail)}\"",
        "mapping.email",
        "did you mean `corp`?",
    );
    fails(
        LDAP_HR,
        "[mapping]\ntitle = \"{corp.costcenter}\"",
        "mapping.title",
        "did you mean `costCenter`?",
    );
    fails(
        LDAP_HR,
        "[mapping]\ntitle = \"{corp.employeeType}\"",
        "mapping.title",
        "source `corp` does not provide `employeeType`",
    );
    fails(
        LDAP_HR,
        "[mapping]\ntitle = \"{hr.mail}\"",
        "mapping.title",
        "source `hr` does not provide `mail`",
    );
    fails(
        LDAP_HR,
        "[groups]\nname = \"{nmae}\"",
        "groups.name",
        "did you mean `name`?",
    );
    fails(
        LDAP_HR,
        "[groups]\nname = \"{corp.cn}\"",
        "groups.name",
        "without a source prefix",
    );
    fails(
        LDAP_HR,
        "[join]\nprecedence = { titel = [\"hr\", \"corp\"] }",
        "join.precedence.titel",
        "did you mean `title`?",
    );
    fails(
        LDAP_HR,
        "[scope]\nwhere = { departement = [\"Eng\"] }",
        "scope.where.departement",
        "did you mean `department`?",
    );
    fails(
        &LDAP_HR.replace(
            "path = \"hr.csv\"",
            "path = \"hr.csv\"\njoin_attr = \"employeID\"",
        ),
        "",
        "sources[1].join_attr",
        "did you mean `employeeId`?",
    );
    // What the sources provide: canonical names, LDAP role attributes and extra attributes.
    ok(LDAP_HR, "[mapping]\ntitle = \"{default(corp.costCenter, corp.departmentNumber)} {corp.uid} {login} {dn}\"\ndisplayName = \"{corp.displayName}\"");
    ok(LDAP_HR, "[mapping]\nemployeeNumber = \"{corp.entryUUID}\"\n[groups]\nname = \"{default(description, cn)} {dn} {name}\"");
    ok(LDAP_HR, "[join]\nprecedence = { status = [\"hr\", \"corp\"], title = [\"hr\"] }\n[scope]\nwhere = { department = [\"Eng\"] }");
    ok(
        MINIMAL,
        "[mapping]\ntitle = \"{\\\"Staff\\\"}\"\ndepartment = \"\"",
    );
    // Active Directory adds `upn` and its attribute; OpenLDAP has neither.
    let ad = LDAP_HR.replace("kind = \"ldap\"", "kind = \"ldap\"\ndialect = \"ad\"");
    ok(
        &ad,
        "[mapping]\nuserName = \"{lower(upn)}\"\nemail = \"{corp.userPrincipalName}\"",
    );
    fails(
        LDAP_HR,
        "[mapping]\nuserName = \"{lower(upn)}\"",
        "mapping.userName",
        "`upn`",
    );
}

/// The kinds' spellings are derived (strum), so they list every variant by construction; these
/// are the spellings configs already use.
#[test]
fn kinds_are_spelled_as_configs_spell_them() {
    crate::spellings::assert_spellings::<TargetKind>(&["notion", "scim"]);
    crate::spellings::assert_serialized_alike::<TargetKind>();
    crate::spellings::assert_deserialized_alike::<TargetKind>();
    crate::spellings::assert_spellings::<SourceKind>(&["hr-csv", "hr-http", "ldap"]);
}

/// Every variant in `all` has a spelling in `options`. Callers build `all` through a match that
/// stops compiling when a variant is added, so the lists cannot forget one.
fn assert_covers<T: PartialEq + Copy + std::fmt::Debug>(
    name: &str,
    options: &[(&str, T)],
    all: &[T],
) {
    for v in all {
        assert!(
            options.iter().any(|(_, o)| o == v),
            "{name} has no spelling for {v:?}"
        );
    }
}

#[test]
fn every_choice_lists_every_variant() {
    let dialects = [LdapDialect::OpenLdap, LdapDialect::ActiveDirectory];
    dialects.iter().for_each(|d| match d {
        LdapDialect::OpenLdap | LdapDialect::ActiveDirectory => {}
    });
    assert_covers("dialect", &DIALECTS, &dialects);
    let nested = [
        NestedGroups::Resolve,
        NestedGroups::InChain,
        NestedGroups::Off,
    ];
    nested.iter().for_each(|n| match n {
        NestedGroups::Resolve | NestedGroups::InChain | NestedGroups::Off => {}
    });
    assert_covers("nested", &NESTED, &nested);
    let scopes = [LdapScope::Base, LdapScope::One, LdapScope::Sub];
    scopes.iter().for_each(|s| match s {
        LdapScope::Base | LdapScope::One | LdapScope::Sub => {}
    });
    assert_covers("scope", &SCOPES, &scopes);
    let auths = [HttpAuth::Bearer, HttpAuth::Basic];
    auths.iter().for_each(|a| match a {
        HttpAuth::Bearer | HttpAuth::Basic => {}
    });
    assert_covers("auth", &AUTHS, &auths);
    let modes = [DeactivateMode::ActiveFalse, DeactivateMode::Delete];
    modes.iter().for_each(|m| match m {
        DeactivateMode::ActiveFalse | DeactivateMode::Delete => {}
    });
    assert_covers("policy.deactivate", &DEACTIVATE_MODES, &modes);
    let adopt = [Adopt::MatchEmail, Adopt::None];
    adopt.iter().for_each(|a| match a {
        Adopt::MatchEmail | Adopt::None => {}
    });
    assert_covers("policy.adopt", &ADOPT_MODES, &adopt);
    let disabled = [DisabledAccounts::Deactivate, DisabledAccounts::Grace];
    disabled.iter().for_each(|d| match d {
        DisabledAccounts::Deactivate | DisabledAccounts::Grace => {}
    });
    assert_covers("policy.disabled_accounts", &DISABLED_MODES, &disabled);
    let classes = [Some(StatusKind::Active), Some(StatusKind::Inactive), None];
    classes.iter().flatten().for_each(|c| match c {
        StatusKind::Active | StatusKind::Inactive => {}
        // Only the directory says "disabled" (an account flag), never a `status_map`.
        StatusKind::Disabled => unreachable!(),
    });
    assert_covers("status_map", &STATUS_CLASSES, &classes);
    assert_covers("preset", &PRESETS, &[true]);
}

#[test]
fn unknown_values_list_every_accepted_value() {
    let dir = dir_with_token();
    std::fs::write(dir.path().join("pw"), "pw\n").unwrap();
    let source_kinds: Vec<&str> = SourceKind::iter().map(Into::into).collect();
    let target_kinds: Vec<&str> = TargetKind::iter().map(Into::into).collect();
    let cases = [
        (
            MINIMAL.replace("kind = \"hr-csv\"", "kind = \"hr-api\""),
            &source_kinds[..],
        ),
        (
            MINIMAL.replace("kind = \"notion\"", "kind = \"slack\""),
            &target_kinds[..],
        ),
        (
            LDAP_HR.replace("extra_attributes", "dialect = \"novell\"\nextra_attributes"),
            &DIALECTS.map(|(n, _)| n)[..],
        ),
        (
            LDAP_HR.replace(
                "base = \"ou=people,dc=x\"",
                "base = \"ou=people,dc=x\", scope = \"tree\"",
            ),
            &SCOPES.map(|(n, _)| n)[..],
        ),
        (
            LDAP_HR.replace(
                "extra_attributes",
                "attributes = { email = \"mail\" }\nextra_attributes",
            ),
            &LDAP_ROLES[..],
        ),
    ];
    for (text, accepted) in cases {
        let err = parse_in(dir.path(), &text).unwrap_err().to_string();
        for name in accepted {
            assert!(err.contains(name), "{name} missing: {err}");
        }
    }
    // Every role listed in the error is accepted.
    for role in LDAP_ROLES {
        let text = LDAP_HR.replace(
            "extra_attributes",
            &format!("attributes = {{ {role} = \"x\" }}\nextra_attributes"),
        );
        parse_in(dir.path(), &text).unwrap_or_else(|e| panic!("{role}: {e}"));
    }
}

#[test]
fn serve_table_resolves_every_or_cron_and_reads_no_secret() {
    let dir = dir_with_token();
    let text = format!(
        "{MINIMAL}\n[serve]\nlisten = \"0.0.0.0:8080\"\nevery = \"30m\"\njitter = \"1m\"\napi_token_file = \"missing-api-token\"\n"
    );
    // The API token file does not exist: only `serve` reads it, when it needs it.
    let s = parse_in(dir.path(), &text).unwrap();
    let serve = s.serve.unwrap();
    assert_eq!(serve.listen.to_string(), "0.0.0.0:8080");
    assert!(
        matches!(serve.schedule, crate::serve::schedule::Schedule::Every(d) if d.as_secs() == 1800)
    );
    assert_eq!(serve.jitter.as_secs(), 60);
    assert_eq!(serve.history, 50);
    assert_eq!(
        serve.api_token,
        Some(secrets::SecretSource::File(
            dir.path().join("missing-api-token")
        ))
    );
    let text = format!(
        "{MINIMAL}\n[serve]\nlisten = \"[::]:9000\"\ncron = \"0 7 * * 1-5\"\ntimezone = \"Europe/Paris\"\n"
    );
    let serve = parse_in(dir.path(), &text).unwrap().serve.unwrap();
    assert_eq!(
        serve.schedule.describe(),
        "cron \"0 7 * * 1-5\" in Europe/Paris"
    );
    assert!(serve.api_token.is_none());
    assert!(parse_in(dir.path(), MINIMAL).unwrap().serve.is_none());
}

#[test]
fn serve_errors_name_key_and_line() {
    let dir = dir_with_token();
    let base_lines = MINIMAL.lines().count();
    let cases = [
        ("every = \"1h\"\n", "serve.listen", "needs `listen`"),
        ("listen = \"localhost:80\"\nevery = \"1h\"\n", "serve.listen", "not an IP address"),
        ("listen = \"0.0.0.0:80\"\n", "serve.every", "needs a schedule"),
        ("listen = \"0.0.0.0:80\"\nevery = \"1h\"\ncron = \"0 * * * *\"\n", "serve.every", "not both"),
        ("listen = \"0.0.0.0:80\"\nevery = \"soon\"\n", "serve.every", "not a duration"),
        ("listen = \"0.0.0.0:80\"\ncron = \"0 7 * *\"\n", "serve.cron", "five fields"),
        ("listen = \"0.0.0.0:80\"\ncron = \"0 7 * * *\"\ntimezone = \"Paris\"\n", "serve.timezone", "IANA"),
        ("listen = \"0.0.0.0:80\"\nevery = \"1h\"\ntimezone = \"UTC\"\n", "serve.timezone", "`cron` only"),
        ("listen = \"0.0.0.0:80\"\nevery = \"1h\"\napi_token_env = \"A\"\napi_token_file = \"f\"\n", "serve.api_token_env", "not both"),
        ("listen = \"0.0.0.0:80\"\nevery = \"1h\"\nhistory = 0\n", "serve.history", "between 1 and 1000"),
        ("listen = \"0.0.0.0:80\"\nevery = \"1h\"\nevry = \"1h\"\n", "", "evry"),
    ];
    for (body, key, says) in cases {
        let text = format!("{MINIMAL}\n[serve]\n{body}");
        let err = parse_in(dir.path(), &text).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(key) && message.contains(says),
            "{body}: {message}"
        );
        let line: usize = message.split(':').nth(1).unwrap().parse().unwrap_or(0);
        assert!(
            line > base_lines,
            "{body}: the error names a line of [serve]: {message}"
        );
    }
}

#[test]
fn saml_table_takes_a_file_or_a_url_without_credentials() {
    let dir = dir_with_token();
    let text = format!("{MINIMAL}\n[saml]\nmetadata = \"idp.xml\"\n");
    let saml = parse_in(dir.path(), &text).unwrap().saml.unwrap();
    assert_eq!(
        saml.metadata,
        MetadataSource::File(dir.path().join("idp.xml"))
    );
    assert_eq!(saml.warn_days, 30);
    let text =
        format!("{MINIMAL}\n[saml]\nmetadata = \"https://idp.example/metadata\"\nwarn_days = 14\n");
    let saml = parse_in(dir.path(), &text).unwrap().saml.unwrap();
    assert!(matches!(saml.metadata, MetadataSource::Url(_)));
    let text = format!("{MINIMAL}\n[saml]\nmetadata = \"https://idp.example/m?sig=s3cr3t\"\n");
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(
        err.contains("saml.metadata") && !err.contains("s3cr3t"),
        "{err}"
    );
    let text = format!("{MINIMAL}\n[saml]\nentity = \"x\"\n");
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(
        err.contains("saml.metadata") && err.contains("needs `metadata`"),
        "{err}"
    );
}

#[test]
fn alerts_take_a_webhook_from_env_or_file_with_defaults() {
    let dir = dir_with_token();
    let s = parse_in(
        dir.path(),
        &format!("{MINIMAL}\n[alerts]\nwebhook_url_file = \"hook\"\n"),
    )
    .unwrap();
    let alerts = s.alerts.unwrap();
    let webhook = alerts.webhook.unwrap();
    assert_eq!(
        webhook.url,
        secrets::SecretSource::File(dir.path().join("hook"))
    );
    assert_eq!(webhook.format, WebhookFormat::Slack);
    assert_eq!(alerts.warn_days, 30);
    assert_eq!(alerts.timeout, alerts::DEFAULT_ALERT_TIMEOUT);
    // The file is read when an alert is sent, not at load: a missing one is no config error.
    let s = parse_in(
        dir.path(),
        &format!(
            "{MINIMAL}\n[alerts]\nwebhook_url_env = \"ALERT_HOOK\"\nformat = \"generic\"\nwarn_days = 14\ntimeout = \"5s\"\n"
        ),
    )
    .unwrap();
    let alerts = s.alerts.unwrap();
    let webhook = alerts.webhook.unwrap();
    assert_eq!(webhook.url, secrets::SecretSource::Env("ALERT_HOOK".into()));
    assert_eq!(webhook.format, WebhookFormat::Generic);
    assert_eq!(alerts.warn_days, 14);
    assert!(parse_in(dir.path(), MINIMAL).unwrap().alerts.is_none());
}

#[test]
fn alerts_errors_name_their_line_and_never_echo_a_url() {
    let dir = dir_with_token();
    let base = MINIMAL.lines().count() + 2;
    for (body, key, line, says) in [
        (
            "warn_days = 3\n",
            "alerts.webhook_url_env",
            base,
            "nowhere to send",
        ),
        (
            "webhook_url_env = \"A\"\nwebhook_url_file = \"b\"\n",
            "alerts.webhook_url_env",
            base + 1,
            "not both",
        ),
        (
            "webhook_url_env = \"A\"\nformat = \"teams\"\n",
            "alerts.format",
            base + 2,
            "\"slack\", \"generic\"",
        ),
        (
            "webhook_url_env = \"A\"\nwarn_days = -1\n",
            "alerts.warn_days",
            base + 2,
            "between 0 and 3650",
        ),
        (
            "webhook_url_env = \"A\"\ntimeout = \"2m\"\n",
            "alerts.timeout",
            base + 2,
            "at most 30s",
        ),
    ] {
        let err = parse_in(dir.path(), &format!("{MINIMAL}\n[alerts]\n{body}")).unwrap_err();
        let ConfigError::Invalid {
            key: k,
            line: l,
            message,
            ..
        } = &err
        else {
            panic!("{body}: {err}")
        };
        assert_eq!((k.as_str(), *l), (key, line), "{body}: {err}");
        assert!(message.contains(says), "{body}: {err}");
    }
    let secret = "https://hooks.slack.com/services/T0/B0/sEcReTpAtH";
    let err = parse_in(
        dir.path(),
        &format!("{MINIMAL}\n[alerts]\nwebhook_url = \"{secret}\"\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(!err.contains("sEcReTpAtH"), "{err}");
    assert!(err.contains("webhook_url_env"), "{err}");
}

#[test]
fn alerts_into_a_notion_database_need_the_notion_table_for_its_token() {
    let dir = dir_with_token();
    let db = "0123abcd456789abcdef0123456789ab";
    // The token of [notion] is not read by this load: a missing variable is no error here.
    let text = format!(
        "{MINIMAL}\n[alerts]\nnotion_database = \"{db}\"\n\n[notion]\ntoken_env = \"UNSET_NOTION_TOKEN_FOR_TEST\"\n"
    );
    let alerts = parse_in(dir.path(), &text).unwrap().alerts.unwrap();
    assert!(alerts.webhook.is_none());
    assert_eq!(
        alerts.notion_database.unwrap().as_str(),
        "0123abcd-4567-89ab-cdef-0123456789ab"
    );
    // Both sinks at once.
    let text = format!(
        "{MINIMAL}\n[alerts]\nwebhook_url_env = \"HOOK\"\nnotion_database = \"{db}\"\n\n[notion]\ntoken_env = \"T\"\n"
    );
    let alerts = parse_in(dir.path(), &text).unwrap().alerts.unwrap();
    assert!(alerts.webhook.is_some() && alerts.notion_database.is_some());

    let base = MINIMAL.lines().count() + 2;
    for (body, line, says) in [
        (
            format!("notion_database = \"{db}\"\n"),
            base + 1,
            "this file has none: add [notion] with token_env",
        ),
        (
            "notion_database = \"not-an-id\"\n".to_owned(),
            base + 1,
            "is not a Notion database id",
        ),
    ] {
        let err = parse_in(dir.path(), &format!("{MINIMAL}\n[alerts]\n{body}")).unwrap_err();
        let ConfigError::Invalid {
            key,
            line: l,
            message,
            ..
        } = &err
        else {
            panic!("{body}: {err}")
        };
        assert_eq!(
            (key.as_str(), *l),
            ("alerts.notion_database", line),
            "{err}"
        );
        assert!(message.contains(says), "{err}");
    }
}

/// `deleted_objects = true` asks Active Directory for tombstones in the Deleted Objects container
/// of the domain `users.base` is in; off by default, and refused for a directory that has none.
#[test]
fn deleted_objects_name_the_domain_container_and_need_ad() {
    let dir = dir_with_token();
    let ldap = |text: &str| match parse_in(dir.path(), text).map(|s| s.sources[0].clone()) {
        Ok(SourceSettings::Ldap(l)) => Ok(l.deleted_base),
        Ok(_) => panic!("expected an ldap source"),
        Err(e) => Err(e.to_string()),
    };
    let ad = LDAP_HR.replace("kind = \"ldap\"", "kind = \"ldap\"\ndialect = \"ad\"");
    assert_eq!(ldap(&ad), Ok(None), "off by default");
    let on = |base: &str| {
        ad.replace(
            "users = { base = \"ou=people,dc=x\" }",
            &format!("users = {{ base = '{base}' }}\ndeleted_objects = true"),
        )
    };
    assert_eq!(
        ldap(&on("OU=Staff,OU=Paris\\, FR,DC=ad,DC=example,DC=com")),
        Ok(Some(
            "CN=Deleted Objects,DC=ad,DC=example,DC=com".to_owned()
        ))
    );
    assert_eq!(
        ldap(&on("dc=ad, dc=test")),
        Ok(Some("CN=Deleted Objects,dc=ad,dc=test".to_owned()))
    );
    let err = ldap(&on("OU=Staff,O=Acme")).unwrap_err();
    assert!(
        err.contains("sources[0].deleted_objects") && err.contains("`DC=`"),
        "{err}"
    );
    let openldap = on("ou=people,dc=x").replace("dialect = \"ad\"\n", "");
    let err = ldap(&openldap).unwrap_err();
    assert!(
        err.contains("dialect = \\\"ad\\\"") || err.contains("dialect = \"ad\""),
        "{err}"
    );
    let off = on("ou=people,dc=x").replace("deleted_objects = true", "deleted_objects = false");
    assert_eq!(ldap(&off), Ok(None));
}
