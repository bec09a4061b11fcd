//! The planner's laws, as properties over random worlds (sources, target, links, bad rows,
//! policy), with `proptest`:
//!
//! 1. `plan` is deterministic: the same inputs (and `now`) give the same bytes, in whatever order
//!    the people, the target's users and the links come.
//! 2. Applying an unblocked plan to a model target (`model`, in memory) and planning again gives
//!    no operation.
//! 3. No plan writes to an owner, the token owner or an unmanaged user.
//! 4. No unforced, unblocked plan has more deactivations than `max_deactivations` allows.
//! 5. A bad row never causes a deactivation, and a bad row that could be anyone holds every
//!    deactivation of an absent person.
//!
//! A world is small (at most eight people, three unmanaged users) so that collisions the planner
//! must handle (case variants, stale links, an owner in the sources) come up often. The number of
//! cases is 64 per law, `PROPTEST_CASES` for the long form (docs/reliability.md).

use super::*;
use crate::model::{
    Attr, DesiredUser, Lifecycle, NameModel, ScimId, SourceIssue, SourceKey, TargetUser, UserAttrs,
    UserName,
};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeSet;

mod model;

/// The workspace owner (role `owner`): protected by role.
const OWNER: &str = "owner@x.io";
/// The user whose token idbridge holds (`policy.token_owner`).
const TOKEN_OWNER: &str = "admin@x.io";
/// Target ids of the protected users.
const OWNER_ID: &str = "t-owner";
const TOKEN_OWNER_ID: &str = "t-admin";
/// Unmanaged users' ids start with this: never in a source, never linked.
const UNMANAGED: &str = "u-";

/// Everything one plan is made from.
#[derive(Debug, Clone)]
pub(super) struct World {
    pub(super) desired: Vec<DesiredUser>,
    pub(super) target: Vec<TargetUser>,
    pub(super) links: Vec<KnownLink>,
    pub(super) issues: Vec<SourceIssue>,
    pub(super) policy: Policy,
}

/// The attributes the mapping manages in every world.
fn managed() -> BTreeSet<Attr> {
    [Attr::UserName, Attr::Email, Attr::GivenName, Attr::Title]
        .into_iter()
        .collect()
}

/// Plan `world` (a Notion-like target, names kept in parts, no groups, no past writes).
pub(super) fn plan_of(world: &World) -> Plan {
    let managed = managed();
    let sources = vec!["hr".to_owned()];
    let target = TargetState {
        users: world.target.clone(),
        consistent: true,
        problems: Vec::new(),
    };
    let recovered = BTreeSet::new();
    plan(&Input {
        desired: &world.desired,
        managed: &managed,
        sources: &sources,
        issues: &world.issues,
        target: &target,
        links: &world.links,
        recovered: &recovered,
        policy: &world.policy,
        target_ref: TargetRef {
            kind: "notion".into(),
            url: "http://127.0.0.1:1/scim/v2".into(),
            name: "acme".into(),
        },
        invites_on_create: true,
        desired_groups: &[],
        target_groups: None,
        group_links: &[],
        now: Utc
            .with_ymd_and_hms(2026, 11, 27, 9, 0, 0)
            .single()
            .unwrap_or_default(),
        writes: &[],
        refusal_advice: "verify the domain",
        names: NameModel::Parts,
        absences: &[],
        excluded: &Default::default(),
        confirmations: &[],
    })
}

fn attrs(email: &str, given: &str, title: Option<&str>) -> UserAttrs {
    let mut a = UserAttrs::new();
    a.insert(Attr::UserName, email.to_owned());
    a.insert(Attr::Email, email.to_owned());
    a.insert(Attr::GivenName, given.to_owned());
    if let Some(t) = title {
        a.insert(Attr::Title, t.to_owned());
    }
    a
}

