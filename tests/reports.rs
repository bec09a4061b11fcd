//! End-to-end: `idbridge report …` over a store filled by real syncs against the emulator, an HR
//! CSV over several days (hires, a future start, a promotion, a leaver, a return, a scheduled
//! termination, an out-of-band change made directly in the workspace, a 429), checked against
//! golden files in `tests/fixtures/reports/` (rewrite with `UPDATE_GOLDEN=1`). Golden output is
//! made deterministic by `--now` and by replacing what a run cannot fix: the emulator's random
//! SCIM ids (`<id:userName>`), digests over them (`<sha256>`) and the machine's host name.

use crate::support::{Run, Workspace, TOKEN};
use idbridge::emulator::{Fault, FaultKind, SeedUser};
use idbridge::store::{LockHolder, Store};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const DAY1: &str = "2026-03-02T09:00:00Z";
pub(crate) const DAY2: &str = "2026-03-05T09:00:00Z";
pub(crate) const DAY3: &str = "2026-03-12T09:00:00Z";
pub(crate) const DAY4: &str = "2026-03-21T09:00:00Z";
pub(crate) const LATER: &str = "2026-03-22T00:00:00Z";
/// The OS account the tests run idbridge as (`USER`), so the record is predictable.
pub(crate) const AUDIT_USER: &str = "auditor";
const HOSTILE_TITLE: &str = "=HYPERLINK(\"http://evil.test\",\"x\")";

/// A person's HR row: `status` and the dates as given.
pub(crate) fn person(
    id: &str,
    first: &str,
    title: &str,
    status: &str,
    start: &str,
    end: &str,
) -> String {
    let title = if title.contains([',', '"']) {
        format!("\"{}\"", title.replace('"', "\"\""))
    } else {
        title.to_owned()
    };
    format!(
        "{id},{}@acme.test,{first},Test,{title},Eng,,{status},{start},{end}",
        first.to_lowercase()
    )
}

/// Run `idbridge --config … ARGS` as [`AUDIT_USER`], off the async runtime so the in-process
/// emulator keeps serving.
pub(crate) async fn idbridge(ws: &Workspace, args: &[&str]) -> Run {
    let config = ws.path("idbridge.toml");
    let dir = ws.dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .arg("--config")
            .arg(&config)
            .args(&args)
            .current_dir(&dir)
            .env("USER", AUDIT_USER)
            .env("LOGNAME", AUDIT_USER)
            .output()
            .expect("idbridge runs");
        Run::from(output)
    })
    .await
    .unwrap()
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Change a title directly in the workspace, as an admin would by hand.
pub(crate) async fn change_title_by_hand(ws: &Workspace, user_name: &str, title: &str) {
    let id = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == user_name)
        .unwrap()
        .id;
    let reply = reqwest::Client::new()
        .patch(format!("{}/Users/{id}", ws.running.base_url()))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "path": "title", "value": title }]
        }))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.status());
}

