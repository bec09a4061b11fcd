//! Role planning scenarios (`plan::roles`): grants and revocations as patches, roles kept when no
//! rule speaks, unknown roles kept and reported, owners and the token's owner untouched, the cap.

use super::tests::{codes, link, ops, person, tuser};
use super::*;
use crate::model::{Attr, DesiredUser, Lifecycle, SourceFact, TargetUser, UserName};
use chrono::{TimeZone, Utc};
use std::collections::BTreeSet;

const ROLE: Attr = Attr::NotionRole;

/// A person of `tests::person` whom the rules give `role` (none: no rule matched).
fn wants(id: &str, role: Option<&str>) -> DesiredUser {
    let mut p = person(
        id,
        &format!("{}@x.io", id.to_lowercase()),
        None,
        Lifecycle::Active,
    );
    if let Some(role) = role {
        p.attrs.insert(ROLE, role.to_owned());
        p.provenance.insert(
            ROLE,
            vec![SourceFact {
                source: "corp".into(),
                location: "cn=notion-admins,ou=groups ([[roles.rules]] #1)".into(),
                values: vec![("memberOf".into(), "cn=notion-admins,ou=groups".into())],
            }],
        );
    }
    p
}

/// The target user linked to `wants(id, …)`, with `role`.
fn has(id: &str, role: &str) -> TargetUser {
    let mut u = tuser(
        &format!("u-{id}"),
        &format!("{}@x.io", id.to_lowercase()),
        id,
        None,
    );
    u.attrs.insert(ROLE, role.to_owned());
    u.role = Some(role.to_owned());
    u
}

fn notion_policy() -> Policy {
    Policy {
        max_deactivations: Threshold::Percent(50.0),
        roles: RolePolicy {
            max_changes: Threshold::Count(10),
            known: Some(
                ["owner", "membership_admin", "member", "restricted_member"]
                    .map(str::to_owned)
                    .to_vec(),
            ),
        },
        ..Policy::default()
    }
}

/// Plan `desired` against `target`, each target user linked to the person of the same id.
fn plan_roles(desired: &[DesiredUser], target: &[TargetUser], policy: &Policy) -> Plan {
    let managed: BTreeSet<Attr> = [Attr::UserName, Attr::Email, Attr::GivenName, ROLE]
        .into_iter()
        .collect();
    let links: Vec<KnownLink> = target
        .iter()
        .map(|u| link(u.id.0.trim_start_matches("u-"), &u.id.0))
        .collect();
    let state = TargetState {
        users: target.to_vec(),
        consistent: true,
        problems: Vec::new(),
    };
    let sources = vec!["hr".to_owned()];
    let input = Input {
        desired,
        managed: &managed,
        sources: &sources,
        issues: &[],
        target: &state,
        links: &links,
        recovered: &BTreeSet::new(),
        policy,
        target_ref: TargetRef {
            kind: "notion".into(),
            url: "http://127.0.0.1:1/scim/v2".into(),
            name: "acme".into(),
        },
        invites_on_create: true,
        desired_groups: &[],
        target_groups: None,
        group_links: &[],
        now: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
        writes: &[],
        refusal_advice: "",
        names: crate::model::NameModel::Parts,
        absences: &[],
        excluded: &Default::default(),
        confirmations: &[],
    };
    plan(&input)
}

fn role_change(plan: &Plan, subject: &str) -> Option<(Option<String>, Option<String>)> {
    let op = plan.operations.iter().find(|o| o.subject() == subject)?;
    let text = |v: &Option<crate::plan::ChangeValue>| {
        v.as_ref().and_then(|v| v.as_str()).map(str::to_owned)
    };
    op.changes()
        .iter()
        .find(|c| c.attr == ROLE.path())
        .map(|c| (text(&c.before), text(&c.after)))
}

