//! Config parsing and validation tests.

use super::*;
use secrecy::ExposeSecret;

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
    assert_eq!(s.store_url.expose_secret(), DEFAULT_STORE_URL);
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
    let err = parse_in(dir.path(), &text).unwrap_err().to_string();
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("tokn"), "{err}");
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
