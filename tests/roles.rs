//! Issue 13, item 4: Notion workspace roles through the binary and the emulator, run after run.
//! A role follows an HR attribute and a directory group (granted, then revoked when the person
//! leaves); owners and the token's owner are never changed (so the emulator never revokes the
//! token); too many role changes at once hold the run; a generic SCIM target gets `roles`.

use crate::support::company::{Company, Person};
use crate::support::{Workspace, OWNER, TOKEN};
use idbridge::emulator::{Profile, SeedUser};

/// `[roles]`: IT are workspace admins, everyone else a member.
const IT_ADMINS: &str = "[roles]\ndefault = \"member\"\nmax_role_changes = 5\n\n\
    [[roles.rules]]\nrole = \"membership_admin\"\nattribute = \"department\"\nvalue = \"IT\"\n";

fn hr_row(id: &str, first: &str, department: &str) -> String {
    format!(
        "{id},{}@acme.test,{first},Test,Staff,{department},,active,2020-01-01,",
        first.to_lowercase()
    )
}

fn role_of(ws: &Workspace, user_name: &str) -> Option<String> {
    ws.emu
        .members()
        .into_iter()
        .find(|m| m.user_name == user_name)
        .unwrap_or_else(|| panic!("{user_name} is in the workspace"))
        .role
}

/// The PATCH requests the emulator answered for the user `user_name`.
fn patches_of(ws: &Workspace, user_name: &str) -> usize {
    let id = ws
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == user_name)
        .unwrap()
        .id;
    ws.emu
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/Users/{id}")))
        .count()
}

const ROLE_PATH: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User:role";

/// Each operation's userName and its change of `attr`, before and after (`-` for none).
fn changes_of(plan: &serde_json::Value, attr: &str) -> Vec<(String, String, String)> {
    plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| {
            let c = o["changes"]
                .as_array()?
                .iter()
                .find(|c| c["attr"] == attr)?;
            Some((
                o["userName"].as_str().unwrap().to_owned(),
                c["before"].as_str().unwrap_or("-").to_owned(),
                c["after"].as_str().unwrap_or("-").to_owned(),
            ))
        })
        .collect()
}

fn codes(plan: &serde_json::Value) -> Vec<String> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