#[test]
fn a_grant_and_a_revocation_are_patches_citing_the_rule() {
    let desired = [
        wants("E1", Some("membership_admin")),
        wants("E2", Some("member")),
    ];
    let target = [has("E1", "member"), has("E2", "membership_admin")];
    let p = plan_roles(&desired, &target, &notion_policy());
    assert_eq!(
        ops(&p),
        [
            (OpKind::PatchUser, "e1@x.io".to_owned()),
            (OpKind::PatchUser, "e2@x.io".to_owned())
        ]
    );
    assert_eq!(
        role_change(&p, "e1@x.io"),
        Some((Some("member".into()), Some("membership_admin".into())))
    );
    assert_eq!(
        role_change(&p, "e2@x.io"),
        Some((Some("membership_admin".into()), Some("member".into())))
    );
    assert!(
        p.operations[0]
            .reason()
            .contains("memberOf=cn=notion-admins,ou=groups"),
        "{}",
        p.operations[0].reason()
    );
    assert!(!p.blocked);
}

#[test]
fn without_a_rule_or_default_the_role_is_kept() {
    let p = plan_roles(
        &[wants("E1", None)],
        &[has("E1", "membership_admin")],
        &notion_policy(),
    );
    assert!(p.operations.is_empty(), "{:?}", ops(&p));
    // The same when the person has other changes: the role is never sent as a removal.
    let mut renamed = wants("E1", None);
    renamed.attrs.insert(Attr::GivenName, "Ada".into());
    let p = plan_roles(
        &[renamed],
        &[has("E1", "membership_admin")],
        &notion_policy(),
    );
    assert_eq!(ops(&p), [(OpKind::PatchUser, "e1@x.io".to_owned())]);
    assert_eq!(role_change(&p, "e1@x.io"), None);
}

#[test]
fn an_unknown_role_is_kept_and_reported() {
    for desired in [Some("member"), None] {
        let p = plan_roles(
            &[wants("E1", desired)],
            &[has("E1", "workspace_guest_admin")],
            &notion_policy(),
        );
        assert!(p.operations.is_empty(), "{desired:?}: {:?}", ops(&p));
        assert_eq!(codes(&p), ["role-unknown"], "{desired:?}");
        assert!(p.findings[0].message.contains("`workspace_guest_admin`"));
        assert_eq!(p.findings[0].severity, Severity::Warning);
    }
    // A target whose roles are free text (a generic SCIM service) knows every value.
    let mut scim = notion_policy();
    scim.roles.known = None;
    let p = plan_roles(
        &[wants("E1", Some("member"))],
        &[has("E1", "workspace_guest_admin")],
        &scim,
    );
    assert_eq!(ops(&p), [(OpKind::PatchUser, "e1@x.io".to_owned())]);
}

#[test]
fn owners_and_the_token_owner_are_never_changed() {
    let desired = [
        wants("E1", Some("membership_admin")),
        wants("E2", Some("member")),
    ];
    let mut policy = notion_policy();
    policy.token_owner = Some(UserName::new("e2@x.io"));
    // E1 is a workspace owner in the admin group; E2 holds idbridge's token (an owner demoted by
    // hand to admin here, so only the token rule protects them).
    let target = [has("E1", "owner"), has("E2", "membership_admin")];
    let p = plan_roles(&desired, &target, &policy);
    assert!(p.operations.is_empty(), "{:?}", ops(&p));
    assert_eq!(codes(&p), ["protected-user", "protected-user"]);
    assert!(p
        .findings
        .iter()
        .any(|f| f.message.contains("a workspace owner")));
    assert!(p
        .findings
        .iter()
        .any(|f| f.message.contains("target.token_owner")));
}

