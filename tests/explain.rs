//! `idbridge explain EMAIL|EMPLOYEE-ID` through the binary, over the four-day scenario of
//! `tests/reports.rs` and a fifth day of HR changes, one person per decision path: create, patch,
//! no change, deactivate after a termination date, a future leaver kept, out of scope, a
//! protected owner, a deactivation held by the guardrail, and a conflict between sources. The
//! letter and its JSON are checked against golden files for the patch; the workspace is never
//! written to.

use crate::reports::{four_days, golden, idbridge, normalise, person, DAY1, DAY2, LATER};
use crate::support::{Workspace, HEADER, OWNER};

/// Explain `who` at LATER as JSON (exit 0).
async fn explain(ws: &Workspace, who: &str) -> serde_json::Value {
    idbridge(ws, &["--now", LATER, "explain", who, "--format", "json"])
        .await
        .expect(0)
        .json()
}

fn rule(doc: &serde_json::Value) -> &str {
    doc["decision"]["rule"].as_str().unwrap()
}

fn ops(doc: &serde_json::Value) -> Vec<&str> {
    doc["decision"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_says_which_rule_decided_for_each_person() {
    let mut ws = four_days().await;
    // Day 5, as HR has it at LATER: a promotion, a hire, a leaver whose last day has passed, a
    // leaver whose last day is ahead, the owner, someone outside the scope.
    ws.tail
        .push_str("\n[scope]\nwhere = { department = [\"Eng\"] }\n");
    ws.hr(&[
        &person("E1", "Ada", "Principal", "active", "2020-01-01", ""),
        &person("E2", "Bob", "Designer", "active", "2020-01-01", ""),
        &person("E3", "Cy", "PM", "terminated", "2020-01-01", "2026-03-20"),
        &person(
            "E4",
            "Dee",
            "Researcher",
            "active",
            "2026-03-20",
            "2026-04-30",
        ),
        &person("E5", "Eve", "Ops", "terminated", "2020-01-01", "2026-03-10"),
        &person("E6", "Fay", "Engineer", "active", "2026-03-01", ""),
        &format!("E7,{OWNER},Olivia,Owner,CEO,Eng,,active,2020-01-01,"),
        "E8,gus@acme.test,Gus,Test,Sales Rep,Sales,,active,2020-01-01,",
        &person("E9", "Hal", "Intern", "active", "2026-05-01", ""),
    ]);
    let requests = ws.emu.requests().len();

    let ada = explain(&ws, "ada@acme.test").await;
    assert_eq!(
        (rule(&ada), ops(&ada)),
        ("patch", vec!["patch-user"]),
        "{ada}"
    );
    assert_eq!(
        ada["decision"]["because"],
        "hr: title=Principal (hr.csv line 2)"
    );
    assert_eq!(ada["records"][0]["location"], "hr.csv line 2");
    assert_eq!(ada["link"]["key"], "hr:E1");
    assert_eq!(ada["workspace"]["attrs"]["title"], "Lead");

    let fay = explain(&ws, "E6").await;
    assert_eq!(
        (rule(&fay), ops(&fay)),
        ("create", vec!["create-user"]),
        "{fay}"
    );
    assert!(fay["workspace"].is_null() && fay["link"].is_null());

    let bob = explain(&ws, "bob@acme.test").await;
    assert_eq!((rule(&bob), ops(&bob)), ("no-change", vec![]), "{bob}");

    let cy = explain(&ws, "cy@acme.test").await;
    assert_eq!(
        (rule(&cy), ops(&cy)),
        ("terminated", vec!["deactivate-user"]),
        "{cy}"
    );
    assert!(
        cy["decision"]["because"]
            .as_str()
            .unwrap()
            .contains("terminationDate=2026-03-20 (hr.csv line 4)"),
        "{cy}"
    );

    let dee = explain(&ws, "dee@acme.test").await;
    assert_eq!(
        (rule(&dee), ops(&dee)),
        ("leaving-scheduled", vec![]),
        "{dee}"
    );
    assert_eq!(dee["join"]["leavesAt"], "2026-05-01T00:00:00Z");

    let eve = explain(&ws, "E5").await;
    assert_eq!((rule(&eve), ops(&eve)), ("gone", vec![]), "{eve}");

    let owner = explain(&ws, OWNER).await;
    assert_eq!(
        (rule(&owner), ops(&owner)),
        ("protected", vec![]),
        "{owner}"
    );
    assert!(owner["decision"]["summary"]
        .as_str()
        .unwrap()
        .contains("token"));

    let gus = explain(&ws, "gus@acme.test").await;
    assert_eq!((rule(&gus), ops(&gus)), ("out-of-scope", vec![]), "{gus}");
    assert!(
        gus["decision"]["because"]
            .as_str()
            .unwrap()
            .starts_with("out of scope: "),
        "{gus}"
    );

    let hal = explain(&ws, "hal@acme.test").await;
    assert_eq!((rule(&hal), ops(&hal)), ("not-started", vec![]), "{hal}");

    // The letter and its JSON, against golden files.
    for format in ["table", "json"] {
        let run = idbridge(
            &ws,
            &[
                "--now",
                LATER,
                "explain",
                "ADA@acme.test",
                "--format",
                format,
            ],
        )
        .await
        .expect(0);
        let ext = if format == "table" { "txt" } else { "json" };
        golden(
            &format!("explain-ada.{ext}"),
            &normalise(&ws, format, &run.stdout),
        );
    }
    let writes = ws.emu.requests()[requests..]
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes, 0, "explain wrote to the workspace");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deactivation_held_by_the_guardrail_says_so() {
    let mut ws = Workspace::new().await;
    ws.tail = "[policy]\nmax_deactivations = 1\n".into();
    let people = |status: &str, end: &str| {
        vec![
            person("E1", "Ada", "Engineer", status, "2020-01-01", end),
            person("E2", "Bob", "Designer", status, "2020-01-01", end),
            person("E3", "Cy", "PM", "active", "2020-01-01", ""),
        ]
    };
    let rows = people("active", "");
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    let rows = people("terminated", "2026-03-03");
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    let ada = idbridge(
        &ws,
        &[
            "--now",
            DAY2,
            "explain",
            "ada@acme.test",
            "--format",
            "json",
        ],
    )
    .await
    .expect(0)
    .json();
    assert_eq!(rule(&ada), "guardrail", "{ada}");
    assert_eq!(ops(&ada), ["deactivate-user"]);
    assert!(ada["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "max-deactivations-exceeded"));
    let letter = idbridge(&ws, &["--now", DAY2, "explain", "ada@acme.test"])
        .await
        .expect(0)
        .stdout;
    assert!(letter.contains("rule: guardrail"), "{letter}");
    assert!(letter.contains("policy.max_deactivations"), "{letter}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_between_sources_is_explained_and_nobody_is_touched() {
    let mut ws = Workspace::new().await;
    // A second HR export that joins on the employee id: its contractor C1 has the email HR's
    // E1 has, so two people map to one userName.
    ws.tail =
        "[[sources]]\nname = \"contractors\"\nkind = \"hr-csv\"\npath = \"contractors.csv\"\n\
               join_attr = \"employeeId\"\n"
            .into();
    std::fs::write(
        ws.path("contractors.csv"),
        format!("{HEADER}\nC1,ada@acme.test,Ada,Other,Contractor,Eng,,active,2020-01-01,\n"),
    )
    .unwrap();
    ws.hr(&[&person("E1", "Ada", "Engineer", "active", "2020-01-01", "")]);
    let ada = idbridge(
        &ws,
        &[
            "--now",
            DAY1,
            "explain",
            "ada@acme.test",
            "--format",
            "json",
        ],
    )
    .await
    .expect(0)
    .json();
    assert_eq!(rule(&ada), "conflict", "{ada}");
    assert!(ops(&ada).is_empty());
    assert!(ada["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "duplicate-user-name"));
    let c1 = idbridge(&ws, &["--now", DAY1, "explain", "C1", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(rule(&c1), "conflict", "{c1}");
    assert_eq!(c1["records"][0]["source"], "contractors");
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_found_is_exit_1_with_a_did_you_mean() {
    let ws = Workspace::new().await;
    ws.hr(&[&person("E1", "Ada", "Engineer", "active", "2020-01-01", "")]);
    let typo = idbridge(&ws, &["--now", DAY1, "explain", "adaa@acme.test"])
        .await
        .expect(1);
    assert!(
        typo.stderr.contains("did you mean ada@acme.test?"),
        "{}",
        typo.stderr
    );
    let json = idbridge(
        &ws,
        &[
            "--now",
            DAY1,
            "explain",
            "nobody@else.test",
            "--format",
            "json",
        ],
    )
    .await
    .expect(1)
    .json();
    assert!(
        json.to_string()
            .contains("nobody matches `nobody@else.test`"),
        "{json}"
    );
    assert!(
        !ws.path("idbridge.db").exists(),
        "explain created the store"
    );
}
