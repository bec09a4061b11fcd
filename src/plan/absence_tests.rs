//! Absence grace scenarios: counted and uncounted runs, both thresholds, a return within the
//! grace, HR terminations, movers out of scope, and the checks a saved plan must pass.

use super::tests::{codes, link, ops, person, tuser, Case};
use super::*;
use crate::model::{Lifecycle, SourceIssue};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

fn day(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, n, 2, 0, 0).unwrap()
}

/// Ada (E1) and Bob (E2) are linked and active; the policy's grace is the default (2 runs, 24 h).
fn case() -> Case {
    let mut c = Case::new();
    c.policy.absence_grace = AbsenceGrace::default();
    c.target = vec![
        tuser("u1", "ada@x.io", "E1", None),
        tuser("u2", "bob@x.io", "E2", None),
    ];
    c.links = vec![link("E1", "u1"), link("E2", "u2")];
    c.desired = vec![
        person("E1", "ada@x.io", None, Lifecycle::Active),
        person("E2", "bob@x.io", None, Lifecycle::Active),
    ];
    c
}

/// What an applying run of `plan` leaves in the store, as the next plan reads it (the CLI's
/// `record_absences` does this through the store).
fn recorded(plan: &Plan, before: &[Absence]) -> Vec<Absence> {
    match absences::to_record(plan) {
        None => before.to_vec(),
        Some(people) => people
            .into_iter()
            .map(|(p, since)| Absence {
                key: p.source_key,
                since,
                runs: p.runs,
            })
            .collect(),
    }
}

fn pending(plan: &Plan) -> Vec<&str> {
    plan.findings
        .iter()
        .filter(|f| f.code == FindingCode::PendingDeactivation)
        .map(|f| f.message.as_str())
        .collect()
}

fn deactivated(plan: &Plan) -> Vec<String> {
    ops(plan)
        .into_iter()
        .filter(|(k, _)| *k == OpKind::DeactivateUser)
        .map(|(_, name)| name)
        .collect()
}

/// Run `c` on `now` and record what it would, as a `sync` does.
fn run(c: &mut Case, now: DateTime<Utc>) -> Plan {
    c.now = now;
    let plan = c.plan();
    c.absences = recorded(&plan, &c.absences);
    plan
}

#[test]
fn an_absent_person_is_pending_through_both_thresholds_then_deactivated_once() {
    let mut c = case();
    c.desired.retain(|d| d.key.id != "E2");
    let first = run(&mut c, day(1));
    assert!(deactivated(&first).is_empty());
    assert!(first.absence.counted);
    let message = pending(&first)[0];
    assert!(
        message.contains("bob@x.io: hr: absent from every source"),
        "{message}"
    );
    assert!(
        message.contains("kept until 2026-11-02T02:00:00Z"),
        "{message}"
    );
    assert!(message.contains("(1 so far)"), "{message}");
    assert_eq!(first.absence.people[0].due_at, "2026-11-02T02:00:00Z");
    // A second run a day later: 24 h have passed but only one earlier counted run missed Bob.
    let second = run(&mut c, day(2));
    assert!(deactivated(&second).is_empty());
    assert_eq!(second.absence.people[0].runs, 2);
    assert_eq!(second.absence.people[0].since, "2026-11-01T02:00:00Z");
    let third = run(&mut c, day(3));
    assert_eq!(deactivated(&third), vec!["bob@x.io".to_owned()]);
    let Op::DeactivateUser(d) = &third.operations[0] else {
        panic!("{:?}", third.operations)
    };
    assert!(
        d.reason
            .contains("missing since 2026-11-01T02:00:00Z in 2 counted runs"),
        "{}",
        d.reason
    );
    assert!(pending(&third).is_empty());
    // Once out of the workspace (the link deactivated), nobody is gone any more: once only.
    c.target[1].active = false;
    c.links[1].active = false;
    let fourth = run(&mut c, day(4));
    assert!(deactivated(&fourth).is_empty());
    assert!(c.absences.is_empty());
}

#[test]
fn the_duration_holds_even_when_the_runs_are_done() {
    let mut c = case();
    c.policy.absence_grace = AbsenceGrace {
        runs: 2,
        duration: TimeDelta::hours(72),
    };
    c.desired.retain(|d| d.key.id != "E2");
    // Three runs in one night: the run count is reached, not the duration.
    for hour in [0, 1, 2, 3] {
        let plan = run(&mut c, day(1) + TimeDelta::hours(hour));
        assert!(deactivated(&plan).is_empty(), "run at +{hour}h");
    }
    assert_eq!(c.absences[0].runs, 4);
    assert!(deactivated(&run(&mut c, day(3) + TimeDelta::hours(23))).is_empty());
    assert_eq!(
        deactivated(&run(&mut c, day(4))),
        vec!["bob@x.io".to_owned()]
    );
}

