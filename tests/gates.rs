//! End-to-end: the source health gates (docs/lifecycle.md, "Source health gates") through the
//! `idbridge` binary, the emulator and a SQLite store, over several simulated nights: an HR export
//! that loses 40% of its rows is held with nothing written and recovers the next night with nobody
//! removed; `--override` applies, keeps an audit entry and becomes the baseline, and a saved plan
//! carries it; a title rewritten for everyone and a required column left empty are held; an LDAP
//! group that reads empty has its member removals held while the rest of the run goes on.

use crate::support::slapd::{slapd, READER_DN, READER_PW};
use crate::support::{row, Workspace, NO_GRACE, OWNER};
use idbridge::store::Store;

fn staff(n: usize, title: &str) -> Vec<String> {
    (1..=n)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), title, "active"))
        .collect()
}

fn write(ws: &Workspace, rows: &[String]) {
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
}

fn codes(plan: &serde_json::Value) -> Vec<String> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

fn message<'a>(plan: &'a serde_json::Value, code: &str) -> &'a str {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .and_then(|f| f["message"].as_str())
        .unwrap_or_else(|| panic!("no {code} finding in {plan}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_night_that_loses_40_percent_is_held_and_the_next_night_removes_nobody() {
    let mut ws = Workspace::new().await;
    // A guardrail wide enough that only the gate stands between the bad night and 20 leavers.
    ws.tail = "[policy]\nmax_deactivations = 25\n".into();
    let all = staff(50, "Engineer");
    write(&ws, &all);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let everyone = ws.active_names();
    assert_eq!(everyone.len(), 51);
    let writes = ws.emu.write_count();

    // Night 2: the export has 30 of its 50 rows.
    write(&ws, &all[..30]);
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(1);
    let text = format!("{}{}", run.stdout, run.stderr);
    for part in [
        "source `hr`, gate `source-drop`: 30 people, 20 fewer (40%)",
        "the threshold is max_drop = 20%",
        "50 people in the last good read (run 1",
        "--override source-drop:hr",
        "held by a source health gate",
    ] {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
    assert_eq!(ws.emu.write_count(), writes, "a held run writes nothing");
    assert_eq!(ws.active_names(), everyone);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    assert_eq!(plan["blocked"], true);
    assert_eq!(plan["operations"].as_array().unwrap().len(), 0);
    assert_eq!(plan["gates"][0]["gate"], "source-drop");
    assert_eq!(plan["gates"][0]["overridden"], false);
    assert!(codes(&plan).contains(&"source-gate-held".to_owned()));
    // `--force` passes the deactivation guardrail, never a gate, and a held plan has nothing.
    ws.idbridge(&["sync", "--yes", "--force"]).await.expect(1);
    ws.idbridge(&["plan", "--out", "held.json"]).await.expect(1);
    let forced = ws
        .idbridge(&["apply", "--plan", "held.json", "--yes", "--force"])
        .await
        .expect(1);
    assert!(
        forced.stderr.contains("`--force` does not pass a gate"),
        "{}",
        forced.stderr
    );
    assert_eq!(ws.emu.write_count(), writes);
    // The held nights are runs in the record, with the reason.
    let runs = ws
        .idbridge(&["report", "runs", "--format", "json"])
        .await
        .expect(0);
    assert!(runs.stdout.contains("refused"), "{}", runs.stdout);
    assert!(
        runs.stdout.contains("held by a source health gate"),
        "{}",
        runs.stdout
    );

    // Night 3: the export is whole again; nobody is removed and nothing is written.
    write(&ws, &all);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert_eq!(ws.active_names(), everyone);
    assert_eq!(ws.emu.write_count(), writes);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_override_applies_from_a_saved_plan_keeps_an_audit_entry_and_becomes_the_baseline() {
    let mut ws = Workspace::new().await;
    // The gates are under test here, not the absence grace: leavers go at once.
    ws.tail = format!("[policy]\nmax_deactivations = 25\n{NO_GRACE}");
    let all = staff(50, "Engineer");
    write(&ws, &all);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);

    // 20 people really left: the admin reviews a plan made under the override.
    write(&ws, &all[..30]);
    ws.idbridge(&["plan", "--override", "source-drop:hr", "--out", "ok.json"])
        .await
        .expect(0);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("ok.json")).unwrap()).unwrap();
    assert_eq!(saved["gates"][0]["overridden"], true, "{saved}");
    assert!(message(&saved, "source-gate-overridden").contains("--override source-drop:hr"));
    assert_eq!(saved["summary"]["deactivate-user"], 20);

    // The gates' state must be the plan's: with the export whole again, it is refused.
    write(&ws, &all);
    let moved = ws
        .idbridge(&["apply", "--plan", "ok.json", "--yes"])
        .await
        .expect(1);
    assert!(
        moved.stderr.contains("judge the sources differently now"),
        "{}",
        moved.stderr
    );
    assert_eq!(ws.active_names().len(), 51);

    // Back to the reviewed read: applied without the flag again.
    write(&ws, &all[..30]);
    ws.idbridge(&["apply", "--plan", "ok.json", "--yes"])
        .await
        .expect(0);
    assert_eq!(ws.active_names().len(), 31);
    let store = Store::open(&ws.store_url).await.unwrap();
    let audit = store.gate_overrides("test").await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].gate.as_str(), audit[0].source.as_str()),
        ("source-drop", "hr")
    );
    assert!(!audit[0].os_user.is_empty() && !audit[0].host.is_empty());
    assert!(
        audit[0].finding.contains("30 people, 20 fewer (40%)"),
        "{}",
        audit[0].finding
    );
    let baselines = store.baselines("test").await.unwrap();
    assert_eq!(baselines.len(), 1);
    assert_eq!(baselines[0].run_id, audit[0].run_id);
    let summary: serde_json::Value = serde_json::from_str(&baselines[0].summary).unwrap();
    assert_eq!(summary["people"], 30);
    assert!(
        !baselines[0].summary.contains("Engineer"),
        "values are never kept"
    );
    // The 30 are the new baseline: the next night passes with no override.
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(0)
        .json();
    assert!(plan.get("gates").is_none(), "{plan}");
    // A plan (not a run) keeps no baseline: still the override's run.
    assert_eq!(
        store.baselines("test").await.unwrap()[0].run_id,
        audit[0].run_id
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_title_rewritten_for_everyone_is_held_until_overridden() {
    let ws = Workspace::new().await;
    write(&ws, &staff(25, "Engineer"));
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let writes = ws.emu.write_count();
    write(&ws, &staff(25, "Staff"));
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    let held = message(&plan, "source-gate-held");
    assert!(
        held.starts_with(
            "source `hr`, gate `attribute-change`: `title` changed for 25 of the 25 people in both reads \
             (100%); the threshold is max_change = 50% (judged from min_baseline = 20); baseline: 25 people \
             in the last good read (run 1, "
        ),
        "{held}"
    );
    assert!(message(&plan, "source-gate-held").contains("--override attribute-change:hr"));
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(ws.emu.write_count(), writes, "no title was rewritten");
    ws.idbridge(&["sync", "--yes", "--override", "attribute-change"])
        .await
        .expect(0);
    let titles: Vec<Option<String>> = ws
        .emu
        .members()
        .into_iter()
        .filter(|m| m.user_name != OWNER)
        .map(|m| m.title)
        .collect();
    assert!(
        titles.iter().all(|t| t.as_deref() == Some("Staff")),
        "{titles:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_required_attribute_missing_on_most_rows_is_held_on_the_first_run() {
    let mut ws = Workspace::new().await;
    ws.tail = "[policy.gates]\nrequired = [\"title\"]\n".into();
    let mut rows = staff(10, "");
    for r in rows.iter_mut().take(3) {
        *r = r.replace(",Test,,", ",Test,Engineer,");
    }
    write(&ws, &rows);
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    let held = message(&plan, "source-gate-held");
    assert!(
        held.contains("gate `attribute-coverage`: `title` present on 3 of 10 records (30%); the threshold is min_coverage = 90%"),
        "{held}"
    );
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!(ws.active_names(), [OWNER], "nobody was created");
    // A gate named for a source that is not configured is refused, not ignored.
    let typo = ws
        .idbridge(&["plan", "--override", "attribute-coverage:hrr"])
        .await
        .expect(1);
    assert!(
        typo.stderr
            .contains("names source `hrr`, which is not configured"),
        "{}",
        typo.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ldap_group_that_reads_empty_holds_its_member_removals_only() {
    let Some(ldap) = slapd() else { return };
    let base = ldap.ou("e2e-gates");
    let people = format!("ou=people,{base}");
    let groups = format!("ou=groups,{base}");
    let mut ldif = format!(
        "dn: {people}\nobjectClass: organizationalUnit\nou: people\n\ndn: {groups}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for (cn, uid) in [
        ("Ada Lovelace", "ada"),
        ("Bob Builder", "bob"),
        ("Cy Young", "cy"),
    ] {
        let (given, family) = cn.split_once(' ').unwrap();
        ldif += &format!(
            "dn: cn={cn},{people}\nobjectClass: inetOrgPerson\ncn: {cn}\nuid: {uid}\ngivenName: {given}\nsn: {family}\n\
             mail: {uid}@acme.test\ntitle: Engineer\n\n"
        );
    }
    ldif += &format!(
        "dn: cn=team-core,{groups}\nobjectClass: groupOfNames\ncn: team-core\nmember: cn=Ada Lovelace,{people}\nmember: cn=Bob Builder,{people}\n\n\
         dn: cn=team-ops,{groups}\nobjectClass: groupOfNames\ncn: team-ops\nmember: cn=Cy Young,{people}\n"
    );
    ldap.add(&ldif);
    let ws = Workspace::new().await;
    std::fs::write(ws.path("ldap-pw"), format!("{READER_PW}\n")).unwrap();
    let config = format!(
        "[store]\nurl = \"{store}\"\n\n[target]\nname = \"test\"\nkind = \"notion\"\nurl = \"{scim}\"\ntoken_file = \"token\"\n\
         token_owner = \"{OWNER}\"\nrate_limit = 0\ntimeout = \"5s\"\n\n\
         [[sources]]\nname = \"corp\"\nkind = \"ldap\"\nurl = \"{url}\"\nstarttls = true\nca_file = \"{ca}\"\nbind_dn = \"{READER_DN}\"\n\
         password_file = \"ldap-pw\"\nusers = {{ base = \"{people}\", filter = \"(objectClass=inetOrgPerson)\" }}\n\
         groups = {{ base = \"{groups}\", filter = \"(objectClass=groupOfNames)\" }}\n\n\
         [groups]\ninclude = [\"team-*\"]\n",
        store = ws.store_url,
        scim = ws.running.base_url(),
        url = ldap.url,
        ca = ldap.ca_file.display(),
    );
    std::fs::write(ws.path("idbridge.toml"), config).unwrap();
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let members_of = |name: &str| {
        ws.emu
            .groups()
            .into_iter()
            .find(|g| g.display_name == name)
            .map(|g| g.members.len())
            .unwrap_or_else(|| panic!("no group {name}"))
    };
    assert_eq!((members_of("team-core"), members_of("team-ops")), (2, 1));

    // team-core reads empty (its members now point outside the user base); Bob also joins
    // team-ops and Cy's title changes: those go on.
    ldap.modify(
        "ldapmodify",
        &format!(
            "dn: cn=team-core,{groups}\nchangetype: modify\nreplace: member\nmember: cn=ghost,{base}\n\n\
             dn: cn=team-ops,{groups}\nchangetype: modify\nadd: member\nmember: cn=Bob Builder,{people}\n\n\
             dn: cn=Cy Young,{people}\nchangetype: modify\nreplace: title\ntitle: Lead\n"
        ),
    );
    let plan = ws
        .idbridge(&["plan", "--format", "json"])
        .await
        .expect(1)
        .json();
    let held = message(&plan, "group-gate-held");
    assert!(
        held.contains("group `team-core` has 0 members, 2 fewer (100%)"),
        "{held}"
    );
    assert!(held.contains("--override group-drop:corp"), "{held}");
    let kinds: Vec<String> = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["op"].as_str().unwrap(),
                o["userName"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        ["patch-user cy@acme.test", "add-members team-ops"],
        "{plan}"
    );
    // Exit 1 (an error finding), but the rest is applied.
    ws.idbridge(&["sync", "--yes"]).await.expect(1);
    assert_eq!((members_of("team-core"), members_of("team-ops")), (2, 2));
    // The held group keeps its last good size in the baseline: held again the next night.
    ws.idbridge(&["plan"]).await.expect(1);
    ws.idbridge(&["sync", "--yes", "--override", "group-drop:corp"])
        .await
        .expect(0);
    assert_eq!(members_of("team-core"), 0);
}
