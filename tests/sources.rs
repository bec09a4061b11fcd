//! "Never remove the wrong person", source side, through the binary and the emulator: a stray
//! quote that swallows the end of the file, terminations dated in the future, addresses that
//! look right but are not, and headers that name one column twice.

use crate::support::{row, Workspace, HEADER, OWNER};

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

fn finding<'p>(plan: &'p serde_json::Value, code: &str) -> Option<&'p serde_json::Value> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
}

/// The issue's scenario: 1,000 people, and one stray `"` in row 951 folds rows 951-1000 into one
/// field. Before, one row was reported and 49 people were deactivated with exit 0 (4.9% is under
/// the guardrail's 10%).
#[tokio::test(flavor = "multi_thread")]
async fn a_stray_quote_in_row_951_of_1000_deactivates_nobody() {
    let ws = Workspace::new().await;
    let rows: Vec<String> = (1..=1000)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names().len(), 1001);
    let writes = ws.emu.write_count();

    let mut broken = rows.clone();
    broken[950] = broken[950].replace(",P951,", ",\"P951,");
    ws.hr(&broken.iter().map(String::as_str).collect::<Vec<_>>());
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert!(ops(&plan).is_empty(), "{plan}");
    let held = finding(&plan, "deactivations-held").expect("deactivations-held");
    assert_eq!(held["severity"], "error");
    // Data row 951 is physical line 952; the file's last row is on line 1001.
    assert_eq!(
        held["sources"],
        serde_json::json!(["hr: hr.csv lines 952-1001"])
    );
    assert!(
        held["message"].as_str().unwrap().contains("50 people"),
        "{held}"
    );
    let bad = finding(&plan, "source-row-invalid").unwrap();
    assert!(
        bad["message"].as_str().unwrap().contains("50 lines"),
        "{bad}"
    );

    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(ws.emu.write_count(), writes, "nobody was touched");
    assert_eq!(ws.active_names().len(), 1001);
}

