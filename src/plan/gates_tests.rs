//! Unit tests of the source health gates: each gate at its boundaries (exactly at the threshold
//! passes, one more fires), percent against count, a first run with no baseline, an empty
//! baseline, overrides, and what a verdict does to a plan.

use super::gates::*;
use super::op::{DeactivateUser, Members, Op, Plan, Severity, TargetRef, Watch, PLAN_VERSION};
use super::{plan_digest, FindingCode, Threshold};
use crate::model::{ScimId, SourceGroup, SourceKey, SourceRecord, UserName};
use std::collections::BTreeMap;

fn person(id: &str, attrs: &[(&str, &str)]) -> SourceRecord {
    SourceRecord {
        key: SourceKey::new("hr", id),
        location: format!("hr.csv line {id}"),
        attrs: attrs
            .iter()
            .map(|(a, v)| ((*a).to_owned(), (*v).to_owned()))
            .collect(),
        employment: None,
    }
}

/// `n` people `E0..` with a title and an email.
fn people(n: usize, title: &str) -> Vec<SourceRecord> {
    (0..n)
        .map(|i| {
            person(
                &format!("E{i}"),
                &[("email", &format!("p{i}@x.test")), ("title", title)],
            )
        })
        .collect()
}

fn group(id: &str, members: usize) -> SourceGroup {
    SourceGroup {
        key: SourceKey::new("corp", id),
        location: format!("cn={id},ou=groups"),
        attrs: [("cn".to_owned(), id.to_owned())].into_iter().collect(),
        members: (0..members)
            .map(|i| SourceKey::new("corp", format!("U{i}")))
            .collect(),
    }
}

fn baseline(summary: ReadSummary) -> BTreeMap<String, Baseline> {
    [(
        "hr".to_owned(),
        Baseline {
            run_id: 7,
            taken_at: "2026-11-30T02:00:00Z".to_owned(),
            summary,
        },
    )]
    .into_iter()
    .collect()
}

fn judge(now: ReadSummary, base: Option<ReadSummary>, gates: &Gates) -> Vec<GateHit> {
    let bases = base.map(baseline).unwrap_or_default();
    evaluate(&[("hr".to_owned(), now)], &bases, gates)
}

fn gates_of(f: impl FnOnce(&mut GateRules)) -> Gates {
    let mut gates = Gates::default();
    f(&mut gates.default);
    gates
}

fn fired(hits: &[GateHit]) -> Vec<Gate> {
    hits.iter().map(|h| h.gate).collect()
}

#[test]
fn the_summary_keeps_counts_and_fingerprints_never_values() {
    let s = summarize(&people(3, "Engineer"), &[group("eng", 2)]);
    assert_eq!(s.people, 3);
    assert_eq!(s.present.get("title"), Some(&3));
    let text = serde_json::to_string(&s).unwrap_or_default();
    assert!(
        !text.contains("Engineer") && !text.contains("p0@x.test"),
        "{text}"
    );
    assert_eq!(s.groups.get("eng").map(|g| g.members), Some(2));
    assert_eq!(s.groups.get("eng").map(|g| g.name.as_str()), Some("eng"));
    // Same value, same fingerprint; another value, another.
    let again = summarize(&people(3, "Engineer"), &[]);
    let other = summarize(&people(3, "Engineer II"), &[]);
    assert_eq!(s.fingerprints, again.fingerprints);
    assert_ne!(s.fingerprints, other.fingerprints);
}

#[test]
fn fingerprints_are_stored_as_every_earlier_baseline_has_them() {
    // The first 16 hex digits of SHA-256("attr" NUL "value"), ids and attributes in order: what
    // the baselines kept before the prints were held compactly (computed apart with sha256sum).
    let s = summarize(&people(1, "Engineer"), &[]);
    let text = serde_json::to_string(&s.fingerprints).unwrap_or_default();
    assert_eq!(
        text,
        r#"{"E0":{"email":"b9744c5ce24bc5b5","title":"912d3ffe6847c53e"}}"#
    );
    let back: Fingerprints = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(back, s.fingerprints);
}

#[test]
fn a_first_run_is_judged_only_by_min_people_and_coverage() {
    let now = summarize(&people(3, "Engineer"), &[]);
    assert!(judge(now.clone(), None, &Gates::default()).is_empty());
    let gates = gates_of(|r| r.min_people = 4);
    let hits = judge(now.clone(), None, &gates);
    assert_eq!(fired(&hits), vec![Gate::MinPeople]);
    assert_eq!(hits[0].baseline, "no earlier good read");
    assert_eq!(hits[0].baseline_run, None);
    // Exactly at the minimum passes.
    assert!(judge(now, None, &gates_of(|r| r.min_people = 3)).is_empty());
}

