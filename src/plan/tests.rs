//! Planner scenarios. Each builds desired/target/links by hand and checks the operations.

use super::*;
use crate::model::{
    Attr, DesiredUser, Lifecycle, ScimId, SourceIssue, SourceKey, TargetUser, UserAttrs, UserName,
};
use crate::model::{DesiredGroup, TargetGroup};
use chrono::{TimeZone, Utc};
use std::collections::BTreeSet;

pub(super) fn attrs(email: &str, given: &str, title: Option<&str>) -> UserAttrs {
    let mut a = UserAttrs::new();
    a.insert(Attr::UserName, email.to_owned());
    a.insert(Attr::Email, email.to_owned());
    a.insert(Attr::GivenName, given.to_owned());
    if let Some(t) = title {
        a.insert(Attr::Title, t.to_owned());
    }
    a
}

pub(super) fn person(
    id: &str,
    email: &str,
    title: Option<&str>,
    lifecycle: Lifecycle,
) -> DesiredUser {
    DesiredUser {
        key: SourceKey::new("hr", id),
        other_keys: Vec::new(),
        attrs: attrs(email, id, title),
        lifecycle,
        reason: format!("hr: row for {id} (hr.csv line 2)"),
        leaving: None,
        out_of_scope: None,
        disabled: None,
        provenance: provenance(&attrs(email, id, title)),
    }
}

/// What mapping records for a person of [`person`]: each attribute read from the HR row.
pub(super) fn provenance(attrs: &UserAttrs) -> crate::model::Provenance {
    attrs
        .iter()
        .map(|(attr, value)| {
            let name = match attr {
                Attr::UserName | Attr::Email => "email",
                Attr::GivenName => "givenName",
                _ => attr.path(),
            };
            let fact = crate::model::SourceFact {
                source: "hr".into(),
                location: "hr.csv line 2".into(),
                values: vec![(name.to_owned(), value.to_owned())],
            };
            (attr, vec![fact])
        })
        .collect()
}

pub(super) fn tuser(id: &str, email: &str, given: &str, title: Option<&str>) -> TargetUser {
    TargetUser {
        id: ScimId(id.to_owned()),
        attrs: attrs(email, given, title),
        active: true,
        role: Some("member".to_owned()),
    }
}

pub(super) fn link(key: &str, id: &str) -> KnownLink {
    link_named(key, id, &format!("{key}@linked.invalid"), true)
}

pub(super) fn link_named(key: &str, id: &str, user_name: &str, active: bool) -> KnownLink {
    KnownLink {
        key: SourceKey::new("hr", key),
        scim_id: ScimId(id.to_owned()),
        user_name: UserName::new(user_name),
        active,
    }
}

pub(super) struct Case {
    pub(super) desired: Vec<DesiredUser>,
    pub(super) target: Vec<TargetUser>,
    pub(super) consistent: bool,
    pub(super) links: Vec<KnownLink>,
    pub(super) issues: Vec<SourceIssue>,
    pub(super) recovered: BTreeSet<String>,
    pub(super) policy: Policy,
    pub(super) groups: Vec<DesiredGroup>,
    pub(super) target_groups: Option<GroupState>,
    pub(super) group_links: Vec<KnownLink>,
    pub(super) writes: Vec<PastWrite>,
    pub(super) absences: Vec<crate::plan::Absence>,
    pub(super) now: chrono::DateTime<Utc>,
    pub(super) excluded: std::collections::BTreeMap<SourceKey, String>,
    pub(super) confirmations: Vec<Confirmed>,
}

impl Case {
    pub(super) fn new() -> Self {
        Self {
            desired: Vec::new(),
            target: Vec::new(),
            consistent: true,
            links: Vec::new(),
            issues: Vec::new(),
            recovered: BTreeSet::new(),
            groups: Vec::new(),
            target_groups: None,
            group_links: Vec::new(),
            writes: Vec::new(),
            confirmations: Vec::new(),
            absences: Vec::new(),
            excluded: Default::default(),
            now: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
            // These cases are about matching, guardrails and holds: a gone person is deactivated
            // by the first run that misses them. The grace has its own tests (`absence_tests`).
            policy: Policy {
                max_deactivations: Threshold::Percent(50.0),
                absence_grace: crate::plan::AbsenceGrace::NONE,
                ..Policy::default()
            },
        }
    }

    pub(super) fn plan(&self) -> Plan {
        let managed: BTreeSet<Attr> = [Attr::UserName, Attr::Email, Attr::GivenName, Attr::Title]
            .into_iter()
            .collect();
        let target = TargetState {
            users: self.target.clone(),
            consistent: self.consistent,
            problems: if self.consistent {
                vec![]
            } else {
                vec!["totalResults moved from 3 to 4".into()]
            },
        };
        let sources = vec!["hr".to_owned()];
        let input = Input {
            desired: &self.desired,
            managed: &managed,
            sources: &sources,
            issues: &self.issues,
            target: &target,
            links: &self.links,
            recovered: &self.recovered,
            policy: &self.policy,
            target_ref: TargetRef {
                kind: "notion".into(),
                url: "http://127.0.0.1:1/scim/v2".into(),
                name: "acme".into(),
            },
            invites_on_create: true,
            desired_groups: &self.groups,
            target_groups: self.target_groups.as_ref(),
            group_links: &self.group_links,
            now: self.now,
            writes: &self.writes,
            refusal_advice: "verify the domain",
            names: crate::model::NameModel::Parts,
            absences: &self.absences,
            excluded: &self.excluded,
            confirmations: &self.confirmations,
        };
        plan(&input)
    }
}