/// `docs/config.md`: a termination takes effect at the start of the day after
/// `termination_date`, in `timezone`, whatever the status says.
#[tokio::test(flavor = "multi_thread")]
async fn a_future_dated_termination_waits_for_the_day_after_its_date() {
    let mut ws = Workspace::new().await;
    ws.tail = "timezone = \"Europe/Paris\"\n".into();
    let before = "--now=2026-03-13T22:59:59Z"; // 23:59:59 on the last day, in Paris
    let after = "--now=2026-03-13T23:00:00Z"; // midnight starting 2026-03-14, in Paris
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&[before, "sync", "--yes"]).await.expect(0);
    let bob = "E2,bob@acme.test,Bob,Test,Eng,Eng,,terminated,2020-01-01,2026-03-13";
    ws.hr(&[&row("E1", "Ada", "Eng", "active"), bob]);

    let plan = ws
        .idbridge(&[before, "plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert!(ops(&plan).is_empty(), "{plan}");
    let scheduled = finding(&plan, "termination-scheduled").expect("termination-scheduled");
    assert_eq!(scheduled["severity"], "info");
    let message = scheduled["message"].as_str().unwrap();
    assert!(
        message.contains("bob@acme.test leaves on 2026-03-13")
            && message.contains("status=terminated, terminationDate=2026-03-13 (hr.csv line 3)")
            && message.contains("the start of 2026-03-14 in Europe/Paris"),
        "{message}"
    );
    ws.idbridge(&[before, "sync", "--yes"]).await.expect(0);
    assert!(ws.active_names().contains(&"bob@acme.test".to_owned()));

    let plan = ws
        .idbridge(&[after, "plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        ops(&plan),
        [("deactivate-user".to_owned(), "bob@acme.test".to_owned())]
    );
    assert_eq!(
        plan["operations"][0]["reason"],
        "hr: status=terminated, terminationDate=2026-03-13 (hr.csv line 3)"
    );
    assert!(finding(&plan, "termination-scheduled").is_none());
    ws.idbridge(&[after, "sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names(), ["ada@acme.test", OWNER]);
}

/// Each kind of address that looks right but is not: reported with its line, never sent to the
/// target, and the linked person it names is kept, not deactivated as absent.
#[tokio::test(flavor = "multi_thread")]
async fn unusable_addresses_are_skipped_and_never_deactivate_their_person() {
    let mut ws = Workspace::new().await;
    ws.tail = "[policy]\nmax_deactivations = 100\n".into();
    let people = ["Ada", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Ivy"];
    let good: Vec<String> = people
        .iter()
        .enumerate()
        .map(|(i, p)| row(&format!("E{}", i + 1), p, "Eng", "active"))
        .collect();
    ws.hr(&good.iter().map(String::as_str).collect::<Vec<_>>());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let writes = ws.emu.write_count();
    let names = ws.active_names();

    let long = "g".repeat(65);
    let bad_emails = [
        "ada\0@acme.test".to_owned(),       // NUL byte
        "b\u{200B}ob@acme.test".to_owned(), // zero-width space
        "ｃｙ@acme.test".to_owned(),        // fullwidth look-alikes
        "<dee@acme.test>".to_owned(),       // angle brackets
        "eve@acme.test\u{2060}".to_owned(), // word joiner (invisible)
        "fay@ａcme.test".to_owned(),        // fullwidth in the domain
        format!("{long}@acme.test"),        // local part over 64
    ];
    let mut rows: Vec<String> = bad_emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            format!(
                "E{},{email},{},Test,Eng,Eng,,active,2020-01-01,",
                i + 1,
                people[i]
            )
        })
        .collect();
    rows.push(good[7].clone());
    // A newcomer with a bad address is not created either.
    rows.push("E8,h\u{200C}al@acme.test,Hal,Test,Eng,Eng,,active,2020-01-01,".to_owned());
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    // Exit 1: each linked person kept because of their bad row is a held deactivation.
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert!(ops(&plan).is_empty(), "{plan}");
    let findings = plan["findings"].as_array().unwrap();
    let mut skipped: Vec<&str> = findings
        .iter()
        .filter(|f| f["code"] == "source-row-invalid")
        .map(|f| f["sources"][0].as_str().unwrap())
        .collect();
    skipped.sort_unstable();
    let mut lines: Vec<String> = [2, 3, 4, 5, 6, 7, 8, 10]
        .iter()
        .map(|l| format!("hr: hr.csv line {l}"))
        .collect();
    lines.sort_unstable();
    assert_eq!(skipped, lines);
    let kept = findings
        .iter()
        .filter(|f| f["code"] == "kept-bad-row")
        .count();
    assert_eq!(kept, 7, "{plan}");
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(ws.emu.write_count(), writes);
    assert_eq!(ws.active_names(), names);
    let listed: Vec<String> = ws.emu.members().into_iter().map(|m| m.user_name).collect();
    assert!(listed.iter().all(|n| n.is_ascii()), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_with_two_email_columns_is_refused() {
    let ws = Workspace::new().await;
    ws.hr(&[]);
    let header = format!("{HEADER},Email ");
    std::fs::write(
        ws.path("hr.csv"),
        format!(
            "{header}\nE1,ada@acme.test,Ada,Test,Eng,Eng,,active,2020-01-01,,mallory@evil.test\n"
        ),
    )
    .unwrap();
    let run = ws.idbridge(&["plan"]).await.expect(2);
    assert!(
        run.stderr.contains("hr.csv")
            && run
                .stderr
                .contains("`email` (column 2), `Email` (column 11)"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.active_names(), [OWNER]);
}

/// Issue "Robust unattended runs", item 5: a source that yields nobody says why, row by row.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_whose_every_row_is_bad_quotes_the_first_skipped_rows() {
    let ws = Workspace::new().await;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "retired"),
        "E2,bob@acme.test,Bob,Test,Eng,Eng,,active,01/02/2020,",
        ",cy@acme.test,Cy,Test,Eng,Eng,,active,2020-01-01,",
        &row("E4", "Dee", "Eng", "gone"),
        &row("E5", "Eve", "Eng", "gone"),
    ]);
    let run = ws.idbridge(&["plan"]).await.expect(1);
    let said = &run.stderr;
    assert!(
        said.contains("source `hr` yielded no valid person (5 rows skipped)")
            && said.contains("The first skipped rows:\n  hr.csv line 2: unknown status `retired`")
            && said.contains("\n  hr.csv line 3: `start_date` value `01/02/2020` is not a date")
            && said.contains("\n  hr.csv line 4: `employee_id` is empty")
            && said.contains("\n  and 2 more")
            && !said.contains("hr.csv line 5"),
        "{said}"
    );
    assert_eq!(ws.active_names(), [OWNER]);
}

/// Issue "Robust unattended runs", item 5: an Excel export (UTF-8 BOM, CRLF line ends, a blank
/// line) is numbered by physical lines, as an LF file is.
#[tokio::test(flavor = "multi_thread")]
async fn an_excel_export_is_numbered_by_physical_lines() {
    let ws = Workspace::new().await;
    ws.hr(&[]);
    let rows = [
        HEADER.to_owned(),
        row("E1", "Ada", "Eng", "active"),
        String::new(),
        row("E2", "Bob", "Eng", "retired"),
        row("E3", "Cy", "Eng", "active"),
    ];
    let text = format!("\u{feff}{}\r\n", rows.join("\r\n"));
    std::fs::write(ws.path("hr.csv"), text).unwrap();
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let bad = finding(&plan, "source-row-invalid").expect("source-row-invalid");
    assert_eq!(bad["sources"], serde_json::json!(["hr: hr.csv line 4"]));
    let reasons: Vec<&str> = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "hr: status=active (hr.csv line 2)",
            "hr: status=active (hr.csv line 5)"
        ]
    );
}

