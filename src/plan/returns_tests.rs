//! Rehires and returns: re-adds under a changed email, and admins' decisions about reused emails.

use super::tests::{codes, link_named, ops, person, tuser, Case};
use super::*;
use crate::model::{Lifecycle, SourceKey, UserName};
use chrono::{TimeZone, Utc};

fn readd(plan: &Plan) -> &ReaddUser {
    match &plan.operations[..] {
        [Op::ReaddUser(r)] => r,
        other => panic!("expected one readd-user, got {other:?}"),
    }
}

/// Rehired under the same employee id with a new email: the re-add names the email the account
/// had (so Notion finds that account) and sends the new one as the change.
#[test]
fn a_return_with_a_new_email_readds_the_former_account() {
    let mut c = Case::new();
    c.desired = vec![person("E1", "ada.new@x.io", None, Lifecycle::Active)];
    c.links = vec![link_named("E1", "u1", "ada@x.io", false)];
    let p = c.plan();
    let r = readd(&p);
    assert_eq!(r.user_name, UserName::new("ada.new@x.io"));
    assert_eq!(r.former_user_name, Some(UserName::new("ada@x.io")));
    assert!(
        r.reason.contains("former account as ada@x.io"),
        "{}",
        r.reason
    );
    assert_eq!(r.scim_id, None);

    // Listed as inactive: the account's own (listed) name is the former one.
    let mut kept = tuser("u1", "ada@x.io", "E1", None);
    kept.active = false;
    c.target = vec![kept];
    let p = c.plan();
    let r = readd(&p);
    assert_eq!(r.former_user_name, Some(UserName::new("ada@x.io")));
    assert_eq!(r.scim_id.as_ref().map(|i| i.0.as_str()), Some("u1"));

    // Same email as before: nothing extra to say.
    c.desired = vec![person("E1", "ada@x.io", None, Lifecycle::Active)];
    assert_eq!(readd(&c.plan()).former_user_name, None);
}

/// The new email belongs to another account: re-adding would make the former account take it
/// (Notion refuses, and it would be the wrong person's address anyway): held with a finding.
#[test]
fn a_return_onto_an_email_another_account_holds_is_held() {
    let mut c = Case::new();
    c.desired = vec![person("E1", "bob@x.io", None, Lifecycle::Active)];
    c.target = vec![tuser("u2", "bob@x.io", "S", None)];
    c.links = vec![link_named("E1", "u1", "ada@x.io", false)];
    let p = c.plan();
    assert_eq!(ops(&p), vec![]);
    assert!(codes(&p).contains(&"user-name-held"), "{:?}", codes(&p));
    assert!(p.has_errors());
}

fn confirmed(decision: Reuse) -> Confirmed {
    Confirmed {
        id: 7,
        user_name: UserName::new("a@x.io"),
        key: SourceKey::new("hr", "N1"),
        former_key: SourceKey::new("hr", "E1"),
        decision,
        by: "alice@admin-host".into(),
        at: Utc.with_ymd_and_hms(2026, 11, 26, 17, 0, 0).unwrap(),
    }
}

/// `new`: the person stays held, now as a warning naming who decided, so the nightly run is
/// green but the hold is never silent; the former account is never re-added.
#[test]
fn a_reuse_confirmed_as_someone_new_stays_held_as_a_warning() {
    let mut c = Case::new();
    c.desired = vec![person("N1", "a@x.io", None, Lifecycle::Active)];
    c.links = vec![link_named("E1", "u1", "a@x.io", false)];
    c.confirmations = vec![confirmed(Reuse::New)];
    let p = c.plan();
    assert_eq!(ops(&p), vec![]);
    let f = p
        .findings
        .iter()
        .find(|f| f.code == FindingCode::EmailReused)
        .unwrap();
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("alice@admin-host"), "{}", f.message);
    assert!(!p.has_errors());

    // A decision about another former person does not cover this one.
    c.confirmations[0].former_key = SourceKey::new("hr", "E9");
    assert!(c.plan().has_errors());
    // Nor a `same` decision: that one moved the link when it was recorded.
    c.confirmations = vec![confirmed(Reuse::Same)];
    assert!(c.plan().has_errors());
}

/// `same`: the confirm command moved the former link to the new key, so the person returns
/// through the ordinary re-add, which cites the confirmation and carries its number for apply.
#[test]
fn a_reuse_confirmed_as_the_same_person_readds_and_cites_it() {
    let mut c = Case::new();
    c.desired = vec![person("N1", "a@x.io", None, Lifecycle::Active)];
    c.links = vec![link_named("N1", "u1", "a@x.io", false)];
    c.confirmations = vec![confirmed(Reuse::Same)];
    let p = c.plan();
    let r = readd(&p);
    assert_eq!(r.confirmation, Some(7));
    assert!(
        r.reason
            .contains("confirmed as the same person by alice@admin-host"),
        "{}",
        r.reason
    );
    // Without the decision the same re-add cites nothing.
    c.confirmations.clear();
    assert_eq!(readd(&c.plan()).confirmation, None);
}