#[test]
fn a_drop_exactly_at_the_percentage_passes_and_one_more_fires() {
    let base = summarize(&people(100, "E"), &[]);
    let gates = Gates::default(); // max_drop 20%, min_baseline 20
    assert!(judge(summarize(&people(80, "E"), &[]), Some(base.clone()), &gates).is_empty());
    let hits = judge(summarize(&people(79, "E"), &[]), Some(base), &gates);
    assert_eq!(fired(&hits), vec![Gate::SourceDrop]);
    assert_eq!(hits[0].figure, "79 people, 21 fewer (21%)");
    assert_eq!(
        hits[0].threshold,
        "max_drop = 20% (judged from min_baseline = 20)"
    );
    assert_eq!(
        hits[0].baseline,
        "100 people in the last good read (run 7, 2026-11-30T02:00:00Z)"
    );
    assert_eq!(hits[0].baseline_run, Some(7));
}

#[test]
fn a_percentage_is_not_judged_below_min_baseline_but_a_count_always_is() {
    let base = summarize(&people(19, "E"), &[]);
    let now = summarize(&people(12, "E"), &[]);
    assert!(judge(now.clone(), Some(base.clone()), &Gates::default()).is_empty());
    let count = gates_of(|r| r.max_drop = Some(Threshold::Count(6)));
    assert_eq!(
        fired(&judge(now.clone(), Some(base.clone()), &count)),
        vec![Gate::SourceDrop]
    );
    // Losing exactly the count passes.
    let seven = gates_of(|r| r.max_drop = Some(Threshold::Count(7)));
    assert!(judge(now.clone(), Some(base.clone()), &seven).is_empty());
    // min_baseline lowered: the percentage is judged.
    let low = gates_of(|r| r.min_baseline = 5);
    assert_eq!(fired(&judge(now, Some(base), &low)), vec![Gate::SourceDrop]);
}

#[test]
fn an_empty_baseline_judges_no_drop_and_no_change() {
    let now = summarize(&people(50, "E"), &[]);
    let count = gates_of(|r| {
        r.max_drop = Some(Threshold::Count(0));
        r.max_change = Some(Threshold::Count(0));
    });
    assert!(judge(now, Some(ReadSummary::default()), &count).is_empty());
}

#[test]
fn growth_is_never_a_drop() {
    let base = summarize(&people(10, "E"), &[]);
    let count = gates_of(|r| r.max_drop = Some(Threshold::Count(0)));
    assert!(judge(summarize(&people(30, "E"), &[]), Some(base), &count).is_empty());
}

#[test]
fn a_title_rewritten_for_everyone_fires_the_change_gate() {
    let base = summarize(&people(20, "Engineer"), &[]);
    let hits = judge(
        summarize(&people(20, "Staff"), &[]),
        Some(base),
        &Gates::default(),
    );
    assert_eq!(fired(&hits), vec![Gate::AttributeChange]);
    assert_eq!(hits[0].subject.as_deref(), Some("title"));
    assert_eq!(
        hits[0].figure,
        "`title` changed for 20 of the 20 people in both reads (100%)"
    );
}

#[test]
fn changes_exactly_at_the_threshold_pass_and_joiners_do_not_count() {
    let base = summarize(&people(20, "A"), &[]);
    let mut now = people(20, "A");
    for p in now.iter_mut().take(10) {
        p.attrs.insert("title".into(), "B".into());
    }
    // 10 of 20 is exactly 50%: passes. New people are not changes.
    now.extend((20..40).map(|i| person(&format!("E{i}"), &[("title", "Z")])));
    assert!(judge(summarize(&now, &[]), Some(base.clone()), &Gates::default()).is_empty());
    now[10].attrs.insert("title".into(), "B".into());
    let hits = judge(summarize(&now, &[]), Some(base), &Gates::default());
    assert_eq!(fired(&hits), vec![Gate::AttributeChange]);
    assert!(
        hits[0].figure.contains("11 of the 20"),
        "{}",
        hits[0].figure
    );
}

#[test]
fn an_attribute_emptied_for_everyone_is_a_change() {
    let base = summarize(&people(20, "A"), &[]);
    let now: Vec<_> = people(20, "A")
        .into_iter()
        .map(|mut p| {
            p.attrs.remove("title");
            p
        })
        .collect();
    let hits = judge(summarize(&now, &[]), Some(base), &Gates::default());
    assert_eq!(fired(&hits), vec![Gate::AttributeChange]);
}

