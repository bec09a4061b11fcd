//! "Never remove the wrong person", through the binary and the emulator: re-keyed HR exports,
//! reused emails, and saved plans edited between review and apply.

use crate::support::{row, Workspace, NO_GRACE, OWNER, TOKEN};
use idbridge::emulator::SeedUser;
use idbridge::plan::{plan_digest, Plan};
use serde_json::Value;

fn ops(plan: &Value) -> Vec<(String, String)> {
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

fn codes(plan: &Value) -> Vec<String> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

fn people(ids: &[(&str, &str)]) -> Vec<String> {
    ids.iter()
        .map(|(id, first)| row(id, first, "Eng", "active"))
        .collect()
}

fn hr(ws: &Workspace, rows: &[String]) {
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
}

/// HR moves to a new employee-id scheme: same people, same emails, new ids. Each link moves to
/// the new key; nobody is deactivated, re-added or invited, and nothing is written to Notion.
#[tokio::test(flavor = "multi_thread")]
async fn a_rekeyed_hr_export_moves_links_and_removes_nobody() {
    let ws = Workspace::new().await;
    let names = ["Ada", "Bob", "Cy", "Dee", "Eve"];
    let old: Vec<(String, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("E{}", i + 1), *n))
        .collect();
    let new: Vec<(String, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("N-{:04}", i + 1), *n))
        .collect();
    let rows = |ids: &[(String, &str)]| -> Vec<String> {
        ids.iter()
            .map(|(id, first)| row(id, first, "Eng", "active"))
            .collect()
    };
    hr(&ws, &rows(&old));
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let before: Vec<(String, String)> = ws
        .emu
        .members()
        .into_iter()
        .map(|m| (m.user_name, m.id))
        .collect();
    let writes = ws.emu.write_count();

    hr(&ws, &rows(&new));
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let kinds: Vec<String> = ops(&plan).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, vec!["link-user"; 5], "{plan:#}");
    for op in plan["operations"].as_array().unwrap() {
        assert_eq!(op["origin"], "rekey");
        assert!(op["previousKey"].as_str().unwrap().starts_with("hr:E"));
        assert!(op["sourceKey"].as_str().unwrap().starts_with("hr:N-"));
    }
    assert!(codes(&plan).contains(&"rekeyed".to_owned()));
    assert!(!codes(&plan).contains(&"link-conflict".to_owned()));

    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes, "a re-key writes nothing");
    let after: Vec<(String, String)> = ws
        .emu
        .members()
        .into_iter()
        .map(|m| (m.user_name, m.id))
        .collect();
    assert_eq!(after, before, "same people, same accounts");
    // The links now follow the new keys: the next run patches what differs under the new
    // records (the employee number) on the same accounts, and then there is nothing to do.
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let kinds: Vec<String> = ops(&plan).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, vec!["patch-user"; 5], "{plan:#}");
    assert_eq!(
        plan["operations"][0]["changes"],
        serde_json::json!([{"attr": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "before": "E1", "after": "N-0001"}])
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert!(ops(&plan).is_empty(), "{plan:#}");
    let mut changed = rows(&new);
    changed[0] = row("N-0001", "Ada", "Lead", "active");
    hr(&ws, &changed);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        ops(&plan),
        vec![("patch-user".to_owned(), "ada@acme.test".to_owned())]
    );
}

