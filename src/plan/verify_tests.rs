//! The saved-plan checks: every plan the planner makes passes them against the state it was made
//! from, and each edit an attacker (or a careless hand) could make to a plan file is refused.

use super::tests::{dgroup, link, link_named, person, state, tgroup, tuser, Case};
use super::*;
use crate::model::{Lifecycle, ScimId, SourceKey, UserName};
use serde_json::Value;
use std::collections::BTreeSet;

fn check_with(c: &Case, plan: &Plan, unfinished: &BTreeSet<String>) -> Vec<String> {
    let groups = c
        .target_groups
        .as_ref()
        .map(|g| g.groups.clone())
        .unwrap_or_default();
    verify(&Check {
        plan,
        users: &c.target,
        groups: &groups,
        links: &c.links,
        group_links: &c.group_links,
        unfinished,
        policy: &c.policy,
        desired: Some(&c.desired),
    })
    .into_iter()
    .map(|v| v.to_string())
    .collect()
}

fn check(c: &Case, plan: &Plan) -> Vec<String> {
    check_with(c, plan, &BTreeSet::new())
}

/// Ada is patched, Bob leaves, Cy is new, Dee is adopted, Eve returns; the owner, the token owner
/// and an orphan are in the workspace too; Ada and Dee are pushed into a group.
fn busy() -> Case {
    let mut c = Case::new();
    c.desired = vec![
        person("E1", "ada@x.io", Some("Lead"), Lifecycle::Active),
        person("E2", "bob@x.io", None, Lifecycle::Inactive),
        person("E3", "cy@x.io", None, Lifecycle::Active),
        person("E4", "dee@x.io", None, Lifecycle::Active),
        person("E5", "eve@x.io", None, Lifecycle::Active),
        person("E6", "fay@x.io", None, Lifecycle::Active),
        person("E7", "gus@x.io", None, Lifecycle::Active),
    ];
    let mut eve = tuser("u5", "eve@x.io", "E5", None);
    eve.active = false;
    let mut owner = tuser("u0", "own@x.io", "Own", None);
    owner.role = Some("owner".into());
    c.target = vec![
        tuser("u1", "ada@x.io", "E1", None),
        tuser("u2", "bob@x.io", "E2", None),
        tuser("u4", "dee@x.io", "E4", None),
        eve,
        tuser("u6", "fay@x.io", "E6", None),
        tuser("u7", "gus@x.io", "E7", None),
        tuser("u8", "tok@x.io", "Tok", None),
        tuser("u9", "zed@x.io", "Zed", None),
        owner,
    ];
    c.links = vec![
        link_named("E1", "u1", "ada@x.io", true),
        link_named("E2", "u2", "bob@x.io", true),
        link_named("E5", "u5", "eve@x.io", false),
        link_named("E6", "u6", "fay@x.io", true),
        link_named("E7", "u7", "gus@x.io", true),
    ];
    c.policy.token_owner = Some(UserName::new("tok@x.io"));
    c.groups = vec![dgroup("g1", "Eng", &["ada@x.io", "dee@x.io"])];
    c.target_groups = state(vec![tgroup("t1", "Eng", &["u1", "u6"])]);
    c.group_links = vec![KnownLink {
        key: SourceKey::new("corp", "g1"),
        scim_id: ScimId("t1".into()),
        user_name: UserName::new("Eng"),
        active: true,
    }];
    c
}

/// The plan as JSON, edited by `edit`, read back.
fn edited(plan: &Plan, edit: impl FnOnce(&mut Value)) -> Plan {
    let mut json = serde_json::to_value(plan).unwrap();
    edit(&mut json);
    serde_json::from_value(json).unwrap()
}

fn op_index(plan: &Plan, kind: &str) -> usize {
    plan.operations
        .iter()
        .position(|o| o.kind().to_string() == kind)
        .unwrap()
}