#[test]
fn coverage_exactly_at_the_minimum_passes() {
    let mut recs = people(10, "A");
    recs[0].attrs.remove("title");
    let gates = gates_of(|r| r.required = vec!["title".into()]);
    assert!(judge(summarize(&recs, &[]), None, &gates).is_empty());
    recs[1].attrs.remove("title");
    let hits = judge(summarize(&recs, &[]), None, &gates);
    assert_eq!(fired(&hits), vec![Gate::AttributeCoverage]);
    assert_eq!(hits[0].figure, "`title` present on 8 of 10 records (80%)");
    assert_eq!(hits[0].threshold, "min_coverage = 90%");
    // A column the source does not have at all is 0%.
    let gates = gates_of(|r| r.required = vec!["department".into()]);
    let hits = judge(summarize(&recs, &[]), None, &gates);
    assert_eq!(hits[0].subject.as_deref(), Some("department"));
}

fn with_group(members: usize) -> ReadSummary {
    summarize(&people(20, "A"), &[group("eng", members)])
}

#[test]
fn a_group_that_reads_empty_fires_unless_it_had_one_member() {
    let hits = judge(with_group(0), Some(with_group(2)), &Gates::default());
    assert_eq!(fired(&hits), vec![Gate::GroupDrop]);
    assert_eq!(hits[0].group_id.as_deref(), Some("eng"));
    assert!(
        hits[0].baseline.starts_with("2 members"),
        "{}",
        hits[0].baseline
    );
    assert!(judge(with_group(0), Some(with_group(1)), &Gates::default()).is_empty());
}

#[test]
fn a_group_the_read_no_longer_has_fires_like_an_empty_one() {
    let gone = summarize(&people(20, "A"), &[]);
    let hits = judge(gone.clone(), Some(with_group(3)), &Gates::default());
    assert_eq!(fired(&hits), vec![Gate::GroupDrop]);
    assert_eq!(hits[0].group_id.as_deref(), Some("eng"));
    assert_eq!(hits[0].subject.as_deref(), Some("eng"));
    assert!(judge(gone, Some(with_group(1)), &Gates::default()).is_empty());
}

#[test]
fn a_group_drop_is_judged_like_a_source_drop() {
    assert!(judge(with_group(16), Some(with_group(20)), &Gates::default()).is_empty());
    let hits = judge(with_group(15), Some(with_group(20)), &Gates::default());
    assert_eq!(fired(&hits), vec![Gate::GroupDrop]);
    assert!(!hits[0].gate.holds_run());
    // A group of 5 (below min_baseline) losing 3 of 5 is not judged by percentage.
    assert!(judge(with_group(2), Some(with_group(5)), &Gates::default()).is_empty());
}

#[test]
fn overrides_name_a_gate_for_every_source_or_for_one() {
    let base = summarize(&people(100, "E"), &[]);
    let now = summarize(&people(50, "E"), &[]);
    for (text, overridden) in [
        ("source-drop", true),
        ("source-drop:hr", true),
        ("source-drop:corp", false),
        ("min-people:hr", false),
    ] {
        let mut gates = Gates::default();
        gates
            .overrides
            .push(Override::parse(text).unwrap_or_else(|e| panic!("{e}")));
        let hits = judge(now.clone(), Some(base.clone()), &gates);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].overridden, overridden, "{text}");
    }
    assert!(Override::parse("source-dorp")
        .unwrap_err()
        .contains("source-drop, attribute-change"));
    assert!(Override::parse("source-drop:").is_err());
    assert_eq!(
        Override::parse("group-drop:corp").map(|o| o.to_string()),
        Ok("group-drop:corp".to_owned())
    );
}

fn members(op_remove: bool, group: &str) -> Op {
    let m = Members {
        display_name: group.to_owned(),
        scim_id: Some(ScimId(format!("g-{group}"))),
        source_key: SourceKey::new("hr", group),
        reason: "corp: member".to_owned(),
        members: vec![UserName::new("a@x.test")],
    };
    if op_remove {
        Op::RemoveMembers(m)
    } else {
        Op::AddMembers(m)
    }
}

fn a_plan() -> Plan {
    let mut plan = Plan {
        version: PLAN_VERSION,
        generated_at: "2026-12-01T02:00:00Z".to_owned(),
        target: TargetRef {
            kind: "notion".to_owned(),
            url: "http://x.test/scim/v2".to_owned(),
            name: "acme".to_owned(),
        },
        source_digest: String::new(),
        target_digest: String::new(),
        plan_digest: None,
        watch: Watch::default(),
        blocked: false,
        summary: BTreeMap::new(),
        operations: vec![
            members(true, "eng"),
            members(false, "ops"),
            Op::DeactivateUser(DeactivateUser {
                user_name: UserName::new("b@x.test"),
                scim_id: ScimId("u-b".to_owned()),
                source_key: SourceKey::new("hr", "E9"),
                reason: "hr: absent".to_owned(),
                changes: Vec::new(),
            }),
        ],
        findings: Vec::new(),
        absence: Default::default(),
        gates: Vec::new(),
    };
    plan.plan_digest = Some(plan_digest(&plan));
    plan
}

