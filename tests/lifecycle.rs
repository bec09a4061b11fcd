//! The lifecycle over several simulated days (`--now`), through the binary and the emulator:
//! absence grace (a person absent one night then back, absent past the grace, a source that
//! loses 40% of its people one night, a held run), saved plans and the grace, and movers (a
//! department change is a patch; a move out of a `[scope]` rule or out of an LDAP base is a
//! leaver with the grace, the rule named), and a disabled directory account (at once, or with the
//! grace under `disabled_accounts = "grace"`). docs/lifecycle.md tells the same timelines.

use crate::support::company::{Company, Person};
use crate::support::{row, Workspace, OWNER};
use idbridge::emulator::Profile;
use idbridge::store::Store;
use serde_json::Value;

/// Nights at 02:00 UTC, one day apart.
const NIGHTS: [&str; 7] = [
    "2026-11-01T02:00:00Z",
    "2026-11-02T02:00:00Z",
    "2026-11-03T02:00:00Z",
    "2026-11-04T02:00:00Z",
    "2026-11-05T02:00:00Z",
    "2026-11-06T02:00:00Z",
    "2026-11-07T02:00:00Z",
];

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

fn pending(plan: &Value) -> Vec<String> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "pending-deactivation")
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect()
}

async fn night(ws: &Workspace, n: usize, args: &[&str]) -> Value {
    let mut all = vec!["--now", NIGHTS[n], "sync", "--yes", "--format", "json"];
    all.extend_from_slice(args);
    ws.idbridge(&all).await.expect(0).json()
}

async fn plan_at(ws: &Workspace, n: usize) -> Value {
    ws.idbridge(&["--now", NIGHTS[n], "plan", "--format", "json"])
        .await
        .expect(0)
        .json()
}

/// (userName, runs) of the stored absences.
async fn stored(ws: &Workspace) -> Vec<(String, u32)> {
    let store = Store::open(&ws.store_url).await.unwrap();
    store
        .absences("test")
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.user_name, a.runs))
        .collect()
}

fn three() -> [String; 3] {
    [
        row("E1", "Ada", "Engineer", "active"),
        row("E2", "Bob", "Designer", "active"),
        row("E3", "Cy", "PM", "active"),
    ]
}

