//! What admins and scripts read: tables that stay readable and safe whatever the data holds,
//! JSON that keeps values whole.

use crate::support::{row, Workspace, TOKEN};

/// Someone puts 400 KB, starting with a terminal escape sequence, into a managed user's title by
/// hand in Notion. The plan's table shows a short, escaped cell at once; JSON keeps the value.
#[tokio::test(flavor = "multi_thread")]
async fn huge_and_hostile_values_render_as_short_escaped_cells() {
    let ws = Workspace::new().await;
    ws.hr(&[&row("E1", "Ada", "Engineer", "active")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let ada = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "ada@acme.test")
        .unwrap();
    let hostile = format!("\u{1b}[2J\u{202e}{}", "x".repeat(400_000));
    let reply = reqwest::Client::new()
        .patch(format!("{}/Users/{}", ws.running.base_url(), ada.id))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "path": "title", "value": hostile }]
        }))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.status());

    let table = ws.idbridge(&["plan"]).await.expect(0);
    assert!(table.stdout.contains("patch-user"), "{}", table.stdout);
    assert!(
        table.stdout.len() < 20_000,
        "the table is {} bytes",
        table.stdout.len()
    );
    assert!(
        !table.stdout.contains('\u{1b}'),
        "raw ESC reached the terminal"
    );
    assert!(
        !table.stdout.contains('\u{202e}'),
        "a bidi override reached the terminal"
    );
    assert!(table.stdout.contains("\\u{1b}[2J"), "{}", table.stdout);

    let json = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(json["operations"][0]["changes"][0]["before"], hostile);
}