/// Someone new gets a former employee's email. Notion does not list removed members, so without
/// the check this is a create, which Notion answers by re-adding the former person's account.
#[tokio::test(flavor = "multi_thread")]
async fn a_reused_email_is_held_instead_of_readding_the_former_account() {
    let mut ws = Workspace::new().await;
    ws.tail = format!("[policy]\nmax_deactivations = 5\n{NO_GRACE}");
    hr(&ws, &people(&[("E1", "Ada"), ("E2", "Bob"), ("E3", "Cy")]));
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    hr(&ws, &people(&[("E1", "Ada"), ("E3", "Cy")]));
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names(), ["ada@acme.test", "cy@acme.test", OWNER]);
    let writes = ws.emu.write_count();

    // A new hire, N7, gets bob@acme.test.
    hr(&ws, &people(&[("E1", "Ada"), ("E3", "Cy"), ("N7", "Bob")]));
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert!(ops(&plan).is_empty(), "{plan:#}");
    assert!(
        codes(&plan).contains(&"email-reused".to_owned()),
        "{plan:#}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "nothing is sent for a held person"
    );
    assert_eq!(ws.active_names(), ["ada@acme.test", "cy@acme.test", OWNER]);
}

/// Reads a saved plan file as JSON.
fn read(ws: &Workspace, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(ws.path(name)).unwrap()).unwrap()
}

/// Writes an edited plan the way a careful attacker would: with a planDigest that matches the
/// edit, so only the re-checks stand between the file and the workspace.
fn forge(ws: &Workspace, name: &str, mut plan: Value, edit: impl FnOnce(&mut Value)) {
    edit(&mut plan);
    let mut typed: Plan = serde_json::from_value(plan).unwrap();
    typed.plan_digest = None;
    typed.plan_digest = Some(plan_digest(&typed));
    std::fs::write(ws.path(name), serde_json::to_string_pretty(&typed).unwrap()).unwrap();
}