pub(super) fn ops(plan: &Plan) -> Vec<(OpKind, String)> {
    plan.operations
        .iter()
        .map(|o| (o.kind(), o.subject().to_owned()))
        .collect()
}

pub(super) fn codes(plan: &Plan) -> Vec<&str> {
    plan.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn creates_new_people_and_warns_about_invites() {
    let mut c = Case::new();
    c.desired = vec![
        person("E2", "bob@x.io", None, Lifecycle::Active),
        person("E1", "ada@x.io", Some("Eng"), Lifecycle::Active),
    ];
    let p = c.plan();
    assert_eq!(
        ops(&p),
        vec![
            (OpKind::CreateUser, "ada@x.io".into()),
            (OpKind::CreateUser, "bob@x.io".into())
        ]
    );
    assert_eq!(p.summary["create-user"], 2);
    assert_eq!(
        p.summary.len(),
        <OpKind as strum::IntoEnumIterator>::iter().count(),
        "every kind is in the summary"
    );
    assert!(codes(&p).contains(&"notion-invite-emails"));
    let create = &p.operations[0];
    assert_eq!(create.source_key().to_string(), "hr:E1");
    assert!(create
        .changes()
        .iter()
        .any(|ch| ch.attr == "title" && ch.after == Some("Eng".into()) && ch.before.is_none()));
}

#[test]
fn patches_only_changed_attributes_and_ignores_case_in_emails() {
    let mut c = Case::new();
    c.desired = vec![person("E1", "ada@x.io", Some("Lead"), Lifecycle::Active)];
    c.target = vec![tuser("u1", "ADA@x.io", "E1", Some("Engineer"))];
    c.links = vec![link("E1", "u1")];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::PatchUser, "ada@x.io".into())]);
    let changes = p.operations[0].changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].attr, "title");
    assert_eq!(changes[0].before, Some("Engineer".into()));
    assert_eq!(changes[0].after, Some("Lead".into()));
    assert_eq!(p.operations[0].scim_id().map(|i| i.0.as_str()), Some("u1"));
}

#[test]
fn no_change_means_no_operation() {
    let mut c = Case::new();
    c.desired = vec![person("E1", "ada@x.io", Some("Eng"), Lifecycle::Active)];
    c.target = vec![tuser("u1", "ada@x.io", "E1", Some("Eng"))];
    c.links = vec![link("E1", "u1")];
    assert!(c.plan().operations.is_empty());
}

#[test]
fn leavers_are_deactivated_with_their_reason() {
    let mut c = Case::new();
    c.desired = vec![
        person("E1", "ada@x.io", None, Lifecycle::Inactive),
        person("E3", "cy@x.io", None, Lifecycle::Active),
        person("E4", "di@x.io", None, Lifecycle::Active),
    ];
    c.target = vec![
        tuser("u1", "ada@x.io", "E1", None),
        tuser("u2", "bob@x.io", "E2", None),
        tuser("u3", "cy@x.io", "E3", None),
        tuser("u4", "di@x.io", "E4", None),
    ];
    c.links = vec![
        link("E1", "u1"),
        link("E2", "u2"),
        link("E3", "u3"),
        link("E4", "u4"),
    ];
    let p = c.plan();
    assert_eq!(
        ops(&p),
        vec![
            (OpKind::DeactivateUser, "ada@x.io".into()),
            (OpKind::DeactivateUser, "bob@x.io".into())
        ]
    );
    assert!(p.operations[0].reason().contains("row for E1"));
    assert!(p.operations[1]
        .reason()
        .contains("absent from every source"));
    assert!(!p.blocked);
}

#[test]
fn returning_person_is_readded() {
    let mut c = Case::new();
    c.desired = vec![person("E1", "ada@x.io", None, Lifecycle::Active)];
    c.links = vec![link("E1", "gone-id")];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::ReaddUser, "ada@x.io".into())]);
    assert!(p.operations[0].reason().contains("gone-id"));
    // Listed as inactive (the other Notion behaviour): re-added with the listed id.
    let mut t = tuser("u1", "ada@x.io", "E1", None);
    t.active = false;
    c.target = vec![t];
    c.links = vec![link("E1", "u1")];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::ReaddUser, "ada@x.io".into())]);
    assert_eq!(p.operations[0].scim_id().map(|i| i.0.as_str()), Some("u1"));
}

#[test]
fn owners_token_owner_and_orphans_are_never_touched() {
    let mut c = Case::new();
    c.policy.token_owner = Some(UserName::new("root@x.io"));
    c.desired = vec![
        person("E1", "boss@x.io", None, Lifecycle::Inactive),
        person("E2", "root@x.io", Some("CEO"), Lifecycle::Active),
    ];
    let mut boss = tuser("u1", "boss@x.io", "E1", None);
    boss.role = Some("owner".into());
    c.target = vec![
        boss,
        tuser("u2", "root@x.io", "E2", None),
        tuser("u3", "stray@x.io", "S", None),
    ];
    c.links = vec![link("E1", "u1"), link("E2", "u2")];
    let p = c.plan();
    assert!(p.operations.is_empty(), "{:?}", ops(&p));
    assert_eq!(
        codes(&p).iter().filter(|c| **c == "protected-user").count(),
        2
    );
    let orphan = p
        .findings
        .iter()
        .find(|f| f.code == FindingCode::OrphanUsers)
        .unwrap();
    assert_eq!(orphan.sources, vec!["stray@x.io".to_owned()]);
}

