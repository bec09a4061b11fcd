//! Rehires and returns (issue 13, item 3), through the binary and the emulator over simulated
//! days: a rehire under the same employee id and a new email gets their former account back; a
//! new employee id with a former employee's email is held until `idbridge confirm` records an
//! admin's decision, which the next run acts on and the journal cites.

use crate::support::{row, Workspace, OWNER};
use idbridge::store::{LinkKind, Store};
use serde_json::Value;

fn hr(ws: &Workspace, rows: &[String]) {
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
}

/// A row like [`row`] with another email.
fn row_as(id: &str, first: &str, email: &str, status: &str) -> String {
    row(id, first, "Eng", status).replacen(&format!("{}@acme.test", first.to_lowercase()), email, 1)
}

fn member_id(ws: &Workspace, name: &str) -> Option<String> {
    ws.emu
        .members()
        .into_iter()
        .find(|m| m.user_name == name && m.active)
        .map(|m| m.id)
}

fn codes(plan: &Value) -> Vec<String> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn store(ws: &Workspace) -> Store {
    Store::open(&ws.store_url).await.unwrap()
}

/// Day 1 Ada is hired, day 2 she leaves (HR says terminated), day 3 she is rehired under the
/// same employee id with a new email: her former account comes back (same SCIM id) and gets the
/// new email; the link history keeps both emails with the runs that wrote them.
#[tokio::test(flavor = "multi_thread")]
async fn a_rehire_with_a_new_email_gets_the_former_account_back() {
    let ws = Workspace::new().await;
    let cy = row("E3", "Cy", "Eng", "active");
    hr(&ws, &[row("E1", "Ada", "Eng", "active"), cy.clone()]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let id = member_id(&ws, "ada@acme.test").unwrap();

    hr(&ws, &[row("E1", "Ada", "Eng", "terminated"), cy.clone()]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(member_id(&ws, "ada@acme.test"), None, "Ada left");

    let back = row_as("E1", "Ada", "ada.lovelace@acme.test", "active");
    hr(&ws, &[back, cy]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let op = &plan["operations"][0];
    assert_eq!(op["op"], "readd-user", "{plan:#}");
    assert_eq!(op["formerUserName"], "ada@acme.test");
    assert_eq!(op["userName"], "ada.lovelace@acme.test");
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        member_id(&ws, "ada.lovelace@acme.test").as_deref(),
        Some(id.as_str()),
        "the same account, with the new email: {:?}",
        ws.emu.members()
    );
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(plan["operations"], serde_json::json!([]), "{plan:#}");

    let history = store(&ws)
        .await
        .link_history("test", LinkKind::User)
        .await
        .unwrap();
    let ada: Vec<(String, String, String)> = history
        .iter()
        .filter(|h| h.key.to_string() == "hr:E1")
        .map(|h| {
            let after = h.after.as_ref().unwrap();
            (
                h.cause.clone(),
                after.user_name.clone(),
                after.state.to_string(),
            )
        })
        .collect();
    let expected = [
        ("create-user", "ada@acme.test", "active"),
        ("deactivate-user", "ada@acme.test", "deactivated"),
        ("readd-user", "ada@acme.test", "active"),
        ("patch-user", "ada.lovelace@acme.test", "active"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(ada, expected);
    assert!(history.iter().all(|h| h.run_id.is_some()));

    // explain shows the history, found by the former email too.
    let letter = ws
        .idbridge(&["explain", "ada@acme.test"])
        .await
        .expect(0)
        .stdout;
    assert!(letter.contains("ada.lovelace@acme.test"), "{letter}");
    assert!(letter.contains("Link history"), "{letter}");
}

/// A new hire, N7, gets the email of Bob, who left: held with a finding and nothing written;
/// confirming something not held is refused; `confirm reuse … --as same` moves Bob's link to N7,
/// the next sync re-adds Bob's account (same id) for N7, and the journal cites the confirmation.
#[tokio::test(flavor = "multi_thread")]
async fn a_reused_email_waits_for_an_admin_and_the_next_run_acts_on_it() {
    let ws = Workspace::new().await;
    let ada = row("E1", "Ada", "Eng", "active");
    hr(&ws, &[ada.clone(), row("E2", "Bob", "Eng", "active")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let bob = member_id(&ws, "bob@acme.test").unwrap();
    hr(&ws, &[ada.clone(), row("E2", "Bob", "Eng", "terminated")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);

    hr(&ws, &[ada.clone(), row("N7", "Bob", "Eng", "active")]);
    let writes = ws.emu.write_count();
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert!(
        codes(&plan).contains(&"email-reused".to_owned()),
        "{plan:#}"
    );
    assert_eq!(plan["operations"], serde_json::json!([]));
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "nothing is written while held"
    );

    // Nothing is held for Ada: refused, nothing recorded.
    let refused = ws
        .idbridge(&["confirm", "reuse", "ada@acme.test", "--as", "same"])
        .await
        .expect(1);
    assert!(
        refused.stderr.contains("nothing is held for ada@acme.test"),
        "{}",
        refused.stderr
    );
    let list = ws.idbridge(&["confirm", "list"]).await.expect(0).stdout;
    assert!(list.contains("no confirmations recorded"), "{list}");

    let done = ws
        .idbridge(&[
            "confirm",
            "reuse",
            "Bob@acme.test",
            "--as",
            "same",
            "--note",
            "ticket 42",
        ])
        .await
        .expect(0);
    assert!(
        done.stdout.contains("confirmation 1 recorded"),
        "{}",
        done.stdout
    );
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "confirming writes nothing to the target"
    );

    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let op = &plan["operations"][0];
    assert_eq!(op["op"], "readd-user", "{plan:#}");
    assert_eq!(op["sourceKey"], "hr:N7");
    assert_eq!(op["confirmation"], 1);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        member_id(&ws, "bob@acme.test").as_deref(),
        Some(bob.as_str())
    );

    let store = store(&ws).await;
    let runs = store.runs(10).await.unwrap();
    let ops = store.operations(runs[0].id).await.unwrap();
    let readd = ops.iter().find(|o| o.op == "readd-user").unwrap();
    assert!(
        readd
            .reason
            .as_deref()
            .unwrap()
            .contains("confirmed as the same person by"),
        "{readd:?}"
    );
    assert!(readd
        .planned_json
        .as_deref()
        .unwrap()
        .contains("\"confirmation\":1"));
    let list = ws.idbridge(&["confirm", "list"]).await.expect(0).stdout;
    assert!(list.contains("acted on by run"), "{list}");
    assert!(list.contains("note: ticket 42"), "{list}");
    let history = store.link_history("test", LinkKind::User).await.unwrap();
    let moved = history.iter().find(|h| h.cause == "confirm").unwrap();
    assert_eq!(moved.key.to_string(), "hr:N7");
    assert_eq!(moved.previous_key.as_ref().unwrap().to_string(), "hr:E2");
    let _ = OWNER;
}

/// `--as new`: the person stays held, now as a warning that names the decision, so the nightly
/// run is green and the former account is never handed over; deciding `new` twice is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_reuse_confirmed_as_someone_new_stays_held_without_failing_runs() {
    let ws = Workspace::new().await;
    let ada = row("E1", "Ada", "Eng", "active");
    hr(&ws, &[ada.clone(), row("E2", "Bob", "Eng", "active")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    hr(&ws, &[ada.clone(), row("E2", "Bob", "Eng", "terminated")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    hr(&ws, &[ada, row("N7", "Bob", "Eng", "active")]);
    ws.idbridge(&["confirm", "reuse", "bob@acme.test", "--as", "new"])
        .await
        .expect(0);
    let writes = ws.emu.write_count();
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(plan["operations"], serde_json::json!([]), "{plan:#}");
    let finding = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "email-reused")
        .unwrap();
    assert_eq!(finding["severity"], "warning");
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes);
    assert_eq!(member_id(&ws, "bob@acme.test"), None);
    let again = ws
        .idbridge(&["confirm", "reuse", "bob@acme.test", "--as", "new"])
        .await
        .expect(1);
    assert!(
        again.stderr.contains("already confirmed"),
        "{}",
        again.stderr
    );
}