/// A workspace with a second owner besides the token's owner, both in the HR export.
async fn workspace_with_owners() -> Workspace {
    let mut ws = Workspace::new().await;
    ws.emu.seed_user(SeedUser {
        role: Some("owner".into()),
        ..SeedUser::member("olga@acme.test", "Olga", "Test")
    });
    ws.tail = IT_ADMINS.to_owned();
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_follows_the_hr_department_and_owners_are_never_changed() {
    let ws = workspace_with_owners().await;
    // Day 1: Ada joins IT, Bob Sales. Olga (an owner) is in IT, the token's owner in Sales: the
    // rules would make one an admin and the other a member; neither is an owner's to lose.
    let owner_row = format!("E0,{OWNER},Olivia,Owner,Staff,Sales,,active,2020-01-01,");
    let day1 = [
        owner_row.clone(),
        hr_row("E1", "Ada", "IT"),
        hr_row("E2", "Bob", "Sales"),
        hr_row("E9", "Olga", "IT"),
    ];
    ws.hr(&day1.iter().map(String::as_str).collect::<Vec<_>>());
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let ada = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["userName"] == "ada@acme.test")
        .unwrap();
    assert_eq!(ada["op"], "create-user");
    let role = ada["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["attr"] == "urn:ietf:params:scim:schemas:extension:notion:2.0:User:role")
        .unwrap_or_else(|| panic!("the create sends the role: {ada:#}"));
    assert_eq!(role["after"], "membership_admin");
    assert_eq!(
        codes(&plan)
            .iter()
            .filter(|c| *c == "protected-user")
            .count(),
        2,
        "both owners are reported, not changed: {plan:#}"
    );

    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        role_of(&ws, "ada@acme.test").as_deref(),
        Some("membership_admin")
    );
    assert_eq!(role_of(&ws, "bob@acme.test").as_deref(), Some("member"));
    assert_eq!(role_of(&ws, "olga@acme.test").as_deref(), Some("owner"));
    assert_eq!(role_of(&ws, OWNER).as_deref(), Some("owner"));
    assert_eq!(
        patches_of(&ws, OWNER) + patches_of(&ws, "olga@acme.test"),
        0
    );

    // Day 2: nothing changed, nothing written.
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes, "a second run makes no write");

    // Day 3: Ada moves to Sales (the admin rule no longer matches: the default applies), Bob to
    // IT. One patch each, before -> after.
    let day3 = [
        owner_row.clone(),
        hr_row("E1", "Ada", "Sales"),
        hr_row("E2", "Bob", "IT"),
        hr_row("E9", "Olga", "IT"),
    ];
    ws.hr(&day3.iter().map(String::as_str).collect::<Vec<_>>());
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        changes_of(&plan, ROLE_PATH),
        [
            (
                "ada@acme.test".into(),
                "membership_admin".into(),
                "member".into()
            ),
            (
                "bob@acme.test".into(),
                "member".into(),
                "membership_admin".into()
            ),
        ],
        "{plan:#}"
    );
    assert!(
        plan["operations"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("[roles] default"),
        "{plan:#}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(role_of(&ws, "ada@acme.test").as_deref(), Some("member"));
    assert_eq!(
        role_of(&ws, "bob@acme.test").as_deref(),
        Some("membership_admin")
    );

    // The token was never revoked (the emulator revokes it when its owner's role changes): a
    // later run still reads and writes, and the owners were never patched.
    assert_eq!(
        patches_of(&ws, OWNER) + patches_of(&ws, "olga@acme.test"),
        0
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(role_of(&ws, OWNER).as_deref(), Some("owner"));

    // `report users` shows each role.
    let report = ws
        .idbridge(&["report", "users", "--format", "json"])
        .await
        .expect(0)
        .json();
    let text = report.to_string();
    assert!(
        text.contains("membership_admin") && text.contains("owner"),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_default_a_hand_set_admin_is_kept_and_an_unknown_role_is_reported() {
    let mut ws = Workspace::new().await;
    // Set by hand before idbridge ran: an admin no rule names, and a role Notion added later
    // (which the emulator stores only with its unknown-role check off).
    let mut switches = ws.emu.switches();
    switches.reject_unknown_role = false;
    ws.emu.set_switches(switches);
    ws.emu.seed_user(SeedUser {
        role: Some("membership_admin".into()),
        ..SeedUser::member("ada@acme.test", "Ada", "Test")
    });
    ws.emu.seed_user(SeedUser {
        role: Some("workspace_auditor".into()),
        ..SeedUser::member("cy@acme.test", "Cy", "Test")
    });
    ws.tail = "[roles]\n[[roles.rules]]\nrole = \"restricted_member\"\nattribute = \"department\"\nvalue = \"Contractors\"\n"
        .to_owned();
    ws.hr(&[
        &hr_row("E1", "Ada", "Sales"),
        &hr_row("E3", "Cy", "Contractors"),
    ]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        changes_of(&plan, ROLE_PATH),
        [],
        "adopted, and no role written: {plan:#}"
    );
    assert!(
        codes(&plan).contains(&"role-unknown".to_owned()),
        "{plan:#}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        role_of(&ws, "ada@acme.test").as_deref(),
        Some("membership_admin")
    );
    assert_eq!(
        role_of(&ws, "cy@acme.test").as_deref(),
        Some("workspace_auditor")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn role_changes_over_the_cap_hold_the_run_until_forced() {
    let mut ws = Workspace::new().await;
    ws.tail = IT_ADMINS.replace("max_role_changes = 5", "max_role_changes = 2");
    let names = ["Ada", "Bob", "Cy"];
    let rows = |department: &str| -> Vec<String> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| hr_row(&format!("E{i}"), n, department))
            .collect()
    };
    ws.hr(&rows("Sales").iter().map(String::as_str).collect::<Vec<_>>());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    // A mapping or export mistake puts everyone in IT overnight.
    ws.hr(&rows("IT").iter().map(String::as_str).collect::<Vec<_>>());
    let writes = ws.emu.write_count();
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert!(
        run.stdout.contains("max-role-changes-exceeded") || run.stderr.contains("max_role_changes"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(ws.emu.write_count(), writes, "a held run writes nothing");
    assert_eq!(role_of(&ws, "ada@acme.test").as_deref(), Some("member"));
    ws.idbridge(&["sync", "--yes", "--force"]).await.expect(0);
    for n in names {
        let name = format!("{}@acme.test", n.to_lowercase());
        assert_eq!(
            role_of(&ws, &name).as_deref(),
            Some("membership_admin"),
            "{name}"
        );
    }
}

/// The `roles` of `user_name` as the target serves them.
async fn roles(ws: &Workspace, user_name: &str) -> serde_json::Value {
    let url = format!(
        "{}/Users?filter=userName%20eq%20%22{user_name}%22",
        ws.running.base_url()
    );
    let list: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["Resources"][0]["roles"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generic_scim_target_gets_the_standard_roles_attribute() {
    let mut ws = Workspace::new().await;
    ws.kind = "scim";
    ws.tail = "[roles]\ndefault = \"viewer\"\n\n[[roles.rules]]\nrole = \"editor\"\nattribute = \"department\"\nvalue = \"IT\"\n"
        .to_owned();
    ws.hr(&[&hr_row("E1", "Ada", "IT"), &hr_row("E2", "Bob", "Sales")]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        roles(&ws, "ada@acme.test").await,
        serde_json::json!([{"value": "editor", "primary": true}])
    );
    assert_eq!(
        roles(&ws, "bob@acme.test").await,
        serde_json::json!([{"value": "viewer", "primary": true}])
    );
    // Read back as sent: the next run changes nothing; a move is one `roles` patch.
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes);
    ws.hr(&[&hr_row("E1", "Ada", "Sales"), &hr_row("E2", "Bob", "Sales")]);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        changes_of(&plan, "roles"),
        [("ada@acme.test".into(), "editor".into(), "viewer".into())]
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        roles(&ws, "ada@acme.test").await,
        serde_json::json!([{"value": "viewer", "primary": true}])
    );
}

const ADA: Person = Person {
    id: "R1",
    given: "Ada",
    family: "Admin",
    title: "Engineer",
    mail: "ada@acme.test",
};
const BOB: Person = Person {
    id: "R2",
    given: "Bob",
    family: "Builder",
    title: "Engineer",
    mail: "bob@acme.test",
};
const OLGA: Person = Person {
    id: "R9",
    given: "Olga",
    family: "Owner",
    title: "Chief",
    mail: "olga@acme.test",
};

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_group_grants_the_role_and_leaving_it_revokes_it() {
    let Some(co) = Company::new(Profile::default()).await else {
        return;
    };
    co.ws.emu.seed_user(SeedUser {
        role: Some("owner".into()),
        ..SeedUser::member(OLGA.mail, OLGA.given, OLGA.family)
    });
    let mut config = std::fs::read_to_string(co.ws.path("idbridge.toml")).unwrap();
    config.push_str(
        "\n[roles]\ndefault = \"member\"\nmax_role_changes = 5\n\n[[roles.rules]]\nrole = \"membership_admin\"\ngroup = \"notion-admins\"\n",
    );
    std::fs::write(co.ws.path("idbridge.toml"), config).unwrap();
    for p in [&ADA, &BOB, &OLGA] {
        co.hire(p);
    }
    co.group("notion-admins", &[&ADA, &OLGA]);

    // Day 1: Ada is created an admin, Bob a member; Olga, an owner in the admin group, untouched.
    co.ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(
        role_of(&co.ws, ADA.mail).as_deref(),
        Some("membership_admin")
    );
    assert_eq!(role_of(&co.ws, BOB.mail).as_deref(), Some("member"));
    assert_eq!(role_of(&co.ws, OLGA.mail).as_deref(), Some("owner"));

    // Day 2: Bob joins the group, Ada leaves it.
    co.members("notion-admins", &[&BOB, &OLGA]);
    let plan = co
        .ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    let bob = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["userName"] == BOB.mail)
        .unwrap_or_else(|| panic!("{plan:#}"));
    assert!(
        bob["reason"].as_str().unwrap().contains("cn=notion-admins"),
        "the reason names the group: {bob:#}"
    );
    co.ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(role_of(&co.ws, ADA.mail).as_deref(), Some("member"));
    assert_eq!(
        role_of(&co.ws, BOB.mail).as_deref(),
        Some("membership_admin")
    );
    assert_eq!(role_of(&co.ws, OLGA.mail).as_deref(), Some("owner"));
    assert_eq!(patches_of(&co.ws, OLGA.mail), 0);

    // Day 3: quiet.
    let writes = co.ws.emu.write_count();
    co.ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(co.ws.emu.write_count(), writes);

    // Day 4: the admin group reads empty (a broken group export). The group gate holds its read,
    // and with it every role change the rules would make: Bob stays an admin, nothing is written.
    co.vacate("notion-admins");
    let plan = co
        .ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert!(
        changes_of(&plan, ROLE_PATH).is_empty(),
        "no role change while the group is held: {plan:#}"
    );
    let held: Vec<&str> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "group-gate-held")
        .filter_map(|f| f["message"].as_str())
        .collect();
    assert!(
        held.iter()
            .any(|m| m.contains("every role change of this run is held")),
        "{held:#?}"
    );
    co.ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(co.ws.emu.write_count(), writes);
    assert_eq!(
        role_of(&co.ws, BOB.mail).as_deref(),
        Some("membership_admin")
    );
    // The admin confirms the group really is empty now: Bob is demoted to the default.
    co.ws
        .idbridge(&["sync", "--yes", "--override", "group-drop"])
        .await
        .expect(0);
    assert_eq!(role_of(&co.ws, BOB.mail).as_deref(), Some("member"));
    assert_eq!(role_of(&co.ws, OLGA.mail).as_deref(), Some("owner"));
}