#[test]
fn adoption_follows_policy_and_journal_recovery() {
    let mut c = Case::new();
    c.desired = vec![person("E1", "ada@x.io", Some("Eng"), Lifecycle::Active)];
    c.target = vec![tuser("u1", "Ada@X.io", "E1", None)];
    let p = c.plan();
    assert_eq!(
        ops(&p),
        vec![
            (OpKind::LinkUser, "ada@x.io".into()),
            (OpKind::PatchUser, "ada@x.io".into())
        ]
    );
    c.policy.adopt = Adopt::None;
    let p = c.plan();
    assert!(p.operations.is_empty());
    assert!(codes(&p).contains(&"unadopted-match"));
    c.recovered.insert("ada@x.io".into());
    let p = c.plan();
    assert_eq!(p.operations[0].kind(), OpKind::LinkUser);
    assert!(p.operations[0].reason().starts_with("recover:"));
}

#[test]
fn guardrail_blocks_unless_forced() {
    let mut c = Case::new();
    c.policy.max_deactivations = Threshold::Count(1);
    c.target = vec![
        tuser("u1", "a@x.io", "E1", None),
        tuser("u2", "b@x.io", "E2", None),
    ];
    c.links = vec![link("E1", "u1"), link("E2", "u2")];
    c.desired = vec![person("E3", "c@x.io", None, Lifecycle::Active)];
    let p = c.plan();
    assert!(p.blocked);
    assert!(codes(&p).contains(&"max-deactivations-exceeded"));
    c.policy.force = true;
    let p = c.plan();
    assert!(!p.blocked);
    assert!(codes(&p).contains(&"max-deactivations-forced"));
    assert_eq!(p.summary["deactivate-user"], 2);
}

#[test]
fn inconsistent_read_makes_no_deactivations() {
    let mut c = Case::new();
    c.consistent = false;
    c.target = vec![tuser("u1", "a@x.io", "E1", None)];
    c.links = vec![link("E1", "u1")];
    c.desired = vec![person("E2", "b@x.io", None, Lifecycle::Active)];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::CreateUser, "b@x.io".into())]);
    assert!(p.has_errors());
    assert!(codes(&p).contains(&"target-read-inconsistent"));
}

#[test]
fn bad_rows_never_cause_deactivations() {
    let mut c = Case::new();
    c.target = vec![
        tuser("u1", "a@x.io", "E1", None),
        tuser("u2", "b@x.io", "E2", None),
    ];
    c.links = vec![link("E1", "u1"), link("E2", "u2")];
    c.desired = vec![person("E3", "c@x.io", None, Lifecycle::Active)];
    c.policy.max_deactivations = Threshold::Count(10);
    c.issues = vec![SourceIssue {
        source: "hr".into(),
        location: "hr.csv line 3".into(),
        code: FindingCode::SourceRowInvalid,
        message: "unknown status".into(),
        skipped_person: true,
        hints: vec!["E1".into(), "A@x.io".into()],
    }];
    let p = c.plan();
    assert_eq!(
        ops(&p),
        vec![
            (OpKind::CreateUser, "c@x.io".into()),
            (OpKind::DeactivateUser, "b@x.io".into())
        ]
    );
    assert!(codes(&p).contains(&"kept-bad-row"));
    c.issues.push(SourceIssue {
        source: "hr".into(),
        location: "hr.csv lines 9-60".into(),
        code: FindingCode::SourceRowInvalid,
        message: "unreadable CSV".into(),
        skipped_person: true,
        hints: vec![],
    });
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::CreateUser, "c@x.io".into())]);
    // Held leavers are an error (exit 1), naming the lines that could not be tied to anyone.
    let held = p
        .findings
        .iter()
        .find(|f| f.code == FindingCode::DeactivationsHeld)
        .unwrap();
    assert_eq!(held.severity, Severity::Error);
    assert_eq!(held.sources, vec!["hr: hr.csv lines 9-60".to_owned()]);
    assert!(
        held.message.contains("hr: hr.csv lines 9-60"),
        "{}",
        held.message
    );
    assert!(p.has_errors());
}

#[test]
fn upcoming_leavers_are_announced_with_their_date() {
    let mut c = Case::new();
    let mut ada = person("E1", "ada@x.io", None, Lifecycle::Active);
    ada.leaving = Some(crate::model::Leaving {
        last_day: chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
        effective: Utc.with_ymd_and_hms(2026, 12, 4, 23, 0, 0).unwrap(),
        timezone: chrono_tz::Europe::Paris,
        fact: "hr: status=terminated, terminationDate=2026-12-04 (hr.csv line 2)".into(),
    });
    c.desired = vec![ada, person("E2", "bob@x.io", None, Lifecycle::Active)];
    c.target = vec![tuser("u1", "ada@x.io", "E1", None)];
    c.links = vec![link("E1", "u1")];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::CreateUser, "bob@x.io".into())]);
    let found: Vec<&Finding> = p
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::TerminationScheduled)
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Info);
    assert_eq!(found[0].sources, vec!["hr:E1".to_owned()]);
    assert_eq!(
        found[0].message,
        "ada@x.io leaves on 2026-12-04: hr: status=terminated, terminationDate=2026-12-04 (hr.csv line 2); \
         kept until 2026-12-04T23:00:00Z (the start of 2026-12-05 in Europe/Paris), then deactivated"
    );
}