fn position(plan: &Value, op: &str, user: &str) -> usize {
    plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .position(|o| o["op"] == op && o["userName"] == user)
        .unwrap_or_else(|| panic!("no {op} for {user} in {plan:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_plan_is_refused_and_writes_nothing() {
    let mut ws = Workspace::new().await;
    ws.emu
        .seed_user(SeedUser::member("guest@acme.test", "Gus", "Guest"));
    ws.tail = format!("[policy]\nmax_deactivations = \"10%\"\n{NO_GRACE}");
    let ten: Vec<(String, String)> = (1..=10)
        .map(|i| (format!("E{i}"), format!("P{i}")))
        .collect();
    let all: Vec<String> = ten
        .iter()
        .map(|(id, first)| row(id, first, "Eng", "active"))
        .collect();
    hr(&ws, &all);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let writes = ws.emu.write_count();
    let id_of = |name: &str| {
        ws.emu
            .members()
            .into_iter()
            .find(|m| m.user_name == name)
            .unwrap()
            .id
    };

    // Three leave (30%): the plan is blocked.
    hr(&ws, &all[3..]);
    ws.idbridge(&["plan", "--out", "blocked.json"])
        .await
        .expect(1);
    let blocked = read(&ws, "blocked.json");
    assert_eq!(blocked["blocked"], true);
    forge(&ws, "unblocked.json", blocked.clone(), |p| {
        p["blocked"] = false.into();
    });
    let run = ws
        .idbridge(&["apply", "--plan", "unblocked.json", "--yes"])
        .await
        .expect(1);
    assert!(
        run.stderr.contains("policy.max_deactivations"),
        "{}",
        run.stderr
    );

    // One leaves: a fine plan, then edited in several ways.
    let mut nine = all.clone();
    nine.remove(0);
    nine[0] = row("E2", "P2", "Lead", "active");
    hr(&ws, &nine);
    ws.idbridge(&["plan", "--out", "plan.json"]).await.expect(0);
    let good = read(&ws, "plan.json");
    let leaver = position(&good, "deactivate-user", "p1@acme.test");
    let patch = position(&good, "patch-user", "p2@acme.test");
    let guest = id_of("guest@acme.test");
    let owner = id_of(OWNER);
    let p3 = id_of("p3@acme.test");
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "an unmanaged user deactivated",
            Box::new(move |p: &mut Value| {
                p["operations"][leaver]["scimId"] = guest.into();
                p["operations"][leaver]["userName"] = "guest@acme.test".into();
            }),
            "linked to target id",
        ),
        (
            "a patch sent to the token owner",
            Box::new(move |p: &mut Value| {
                p["operations"][patch]["scimId"] = owner.into();
                p["operations"][patch]["userName"] = OWNER.into();
            }),
            "never changes it",
        ),
        (
            "one user's name paired with another's id",
            Box::new(move |p: &mut Value| {
                p["operations"][leaver]["scimId"] = p3.into();
            }),
            "linked to target id",
        ),
        (
            "a patch whose before is not the current value",
            Box::new(move |p: &mut Value| {
                p["operations"][patch]["changes"][0]["before"] = "Intern".into();
            }),
            "but the plan says `Intern`",
        ),
    ];
    for (what, edit, expect) in cases {
        forge(&ws, "forged.json", good.clone(), edit);
        let run = ws
            .idbridge(&["apply", "--plan", "forged.json", "--yes"])
            .await;
        assert_eq!(run.code, 1, "{what}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "{what}: {}", run.stderr);
        assert_eq!(ws.emu.write_count(), writes, "{what}: nothing is written");
    }

    // An edit that keeps the old planDigest is an edited file.
    let mut edited = good.clone();
    edited["operations"][patch]["changes"][0]["after"] = "CEO".into();
    std::fs::write(ws.path("edited.json"), edited.to_string()).unwrap();
    let run = ws
        .idbridge(&["apply", "--plan", "edited.json", "--yes"])
        .await
        .expect(1);
    assert!(
        run.stderr.contains("was edited after it was made"),
        "{}",
        run.stderr
    );

    // Only the approved plan: the digest printed by `plan` must match.
    let digest = good["planDigest"].as_str().unwrap().to_owned();
    let run = ws
        .idbridge(&[
            "apply",
            "--plan",
            "plan.json",
            "--yes",
            "--expect-digest",
            &"0".repeat(64),
        ])
        .await
        .expect(1);
    assert!(
        run.stderr.contains("not the plan that was approved"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.emu.write_count(), writes);
    ws.idbridge(&[
        "apply",
        "--plan",
        "plan.json",
        "--yes",
        "--expect-digest",
        &digest,
    ])
    .await
    .expect(0);
    assert_eq!(ws.active_names().len(), 11, "P1 left; guest and owner stay");
    assert!(!ws.active_names().contains(&"p1@acme.test".to_owned()));
    let _ = TOKEN;
}

/// A recovery link forged into a plan under `policy.adopt = "none"`: without an unfinished
/// create in the journal, it is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_recovery_link_is_refused_without_the_journal() {
    let mut ws = Workspace::new().await;
    ws.tail = "[policy]\nadopt = \"none\"\n".into();
    ws.emu
        .seed_user(SeedUser::member("ada@acme.test", "Ada", "Test"));
    hr(&ws, &people(&[("E1", "Ada"), ("E2", "Bob")]));
    ws.idbridge(&["plan", "--out", "plan.json"]).await.expect(0);
    let plan = read(&ws, "plan.json");
    assert!(
        !ops(&plan).iter().any(|(k, _)| k == "link-user"),
        "adopt = none does not link: {plan:#}"
    );
    let ada = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "ada@acme.test")
        .unwrap()
        .id;
    forge(&ws, "forged.json", plan, |p| {
        let ops = p["operations"].as_array_mut().unwrap();
        ops.insert(
            0,
            serde_json::json!({
                "op": "link-user", "userName": "ada@acme.test", "scimId": ada, "sourceKey": "hr:E1",
                "reason": "recover: ada@acme.test was created by an earlier idbridge run whose reply was lost (journal)",
                "origin": "recover"
            }),
        );
        p["summary"]["link-user"] = 1.into();
    });
    let writes = ws.emu.write_count();
    let run = ws
        .idbridge(&["apply", "--plan", "forged.json", "--yes"])
        .await
        .expect(1);
    assert!(run.stderr.contains("unfinished create"), "{}", run.stderr);
    assert_eq!(ws.emu.write_count(), writes);
}