fn desired(id: &str, email: &str, given: &str, title: Option<&str>, lc: Lifecycle) -> DesiredUser {
    DesiredUser {
        key: SourceKey::new("hr", id),
        other_keys: Vec::new(),
        attrs: attrs(email, given, title),
        lifecycle: lc,
        reason: format!("hr: row for {id}"),
        leaving: None,
        provenance: Default::default(),
        out_of_scope: None,
        disabled: None,
    }
}

fn target_user(
    id: &str,
    email: &str,
    given: &str,
    title: Option<&str>,
    active: bool,
) -> TargetUser {
    TargetUser {
        id: ScimId(id.to_owned()),
        attrs: attrs(email, given, title),
        active,
        role: Some("member".to_owned()),
    }
}

fn link(key: &str, id: &str, user_name: &str, active: bool) -> KnownLink {
    KnownLink {
        key: SourceKey::new("hr", key),
        scim_id: ScimId(id.to_owned()),
        user_name: UserName::new(user_name),
        active,
    }
}

const GIVEN: [&str; 3] = ["Ada", "Bob", "Cy"];
const TITLE: [Option<&str>; 3] = [None, Some("Eng"), Some("Ops")];

/// One ordinary person: whether (and how) the source has them, the target has them, and a link.
#[derive(Debug, Clone)]
struct Person {
    /// `None`: absent from the source (a leaver, or never there).
    source: Option<(Lifecycle, usize, usize)>,
    /// `(active, given, title, userName spelled in upper case)`.
    target: Option<(bool, usize, usize, bool)>,
    /// Linked (to the target user, or to a vanished id when the target has none).
    linked: bool,
    /// The link says idbridge deactivated the user.
    link_inactive: bool,
}

fn lifecycle() -> impl Strategy<Value = Lifecycle> {
    prop_oneof![
        3 => Just(Lifecycle::Active),
        2 => Just(Lifecycle::Inactive),
        1 => Just(Lifecycle::Pending),
    ]
}

fn person() -> impl Strategy<Value = Person> {
    (
        proptest::option::weighted(0.7, (lifecycle(), 0..3usize, 0..3usize)),
        proptest::option::weighted(0.7, (any::<bool>(), 0..3usize, 0..3usize, any::<bool>())),
        any::<bool>(),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(source, target, linked, link_inactive)| Person {
            source,
            target,
            linked,
            link_inactive,
        })
}

/// How a protected user (owner, token owner) appears: in the source (with a lifecycle), linked.
fn protected() -> impl Strategy<Value = (Option<Lifecycle>, bool)> {
    (proptest::option::of(lifecycle()), any::<bool>())
}

/// A bad row: whether it lost a person, and whom it names (`None`: nobody, it could be anyone).
fn bad_row() -> impl Strategy<Value = (bool, Option<usize>)> {
    (
        proptest::bool::weighted(0.8),
        proptest::option::of(0..10usize),
    )
}

fn threshold() -> impl Strategy<Value = Threshold> {
    prop_oneof![
        (0..4u64).prop_map(Threshold::Count),
        (0..=4u32).prop_map(|q| Threshold::Percent(f64::from(q) * 25.0)),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        threshold(),
        proptest::bool::weighted(0.2),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(max, force, adopt, delete)| Policy {
            max_deactivations: max,
            force,
            adopt: if adopt {
                Adopt::MatchEmail
            } else {
                Adopt::None
            },
            deactivate: if delete {
                DeactivateMode::Delete
            } else {
                DeactivateMode::ActiveFalse
            },
            token_owner: Some(UserName::new(TOKEN_OWNER)),
            // The laws are about what a plan may do once a leaver is due; the absence grace that
            // decides when one is due has its own tests (`absence_tests`).
            absence_grace: crate::plan::AbsenceGrace::NONE,
            ..Policy::default()
        })
}