#[test]
fn limit_defers_later_operations() {
    let mut c = Case::new();
    c.policy.limit = Some(1);
    c.desired = vec![
        person("E1", "a@x.io", None, Lifecycle::Active),
        person("E2", "b@x.io", None, Lifecycle::Active),
    ];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::CreateUser, "a@x.io".into())]);
    assert!(codes(&p).contains(&"limit-deferred"));
}

#[test]
fn plan_is_identical_whatever_the_input_order() {
    let mut c = Case::new();
    c.desired = vec![
        person("E1", "a@x.io", Some("T"), Lifecycle::Active),
        person("E2", "b@x.io", None, Lifecycle::Inactive),
        person("E3", "c@x.io", None, Lifecycle::Active),
    ];
    c.target = vec![
        tuser("u1", "a@x.io", "E1", None),
        tuser("u2", "b@x.io", "E2", None),
        tuser("u9", "z@x.io", "Z", None),
    ];
    c.links = vec![link("E1", "u1"), link("E2", "u2")];
    let first = serde_json::to_string_pretty(&c.plan()).unwrap();
    c.desired.reverse();
    c.target.reverse();
    c.links.reverse();
    let second = serde_json::to_string_pretty(&c.plan()).unwrap();
    assert_eq!(first, second);

    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans/basic.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, format!("{first}\n")).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("golden file; run with UPDATE_GOLDEN=1 to create it");
    pretty_assertions::assert_eq!(expected.trim_end(), first);
}

#[test]
fn target_digest_ignores_order_and_unwatched_users() {
    let users = vec![
        tuser("u1", "a@x.io", "A", None),
        tuser("u2", "b@x.io", "B", None),
    ];
    let watch = Watch {
        scim_ids: vec!["u1".into()],
        user_names: vec!["c@x.io".into()],
        ..Watch::default()
    };
    let d1 = target_digest(&users, &[], &watch);
    let mut reordered = users.clone();
    reordered.reverse();
    reordered[0]
        .attrs
        .insert(Attr::Title, "changed, unwatched".into());
    assert_eq!(d1, target_digest(&reordered, &[], &watch));
    let mut taken = users.clone();
    taken.push(tuser("u3", "c@x.io", "C", None));
    assert_ne!(d1, target_digest(&taken, &[], &watch));
    let mut edited = users;
    edited[0].attrs.insert(Attr::Title, "Boss".into());
    assert_ne!(d1, target_digest(&edited, &[], &watch));
}

/// The JSON Schema in docs/ must describe what the planner writes: every key of a plan (and of its
/// operations, changes and findings) is declared, every required key is present.
#[test]
fn schema_describes_the_golden_plan() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/plan.schema.json")).unwrap())
            .unwrap();
    let mut c = Case::new();
    c.desired = vec![
        person("E1", "a@x.io", Some("T"), Lifecycle::Active),
        person("E2", "b@x.io", None, Lifecycle::Active),
    ];
    c.target = vec![
        tuser("u1", "a@x.io", "E1", None),
        tuser("u3", "c@x.io", "C", None),
    ];
    c.links = vec![link("E1", "u1"), link("E3", "u3")];
    let plan = serde_json::to_value(c.plan()).unwrap();
    fn check(schema: &serde_json::Value, value: &serde_json::Value, at: &str) {
        if let (Some(props), Some(obj)) = (
            schema.get("properties").and_then(|p| p.as_object()),
            value.as_object(),
        ) {
            for key in obj.keys() {
                assert!(props.contains_key(key), "{at}.{key} is not in the schema");
                check(&props[key], &obj[key], &format!("{at}.{key}"));
            }
            for req in schema
                .get("required")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
            {
                assert!(
                    obj.contains_key(req.as_str().unwrap()),
                    "{at} lacks required {req}"
                );
            }
        }
        if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
            for (i, v) in arr.iter().enumerate() {
                check(items, v, &format!("{at}[{i}]"));
            }
        }
        if let (Some(options), Some(s)) = (
            schema.get("enum").and_then(|e| e.as_array()),
            value.as_str(),
        ) {
            assert!(
                options.iter().any(|o| o == s),
                "{at} = {s} is not in the schema's enum"
            );
        }
    }
    check(&schema, &plan, "plan");
    assert!(plan["operations"].as_array().unwrap().len() >= 2);
}

pub(super) fn dgroup(id: &str, name: &str, members: &[&str]) -> DesiredGroup {
    DesiredGroup {
        key: SourceKey::new("corp", id),
        location: format!("cn={name},ou=groups"),
        display_name: name.to_owned(),
        members: members.iter().map(UserName::new).collect(),
    }
}