/// The company over four days; returns the workspace with its store filled.
pub(crate) async fn four_days() -> Workspace {
    let mut ws = Workspace::new().await;
    // One deactivation in five is above the default 10%; this company is small.
    ws.tail = "[policy]\nmax_deactivations = 3\n".into();
    // Day 1: hires, a future start, a termination scheduled for day 3, a throttled create.
    ws.emu.push_fault(Fault {
        nth: 2,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::Status429 {
            retry_after_secs: 0,
        },
    });
    ws.hr(&[
        &person("E1", "Ada", "Engineer", "active", "2020-01-01", ""),
        &person("E2", "Bob", "Designer", "active", "2020-01-01", ""),
        &person("E3", "Cy", "PM", "active", "2020-01-01", ""),
        &person("E4", "Dee", "Researcher", "active", "2026-03-20", ""),
        &person(
            "E5",
            "Eve",
            HOSTILE_TITLE,
            "active",
            "2020-01-01",
            "2026-03-10",
        ),
    ]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    // Day 2: a promotion, a leaver, and a title changed by hand in the workspace.
    change_title_by_hand(&ws, "cy@acme.test", "Intern").await;
    ws.hr(&[
        &person("E1", "Ada", "Lead", "active", "2020-01-01", ""),
        &person(
            "E2",
            "Bob",
            "Designer",
            "terminated",
            "2020-01-01",
            "2026-03-04",
        ),
        &person("E3", "Cy", "PM", "active", "2020-01-01", ""),
        &person("E4", "Dee", "Researcher", "active", "2026-03-20", ""),
        &person(
            "E5",
            "Eve",
            HOSTILE_TITLE,
            "active",
            "2020-01-01",
            "2026-03-10",
        ),
    ]);
    idbridge(&ws, &["--now", DAY2, "sync", "--yes"])
        .await
        .expect(0);
    // Day 3: the leaver returns; the scheduled termination takes effect.
    ws.hr(&[
        &person("E1", "Ada", "Lead", "active", "2020-01-01", ""),
        &person("E2", "Bob", "Designer", "active", "2020-01-01", ""),
        &person("E3", "Cy", "PM", "active", "2020-01-01", ""),
        &person("E4", "Dee", "Researcher", "active", "2026-03-20", ""),
        &person(
            "E5",
            "Eve",
            HOSTILE_TITLE,
            "active",
            "2020-01-01",
            "2026-03-10",
        ),
    ]);
    idbridge(&ws, &["--now", DAY3, "sync", "--yes"])
        .await
        .expect(0);
    // Day 4: the future hire starts.
    idbridge(&ws, &["--now", DAY4, "sync", "--yes"])
        .await
        .expect(0);
    ws
}

/// Replace what differs from one test run to the next, leaving the rest byte for byte.
pub(crate) fn normalise(ws: &Workspace, format: &str, text: &str) -> String {
    let mut out = text.to_owned();
    for m in ws.emu.members() {
        out = out.replace(&m.id, &format!("<id:{}>", m.user_name));
    }
    out = replace_hex64(&out);
    let host = host_name();
    match format {
        "json" => {
            let mut value: serde_json::Value = serde_json::from_str(&out).unwrap();
            mask_json_host(&mut value, &host);
            out = format!("{}\n", serde_json::to_string_pretty(&value).unwrap());
        }
        "csv" => out = mask_csv_host(&out, &host),
        "md" => out = mask_md_host(&out, &host),
        _ => {}
    }
    assert!(
        !has_uuid(&out),
        "an id the emulator does not know is in the output:\n{out}"
    );
    out
}

fn replace_hex64(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            .count();
        if run == 64 {
            out.push_str("<sha256>");
            i += run;
        } else {
            out.extend(&chars[i..i + run.max(1)]);
            i += run.max(1);
        }
    }
    out
}

fn has_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(35)).any(|i| {
        let w = &b[i..i + 36];
        w.iter().enumerate().all(|(j, c)| match j {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    })
}

fn mask_json_host(value: &mut serde_json::Value, host: &str) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "host" && v.as_str() == Some(host) {
                    *v = "<host>".into();
                } else {
                    mask_json_host(v, host);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| mask_json_host(v, host)),
        _ => {}
    }
}

fn mask_csv_host(text: &str, host: &str) -> String {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let mut column = None;
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        if i == 0 {
            column = record.iter().position(|c| c == "host");
        }
        let cells: Vec<&str> = record
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if i > 0 && Some(j) == column && c == host {
                    "<host>"
                } else {
                    c
                }
            })
            .collect();
        writer.write_record(cells).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn mask_md_host(text: &str, host: &str) -> String {
    let mut column = None;
    let fact = format!("- **host**: {host}");
    text.lines()
        .map(|line| {
            if line == fact {
                return "- **host**: <host>".to_owned();
            }
            if !line.starts_with("| ") {
                return line.to_owned();
            }
            let cells: Vec<&str> = line[2..line.len() - 2].split(" | ").collect();
            if column.is_none() && cells.contains(&"host") {
                column = cells.iter().position(|c| *c == "host");
                return line.to_owned();
            }
            let cells: Vec<&str> = cells
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    if Some(j) == column && *c == host {
                        "<host>"
                    } else {
                        c
                    }
                })
                .collect();
            format!("| {} |", cells.join(" | "))
        })
        .map(|l| l + "\n")
        .collect()
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reports")
        .join(name)
}