async fn synced_three() -> Workspace {
    let ws = Workspace::new().await;
    let [a, b, c] = three();
    ws.hr(&[&a, &b, &c]);
    night(&ws, 0, &[]).await;
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn absent_for_one_run_then_back_writes_nothing() {
    let ws = synced_three().await;
    let [a, b, c] = three();
    let writes = ws.emu.write_count();
    ws.hr(&[&a, &c]);
    // `plan` shows the pending deactivation with its date, and never advances the count.
    let plan = plan_at(&ws, 1).await;
    assert!(ops(&plan).is_empty(), "{plan}");
    let message = &pending(&plan)[0];
    assert!(
        message.starts_with("bob@acme.test: hr: absent from every source"),
        "{message}"
    );
    assert!(
        message.contains("kept until 2026-11-03T02:00:00Z"),
        "{message}"
    );
    assert!(stored(&ws).await.is_empty());
    night(&ws, 1, &[]).await;
    assert_eq!(stored(&ws).await, [("bob@acme.test".to_owned(), 1)]);
    ws.hr(&[&a, &b, &c]);
    let back = night(&ws, 2, &[]).await;
    assert_eq!(ws.emu.write_count(), writes, "{back}");
    assert!(stored(&ws).await.is_empty());
    assert_eq!(ws.active_names().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn absent_past_the_grace_is_deactivated_exactly_once() {
    let ws = synced_three().await;
    let [a, b, _] = three();
    ws.hr(&[&a, &b]);
    let writes = ws.emu.write_count();
    night(&ws, 1, &[]).await;
    night(&ws, 2, &[]).await;
    assert_eq!(ws.emu.write_count(), writes);
    assert_eq!(stored(&ws).await, [("cy@acme.test".to_owned(), 2)]);
    let plan = plan_at(&ws, 3).await;
    assert_eq!(
        ops(&plan),
        [("deactivate-user".to_owned(), "cy@acme.test".to_owned())]
    );
    let reason = plan["operations"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("missing since 2026-11-02T02:00:00Z in 2 counted runs"),
        "{reason}"
    );
    night(&ws, 3, &[]).await;
    assert_eq!(ws.active_names(), ["ada@acme.test", "bob@acme.test", OWNER]);
    let writes = ws.emu.write_count();
    night(&ws, 4, &[]).await;
    night(&ws, 5, &[]).await;
    assert_eq!(ws.emu.write_count(), writes, "deactivated once only");
    assert!(stored(&ws).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_loses_40_percent_one_night_removes_nobody() {
    let mut ws = Workspace::new().await;
    // The percentage guardrail would let 4 of 10 through: the grace alone keeps them.
    ws.tail = "[policy]\nmax_deactivations = \"50%\"\n".into();
    let rows: Vec<String> = (1..=10)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    let all: Vec<&str> = rows.iter().map(String::as_str).collect();
    ws.hr(&all);
    night(&ws, 0, &[]).await;
    let writes = ws.emu.write_count();
    ws.hr(&all[..6]);
    let bad = night(&ws, 1, &[]).await;
    assert_eq!(pending(&bad["plan"]).len(), 4, "{bad}");
    assert_eq!(ws.emu.write_count(), writes);
    ws.hr(&all);
    night(&ws, 2, &[]).await;
    assert_eq!(ws.emu.write_count(), writes);
    assert_eq!(ws.active_names().len(), 11);
    assert!(stored(&ws).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_run_does_not_advance_the_count() {
    let ws = synced_three().await;
    let [a, b, _] = three();
    ws.hr(&[&a, &b]);
    night(&ws, 1, &[]).await;
    // Two nights with a skipped row (someone new with an unknown status): the read may be
    // missing people, so neither night counts, however long it lasts.
    let broken = row("E9", "Dee", "Eng", "retired");
    ws.hr(&[&a, &b, &broken]);
    for n in [2, 3] {
        let out = night(&ws, n, &[]).await;
        assert!(out.to_string().contains("this run does not count"), "{out}");
    }
    assert_eq!(stored(&ws).await, [("cy@acme.test".to_owned(), 1)]);
    ws.hr(&[&a, &b]);
    night(&ws, 4, &[]).await;
    assert_eq!(ws.active_names().len(), 4, "second counted run: still kept");
    night(&ws, 5, &[]).await;
    assert_eq!(ws.active_names(), ["ada@acme.test", "bob@acme.test", OWNER]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_records_what_was_reviewed_and_goes_stale_after_another_run() {
    let ws = synced_three().await;
    let [a, b, _] = three();
    ws.hr(&[&a, &b]);
    let file = ws.path("night1.json");
    let file = file.to_str().unwrap();
    ws.idbridge(&[
        "--now", NIGHTS[1], "plan", "--out", file, "--format", "json",
    ])
    .await
    .expect(0);
    ws.idbridge(&["--now", NIGHTS[1], "apply", "--plan", file, "--yes"])
        .await
        .expect(0);
    assert_eq!(stored(&ws).await, [("cy@acme.test".to_owned(), 1)]);
    let file2 = ws.path("night2.json");
    let file2 = file2.to_str().unwrap();
    ws.idbridge(&["--now", NIGHTS[2], "plan", "--out", file2])
        .await
        .expect(0);
    // A sync runs in between: the saved plan no longer rests on the stored absences.
    night(&ws, 2, &[]).await;
    let refused = ws
        .idbridge(&["--now", NIGHTS[2], "apply", "--plan", file2, "--yes"])
        .await
        .expect(1);
    assert!(
        refused.stderr.contains("stored absences changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(stored(&ws).await, [("cy@acme.test".to_owned(), 2)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_department_change_is_a_patch_and_a_move_out_of_scope_waits_for_the_grace() {
    let mut ws = Workspace::new().await;
    ws.tail = "[scope]\nwhere = { department = [\"Eng\", \"Design\"] }\n".into();
    let [a, b, c] = three();
    ws.hr(&[&a, &b, &c]);
    night(&ws, 0, &[]).await;
    // Bob moves to Design: in scope still, a patch of his department.
    let bob_design = b.replace(",Eng,", ",Design,");
    ws.hr(&[&a, &bob_design, &c]);
    let plan = plan_at(&ws, 1).await;
    assert_eq!(
        ops(&plan),
        [("patch-user".to_owned(), "bob@acme.test".to_owned())]
    );
    night(&ws, 1, &[]).await;
    // Bob moves to Sales: out of scope, a leaver with the grace and the rule named.
    let bob_sales = b.replace(",Eng,", ",Sales,");
    ws.hr(&[&a, &bob_sales, &c]);
    let out = night(&ws, 2, &[]).await;
    let text = out.to_string();
    assert!(
        text.contains(
            "out of scope: department is `sales`, not one of Eng, Design ([scope] where)"
        ),
        "{text}"
    );
    assert_eq!(ws.active_names().len(), 4);
    night(&ws, 3, &[]).await;
    assert_eq!(ws.active_names().len(), 4);
    night(&ws, 4, &[]).await;
    assert_eq!(ws.active_names(), ["ada@acme.test", "cy@acme.test", OWNER]);
}

const ADA: Person = Person {
    id: "2001",
    given: "Ada",
    family: "Lovelace",
    title: "Engineer",
    mail: "ada@acme.test",
};
const BOB: Person = Person {
    id: "2002",
    given: "Bob",
    family: "Babbage",
    title: "Designer",
    mail: "bob@acme.test",
};

#[tokio::test(flavor = "multi_thread")]
async fn an_ldap_person_moved_out_of_the_base_is_pending_with_the_rule_then_deactivated() {
    let Some(co) = Company::new(Profile::default()).await else {
        return;
    };
    co.hire(&ADA);
    co.hire(&BOB);
    night(&co.ws, 0, &[]).await;
    co.move_out(&BOB, "former");
    let out = night(&co.ws, 1, &[]).await;
    let text = out.to_string();
    assert!(text.contains("pending-deactivation"), "{text}");
    assert!(text.contains("users.base"), "{text}");
    assert!(text.contains("ou=former"), "{text}");
    night(&co.ws, 2, &[]).await;
    assert_eq!(co.ws.active_names().len(), 3);
    night(&co.ws, 3, &[]).await;
    assert_eq!(co.ws.active_names(), ["ada@acme.test", OWNER]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_directory_account_goes_at_once_or_after_the_grace_as_configured() {
    let Some(co) = Company::new(Profile::default()).await else {
        return;
    };
    co.hire(&ADA);
    co.hire(&BOB);
    night(&co.ws, 0, &[]).await;
    // The default: disabled in the directory means out at the next run.
    co.disable(&BOB, true);
    let out = night(&co.ws, 1, &[]).await;
    assert_eq!(
        ops(&out["plan"]),
        [("deactivate-user".to_owned(), BOB.mail.to_owned())],
        "{out:#}"
    );
    assert_eq!(co.ws.active_names(), ["ada@acme.test", OWNER]);

    // With `disabled_accounts = "grace"`, Ada's account disabled for a day (a leave, a reset)
    // removes nobody, and one disabled past the grace is deactivated once.
    let path = co.ws.path("idbridge.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    // The company's config ends with its `[policy]` table.
    assert!(
        config.trim_end().ends_with("max_deactivations = 2"),
        "{config}"
    );
    std::fs::write(&path, config + "disabled_accounts = \"grace\"\n").unwrap();
    co.disable(&ADA, true);
    let first = night(&co.ws, 2, &[]).await;
    assert!(ops(&first["plan"]).is_empty(), "{first:#}");
    let why = pending(&first["plan"]);
    assert!(
        why.len() == 1 && why[0].contains("directory account disabled"),
        "{why:?}"
    );
    co.disable(&ADA, false);
    let writes = co.ws.emu.write_count();
    let back = night(&co.ws, 3, &[]).await;
    assert!(ops(&back["plan"]).is_empty(), "{back:#}");
    assert_eq!(co.ws.emu.write_count(), writes);
    co.disable(&ADA, true);
    for n in 4..6 {
        let kept = night(&co.ws, n, &[]).await;
        assert!(ops(&kept["plan"]).is_empty(), "night {n}: {kept:#}");
    }
    let gone = night(&co.ws, 6, &[]).await;
    assert_eq!(
        ops(&gone["plan"]),
        [("deactivate-user".to_owned(), ADA.mail.to_owned())],
        "{gone:#}"
    );
    assert_eq!(co.ws.active_names(), [OWNER]);
}
