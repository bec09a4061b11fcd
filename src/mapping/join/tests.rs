//! Join and map scenarios: two sources, precedence, conflicts, scope, groups.

use super::*;
use crate::mapping::rules::{Glob, SourceJoin};
use crate::model::{attr, Employment, StatusKind};
use chrono::TimeZone;
use chrono_tz::Tz;

fn rec(source: &str, id: &str, pairs: &[(&str, &str)], kind: Option<StatusKind>) -> SourceRecord {
    SourceRecord {
        key: SourceKey::new(source, id),
        location: format!("{source}-loc-{id}"),
        attrs: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        employment: kind.map(|kind| Employment {
            status: Some(format!("{kind:?}").to_lowercase()),
            kind,
            start: None,
            end: None,
            timezone: Tz::UTC,
        }),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

fn rules() -> MappingRules {
    let mut r = MappingRules::with_sources(vec![
        SourceJoin {
            name: "corp".into(),
            join_attr: "email".into(),
        },
        SourceJoin {
            name: "hr".into(),
            join_attr: "email".into(),
        },
    ]);
    r.join
        .precedence
        .insert(attr::TITLE.into(), vec!["hr".into(), "corp".into()]);
    r
}

struct Data {
    corp: Vec<SourceRecord>,
    hr: Vec<SourceRecord>,
    groups: Vec<SourceGroup>,
    fields: BTreeSet<String>,
}

impl Data {
    fn run(&self, rules: &MappingRules) -> Mapped {
        let sources = [
            SourceData {
                name: "corp",
                records: &self.corp,
                groups: &self.groups,
                fields: &self.fields,
            },
            SourceData {
                name: "hr",
                records: &self.hr,
                groups: &[],
                fields: &self.fields,
            },
        ];
        map(&sources, rules, now())
    }
}

fn data() -> Data {
    Data {
        corp: vec![
            rec(
                "corp",
                "u-ada",
                &[
                    ("email", "Ada@X.io"),
                    ("givenName", "Ada"),
                    ("familyName", "L"),
                    ("title", "ldap title"),
                    ("dn", "uid=ada,ou=people,dc=x"),
                ],
                Some(StatusKind::Active),
            ),
            rec(
                "corp",
                "u-bob",
                &[
                    ("email", "bob@x.io"),
                    ("givenName", "Bob"),
                    ("dn", "uid=bob,ou=contractors,dc=x"),
                ],
                Some(StatusKind::Active),
            ),
        ],
        hr: vec![
            rec(
                "hr",
                "E1",
                &[
                    ("email", "ada@x.io "),
                    ("employeeId", "E1"),
                    ("title", "Lead"),
                ],
                Some(StatusKind::Active),
            ),
            rec(
                "hr",
                "E2",
                &[("email", "bob@x.io"), ("employeeId", "E2")],
                Some(StatusKind::Inactive),
            ),
        ],
        groups: vec![SourceGroup {
            key: SourceKey::new("corp", "g-eng"),
            location: "cn=eng,ou=groups,dc=x".into(),
            attrs: [("name".to_owned(), "eng".to_owned())]
                .into_iter()
                .collect(),
            members: vec![
                SourceKey::new("corp", "u-ada"),
                SourceKey::new("corp", "u-bob"),
            ],
        }],
        fields: ["email", "givenName", "familyName", "title", "employeeId"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

#[test]
fn joins_across_sources_with_precedence() {
    let m = data().run(&rules());
    assert!(m.issues.is_empty(), "{:?}", m.issues);
    let ada = &m.desired[0];
    assert_eq!(ada.key, SourceKey::new("corp", "u-ada"));
    assert_eq!(ada.other_keys, vec![SourceKey::new("hr", "E1")]);
    assert_eq!(ada.attrs.get(&Attr::UserName).unwrap(), "ada@x.io");
    assert_eq!(
        ada.attrs.get(&Attr::Title).unwrap(),
        "Lead",
        "hr owns title"
    );
    assert_eq!(ada.attrs.get(&Attr::ExternalId).unwrap(), "E1");
    assert_eq!(ada.attrs.get(&Attr::DisplayName).unwrap(), "Ada L");
    // Bob: directory enabled, HR terminated: inactive, and the HR fact is the reason.
    let bob = &m.desired[1];
    assert_eq!(bob.lifecycle, Lifecycle::Inactive);
    assert!(bob.reason.starts_with("hr:"), "{}", bob.reason);
    assert!(m.managed.contains(&Attr::Title) && !m.managed.contains(&Attr::Department));
}

#[test]
fn conflicts_and_missing_required_records_leave_people_untouched() {
    let mut d = data();
    d.corp.push(rec(
        "corp",
        "u-ada2",
        &[("email", "ADA@x.io")],
        Some(StatusKind::Active),
    ));
    d.corp.push(rec(
        "corp",
        "u-cy",
        &[("email", "cy@x.io")],
        Some(StatusKind::Active),
    ));
    d.corp.push(rec(
        "corp",
        "u-nomail",
        &[("givenName", "N")],
        Some(StatusKind::Active),
    ));
    let mut r = rules();
    r.join.require = vec!["hr".into()];
    let m = d.run(&r);
    let codes: Vec<&str> = m.issues.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == "join-conflict").count(),
        1,
        "{codes:?}"
    );
    assert!(codes.contains(&"join-missing-required"));
    assert!(codes.contains(&"join-key-missing"));
    let conflict = m
        .issues
        .iter()
        .find(|i| i.code == FindingCode::JoinConflict)
        .unwrap();
    assert!(
        conflict.location.contains("corp-loc-u-ada")
            && conflict.location.contains("corp-loc-u-ada2")
    );
    assert!(
        conflict.hints.contains(&"u-ada".to_owned()),
        "ada is protected from deactivation"
    );
    let names: Vec<String> = m
        .desired
        .iter()
        .filter_map(|d| d.user_name())
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names,
        vec!["bob@x.io"],
        "ada (conflict) and cy (no hr record) are left out"
    );
}

#[test]
fn scope_by_group_ou_and_attribute() {
    let d = data();
    let mut r = rules();
    r.scope.ous = vec!["ou=people,dc=x".into()];
    let m = d.run(&r);
    let bob = m.desired.iter().find(|p| p.key.id == "u-bob").unwrap();
    assert_eq!(bob.lifecycle, Lifecycle::Inactive);
    let ada = m.desired.iter().find(|p| p.key.id == "u-ada").unwrap();
    assert_eq!(ada.lifecycle, Lifecycle::Active);

    let mut r = rules();
    r.scope.groups = vec!["cn=sales,ou=groups,dc=x".into()];
    let m = d.run(&r);
    let ada = m.desired.iter().find(|p| p.key.id == "u-ada").unwrap();
    assert_eq!(ada.lifecycle, Lifecycle::Inactive);
    assert!(
        ada.reason.starts_with("out of scope: not a member of"),
        "{}",
        ada.reason
    );
    r.scope.groups = vec!["eng".into()];
    let m = d.run(&r);
    assert_eq!(
        m.desired
            .iter()
            .find(|p| p.key.id == "u-ada")
            .unwrap()
            .lifecycle,
        Lifecycle::Active
    );

    let mut r = rules();
    r.scope.attr_in.insert("title".into(), vec!["lead".into()]);
    let m = d.run(&r);
    assert_eq!(
        m.desired
            .iter()
            .find(|p| p.key.id == "u-ada")
            .unwrap()
            .lifecycle,
        Lifecycle::Active
    );
}

#[test]
fn groups_carry_active_members_by_user_name() {
    let d = data();
    let m = d.run(&rules());
    assert_eq!(m.groups.len(), 1);
    let g = &m.groups[0];
    assert_eq!(g.display_name, "eng");
    assert_eq!(
        g.members,
        vec![UserName::new("ada@x.io")],
        "bob is inactive, so not a member"
    );
    let mut r = rules();
    r.groups.exclude = vec![Glob::new("cn=eng,*")];
    assert!(d.run(&r).groups.is_empty());
    let mut r = rules();
    r.groups.include = vec![Glob::new("sales*")];
    assert!(d.run(&r).groups.is_empty());
}

#[test]
fn a_template_that_renders_an_unusable_identity_skips_the_person_with_hints() {
    let mut r = rules();
    r.attrs.insert(
        Attr::UserName,
        crate::mapping::template::Template::compile("{givenName}@x.io").unwrap(),
    );
    let mut d = data();
    // A zero-width joiner in a directory name would end up inside the userName.
    d.corp[0]
        .attrs
        .insert("givenName".into(), "A\u{200D}da".into());
    let m = d.run(&r);
    let keys: Vec<String> = m.desired.iter().map(|p| p.key.to_string()).collect();
    assert_eq!(keys, ["corp:u-bob"], "{:?}", m.issues);
    let issue = m
        .issues
        .iter()
        .find(|i| i.code == FindingCode::IdentityInvalid)
        .unwrap();
    assert!(issue.skipped_person);
    assert!(issue.hints.contains(&"u-ada".to_owned()) && issue.hints.contains(&"E1".to_owned()));
    assert!(issue.message.contains("U+200D"), "{}", issue.message);
}

#[test]
fn mapped_addresses_come_out_in_ascii_and_plain_user_names_pass() {
    let mut r = rules();
    r.attrs.insert(
        Attr::Email,
        crate::mapping::template::Template::compile("{givenName}@bücher.de").unwrap(),
    );
    r.attrs.insert(
        Attr::UserName,
        crate::mapping::template::Template::compile("{lower(givenName)}").unwrap(),
    );
    let m = data().run(&r);
    assert!(m.issues.is_empty(), "{:?}", m.issues);
    assert_eq!(
        m.desired[0].attrs.get(&Attr::Email).unwrap(),
        "Ada@xn--bcher-kva.de"
    );
    assert_eq!(m.desired[0].attrs.get(&Attr::UserName).unwrap(), "ada");
}

#[test]
fn an_upcoming_termination_is_carried_until_it_takes_effect() {
    let mut d = data();
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let bob = d.hr[1].employment.as_mut().unwrap();
    bob.end = Some(date("2026-06-10"));
    let m = d.run(&rules());
    let bob = &m.desired[1];
    assert_eq!(bob.lifecycle, Lifecycle::Active, "{}", bob.reason);
    let leaving = bob.leaving.as_ref().unwrap();
    assert_eq!(leaving.last_day, date("2026-06-10"));
    assert_eq!(
        leaving.effective,
        Utc.with_ymd_and_hms(2026, 6, 11, 0, 0, 0).unwrap()
    );
    assert!(leaving
        .fact
        .contains("status=inactive, terminationDate=2026-06-10"));
    assert!(m.desired[0].leaving.is_none());
}

/// Issue "Robust unattended runs", item 5: each mapped attribute records the record that won it
/// (precedence included) and the values its template read there, so a patch can cite them.
#[test]
fn each_attribute_cites_the_record_and_values_it_was_mapped_from() {
    use crate::mapping::template::Template;
    use crate::model::cite;
    let mut r = rules();
    r.attrs.insert(
        Attr::EmployeeNumber,
        Template::compile("{hr.employeeId}").unwrap(),
    );
    r.attrs
        .insert(Attr::Department, Template::compile("Staff").unwrap());
    let m = data().run(&r);
    let ada = &m.desired[0];
    let cited = |attr: Attr| cite(&ada.provenance.get(&attr).unwrap());
    // Precedence gives hr the title over the directory's.
    assert_eq!(cited(Attr::Title), "hr: title=Lead (hr-loc-E1)");
    // `default(displayName, join(" ", givenName, familyName))`: the values it used.
    assert_eq!(
        cited(Attr::DisplayName),
        "corp: givenName=Ada, familyName=L (corp-loc-u-ada)"
    );
    assert_eq!(cited(Attr::EmployeeNumber), "hr: employeeId=E1 (hr-loc-E1)");
    assert_eq!(
        cited(Attr::UserName),
        "corp: email=Ada@X.io (corp-loc-u-ada)"
    );
    assert_eq!(
        cited(Attr::Department),
        "config: [mapping] department = \"Staff\""
    );
    // Bob has no title anywhere: the record that would have given it is cited, empty.
    let bob = &m.desired[1];
    assert!(!bob.attrs.contains_key(&Attr::Title));
    assert_eq!(
        cite(&bob.provenance.get(&Attr::Title).unwrap()),
        "hr: title=\"\" (hr-loc-E2)"
    );
}

#[test]
fn sorting_in_place_matches_a_stable_sort() {
    // Fixed seeds; short lists with many equal keys, where stability shows.
    for seed in 0..200u64 {
        let len = (seed % 37) as usize;
        let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let items: Vec<(u64, usize)> = (0..len)
            .map(|i| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 33) % 5, i)
            })
            .collect();
        let mut expected = items.clone();
        expected.sort_by_key(|item| item.0);
        let mut got = items;
        sort_stably_in_place(&mut got, |item| &item.0);
        assert_eq!(got, expected, "seed {seed}");
    }
}

