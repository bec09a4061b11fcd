//! The LDAP source against a real OpenLDAP `slapd` (see `support::slapd`) and, for Active
//! Directory behaviour, against a fake AD server built on `ldap3_proto` in this file.
//!
//! Fixture notes: the disabled marker for OpenLDAP is `description=disabled`, given to the
//! connector as `disabled_filter = "(description=disabled)"`. A referral object under the user
//! base makes the read fail (`Error::Referral`): the connector does not chase referrals and a
//! read that skipped part of the tree must not look complete.

use crate::support::slapd::{self, line, Seeded, Slapd, READER_DN, READER_PW, SIZE_LIMIT};
use idbridge::config::{
    LdapAttributes, LdapDialect, LdapQuery, LdapScope, LdapSettings, NestedGroups,
};
use idbridge::connectors::ldap::{self, values, Error, TlsProblem};
use idbridge::connectors::SourceRead;
use idbridge::model::{FindingCode, SourceKey, SourceRecord, StatusKind};
use secrecy::SecretString;
use std::collections::BTreeSet;
use std::time::Duration;

fn settings(url: &str, ou: &str) -> LdapSettings {
    LdapSettings {
        name: "corp".into(),
        url: url::Url::parse(url).unwrap(),
        starttls: false,
        ca_file: None,
        insecure_skip_verify: false,
        bind_dn: Some(READER_DN.into()),
        password: Some(SecretString::from(READER_PW)),
        dialect: LdapDialect::OpenLdap,
        users: LdapQuery {
            base: format!("ou=people,{ou}"),
            scope: LdapScope::Sub,
            filter: "(objectClass=inetOrgPerson)".into(),
        },
        groups: Some(LdapQuery {
            base: format!("ou=groups,{ou}"),
            scope: LdapScope::Sub,
            filter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))".into(),
        }),
        page_size: 100,
        connect_timeout: Duration::from_secs(5),
        search_timeout: Duration::from_secs(30),
        disabled_filter: Some("(description=disabled)".into()),
        nested: NestedGroups::Resolve,
        attributes: LdapAttributes::defaults(LdapDialect::OpenLdap),
        extra_attributes: vec!["uid".into(), "mail".into(), "cn".into()],
        join_attr: "email".into(),
        deleted_base: None,
        keep: None,
    }
}

/// A test OU with `people`, `groups` and `outside` below it.
fn tree(s: &Slapd, name: &str) -> String {
    let ou = s.ou(name);
    s.add(&format!(
        "dn: ou=people,{ou}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{ou}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: ou=outside,{ou}\nobjectClass: organizationalUnit\nou: outside\n"
    ));
    ou
}

/// An inetOrgPerson entry.
fn person(dn: &str, uid: &str, given: &str, sn: &str, mail: Option<&str>, extra: &str) -> String {
    let mut e = format!("dn: {dn}\nobjectClass: inetOrgPerson\n");
    e += &line("uid", uid);
    e += &line("cn", &format!("{given} {sn}"));
    e += &line("givenName", given);
    e += &line("sn", sn);
    e += &line("displayName", &format!("{given} {sn}"));
    if let Some(m) = mail {
        e += &line("mail", m);
    }
    e += extra;
    e + "\n"
}

fn by_login<'a>(read: &'a SourceRead, login: &str) -> &'a SourceRecord {
    read.records
        .iter()
        .find(|r| r.attrs.get("login") == Some(login))
        .unwrap_or_else(|| panic!("no record with login {login}"))
}

fn keys(read: &SourceRead, logins: &[&str]) -> Vec<SourceKey> {
    let mut k: Vec<SourceKey> = logins
        .iter()
        .map(|l| by_login(read, l).key.clone())
        .collect();
    k.sort();
    k
}

const USERS: usize = 2_000;