#[test]
fn a_return_within_the_grace_cancels_it_with_nothing_written() {
    let mut c = case();
    let bob = c.desired.pop().unwrap();
    run(&mut c, day(1));
    assert_eq!(c.absences.len(), 1);
    c.desired.push(bob);
    let back = run(&mut c, day(2));
    assert!(back.operations.is_empty(), "{:?}", back.operations);
    assert!(pending(&back).is_empty());
    assert!(c.absences.is_empty());
    // Gone again later: the grace starts over.
    c.desired.pop();
    let again = run(&mut c, day(3));
    assert_eq!(again.absence.people[0].runs, 1);
    assert!(deactivated(&again).is_empty());
}

#[test]
fn an_uncounted_run_neither_advances_nor_resets_the_count() {
    let mut c = case();
    c.desired.retain(|d| d.key.id != "E2");
    run(&mut c, day(1));
    // A skipped row that names Ada only: the read may be incomplete, so the run does not count.
    c.issues = vec![SourceIssue {
        source: "hr".into(),
        location: "hr.csv line 7".into(),
        code: FindingCode::SourceRowInvalid,
        message: "unknown status".into(),
        skipped_person: true,
        hints: vec!["E9".into()],
    }];
    for n in 2..=5 {
        let held = run(&mut c, day(n));
        assert!(!held.absence.counted);
        assert!(held.absence.not_counted[0].contains("hr: hr.csv line 7"));
        assert!(pending(&held)[0].contains("this run does not count"));
        assert!(deactivated(&held).is_empty(), "day {n}");
    }
    assert_eq!(c.absences[0].runs, 1);
    c.issues.clear();
    assert!(deactivated(&run(&mut c, day(6))).is_empty());
    assert_eq!(
        deactivated(&run(&mut c, day(7))),
        vec!["bob@x.io".to_owned()]
    );
}

#[test]
fn inconsistent_reads_and_a_blocked_guardrail_do_not_count() {
    let mut c = case();
    c.desired.clear();
    c.consistent = false;
    let p = run(&mut c, day(1));
    assert!(!p.absence.counted);
    assert!(c.absences.is_empty());
    c.consistent = true;
    c.policy.absence_grace = AbsenceGrace::NONE;
    c.policy.max_deactivations = Threshold::Count(1);
    let p = run(&mut c, day(1));
    assert!(p.blocked);
    assert!(p
        .absence
        .not_counted
        .contains(&"the deactivation guardrail blocked the plan".to_owned()));
    assert!(absences::to_record(&p).is_none());
    c.policy.force = true;
    let forced = run(&mut c, day(1));
    assert!(forced.absence.counted);
}

#[test]
fn a_zero_grace_deactivates_at_once_and_terminations_ignore_the_grace() {
    let mut c = case();
    c.policy.absence_grace = AbsenceGrace::NONE;
    c.desired.retain(|d| d.key.id != "E2");
    assert_eq!(deactivated(&c.plan()), vec!["bob@x.io".to_owned()]);
    // An explicit termination (HR status or a past termination date: mapping says inactive)
    // acts at once under any grace, and is never "pending".
    let mut c = case();
    c.policy.absence_grace = AbsenceGrace {
        runs: 5,
        duration: TimeDelta::days(30),
    };
    c.desired[1].lifecycle = Lifecycle::Inactive;
    let p = c.plan();
    assert_eq!(deactivated(&p), vec!["bob@x.io".to_owned()]);
    assert!(p.absence.people.is_empty());
    // A termination date still ahead is announced, not acted on.
    c.desired[1].lifecycle = Lifecycle::Active;
    c.desired[1].leaving = Some(crate::model::Leaving {
        last_day: chrono::NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
        effective: Utc.with_ymd_and_hms(2026, 12, 25, 0, 0, 0).unwrap(),
        timezone: chrono_tz::UTC,
        fact: "hr: termination_date=2026-12-24".into(),
    });
    let p = c.plan();
    assert!(deactivated(&p).is_empty());
    assert!(codes(&p).contains(&"termination-scheduled"));
}

#[test]
fn a_mover_out_of_scope_gets_the_grace_with_the_rule_named() {
    let mut c = case();
    c.desired[1].lifecycle = Lifecycle::Inactive;
    c.desired[1].out_of_scope =
        Some("department is `sales`, not one of Eng ([scope] where)".into());
    c.desired[1].reason = "out of scope: department is `sales`".into();
    let first = run(&mut c, day(1));
    assert!(deactivated(&first).is_empty());
    assert!(
        pending(&first)[0]
            .contains("out of scope: department is `sales`, not one of Eng ([scope] where)"),
        "{:?}",
        pending(&first)
    );
    run(&mut c, day(2));
    let third = run(&mut c, day(3));
    assert_eq!(deactivated(&third), vec!["bob@x.io".to_owned()]);
    let Op::DeactivateUser(d) = &third.operations[0] else {
        panic!()
    };
    assert!(d.reason.starts_with("out of scope: "), "{}", d.reason);
    // A department change is a patch, never a leaver.
    let mut c = case();
    c.desired[1]
        .attrs
        .insert(crate::model::Attr::Title, "Sales".into());
    let p = c.plan();
    assert_eq!(ops(&p), vec![(OpKind::PatchUser, "bob@x.io".into())]);
    assert!(p.absence.people.is_empty());
}