/// Many people with every kind of outcome: kept, inactive, no join value, a join conflict, an
/// identity the template makes unusable; two sources, a group per hundred people.
fn crowd(people: usize) -> Data {
    let mut d = Data {
        corp: Vec::new(),
        hr: Vec::new(),
        groups: Vec::new(),
        fields: data().fields,
    };
    for i in 0..people {
        // Spread the emails so join order is not record order.
        let n = i.wrapping_mul(7919) % people;
        let email = match i % 97 {
            0 => String::new(),
            1 => format!("p{}@x.io", n.saturating_sub(1)),
            _ => format!("p{n}@x.io"),
        };
        let given = if i % 89 == 0 { "A\u{200D}da" } else { "Ada" };
        let id = format!("u{i}");
        d.corp.push(rec(
            "corp",
            &id,
            &[("email", &email), ("givenName", given), ("title", "T")],
            Some(StatusKind::Active),
        ));
        if i % 3 == 0 {
            let kind = if i % 6 == 0 {
                StatusKind::Inactive
            } else {
                StatusKind::Active
            };
            d.hr.push(rec(
                "hr",
                &format!("E{i}"),
                &[("email", &email), ("title", "Lead")],
                Some(kind),
            ));
        }
    }
    for g in 0..people / 100 {
        d.groups.push(SourceGroup {
            key: SourceKey::new("corp", format!("g{g}")),
            location: format!("cn=g{g},ou=groups,dc=x"),
            attrs: [("name".to_owned(), format!("g{g}"))].into_iter().collect(),
            members: (g * 100..g * 100 + 150)
                .map(|i| SourceKey::new("corp", format!("u{}", i % people)))
                .collect(),
        });
    }
    d
}