/// Issue "Robust unattended runs", item 1: the HR file is read with a bound. Past
/// `max_file_bytes`, or on a path that is no regular file (a device never ends), the run stops
/// with exit 2, naming the file, and uses nothing of it.
#[tokio::test(flavor = "multi_thread")]
async fn an_hr_file_over_its_limit_or_not_a_file_stops_the_run_with_exit_2() {
    let mut ws = Workspace::new().await;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let writes = ws.emu.write_count();

    let size = std::fs::metadata(ws.path("hr.csv")).unwrap().len();
    ws.tail = format!("max_file_bytes = {}\n", size - 1);
    ws.write_config();
    for args in [&["plan"][..], &["sync", "--yes"][..]] {
        let run = ws.idbridge(args).await.expect(2);
        assert!(
            run.stderr.contains("hr.csv")
                && run
                    .stderr
                    .contains(&format!("larger than max_file_bytes = {}", size - 1)),
            "{args:?}: {}",
            run.stderr
        );
    }
    ws.tail = format!("max_file_bytes = {size}\n");
    ws.write_config();
    ws.idbridge(&["plan"]).await.expect(0);

    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    std::fs::write(
        ws.path("idbridge.toml"),
        config.replace("path = \"hr.csv\"", "path = \"/dev/zero\""),
    )
    .unwrap();
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(2);
    assert!(
        run.stderr.contains("/dev/zero") && run.stderr.contains("is a device, not a regular file"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.emu.write_count(), writes);
}

/// Issue "Robust unattended runs", item 1: a 10 MB field is reported with its line, without its
/// content, and `plan` with table output finishes with the other rows planned.
#[tokio::test(flavor = "multi_thread")]
async fn a_ten_megabyte_field_is_reported_by_its_line_and_the_plan_finishes() {
    let ws = Workspace::new().await;
    let huge = "x".repeat(10 * 1024 * 1024);
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &format!("E2,bob@acme.test,Bob,Test,\"{huge}\",Eng,,active,2020-01-01,"),
        &row("E3", "Cy", "Eng", "active"),
    ]);
    let run = ws.idbridge(&["plan"]).await.expect(0);
    assert!(
        run.stdout.contains("hr.csv line 3") && run.stdout.contains("cy@acme.test"),
        "{}",
        &run.stdout[..run.stdout.len().min(4000)]
    );
    assert!(run.stdout.len() < 64 * 1024, "{} bytes", run.stdout.len());
}

/// Issue "Robust unattended runs", item 5: a patch's reason cites the source value that differs
/// and its line, not the person's status.
#[tokio::test(flavor = "multi_thread")]
async fn a_title_change_cites_the_new_title_and_its_line() {
    let ws = Workspace::new().await;
    let mut rows = vec![
        row("E1", "Ada", "Engineer", "active"),
        row("E2", "Bob", "Engineer", "active"),
        row("E3", "Cy", "Engineer", "active"),
    ];
    let refs = |rows: &[String]| {
        rows.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    };
    ws.hr(&[&refs(&rows)]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);

    rows[2] = row("E3", "Cy", "Lead Engineer", "active");
    rows[1] = "E2,bob@acme.test,Robert,Builder,Engineer,Eng,,active,2020-01-01,".to_owned();
    ws.hr(&[&refs(&rows)]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let reasons: Vec<(&str, &str)> = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["userName"].as_str().unwrap(),
                o["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "bob@acme.test",
                "hr: givenName=Robert, familyName=Builder (hr.csv line 3)"
            ),
            ("cy@acme.test", "hr: title=Lead Engineer (hr.csv line 4)"),
        ],
        "{plan:#}"
    );
}