#[test]
fn no_hit_leaves_the_plan_as_it_was() {
    assert_eq!(hold(a_plan(), Vec::new()), a_plan());
}

#[test]
fn a_held_run_keeps_no_operation_and_says_how_to_override() {
    let hits = judge(
        summarize(&people(60, "E"), &[]),
        Some(summarize(&people(100, "E"), &[])),
        &Gates::default(),
    );
    let plan = hold(a_plan(), hits);
    assert!(plan.blocked && plan.operations.is_empty());
    assert_eq!(plan.summary.get("deactivate-user"), Some(&0));
    assert_eq!(plan.gates.len(), 1);
    let f = &plan.findings[0];
    assert_eq!(
        (f.severity, f.code),
        (Severity::Error, FindingCode::SourceGateHeld)
    );
    assert_eq!(
        f.message,
        "source `hr`, gate `source-drop`: 60 people, 40 fewer (40%); the threshold is max_drop = 20% (judged \
         from min_baseline = 20); baseline: 100 people in the last good read (run 7, 2026-11-30T02:00:00Z). \
         The run is held and nothing is written. Check the source; if the change is real, run again with \
         `--override source-drop:hr` and the read becomes the new baseline"
    );
    assert_eq!(plan.plan_digest, Some(plan_digest(&plan)));
    assert!(holds_run(&plan.gates));
}

#[test]
fn an_overridden_gate_keeps_the_operations_and_says_so() {
    let mut gates = Gates::default();
    gates.overrides.push(Override {
        gate: Gate::SourceDrop,
        source: None,
    });
    let hits = judge(
        summarize(&people(60, "E"), &[]),
        Some(summarize(&people(100, "E"), &[])),
        &gates,
    );
    let plan = hold(a_plan(), hits);
    assert!(!plan.blocked);
    assert_eq!(plan.operations.len(), 3);
    assert_eq!(plan.findings[0].code, FindingCode::SourceGateOverridden);
    assert!(plan.findings[0]
        .message
        .contains("Overridden with `--override source-drop:hr`"));
    assert_eq!(
        overrides_of(&plan),
        vec![Override {
            gate: Gate::SourceDrop,
            source: Some("hr".into())
        }]
    );
}

#[test]
fn a_held_group_loses_its_membership_changes_and_nothing_else() {
    let base = summarize(&people(20, "A"), &[group("eng", 12), group("ops", 3)]);
    let now = summarize(&people(20, "A"), &[group("eng", 0), group("ops", 3)]);
    let hits = judge(now.clone(), Some(base.clone()), &Gates::default());
    let plan = hold(a_plan(), hits.clone());
    assert!(!plan.blocked);
    let kinds: Vec<String> = plan
        .operations
        .iter()
        .map(|o| format!("{} {}", o.kind(), o.subject()))
        .collect();
    assert_eq!(kinds, vec!["add-members ops", "deactivate-user b@x.test"]);
    assert_eq!(plan.findings[0].code, FindingCode::GroupGateHeld);
    assert_eq!(plan.summary.get("remove-members"), Some(&0));
    // The baseline kept after the run keeps the held group's last good size.
    let bases = baseline(base);
    let next = next_baseline("hr", now, bases.get("hr"), &hits);
    assert_eq!(next.groups.get("eng").map(|g| g.members), Some(12));
    assert_eq!(next.groups.get("ops").map(|g| g.members), Some(3));
}

#[test]
fn a_saved_verdict_is_compared_by_gate_source_subject_baseline_and_override() {
    let base = Some(summarize(&people(100, "E"), &[]));
    let planned = judge(
        summarize(&people(60, "E"), &[]),
        base.clone(),
        &Gates::default(),
    );
    // Another figure, same gate: the same state.
    let moved = judge(
        summarize(&people(59, "E"), &[]),
        base.clone(),
        &Gates::default(),
    );
    assert!(compare(&planned, &moved).is_empty());
    let mut gates = Gates::default();
    gates.overrides.push(Override {
        gate: Gate::SourceDrop,
        source: None,
    });
    let overridden = judge(summarize(&people(60, "E"), &[]), base, &gates);
    let lines = compare(&overridden, &planned);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("overridden, against baseline run 7"),
        "{}",
        lines[0]
    );
    // A gate that no longer fires (the read recovered) differs too.
    assert_eq!(compare(&overridden, &[]).len(), 1);
}
