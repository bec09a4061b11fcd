//! SAML checks against the public conformance corpus (`../shared/vectors/saml`, read in place,
//! never copied) and against our own fixtures (`tests/fixtures/saml`, made by its generate.sh).

use chrono::{DateTime, Utc};
use idbridge::saml::{self, metadata, Certificate, Expect, Level, Verdict};
use std::path::{Path, PathBuf};

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var("IDBRIDGE_SAML_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/saml"));
    if dir.join("manifest.toml").is_file() {
        return Some(dir);
    }
    if std::env::var("IDBRIDGE_REQUIRE_VECTORS").as_deref() == Ok("1") {
        panic!(
            "IDBRIDGE_REQUIRE_VECTORS=1 but the SAML corpus is missing at {}",
            dir.display()
        );
    }
    eprintln!(
        "\n!!!!!!!! SKIPPING the SAML conformance corpus: {} not found (set IDBRIDGE_SAML_VECTORS) !!!!!!!!\n",
        dir.display()
    );
    None
}

fn manifest(dir: &Path) -> toml::Table {
    std::fs::read_to_string(dir.join("manifest.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

fn s<'a>(t: &'a toml::Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(|v| v.as_str())
}

fn strs(t: &toml::Table, key: &str) -> Vec<String> {
    t.get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn certs(dir: &Path, files: &[String]) -> Vec<Certificate> {
    files
        .iter()
        .flat_map(|f| Certificate::parse_all(&std::fs::read(dir.join(f)).unwrap()).unwrap())
        .collect()
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn corpus_responses() {
    let Some(dir) = corpus_dir() else { return };
    let m = manifest(&dir);
    let cases = m["case"].as_array().unwrap();
    assert_eq!(cases.len(), 144, "the corpus README promises 144 cases");
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for case in cases {
        let case = case.as_table().unwrap();
        let id = s(case, "id").unwrap();
        let mut cert_files = strs(case, "idp_certs");
        if cert_files.is_empty() {
            cert_files.push(s(case, "idp_cert").unwrap().to_string());
        }
        let expect = Expect {
            certs: certs(&dir, &cert_files),
            issuer: s(case, "idp_entity_id").map(str::to_string),
            audience: s(case, "audience").map(str::to_string),
            recipient: s(case, "acs").map(str::to_string),
            in_response_to: s(case, "in_response_to")
                .filter(|v| !v.is_empty())
                .map(str::to_string),
            level: if s(case, "level") == Some("signature") {
                Level::Signature
            } else {
                Level::Response
            },
            allow_sha1: case
                .get("allow_sha1")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            ..Expect::default()
        };
        let bytes = std::fs::read(dir.join(s(case, "file").unwrap())).unwrap();
        let report = saml::check(&bytes, &expect, time(s(case, "now").unwrap()));
        let want = s(case, "expect").unwrap();
        let alt_ok = s(case, "alt_ok");
        let got = report.verdict.as_str();
        let reason = s(case, "reason").unwrap();
        let mut reasons = strs(case, "acceptable_reasons");
        reasons.push(reason.to_string());
        let problem = if got != want && alt_ok != Some(got) {
            Some(format!(
                "verdict {got}, expected {want} ({reason}); findings: {:?}",
                report.findings
            ))
        } else if report.verdict == Verdict::Reject {
            let first = report.reason().unwrap_or("none");
            (!reasons.iter().any(|r| r == first)).then(|| {
                format!(
                    "rejected for {first}, expected one of {reasons:?}; findings: {:?}",
                    report.findings
                )
            })
        } else {
            let want_name = s(case, "expect_name_id");
            let got_name = report.name_id.as_deref().map(str::trim);
            if want_name.is_some() && got_name != want_name {
                Some(format!("NameID {got_name:?}, expected {want_name:?}"))
            } else if !["valid", "valid-signature", "no-response-issuer"].contains(&reason)
                && !report.findings.iter().any(|f| f.code == reason)
            {
                Some(format!(
                    "accepted, but without a `{reason}` finding: {:?}",
                    codes(&report)
                ))
            } else {
                None
            }
        };
        match problem {
            None => passed += 1,
            Some(p) => {
                failed += 1;
                failures.push(format!("{id}: {p}"));
            }
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    println!("responses: {passed} passed, {failed} failed");
    assert!(failures.is_empty(), "{failed} corpus cases failed");
    assert_eq!(passed, cases.len());
}

fn codes(report: &saml::Report) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| format!("{}:{}", f.severity.as_str(), f.code))
        .collect()
}

#[test]
fn corpus_metadata() {
    let Some(dir) = corpus_dir() else { return };
    let m = manifest(&dir);
    let docs = m["metadata"].as_array().unwrap();
    assert_eq!(docs.len(), 34);
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for doc in docs {
        let doc = doc.as_table().unwrap();
        let id = s(doc, "id").unwrap();
        let bytes = std::fs::read(dir.join(s(doc, "file").unwrap())).unwrap();
        let signer = s(doc, "signature_cert").map(|f| certs(&dir, &[f.to_string()]));
        let expect = metadata::MetaExpect {
            profile: metadata::Profile::Generic,
            signers: signer.unwrap_or_default(),
            ..metadata::MetaExpect::default()
        };
        let report = metadata::check(&bytes, &expect, time(s(doc, "now").unwrap()));
        let got: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
        let mut problems = Vec::new();
        for want in strs(doc, "findings") {
            if !got.contains(&want.as_str()) {
                problems.push(format!("missing finding {want}"));
            }
        }
        let has_error = report.findings.iter().any(|f| f.is_error());
        match (s(doc, "expect").unwrap(), has_error) {
            ("reject", false) => problems.push("expected an error finding".into()),
            ("accept" | "warn", true) => problems.push("unexpected error finding".into()),
            _ => {}
        }
        if s(doc, "kind") == Some("EntityDescriptor") && !has_error {
            let want_sso = strs(doc, "sso");
            let got_sso: Vec<String> = report
                .sso
                .iter()
                .map(|e| format!("{} {}", e.binding, e.location))
                .collect();
            if want_sso != got_sso {
                problems.push(format!("sso {got_sso:?}, expected {want_sso:?}"));
            }
        }
        if problems.is_empty() {
            passed += 1;
        } else {
            failed += 1;
            failures.push(format!("{id}: {problems:?}; findings {got:?}"));
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    println!("metadata: {passed} passed, {failed} failed");
    assert!(failures.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Our own fixtures (tests/fixtures/saml, made by generate.sh; README.md there says how).

const NOW: &str = "2030-01-01T00:01:00Z";
const SP: &str = "https://www.notion.so/sso/saml";
const ACS: &str = "https://www.notion.so/sso/saml/acme";
const REQ: &str = "_req-idbridge-fixture";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/saml")
        .join(name)
}

fn test_cert(name: &str) -> Vec<Certificate> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("certs/test/saml/{name}.crt"));
    Certificate::parse_all(&std::fs::read(path).unwrap()).unwrap()
}

fn fixture_expect() -> Expect {
    Expect {
        certs: test_cert("idp"),
        issuer: Some("https://idp.example.test/metadata".into()),
        audience: Some(SP.into()),
        recipient: Some(ACS.into()),
        in_response_to: Some(REQ.into()),
        allow_sha1: true,
        notion: true,
        ..Expect::default()
    }
}

fn check_fixture(name: &str, expect: &Expect) -> saml::Report {
    saml::check(&std::fs::read(fixture(name)).unwrap(), expect, time(NOW))
}

#[test]
fn fixtures_valid_responses_pass_in_every_encoding() {
    for name in [
        "valid-assertion-signed.xml",
        "valid-response-signed.xml",
        "valid-both-signed.xml",
        "valid-assertion-signed.b64",
        "valid-assertion-signed.form",
    ] {
        let r = check_fixture(name, &fixture_expect());
        assert_eq!(r.verdict, Verdict::Accept, "{name}: {:?}", r.findings);
        assert_eq!(r.name_id.as_deref(), Some("alice@example.com"), "{name}");
        assert_eq!(r.attributes["firstName"], vec!["Alice".to_string()]);
        assert!(
            r.findings
                .iter()
                .all(|f| f.severity != saml::Severity::Warning),
            "{name}: {:?}",
            r.findings
        );
    }
}

/// IDs that are not xs:ID NCNames (UUIDs start with a digit, as the Secureworks IdP sends
/// them) verify: what matters is that each Reference resolves to exactly its element.
#[test]
fn fixtures_uuid_ids_verify() {
    for name in ["uuid-ids-assertion-signed.xml", "uuid-ids-both-signed.xml"] {
        let r = check_fixture(name, &fixture_expect());
        assert_eq!(r.verdict, Verdict::Accept, "{name}: {:?}", r.findings);
        assert_eq!(r.name_id.as_deref(), Some("alice@example.com"), "{name}");
        assert_eq!(
            r.assertion_id.as_deref(),
            Some("e5afbcaa-be69-4b41-ac48-2f23538accdb")
        );
    }
    // The same UUID message altered after signing still fails, in either signature.
    for name in ["uuid-ids-assertion-signed.xml", "uuid-ids-both-signed.xml"] {
        let xml = std::fs::read_to_string(fixture(name)).unwrap().replace(
            ">alice@example.com</saml:NameID>",
            ">mallory@evil.test</saml:NameID>",
        );
        let r = saml::check(xml.as_bytes(), &fixture_expect(), time(NOW));
        assert_eq!(
            r.reason(),
            Some("bad-signature"),
            "{name}: {:?}",
            r.findings
        );
    }
}

/// An ID with a quote or parenthesis would change the XPointer libxmlsec1 evaluates for the
/// Reference; refused before any crypto.
#[test]
fn ids_with_xpointer_syntax_are_refused() {
    let valid = std::fs::read_to_string(fixture("valid-assertion-signed.xml")).unwrap();
    let aid = "_a0123456789abcdef0123456789abcdef";
    for bad in ["_a'0123", "_a(0123)", "_a^0123"] {
        let xml = valid.replace(aid, bad);
        let r = saml::check(xml.as_bytes(), &fixture_expect(), time(NOW));
        assert_eq!(r.reason(), Some("invalid-id"), "{bad}: {:?}", r.findings);
    }
}

/// Every attack and protocol failure is rejected, each for its own reason.
#[test]
fn fixtures_rejections_and_their_reasons() {
    let cases = [
        ("expired.xml", "expired"),
        ("not-yet-valid.xml", "not-yet-valid"),
        ("wrong-audience.xml", "wrong-audience"),
        ("wrong-recipient.xml", "wrong-recipient"),
        ("wrong-destination.xml", "wrong-destination"),
        ("attacker-signed.xml", "wrong-cert"),
        ("signed-by-next-key.xml", "wrong-cert"),
        ("tampered.xml", "bad-signature"),
        ("unsigned.xml", "no-signature"),
        ("xsw1.xml", "xsw"),
        ("xsw2.xml", "xsw"),
        ("xsw3.xml", "multiple-assertions"),
        ("xsw4.xml", "xsw"),
        ("xsw5.xml", "multiple-assertions"),
        ("xsw6.xml", "xsw"),
        ("xsw7.xml", "xsw"),
        ("xsw8.xml", "xsw"),
        ("several-assertions.xml", "multiple-assertions"),
        (
            "unsigned-assertion-in-signed-response.xml",
            "multiple-assertions",
        ),
        ("signature-references-other-id.xml", "xsw"),
        ("id-with-colon.xml", "invalid-id"),
        ("id-with-hash.xml", "invalid-id"),
        ("id-with-space.xml", "invalid-id"),
        ("duplicate-id.xml", "duplicate-id"),
        ("duplicate-id-namespaced.xml", "duplicate-id"),
        ("duplicate-xml-id.xml", "duplicate-id"),
        ("comment-in-nameid-tampered.xml", "bad-signature"),
        ("doctype-xxe.xml", "xxe"),
        ("billion-laughs.xml", "xxe"),
    ];
    for (name, reason) in cases {
        let r = check_fixture(name, &fixture_expect());
        assert_eq!(r.verdict, Verdict::Reject, "{name}: {:?}", r.findings);
        assert_eq!(r.reason(), Some(reason), "{name}: {:?}", r.findings);
        assert_eq!(
            r.name_id, None,
            "{name}: a rejected response reports no identity"
        );
        assert!(r.attributes.is_empty());
    }
}

#[test]
fn fixtures_comment_never_truncates_the_name_id() {
    let r = check_fixture("comment-in-nameid.xml", &fixture_expect());
    assert_eq!(r.verdict, Verdict::Accept, "{:?}", r.findings);
    assert_eq!(r.name_id.as_deref(), Some("alice@example.com.evil.test"));
    assert!(r.findings.iter().any(|f| f.code == "comment-injection"));
}

#[test]
fn fixtures_sha1_is_a_warning_then_an_error_when_strict() {
    let r = check_fixture("sha1-signed.xml", &fixture_expect());
    assert_eq!(r.verdict, Verdict::Accept);
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "sha1" && f.severity == saml::Severity::Warning));
    let strict = Expect {
        allow_sha1: false,
        ..fixture_expect()
    };
    let r = check_fixture("sha1-signed.xml", &strict);
    assert_eq!(r.reason(), Some("sha1"));
}

#[test]
fn fixtures_rollover_any_configured_cert_verifies() {
    let mut both = fixture_expect();
    both.certs = [test_cert("idp"), test_cert("idp-next")].concat();
    let r = check_fixture("signed-by-next-key.xml", &both);
    assert_eq!(r.verdict, Verdict::Accept, "{:?}", r.findings);
}

#[test]
fn no_trust_anchor_is_an_error_never_a_skip() {
    let expect = Expect {
        certs: Vec::new(),
        ..fixture_expect()
    };
    let r = check_fixture("valid-assertion-signed.xml", &expect);
    assert_eq!(r.reason(), Some("no-trust-anchor"));
}

#[test]
fn wrong_in_response_to_is_rejected() {
    let expect = Expect {
        in_response_to: Some("_another-request".into()),
        ..fixture_expect()
    };
    let r = check_fixture("valid-assertion-signed.xml", &expect);
    assert_eq!(r.reason(), Some("wrong-inresponseto"));
}

#[test]
fn input_limits_give_their_error() {
    let e = fixture_expect();
    let many_attrs = format!(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" {}/>",
        (0..100_000)
            .map(|i| format!("a{i}=\"x\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // How fast the limits bite is a benchmark's business; here only which error each gives.
    assert_eq!(
        saml::check(many_attrs.as_bytes(), &e, time(NOW)).reason(),
        Some("too-many-attributes")
    );
    let many_ns = format!(
        "<r {}/>",
        (0..100_000)
            .map(|i| format!("xmlns:n{i}=\"urn:x\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(
        saml::check(many_ns.as_bytes(), &e, time(NOW)).reason(),
        Some("too-many-attributes")
    );
    let deep = format!("{}{}", "<a>".repeat(500), "</a>".repeat(500));
    assert_eq!(
        saml::check(deep.as_bytes(), &e, time(NOW)).reason(),
        Some("too-deep")
    );
    let huge = vec![b' '; 5 * 1024 * 1024];
    assert_eq!(
        saml::check(&huge, &e, time(NOW)).reason(),
        Some("input-too-large")
    );
    // A deflate bomb: 64 MiB of '<' compresses to ~64 KiB; the inflate is capped.
    let bomb = {
        use base64::Engine;
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![b'<'; 1024 * 1024];
        for _ in 0..64 {
            enc.write_all(&block).unwrap();
        }
        base64::engine::general_purpose::STANDARD.encode(enc.finish().unwrap())
    };
    assert_eq!(
        saml::check(bomb.as_bytes(), &e, time(NOW)).reason(),
        Some("input-too-large")
    );
    assert_eq!(
        saml::check(b"???", &e, time(NOW)).reason(),
        Some("invalid-base64")
    );
    assert_eq!(
        saml::check(b"<a><b></a>", &e, time(NOW)).reason(),
        Some("malformed-xml")
    );
}

#[test]
fn fixtures_metadata_shapes() {
    let now = time(NOW);
    let run = |name: &str, expect: &metadata::MetaExpect| {
        metadata::check(&std::fs::read(fixture(name)).unwrap(), expect, now)
    };
    let notion = metadata::MetaExpect::default();
    for name in [
        "idp-metadata.xml",
        "okta.xml",
        "entra-id.xml",
        "google-workspace.xml",
        "onelogin.xml",
        "keycloak.xml",
        "adfs.xml",
    ] {
        let r = run(name, &notion);
        assert_eq!(r.verdict, Verdict::Accept, "{name}: {:?}", r.findings);
        assert!(r.entity_id.is_some(), "{name}");
        assert!(r.sso.len() >= 2, "{name}");
        assert!(r
            .certificates
            .iter()
            .any(|c| c.use_ != "encryption" && c.key_bits == 2048));
    }
    let codes = |r: &metadata::MetaReport| -> Vec<String> {
        r.findings
            .iter()
            .map(|f| format!("{}:{}", f.severity.as_str(), f.code))
            .collect()
    };
    let r = run("metadata-rollover.xml", &notion);
    assert!(codes(&r).contains(&"info:multiple-signing-certs".to_string()));
    assert_eq!(r.certificates.len(), 2);
    let r = run("metadata-expired-cert.xml", &notion);
    assert!(codes(&r).contains(&"warning:signing-cert-expired".to_string()));
    let strict = metadata::MetaExpect {
        strict: true,
        ..metadata::MetaExpect::default()
    };
    assert!(codes(&run("metadata-expired-cert.xml", &strict))
        .contains(&"error:signing-cert-expired".to_string()));
    let r = run("metadata-soon-expiring.xml", &notion);
    assert!(codes(&r).contains(&"warning:signing-cert-expiring".to_string()));
    assert_eq!(r.certificates[0].days_left, 13);
    assert!(codes(&run("metadata-weak-key.xml", &notion)).contains(&"warning:weak-key".to_string()));
    assert!(codes(&run("metadata-no-signing-cert.xml", &notion))
        .contains(&"error:no-signing-cert".to_string()));
    let r = run("metadata-entities.xml", &notion);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "entities-descriptor")
        .unwrap();
    assert!(f.is_error());
    assert!(
        f.message
            .contains("entityID=\"https://idp.example.test/metadata\""),
        "{}",
        f.message
    );
    let generic = metadata::MetaExpect {
        profile: metadata::Profile::Generic,
        ..metadata::MetaExpect::default()
    };
    assert_eq!(
        run("metadata-entities.xml", &generic).verdict,
        Verdict::Accept
    );
    let signed = metadata::MetaExpect {
        signers: test_cert("md-signer"),
        ..metadata::MetaExpect::default()
    };
    assert_eq!(run("metadata-signed.xml", &signed).verdict, Verdict::Accept);
    let r = run("metadata-signed-tampered.xml", &signed);
    assert!(codes(&r).contains(&"error:signature-invalid".to_string()));
    let acs = metadata::MetaExpect {
        acs: Some("https://www.notion.so/sso/saml/consume/x".into()),
        ..metadata::MetaExpect::default()
    };
    assert!(codes(&run("idp-metadata.xml", &acs)).contains(&"error:notion-acs".to_string()));
}

// ---- the CLI ----

fn idbridge(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fx(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn cli_check_response_exit_codes_and_json() {
    let md = fx("idp-metadata.xml");
    let base = |file: &str| {
        vec![
            "--now".to_string(),
            NOW.to_string(),
            "saml".into(),
            "check-response".into(),
            fx(file),
            "--metadata".into(),
            md.clone(),
            "--audience".into(),
            SP.into(),
            "--recipient".into(),
            ACS.into(),
            "--in-response-to".into(),
            REQ.into(),
            "--format".into(),
            "json".into(),
        ]
    };
    let run = |args: Vec<String>| idbridge(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out, err) = run(base("valid-both-signed.xml"));
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["verdict"], "accept");
    assert_eq!(doc["nameId"], "alice@example.com");
    assert_eq!(
        doc["nameIdFormat"],
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    );
    assert_eq!(doc["attributes"]["email"][0], "alice@example.com");
    assert!(doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["fix"].is_string()));

    let (code, out, _) = run(base("xsw1.xml"));
    assert_eq!(code, 1);
    assert!(out.contains("\"xsw\""));
    assert!(
        !out.contains("mallory"),
        "an attack's identity is never printed"
    );

    // Unparsable XML is an error finding (exit 1), a missing file is bad usage (exit 2).
    let (code, out, _) = run(base("generate.sh"));
    assert_eq!(code, 1, "{out}");
    let (code, _, _) = run(base("no-such-file.xml"));
    assert_eq!(code, 2);
    // No trust anchor option at all: bad usage.
    let (code, _, _) = idbridge(&["saml", "check-response", &fx("unsigned.xml")]);
    assert_eq!(code, 2);

    // Only time checks failed: say so and suggest --now.
    let mut late = base("valid-assertion-signed.xml");
    late[1] = "2031-06-01T00:00:00Z".into();
    let (code, out, _) = run(late);
    assert_eq!(code, 1);
    assert!(out.contains("time-only") && out.contains("--now"), "{out}");

    // --strict turns SHA-1 into an error.
    let (code, _, _) = run(base("sha1-signed.xml"));
    assert_eq!(code, 0);
    let mut strict = base("sha1-signed.xml");
    strict.push("--strict".into());
    let (code, _, _) = run(strict);
    assert_eq!(code, 1);

    // stdin, base64 and --idp-cert.
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/test/saml/idp.crt");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["--now", NOW, "saml", "check-response", "-", "--idp-cert"])
        .arg(&cert)
        .args([
            "--issuer",
            "https://idp.example.test/metadata",
            "--signature-only",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(fixture("valid-assertion-signed.b64")).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn cli_check_metadata() {
    let (code, out, err) = idbridge(&[
        "--now",
        NOW,
        "saml",
        "check-metadata",
        &fx("okta.xml"),
        "--notion-id",
        "acme",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["entityId"], "http://www.okta.com/exk1fixture0000000000");
    let cert = &doc["certificates"][0];
    assert_eq!(cert["use"], "signing");
    assert_eq!(cert["keyBits"], 2048);
    assert_eq!(cert["sha256"].as_str().unwrap().len(), 64);
    assert!(cert["daysLeft"].as_i64().unwrap() > 3000);
    assert!(cert["notAfter"].as_str().unwrap().starts_with("2040-01-01"));
    assert!(out.contains("https://www.notion.so/sso/saml/acme"));
    let (code, out, _) = idbridge(&[
        "--now",
        NOW,
        "saml",
        "check-metadata",
        &fx("metadata-entities.xml"),
    ]);
    assert_eq!(code, 1, "{out}");
    let (code, _, _) = idbridge(&["--now", NOW, "saml", "check-metadata", &fx("unsigned.xml")]);
    assert_eq!(code, 1, "a response is not metadata");
}

#[tokio::test]
async fn cli_check_response_store_cross_check_and_history() {
    use idbridge::model::{ScimId, SourceKey};
    use idbridge::store::{Link, LinkKind, LinkOrigin, LinkState, Store};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let link = |user: &str, state| Link {
        target_name: "notion".into(),
        kind: LinkKind::User,
        key: SourceKey::new("hr", user),
        scim_id: ScimId(format!("scim-{user}")),
        user_name: user.into(),
        state,
        origin: LinkOrigin::Created,
        updated_at: time(NOW),
    };
    let args = |file: &str| -> Vec<String> {
        [
            "--now",
            NOW,
            "saml",
            "check-response",
            &fx(file),
            "--metadata",
            &fx("idp-metadata.xml"),
            "--audience",
            SP,
            "--recipient",
            ACS,
            "--store",
            &url,
            "--format",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |a: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            idbridge(&a.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap()
    };
    // Unknown to the store.
    let (code, out, _) = run(args("valid-assertion-signed.xml")).await;
    assert_eq!(code, 0);
    assert!(out.contains("not-provisioned"), "{out}");
    // Deactivated, then active (the email compares without case).
    store
        .upsert_link(&link("Alice@Example.com", LinkState::Deactivated))
        .await
        .unwrap();
    let (_, out, _) = run(args("valid-assertion-signed.xml")).await;
    assert!(out.contains("provisioned-deactivated"), "{out}");
    store
        .upsert_link(&link("Alice@Example.com", LinkState::Active))
        .await
        .unwrap();
    let (_, out, _) = run(args("valid-assertion-signed.xml")).await;
    assert!(out.contains("provisioned-active"), "{out}");
    let (code, _, _) = run(args("xsw3.xml")).await;
    assert_eq!(code, 1);
    // The cross-check only reads: nothing was recorded without --record.
    assert!(store.saml_checks(10).await.unwrap().is_empty());
    let mut record = args("xsw3.xml");
    record.push("--record".into());
    let (code, _, _) = run(record).await;
    assert_eq!(code, 1);
    // The same cross-check through the config file's store instead of --store.
    std::fs::write(dir.path().join("token"), "t\n").unwrap();
    let config = dir.path().join("idbridge.toml");
    std::fs::write(
        &config,
        format!("[store]\nurl = \"{url}\"\n[target]\nkind = \"notion\"\ntoken_file = \"token\"\n[[sources]]\nname = \"hr\"\nkind = \"hr-csv\"\npath = \"hr.csv\"\n"),
    )
    .unwrap();
    let mut with_config: Vec<String> = args("valid-assertion-signed.xml")
        .into_iter()
        .filter(|a| a != "--store" && a != &url)
        .collect();
    with_config.splice(0..0, ["--config".to_owned(), config.display().to_string()]);
    with_config.push("--record".into());
    let (code, out, err) = run(with_config).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("provisioned-active"), "{out}");
    let history = store.saml_checks(10).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history.iter().filter(|h| h.verdict == "reject").count(), 1);
    assert!(history
        .iter()
        .any(|h| h.findings_json.contains("multiple-assertions")));
    assert!(history
        .iter()
        .any(|h| h.findings_json.contains("provisioned-active")));
}

/// Run the binary in `dir` (so the default `idbridge.toml` is the one there), with `stdin`.
fn idbridge_in(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(args)
        .current_dir(dir)
        .env_remove(UNSET_TOKEN_VAR)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // The child may stop reading early (that is the point of a cap): a broken pipe is fine.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const UNSET_TOKEN_VAR: &str = "IDBRIDGE_SAML_TEST_TOKEN_NEVER_SET";

/// A check run where an idbridge.toml lives needs nothing but its inputs: no SCIM token, no
/// store created or migrated. The store is opened read-only for the cross-check when it exists,
/// and written only with --record.
#[tokio::test]
async fn cli_checks_have_no_side_effects_in_a_config_folder() {
    use idbridge::model::{ScimId, SourceKey};
    use idbridge::store::{Link, LinkKind, LinkOrigin, LinkState, Store};
    let dir = tempfile::tempdir().unwrap();
    // The default store (sqlite://idbridge.db?mode=rwc, here), a token that is not set.
    std::fs::write(
        dir.path().join("idbridge.toml"),
        format!("[target]\nkind = \"notion\"\ntoken_env = \"{UNSET_TOKEN_VAR}\"\n[[sources]]\nname = \"hr\"\nkind = \"hr-csv\"\npath = \"hr.csv\"\n"),
    )
    .unwrap();
    let db = dir.path().join("idbridge.db");
    let metadata = fx("okta.xml");
    let check_metadata = |extra: &[&str]| {
        let mut a = vec![
            "--now",
            NOW,
            "saml",
            "check-metadata",
            &metadata,
            "--format",
            "json",
        ];
        a.extend_from_slice(extra);
        idbridge_in(dir.path(), &a, b"")
    };
    let response = fx("valid-assertion-signed.xml");
    let idp = fx("idp-metadata.xml");
    let check_response = |extra: &[&str]| {
        let mut a = vec![
            "--now",
            NOW,
            "saml",
            "check-response",
            &response,
            "--metadata",
            &idp,
            "--format",
            "json",
        ];
        a.extend_from_slice(extra);
        idbridge_in(dir.path(), &a, b"")
    };

    let (code, out, err) = check_metadata(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!db.exists(), "check-metadata created the store");
    let (code, out, err) = check_response(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!db.exists(), "check-response created the store");
    assert!(
        !out.contains("provisioned"),
        "no store, no cross-check: {out}"
    );

    // --record creates and migrates the store, and records.
    let (code, out, err) = check_metadata(&["--record"]);
    assert_eq!(code, 0, "{out}{err}");
    let url = format!("sqlite://{}", db.display());
    let store = Store::open(&url).await.unwrap();
    let history = store.saml_checks(10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, "metadata");

    // Now the store exists: the cross-check reads it, and nothing is recorded.
    let (code, out, err) = check_response(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("not-provisioned"), "{out}");
    store
        .upsert_link(&Link {
            target_name: "notion".into(),
            kind: LinkKind::User,
            key: SourceKey::new("hr", "alice"),
            scim_id: ScimId("scim-alice".into()),
            user_name: "alice@example.com".into(),
            state: LinkState::Active,
            origin: LinkOrigin::Created,
            updated_at: time(NOW),
        })
        .await
        .unwrap();
    let (code, out, err) = check_response(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("provisioned-active"), "{out}");
    assert_eq!(store.saml_checks(10).await.unwrap().len(), 1);
    let (code, _, err) = check_response(&["--record"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(store.saml_checks(10).await.unwrap().len(), 2);

    // --store without --record means nothing to check-metadata: a usage error, not a silent no-op.
    let (code, _, _) = check_metadata(&["--store", &url]);
    assert_eq!(code, 2);
}

/// A config file that does not even parse costs the cross-check (with a warning), never the check.
#[test]
fn cli_check_response_survives_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("idbridge.toml"), "[store\nurl = ").unwrap();
    let response = fx("valid-assertion-signed.xml");
    let idp = fx("idp-metadata.xml");
    let args = [
        "--now",
        NOW,
        "saml",
        "check-response",
        &response,
        "--metadata",
        &idp,
    ];
    let (code, out, err) = idbridge_in(dir.path(), &args, b"");
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("cross-check is skipped"), "{err}");
    assert!(err.contains("idbridge.toml"), "{err}");
    // With --record the store is required, so the broken config is an error (exit 2).
    let mut record = args.to_vec();
    record.push("--record");
    let (code, _, err) = idbridge_in(dir.path(), &record, b"");
    assert_eq!(code, 2, "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 1,
        "nothing was created"
    );
}

/// stdin is read up to the message size limit and no further: an endless or huge stream ends
/// with a clear error instead of filling memory.
#[test]
fn cli_check_response_caps_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/test/saml/idp.crt");
    let cert = cert.display().to_string();
    let huge = vec![b'<'; 64 * 1024 * 1024];
    let (code, out, err) = idbridge_in(
        dir.path(),
        &["saml", "check-response", "-", "--idp-cert", &cert],
        &huge,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("stdin is larger than 4194304 bytes"), "{err}");
    // A file over the limit gets the same error, naming the file.
    let big = dir.path().join("big.xml");
    std::fs::write(&big, &huge[..5 * 1024 * 1024]).unwrap();
    let (code, _, err) = idbridge_in(
        dir.path(),
        &[
            "saml",
            "check-response",
            &big.display().to_string(),
            "--idp-cert",
            &cert,
        ],
        b"",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("big.xml is larger than 4194304 bytes"),
        "{err}"
    );
}

/// libxmlsec1 prints its errors to stderr itself; they become part of the finding instead.
#[test]
fn cli_library_errors_land_in_the_finding_not_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/test/saml/idp.crt");
    let cert = cert.display().to_string();
    let tampered = fx("tampered.xml");
    let (code, out, err) = idbridge_in(
        dir.path(),
        &[
            "--now",
            NOW,
            "saml",
            "check-response",
            &tampered,
            "--idp-cert",
            &cert,
            "--format",
            "json",
        ],
        b"",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        !err.contains("func=xmlSec"),
        "raw library text on stderr: {err}"
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "bad-signature")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("data and digest do not match"),
        "{finding}"
    );
    // The same for a metadata signature.
    let signer = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/test/saml/md-signer.crt");
    let (code, out, err) = idbridge_in(
        dir.path(),
        &[
            "--now",
            NOW,
            "saml",
            "check-metadata",
            &fx("metadata-signed-tampered.xml"),
            "--metadata-signer",
            &signer.display().to_string(),
        ],
        b"",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        !err.contains("func=xmlSec"),
        "raw library text on stderr: {err}"
    );
    assert!(out.contains("data and digest do not match"), "{out}");
}

/// test-login: an SP on loopback gets the fixture posted by a fake IdP, checks InResponseTo
/// against its (pinned) request ID, and refuses the same assertion twice.
#[tokio::test]
async fn cli_test_login_accepts_once_then_detects_replay() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args([
            "--now",
            NOW,
            "saml",
            "test-login",
            "--metadata",
            &fx("idp-metadata.xml"),
        ])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--sp-entity-id",
            SP,
            "--timeout",
            "60s",
        ])
        .args([
            "--request-id",
            REQ,
            "--acs-url",
            ACS,
            "--responses",
            "2",
            "--format",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(addr) = line.strip_prefix("Listening on: ") {
                tx.send(addr.to_string()).unwrap();
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let acs = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    let form = std::fs::read_to_string(fixture("valid-assertion-signed.form")).unwrap();
    let client = reqwest::Client::new();
    let post = || {
        client
            .post(&acs)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());
    let second = post().await.unwrap();
    assert_eq!(second.status(), 403);
    assert!(second.text().await.unwrap().contains("\"replay\""));
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let out = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("SAMLRequest="), "{out}");
    assert!(out.contains("<md:AssertionConsumerService"), "{out}");
    // The printed login URL carries a Redirect-binding AuthnRequest with the pinned ID.
    let url = out.lines().find(|l| l.contains("SAMLRequest=")).unwrap();
    let value = url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .unwrap()
        .1
        .into_owned();
    let request = saml::login::decode_redirect(&value).unwrap();
    assert!(request.contains(&format!("ID=\"{REQ}\"")), "{request}");
}

/// check-metadata from a URL: fetched with a size cap and a timeout (a local server stands in
/// for the IdP's metadata endpoint).
#[tokio::test(flavor = "multi_thread")]
async fn cli_check_metadata_from_a_url() {
    use axum::routing::get;
    let metadata = std::fs::read_to_string(fixture("okta.xml")).unwrap();
    let app = axum::Router::new()
        .route("/metadata", get(move || async move { metadata.clone() }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            idbridge(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap()
    };
    let url = format!("http://{addr}/metadata");
    let (code, out, err) = run(vec![
        "--now".into(),
        NOW.into(),
        "saml".into(),
        "check-metadata".into(),
        url.clone(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert!(code == 0 || code == 1, "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert!(
        report["entityId"].as_str().is_some_and(|e| !e.is_empty()),
        "{report}"
    );
    let (code, _, err) = run(vec![
        "saml".into(),
        "check-metadata".into(),
        url,
        "--max-bytes".into(),
        "100".into(),
    ])
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("larger than --max-bytes"), "{err}");
    let (code, _, err) = run(vec![
        "saml".into(),
        "check-metadata".into(),
        format!("http://{addr}/slow"),
        "--timeout".into(),
        "1s".into(),
    ])
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("cannot fetch"), "{err}");
}

/// Duration flags take the config file's grammar (`1500ms`, `1w`, `1h 30m`), and a bare number
/// is still seconds. The old flag parser refused `ms` and `w`.
#[test]
fn cli_duration_flags_share_the_config_grammar() {
    let md = fx("idp-metadata.xml");
    let response = fx("valid-both-signed.xml");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--now",
            NOW,
            "saml",
            "check-response",
            &response,
            "--metadata",
            &md,
            "--audience",
            SP,
            "--recipient",
            ACS,
            "--in-response-to",
            REQ,
        ];
        args.extend_from_slice(extra);
        idbridge(&args)
    };
    for ok in [
        ["--clock-skew", "180000ms"],
        ["--clock-skew", "180"],
        ["--max-age", "1w"],
        ["--max-age", "1h 30m"],
    ] {
        let (code, out, err) = run(&ok);
        assert_eq!(code, 0, "{ok:?}: {out}{err}");
    }
    let (code, _, err) = run(&["--max-age", "5 parsecs"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"5 parsecs\" is not a duration") && err.contains("docs/config.md"),
        "{err}"
    );
}