#[test]
fn every_plan_the_planner_makes_passes() {
    let c = busy();
    let p = c.plan();
    let kinds: BTreeSet<&str> = p.operations.iter().map(|o| o.kind().into()).collect();
    for kind in [
        "link-user",
        "create-user",
        "patch-user",
        "readd-user",
        "deactivate-user",
        "add-members",
        "remove-members",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from {p:#?}");
    }
    assert_eq!(check(&c, &p), Vec::<String>::new());

    // And the earlier scenarios: re-keys, recoveries, adopted and renamed groups.
    let mut c = Case::new();
    c.desired = vec![person("N1", "a@x.io", None, Lifecycle::Active)];
    c.target = vec![tuser("u1", "a@x.io", "N1", None)];
    c.links = vec![link_named("E1", "u1", "a@x.io", true)];
    let p = c.plan();
    assert_eq!(p.operations.len(), 1);
    assert_eq!(check(&c, &p), Vec::<String>::new());
}

#[test]
fn a_plan_unblocked_by_hand_is_refused_by_the_recomputed_guardrail() {
    let mut c = busy();
    c.policy.max_deactivations = Threshold::Count(0);
    let p = c.plan();
    assert!(p.blocked);
    let p = edited(&p, |j| j["blocked"] = false.into());
    let refused = check(&c, &p);
    assert!(
        refused
            .iter()
            .any(|r| r.contains("policy.max_deactivations")),
        "{refused:?}"
    );
    c.policy.force = true;
    assert_eq!(check(&c, &p), Vec::<String>::new());
}

#[test]
fn an_unmanaged_user_an_owner_or_the_token_owner_is_never_touched() {
    let c = busy();
    let p = c.plan();
    let i = op_index(&p, "deactivate-user");
    for (id, name, expect) in [
        ("u9", "zed@x.io", "linked to target id u2, not u9"),
        ("u0", "own@x.io", "workspace owner"),
        ("u8", "tok@x.io", "SCIM token"),
    ] {
        let forged = edited(&p, |j| {
            j["operations"][i]["scimId"] = id.into();
            j["operations"][i]["userName"] = name.into();
        });
        let refused = check(&c, &forged);
        assert!(
            refused.iter().any(|r| r.contains(expect)),
            "{id}: {refused:?}"
        );
    }
    // A patch sent to the token owner.
    let i = op_index(&p, "patch-user");
    let forged = edited(&p, |j| {
        j["operations"][i]["scimId"] = "u8".into();
        j["operations"][i]["userName"] = "tok@x.io".into();
    });
    assert!(check(&c, &forged).iter().any(|r| r.contains("SCIM token")));
}

#[test]
fn a_user_name_paired_with_another_users_id_is_refused() {
    let c = busy();
    let p = c.plan();
    let i = op_index(&p, "deactivate-user");
    let forged = edited(&p, |j| j["operations"][i]["userName"] = "ada@x.io".into());
    let refused = check(&c, &forged);
    assert!(
        refused
            .iter()
            .any(|r| r.contains("but target id u2 is bob@x.io")),
        "{refused:?}"
    );
}

#[test]
fn a_forged_recovery_link_needs_the_journal() {
    let mut c = Case::new();
    c.policy.adopt = Adopt::None;
    c.desired = vec![person("E1", "a@x.io", None, Lifecycle::Active)];
    c.target = vec![tuser("u1", "a@x.io", "E1", None)];
    c.recovered = ["a@x.io".to_owned()].into_iter().collect();
    let p = c.plan();
    assert_eq!(p.operations[0].kind(), OpKind::LinkUser);
    // Without the unfinished create in the journal, the same plan is a forgery.
    let refused = check(&c, &p);
    assert!(
        refused.iter().any(|r| r.contains("unfinished create")),
        "{refused:?}"
    );
    assert_eq!(
        check_with(&c, &p, &c.recovered),
        Vec::<String>::new(),
        "with the journal entry it is a real recovery"
    );
    // Relabelled as an adoption, it meets policy.adopt = "none".
    let forged = edited(&p, |j| j["operations"][0]["origin"] = "adopt".into());
    assert!(check(&c, &forged)
        .iter()
        .any(|r| r.contains("policy.adopt")));
}

#[test]
fn a_patch_must_start_from_the_current_value() {
    let c = busy();
    let p = c.plan();
    let i = op_index(&p, "patch-user");
    let forged = edited(&p, |j| {
        j["operations"][i]["changes"][0]["before"] = "Intern".into();
    });
    let refused = check(&c, &forged);
    assert!(
        refused
            .iter()
            .any(|r| r.contains("but the plan says `Intern`")),
        "{refused:?}"
    );
    // A userName change slipped into a patch of somebody else's account.
    let forged = edited(&p, |j| {
        j["operations"][i]["changes"] = serde_json::json!([
            { "attr": "userName", "before": "ada@x.io", "after": "mallory@evil.io" }
        ]);
    });
    assert!(!check(&c, &forged).is_empty());
}

#[test]
fn a_create_never_lands_on_an_existing_account() {
    let c = busy();
    let p = c.plan();
    let i = op_index(&p, "create-user");
    let forged = edited(&p, |j| {
        j["operations"][i]["userName"] = "zed@x.io".into();
        j["operations"][i]["changes"][0]["after"] = "zed@x.io".into();
    });
    let refused = check(&c, &forged);
    assert!(
        refused
            .iter()
            .any(|r| r.contains("already held by target id u9")),
        "{refused:?}"
    );
}

#[test]
fn membership_edits_stay_within_managed_users_and_pushed_groups() {
    let c = busy();
    let p = c.plan();
    let i = op_index(&p, "remove-members");
    let forged = edited(&p, |j| {
        j["operations"][i]["members"] = serde_json::json!(["zed@x.io"])
    });
    assert!(check(&c, &forged)
        .iter()
        .any(|r| r.contains("zed@x.io is not a user idbridge manages")));
    let forged = edited(&p, |j| {
        j["operations"][i]["sourceKey"] = "corp:other".into();
    });
    assert!(check(&c, &forged)
        .iter()
        .any(|r| r.contains("not a group idbridge pushes")));
}

#[test]
fn the_summary_must_count_the_operations() {
    let c = busy();
    let p = c.plan();
    let forged = edited(&p, |j| {
        let ops = j["operations"].as_array_mut().unwrap();
        let extra = ops[0].clone();
        ops.push(extra);
    });
    assert!(!check(&c, &forged).is_empty());
    let _ = link("E1", "u1");
}

/// Edits an adversarial review tried, each refused.
mod review {
    use super::*;
    use serde_json::json;

    fn refused(c: &Case, plan: &Plan, expect: &str) {
        let all = check(c, plan);
        assert!(
            all.iter().any(|r| r.contains(expect)),
            "expected `{expect}` among {all:?}"
        );
    }

    fn with_ops(p: &Plan, extra: Vec<Value>) -> Plan {
        edited(p, |j| {
            for op in extra {
                let kind = op["op"].as_str().unwrap().to_owned();
                j["operations"].as_array_mut().unwrap().push(op);
                let n = j["summary"][&kind].as_u64().unwrap() + 1;
                j["summary"][&kind] = n.into();
            }
        })
    }

    #[test]
    fn an_orphan_adopted_under_an_invented_key_cannot_be_deactivated() {
        let c = busy();
        let p = c.plan();
        let forged = with_ops(
            &p,
            vec![
                json!({"op": "link-user", "userName": "zed@x.io", "scimId": "u9", "sourceKey": "hr:FAKE",
                       "reason": "adopt", "origin": "adopt"}),
                json!({"op": "deactivate-user", "userName": "zed@x.io", "scimId": "u9", "sourceKey": "hr:FAKE",
                       "reason": "x", "changes": [{"attr": "active", "before": true, "after": false}]}),
            ],
        );
        refused(&c, &forged, "the sources name nobody as hr:FAKE");
    }

    #[test]
    fn a_group_operation_cannot_borrow_another_groups_id() {
        let mut c = busy();
        c.policy.delete_groups = true;
        let mut groups = c.target_groups.take().unwrap();
        groups.groups.push(tgroup("admins", "Admins", &["u6"]));
        c.target_groups = Some(groups);
        let p = c.plan();
        let forged = with_ops(
            &p,
            vec![
                json!({"op": "create-group", "userName": "Evil", "sourceKey": "corp:g9", "reason": "x"}),
                json!({"op": "add-members", "userName": "Evil", "scimId": "admins", "sourceKey": "corp:g9",
                       "reason": "x", "members": ["ada@x.io"]}),
                json!({"op": "delete-group", "userName": "Evil", "scimId": "admins", "sourceKey": "corp:g9",
                       "reason": "x"}),
            ],
        );
        refused(&c, &forged, "group `Evil` is not a group idbridge pushes");
    }

    #[test]
    fn a_readd_brings_back_only_the_person_the_sources_name() {
        let c = busy();
        let p = c.plan();
        let i = op_index(&p, "readd-user");
        let forged = edited(&p, |j| {
            j["operations"][i]["userName"] = "mallory@evil.io".into();
            for change in j["operations"][i]["changes"].as_array_mut().unwrap() {
                if change["attr"] == "userName" || change["attr"] == "emails" {
                    change["after"] = "mallory@evil.io".into();
                }
            }
        });
        refused(&c, &forged, "give hr:E5 the userName eve@x.io");
    }

    /// A re-add names the account's former userName only as the person's own link has it: a
    /// forged one would make the target bring back someone else's account.
    #[test]
    fn a_readd_cannot_name_another_persons_former_email() {
        let mut c = busy();
        c.target.retain(|u| u.id.0 != "u5");
        c.desired[4] = person("E5", "eve.new@x.io", None, Lifecycle::Active);
        let p = c.plan();
        let i = op_index(&p, "readd-user");
        assert!(check(&c, &p).is_empty(), "{:?}", check(&c, &p));
        assert_eq!(p.operations[i].subject(), "eve.new@x.io");
        let forged = edited(&p, |j| {
            j["operations"][i]["formerUserName"] = "ada@x.io".into()
        });
        refused(
            &c,
            &forged,
            "re-adds the account known as ada@x.io, but hr:E5's account is known as eve@x.io",
        );
    }

    #[test]
    fn an_address_the_sources_would_refuse_never_reaches_the_target() {
        let c = busy();
        let p = c.plan();
        let i = op_index(&p, "create-user");
        for bad in ["cy\u{0}x@x.io", "cy\u{200b}@x.io", "cy@ｘ.io", "<cy@x.io>"] {
            let forged = edited(&p, |j| {
                j["operations"][i]["userName"] = bad.into();
                j["operations"][i]["changes"][0]["after"] = bad.into();
            });
            refused(&c, &forged, "not a usable address");
        }
    }

    #[test]
    fn links_are_one_per_id_and_a_moved_key_is_not_used_again() {
        let mut c = Case::new();
        c.desired = vec![
            person("N1", "a@x.io", None, Lifecycle::Active),
            person("N2", "b@x.io", None, Lifecycle::Active),
        ];
        c.target = vec![
            tuser("u1", "a@x.io", "N1", None),
            tuser("u2", "b@x.io", "N2", None),
        ];
        c.links = vec![
            link_named("E1", "u1", "a@x.io", true),
            link_named("E2", "u2", "b@x.io", true),
        ];
        let p = c.plan();
        assert_eq!(check(&c, &p), Vec::<String>::new());
        // The second re-key also takes u1.
        let twice = edited(&p, |j| {
            j["operations"][1]["scimId"] = "u1".into();
            j["operations"][1]["previousKey"] = "hr:E1".into();
        });
        refused(&c, &twice, "is linked twice in this plan");
        // A re-key, then a deactivation under the key it moved away from.
        let after = with_ops(
            &p,
            vec![
                json!({"op": "deactivate-user", "userName": "a@x.io", "scimId": "u1", "sourceKey": "hr:E1",
                        "reason": "x", "changes": [{"attr": "active", "before": true, "after": false}]}),
            ],
        );
        refused(&c, &after, "hr:E1 is re-keyed away earlier in this plan");
    }

    #[test]
    fn a_rename_never_takes_a_name_someone_holds() {
        let c = busy();
        let p = c.plan();
        let i = op_index(&p, "patch-user");
        for taken in ["zed@x.io", "tok@x.io"] {
            let forged = edited(&p, |j| {
                j["operations"][i]["userName"] = taken.into();
                j["operations"][i]["changes"] = json!([
                    { "attr": "userName", "before": "ada@x.io", "after": taken }
                ]);
            });
            assert!(!check(&c, &forged).is_empty(), "{taken}");
        }
    }
}
