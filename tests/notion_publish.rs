//! `idbridge report changes --publish notion` through the binary, against the SCIM emulator (the
//! syncs that fill the store) and the emulation of Notion's public API (the database the
//! report is published into): one page per change, found and updated in place on the next
//! publish, never duplicated; long text in chunks; throttling waited out; a database the
//! integration cannot see, a refused token and a property of the wrong type as clear errors
//! with their exit codes; the integration token never in any output.

use crate::support::{Run, Workspace};
use idbridge::clock::SystemClock;
use idbridge::emulator::notion_api::{changes_schema, users_schema, NotionApi, NotionFault};
use idbridge::emulator::{RateLimit, Running};
use std::sync::Arc;

/// The integration token the Notion API emulation accepts; a canary that must never be printed.
const NOTION_TOKEN: &str = "ntn_canary_integration_4f9a1c7e22";

struct Publishing {
    ws: Workspace,
    api: NotionApi,
    _running: Running,
    db: String,
    users_db: String,
}

fn person(id: &str, first: &str, title: &str) -> String {
    format!(
        "{id},{}@acme.test,{first},Test,{title},Eng,,active,2026-01-05,",
        first.to_lowercase()
    )
}

/// A workspace synced once with three hires, and a Notion database shared with the integration.
async fn publishing(schema: &[(&str, &str)], notion_extra: &str) -> Publishing {
    let mut ws = Workspace::new().await;
    let api = NotionApi::new(Arc::new(SystemClock));
    api.add_token(NOTION_TOKEN);
    let db = api.add_database("idbridge changes", schema);
    let users_db = api.add_database("access review", &users_schema());
    let running = api
        .clone()
        .spawn()
        .await
        .expect("the Notion API emulation starts");
    std::fs::write(ws.path("notion-token"), format!("{NOTION_TOKEN}\n")).unwrap();
    ws.tail = format!(
        "[notion]\nurl = \"{}\"\ntoken_file = \"notion-token\"\nchanges_database = \"{}\"\n\
         users_database = \"{users_db}\"\nrate_limit = 0\n{retries}{notion_extra}\n",
        running.root_url(),
        db.replace('-', ""),
        retries = if notion_extra.contains("max_retries") {
            ""
        } else {
            "max_retries = 8\n"
        },
    );
    ws.hr(&[
        &person("E1", "Ada", "Engineer"),
        &person("E2", "Bob", "Designer"),
        &person("E3", "Cy", "Analyst"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    Publishing {
        ws,
        api,
        _running: running,
        db,
        users_db,
    }
}

/// Neither stream holds the integration token (nor the SCIM token: `Run::expect` checks that).
fn no_notion_token(run: &Run) {
    for form in crate::support::secret_forms(NOTION_TOKEN) {
        assert!(
            !run.stdout.contains(&form) && !run.stderr.contains(&form),
            "the integration token leaked as {form:?}\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

async fn publish(p: &Publishing, extra: &[&str]) -> Run {
    let mut args = vec![
        "report",
        "changes",
        "--since",
        "2026-01-01",
        "--publish",
        "notion",
    ];
    args.extend_from_slice(extra);
    let run = p.ws.idbridge(&args).await;
    no_notion_token(&run);
    run
}

fn titles(p: &Publishing) -> Vec<String> {
    let mut keys: Vec<String> = p
        .api
        .pages(&p.db)
        .iter()
        .map(|pg| pg.text("Change"))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn publish_then_republish_makes_no_duplicate_and_updates_a_page_changed_by_hand() {
    let p = publishing(&changes_schema(), "").await;
    let notes = p.api.add_page(&p.db, "the team's own notes").unwrap();

    let first = publish(&p, &["--format", "json"]).await.expect(0).json();
    let created = first["facts"]["created"].as_i64().unwrap();
    assert!(created >= 3, "{first:#}");
    assert_eq!(first["facts"]["leftAlone"], 1, "{first:#}");
    let pages = p.api.pages(&p.db);
    assert_eq!(pages.len() as i64, created + 1);
    let ada = pages
        .iter()
        .find(|pg| pg.text("userName") == "ada@acme.test")
        .expect("a page for Ada's creation");
    assert!(
        ada.text("Change").starts_with("run 1 op "),
        "{:?}",
        ada.text("Change")
    );
    assert_eq!(ada.properties["operation"]["select"]["name"], "create-user");
    assert!(ada.text("changes").contains("title: ∅ → Engineer"));
    assert_eq!(ada.properties["run"]["number"], 1);
    assert!(ada.properties["when"]["date"]["start"]
        .as_str()
        .unwrap()
        .starts_with("2026-"));
    let before = titles(&p);

    // Someone edits a page in Notion; a promotion makes a new change.
    assert!(p.api.set_text(&ada.id, "reason", "edited by hand"));
    p.ws.hr(&[
        &person("E1", "Ada", "Lead"),
        &person("E2", "Bob", "Designer"),
        &person("E3", "Cy", "Analyst"),
    ]);
    p.ws.idbridge(&["sync", "--yes"]).await.expect(0);

    let posts_before = p
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/pages")
        .count();
    let second = publish(&p, &["--format", "json"]).await.expect(0).json();
    assert_eq!(
        second["facts"]["created"], 1,
        "only the promotion is new: {second:#}"
    );
    assert_eq!(second["facts"]["updated"], 1, "{second:#}");
    assert_eq!(second["facts"]["unchanged"].as_i64().unwrap(), created - 1);
    let updated = &second["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "updated")
        .unwrap();
    assert_eq!(updated["detail"], serde_json::json!(["reason"]));
    let posts_after = p
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/pages")
        .count();
    assert_eq!(posts_after - posts_before, 1);

    let after = titles(&p);
    let mut unique = after.clone();
    unique.dedup();
    assert_eq!(unique, after, "no key twice");
    assert_eq!(after.len(), before.len() + 1);
    let ada = p
        .api
        .pages(&p.db)
        .into_iter()
        .find(|pg| pg.id == ada.id)
        .unwrap();
    assert_ne!(
        ada.text("reason"),
        "edited by hand",
        "put back to what the journal says"
    );
    assert!(
        p.api.pages(&p.db).iter().any(|pg| pg.id == notes),
        "the team's page is left alone"
    );

    // A third publish writes nothing at all, and every request named the version.
    let third = publish(&p, &[]).await.expect(0);
    assert!(
        third.stdout.contains("nothing was written"),
        "{}",
        third.stdout
    );
    assert!(third.stdout.contains("left alone"), "{}", third.stdout);
    assert!(p
        .api
        .requests()
        .iter()
        .all(|r| r.version.as_deref() == Some("2022-06-28")));
}

#[tokio::test]
async fn a_long_value_is_published_in_chunks_of_at_most_2000_characters() {
    let long_title = format!("Principal {}", "architect of everything ".repeat(200));
    let p = publishing(&changes_schema(), "").await;
    p.ws.hr(&[
        &person("E1", "Ada", &long_title),
        &person("E2", "Bob", "Designer"),
        &person("E3", "Cy", "Analyst"),
    ]);
    p.ws.idbridge(&["sync", "--yes"]).await.expect(0);
    publish(&p, &[]).await.expect(0);
    let page = p
        .api
        .pages(&p.db)
        .into_iter()
        .find(|pg| pg.text("changes").contains("Principal"))
        .expect("the promotion's page");
    let pieces = page.properties["changes"]["rich_text"].as_array().unwrap();
    assert!(pieces.len() >= 3, "{} pieces", pieces.len());
    for piece in pieces {
        let n = piece["text"]["content"]
            .as_str()
            .unwrap()
            .encode_utf16()
            .count();
        assert!(n <= 2000, "a piece of {n}");
    }
    assert!(
        page.text("changes").contains(long_title.trim()),
        "whole, in order"
    );
}

#[tokio::test]
async fn throttling_with_retry_after_is_waited_out() {
    let p = publishing(&changes_schema(), "").await;
    // Notion's documented average, and a client told to send as fast as it can.
    p.api.set_rate_limit(Some(RateLimit {
        per_second: 3.0,
        burst: 2,
    }));
    p.api.push_fault(NotionFault::Throttle {
        retry_after_secs: 1,
    });
    let run = publish(&p, &["--format", "json"]).await.expect(0);
    let summary = run.json();
    let throttled = p.api.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled >= 2, "{throttled} 429s");
    assert_eq!(
        summary["facts"]["throttled"].as_u64().unwrap() as usize,
        throttled
    );
    assert_eq!(summary["facts"]["failed"], 0);
    assert_eq!(
        p.api.pages(&p.db).len() as i64,
        summary["facts"]["created"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn a_create_whose_reply_was_lost_is_found_not_made_twice() {
    let p = publishing(&changes_schema(), "").await;
    // The first create is done but its reply is lost; a server error on the schema read too.
    p.api
        .push_fault_on("POST", "/v1/pages", NotionFault::LoseReply);
    p.api.push_fault_on(
        "GET",
        &format!("/v1/databases/{}", p.db),
        NotionFault::ServerError,
    );
    let run = publish(&p, &["--format", "json"]).await.expect(0).json();
    assert!(run["facts"]["retries"].as_i64().unwrap() >= 2, "{run:#}");
    let keys = titles(&p);
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(unique, keys, "a lost reply never makes a second page");
    assert_eq!(keys.len() as i64, run["facts"]["created"].as_i64().unwrap());
    let lookups = p
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/query"))
        .count();
    assert_eq!(
        lookups, 2,
        "the full read, then one lookup before the create is sent again"
    );
}

#[tokio::test]
async fn a_database_not_shared_with_the_integration_says_to_share_it_and_exits_2() {
    let p = publishing(&changes_schema(), "").await;
    p.api.set_shared(&p.db, false);
    let run = publish(&p, &[]).await.expect(2);
    assert!(run.stderr.contains("Connections"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&p.db),
        "names the database: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("notion.changes_database"),
        "{}",
        run.stderr
    );
    assert!(p.api.pages(&p.db).is_empty());

    let json = publish(&p, &["--format", "json"]).await.expect(2).json();
    assert!(json.to_string().contains("Connections"), "{json:#}");
}

#[tokio::test]
async fn a_refused_token_exits_3_and_never_shows_the_token() {
    let p = publishing(&changes_schema(), "").await;
    std::fs::write(p.ws.path("notion-token"), "ntn_wrong_token_value_123\n").unwrap();
    let run = publish(&p, &["-vvv"]).await.expect(3);
    assert!(
        run.stderr.contains("refused the integration token"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("notion-token"),
        "names the file: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("ntn_wrong_token_value_123"));
    assert!(!run.stdout.contains("ntn_wrong_token_value_123"));
}

#[tokio::test]
async fn a_property_of_the_wrong_type_is_named_before_anything_is_written() {
    let mut schema = changes_schema();
    for entry in &mut schema {
        if entry.0 == "when" {
            entry.1 = "number";
        }
    }
    let p = publishing(&schema, "").await;
    let run = publish(&p, &[]).await.expect(2);
    assert!(
        run.stderr
            .contains("`when` is a Number property but the column holds a date: make it a Date"),
        "{}",
        run.stderr
    );
    assert!(p.api.pages(&p.db).is_empty());
    assert!(
        p.api.requests().iter().all(|r| r.method == "GET"),
        "only the schema was read"
    );
}

#[tokio::test]
async fn a_database_with_only_a_title_gets_the_keys_and_the_rest_is_said_left_out() {
    let p = publishing(&[("Name", "title"), ("reason", "rich_text")], "").await;
    let run = publish(&p, &[]).await.expect(0);
    assert!(run.stdout.contains("not published"), "{}", run.stdout);
    let pages = p.api.pages(&p.db);
    assert!(!pages.is_empty());
    assert!(pages
        .iter()
        .all(|pg| pg.text("Name").starts_with("run 1 op ")));
    assert!(pages.iter().all(|pg| !pg.text("reason").is_empty()));
}

#[tokio::test]
async fn publishing_without_a_notion_table_or_database_says_which_key_to_set() {
    let mut ws = Workspace::new().await;
    ws.hr(&[&person("E1", "Ada", "Engineer")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let run = ws
        .idbridge(&[
            "report",
            "changes",
            "--since",
            "2026-01-01",
            "--publish",
            "notion",
        ])
        .await
        .expect(2);
    assert!(run.stderr.contains("no [notion] table"), "{}", run.stderr);
    ws.tail = "[notion]\ntoken_env = \"IDBRIDGE_TEST_UNSET_NOTION_TOKEN\"\n".into();
    ws.write_config();
    let run = ws
        .idbridge(&[
            "report",
            "changes",
            "--since",
            "2026-01-01",
            "--publish",
            "notion",
        ])
        .await
        .expect(2);
    assert!(
        run.stderr.contains("IDBRIDGE_TEST_UNSET_NOTION_TOKEN"),
        "{}",
        run.stderr
    );
    // A sync never needs the integration token.
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
}

#[tokio::test]
async fn the_access_review_is_published_one_page_per_person_and_kept_up_to_date() {
    let p = publishing(&changes_schema(), "").await;
    let publish_users = || async {
        let run =
            p.ws.idbridge(&["report", "users", "--publish", "notion", "--format", "json"])
                .await;
        no_notion_token(&run);
        run.expect(0).json()
    };
    let first = publish_users().await;
    let people: Vec<String> = {
        let mut v: Vec<String> = p
            .api
            .pages(&p.users_db)
            .iter()
            .map(|pg| pg.text("userName"))
            .collect();
        v.sort();
        v
    };
    assert!(people.contains(&"ada@acme.test".to_owned()), "{people:?}");
    assert!(people.contains(&"bob@acme.test".to_owned()));
    assert_eq!(
        first["facts"]["created"].as_u64().unwrap() as usize,
        people.len()
    );
    let ada = p
        .api
        .pages(&p.users_db)
        .into_iter()
        .find(|pg| pg.text("userName") == "ada@acme.test")
        .unwrap();
    assert_eq!(ada.properties["status"]["select"]["name"], "active");
    assert!(!ada.text("scimId").is_empty());

    // Nothing changed: nothing written. Ada is promoted and Bob leaves the workspace: Ada's
    // page is updated in place, Bob's, no longer in the review, is left alone and said so.
    let again = publish_users().await;
    assert_eq!(again["facts"]["created"], 0, "{again:#}");
    assert_eq!(again["facts"]["updated"], 0, "{again:#}");
    p.ws.hr(&[
        &person("E1", "Ada", "Lead"),
        &person("E2", "Bob", "Designer")
            .replace(",active,2026-01-05,", ",terminated,2026-01-05,2026-01-10"),
        &person("E3", "Cy", "Analyst"),
    ]);
    p.ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let after = publish_users().await;
    assert_eq!(after["facts"]["created"], 0, "{after:#}");
    assert_eq!(after["facts"]["leftAlone"], 1, "{after:#}");
    let updated: Vec<&str> = after["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "updated")
        .map(|r| {
            r["page"]
                .as_str()
                .unwrap_or(r["key"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(updated.contains(&"ada@acme.test"), "{after:#}");
    let pages = p.api.pages(&p.users_db);
    let ada: Vec<_> = pages
        .iter()
        .filter(|pg| pg.text("userName") == "ada@acme.test")
        .collect();
    assert_eq!(ada.len(), 1, "updated in place, never duplicated");
    assert!(ada[0]
        .text("attributes and where they come from")
        .contains("Lead"));
    assert_eq!(
        pages
            .iter()
            .filter(|pg| pg.text("userName") == "bob@acme.test")
            .count(),
        1
    );
    assert!(after.to_string().contains("left alone"));
}

#[tokio::test]
async fn a_database_of_many_pages_is_read_page_by_page_and_every_reply_is_bounded() {
    let p = publishing(&changes_schema(), "").await;
    for i in 0..150 {
        p.api.add_page(&p.db, &format!("note {i}")).unwrap();
    }
    let run = publish(&p, &["--format", "json"]).await.expect(0).json();
    assert_eq!(run["facts"]["leftAlone"], 150, "{run:#}");
    let queries = p
        .api
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/query"))
        .count();
    assert_eq!(queries, 2, "two result pages of at most 100, by cursor");

    // The same listing under the smallest reply bound: refused, nothing more read, exit 3.
    let q = publishing(&changes_schema(), "max_reply_bytes = 65536\n").await;
    for i in 0..150 {
        q.api
            .add_page(&q.db, &format!("note {i} {}", "x".repeat(300)))
            .unwrap();
    }
    let run = publish(&q, &[]).await.expect(3);
    assert!(
        run.stderr.contains("larger than 65536 bytes"),
        "{}",
        run.stderr
    );
    assert_eq!(q.api.pages(&q.db).len(), 150, "nothing written");
}

#[tokio::test]
async fn a_retry_after_longer_than_allowed_stops_at_once_with_exit_3() {
    let p = publishing(&changes_schema(), "max_retry_after = \"5s\"\n").await;
    p.api.push_fault(NotionFault::Throttle {
        retry_after_secs: 600,
    });
    let started = std::time::Instant::now();
    let run = publish(&p, &[]).await.expect(3);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(run.stderr.contains("asking to wait 600s"), "{}", run.stderr);
    assert!(run.stderr.contains("max_retry_after"), "{}", run.stderr);
}

/// The emulator binary, killed when dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_emulator_binary_serves_the_public_api_beside_scim_for_an_end_to_end_publish() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{NOTION_TOKEN}\n")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--token-owner"])
        .arg(crate::support::OWNER)
        .arg("--token-file")
        .arg(dir.path().join("token"))
        .arg("--notion-api")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the emulator starts");
    let stderr = child.stderr.take().unwrap();
    let served = Served(child);
    let mut lines = std::io::BufReader::new(stderr).lines();
    let scim = lines.next().unwrap().unwrap();
    let notion = lines.next().unwrap().unwrap();
    let base = scim
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the SCIM address")
        .to_owned();
    let root = base.trim_end_matches("/scim/v2").to_owned();
    let changes = notion
        .split("changes database ")
        .nth(1)
        .and_then(|rest| rest.split([',', ' ']).next())
        .expect("the changes database id")
        .to_owned();
    let hr = format!(
        "{}\n{}\n{}\n",
        crate::support::HEADER,
        person("E1", "Ada", "Engineer"),
        person("E2", "Bob", "Designer")
    );
    std::fs::write(dir.path().join("hr.csv"), hr).unwrap();
    let config = format!(
        "[store]\nurl = \"{}\"\n\n[target]\nname = \"test\"\nkind = \"notion\"\nurl = \"{base}\"\n\
         token_file = \"token\"\ntoken_owner = \"{}\"\nrate_limit = 0\n\n[[sources]]\nname = \"hr\"\n\
         kind = \"hr-csv\"\npath = \"hr.csv\"\n\n[notion]\nurl = \"{root}\"\ntoken_file = \"token\"\n\
         changes_database = \"{changes}\"\n",
        dir.path().join("idbridge.db").display(),
        crate::support::OWNER
    );
    std::fs::write(dir.path().join("idbridge.toml"), config).unwrap();
    let idbridge = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .arg("--config")
            .arg(dir.path().join("idbridge.toml"))
            .args(args)
            .output()
            .unwrap();
        let run = Run::from(output);
        no_notion_token(&run);
        run
    };
    idbridge(&["sync", "--yes"]).expect(0);
    let publish = [
        "report",
        "changes",
        "--since",
        "2026-01-01",
        "--publish",
        "notion",
    ];
    let first = idbridge(&[&publish[..], &["--format", "json"]].concat())
        .expect(0)
        .json();
    assert!(
        first["facts"]["created"].as_u64().unwrap() >= 2,
        "{first:#}"
    );
    let again = idbridge(&[&publish[..], &["--format", "json"]].concat())
        .expect(0)
        .json();
    assert_eq!(again["facts"]["created"], 0, "{again:#}");
    assert_eq!(again["facts"]["unchanged"], first["facts"]["created"]);
    drop(served);
}

#[tokio::test]
async fn a_publish_that_stops_midway_says_how_far_it_got_and_the_next_one_finishes_it() {
    let p = publishing(&changes_schema(), "max_retries = 0\n").await;
    p.api
        .push_fault_on("POST", "/v1/pages", NotionFault::ServerError);
    let run = publish(&p, &["--format", "json"]).await.expect(3);
    let doc = run.json();
    let text = doc.to_string();
    assert!(text.contains("stopped with 0 page(s) created"), "{text}");
    assert!(text.contains("never duplicated"), "{text}");
    assert!(p.api.pages(&p.db).is_empty());

    let again = publish(&p, &["--format", "json"]).await.expect(0).json();
    assert!(
        again["facts"]["created"].as_u64().unwrap() >= 3,
        "{again:#}"
    );
}