pub(super) fn tgroup(id: &str, name: &str, members: &[&str]) -> TargetGroup {
    TargetGroup {
        id: ScimId(id.to_owned()),
        display_name: name.to_owned(),
        members: members.iter().map(|m| ScimId(m.to_string())).collect(),
    }
}

pub(super) fn state(groups: Vec<TargetGroup>) -> Option<GroupState> {
    Some(GroupState {
        groups,
        consistent: true,
        problems: vec![],
    })
}

fn gops(plan: &Plan) -> Vec<(OpKind, String, Vec<String>)> {
    plan.operations
        .iter()
        .filter(|o| {
            !matches!(
                o.kind(),
                OpKind::CreateUser
                    | OpKind::PatchUser
                    | OpKind::LinkUser
                    | OpKind::DeactivateUser
                    | OpKind::ReaddUser
            )
        })
        .map(|o| {
            (
                o.kind(),
                o.subject().to_owned(),
                o.members()
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

fn two_people() -> Case {
    let mut c = Case::new();
    c.desired = vec![
        person("E1", "a@x.io", None, Lifecycle::Active),
        person("E2", "b@x.io", None, Lifecycle::Active),
    ];
    c.target = vec![tuser("u1", "a@x.io", "E1", None)];
    c.links = vec![link("E1", "u1")];
    c
}

#[test]
fn new_groups_are_created_with_members_created_in_the_same_plan() {
    let mut c = two_people();
    c.groups = vec![dgroup("g1", "Eng", &["a@x.io", "b@x.io", "nobody@x.io"])];
    c.target_groups = state(vec![]);
    let p = c.plan();
    assert_eq!(
        gops(&p),
        vec![
            (OpKind::CreateGroup, "Eng".into(), vec![]),
            (
                OpKind::AddMembers,
                "Eng".into(),
                vec!["a@x.io".into(), "b@x.io".into()]
            ),
        ]
    );
    assert_eq!(
        p.operations[0].kind(),
        OpKind::CreateGroup,
        "groups are created first"
    );
    assert_eq!(p.watch.group_names, vec!["eng".to_owned()]);
}

#[test]
fn linked_groups_are_renamed_and_only_managed_members_removed() {
    let mut c = two_people();
    c.target.push(tuser("u2", "b@x.io", "E2", None));
    c.target.push(tuser("u9", "hand@x.io", "H", None));
    c.links.push(link("E2", "u2"));
    c.desired = vec![
        person("E1", "a@x.io", None, Lifecycle::Active),
        person("E2", "b@x.io", None, Lifecycle::Active),
    ];
    c.groups = vec![dgroup("g1", "Engineering", &["a@x.io"])];
    c.target_groups = state(vec![tgroup("t1", "Eng", &["u2", "u9"])]);
    c.group_links = vec![KnownLink {
        key: SourceKey::new("corp", "g1"),
        scim_id: ScimId("t1".into()),
        user_name: UserName::new("group"),
        active: true,
    }];
    let p = c.plan();
    assert_eq!(
        gops(&p),
        vec![
            (OpKind::PatchGroup, "Engineering".into(), vec![]),
            (
                OpKind::AddMembers,
                "Engineering".into(),
                vec!["a@x.io".into()]
            ),
            (
                OpKind::RemoveMembers,
                "Engineering".into(),
                vec!["b@x.io".into()]
            ),
        ]
    );
    let rename = p
        .operations
        .iter()
        .find(|o| o.kind() == OpKind::PatchGroup)
        .unwrap();
    assert_eq!(rename.changes()[0].before, Some("Eng".into()));
    let unmanaged = p
        .findings
        .iter()
        .find(|f| f.code == FindingCode::GroupUnmanagedMembers)
        .unwrap();
    assert_eq!(unmanaged.sources, vec!["hand@x.io".to_owned()]);
    // A second plan against the state after apply has nothing to do for the group.
    c.target_groups = state(vec![tgroup("t1", "Engineering", &["u1", "u9"])]);
    assert!(gops(&c.plan()).is_empty());
}

#[test]
fn gone_groups_are_emptied_or_deleted() {
    let mut c = two_people();
    c.target_groups = state(vec![tgroup("t1", "Old", &["u1"])]);
    c.group_links = vec![KnownLink {
        key: SourceKey::new("corp", "g-old"),
        scim_id: ScimId("t1".into()),
        user_name: UserName::new("Old"),
        active: true,
    }];
    let p = c.plan();
    assert_eq!(
        gops(&p),
        vec![(OpKind::RemoveMembers, "Old".into(), vec!["a@x.io".into()])]
    );
    assert!(codes(&p).contains(&"group-emptied"));
    c.policy.delete_groups = true;
    assert_eq!(
        gops(&c.plan()),
        vec![(OpKind::DeleteGroup, "Old".into(), vec![])]
    );

    // A group entry of that source could not be read: it may be this group, so nothing is
    // emptied or deleted, and the held removal is an error.
    c.issues = vec![SourceIssue {
        source: "corp".into(),
        location: "cn=broken,ou=groups".into(),
        code: FindingCode::GroupEntryInvalid,
        message: "no entryUUID".into(),
        skipped_person: false,
        hints: vec![],
    }];
    let p = c.plan();
    assert_eq!(gops(&p), vec![]);
    assert!(codes(&p).contains(&"group-removals-held"));
    assert!(p.has_errors());
}

#[test]
fn existing_target_groups_need_adoption_and_inconsistent_reads_remove_nothing() {
    let mut c = two_people();
    c.groups = vec![dgroup("g1", "Eng", &["a@x.io"])];
    c.target_groups = state(vec![tgroup("t1", "eng", &[])]);
    let p = c.plan();
    assert!(gops(&p).is_empty());
    assert!(codes(&p).contains(&"group-exists-unadopted"));
    c.policy.adopt_groups = vec!["eng".into()];
    let p = c.plan();
    assert_eq!(
        gops(&p),
        vec![
            (OpKind::PatchGroup, "Eng".into(), vec![]),
            (OpKind::AddMembers, "Eng".into(), vec!["a@x.io".into()])
        ]
    );
    assert!(p
        .operations
        .iter()
        .find(|o| o.kind() == OpKind::PatchGroup)
        .unwrap()
        .reason()
        .starts_with("adopt:"));

    let mut c = two_people();
    c.groups = vec![dgroup("g1", "Eng", &[])];
    c.target_groups = Some(GroupState {
        groups: vec![tgroup("t1", "Eng", &["u1"])],
        consistent: false,
        problems: vec!["moved".into()],
    });
    c.group_links = vec![KnownLink {
        key: SourceKey::new("corp", "g1"),
        scim_id: ScimId("t1".into()),
        user_name: UserName::new("group"),
        active: true,
    }];
    let p = c.plan();
    assert!(gops(&p).is_empty());
    assert!(codes(&p).contains(&"target-read-inconsistent"));
}

#[test]
fn leavers_are_not_added_to_groups() {
    let mut c = two_people();
    c.desired[0].lifecycle = Lifecycle::Inactive;
    c.policy.max_deactivations = Threshold::Count(5);
    c.groups = vec![dgroup("g1", "Eng", &["a@x.io", "b@x.io"])];
    c.target_groups = state(vec![]);
    let p = c.plan();
    assert_eq!(
        gops(&p),
        vec![
            (OpKind::CreateGroup, "Eng".into(), vec![]),
            (OpKind::AddMembers, "Eng".into(), vec!["b@x.io".into()])
        ]
    );
}

/// Found by the LDAP+HR end-to-end test: a member whose userName changes in the same plan was
/// removed from (and never re-added to) its groups, because membership was compared by name.
#[test]
fn a_renamed_member_stays_in_its_groups() {
    let mut c = Case::new();
    c.desired = vec![person("E2", "robert@x.io", None, Lifecycle::Active)];
    c.target = vec![tuser("u2", "bob@x.io", "E2", None)];
    c.links = vec![link("E2", "u2")];
    c.groups = vec![dgroup("g1", "Eng", &["robert@x.io"])];
    c.target_groups = state(vec![tgroup("t1", "Eng", &["u2"])]);
    c.group_links = vec![KnownLink {
        key: SourceKey::new("corp", "g1"),
        scim_id: ScimId("t1".into()),
        user_name: UserName::new("group"),
        active: true,
    }];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::PatchUser, "robert@x.io".into())]);
}

/// HR re-keys everyone (a new employee-id scheme, same emails): each old link is active, its key
/// vanished in this read and a new key of the same source appeared with the same email.
#[test]
fn a_rekeyed_person_moves_their_link_and_is_never_deactivated() {
    let mut c = Case::new();
    c.desired = vec![
        person("N1", "a@x.io", None, Lifecycle::Active),
        person("N2", "b@x.io", Some("Lead"), Lifecycle::Active),
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
    assert!(!p.blocked);
    assert_eq!(
        ops(&p),
        vec![
            (OpKind::LinkUser, "a@x.io".into()),
            (OpKind::LinkUser, "b@x.io".into()),
        ]
    );
    let Op::LinkUser(moved) = &p.operations[0] else {
        panic!("not a link: {:?}", p.operations[0]);
    };
    assert_eq!(moved.origin, LinkOrigin::Rekey);
    assert_eq!(moved.previous_key, Some(SourceKey::new("hr", "E1")));
    assert_eq!(moved.source_key, SourceKey::new("hr", "N1"));
    assert_eq!(moved.scim_id, ScimId("u1".into()));
    assert!(codes(&p).contains(&"rekeyed"));
    assert!(!p.has_errors());
    // The JSON form says where the link moves from.
    let json = serde_json::to_value(&p.operations[0]).unwrap();
    assert_eq!(json["origin"], "rekey");
    assert_eq!(json["previousKey"], "hr:E1");
}

/// A re-key is absorbed only when nothing could still be the old record: a skipped bad row that
/// names the old key keeps the conflict, and the matched user is still never deactivated.
#[test]
fn a_matched_user_is_never_deactivated_when_the_rekey_is_in_doubt() {
    let mut c = Case::new();
    c.desired = vec![person("N1", "a@x.io", None, Lifecycle::Active)];
    c.target = vec![tuser("u1", "a@x.io", "N1", None)];
    c.links = vec![link_named("E1", "u1", "a@x.io", true)];
    c.issues = vec![SourceIssue {
        source: "hr".into(),
        location: "hr.csv line 7".into(),
        code: FindingCode::SourceRowInvalid,
        message: "unknown status".into(),
        skipped_person: true,
        hints: vec!["E1".into()],
    }];
    let p = c.plan();
    assert_eq!(ops(&p), vec![]);
    assert!(codes(&p).contains(&"link-conflict"));

    // The same without the bad row, but the old key is in another source: a conflict, never a
    // deactivation.
    c.issues.clear();
    c.links = vec![KnownLink {
        key: SourceKey::new("corp", "E1"),
        ..link_named("E1", "u1", "a@x.io", true)
    }];
    let mut sources_plan = c.plan();
    sources_plan
        .operations
        .retain(|o| o.kind() == OpKind::DeactivateUser);
    assert_eq!(sources_plan.operations, vec![]);
}

/// A new key with the email of someone idbridge took out of the workspace is held: in Notion a
/// create would re-add that person's removed account (their pages and history) for someone else.
#[test]
fn a_reused_email_is_held_and_never_readds_the_former_account() {
    // Notion lists the removed member as inactive.
    let mut c = Case::new();
    c.desired = vec![person("N1", "a@x.io", None, Lifecycle::Active)];
    let mut removed = tuser("u1", "a@x.io", "E1", None);
    removed.active = false;
    c.target = vec![removed];
    c.links = vec![link_named("E1", "u1", "a@x.io", false)];
    let p = c.plan();
    assert_eq!(ops(&p), vec![]);
    assert!(codes(&p).contains(&"email-reused"));
    assert!(p.has_errors());

    // Notion does not list removed members at all: without the check this is a create, which
    // Notion answers by re-adding the former account.
    c.target = vec![];
    let p = c.plan();
    assert_eq!(ops(&p), vec![]);
    assert!(codes(&p).contains(&"email-reused"));

    // The former person themselves, back under their own key, is re-added as before.
    c.desired = vec![person("E1", "a@x.io", None, Lifecycle::Active)];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::ReaddUser, "a@x.io".into())]);
}