#[test]
fn a_disabled_directory_account_is_deactivated_at_once_unless_the_policy_gives_it_the_grace() {
    let disable = |c: &mut Case| {
        c.desired[1].lifecycle = Lifecycle::Inactive;
        c.desired[1].reason = "corp: status=disabled (cn=bob,ou=people)".into();
        c.desired[1].disabled = Some(c.desired[1].reason.clone());
    };
    // The default: the directory's word is taken at once, whatever the grace.
    let mut c = case();
    disable(&mut c);
    let p = run(&mut c, day(1));
    assert_eq!(deactivated(&p), vec!["bob@x.io".to_owned()]);
    assert!(p.absence.people.is_empty());
    // `disabled_accounts = "grace"`: pending through the grace, named, then deactivated once.
    let mut c = case();
    c.policy.disabled_accounts = DisabledAccounts::Grace;
    disable(&mut c);
    let first = run(&mut c, day(1));
    assert!(deactivated(&first).is_empty());
    assert!(
        pending(&first)[0].contains("directory account disabled (corp: status=disabled"),
        "{:?}",
        pending(&first)
    );
    run(&mut c, day(2));
    let third = run(&mut c, day(3));
    assert_eq!(deactivated(&third), vec!["bob@x.io".to_owned()]);
    // Enabled again within the grace: nothing written, the absence dropped.
    let mut c = case();
    c.policy.disabled_accounts = DisabledAccounts::Grace;
    disable(&mut c);
    run(&mut c, day(1));
    c.desired[1] = person("E2", "bob@x.io", None, Lifecycle::Active);
    let back = run(&mut c, day(2));
    assert!(back.operations.is_empty(), "{:?}", ops(&back));
    assert!(c.absences.is_empty());
    // A saved plan's deactivation of a disabled account is checked against the mode too.
    let mut c = case();
    disable(&mut c);
    let at_once = c.plan();
    assert!(absences::verify(
        &at_once,
        &[],
        c.policy.absence_grace,
        DisabledAccounts::Deactivate,
        &c.desired
    )
    .is_empty());
    let v = absences::verify(
        &at_once,
        &[],
        c.policy.absence_grace,
        DisabledAccounts::Grace,
        &c.desired,
    );
    assert!(v.iter().any(|m| m.contains("has not run out")), "{v:?}");
}

#[test]
fn the_plan_file_keeps_the_section_and_round_trips() {
    let mut c = case();
    c.desired.retain(|d| d.key.id != "E2");
    let p = run(&mut c, day(1));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["absence"]["counted"], true);
    assert_eq!(json["absence"]["people"][0]["sourceKey"], "hr:E2");
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, p);
    // Nobody gone, counted: no section at all, so such plans read as they always did.
    let quiet = case().plan();
    assert!(serde_json::to_value(&quiet)
        .unwrap()
        .get("absence")
        .is_none());
}

#[test]
fn a_saved_plan_is_checked_against_the_stored_absences_and_the_grace() {
    let mut c = case();
    c.desired.retain(|d| d.key.id != "E2");
    run(&mut c, day(1));
    run(&mut c, day(2));
    let stored = c.absences.clone();
    c.now = day(3);
    let due = c.plan();
    assert_eq!(deactivated(&due), vec!["bob@x.io".to_owned()]);
    let grace = AbsenceGrace::default();
    assert!(absences::verify(
        &due,
        &stored,
        grace,
        DisabledAccounts::Deactivate,
        &c.desired
    )
    .is_empty());
    // Another run recorded in between: the plan no longer rests on what is stored.
    let mut moved = stored.clone();
    moved[0].runs += 1;
    assert!(absences::verify(
        &due,
        &moved,
        grace,
        DisabledAccounts::Deactivate,
        &c.desired
    )[0]
    .contains("stored absences changed"));
    // A longer grace configured since: the deactivation is no longer allowed.
    let longer = AbsenceGrace { runs: 3, ..grace };
    assert!(absences::verify(
        &due,
        &stored,
        longer,
        DisabledAccounts::Deactivate,
        &c.desired
    )[0]
    .contains("has not run out"));
    // A deactivation of a gone person edited into a first-night plan is refused.
    let mut c = case();
    c.desired.retain(|d| d.key.id != "E2");
    c.now = day(1);
    let mut forged = c.plan();
    forged.operations = due.operations.clone();
    let v = absences::verify(
        &forged,
        &[],
        grace,
        DisabledAccounts::Deactivate,
        &c.desired,
    );
    assert!(v.iter().any(|m| m.contains("has not run out")), "{v:?}");
    // A termination is not the grace's business.
    let mut terminated = c.desired.clone();
    terminated.push(person("E2", "bob@x.io", None, Lifecycle::Inactive));
    assert!(absences::verify(
        &forged,
        &[],
        grace,
        DisabledAccounts::Deactivate,
        &terminated
    )
    .is_empty());
}