#[tokio::test]
async fn openldap_directory_is_read_completely() {
    let Some(s) = slapd::slapd() else { return };
    let ou = tree(s, "complete");
    let people = format!("ou=people,{ou}");
    let groups = format!("ou=groups,{ou}");

    // 2,000 generated people (fixed seed), managers every 50.
    let mut rng = Seeded::new(0x1db_0003);
    let given = [
        "Ada", "Bo", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana",
    ];
    let family = [
        "Ito", "Jones", "Kowalski", "Lopez", "Müller", "Nakamura", "Okafor",
    ];
    let titles = ["Engineer", "Designer", "Analyst", "Manager"];
    let mut ldif = String::new();
    for i in 0..USERS {
        let uid = format!("u{i:04}");
        let manager = if i % 50 == 0 {
            String::new()
        } else {
            format!("manager: uid=u{:04},{people}\n", i - i % 50)
        };
        let extra = format!(
            "employeeNumber: E{i:04}\ntitle: {}\ndepartmentNumber: D{}\n{manager}",
            rng.pick(&titles),
            rng.below(9)
        );
        ldif += &person(
            &format!("uid={uid},{people}"),
            &uid,
            rng.pick(&given),
            rng.pick(&family),
            Some(&format!("{uid}@idb.test")),
            &extra,
        );
    }
    s.add(&ldif);

    let mut special = String::new();
    special += &person(
        &format!("uid=zoe,{people}"),
        "zoe",
        "Zoë",
        "Ñúñez",
        Some("zoe@idb.test"),
        "",
    );
    special += &person(
        &format!("uid=watanabe,{people}"),
        "watanabe",
        "健",
        "渡辺",
        Some("watanabe@idb.test"),
        "",
    );
    // Escaped characters in the DN: a comma inside a multi-valued RDN, and a plus sign.
    special += &person(
        &format!("cn=Smith\\, John+uid=jsmith,{people}"),
        "jsmith",
        "John",
        "Smith",
        Some("jsmith@idb.test"),
        "",
    )
    .replace("cn: John Smith\n", "cn: Smith, John\n");
    special += &person(
        &format!("uid=o\\+brien,{people}"),
        "o+brien",
        "Pat",
        "O'Brien",
        Some("obrien@idb.test"),
        "",
    );
    special += &person(
        &format!("uid=dup1,{people}"),
        "dup1",
        "Dee",
        "One",
        Some("shared@idb.test"),
        "",
    );
    special += &person(
        &format!("uid=dup2,{people}"),
        "dup2",
        "Dee",
        "Two",
        Some("shared@idb.test"),
        "",
    );
    special += &person(
        &format!("uid=gone,{people}"),
        "gone",
        "Gus",
        "Gone",
        Some("gone@idb.test"),
        "description: disabled\n",
    );
    special += &person(
        &format!("uid=nomail,{people}"),
        "nomail",
        "Nomi",
        "Mail",
        None,
        "employeeNumber: E9999\n",
    );
    special += &person(
        &format!("uid=outsider,ou=outside,{ou}"),
        "outsider",
        "Otto",
        "Side",
        Some("outsider@idb.test"),
        "",
    );
    s.add(&special);

    let groups_ldif = format!(
        "dn: cn=cyc-a,{groups}\nobjectClass: groupOfNames\ncn: cyc-a\nmember: uid=u0001,{people}\nmember: cn=cyc-b,{groups}\n\n\
         dn: cn=cyc-b,{groups}\nobjectClass: groupOfNames\ncn: cyc-b\nmember: uid=u0002,{people}\nmember: cn=cyc-c,{groups}\n\n\
         dn: cn=cyc-c,{groups}\nobjectClass: groupOfNames\ncn: cyc-c\nmember: uid=u0003,{people}\nmember: CN=Cyc-A,{groups}\n\n\
         dn: cn=eng,{groups}\nobjectClass: groupOfNames\ncn: eng\ndescription: Engineering\n\
         member: uid=u0010,{people}\n\
         member: UID=JSMITH + cn=smith\\2C john , OU=People,{ou}\n\
         member: uid=o\\2bbrien,{people}\n\
         member: uid=outsider,ou=outside,{ou}\n\
         member: uid=nomail,{people}\n\
         member: cn=cyc-a,{groups}\n\n\
         dn: cn=uniq,{groups}\nobjectClass: groupOfUniqueNames\ncn: uniq\n\
         uniqueMember: uid=u0020,{people}#'0101'B\nuniqueMember: uid=zoe,{people}\n\n\
         dn: cn=posix,{groups}\nobjectClass: posixGroup\ncn: posix\ngidNumber: 1000\n\
         memberUid: u0030\nmemberUid: watanabe\nmemberUid: ghost\n"
    );
    s.add(&groups_ldif);

    // Paging is necessary: an unpaged search as the reader stops at the size limit.
    {
        let (conn, mut l) = ldap3::LdapConnAsync::new(&s.url).await.unwrap();
        ldap3::drive!(conn);
        l.simple_bind(READER_DN, READER_PW)
            .await
            .unwrap()
            .success()
            .unwrap();
        let res = l
            .search(
                &people,
                ldap3::Scope::Subtree,
                "(objectClass=inetOrgPerson)",
                vec!["1.1"],
            )
            .await
            .unwrap();
        assert_eq!(res.1.rc, 4, "unpaged search must hit sizeLimitExceeded");
        assert_eq!(res.0.len(), SIZE_LIMIT);
    }

    let read = ldap::read(&settings(&s.url, &ou)).await.unwrap();
    assert_eq!(read.source, "corp");
    assert_eq!(read.records.len(), USERS + 7, "2,000 generated + 7 special");
    let ids: BTreeSet<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids.len(), read.records.len(), "entryUUIDs are unique");
    assert!(ids.iter().all(|id| id.len() == 36), "entryUUID strings");

    // Attributes under canonical and raw names; manager DN → manager's email.
    let u51 = by_login(&read, "u0051");
    assert_eq!(&u51.attrs["email"], "u0051@idb.test");
    assert_eq!(&u51.attrs["mail"], "u0051@idb.test");
    assert_eq!(&u51.attrs["uid"], "u0051");
    assert_eq!(&u51.attrs["employeeId"], "E0051");
    assert_eq!(&u51.attrs["manager"], "u0050@idb.test");
    assert_eq!(&u51.attrs["dn"], format!("uid=u0051,{people}"));
    assert_eq!(u51.location, format!("uid=u0051,{people}"));
    assert!(u51.attrs.contains_key("department"));
    assert!(!by_login(&read, "u0050").attrs.contains_key("manager"));
    for f in [
        "email",
        "givenName",
        "familyName",
        "manager",
        "employeeId",
        "login",
        "dn",
        "uid",
        "mail",
    ] {
        assert!(read.fields.contains(f), "fields has {f}");
    }

    // Non-ASCII, escaped DNs, duplicate email (both read; the join flags it).
    let zoe = by_login(&read, "zoe");
    assert_eq!(
        (&zoe.attrs["givenName"], &zoe.attrs["familyName"]),
        ("Zoë", "Ñúñez")
    );
    assert_eq!(&by_login(&read, "watanabe").attrs["familyName"], "渡辺");
    assert_eq!(&by_login(&read, "jsmith").attrs["cn"], "Smith, John");
    assert_eq!(
        &by_login(&read, "o+brien").attrs["email"],
        "obrien@idb.test"
    );
    let shared: Vec<_> = read
        .records
        .iter()
        .filter(|r| &r.attrs["email"] == "shared@idb.test")
        .collect();
    assert_eq!(shared.len(), 2);

    // Disabled by filter.
    let gone = by_login(&read, "gone").employment.clone().unwrap();
    assert_eq!(
        (gone.kind, gone.status.as_deref()),
        (StatusKind::Disabled, Some("disabled"))
    );
    let active = by_login(&read, "u0001").employment.clone().unwrap();
    assert_eq!(
        (active.kind, active.status.as_deref()),
        (StatusKind::Active, Some("enabled"))
    );

    // The entry without mail is reported, not dropped.
    let invalid: Vec<_> = read
        .issues
        .iter()
        .filter(|i| i.code == FindingCode::SourceEntryInvalid)
        .collect();
    assert_eq!(invalid.len(), 1, "{:?}", read.issues);
    assert!(invalid[0].skipped_person);
    assert_eq!(invalid[0].location, format!("uid=nomail,{people}"));
    assert!(
        invalid[0].hints.contains(&"nomail".to_owned())
            && invalid[0].hints.contains(&"E9999".to_owned())
    );
    assert!(invalid[0].message.contains("mail"));

    // Groups.
    let group = |cn: &str| {
        read.groups
            .iter()
            .find(|g| g.attrs.get("cn").map(String::as_str) == Some(cn))
            .unwrap_or_else(|| panic!("group {cn}"))
    };
    let cycle = keys(&read, &["u0001", "u0002", "u0003"]);
    for cn in ["cyc-a", "cyc-b", "cyc-c"] {
        assert_eq!(group(cn).members, cycle, "{cn}");
    }
    let cycles: Vec<_> = read
        .issues
        .iter()
        .filter(|i| i.code == FindingCode::GroupCycle)
        .collect();
    assert_eq!(cycles.len(), 1, "one cycle reported once");
    assert!(!cycles[0].skipped_person);
    let eng = group("eng");
    assert_eq!(&eng.attrs["description"], "Engineering");
    assert_eq!(&eng.attrs["name"], "eng");
    assert_eq!(eng.attrs["dn"], format!("cn=eng,{groups}"));
    assert_eq!(eng.key.id.len(), 36);
    assert_eq!(
        eng.members,
        keys(
            &read,
            &["u0001", "u0002", "u0003", "u0010", "jsmith", "o+brien"]
        )
    );
    let outside: Vec<_> = read
        .issues
        .iter()
        .filter(|i| i.code == FindingCode::MemberOutsideScope)
        .collect();
    assert_eq!(outside.len(), 2, "{outside:?}");
    assert!(outside
        .iter()
        .any(|i| i.location == format!("cn=eng,{groups}")
            && i.message.contains(&format!("uid=outsider,ou=outside,{ou}"))
            && !i.skipped_person));
    assert!(outside.iter().any(|i| i.message.contains("ghost")));
    assert_eq!(group("uniq").members, keys(&read, &["u0020", "zoe"]));
    assert_eq!(group("posix").members, keys(&read, &["u0030", "watanabe"]));
}

/// A small OU with three people, for the transport tests.
fn small(s: &Slapd, name: &str) -> String {
    let ou = tree(s, name);
    let people = format!("ou=people,{ou}");
    let mut ldif = String::new();
    for u in ["ann", "ben", "cat"] {
        ldif += &person(
            &format!("uid={u},{people}"),
            u,
            u,
            "Small",
            Some(&format!("{u}@idb.test")),
            "",
        );
    }
    // A uid with filter metacharacters, for the injection test.
    ldif += &person(
        &format!("uid=star,{people}"),
        "st*r(x)",
        "Star",
        "Meta",
        Some("star@idb.test"),
        "",
    );
    s.add(&ldif);
    ou
}