/// Issue "Robust unattended runs", item 5: a patch's reason cites, for each changed attribute,
/// the source value and where it stands, not the person's lifecycle fact.
#[test]
fn a_patch_cites_the_source_values_it_changes() {
    let mut c = Case::new();
    let mut ada = person("E1", "ada@x.io", Some("Lead Engineer"), Lifecycle::Active);
    ada.attrs.insert(Attr::GivenName, "Ada".into());
    let corp = crate::model::SourceFact {
        source: "corp".into(),
        location: "uid=ada,ou=people,dc=x".into(),
        values: vec![("givenName".into(), "Ada".into())],
    };
    ada.provenance.insert(Attr::GivenName, vec![corp]);
    c.desired = vec![ada.clone()];
    c.target = vec![tuser("u1", "ada@x.io", "Adda", Some("Engineer"))];
    c.links = vec![link("E1", "u1")];
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::PatchUser, "ada@x.io".into())]);
    assert_eq!(
        p.operations[0].reason(),
        "corp: givenName=Ada (uid=ada,ou=people,dc=x); hr: title=Lead Engineer (hr.csv line 2)"
    );

    // Only the changed attribute is cited.
    c.target = vec![tuser("u1", "ada@x.io", "Ada", Some("Engineer"))];
    assert_eq!(
        c.plan().operations[0].reason(),
        "hr: title=Lead Engineer (hr.csv line 2)"
    );

    // An attribute with no recorded provenance falls back to the lifecycle fact.
    ada.provenance.remove(&Attr::Title);
    c.desired = vec![ada];
    assert_eq!(
        c.plan().operations[0].reason(),
        "title differs in the target; hr: row for E1 (hr.csv line 2)"
    );
}