#[test]
fn mapping_on_several_threads_gives_what_one_thread_gives() {
    let d = crowd(4_811);
    let mut r = rules();
    r.attrs.insert(
        Attr::UserName,
        crate::mapping::template::Template::compile("{givenName}.{email}").unwrap(),
    );
    let sources = [
        SourceData {
            name: "corp",
            records: &d.corp,
            groups: &d.groups,
            fields: &d.fields,
        },
        SourceData {
            name: "hr",
            records: &d.hr,
            groups: &[],
            fields: &d.fields,
        },
    ];
    let one = map_on(&sources, &r, now(), 1, 1_000);
    let codes: BTreeSet<String> = one.issues.iter().map(|i| format!("{:?}", i.code)).collect();
    assert!(
        codes.len() >= 3 && one.desired.len() > 4_000 && !one.groups.is_empty(),
        "the crowd must hold every outcome: {codes:?}, {} people, {} groups",
        one.desired.len(),
        one.groups.len()
    );
    let one = format!("{one:?}");
    for threads in [2, 3, 4] {
        let many = format!("{:?}", map_on(&sources, &r, now(), threads, 1_000));
        assert!(many == one, "{threads} threads map differently");
    }
}

/// A person's userName and email, mostly one address, are checked once and both come back in the
/// checked form; a different address beside them is still checked on its own.
#[test]
fn one_address_in_two_attributes_is_checked_once_and_kept_in_both() {
    // An internationalised domain comes back in its ASCII form, so a value left unchecked shows.
    let (ann, bob) = ("Ann@bücher.example", "Bob@straße.example");
    let (ann_clean, bob_clean) = (parse_email(ann).unwrap(), parse_email(bob).unwrap());
    assert_ne!(ann_clean, ann);
    let mut values = vec![
        (Attr::UserName, ann.to_owned()),
        (Attr::Email, ann.to_owned()),
        (Attr::Manager, bob.to_owned()),
    ];
    assert_eq!(checked_identity(&mut values), Ok(()));
    let checked: Vec<&str> = values.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(checked, [&ann_clean, &ann_clean, &bob_clean]);

    let mut values = vec![
        (Attr::UserName, "ann@example.com".to_owned()),
        (Attr::Email, "ann@example.com".to_owned()),
        (Attr::Manager, "bob@@example.com".to_owned()),
    ];
    let why = checked_identity(&mut values).unwrap_err();
    assert!(why.contains("manager"), "{why}");

    let mut values = vec![
        (Attr::UserName, "ann@example.com".to_owned()),
        (Attr::Email, "ann@example.com\u{200b}".to_owned()),
    ];
    let why = checked_identity(&mut values).unwrap_err();
    assert!(why.contains("email"), "{why}");
}