/// A Kelvin sign (`K`, U+212A) in a domain lowercases to an ASCII `k`, and a Cyrillic `а` among
/// Latin letters renders as `a`: both rows are reported and skipped, so no rename to a look-alike
/// domain is planned, no newcomer is created under one, and the people they name are kept.
#[tokio::test(flavor = "multi_thread")]
async fn look_alike_domains_are_skipped_as_bad_rows() {
    let ws = Workspace::new().await;
    let dee = row("E4", "Dee", "Eng", "active");
    let good = [
        row("E1", "Ada", "Eng", "active"),
        row("E2", "Bob", "Eng", "active"),
        dee.clone(),
    ];
    ws.hr(&good.iter().map(String::as_str).collect::<Vec<_>>());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let writes = ws.emu.write_count();
    let names = ws.active_names();

    ws.hr(&[
        "E1,ada@\u{212A}acme.test,Ada,Test,Eng,Eng,,active,2020-01-01,",
        "E2,bob@\u{0430}cme.test,Bob,Test,Eng,Eng,,active,2020-01-01,",
        "E3,cy@acme.te\u{212A}t,Cy,Test,Eng,Eng,,active,2020-01-01,",
        &dee,
    ]);
    // Exit 1: the three linked people kept because of their bad rows are held deactivations.
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert!(ops(&plan).is_empty(), "{plan:#}");
    let bad: Vec<(&str, &str)> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "source-row-invalid")
        .map(|f| {
            (
                f["sources"][0].as_str().unwrap(),
                f["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(bad.len(), 3, "{plan:#}");
    assert!(
        bad[0].0 == "hr: hr.csv line 2" && bad[0].1.contains("it would turn into `kacme.test`"),
        "{bad:?}"
    );
    assert!(
        bad[1].0 == "hr: hr.csv line 3"
            && bad[1]
                .1
                .contains("mixes Cyrillic (`\u{0430}` U+0430) and Latin"),
        "{bad:?}"
    );
    assert!(
        bad[2].0 == "hr: hr.csv line 4" && bad[2].1.contains("`acme.tekt`"),
        "{bad:?}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(ws.emu.write_count(), writes, "nothing was written");
    assert_eq!(ws.active_names(), names);
}

/// Samoa skipped 2011-12-30 (23:59:59 on the 29th, -10:00, was followed by midnight on the
/// 31st, +14:00, at 10:00 UTC). A termination dated 2011-12-29 takes effect then: before, the
/// day after it had no start and the person was kept forever, without a finding.
#[tokio::test(flavor = "multi_thread")]
async fn a_termination_before_a_day_the_zone_skipped_still_takes_effect() {
    let mut ws = Workspace::new().await;
    ws.tail = "timezone = \"Pacific/Apia\"\n".into();
    let before = "--now=2011-12-30T09:59:59Z";
    let after = "--now=2011-12-30T10:00:00Z";
    let ada = "E1,ada@acme.test,Ada,Test,Eng,Eng,,active,2010-01-01,";
    ws.hr(&[ada, "E2,bob@acme.test,Bob,Test,Eng,Eng,,active,2010-01-01,"]);
    ws.idbridge(&[before, "sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names().len(), 3);
    let bob = "E2,bob@acme.test,Bob,Test,Eng,Eng,,terminated,2010-01-01,2011-12-29";
    ws.hr(&[ada, bob]);

    let plan = ws
        .idbridge(&[before, "plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert!(ops(&plan).is_empty(), "{plan:#}");
    let scheduled = finding(&plan, "termination-scheduled").expect("termination-scheduled");
    assert!(
        scheduled["message"]
            .as_str()
            .unwrap()
            .contains("kept until 2011-12-30T10:00:00Z"),
        "{scheduled}"
    );
    ws.idbridge(&[after, "sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names(), ["ada@acme.test", OWNER]);
}