/// HR swaps two people's emails: renaming each account onto a name the other holds would hand the
/// accounts over; both are held with an error instead.
#[test]
fn an_email_swap_between_two_people_is_held_not_planned_as_renames() {
    let mut c = Case::new();
    c.desired = vec![
        person("E1", "b@x.io", None, Lifecycle::Active),
        person("E2", "a@x.io", None, Lifecycle::Active),
    ];
    c.target = vec![
        tuser("u1", "a@x.io", "E1", None),
        tuser("u2", "b@x.io", "E2", None),
    ];
    c.links = vec![
        link_named("E1", "u1", "a@x.io", true),
        link_named("E2", "u2", "b@x.io", true),
    ];
    let p = c.plan();
    assert_eq!(ops(&p), vec![]);
    assert_eq!(
        codes(&p).iter().filter(|c| **c == "user-name-held").count(),
        2
    );
    assert!(p.has_errors());
    // A rename onto a free name is an ordinary patch.
    c.desired[0] = person("E1", "c@x.io", None, Lifecycle::Active);
    c.desired.truncate(1);
    c.target.truncate(1);
    c.links.truncate(1);
    assert_eq!(ops(&c.plan()), vec![(OpKind::PatchUser, "c@x.io".into())]);
}

/// `deactivations-held` says, per issue, why a source read may miss people: an HR API's paging
/// and count are not "broken rows".
#[test]
fn deactivations_held_says_why_for_each_unnamed_issue() {
    let mut c = Case::new();
    c.target = vec![tuser("u1", "a@x.io", "E1", None)];
    c.links = vec![link("E1", "u1")];
    c.desired = vec![person("E2", "b@x.io", None, Lifecycle::Active)];
    c.policy.max_deactivations = Threshold::Count(10);
    let unnamed = |location: &str, code: FindingCode| SourceIssue {
        source: "hr".into(),
        location: location.into(),
        code,
        message: "…".into(),
        skipped_person: true,
        hints: vec![],
    };
    let held = |c: &Case| {
        let p = c.plan();
        assert!(!ops(&p).iter().any(|(k, _)| *k == OpKind::DeactivateUser));
        p.findings
            .into_iter()
            .find(|f| f.code == FindingCode::DeactivationsHeld)
            .expect("deactivations-held")
            .message
    };
    c.issues = vec![
        unnamed("/v1/people pages 1, 2", FindingCode::SourcePagingOverlap),
        unnamed("/v1/people total", FindingCode::SourceTotalMismatch),
    ];
    let message = held(&c);
    assert!(
        message.contains("hr: /v1/people pages 1, 2: the HR API sent a record on two pages")
            && message.contains("hr: /v1/people total: the HR API's record count does not match")
            && !message.contains("row"),
        "{message}"
    );
    c.issues = vec![
        unnamed("hr.csv lines 9-60", FindingCode::SourceRowInvalid),
        unnamed("hr.csv line 70", FindingCode::SourceRowInvalid),
    ];
    let message = held(&c);
    assert!(
        message.contains("hr: hr.csv lines 9-60: a skipped row spans several lines and may hold other people's rows")
            && message.contains("hr: hr.csv line 70: a skipped record names nobody"),
        "{message}"
    );
}

