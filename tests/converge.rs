//! End-to-end: the binary against the emulator under Notion's strict defaults. A name change
//! outside the verified domains is refused once, recorded, and not sent again until the source
//! changes or `--retry-refused`, while the person's other changes and deactivation go on; names
//! are compared as Notion keeps them (one name, read back re-split), so a re-run writes nothing.

use crate::support::{Workspace, HEADER, TOKEN};
use idbridge::emulator::{NameModel, Switches};
use idbridge::store::{Store, WriteOutcome};

/// An HR row with default columns.
fn hr_row(id: &str, email: &str, first: &str, last: &str, title: &str, status: &str) -> String {
    let end = if status == "terminated" {
        "2021-01-01"
    } else {
        ""
    };
    format!("{id},{email},{first},{last},{title},Eng,,{status},2020-01-01,{end}")
}

fn write_hr(ws: &Workspace, rows: &[String]) {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(ws.path("hr.csv"), text).unwrap();
    ws.write_config();
}

fn patches(plan: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let attrs = o["changes"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| c["attr"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (o["op"].as_str().unwrap().to_owned(), attrs)
        })
        .collect()
}

fn findings<'p>(plan: &'p serde_json::Value, code: &str) -> Vec<&'p serde_json::Value> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_change_outside_verified_domains_is_refused_once_then_held() {
    // The organization verified acme.test (the harness does, as for every test) but not
    // other.test: Notion refuses Xavier's name changes, never Ada's.
    let ws = Workspace::new().await;
    write_hr(
        &ws,
        &[
            hr_row(
                "E1",
                "ada@acme.test",
                "Ada",
                "Lovelace",
                "Engineer",
                "active",
            ),
            hr_row(
                "E2",
                "xavier@other.test",
                "Xavier",
                "Ortiz",
                "Engineer",
                "active",
            ),
        ],
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);

    // Both change name and title. Xavier's patch is refused (403, the token still works): that
    // run fails for him alone.
    let renamed = [
        hr_row("E1", "ada@acme.test", "Ada", "King", "Lead", "active"),
        hr_row("E2", "xavier@other.test", "Xav", "Ortiz", "Lead", "active"),
    ];
    write_hr(&ws, &renamed);
    let run = ws
        .idbridge(&["sync", "--yes", "--format", "json"])
        .await
        .expect(1);
    assert!(
        run.stdout.contains("not in a verified domain"),
        "{}",
        run.stdout
    );
    let ada = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "ada@acme.test")
        .unwrap();
    assert_eq!(ada.family_name.as_deref(), Some("King"));
    assert_eq!(ada.title.as_deref(), Some("Lead"));

    // Recorded in the store, with Notion's reason.
    let store = Store::open(&ws.store_url).await.unwrap();
    let records = store.write_outcomes("test").await.unwrap();
    let refused: Vec<_> = records
        .iter()
        .filter(|r| r.outcome == WriteOutcome::Refused)
        .collect();
    assert!(!refused.is_empty(), "{records:#?}");
    assert!(refused.iter().all(|r| r.user_name == "xavier@other.test"
        && r.http_status == Some(403)
        && r.reason
            .as_deref()
            .is_some_and(|d| d.contains("not in a verified domain"))));
    assert!(refused
        .iter()
        .any(|r| r.attr == "name.givenName" && r.sent.as_deref() == Some("Xav")));
    assert!(
        refused.iter().all(|r| r.attr != "title"),
        "the title was not what Notion refused"
    );
    store.close().await;

    // Next run: the name change is held with one finding naming the domain and the person;
    // the title goes on its own.
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        patches(&plan),
        [("patch-user".to_owned(), vec!["title".to_owned()])],
        "{plan:#}"
    );
    let held = findings(&plan, "write-refused");
    assert_eq!(held.len(), 1, "{plan:#}");
    let message = held[0]["message"].as_str().unwrap();
    assert!(
        message.contains("verify each domain below in Notion"),
        "{message}"
    );
    assert!(
        message.contains("other.test (xavier@other.test)"),
        "{message}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let xavier = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "xavier@other.test")
        .unwrap();
    assert_eq!(xavier.title.as_deref(), Some("Lead"));
    assert_eq!(xavier.given_name.as_deref(), Some("Xavier"));

    // And then nothing is sent at all, run after run.
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        ws.emu.write_count(),
        writes,
        "a refused write is not sent again"
    );

    // The admin asks for a retry: the name change is planned again (and refused again).
    let plan = ws
        .idbridge(&["plan", "--retry-refused", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(patches(&plan).len(), 1, "{plan:#}");
    assert!(findings(&plan, "write-refused").is_empty(), "{plan:#}");
    ws.idbridge(&["sync", "--yes", "--retry-refused"])
        .await
        .expect(1);
    assert_eq!(ws.emu.write_count(), writes + 1);

    // Xavier leaves: the held name change does not hold back his deactivation.
    write_hr(
        &ws,
        &[
            renamed[0].clone(),
            hr_row(
                "E2",
                "xavier@other.test",
                "Xav",
                "Ortiz",
                "Lead",
                "terminated",
            ),
        ],
    );
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        patches(&plan),
        [("deactivate-user".to_owned(), vec!["active".to_owned()])],
        "{plan:#}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert!(!ws.active_names().contains(&"xavier@other.test".to_owned()));
}

/// Notion keeps one name and reads it back re-split (`Mary Ann` + `Smith` comes back as `Mary` +
/// `Ann Smith`): compared as Notion keeps it, a no-change run writes nothing, and a new surname
/// is one patch that lands. The same holds against a workspace that echoes names as sent.
#[tokio::test(flavor = "multi_thread")]
async fn names_are_compared_as_notion_keeps_them() {
    for model in [NameModel::Single, NameModel::AsSent] {
        let ws = Workspace::new().await;
        ws.emu.set_switches(Switches {
            name_model: model,
            ..Switches::default()
        });
        let mary = |last: &str| {
            hr_row(
                "E1",
                "mary@acme.test",
                "Mary Ann",
                last,
                "Engineer",
                "active",
            )
        };
        write_hr(&ws, &[mary("Smith")]);
        ws.idbridge(&["sync", "--yes"]).await.expect(0);
        let stored = ws
            .emu
            .members()
            .into_iter()
            .find(|m| m.user_name == "mary@acme.test")
            .unwrap();
        assert_eq!(
            stored.display_name.as_deref(),
            Some("Mary Ann Smith"),
            "{model:?}"
        );
        if model == NameModel::Single {
            assert_eq!(stored.given_name.as_deref(), Some("Mary"));
            assert_eq!(stored.family_name.as_deref(), Some("Ann Smith"));
        }

        let writes = ws.emu.write_count();
        let plan = ws
            .idbridge(&["plan", "--format", "json"])
            .await
            .expect(0)
            .json();
        assert!(patches(&plan).is_empty(), "{model:?}: {plan:#}");
        ws.idbridge(&["sync", "--yes"]).await.expect(0);
        assert_eq!(
            ws.emu.write_count(),
            writes,
            "{model:?}: no change, no write"
        );

        write_hr(&ws, &[mary("Jones")]);
        ws.idbridge(&["sync", "--yes"]).await.expect(0);
        assert_eq!(ws.emu.write_count(), writes + 1, "{model:?}: one patch");
        let stored = ws
            .emu
            .members()
            .into_iter()
            .find(|m| m.user_name == "mary@acme.test")
            .unwrap();
        assert_eq!(
            stored.display_name.as_deref(),
            Some("Mary Ann Jones"),
            "{model:?}"
        );
        ws.idbridge(&["sync", "--yes"]).await.expect(0);
        assert_eq!(ws.emu.write_count(), writes + 1, "{model:?}: converged");
    }
}

/// A target that lowercases `title` and drops `department`: each value is patched once, then
/// held with one `attribute-not-converging` finding naming the person, the attribute, the value
/// sent and the value read back; a new source value is sent once more.
#[tokio::test(flavor = "multi_thread")]
async fn a_value_the_target_does_not_keep_is_patched_once_then_held() {
    let ws = Workspace::new().await;
    ws.emu.set_switches(Switches {
        lowercase_attributes: vec!["title".into()],
        drop_attributes: vec!["department".into()],
        ..Switches::default()
    });
    let ada = |title: &str| hr_row("E1", "ada@acme.test", "Ada", "Lovelace", title, "active");
    write_hr(&ws, &[ada("Engineer")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let stored = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "ada@acme.test")
        .unwrap();
    assert_eq!(stored.title.as_deref(), Some("engineer"));
    assert_eq!(stored.department, None);

    // What the create sent did not stick: one patch tries again, and is recorded.
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes + 1);

    // The target shows what it showed after that patch: nothing is sent, one finding says why.
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert!(patches(&plan).is_empty(), "{plan:#}");
    let stuck = findings(&plan, "attribute-not-converging");
    assert_eq!(stuck.len(), 1, "{plan:#}");
    assert_eq!(stuck[0]["severity"], "warning");
    let department = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
    assert_eq!(
        stuck[0]["sources"],
        serde_json::json!([
            "ada@acme.test: title sent \"Engineer\", read back \"engineer\"",
            format!("ada@acme.test: {department} sent \"Eng\", read back (no value)"),
        ]),
        "{plan:#}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        ws.emu.write_count(),
        writes + 1,
        "the same patch is never sent again"
    );

    // A new title is a new value: sent once (the department stays held), then held in turn.
    write_hr(&ws, &[ada("Lead")]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        patches(&plan),
        [("patch-user".to_owned(), vec!["title".to_owned()])],
        "{plan:#}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes + 2);

    // Someone sets the title in the workspace to the value sent: the target converged, so the
    // hold and its finding end by themselves.
    ws.emu.set_switches(Switches {
        drop_attributes: vec!["department".into()],
        ..Switches::default()
    });
    let id = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "ada@acme.test")
        .unwrap()
        .id;
    let edited = reqwest::Client::new()
        .patch(format!("{}/Users/{id}", ws.running.base_url()))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Lead"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert!(patches(&plan).is_empty(), "{plan:#}");
    let stuck = findings(&plan, "attribute-not-converging");
    assert_eq!(stuck.len(), 1, "{plan:#}");
    assert!(
        !stuck[0]["sources"].to_string().contains("title"),
        "{plan:#}"
    );
}
