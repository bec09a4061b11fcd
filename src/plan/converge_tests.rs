//! The convergence guard's scenarios: refused writes held until the source changes or a retry.

use super::tests::{codes, link, ops, person, tuser, Case};
use super::*;
use crate::model::{Attr, Lifecycle, ScimId};

fn refused(id: &str, attr: Attr, sent: &str) -> PastWrite {
    PastWrite {
        scim_id: ScimId(id.to_owned()),
        attr,
        sent: Some(sent.to_owned()),
        outcome: PastOutcome::Refused {
            reason: "x@other.test is not in a verified domain".to_owned(),
        },
    }
}

/// Ada (other.test) wants a new given name and title; the given name was refused last time.
fn case() -> Case {
    let mut c = Case::new();
    let mut ada = person("E1", "ada@other.test", Some("Lead"), Lifecycle::Active);
    ada.attrs.insert(Attr::GivenName, "Adele".into());
    c.desired = vec![ada];
    c.target = vec![tuser("u1", "ada@other.test", "Ada", Some("Engineer"))];
    c.links = vec![link("E1", "u1")];
    c.writes = vec![refused("u1", Attr::GivenName, "Adele")];
    c
}

#[test]
fn a_refused_change_is_held_with_one_finding_and_the_rest_goes_on() {
    let p = case().plan();
    assert_eq!(ops(&p), vec![(OpKind::PatchUser, "ada@other.test".into())]);
    let attrs: Vec<&str> = p.operations[0]
        .changes()
        .iter()
        .map(|c| c.attr.as_ref())
        .collect();
    assert_eq!(attrs, ["title"], "only the refused attribute is held");
    assert_eq!(codes(&p), ["write-refused"]);
    let f = &p.findings[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("--retry-refused"), "{}", f.message);
    assert!(f.message.contains("verify the domain"), "{}", f.message);
    assert!(
        f.message.contains("Domains: other.test (ada@other.test)"),
        "{}",
        f.message
    );
    assert_eq!(
        f.sources,
        ["ada@other.test: name.givenName = \"Adele\" refused: x@other.test is not in a verified domain"]
    );
}

#[test]
fn a_new_source_value_or_a_retry_sends_it_again() {
    let mut c = case();
    c.desired[0].attrs.insert(Attr::GivenName, "Addie".into());
    let p = c.plan();
    assert_eq!(p.operations[0].changes().len(), 2);
    assert!(codes(&p).is_empty(), "{:?}", p.findings);

    let mut c = case();
    c.policy.retry_refused = true;
    let p = c.plan();
    assert_eq!(p.operations[0].changes().len(), 2);
    assert!(codes(&p).is_empty(), "{:?}", p.findings);
}

#[test]
fn a_leaver_with_a_refused_change_is_still_deactivated() {
    let mut c = case();
    c.desired[0].lifecycle = Lifecycle::Inactive;
    let p = c.plan();
    assert_eq!(
        ops(&p),
        vec![(OpKind::DeactivateUser, "ada@other.test".into())]
    );
}

#[test]
fn only_the_held_change_goes_when_nothing_else_differs() {
    let mut c = case();
    c.desired[0].attrs.insert(Attr::Title, "Engineer".into());
    let p = c.plan();
    assert!(ops(&p).is_empty(), "{:?}", p.operations);
    assert_eq!(codes(&p), ["write-refused"]);
}

fn applied(id: &str, attr: Attr, sent: Option<&str>, read_back: Option<&str>) -> PastWrite {
    PastWrite {
        scim_id: ScimId(id.to_owned()),
        attr,
        sent: sent.map(str::to_owned),
        outcome: PastOutcome::Applied {
            read_back: read_back.map(str::to_owned),
        },
    }
}

/// Ada wants the title `Lead`; the target shows `lead`.
fn lowered(read_back: Option<&str>) -> Case {
    let mut c = Case::new();
    c.desired = vec![person("E1", "ada@x.io", Some("Lead"), Lifecycle::Active)];
    c.target = vec![tuser("u1", "ada@x.io", "E1", Some("lead"))];
    c.links = vec![link("E1", "u1")];
    c.writes = vec![applied("u1", Attr::Title, Some("Lead"), read_back)];
    c
}

#[test]
fn a_value_the_target_did_not_keep_is_not_sent_again() {
    let p = lowered(Some("lead")).plan();
    assert!(ops(&p).is_empty(), "{:?}", p.operations);
    assert_eq!(codes(&p), ["attribute-not-converging"]);
    assert_eq!(
        p.findings[0].sources,
        ["ada@x.io: title sent \"Lead\", read back \"lead\""]
    );
    assert!(
        p.findings[0].message.contains("(title)"),
        "{}",
        p.findings[0].message
    );
}

#[test]
fn drift_a_new_source_value_or_a_dropped_attribute() {
    // The target kept `Lead` after the patch; `lead` now is someone's edit: patched again.
    let p = lowered(Some("Lead")).plan();
    assert_eq!(ops(&p), vec![(OpKind::PatchUser, "ada@x.io".into())]);
    assert!(codes(&p).is_empty(), "{:?}", p.findings);
    // It showed something else after the patch than it shows now: patched again.
    let p = lowered(Some("LEAD")).plan();
    assert_eq!(ops(&p), vec![(OpKind::PatchUser, "ada@x.io".into())]);
    // The source changed since: a new value is sent.
    let mut c = lowered(Some("lead"));
    c.desired[0].attrs.insert(Attr::Title, "Boss".into());
    assert_eq!(ops(&c.plan()), vec![(OpKind::PatchUser, "ada@x.io".into())]);
    // A target that drops the attribute: held once it showed nothing after the patch.
    let mut c = lowered(None);
    c.target[0].attrs.remove(&Attr::Title);
    let p = c.plan();
    assert!(ops(&p).is_empty(), "{:?}", p.operations);
    assert_eq!(
        p.findings[0].sources,
        ["ada@x.io: title sent \"Lead\", read back (no value)"]
    );
}