/// A plan file is untrusted input: its findings read back as the codes idbridge writes, and a
/// code idbridge never writes (an edit) makes the file unreadable rather than passing through.
#[test]
fn a_plan_file_reads_back_its_finding_codes_and_refuses_an_invented_one() {
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans/basic.json");
    let text = std::fs::read_to_string(golden).unwrap();
    let plan: Plan = serde_json::from_str(&text).unwrap();
    assert!(plan
        .findings
        .iter()
        .any(|f| f.code == FindingCode::OrphanUsers));
    assert_eq!(
        serde_json::to_string_pretty(&plan).unwrap(),
        text.trim_end()
    );

    let edited = text.replace("\"orphan-users\"", "\"all-clear\"");
    assert_ne!(edited, text);
    let err = serde_json::from_str::<Plan>(&edited)
        .unwrap_err()
        .to_string();
    assert!(err.contains("all-clear"), "{err}");
}

/// Kinds and severities are spelled alike in plans, the journal, `--op` and rendered plans, and in
/// the plan format's order (docs/plan-format.md).
#[test]
fn kinds_and_severities_are_spelled_alike_everywhere() {
    use crate::spellings::*;
    assert_spellings::<OpKind>(&[
        "create-group",
        "patch-group",
        "link-user",
        "create-user",
        "patch-user",
        "readd-user",
        "add-members",
        "remove-members",
        "deactivate-user",
        "delete-group",
    ]);
    assert_serialized_alike::<OpKind>();
    assert_deserialized_alike::<OpKind>();
    assert_spellings::<Severity>(&["error", "warning", "info"]);
    assert_serialized_alike::<Severity>();
    assert_deserialized_alike::<Severity>();
}

/// Plans of every shape the plan document has, for tests of what is computed from a whole plan
/// (the digest): operations of several kinds with findings, none at all, the stored fixture, a
/// held plan with gate hits, and one whose absence section is not the default.
pub(crate) fn sample_plans() -> Vec<Plan> {
    let mut c = Case::new();
    c.desired = vec![
        person("E1", "a@x.io", Some("T"), Lifecycle::Active),
        person("E2", "b@x.io", None, Lifecycle::Active),
        person("E4", "d@x.io", None, Lifecycle::Inactive),
    ];
    c.target = vec![
        tuser("u1", "a@x.io", "E1", None),
        tuser("u3", "c@x.io", "C", None),
        tuser("u4", "d@x.io", "D", None),
    ];
    c.links = vec![link("E1", "u1"), link("E3", "u3"), link("E4", "u4")];
    let busy = c.plan();
    let mut quiet = Case::new();
    quiet.desired = vec![person("E1", "a@x.io", Some("T"), Lifecycle::Active)];
    quiet.target = vec![tuser("u1", "a@x.io", "E1", Some("T"))];
    quiet.links = vec![link("E1", "u1")];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let stored: Plan = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/fixtures/plans/basic.json")).unwrap(),
    )
    .unwrap();
    let mut held = busy.clone();
    held.gates = vec![super::gates::GateHit {
        gate: super::gates::Gate::GroupDrop,
        source: "corp".to_owned(),
        subject: Some("Engineering \"core\"".to_owned()),
        group_id: Some("g-1".to_owned()),
        figure: "0 members".to_owned(),
        threshold: "50%".to_owned(),
        baseline: "12 members".to_owned(),
        baseline_run: Some(7),
        overridden: false,
    }];
    let mut absent = quiet.plan();
    absent.absence.counted = false;
    absent.absence.not_counted = vec!["hr: hr.csv line 7 could not be read".to_owned()];
    absent.absence.basis = Some("ab".repeat(32));
    vec![busy, quiet.plan(), stored, held, absent]
}