/// Compare with the golden file, or rewrite it with `UPDATE_GOLDEN=1`.
pub(crate) fn golden(name: &str, actual: &str) {
    let path = fixture(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} cannot be read ({e}); write it with UPDATE_GOLDEN=1",
            path.display()
        )
    });
    pretty_assertions::assert_eq!(expected, actual, "golden file {name}");
}

/// Each report in each file format, against its golden file.
pub(crate) async fn check_goldens(ws: &Workspace, now: &str, stem: &str, report: &[&str]) {
    for format in ["json", "csv", "md"] {
        let mut args = vec!["--now", now, "report"];
        args.extend_from_slice(report);
        args.extend(["--format", format]);
        let run = idbridge(ws, &args).await.expect(0);
        golden(
            &format!("{stem}.{format}"),
            &normalise(ws, format, &run.stdout),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_over_four_days_of_syncs_match_the_golden_files() {
    let ws = four_days().await;
    check_goldens(&ws, LATER, "runs", &["runs"]).await;
    check_goldens(&ws, LATER, "run-2", &["run", "2"]).await;
    check_goldens(&ws, LATER, "changes", &["changes", "--since", "2026-03-01"]).await;
    check_goldens(
        &ws,
        LATER,
        "changes-bob",
        &[
            "changes",
            "--since",
            "2026-03-01",
            "--user",
            "BOB@acme.test",
        ],
    )
    .await;

    // What the goldens cannot check by themselves: the counts are the emulator's, not made up.
    let runs = idbridge(&ws, &["--now", LATER, "report", "runs", "--format", "json"])
        .await
        .expect(0)
        .json();
    let rows = runs["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let requests: u64 = rows
        .iter()
        .map(|r| r["scimRequests"].as_u64().unwrap())
        .sum();
    // Every request the workspace saw came from the four syncs, but the PATCH made by hand.
    assert_eq!(requests as usize, ws.emu.requests().len() - 1);
    let day1 = rows.iter().find(|r| r["run"] == 1).unwrap();
    assert_eq!(
        (day1["retries"].as_u64(), day1["throttled"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(rows.iter().all(|r| r["trigger"] == "sync"
        && r["osUser"] == AUDIT_USER
        && r["host"] == host_name().as_str()));

    // The out-of-band change is in the journal as a patch back, with the source fact.
    let changes = idbridge(
        &ws,
        &[
            "--now",
            LATER,
            "report",
            "changes",
            "--since",
            "2026-03-05",
            "--until",
            "2026-03-05",
            "--op",
            "patch-user",
            "--format",
            "json",
        ],
    )
    .await
    .expect(0)
    .json();
    let cy = changes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["userName"] == "cy@acme.test")
        .unwrap();
    assert_eq!(
        (cy["before"].as_str(), cy["after"].as_str()),
        (Some("Intern"), Some("PM"))
    );
    assert!(
        cy["reason"].as_str().unwrap().contains("hr.csv line 4"),
        "{cy}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upcoming_shows_future_starts_and_terminations_as_the_last_sync_read_them() {
    let ws = Workspace::new().await;
    ws.hr(&[
        &person("E1", "Ada", "Engineer", "active", "2020-01-01", ""),
        &person("E4", "Dee", "Researcher", "active", "2026-03-20", ""),
        &person("E5", "Eve", "Ops", "active", "2020-01-01", "2026-03-10"),
        &person("E6", "Fay", "Ops", "active", "2026-06-01", ""),
    ]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    check_goldens(&ws, DAY1, "upcoming", &["upcoming", "--days", "30"]).await;
    // Later, the termination has taken effect: it is no longer upcoming.
    let later = idbridge(
        &ws,
        &[
            "--now",
            "2026-03-15T00:00:00Z",
            "report",
            "upcoming",
            "--format",
            "json",
        ],
    )
    .await
    .expect(0)
    .json();
    let names: Vec<&str> = later["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dee@acme.test"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_formula_in_a_source_value_is_neutralised_in_csv_and_kept_whole_in_json() {
    let ws = Workspace::new().await;
    ws.hr(&[&person(
        "E5",
        "Eve",
        HOSTILE_TITLE,
        "active",
        "2020-01-01",
        "",
    )]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    let args = |format| {
        vec![
            "--now",
            DAY1,
            "report",
            "changes",
            "--since",
            "2026-03-02",
            "--format",
            format,
        ]
    };
    let csv = idbridge(&ws, &args("csv")).await.expect(0).stdout;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let after = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "after")
        .unwrap();
    let titles: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[after].to_owned())
        .filter(|v| v.contains("HYPERLINK"))
        .collect();
    assert_eq!(titles, [format!("'{HOSTILE_TITLE}")]);
    for record in csv::Reader::from_reader(csv.as_bytes()).records() {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet would run: {cell:?}"
            );
        }
    }
    let json = idbridge(&ws, &args("json")).await.expect(0).json();
    assert!(json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["after"] == HOSTILE_TITLE));
}

/// Every report, in every format, to stdout and to `--out`: the SQLite file and its folder are
/// exactly as before (bytes, modification time, no journal or lock file created).
#[tokio::test(flavor = "multi_thread")]
async fn reports_never_write_the_store() {
    let ws = Workspace::new().await;
    ws.hr(&[
        &person("E1", "Ada", "Engineer", "active", "2020-01-01", ""),
        &person("E4", "Dee", "Researcher", "active", "2026-03-20", ""),
    ]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    let db = ws.path("idbridge.db");
    // SQLite reads a WAL database only through its `-shm` and `-wal` files, and a read-only
    // connection creates them when the last writer removed them: they may appear, but the `-wal`
    // must not change (no page was written) and nothing else may.
    let wal = ws.path("idbridge.db-wal");
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(ws.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("idbridge.db"))
            .filter(|n| !n.ends_with("-shm") && !n.ends_with("-wal"))
            .collect();
        names.sort();
        names
    };
    let state = || {
        (
            std::fs::read(&db).unwrap(),
            std::fs::metadata(&db).unwrap().modified().unwrap(),
            listing(),
        )
    };
    let before = state();
    // An applying run checkpoints its log (Store::checkpoint): the file alone holds the store.
    let wal_before = std::fs::read(&wal).unwrap_or_default();
    assert!(
        wal_before.is_empty(),
        "the sync left {} bytes of log",
        wal_before.len()
    );
    let reports: [&[&str]; 10] = [
        &["runs"],
        &["run", "1"],
        &["changes", "--since", "2026-03-01"],
        &["upcoming"],
        &["users"],
        &["drift"],
        &["orphans"],
        &["sso"],
        &["prunes"],
        &[
            "runs",
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-02",
            "--target",
            "test",
        ],
    ];
    for report in reports {
        for format in ["table", "json", "csv", "md", "html"] {
            let mut args = vec!["--now", DAY1, "report"];
            args.extend_from_slice(report);
            args.extend(["--format", format]);
            let printed = idbridge(&ws, &args).await.expect(0);
            let out = ws
                .dir
                .path()
                .join(format!("out.{format}"))
                .display()
                .to_string();
            args.extend(["--out", &out]);
            idbridge(&ws, &args).await.expect(0);
            assert_eq!(
                std::fs::read_to_string(&out).unwrap(),
                printed.stdout,
                "--out writes what stdout shows: {args:?}"
            );
        }
    }
    for format in ["table", "json"] {
        idbridge(
            &ws,
            &[
                "--now",
                DAY1,
                "explain",
                "ada@acme.test",
                "--format",
                format,
            ],
        )
        .await
        .expect(0);
    }
    assert!(
        before == state(),
        "a report changed the store or its folder: {:?} -> {:?}",
        (before.1, &before.2),
        {
            let s = state();
            (s.1, s.2)
        }
    );
    assert_eq!(
        std::fs::read(&wal).unwrap_or_default(),
        wal_before,
        "a report wrote to the write-ahead log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pruning_leaves_a_record_and_every_report_says_so() {
    let ws = Workspace::new().await;
    ws.hr(&[&person("E1", "Ada", "Engineer", "active", "2020-01-01", "")]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    ws.hr(&[&person("E1", "Ada", "Lead", "active", "2020-01-01", "")]);
    idbridge(&ws, &["--now", DAY2, "sync", "--yes"])
        .await
        .expect(0);

    let pruned = idbridge(
        &ws,
        &[
            "--now",
            DAY3,
            "report",
            "prune",
            "--before",
            "2026-03-04",
            "--yes",
            "--format",
            "json",
        ],
    )
    .await
    .expect(0)
    .json();
    assert_eq!(pruned["rows"].as_array().unwrap().len(), 1, "{pruned}");
    assert_eq!(pruned["rows"][0]["runs"], 1);
    assert_eq!(pruned["rows"][0]["operations"], 1);
    assert_eq!(pruned["rows"][0]["reason"], "report-prune");
    assert_eq!(pruned["rows"][0]["osUser"], AUDIT_USER);

    let prunes = idbridge(
        &ws,
        &["--now", DAY3, "report", "prunes", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    assert_eq!(prunes["rows"], pruned["rows"], "the record stays");
    let run1 = idbridge(
        &ws,
        &["--now", DAY3, "report", "run", "1", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    assert!(run1["rows"].as_array().unwrap().is_empty());
    assert_eq!(run1["facts"]["prunedAt"], "2026-03-12T09:00:00Z");
    assert_eq!(run1["facts"]["done"], 1, "the counts survive the journal");
    assert!(
        run1["notes"][0].as_str().unwrap().contains("was pruned"),
        "{run1}"
    );
    let runs = idbridge(&ws, &["--now", DAY3, "report", "runs", "--format", "json"])
        .await
        .expect(0)
        .json();
    let first = runs["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == 1)
        .unwrap();
    assert_eq!(first["done"], 1, "the counts survive the journal");
    assert_eq!(first["prunedAt"], "2026-03-12T09:00:00Z");
    let changes = idbridge(
        &ws,
        &[
            "--now",
            DAY3,
            "report",
            "changes",
            "--since",
            "2026-03-01",
            "--format",
            "json",
        ],
    )
    .await
    .expect(0)
    .json();
    let ops: Vec<&str> = changes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["patch-user"], "only day 2's journal is left");
    assert!(
        changes["notes"][0].as_str().unwrap().contains("pruned"),
        "{changes}"
    );

    // Again: nothing left to prune, nothing recorded.
    let again = idbridge(
        &ws,
        &[
            "--now",
            DAY3,
            "report",
            "prune",
            "--before",
            "2026-03-04",
            "--yes",
            "--format",
            "json",
        ],
    )
    .await
    .expect(0)
    .json();
    assert!(again["rows"].as_array().unwrap().is_empty());
    // A date in the future is refused: it would erase what has not happened yet.
    let future = idbridge(
        &ws,
        &[
            "--now",
            DAY3,
            "report",
            "prune",
            "--before",
            "2026-04-01",
            "--yes",
        ],
    )
    .await
    .expect(2);
    assert!(future.stderr.contains("in the future"), "{}", future.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn store_retention_prunes_old_runs_at_the_end_of_a_sync() {
    let mut ws = Workspace::new().await;
    ws.hr(&[&person("E1", "Ada", "Engineer", "active", "2020-01-01", "")]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    // The Workspace writes `url = "{store_url}"`: close the URL and add the key after it.
    ws.store_url = format!("{}\"\nretention = \"2d", ws.store_url);
    ws.hr(&[&person("E1", "Ada", "Lead", "active", "2020-01-01", "")]);
    let config = std::fs::read_to_string(ws.path("idbridge.toml")).unwrap();
    assert!(config.contains("retention = \"2d\""), "{config}");
    idbridge(&ws, &["--now", DAY2, "sync", "--yes"])
        .await
        .expect(0);
    let prunes = idbridge(
        &ws,
        &["--now", DAY2, "report", "prunes", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    let rows = prunes["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{prunes}");
    assert_eq!(rows[0]["reason"], "retention");
    assert_eq!(rows[0]["cutoff"], "2026-03-03T09:00:00Z");
    assert_eq!(rows[0]["runs"], 1);
    let run2 = idbridge(
        &ws,
        &["--now", DAY2, "report", "run", "2", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    assert_eq!(
        run2["rows"].as_array().unwrap().len(),
        1,
        "this run's journal is kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn report_prune_exits_4_while_a_run_holds_the_lock_and_deletes_nothing() {
    let ws = Workspace::new().await;
    ws.hr(&[&person("E1", "Ada", "Engineer", "active", "2020-01-01", "")]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    let store = Store::open(&ws.store_url).await.unwrap();
    let holder = LockHolder {
        command: "sync".into(),
        pid: 4242,
        host: "cron-1".into(),
        started_at: chrono::DateTime::parse_from_rfc3339(DAY3).unwrap().to_utc(),
    };
    let lock = store.lock_run("test", &holder).await.unwrap();
    let run = idbridge(
        &ws,
        &[
            "--now",
            DAY3,
            "report",
            "prune",
            "--before",
            "2026-03-04",
            "--yes",
        ],
    )
    .await
    .expect(4);
    assert!(run.stderr.contains("pid 4242"), "{}", run.stderr);
    lock.release().await;
    assert_eq!(
        store
            .operations(idbridge::store::RunId(1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.prunes(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_store_or_run_is_an_error_never_an_empty_report() {
    let ws = Workspace::new().await;
    ws.hr(&[&person("E1", "Ada", "Engineer", "active", "2020-01-01", "")]);
    let none = idbridge(&ws, &["report", "runs"]).await.expect(2);
    assert!(
        none.stderr.contains("holds nothing to report"),
        "{}",
        none.stderr
    );
    assert!(
        !ws.path("idbridge.db").exists(),
        "a report created the store"
    );
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    let missing = idbridge(&ws, &["report", "run", "99"]).await.expect(2);
    assert!(
        missing.stderr.contains("has no run 99"),
        "{}",
        missing.stderr
    );
    let bad = idbridge(&ws, &["report", "changes", "--since", "last week"])
        .await
        .expect(2);
    assert!(bad.stderr.contains("YYYY-MM-DD"), "{}", bad.stderr);
    let op = idbridge(
        &ws,
        &[
            "report",
            "changes",
            "--since",
            "2026-03-01",
            "--op",
            "delete",
        ],
    )
    .await
    .expect(2);
    assert!(op.stderr.contains("deactivate-user"), "{}", op.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_applied_plan_records_its_trigger_digest_and_reasons() {
    let ws = Workspace::new().await;
    ws.hr(&[&person("E1", "Ada", "Engineer", "active", "2020-01-01", "")]);
    idbridge(&ws, &["--now", DAY1, "plan", "--out", "plan.json"])
        .await
        .expect(0);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("plan.json")).unwrap()).unwrap();
    idbridge(
        &ws,
        &["--now", DAY1, "apply", "--plan", "plan.json", "--yes"],
    )
    .await
    .expect(0);
    let run = idbridge(
        &ws,
        &["--now", DAY1, "report", "run", "1", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    assert_eq!(run["facts"]["trigger"], "apply-plan");
    assert_eq!(run["facts"]["planDigest"], plan["planDigest"]);
    assert_eq!(run["rows"][0]["reason"], plan["operations"][0]["reason"]);
    assert_eq!(run["rows"][0]["changes"], plan["operations"][0]["changes"]);
    // apply reads no source, so it records no upcoming events.
    let upcoming = idbridge(
        &ws,
        &["--now", DAY1, "report", "upcoming", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    assert!(
        upcoming["notes"][0]
            .as_str()
            .unwrap()
            .contains("no run has recorded"),
        "{upcoming}"
    );
}

/// Piped or redirected, the table keeps to 120 columns and shows hostile text inert.
#[tokio::test(flavor = "multi_thread")]
async fn the_table_fits_a_fixed_width_when_stdout_is_not_a_terminal() {
    let ws = Workspace::new().await;
    ws.hr(&[&person("E1", "Ada", "Engineer", "active", "2020-01-01", "")]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    change_title_by_hand(
        &ws,
        "ada@acme.test",
        &format!("\u{1b}[2J{}", "x".repeat(5_000)),
    )
    .await;
    idbridge(&ws, &["--now", DAY2, "sync", "--yes"])
        .await
        .expect(0);
    for report in [
        &["runs"][..],
        &["run", "2"],
        &["changes", "--since", "2026-03-01"],
        &["users"],
        &["drift"],
        &["orphans"],
    ] {
        let mut args = vec!["--now", DAY2, "report"];
        args.extend_from_slice(report);
        let table = idbridge(&ws, &args).await.expect(0).stdout;
        for line in table.lines() {
            assert!(line.chars().count() <= 120, "{report:?}: {line}");
        }
        assert!(!table.contains('\u{1b}'), "raw ESC reached the terminal");
    }
}

/// Past the four days: Ada's title changed by hand in the workspace and a member added by hand,
/// neither seen by a sync yet.
async fn four_days_and_hand_changes() -> Workspace {
    let ws = four_days().await;
    change_title_by_hand(&ws, "ada@acme.test", "Chief of Everything").await;
    ws.emu.seed_user(SeedUser {
        role: Some("member".into()),
        ..SeedUser::member("temp@acme.test", "Tim", "Temp")
    });
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn access_reports_read_the_workspace_and_match_the_golden_files() {
    let ws = four_days_and_hand_changes().await;
    let requests = ws.emu.requests().len();
    check_goldens(&ws, LATER, "users", &["users"]).await;
    check_goldens(&ws, LATER, "drift", &["drift"]).await;
    check_goldens(&ws, LATER, "orphans", &["orphans"]).await;
    let writes = ws.emu.requests()[requests..]
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes, 0, "a report wrote to the workspace");

    let users = idbridge(
        &ws,
        &["--now", LATER, "report", "users", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    let row = |name: &str| {
        users["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["userName"] == name)
            .unwrap_or_else(|| panic!("{name} is not in {users}"))
            .clone()
    };
    let ada = row("ada@acme.test");
    assert_eq!(ada["employeeId"], "E1");
    assert_eq!(ada["management"], "managed (linked as hr:E1)");
    assert!(
        ada["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "title = Lead ← hr: title=Lead (hr.csv line 2)"),
        "{ada}"
    );
    assert_eq!(ada["lastChangedAt"], "2026-03-05T09:00:00Z");
    assert_eq!(ada["sso"], "not checked");
    assert_eq!(
        row("owner@acme.test")["management"],
        "left alone: the owner of idbridge's SCIM token (target.token_owner)"
    );
    assert_eq!(row("temp@acme.test")["management"], "left alone: unmanaged");

    // Drift: the title changed by hand since idbridge wrote it, and nothing else.
    let drift = idbridge(
        &ws,
        &["--now", LATER, "report", "drift", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    let rows = drift["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{drift}");
    assert_eq!(rows[0]["userName"], "ada@acme.test");
    assert_eq!(rows[0]["attr"], "title");
    assert_eq!(rows[0]["drift"], "changed in the workspace by hand");
    assert_eq!(
        (
            rows[0]["sourceValue"].as_str(),
            rows[0]["targetValue"].as_str(),
            rows[0]["lastWritten"].as_str()
        ),
        (Some("Lead"), Some("Chief of Everything"), Some("Lead"))
    );

    // Orphans: the member added by hand, and the owner marked as left alone.
    let orphans = idbridge(
        &ws,
        &["--now", LATER, "report", "orphans", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    let names: Vec<&str> = orphans["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["owner@acme.test", "temp@acme.test"], "{orphans}");
}

fn saml_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/saml")
        .join(name)
        .display()
        .to_string()
}

/// The SAML fixtures' responses are valid at this instant.
const SAML_NOW: &str = "2030-01-01T00:01:00Z";

/// `report sso` over real checks recorded by the binary (a metadata check, an accepted response,
/// a rejected wrapping attack), and the access review's SSO column from the same record.
#[tokio::test(flavor = "multi_thread")]
async fn sso_history_and_the_access_review_read_the_recorded_saml_checks() {
    let ws = Workspace::new().await;
    ws.hr(&["E1,alice@example.com,Alice,Test,Engineer,Eng,,active,2020-01-01,"]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    let empty = idbridge(
        &ws,
        &["--now", SAML_NOW, "report", "sso", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    assert!(empty["rows"].as_array().unwrap().is_empty());
    assert!(empty["notes"][0]
        .as_str()
        .unwrap()
        .contains("no metadata check"));

    let metadata = saml_fixture("idp-metadata.xml");
    idbridge(
        &ws,
        &[
            "--now",
            SAML_NOW,
            "saml",
            "check-metadata",
            &metadata,
            "--record",
        ],
    )
    .await
    .expect(0);
    let response = |file: &str| {
        vec![
            "--now".to_owned(),
            SAML_NOW.to_owned(),
            "saml".to_owned(),
            "check-response".to_owned(),
            saml_fixture(file),
            "--metadata".to_owned(),
            metadata.clone(),
            "--audience".to_owned(),
            "https://www.notion.so/sso/saml".to_owned(),
            "--recipient".to_owned(),
            "https://www.notion.so/sso/saml/acme".to_owned(),
            "--record".to_owned(),
        ]
    };
    let args = response("xsw3.xml");
    idbridge(&ws, &args.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .expect(1);
    let args = response("valid-assertion-signed.xml");
    idbridge(&ws, &args.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .expect(0);

    let later = "2030-01-02T00:00:00Z";
    check_goldens(&ws, later, "sso", &["sso"]).await;
    let sso = idbridge(&ws, &["--now", later, "report", "sso", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(sso["rows"].as_array().unwrap().len(), 3, "{sso}");
    assert_eq!(sso["facts"]["metadataVerdict"], "accept");
    assert_eq!(sso["facts"]["responseVerdict"], "accept");
    assert!(
        sso["facts"]["signingCertDaysLeft"].as_i64().unwrap() > 3000,
        "{sso}"
    );
    assert!(sso["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["verdict"] == "reject" && !r["errors"].as_array().unwrap().is_empty()));

    let users = idbridge(
        &ws,
        &["--now", later, "report", "users", "--format", "json"],
    )
    .await
    .expect(0)
    .json();
    let alice = users["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["userName"] == "alice@example.com")
        .unwrap();
    assert_eq!(
        alice["sso"], "can log in (accepted 2030-01-01T00:01:00Z)",
        "{alice}"
    );
}
