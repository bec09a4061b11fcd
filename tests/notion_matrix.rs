//! The switch matrix (issue 10): the multi-day sync of a small company (hires, a rename, a
//! leaver, a return, groups with members moving) through the `idbridge` binary against an
//! emulated Notion under every switch setting that changes what idbridge sees. Every case must
//! end in the same workspace, with no duplicate account or group, and a re-run that writes
//! nothing. Each case also loses the reply of a user create and of a group create.
//!
//! Cases run at once, each on its own emulator and directory subtree, all under Notion's traffic
//! behaviour (unstable order, 3 requests/s per token with bursts). Adding a setting is one row
//! of `ROWS`.

use crate::support::company::{Company, Person};
use crate::support::OWNER;
use idbridge::emulator::{
    DuplicateGroup, DuplicatePost, ErrorShape, Fault, FaultKind, NameModel, Profile, RemovedUser,
    RetryAfterForm,
};
use std::collections::BTreeMap;

/// A named setting: what it changes in the default profile.
type Row = (&'static str, fn(&mut Profile));

// One row per line, so adding a setting is adding a line.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    ("defaults", |_| {}),
    ("duplicate POST answers 200", |p| p.switches.duplicate_post = DuplicatePost::ReturnExisting),
    ("removed members listed inactive", |p| p.switches.removed_user = RemovedUser::Inactive),
    ("public-API errors, Entra removal refused", |p| { p.switches.error_shape = ErrorShape::Notion; p.switches.member_removal_value_list = false }),
    ("admin-API errors, path form refused", |p| { p.switches.error_shape = ErrorShape::NotionAdmin; p.switches.patch_path_form = false }),
    ("stable order", |p| p.switches.unstable_order = false),
    ("Okta member removal refused", |p| p.switches.member_removal_path_filter = false),
    ("Entra member removal refused", |p| p.switches.member_removal_value_list = false),
    ("re-add gives a new id", |p| p.switches.readd_keeps_id = false),
    ("create answers 200", |p| p.switches.create_status = 200),
    ("delete answers 200", |p| p.switches.delete_status = 200),
    ("lowercase ops refused", |p| p.switches.patch_op_lowercase = false),
    ("capitalised ops refused", |p| p.switches.patch_op_capitalized = false),
    ("path form refused", |p| p.switches.patch_path_form = false),
    ("value-as-object form refused", |p| p.switches.patch_value_object_form = false),
    ("duplicate group names refused", |p| p.switches.duplicate_group_name = DuplicateGroup::Conflict),
    ("email eq matches secondary emails", |p| p.switches.email_filter_secondary = true),
    ("group name filter ignores case", |p| p.switches.group_filter_ignores_case = true),
    ("Retry-After as an HTTP date", |p| p.switches.retry_after_form = RetryAfterForm::HttpDate),
    ("name parts echoed as sent", |p| p.switches.name_model = NameModel::AsSent),
    ("verified-domain rule off", |p| p.switches.verified_domains_only = false),
];

const ADA: Person = Person {
    id: "E1",
    given: "Ada",
    family: "Lovelace",
    title: "Engineer",
    mail: "ada@acme.test",
};
const BOB: Person = Person {
    id: "E2",
    given: "Bob",
    family: "Builder",
    title: "Designer",
    mail: "bob@acme.test",
};
const CY: Person = Person {
    id: "E3",
    given: "Cy",
    family: "Young",
    title: "PM",
    mail: "cy@acme.test",
};

#[tokio::test(flavor = "multi_thread")]
async fn every_switch_setting_converges_to_the_same_workspace() {
    let mut cases = tokio::task::JoinSet::new();
    let mut names = BTreeMap::new();
    for (name, change) in ROWS {
        let mut profile = Profile::default().with_notion_traffic();
        change(&mut profile);
        let id = cases.spawn(scenario(profile)).id();
        names.insert(id, *name);
    }
    let mut failed = Vec::new();
    let mut ran = 0;
    while let Some(joined) = cases.join_next_with_id().await {
        match joined {
            Ok((_, Some(()))) => ran += 1,
            Ok((_, None)) => {}
            // The whole panic is on stderr already; name every failing case.
            Err(e) => {
                let text = e.to_string();
                let cut: String = text.chars().take(600).collect();
                failed.push(format!("{}: {cut}", names[&e.id()]));
            }
        }
    }
    assert!(failed.is_empty(), "cases failed:\n{}", failed.join("\n"));
    if ran > 0 {
        assert_eq!(ran, ROWS.len());
    }
}

/// The company's four days, then the checks. `None` when slapd is not installed.
async fn scenario(profile: Profile) -> Option<()> {
    let c = Company::new(profile).await?;
    let ws = &c.ws;
    for (nth, path) in [(2, "/Users"), (1, "/Groups")] {
        ws.emu.push_fault(Fault {
            nth,
            method: Some("POST".into()),
            path_prefix: Some(path.into()),
            kind: FaultKind::CommitThenDrop,
        });
    }
    // Day 1: three hires, two groups.
    for p in [&ADA, &BOB, &CY] {
        c.hire(p);
    }
    c.group("team-eng", &[&ADA, &BOB]);
    c.group("team-ops", &[&CY]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    // Day 2: a rename, a promotion, a member joins a group.
    c.set(&BOB, "sn", "Baker");
    c.set(&ADA, "title", "Lead");
    c.members("team-ops", &[&CY, &BOB]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    // Day 3: a leaver, a member leaves a group.
    c.disable(&ADA, true);
    c.members("team-ops", &[&CY]);
    ws.idbridge(&["sync", "--yes", "--force"]).await.expect(0);
    assert!(!ws.active_names().contains(&ADA.mail.to_owned()));
    // Day 4: the leaver returns.
    c.disable(&ADA, false);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);

    // The same end state whatever the switches.
    let members = ws.emu.members();
    let active: BTreeMap<String, (String, String)> = members
        .iter()
        .filter(|m| m.active)
        .map(|m| {
            let family = m.family_name.clone().unwrap_or_default();
            let title = m.title.clone().unwrap_or_default();
            (m.user_name.clone(), (family, title))
        })
        .collect();
    let want: BTreeMap<String, (String, String)> = [
        (ADA.mail, "Lovelace", "Lead"),
        (BOB.mail, "Baker", "Designer"),
        (CY.mail, "Young", "PM"),
        (OWNER, "Owner", ""),
    ]
    .into_iter()
    .map(|(m, f, t)| (m.to_owned(), (f.to_owned(), t.to_owned())))
    .collect();
    assert_eq!(active, want);
    let mut names: Vec<&str> = members.iter().map(|m| m.user_name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), members.len(), "one account per person");
    let by_id: BTreeMap<&str, &str> = members
        .iter()
        .map(|m| (m.id.as_str(), m.user_name.as_str()))
        .collect();
    let mut groups: Vec<(String, Vec<&str>)> = ws
        .emu
        .groups()
        .into_iter()
        .map(|g| {
            let mut who: Vec<&str> = g.members.iter().map(|id| by_id[id.as_str()]).collect();
            who.sort();
            (g.display_name, who)
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            ("team-eng".to_owned(), vec![ADA.mail, BOB.mail]),
            ("team-ops".to_owned(), vec![CY.mail]),
        ],
        "the same groups, none twice"
    );

    // And nothing left to do: an empty plan, a re-run without a write.
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(plan["operations"], serde_json::json!([]), "{plan}");
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.emu.write_count(), writes, "a re-run writes nothing");
    Some(())
}