#[tokio::test]
async fn ldaps_and_starttls_with_the_test_ca() {
    let Some(s) = slapd::slapd() else { return };
    let ou = small(s, "tls");
    let mut ldaps = settings(&s.ldaps_url, &ou);
    ldaps.ca_file = Some(s.ca_file.clone());
    assert_eq!(ldap::read(&ldaps).await.unwrap().records.len(), 4);

    let mut starttls = settings(&s.url, &ou);
    starttls.starttls = true;
    starttls.ca_file = Some(s.ca_file.clone());
    assert_eq!(ldap::read(&starttls).await.unwrap().records.len(), 4);

    // Certificate verification cannot be skipped by accident, but can on purpose.
    let mut insecure = settings(&s.ldaps_url, &ou);
    insecure.ca_file = Some(s.wrong_ca_file.clone());
    insecure.insecure_skip_verify = true;
    assert_eq!(ldap::read(&insecure).await.unwrap().records.len(), 4);
}

#[tokio::test]
async fn wrong_ca_is_a_clear_tls_error() {
    let Some(s) = slapd::slapd() else { return };
    let ou = small(s, "wrongca");
    for starttls in [false, true] {
        let mut cfg = settings(if starttls { &s.url } else { &s.ldaps_url }, &ou);
        cfg.starttls = starttls;
        cfg.ca_file = Some(s.wrong_ca_file.clone());
        let err = ldap::read(&cfg).await.unwrap_err();
        assert!(matches!(err, Error::Tls { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("TLS handshake") && text.contains("127.0.0.1"),
            "{text}"
        );
        assert!(text.contains("ca_file"), "{text}");
    }
}

#[tokio::test]
async fn wrong_password_is_a_bind_error_that_never_shows_the_password() {
    let Some(s) = slapd::slapd() else { return };
    let ou = small(s, "badpw");
    let canary = "canary-wrong-pw-71d0aa";
    let mut cfg = settings(&s.url, &ou);
    cfg.password = Some(SecretString::from(canary));
    let err = ldap::read(&cfg).await.unwrap_err();
    assert!(matches!(err, Error::Bind { rc: 49, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("invalid credentials") && text.contains(READER_DN),
        "{text}"
    );
    for shown in [text, format!("{err:?}"), format!("{cfg:?}")] {
        assert!(!shown.contains(canary), "password leaked: {shown}");
    }
    // The right password in the settings' Debug output is redacted too.
    assert!(!format!("{:?}", settings(&s.url, &ou)).contains(READER_PW));
}

#[tokio::test]
async fn a_referral_under_the_base_fails_the_read() {
    let Some(s) = slapd::slapd() else { return };
    let ou = small(s, "referral");
    s.add(&format!(
        "dn: ou=branch,ou=people,{ou}\nobjectClass: referral\nobjectClass: extensibleObject\nou: branch\nref: ldap://branch.idb.invalid/ou=people,dc=branch\n"
    ));
    let err = ldap::read(&settings(&s.url, &ou)).await.unwrap_err();
    match &err {
        Error::Referral { refs, .. } => {
            assert!(
                refs.iter().any(|r| r.contains("branch.idb.invalid")),
                "{refs:?}"
            )
        }
        other => panic!("expected a referral error, got {other:?}"),
    }
    assert!(err.to_string().contains("not followed"));
}

#[tokio::test]
async fn filter_values_cannot_inject() {
    let Some(s) = slapd::slapd() else { return };
    let ou = small(s, "inject");
    let base = settings(&s.url, &ou);
    let with_uid = |uid: &str| {
        let mut cfg = base.clone();
        cfg.groups = None;
        cfg.users.filter = values::and(
            "(objectClass=inetOrgPerson)",
            &values::assertion("uid", "", uid),
        );
        cfg
    };
    let attack = ldap::read(&with_uid("*)(uid=*))(|(uid=*")).await.unwrap();
    assert_eq!(attack.records.len(), 0, "the attack matches nothing");
    let star = ldap::read(&with_uid("st*r(x)")).await.unwrap();
    assert_eq!(star.records.len(), 1, "metacharacters match literally");
    assert_eq!(&star.records[0].attrs["login"], "st*r(x)");
}

#[tokio::test]
async fn a_renamed_entry_keeps_its_key() {
    let Some(s) = slapd::slapd() else { return };
    let ou = small(s, "rename");
    let cfg = settings(&s.url, &ou);
    let before = ldap::read(&cfg).await.unwrap();
    let ann = by_login(&before, "ann").key.clone();
    s.modify(
        "ldapmodify",
        &format!(
            "dn: uid=ann,ou=people,{ou}\nchangetype: modrdn\nnewrdn: uid=anne\ndeleteoldrdn: 1\n"
        ),
    );
    let after = ldap::read(&cfg).await.unwrap();
    let anne = by_login(&after, "anne");
    assert_eq!(anne.key, ann);
    assert_eq!(anne.location, format!("uid=anne,ou=people,{ou}"));
}

/// A directory mail that is not a usable address is skipped with the entry's id as the first hint,
/// so a linked person is kept rather than deactivated as absent.
#[tokio::test]
async fn an_entry_whose_mail_is_not_a_usable_address_is_skipped_with_its_id() {
    let Some(s) = slapd::slapd() else { return };
    let ou = small(s, "badmail");
    let cfg = settings(&s.url, &ou);
    let before = ldap::read(&cfg).await.unwrap();
    let ann = by_login(&before, "ann").key.clone();
    s.modify(
        "ldapmodify",
        &format!(
            "dn: uid=ann,ou=people,{ou}\nchangetype: modify\nreplace: mail\nmail: Ann <ann@idb.test>\n"
        ),
    );
    let after = ldap::read(&cfg).await.unwrap();
    assert!(after
        .records
        .iter()
        .all(|r| r.attrs.get("login") != Some("ann")));
    let issue = after
        .issues
        .iter()
        .find(|i| i.code == FindingCode::SourceEntryInvalid)
        .unwrap();
    assert!(issue.skipped_person);
    assert_eq!(issue.hints[0], ann.id);
    assert!(issue.hints.contains(&"ann".to_owned()));
    assert!(
        issue.message.contains("not a usable address"),
        "{}",
        issue.message
    );
}

/// The LDAP source of a config file whose `[mapping]` title is `title_template`, over the
/// people of `ou`.
fn configured(s: &Slapd, ou: &str, title_template: &str) -> (LdapSettings, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "tok\n").unwrap();
    std::fs::write(dir.path().join("bind"), format!("{READER_PW}\n")).unwrap();
    let text = format!(
        "[target]\nkind = \"notion\"\ntoken_file = \"token\"\n\n\
         [[sources]]\nname = \"corp\"\nkind = \"ldap\"\nurl = \"{}\"\n\
         bind_dn = \"{READER_DN}\"\npassword_file = \"bind\"\n\
         users = {{ base = \"ou=people,{ou}\" }}\n\n[mapping]\ntitle = \"{title_template}\"\n",
        s.url
    );
    let settings = idbridge::config::parse(&text, &dir.path().join("idbridge.toml"), dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(idbridge::config::SourceSettings::Ldap(l)) = settings.sources.into_iter().next()
    else {
        panic!("no LDAP source");
    };
    (*l, dir)
}

/// Issue 14: an attribute nothing in the config reads (`title` and the raw copies of the role
/// attributes here, with `[mapping] title` reading `sn`) is neither asked of the server nor kept
/// in the records; the one the template names is both.
#[tokio::test]
async fn only_the_attributes_the_config_reads_are_asked_for_and_kept() {
    let Some(s) = slapd::slapd() else { return };
    let ou = tree(s, "kept");
    let people = format!("ou=people,{ou}");
    s.add(&person(
        &format!("uid=kim,{people}"),
        "kim",
        "Kim",
        "Park",
        Some("kim@idb.test"),
        "title: Engineer\nemployeeNumber: E7\n",
    ));
    let (settings, _dir) = configured(s, &ou, "{corp.sn}");
    let asked = ldap::requested_attributes(&settings);
    assert!(!asked.iter().any(|a| a == "title"), "{asked:?}");
    assert!(asked.iter().any(|a| a == "sn"), "{asked:?}");
    let read = ldap::read(&settings).await.unwrap();
    let kim = by_login(&read, "kim");
    let names: Vec<&str> = kim.attrs.keys().map(String::as_str).collect();
    // The raw copies (`uid`, `mail`, `entryUUID`, …) and the unread canonical title are gone; the
    // default templates still read the canonical names.
    assert_eq!(
        names,
        [
            "displayName",
            "dn",
            "email",
            "employeeId",
            "familyName",
            "givenName",
            "login",
            "sn"
        ]
    );
    assert_eq!(kim.attrs.get("sn"), Some("Park"));
    assert_eq!(kim.attrs.get("employeeId"), Some("E7"));
    assert!(read.fields.contains("sn") && !read.fields.contains("title"));
}

/// With a template that reads the title, it is asked for and kept as before.
#[tokio::test]
async fn an_attribute_a_template_reads_is_still_asked_for_and_kept() {
    let Some(s) = slapd::slapd() else { return };
    let ou = tree(s, "kept-title");
    s.add(&person(
        &format!("uid=lee,ou=people,{ou}"),
        "lee",
        "Lee",
        "Chan",
        Some("lee@idb.test"),
        "title: Designer\n",
    ));
    let (settings, _dir) = configured(s, &ou, "{upper(corp.title)} {corp.mail}");
    let asked = ldap::requested_attributes(&settings);
    assert!(asked.iter().any(|a| a == "title"), "{asked:?}");
    let read = ldap::read(&settings).await.unwrap();
    let lee = by_login(&read, "lee");
    assert_eq!(lee.attrs.get("title"), Some("Designer"));
    assert_eq!(lee.attrs.get("mail"), Some("lee@idb.test"));
}

#[tokio::test]
async fn unreachable_server_and_missing_base_are_errors() {
    let Some(s) = slapd::slapd() else { return };
    let ou = small(s, "missing");
    let mut cfg = settings(&s.url, &ou);
    cfg.users.base = format!("ou=nowhere,{ou}");
    let err = ldap::read(&cfg).await.unwrap_err();
    assert!(matches!(err, Error::Incomplete { rc: 32, .. }), "{err:?}");
    assert!(err.to_string().contains("ou=nowhere"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = settings(&format!("ldap://127.0.0.1:{port}"), &ou);
    let err = ldap::read(&cfg).await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
}

/// Active Directory behaviour against a fake AD server: an in-test LDAP server on `ldap3_proto`
/// that serves a generated directory with binary `objectGUID`s, `userAccountControl`, paged
/// results, ranged `member` retrieval, the in-chain matching rule, tombstones behind the Show
/// Deleted control, over plain TCP or TLS with a chosen certificate, and injected faults
/// (including a StartTLS it does not offer). It counts the binds it receives.
mod fake_ad {
    use super::*;
    use futures::{SinkExt, StreamExt};
    use ldap3_proto::control::LdapControl;
    use ldap3_proto::proto::{
        LdapBindCred, LdapBindResponse, LdapExtendedResponse, LdapFilter, LdapMsg, LdapOp,
        LdapPartialAttribute, LdapResult, LdapResultCode, LdapSearchResultEntry, LdapSearchScope,
    };
    use ldap3_proto::LdapCodec;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio_util::codec::{FramedRead, FramedWrite};

    const BIND_DN: &str = "CN=svc,OU=Service,DC=ad,DC=test";
    const BIND_PW: &str = "canary-ad-pw-3f9a";
    const USERS: &str = "OU=Staff,DC=ad,DC=test";
    const GROUPS: &str = "OU=Groups,DC=ad,DC=test";
    /// Where AD keeps tombstones; the container is hidden without the Show Deleted control.
    const DELETED: &str = "CN=Deleted Objects,DC=ad,DC=test";
    /// RFC 4511 §4.14.1.
    const STARTTLS_OID: &str = "1.3.6.1.4.1.1466.20037";
    /// Values per ranged chunk (AD's MaxValRange is 1500).
    const RANGE: usize = 1500;

    #[derive(Clone, PartialEq, Debug)]
    enum Fault {
        None,
        /// The second page ends with this result code.
        SecondPage(LdapResultCode),
        /// The connection is dropped after the first page.
        DropAfterFirstPage,
        /// Searches are never answered.
        Silent,
        /// The ranged retrieval loses a chunk (answers from a wrong offset).
        RangeGap,
        /// The Show Deleted control is unknown: searches with it are refused, as a critical
        /// control must be (unavailableCriticalExtension).
        NoShowDeleted,
    }

    #[derive(Clone)]
    struct Entry {
        dn: String,
        attrs: Vec<(String, Vec<Vec<u8>>)>,
    }

    /// How the server meets a StartTLS request.
    #[derive(Clone, Debug)]
    enum StartTls {
        /// With an ExtendedResponse carrying this result code.
        Refuse(LdapResultCode),
        /// By closing the connection.
        HangUp,
        /// Not at all (the default, as for any extended operation).
        Ignore,
    }

    struct Dir {
        entries: Vec<Entry>,
        /// Tombstones under `DELETED`, returned only to searches with the Show Deleted control.
        deleted: Vec<Entry>,
        fault: Fault,
        starttls: StartTls,
        /// Filters of in-chain searches, as the server decoded them.
        chain_values: Mutex<Vec<String>>,
        /// Bind requests received, whatever their credentials.
        binds: AtomicUsize,
        /// Searches that carried the Show Deleted control.
        show_deleted: AtomicUsize,
    }

    fn guid(i: u32) -> Vec<u8> {
        let mut g = vec![0u8; 16];
        g[..4].copy_from_slice(&i.to_le_bytes());
        g[4..8].copy_from_slice(&[0x34, 0x12, 0x78, 0x56]);
        g[8..].copy_from_slice(&[0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x02, 0x03, 0x04]);
        g
    }

    fn user(i: u32, name: &str, uac: u32) -> Entry {
        let t = |s: &str| vec![s.as_bytes().to_vec()];
        Entry {
            dn: format!("CN={name},{USERS}"),
            attrs: vec![
                ("objectGUID".into(), vec![guid(i)]),
                ("sAMAccountName".into(), t(name)),
                ("userPrincipalName".into(), t(&format!("{name}@ad.test"))),
                ("mail".into(), t(&format!("{name}@ad.test"))),
                ("givenName".into(), t(name)),
                ("sn".into(), t("Tester")),
                ("department".into(), t("R&D")),
                ("userAccountControl".into(), t(&uac.to_string())),
            ],
        }
    }

    fn group(i: u32, cn: &str, members: Vec<String>) -> Entry {
        Entry {
            dn: format!("CN={cn},{GROUPS}"),
            attrs: vec![
                ("objectGUID".into(), vec![guid(i)]),
                ("cn".into(), vec![cn.as_bytes().to_vec()]),
                (
                    "member".into(),
                    members.into_iter().map(String::into_bytes).collect(),
                ),
            ],
        }
    }

    /// 3,000 users (one disabled: UAC 514 = NORMAL_ACCOUNT | ACCOUNTDISABLE), a group with all
    /// of them (ranged), nested groups, and a group whose DN holds filter metacharacters.
    fn directory(fault: Fault) -> Dir {
        let mut entries: Vec<Entry> = (0..3000u32)
            .map(|i| user(i, &format!("user{i:04}"), if i == 7 { 514 } else { 512 }))
            .collect();
        let all: Vec<String> = (0..3000)
            .map(|i| format!("CN=user{i:04},{USERS}"))
            .collect();
        entries.push(group(10_000, "Everyone", all));
        entries.push(group(10_001, "Inner", vec![format!("cn=user0001,{USERS}")]));
        entries.push(group(
            10_002,
            "Outer",
            vec![format!("CN=Inner,{GROUPS}"), format!("CN=user0002,{USERS}")],
        ));
        entries.push(group(
            10_003,
            "Evil*)(cn=*",
            vec![format!("CN=user0003,{USERS}")],
        ));
        Dir {
            entries,
            deleted: Vec::new(),
            fault,
            starttls: StartTls::Ignore,
            chain_values: Mutex::new(Vec::new()),
            binds: AtomicUsize::new(0),
            show_deleted: AtomicUsize::new(0),
        }
    }

    /// A tombstone of user `name` (MS-ADTS 3.1.1.5.5): the DN mangled into the Deleted Objects
    /// container, `isDeleted`, `lastKnownParent`; once recycled, `isRecycled` and no mail or
    /// `sAMAccountName` any more.
    fn tombstone(i: u32, name: &str, parent: &str, mail: Option<&str>, recycled: bool) -> Entry {
        let t = |s: &str| vec![s.as_bytes().to_vec()];
        let mut attrs = vec![
            ("objectGUID".into(), vec![guid(i)]),
            ("isDeleted".into(), t("TRUE")),
            ("lastKnownParent".into(), t(parent)),
            ("givenName".into(), t(name)),
            ("sn".into(), t("Tester")),
        ];
        if let Some(mail) = mail {
            attrs.push(("mail".into(), t(mail)));
        }
        if recycled {
            attrs.push(("isRecycled".into(), t("TRUE")));
        } else {
            attrs.push(("sAMAccountName".into(), t(name)));
        }
        Entry {
            dn: format!("CN={name}\\0ADEL:{i:08x},{DELETED}"),
            attrs,
        }
    }

    fn under(dn: &str, base: &str) -> bool {
        dn.to_lowercase().ends_with(&base.to_lowercase())
    }

    /// Transitive user members of group `dn` (the in-chain rule, computed server-side).
    fn chain(dir: &Dir, dn: &str, out: &mut BTreeSet<String>, seen: &mut BTreeSet<String>) {
        if !seen.insert(dn.to_lowercase()) {
            return;
        }
        let Some(g) = dir.entries.iter().find(|e| e.dn.eq_ignore_ascii_case(dn)) else {
            return;
        };
        for (_, vals) in g.attrs.iter().filter(|(n, _)| n == "member") {
            for v in vals {
                let m = String::from_utf8(v.clone()).unwrap();
                if under(&m, GROUPS) {
                    chain(dir, &m, out, seen);
                } else {
                    out.insert(m.to_lowercase());
                }
            }
        }
    }

    fn in_chain_value(f: &LdapFilter) -> Option<String> {
        match f {
            LdapFilter::And(parts) => parts.iter().find_map(in_chain_value),
            LdapFilter::Extensible(m)
                if m.matching_rule.as_deref() == Some("1.2.840.113556.1.4.1941") =>
            {
                Some(m.match_value.clone())
            }
            _ => None,
        }
    }

    fn done(msgid: i32, code: LdapResultCode, ctrl: Vec<LdapControl>) -> LdapMsg {
        LdapMsg {
            msgid,
            op: LdapOp::SearchResultDone(LdapResult {
                code,
                matcheddn: String::new(),
                message: String::new(),
                referral: Vec::new(),
            }),
            ctrl,
        }
    }

    /// Start the server on plain TCP; returns its `ldap://` URL.
    async fn serve(dir: Arc<Dir>) -> String {
        serve_on(dir, None).await
    }

    /// Start the server, behind TLS with `tls` (`ldaps://`) or on plain TCP (`ldap://`); returns
    /// its URL. A handshake the client gives up on ends the connection before any LDAP message.
    async fn serve_on(dir: Arc<Dir>, tls: Option<Arc<rustls::ServerConfig>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = match tls {
            Some(_) => format!("ldaps://{addr}"),
            None => format!("ldap://{addr}"),
        };
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let dir = dir.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                talk(dir, tls).await;
                            }
                        }
                        None => talk(dir, stream).await,
                    }
                });
            }
        });
        url
    }

    /// One connection: answer each request until the client leaves or `answer` hangs up.
    async fn talk(dir: Arc<Dir>, stream: impl AsyncRead + AsyncWrite + Unpin) {
        let (r, w) = tokio::io::split(stream);
        let mut reader = FramedRead::new(r, LdapCodec::default());
        let mut writer = FramedWrite::new(w, LdapCodec::default());
        let mut pages = 0;
        while let Some(Ok(msg)) = reader.next().await {
            let replies = answer(&dir, msg, &mut pages);
            let Some(replies) = replies else { return };
            for reply in replies {
                if writer.send(reply).await.is_err() {
                    return;
                }
            }
        }
    }

    /// The answer to a StartTLS request, per the directory's setting.
    fn starttls(dir: &Dir, id: i32) -> Option<Vec<LdapMsg>> {
        match &dir.starttls {
            StartTls::Refuse(code) => Some(vec![LdapMsg {
                msgid: id,
                op: LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res: LdapResult {
                        code: code.clone(),
                        matcheddn: String::new(),
                        message: "TLS not available".into(),
                        referral: Vec::new(),
                    },
                    name: None,
                    value: None,
                }),
                ctrl: Vec::new(),
            }]),
            StartTls::HangUp => None,
            StartTls::Ignore => Some(Vec::new()),
        }
    }

    /// The replies to one request; `None` closes the connection.
    fn answer(dir: &Dir, msg: LdapMsg, pages: &mut usize) -> Option<Vec<LdapMsg>> {
        let id = msg.msgid;
        match msg.op {
            LdapOp::ExtendedRequest(x) if x.name == STARTTLS_OID => starttls(dir, id),
            LdapOp::BindRequest(b) => {
                dir.binds.fetch_add(1, Ordering::SeqCst);
                let ok =
                    matches!(&b.cred, LdapBindCred::Simple(pw) if pw == BIND_PW) && b.dn == BIND_DN;
                Some(vec![LdapMsg {
                    msgid: id,
                    op: LdapOp::BindResponse(LdapBindResponse {
                        res: LdapResult {
                            code: if ok {
                                LdapResultCode::Success
                            } else {
                                LdapResultCode::InvalidCredentials
                            },
                            matcheddn: String::new(),
                            message: String::new(),
                            referral: Vec::new(),
                        },
                        saslcreds: None,
                    }),
                    ctrl: Vec::new(),
                }])
            }
            LdapOp::SearchRequest(req) => {
                if matches!(dir.fault, Fault::Silent) {
                    return Some(Vec::new());
                }
                let show = msg
                    .ctrl
                    .iter()
                    .any(|c| matches!(c, LdapControl::ShowDeleted { .. }));
                if show && dir.fault == Fault::NoShowDeleted {
                    let code = LdapResultCode::UnavailableCriticalExtension;
                    return Some(vec![done(id, code, Vec::new())]);
                }
                if show {
                    dir.show_deleted.fetch_add(1, Ordering::SeqCst);
                } else if under(&req.base, DELETED) {
                    return Some(vec![done(id, LdapResultCode::NoSuchObject, Vec::new())]);
                }
                // Ranged read of one group: `member;range=L-*`.
                if req.scope == LdapSearchScope::Base {
                    let wanted = req.attrs.iter().find_map(|a| {
                        a.to_lowercase()
                            .strip_prefix("member;range=")
                            .map(|r| r.split('-').next().unwrap().parse::<usize>().unwrap())
                    })?;
                    let low = if matches!(dir.fault, Fault::RangeGap) {
                        wanted + 10
                    } else {
                        wanted
                    };
                    let g = dir
                        .entries
                        .iter()
                        .find(|e| e.dn.eq_ignore_ascii_case(&req.base))?;
                    let all = &g.attrs.iter().find(|(n, _)| n == "member")?.1;
                    let high = (low + RANGE).min(all.len());
                    let atype = if high == all.len() {
                        format!("member;range={low}-*")
                    } else {
                        format!("member;range={low}-{}", high - 1)
                    };
                    let entry = LdapMsg {
                        msgid: id,
                        op: LdapOp::SearchResultEntry(LdapSearchResultEntry {
                            dn: g.dn.clone(),
                            attributes: vec![LdapPartialAttribute {
                                atype,
                                vals: all[low..high].to_vec(),
                            }],
                        }),
                        ctrl: Vec::new(),
                    };
                    return Some(vec![entry, done(id, LdapResultCode::Success, Vec::new())]);
                }
                let (size, cookie) = msg
                    .ctrl
                    .iter()
                    .find_map(|c| match c {
                        LdapControl::SimplePagedResults { size, cookie } => {
                            Some((*size as usize, cookie.clone()))
                        }
                        _ => None,
                    })
                    .unwrap_or((usize::MAX, Vec::new()));
                let start: usize = String::from_utf8(cookie).unwrap().parse().unwrap_or(0);
                let matching: Vec<Entry> = match in_chain_value(&req.filter) {
                    Some(group_dn) => {
                        dir.chain_values.lock().unwrap().push(group_dn.clone());
                        let mut members = BTreeSet::new();
                        chain(dir, &group_dn, &mut members, &mut BTreeSet::new());
                        dir.entries
                            .iter()
                            .filter(|e| members.contains(&e.dn.to_lowercase()))
                            .cloned()
                            .collect()
                    }
                    None => dir
                        .entries
                        .iter()
                        .chain(dir.deleted.iter().filter(|_| show))
                        .filter(|e| under(&e.dn, &req.base))
                        .cloned()
                        .collect(),
                };
                *pages += 1;
                if *pages == 2 {
                    match &dir.fault {
                        Fault::DropAfterFirstPage => return None,
                        Fault::SecondPage(code) => {
                            return Some(vec![done(id, code.clone(), Vec::new())])
                        }
                        _ => {}
                    }
                }
                let end = start.saturating_add(size).min(matching.len());
                let mut out: Vec<LdapMsg> = matching[start..end]
                    .iter()
                    .map(|e| {
                        let attributes = e
                            .attrs
                            .iter()
                            .map(|(n, v)| {
                                // AD returns large multi-valued attributes in ranges.
                                if n == "member" && v.len() > RANGE {
                                    LdapPartialAttribute {
                                        atype: format!("member;range=0-{}", RANGE - 1),
                                        vals: v[..RANGE].to_vec(),
                                    }
                                } else {
                                    LdapPartialAttribute {
                                        atype: n.clone(),
                                        vals: v.clone(),
                                    }
                                }
                            })
                            .collect();
                        LdapMsg {
                            msgid: id,
                            op: LdapOp::SearchResultEntry(LdapSearchResultEntry {
                                dn: e.dn.clone(),
                                attributes,
                            }),
                            ctrl: Vec::new(),
                        }
                    })
                    .collect();
                let next = if end < matching.len() {
                    end.to_string().into_bytes()
                } else {
                    Vec::new()
                };
                out.push(done(
                    id,
                    LdapResultCode::Success,
                    vec![LdapControl::SimplePagedResults {
                        size: 0,
                        cookie: next,
                    }],
                ));
                Some(out)
            }
            LdapOp::UnbindRequest => None,
            _ => Some(Vec::new()),
        }
    }

    fn ad_settings(url: &str) -> LdapSettings {
        let mut s = settings(url, "unused");
        s.name = "ad".into();
        s.dialect = LdapDialect::ActiveDirectory;
        s.attributes = LdapAttributes::defaults(LdapDialect::ActiveDirectory);
        s.bind_dn = Some(BIND_DN.into());
        s.password = Some(SecretString::from(BIND_PW));
        s.users = LdapQuery {
            base: USERS.into(),
            scope: LdapScope::Sub,
            filter: "(&(objectCategory=person)(objectClass=user))".into(),
        };
        s.groups = Some(LdapQuery {
            base: GROUPS.into(),
            scope: LdapScope::Sub,
            filter: "(objectClass=group)".into(),
        });
        s.disabled_filter = None;
        s.extra_attributes = Vec::new();
        s.page_size = 1000;
        s
    }

    fn ad_group<'a>(read: &'a SourceRead, cn: &str) -> &'a idbridge::model::SourceGroup {
        read.groups.iter().find(|g| g.attrs["cn"] == cn).unwrap()
    }

    #[tokio::test]
    async fn guids_uac_and_ranged_members() {
        let url = serve(Arc::new(directory(Fault::None))).await;
        let read = ldap::read(&ad_settings(&url)).await.unwrap();
        assert_eq!(read.records.len(), 3000);
        let u1 = read
            .records
            .iter()
            .find(|r| &r.attrs["login"] == "user0001")
            .unwrap();
        // Bytes 01 00 00 00 | 34 12 | 78 56 | 9a bc … → first three groups byte-swapped.
        assert_eq!(u1.key.id, "00000001-1234-5678-9abc-def001020304");
        assert_eq!(&u1.attrs["objectGUID"], u1.key.id);
        assert_eq!(&u1.attrs["upn"], "user0001@ad.test");
        assert_eq!(&u1.attrs["department"], "R&D");
        assert!(!u1.attrs.contains_key("userAccountControl"));
        let kind = |login: &str| {
            let r = read
                .records
                .iter()
                .find(|r| &r.attrs["login"] == login)
                .unwrap();
            r.employment.as_ref().unwrap().kind
        };
        assert_eq!(kind("user0007"), StatusKind::Disabled);
        assert_eq!(kind("user0008"), StatusKind::Active);
        // 3,000 members across two ranged chunks, none lost.
        let everyone = ad_group(&read, "Everyone");
        assert_eq!(everyone.members.len(), 3000);
        assert_eq!(everyone.key.id, "00002710-1234-5678-9abc-def001020304");
        let outer = ad_group(&read, "Outer");
        assert_eq!(
            outer.members.len(),
            2,
            "nested Inner resolved by the connector"
        );
        assert!(read.issues.is_empty(), "{:?}", read.issues);
    }

    #[tokio::test]
    async fn in_chain_rule_asks_the_server_with_escaped_dns() {
        let dir = Arc::new(directory(Fault::None));
        let url = serve(dir.clone()).await;
        let mut cfg = ad_settings(&url);
        cfg.nested = NestedGroups::InChain;
        let read = ldap::read(&cfg).await.unwrap();
        assert_eq!(ad_group(&read, "Outer").members.len(), 2);
        assert_eq!(ad_group(&read, "Evil*)(cn=*").members.len(), 1);
        // The group DN with `*)(` reached the server as one assertion value, not as filter syntax.
        let seen = dir.chain_values.lock().unwrap().clone();
        assert!(
            seen.contains(&format!("CN=Evil*)(cn=*,{GROUPS}")),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn incomplete_reads_are_errors() {
        for (fault, check) in [
            (
                Fault::SecondPage(LdapResultCode::SizeLimitExceeded),
                "result code 4",
            ),
            (
                Fault::SecondPage(LdapResultCode::TimeLimitExceeded),
                "result code 3",
            ),
            (
                Fault::SecondPage(LdapResultCode::AdminLimitExceeded),
                "result code 11",
            ),
            (Fault::DropAfterFirstPage, "connection"),
            (Fault::RangeGap, "CN=Everyone"),
        ] {
            let url = serve(Arc::new(directory(fault.clone()))).await;
            let err = ldap::read(&ad_settings(&url)).await.unwrap_err();
            let text = err.to_string();
            assert!(text.contains(check), "{fault:?}: {text}");
            assert!(text.contains(&url), "{fault:?} names the server: {text}");
            assert!(!text.contains(BIND_PW) && !format!("{err:?}").contains(BIND_PW));
        }
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let url = serve(Arc::new(directory(Fault::Silent))).await;
        let mut cfg = ad_settings(&url);
        cfg.search_timeout = Duration::from_millis(300);
        let err = ldap::read(&cfg).await.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("search_timeout"));
    }

    #[tokio::test]
    async fn wrong_ad_password_is_rc_49() {
        let url = serve(Arc::new(directory(Fault::None))).await;
        let mut cfg = ad_settings(&url);
        cfg.password = Some(SecretString::from("canary-nope-55"));
        let err = ldap::read(&cfg).await.unwrap_err();
        assert!(matches!(err, Error::Bind { rc: 49, .. }), "{err:?}");
        assert!(!format!("{err} {err:?} {cfg:?}").contains("canary-nope-55"));
    }

    /// Neither the error nor its Debug form shows the bind password.
    fn no_password(err: &Error) {
        assert!(!format!("{err} {err:?}").contains(BIND_PW), "{err:?}");
    }

    /// Read through a fake AD that answers StartTLS with `answer`: the error, which must say
    /// where and that there is no fallback, must name `hint`, and no bind may have arrived.
    async fn starttls_refused(answer: StartTls, timeout: Option<Duration>, hint: &str) -> Error {
        let mut dir = directory(Fault::None);
        dir.starttls = answer.clone();
        let dir = Arc::new(dir);
        let url = serve(dir.clone()).await;
        let mut cfg = ad_settings(&url);
        cfg.starttls = true;
        if let Some(timeout) = timeout {
            cfg.connect_timeout = timeout;
        }
        let err = ldap::read(&cfg).await.unwrap_err();
        let text = err.to_string();
        for needle in [
            url.as_str(),
            "does not offer StartTLS",
            "no fallback to clear text",
            "ldaps://",
            hint,
        ] {
            assert!(text.contains(needle), "{answer:?}: `{needle}` in {text}");
        }
        assert_eq!(
            dir.binds.load(Ordering::SeqCst),
            0,
            "{answer:?}: a bind arrived"
        );
        no_password(&err);
        err
    }

    #[tokio::test]
    async fn a_starttls_the_server_does_not_offer_fails_before_any_bind() {
        for (answer, rc) in [
            (StartTls::Refuse(LdapResultCode::ProtocolError), 2),
            (StartTls::Refuse(LdapResultCode::Unavailable), 52),
        ] {
            let err = starttls_refused(answer.clone(), None, "configure TLS on the server").await;
            assert!(
                matches!(&err, Error::StartTls { rc: r, .. } if *r == rc),
                "{answer:?}: {err:?}"
            );
        }
        // A server that hangs up on the request, and one that never answers it: the client
        // library sees both as no answer within `connect_timeout`. Still no bind.
        for answer in [StartTls::HangUp, StartTls::Ignore] {
            let timeout = Some(Duration::from_millis(400));
            let err = starttls_refused(answer.clone(), timeout, "connect_timeout").await;
            assert!(
                matches!(err, Error::StartTlsUnanswered { .. }),
                "{answer:?}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_certificate_for_another_host_or_expired_is_a_clear_tls_error() {
        let certs = crate::support::certs::make();
        let tls = |pair| Some(crate::support::certs::server_config(pair));

        // The control: the same listener with a right certificate is read in full.
        let dir = Arc::new(directory(Fault::None));
        let url = serve_on(dir.clone(), tls(&certs.good)).await;
        let mut cfg = ad_settings(&url);
        cfg.ca_file = Some(certs.ca_file.clone());
        assert_eq!(ldap::read(&cfg).await.unwrap().records.len(), 3000);
        assert!(dir.binds.load(Ordering::SeqCst) > 0);

        for (pair, what) in [
            (&certs.wrong_host, "wrong host"),
            (&certs.expired, "expired"),
        ] {
            let dir = Arc::new(directory(Fault::None));
            let url = serve_on(dir.clone(), tls(pair)).await;
            let mut cfg = ad_settings(&url);
            cfg.ca_file = Some(certs.ca_file.clone());
            let err = ldap::read(&cfg).await.unwrap_err();
            let Error::Tls { problem, .. } = &err else {
                panic!("{what}: expected a TLS error, got {err:?}");
            };
            let text = err.to_string();
            let expected: &[&str] = match problem {
                TlsProblem::WrongHost { host, presented } => {
                    assert_eq!(what, "wrong host", "{err:?}");
                    assert_eq!(host, "127.0.0.1");
                    assert_eq!(presented, &["elsewhere.idb.test".to_owned()]);
                    &[
                        "not valid for the host name `127.0.0.1`",
                        "it names elsewhere.idb.test",
                        "subjectAltName",
                    ]
                }
                TlsProblem::Expired { not_after } => {
                    assert_eq!(what, "expired", "{err:?}");
                    assert_eq!(not_after.as_deref(), Some("2020-12-31T23:59:59Z"));
                    &["expired at 2020-12-31T23:59:59Z", "renewed"]
                }
                other => panic!("{what}: {other:?}: {text}"),
            };
            for needle in
                expected
                    .iter()
                    .chain(&[url.as_str(), "TLS handshake", "insecure_skip_verify"])
            {
                assert!(text.contains(needle), "{what}: `{needle}` in {text}");
            }
            assert_eq!(
                dir.binds.load(Ordering::SeqCst),
                0,
                "{what}: a bind arrived"
            );
            no_password(&err);

            // Only `insecure_skip_verify` gets past it, on purpose.
            cfg.insecure_skip_verify = true;
            assert_eq!(
                ldap::read(&cfg).await.unwrap().records.len(),
                3000,
                "{what}"
            );
        }
    }

    fn record<'a>(read: &'a SourceRead, mail: &str) -> Vec<&'a SourceRecord> {
        read.records
            .iter()
            .filter(|r| &r.attrs["email"] == mail)
            .collect()
    }

    /// Some reads see tombstones without asking (a base at the domain root with the control set
    /// elsewhere, a proxy): `isDeleted`/`isRecycled` make a leaver, or nothing, never an issue.
    #[tokio::test]
    async fn a_tombstone_in_a_read_is_a_leaver_never_an_issue() {
        let mut dir = directory(Fault::None);
        let mut gone = tombstone(20_001, "gone", USERS, Some("gone@ad.test"), false);
        gone.dn = format!("CN=gone,{USERS}");
        let mut recycled = tombstone(20_002, "recycled", USERS, None, true);
        recycled.dn = format!("CN=recycled,{USERS}");
        dir.entries.extend([gone, recycled]);
        let url = serve(Arc::new(dir)).await;
        let read = ldap::read(&ad_settings(&url)).await.unwrap();
        assert!(read.issues.is_empty(), "{:?}", read.issues);
        assert_eq!(read.records.len(), 3001);
        assert_eq!(read.deleted_skipped, 1, "the recycled one, counted");
        let gone = record(&read, "gone@ad.test")[0];
        let employment = gone.employment.as_ref().unwrap();
        assert_eq!(employment.kind, StatusKind::Inactive);
        let (life, reason) =
            idbridge::mapping::lifecycle(gone, "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(life, idbridge::model::Lifecycle::Inactive);
        assert!(reason.contains("isDeleted=TRUE"), "{reason}");
        assert!(!gone.attrs.contains_key("isDeleted"));
    }

    #[tokio::test]
    async fn deleted_objects_are_read_with_the_show_deleted_control_only_when_asked() {
        let mut dir = directory(Fault::None);
        dir.deleted = vec![
            tombstone(20_001, "leaver", USERS, Some("leaver@ad.test"), false),
            tombstone(20_002, "recycled", USERS, None, true),
            // Deleted from another OU: never one of this source's people.
            tombstone(
                20_003,
                "contractor",
                "OU=Contractors,DC=ad,DC=test",
                Some("c@ad.test"),
                false,
            ),
            // The former account of user0005, who was deleted and created again.
            tombstone(20_004, "user0005", USERS, Some("user0005@ad.test"), false),
        ];
        let dir = Arc::new(dir);
        let url = serve(dir.clone()).await;

        let plain = ldap::read(&ad_settings(&url)).await.unwrap();
        assert_eq!(dir.show_deleted.load(Ordering::SeqCst), 0, "not asked for");
        assert_eq!((plain.records.len(), plain.deleted_skipped), (3000, 0));

        let mut cfg = ad_settings(&url);
        cfg.deleted_base = Some(DELETED.into());
        let read = ldap::read(&cfg).await.unwrap();
        assert!(dir.show_deleted.load(Ordering::SeqCst) > 0);
        assert!(read.issues.is_empty(), "{:?}", read.issues);
        assert_eq!(read.records.len(), 3001, "the leaver only");
        let leaver = record(&read, "leaver@ad.test")[0];
        assert_eq!(leaver.key.id, "00004e21-1234-5678-9abc-def001020304");
        let employment = leaver.employment.as_ref().unwrap();
        assert_eq!(employment.kind, StatusKind::Inactive);
        assert_eq!(
            employment.status.as_deref(),
            Some("deleted (isDeleted=TRUE)")
        );
        assert!(record(&read, "c@ad.test").is_empty());
        let again = record(&read, "user0005@ad.test");
        assert_eq!(again.len(), 1);
        assert_eq!(
            again[0].employment.as_ref().unwrap().kind,
            StatusKind::Active
        );
        assert_eq!(
            read.deleted_skipped, 2,
            "the recycled one and the former account"
        );

        // A server that does not know the control refuses the search: the read fails whole.
        let mut refusing = directory(Fault::NoShowDeleted);
        refusing.deleted = vec![tombstone(20_001, "leaver", USERS, Some("l@ad.test"), false)];
        let url = serve(Arc::new(refusing)).await;
        let mut cfg = ad_settings(&url);
        cfg.deleted_base = Some(DELETED.into());
        let err = ldap::read(&cfg).await.unwrap_err();
        assert!(
            matches!(err, Error::DeletedObjects { rc: 12, .. }),
            "{err:?}"
        );
        let text = err.to_string();
        for needle in [
            url.as_str(),
            DELETED,
            "nothing is used",
            "deleted_objects = false",
        ] {
            assert!(text.contains(needle), "`{needle}` in {text}");
        }
        no_password(&err);
    }

    /// `n` users and nothing else, for syncs through the binary.
    fn staff(n: u32) -> Dir {
        let mut dir = directory(Fault::None);
        dir.entries = (0..n)
            .map(|i| user(i, &format!("user{i:04}"), 512))
            .collect();
        dir
    }

    /// The whole path through the binary: a user deleted from AD is deactivated by the next
    /// sync, with the tombstone as the reason, only when `deleted_objects` asks for tombstones;
    /// without it the person is merely absent, and the absence grace keeps them.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_user_deleted_from_ad_is_deactivated_through_the_binary() {
        use crate::support::{Workspace, OWNER};
        let ws = Workspace::new().await;
        std::fs::write(ws.path("ad-pw"), format!("{BIND_PW}\n")).unwrap();
        let config = |url: &str, deleted: bool| {
            let text = format!(
                "[store]\nurl = \"{store}\"\n\n[target]\nname = \"test\"\nkind = \"notion\"\nurl = \"{scim}\"\n\
                 token_file = \"token\"\ntoken_owner = \"{OWNER}\"\nrate_limit = 0\ntimeout = \"5s\"\n\n\
                 [[sources]]\nname = \"ad\"\nkind = \"ldap\"\nurl = \"{url}\"\ndialect = \"ad\"\nbind_dn = \"{BIND_DN}\"\n\
                 password_file = \"ad-pw\"\nusers = {{ base = \"{USERS}\" }}\ndeleted_objects = {deleted}\n\n\
                 [policy]\nmax_deactivations = 5\n",
                store = ws.store_url,
                scim = ws.running.base_url(),
            );
            std::fs::write(ws.path("idbridge.toml"), text).unwrap();
        };
        let before = serve(Arc::new(staff(4))).await;
        config(&before, true);
        ws.idbridge(&["sync"]).await.expect(0);
        assert!(ws.active_names().contains(&"user0001@ad.test".to_owned()));

        // user0001 is deleted: gone from the OU, a tombstone in Deleted Objects; an older,
        // recycled tombstone has no mail left.
        let mut after = staff(4);
        after.entries.retain(|e| !e.dn.starts_with("CN=user0001,"));
        after.deleted = vec![
            tombstone(1, "user0001", USERS, Some("user0001@ad.test"), false),
            tombstone(90, "old", USERS, None, true),
        ];
        let after = serve(Arc::new(after)).await;
        let deactivations = |plan: &serde_json::Value| -> Vec<(String, String)> {
            plan["operations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["op"] == "deactivate-user")
                .map(|o| {
                    let field = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
                    (field("userName"), field("reason"))
                })
                .collect()
        };

        config(&after, false);
        let plan = ws
            .idbridge(&["plan", "--format", "json"])
            .await
            .expect(0)
            .json();
        assert!(deactivations(&plan).is_empty(), "absent only: {plan:#}");
        let pending = plan["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "pending-deactivation");
        assert!(pending, "the absence grace holds them: {plan:#}");

        config(&after, true);
        let check = ws.idbridge(&["check-config"]).await.expect(0);
        assert!(
            check
                .stdout
                .contains("source ad: 4 valid people, 0 rows skipped, 1 deleted entries (tombstones) left out"),
            "{}",
            check.stdout
        );
        let plan = ws
            .idbridge(&["plan", "--format", "json"])
            .await
            .expect(0)
            .json();
        let found = deactivations(&plan);
        assert_eq!(found.len(), 1, "{plan:#}");
        assert_eq!(found[0].0, "user0001@ad.test");
        assert!(found[0].1.contains("isDeleted=TRUE"), "{}", found[0].1);
        ws.idbridge(&["sync"]).await.expect(0);
        let active = ws.active_names();
        assert!(
            !active.contains(&"user0001@ad.test".to_owned()),
            "{active:?}"
        );
        assert!(
            active.contains(&"user0002@ad.test".to_owned()),
            "{active:?}"
        );
    }
}