#[test]
fn role_changes_over_the_cap_block_the_plan_unless_forced() {
    let desired: Vec<DesiredUser> = ["E1", "E2", "E3"]
        .iter()
        .map(|id| wants(id, Some("membership_admin")))
        .collect();
    let target: Vec<TargetUser> = ["E1", "E2", "E3"]
        .iter()
        .map(|id| has(id, "member"))
        .collect();
    let mut policy = notion_policy();
    policy.roles.max_changes = Threshold::Count(2);
    let p = plan_roles(&desired, &target, &policy);
    assert!(p.blocked);
    assert_eq!(codes(&p), ["max-role-changes-exceeded"]);
    assert_eq!(p.findings[0].severity, Severity::Error);
    assert_eq!(p.findings[0].sources, ["e1@x.io", "e2@x.io", "e3@x.io"]);
    assert!(
        p.findings[0].message.contains("3 of 3 managed users"),
        "{}",
        p.findings[0].message
    );

    policy.force = true;
    let p = plan_roles(&desired, &target, &policy);
    assert!(!p.blocked);
    assert_eq!(codes(&p), ["max-role-changes-forced"]);

    // At the cap: allowed, with no finding. A percentage counts managed users, rounding up.
    policy.force = false;
    policy.roles.max_changes = Threshold::Count(3);
    assert!(!plan_roles(&desired, &target, &policy).blocked);
    policy.roles.max_changes = Threshold::Percent(50.0);
    assert!(
        plan_roles(&desired, &target, &policy).blocked,
        "50% of 3 is 2"
    );
}

#[test]
fn a_new_user_gets_the_role_at_create_and_it_is_not_capped() {
    let mut policy = notion_policy();
    policy.roles.max_changes = Threshold::Count(0);
    let p = plan_roles(&[wants("E1", Some("restricted_member"))], &[], &policy);
    assert_eq!(ops(&p), [(OpKind::CreateUser, "e1@x.io".to_owned())]);
    assert_eq!(
        role_change(&p, "e1@x.io"),
        Some((None, Some("restricted_member".into())))
    );
    assert!(
        !p.blocked,
        "a joiner's role is part of the create, not a change"
    );
}

/// What `apply --plan` finds wrong with `plan` against the state `plan_roles` made it from.
fn verify_roles(plan: &Plan, target: &[TargetUser], policy: &Policy) -> Vec<String> {
    let links: Vec<KnownLink> = target
        .iter()
        .map(|u| link(u.id.0.trim_start_matches("u-"), &u.id.0))
        .collect();
    verify(&Check {
        plan,
        users: target,
        groups: &[],
        links: &links,
        group_links: &[],
        unfinished: &BTreeSet::new(),
        policy,
        desired: None,
    })
    .into_iter()
    .map(|v| v.to_string())
    .collect()
}

fn edited(plan: &Plan, edit: impl FnOnce(&mut serde_json::Value)) -> Plan {
    let mut json = serde_json::to_value(plan).unwrap();
    edit(&mut json);
    serde_json::from_value(json).unwrap()
}

#[test]
fn a_saved_plan_may_not_grant_owner_remove_a_role_or_skip_the_cap() {
    let desired = [
        wants("E1", Some("membership_admin")),
        wants("E2", Some("membership_admin")),
    ];
    let target = [has("E1", "member"), has("E2", "member")];
    let policy = notion_policy();
    let p = plan_roles(&desired, &target, &policy);
    assert_eq!(verify_roles(&p, &target, &policy), Vec::<String>::new());

    let owner = edited(&p, |j| {
        j["operations"][0]["changes"][0]["after"] = "owner".into()
    });
    let refused = verify_roles(&owner, &target, &policy);
    assert!(
        refused
            .iter()
            .any(|r| r.contains("grants the role `owner`")),
        "{refused:?}"
    );
    let removed = edited(&p, |j| {
        j["operations"][0]["changes"][0]["after"] = serde_json::Value::Null
    });
    let refused = verify_roles(&removed, &target, &policy);
    assert!(
        refused.iter().any(|r| r.contains("removes the role")),
        "{refused:?}"
    );

    let mut capped = policy.clone();
    capped.roles.max_changes = Threshold::Count(1);
    let blocked = plan_roles(&desired, &target, &capped);
    assert!(blocked.blocked);
    let unblocked = edited(&blocked, |j| j["blocked"] = false.into());
    let refused = verify_roles(&unblocked, &target, &capped);
    assert!(
        refused.iter().any(|r| r.contains("roles.max_role_changes")),
        "{refused:?}"
    );
    capped.force = true;
    assert_eq!(
        verify_roles(&unblocked, &target, &capped),
        Vec::<String>::new()
    );
}