/// A random world.
pub(super) fn world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec(person(), 0..8),
        protected(),
        protected(),
        proptest::collection::vec(any::<bool>(), 0..3),
        proptest::collection::vec(bad_row(), 0..3),
        policy(),
    )
        .prop_map(|(people, owner, admin, unmanaged, bad, policy)| {
            let mut w = World {
                desired: Vec::new(),
                target: Vec::new(),
                links: Vec::new(),
                issues: Vec::new(),
                policy,
            };
            for (i, p) in people.iter().enumerate() {
                add_person(&mut w, i, p);
            }
            add_protected(&mut w, OWNER_ID, OWNER, "owner", owner);
            add_protected(
                &mut w,
                TOKEN_OWNER_ID,
                TOKEN_OWNER,
                "membership_admin",
                admin,
            );
            for (j, active) in unmanaged.into_iter().enumerate() {
                let email = format!("other{j}@x.io");
                let id = format!("{UNMANAGED}{j}");
                w.target.push(target_user(&id, &email, "Oz", None, active));
            }
            for (n, (skipped, names)) in bad.into_iter().enumerate() {
                w.issues.push(bad_issue(n, skipped, names));
            }
            w
        })
}

fn add_person(w: &mut World, i: usize, p: &Person) {
    let (key, email, id) = (format!("E{i}"), format!("p{i}@x.io"), format!("t{i}"));
    if let Some((lc, given, title)) = &p.source {
        w.desired.push(desired(
            &key,
            &email,
            GIVEN[*given],
            TITLE[*title],
            lc.clone(),
        ));
    }
    match p.target {
        Some((active, given, title, upper)) => {
            let shown = if upper {
                email.to_uppercase()
            } else {
                email.clone()
            };
            w.target
                .push(target_user(&id, &shown, GIVEN[given], TITLE[title], active));
            if p.linked {
                w.links.push(link(&key, &id, &email, !p.link_inactive));
            }
        }
        None if p.linked => w
            .links
            .push(link(&key, &format!("gone{i}"), &email, !p.link_inactive)),
        None => {}
    }
}

fn add_protected(
    w: &mut World,
    id: &str,
    email: &str,
    role: &str,
    (source, linked): (Option<Lifecycle>, bool),
) {
    let key = format!("K-{id}");
    if let Some(lc) = source {
        w.desired
            .push(desired(&key, email, "Boss", Some("Chief"), lc));
    }
    let mut user = target_user(id, email, "Root", None, true);
    user.role = Some(role.to_owned());
    w.target.push(user);
    if linked {
        w.links.push(link(&key, id, email, true));
    }
}

fn bad_issue(n: usize, skipped: bool, names: Option<usize>) -> SourceIssue {
    SourceIssue {
        source: "hr".into(),
        location: format!("hr.csv line {}", 100 + n),
        code: FindingCode::SourceRowInvalid,
        message: "bad row".into(),
        skipped_person: skipped,
        // Half the named rows name the id, half the email (as a CSV row's hints do).
        hints: names
            .map(|i| {
                if i % 2 == 0 {
                    format!("E{i}")
                } else {
                    format!("P{i}@X.io")
                }
            })
            .into_iter()
            .collect(),
    }
}

fn bytes(plan: &Plan) -> String {
    serde_json::to_string(plan).unwrap_or_default()
}

fn deactivated(plan: &Plan) -> BTreeSet<String> {
    plan.operations
        .iter()
        .filter(|o| o.kind() == OpKind::DeactivateUser)
        .filter_map(|o| o.scim_id().map(|id| id.0.clone()))
        .collect()
}

/// The number of cases per law: `PROPTEST_CASES` when set (the long form), else 64. proptest's
/// default config is the one that reads the variable (this pure module reads no environment);
/// without it the default is proptest's built-in 256, taken here as "not set".
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = if default.cases == 256 {
        64
    } else {
        default.cases
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..default
    }
}

proptest! {
    #![proptest_config(config())]

    /// Law 1: the same world gives the same bytes, in whatever order the people, the target's
    /// users and the links come (a SCIM list's order is not stable). The bad rows keep their
    /// order: it is the source's row order, and findings cite them in it.
    #[test]
    fn plan_is_deterministic(w in world()) {
        let first = bytes(&plan_of(&w));
        prop_assert_eq!(&first, &bytes(&plan_of(&w)));
        let mut shuffled = w.clone();
        shuffled.desired.reverse();
        shuffled.target.reverse();
        shuffled.links.reverse();
        prop_assert_eq!(&first, &bytes(&plan_of(&shuffled)));
    }

    /// Law 2: an applied plan leaves nothing to do.
    #[test]
    fn applying_a_plan_converges(w in world()) {
        let plan = plan_of(&w);
        prop_assume!(!plan.blocked);
        let after = model::apply(&w, &plan);
        let again = plan_of(&after);
        let left: Vec<String> = again
            .operations
            .iter()
            .map(|o| format!("{} {} {:?}", o.kind(), o.subject(), o.changes()))
            .collect();
        prop_assert!(left.is_empty(), "after applying {:?}\nstill to do: {:?}", plan.operations, left);
    }

    /// Law 3: owners, the token owner and unmanaged users are never written to; unmanaged users
    /// are never linked either.
    #[test]
    fn protected_and_unmanaged_users_are_untouched(w in world()) {
        let plan = plan_of(&w);
        for op in &plan.operations {
            let id = op.scim_id().map(|i| i.0.as_str()).unwrap_or("");
            let name = op.subject().to_lowercase();
            prop_assert!(!id.starts_with(UNMANAGED) && !name.starts_with("other"), "{:?}", op);
            if op.writes_target() {
                prop_assert!(id != OWNER_ID && name != OWNER, "the owner is written: {:?}", op);
                prop_assert!(
                    id != TOKEN_OWNER_ID && name != TOKEN_OWNER,
                    "the token owner is written: {:?}",
                    op
                );
            }
        }
    }

    /// Law 4: past the deactivation limit, a plan is blocked unless forced.
    #[test]
    fn deactivations_stay_within_the_guardrail(w in world()) {
        let plan = plan_of(&w);
        let deactivations = deactivated(&plan).len() as u64;
        let active: BTreeSet<&str> = w
            .target
            .iter()
            .filter(|u| u.active)
            .map(|u| u.id.0.as_str())
            .collect();
        let linked = w.links.iter().filter(|l| active.contains(l.scim_id.0.as_str())).count();
        let adopted = plan
            .operations
            .iter()
            .filter(|o| matches!(o, Op::LinkUser(l) if l.origin != LinkOrigin::Rekey))
            .count();
        let limit = w.policy.max_deactivations.limit(linked + adopted);
        if !w.policy.force && deactivations > limit {
            prop_assert!(plan.blocked, "{} deactivations over a limit of {}", deactivations, limit);
        }
        if plan.blocked {
            prop_assert!(plan.has_errors());
        }
    }

    /// Law 5: bad rows only ever take deactivations away; one that names nobody holds every
    /// deactivation of a person absent from the source, and one that names someone holds theirs.
    #[test]
    fn a_bad_row_never_causes_a_deactivation(w in world()) {
        let with = deactivated(&plan_of(&w));
        let clean = World { issues: Vec::new(), ..w.clone() };
        let without = deactivated(&plan_of(&clean));
        prop_assert!(with.is_subset(&without), "bad rows added {:?}", with.difference(&without).collect::<Vec<_>>());
        let desired_keys: BTreeSet<&SourceKey> = w.desired.iter().map(|d| &d.key).collect();
        let absent: Vec<&KnownLink> = w.links.iter().filter(|l| !desired_keys.contains(&l.key)).collect();
        let skipped: Vec<&SourceIssue> = w.issues.iter().filter(|i| i.skipped_person).collect();
        let hints: BTreeSet<String> = skipped.iter().flat_map(|i| i.hints.iter().map(|h| h.to_lowercase())).collect();
        let anyone = skipped.iter().any(|i| i.hints.is_empty());
        for l in absent {
            let named = hints.contains(&l.key.id.to_lowercase()) || hints.contains(&l.user_name.key());
            if anyone || named {
                prop_assert!(!with.contains(&l.scim_id.0), "absent {} deactivated despite a bad row", l.key);
            }
        }
    }
}
