//! Join and map: records of one person across sources become one desired user; source groups
//! become desired groups whose members are desired userNames.

use super::rules::MappingRules;
use super::template::Lookup;
use super::{lifecycle, scheduled_end};
use crate::model::email::check_plain;
use crate::model::{
    parse_email, Attr, DesiredGroup, DesiredUser, FindingCode, Lifecycle, SourceGroup, SourceIssue,
    SourceKey, SourceRecord, StatusKind, UserAttrs, UserName,
};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

mod provenance;

/// One source's data, as the connectors read it.
#[derive(Debug, Clone, Copy)]
pub struct SourceData<'a> {
    /// Source name.
    pub name: &'a str,
    /// Person records.
    pub records: &'a [SourceRecord],
    /// Groups.
    pub groups: &'a [SourceGroup],
    /// Attribute names the source provides.
    pub fields: &'a BTreeSet<String>,
}

/// The result of mapping.
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    /// Desired users (sorted by key).
    pub desired: Vec<DesiredUser>,
    /// Desired groups (sorted by key).
    pub groups: Vec<DesiredGroup>,
    /// Join conflicts and other problems: people named here are left untouched.
    pub issues: Vec<SourceIssue>,
    /// SCIM attributes the mapping manages (others are never compared).
    pub managed: BTreeSet<Attr>,
}

#[derive(Default)]
struct Person<'a> {
    /// (source, record), in config order.
    records: Vec<(&'a str, &'a SourceRecord)>,
}

struct View<'a, 'r> {
    person: &'a Person<'r>,
    rules: &'a MappingRules,
}

impl View<'_, '_> {
    fn ordered(&self, attr: &str) -> Vec<&SourceRecord> {
        match self.rules.join.precedence.get(attr) {
            Some(order) => {
                let mut out: Vec<&SourceRecord> = order
                    .iter()
                    .filter_map(|src| {
                        self.person
                            .records
                            .iter()
                            .find(|(s, _)| s == src)
                            .map(|(_, r)| *r)
                    })
                    .collect();
                // Sources not named in the precedence list still count, after the named ones.
                out.extend(
                    self.person
                        .records
                        .iter()
                        .filter(|(s, _)| !order.iter().any(|o| o == s))
                        .map(|(_, r)| *r),
                );
                out
            }
            None => self.person.records.iter().map(|(_, r)| *r).collect(),
        }
    }
}

impl Lookup for View<'_, '_> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.ordered(name)
            .into_iter()
            .find_map(|r| r.attrs.get(name).filter(|v| !v.trim().is_empty()))
    }

    fn source_attr(&self, source: &str, name: &str) -> Option<&str> {
        self.person
            .records
            .iter()
            .find(|(s, _)| *s == source)
            .and_then(|(_, r)| r.attrs.get(name))
    }
}

fn join_value(record: &SourceRecord, attr: &str) -> Option<String> {
    record
        .attrs
        .get(attr)
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
}

fn hints(records: &[(&str, &SourceRecord)]) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for (_, r) in records {
        out.insert(r.key.id.clone());
        for a in ["email", "employeeId", "login"] {
            if let Some(v) = r.attrs.get(a) {
                out.insert(v.to_owned());
            }
        }
    }
    out.into_iter().collect()
}

/// The identities a mapping renders must pass the same rule as the sources' addresses: a template
/// can join a name with an invisible character into a `userName`. `email` and `manager` must be
/// addresses; a `userName` must be one when it has an `@` (a plain SCIM target may use logins),
/// and plain text in any case. Addresses come back in their ASCII form.
/// `values` are in attribute order (the rules' map), so the first failure reported is the one
/// of `userName`, then `email`, then `manager`, as before they were packed.
fn checked_identity(values: &mut [(Attr, String)]) -> Result<(), String> {
    // The last address checked, as mapped and as checked: a person's userName and email are
    // mostly one address, and checking it is most of the mapping's cost for them
    // (docs/performance.md, "Scale"). The check is a function of the text alone.
    let mut last: Option<(String, String)> = None;
    for (attr, value) in values.iter_mut() {
        let key = match attr {
            Attr::UserName => "userName",
            Attr::Email => "email",
            Attr::Manager => "manager",
            _ => continue,
        };
        let address = *attr != Attr::UserName || value.contains('@');
        let result = if address {
            match &last {
                Some((mapped, clean)) if mapped == value => Ok(clean.clone()),
                _ => parse_email(value).inspect(|clean| {
                    last = Some((value.clone(), clean.clone()));
                }),
            }
        } else {
            check_plain(value).map(|()| std::mem::take(value))
        };
        match result {
            Ok(clean) => *value = clean,
            Err(why) => {
                return Err(format!(
                    "the mapped {key} \"{}\" is not usable: {why}",
                    value.escape_debug()
                ));
            }
        }
    }
    Ok(())
}

/// The issue for a person whose mapped identity failed [`checked_identity`]: skipped, with
/// every id and address of their records as hints so a linked person is never deactivated.
fn invalid_identity(person: &Person<'_>, value: &str, why: &str) -> SourceIssue {
    let places: Vec<String> = person.records.iter().map(|(s, r)| place(s, r)).collect();
    SourceIssue {
        source: person.records[0].0.to_owned(),
        location: places.join("; "),
        code: FindingCode::IdentityInvalid,
        message: format!(
            "`{}`: {why}; left untouched (fix the source or the [mapping] template)",
            value.escape_debug()
        ),
        hints: hints(&person.records),
        skipped_person: true,
    }
}

fn place(source: &str, r: &SourceRecord) -> String {
    format!("{source}: {}", r.location)
}

/// Join, scope and map every source.
pub fn map(sources: &[SourceData<'_>], rules: &MappingRules, now: DateTime<Utc>) -> Mapped {
    map_on(sources, rules, now, mapping_threads(), PARALLEL_FROM)
}

/// Below this many people the mapping runs on the calling thread. Under it the mapping takes
/// well under a second on one core, and a thread's own allocator heap costs a few MiB that a
/// 100,000-person run's peak cannot spare (measured in docs/performance.md, "Scale").
const PARALLEL_FROM: usize = 250_000;

/// The threads a large mapping runs on: the cores this process may use, at most four (the
/// mapping's output is the same on any number).
fn mapping_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// [`map`] on `threads` threads when there are at least `parallel_from` people. Each person
/// maps on their own (a pure function of their records, the rules and `now`), so the people are
/// cut into contiguous runs mapped side by side, and the results are taken in person order: the
/// output is byte for byte the one of a single thread.
fn map_on(
    sources: &[SourceData<'_>],
    rules: &MappingRules,
    now: DateTime<Utc>,
    threads: usize,
    parallel_from: usize,
) -> Mapped {
    let mut issues = Vec::new();
    let mut persons = join(sources, rules, &mut issues);
    let ctx = Context {
        rules,
        sources,
        now,
        // The member index is only for naming group members: a read without groups skips it.
        has_groups: sources.iter().any(|s| !s.groups.is_empty()),
    };
    let mut members = Members::default();
    // One slot a person, filled where the person stands: no second list of mapped people is
    // built and copied at the mapping's end, a run's peak (docs/performance.md, "Scale").
    let mut slots: Vec<Option<DesiredUser>> = Vec::new();
    slots.resize_with(persons.len(), || None);
    let threads = if persons.len() < parallel_from {
        1
    } else {
        threads.max(1)
    };
    map_runs(
        &mut persons,
        &mut slots,
        threads,
        &ctx,
        &mut issues,
        &mut members,
    );
    drop(persons);
    // `filter_map` collects in place (into the slots' own buffer); `flatten` would allocate a
    // second list of everyone at the peak.
    #[allow(clippy::filter_map_identity)]
    let mut desired: Vec<DesiredUser> = slots.into_iter().filter_map(|d| d).collect();
    sort_stably_in_place(&mut desired, |d| &d.key);
    let groups = groups(
        sources,
        rules,
        &members.key_to_user,
        &members.active_keys,
        &mut issues,
    );
    Mapped {
        desired,
        groups,
        issues,
        managed: managed(sources, rules),
    }
}

/// Map `persons` into their `slots` in `threads` contiguous runs: the first on the calling
/// thread, straight into `issues` and `members`; the others' outcomes are taken in run order
/// once it is done.
fn map_runs<'r>(
    persons: &mut [(String, Person<'r>)],
    slots: &mut [Option<DesiredUser>],
    threads: usize,
    ctx: &Context<'_, '_>,
    issues: &mut Vec<SourceIssue>,
    members: &mut Members<'r>,
) {
    let size = persons.len().div_ceil(threads).max(1);
    let mut runs = persons.chunks_mut(size).zip(slots.chunks_mut(size));
    if let Some((run, own)) = runs.next() {
        let jobs: Vec<Mutex<Option<Job<'_, '_>>>> = runs
            .map(|(run, slots)| Mutex::new(Some(Job { run, slots })))
            .collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|job| {
                    std::thread::Builder::new()
                        .stack_size(8 << 20)
                        .spawn_scoped(scope, || take_job(job).map(|job| job.map(ctx)))
                        .ok()
                })
                .collect();
            let mut mine = Outcome::direct(issues, members);
            map_run(run, own, ctx, &mut mine);
            for (job, handle) in jobs.iter().zip(handles) {
                // A thread the system refused leaves its job to this one.
                let done = match handle {
                    Some(handle) => handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    None => None,
                };
                let done = done.or_else(|| take_job(job).map(|job| job.map(ctx)));
                if let Some(done) = done {
                    mine.absorb(done);
                }
            }
        });
    }
}

/// What every person's mapping reads besides the person.
struct Context<'c, 's> {
    rules: &'c MappingRules,
    sources: &'c [SourceData<'s>],
    now: DateTime<Utc>,
    has_groups: bool,
}

/// Group members by record key: the person's userName, and the keys of active people.
#[derive(Default)]
struct Members<'r> {
    key_to_user: BTreeMap<&'r SourceKey, UserName>,
    active_keys: BTreeSet<&'r SourceKey>,
}

impl<'r> Members<'r> {
    fn add(&mut self, key: &'r SourceKey, name: UserName, active: bool) {
        self.key_to_user.insert(key, name);
        if active {
            self.active_keys.insert(key);
        }
    }
}

/// A run of people for another thread, and their slots.
struct Job<'p, 'r> {
    run: &'p mut [(String, Person<'r>)],
    slots: &'p mut [Option<DesiredUser>],
}

impl<'r> Job<'_, 'r> {
    fn map(self, ctx: &Context<'_, '_>) -> Kept<'r> {
        let mut kept = Kept::default();
        map_run(self.run, self.slots, ctx, &mut Outcome::Kept(&mut kept));
        kept
    }
}

/// A job not yet taken by a thread (poisoning cannot leave one half taken).
fn take_job<'p, 'r>(job: &Mutex<Option<Job<'p, 'r>>>) -> Option<Job<'p, 'r>> {
    job.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// A run's issues and member entries, kept in person order until the run before it is in.
#[derive(Default)]
struct Kept<'r> {
    issues: Vec<SourceIssue>,
    members: Vec<(&'r SourceKey, UserName, bool)>,
}

/// Where a run's issues and member entries go: straight into the mapping's own, or kept.
enum Outcome<'o, 'r> {
    Into(&'o mut Vec<SourceIssue>, &'o mut Members<'r>),
    Kept(&'o mut Kept<'r>),
}

impl<'o, 'r> Outcome<'o, 'r> {
    fn direct(issues: &'o mut Vec<SourceIssue>, members: &'o mut Members<'r>) -> Self {
        Outcome::Into(issues, members)
    }

    fn issue(&mut self, issue: SourceIssue) {
        match self {
            Outcome::Into(issues, _) => issues.push(issue),
            Outcome::Kept(kept) => kept.issues.push(issue),
        }
    }

    fn member(&mut self, key: &'r SourceKey, name: UserName, active: bool) {
        match self {
            Outcome::Into(_, members) => members.add(key, name, active),
            Outcome::Kept(kept) => kept.members.push((key, name, active)),
        }
    }

    /// Take a later run's kept outcome, after everything before it.
    fn absorb(&mut self, kept: Kept<'r>) {
        for issue in kept.issues {
            self.issue(issue);
        }
        for (key, name, active) in kept.members {
            self.member(key, name, active);
        }
    }
}

/// Map one run of people into its slots (one a person, in order); each person's join value and
/// record list are freed once they are mapped.
fn map_run<'r>(
    run: &mut [(String, Person<'r>)],
    slots: &mut [Option<DesiredUser>],
    ctx: &Context<'_, '_>,
    outcome: &mut Outcome<'_, 'r>,
) {
    let Context {
        rules,
        sources,
        now,
        has_groups,
    } = *ctx;
    for (entry, slot) in run.iter_mut().zip(slots.iter_mut()) {
        let (value, person) = std::mem::take(entry);
        let d = match desired_user(&value, &person, rules, sources, now) {
            Ok(d) => d,
            Err(issue) => {
                outcome.issue(issue);
                continue;
            }
        };
        if let Some(name) = d.user_name().filter(|_| has_groups) {
            let active = d.lifecycle == Lifecycle::Active;
            for &(_, r) in &person.records {
                outcome.member(&r.key, name.clone(), active);
            }
        }
        *slot = Some(d);
    }
}

/// `desired` sorted by key, stably, without the scratch copy a stable sort of the people takes:
/// half the list (16 MB of a 100,000-person run, 160 MB of a million) allocated at the mapping's
/// end, the run's peak (docs/performance.md, "Scale"). The order is sorted as indices, and the
/// people are then moved into it along the permutation's cycles.
fn sort_stably_in_place<T, K: Ord>(desired: &mut [T], key: impl Fn(&T) -> &K) {
    let mut order: Vec<usize> = (0..desired.len()).collect();
    order.sort_by(|&a, &b| key(&desired[a]).cmp(key(&desired[b])));
    // `order[i]` is where the person that belongs at `i` is now. Following a cycle, each swap
    // puts one person in place and carries the cycle's first person one step on.
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != start {
            let from = order[at];
            desired.swap(at, from);
            order[at] = at;
            at = from;
        }
        order[at] = at;
    }
}

/// The people of every source, each under their join value, sources in `join.sources` order.
/// Records without a join value and values seen twice within one source are reported and left
/// out.
fn join<'r>(
    sources: &[SourceData<'r>],
    rules: &MappingRules,
    issues: &mut Vec<SourceIssue>,
) -> Vec<(String, Person<'r>)> {
    let order: Vec<&str> = rules.join.sources.iter().map(|s| s.name.as_str()).collect();
    let mut sorted: Vec<&SourceData<'r>> = sources.iter().collect();
    sorted.sort_by_key(|s| {
        order
            .iter()
            .position(|o| *o == s.name)
            .unwrap_or(usize::MAX)
    });
    let mut people: BTreeMap<String, Vec<(&str, &SourceRecord)>> = BTreeMap::new();
    let mut conflicted: BTreeSet<String> = BTreeSet::new();
    for source in sorted {
        let attr = rules
            .join
            .sources
            .iter()
            .find(|s| s.name == source.name)
            .map(|s| s.join_attr.as_str())
            .unwrap_or("email");
        for (value, records) in by_join_value(source, attr, issues) {
            if records.len() > 1 {
                conflicted.insert(value.clone());
                issues.push(join_conflict(source.name, attr, &value, &records));
            }
            let person = people.entry(value).or_default();
            person.extend(records.into_iter().map(|r| (source.name, r)));
        }
    }
    people
        .into_iter()
        .filter(|(value, _)| !conflicted.contains(value))
        .map(|(value, records)| (value, Person { records }))
        .collect()
}

/// One source's records by their join value; a record without one is reported.
fn by_join_value<'r>(
    source: &SourceData<'r>,
    attr: &str,
    issues: &mut Vec<SourceIssue>,
) -> BTreeMap<String, Vec<&'r SourceRecord>> {
    let mut seen: BTreeMap<String, Vec<&SourceRecord>> = BTreeMap::new();
    for record in source.records {
        match join_value(record, attr) {
            Some(v) => seen.entry(v).or_default().push(record),
            None => issues.push(SourceIssue {
                source: source.name.to_owned(),
                location: record.location.clone(),
                code: FindingCode::JoinKeyMissing,
                message: format!(
                    "{} has no `{attr}`, the attribute this source joins on; left untouched (fill it in or change sources.join_attr)",
                    record.location
                ),
                hints: hints(&[(source.name, record)]),
                skipped_person: true,
            }),
        }
    }
    seen
}

/// Several records of one source share a join value: which one is the person is unknowable.
fn join_conflict(source: &str, attr: &str, value: &str, records: &[&SourceRecord]) -> SourceIssue {
    let places: Vec<String> = records.iter().map(|r| place(source, r)).collect();
    let named: Vec<(&str, &SourceRecord)> = records.iter().map(|r| (source, *r)).collect();
    SourceIssue {
        source: source.to_owned(),
        location: places.join("; "),
        code: FindingCode::JoinConflict,
        message: format!(
            "{} records of `{source}` share {attr} `{value}`; the person is left untouched until one remains",
            records.len(),
        ),
        hints: hints(&named),
        skipped_person: true,
    }
}

/// The desired user one joined person maps to, or the issue that leaves them untouched.
fn desired_user(
    value: &str,
    person: &Person<'_>,
    rules: &MappingRules,
    sources: &[SourceData<'_>],
    now: DateTime<Utc>,
) -> Result<DesiredUser, SourceIssue> {
    if let Some(issue) = missing_required(value, person, rules) {
        return Err(issue);
    }
    let view = View { person, rules };
    let mut values = Vec::with_capacity(rules.attrs.len());
    let mut provenance = Vec::with_capacity(rules.attrs.len());
    let places = provenance::Places::of(&view);
    for (attr, template) in &rules.attrs {
        let (value, facts) = provenance::render(&view, &places, *attr, template);
        if let Some(value) = value {
            values.push((*attr, value));
        }
        provenance.push((*attr, facts));
    }
    checked_identity(&mut values).map_err(|why| invalid_identity(person, value, &why))?;
    let attrs: UserAttrs = values.into_iter().collect();
    let Decision {
        lifecycle,
        reason,
        out_of_scope,
        disabled,
    } = decide(person, rules, sources, now);
    let leaving = match lifecycle {
        Lifecycle::Inactive => None,
        _ => person
            .records
            .iter()
            .filter_map(|(_, r)| scheduled_end(r, now))
            .min_by_key(|l| l.effective),
    };
    Ok(DesiredUser {
        key: person.records[0].1.key.clone(),
        other_keys: person.records[1..]
            .iter()
            .map(|(_, r)| r.key.clone())
            .collect(),
        attrs,
        lifecycle,
        reason,
        leaving,
        out_of_scope,
        disabled,
        provenance: provenance.into_iter().collect(),
    })
}

/// The issue for a person with no record in a source `join.require` names.
fn missing_required(value: &str, person: &Person<'_>, rules: &MappingRules) -> Option<SourceIssue> {
    let missing: Vec<&String> = rules
        .join
        .require
        .iter()
        .filter(|req| !person.records.iter().any(|(s, _)| s == req))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let places: Vec<String> = person.records.iter().map(|(s, r)| place(s, r)).collect();
    Some(SourceIssue {
        source: person.records[0].0.to_owned(),
        location: places.join("; "),
        code: FindingCode::JoinMissingRequired,
        message: format!(
            "`{value}` has no record in required source {}; left untouched (join.require)",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        hints: hints(&person.records),
        skipped_person: true,
    })
}

/// The SCIM attributes the mapping manages: those whose template uses a field some source
/// provides, or no field at all.
fn managed(sources: &[SourceData<'_>], rules: &MappingRules) -> BTreeSet<Attr> {
    let fields: BTreeSet<&str> = sources
        .iter()
        .flat_map(|s| s.fields.iter().map(String::as_str))
        .collect();
    rules
        .attrs
        .iter()
        .filter(|(_, t)| {
            let used = t.attrs();
            used.is_empty() || used.iter().any(|a| fields.contains(a.as_str()))
        })
        .map(|(a, _)| *a)
        .collect()
}

/// What [`decide`] concludes about one person.
struct Decision {
    lifecycle: Lifecycle,
    reason: String,
    /// The scope rule that no longer matches, when that alone makes the person inactive.
    out_of_scope: Option<String>,
    /// The fact, when a disabled directory account alone makes the person inactive.
    disabled: Option<String>,
}

/// Lifecycle across sources, then scope: the state, its reason, the scope rule that no longer
/// matches when that alone makes the person inactive (a mover out of scope), and whether only a
/// disabled directory account does (no source records a termination).
fn decide(
    person: &Person<'_>,
    rules: &MappingRules,
    sources: &[SourceData<'_>],
    now: DateTime<Utc>,
) -> Decision {
    let view = View { person, rules };
    let states: Vec<(Lifecycle, String, bool)> = view
        .ordered("status")
        .into_iter()
        .map(|r| {
            let (state, reason) = lifecycle(r, now);
            (state, reason, account_disabled(r))
        })
        .collect();
    let pick = |want: Lifecycle| {
        states
            .iter()
            .find(|(l, _, _)| *l == want)
            .map(|(l, r, _)| (l.clone(), r.clone()))
    };
    let (state, reason) = pick(Lifecycle::Inactive)
        .or_else(|| pick(Lifecycle::Pending))
        .or_else(|| states.first().map(|(l, r, _)| (l.clone(), r.clone())))
        .unwrap_or((Lifecycle::Active, String::new()));
    let decision = |lifecycle, reason, out_of_scope| Decision {
        lifecycle,
        reason,
        out_of_scope,
        disabled: None,
    };
    if state == Lifecycle::Inactive {
        let only_disabled = states
            .iter()
            .filter(|(l, _, _)| *l == Lifecycle::Inactive)
            .all(|(_, _, disabled)| *disabled);
        return Decision {
            disabled: only_disabled.then(|| reason.clone()),
            ..decision(state, reason, None)
        };
    }
    if rules.scope.is_empty() {
        return decision(state, reason, None);
    }
    match out_of_scope(person, rules, sources, &view) {
        Some(why) => decision(
            Lifecycle::Inactive,
            format!("out of scope: {why}"),
            Some(why),
        ),
        None => decision(state, reason, None),
    }
}

/// Whether `record` is a disabled directory account with no termination date: inactive, but not
/// a recorded termination.
fn account_disabled(record: &SourceRecord) -> bool {
    record
        .employment
        .as_ref()
        .is_some_and(|e| e.kind == StatusKind::Disabled && e.end.is_none())
}

fn out_of_scope(
    person: &Person<'_>,
    rules: &MappingRules,
    sources: &[SourceData<'_>],
    view: &View<'_, '_>,
) -> Option<String> {
    let scope = &rules.scope;
    if !scope.groups.is_empty() {
        let keys: BTreeSet<&SourceKey> = person.records.iter().map(|(_, r)| &r.key).collect();
        let member = sources.iter().flat_map(|s| s.groups.iter()).any(|g| {
            let names = [
                g.location.to_lowercase(),
                g.attrs
                    .get("name")
                    .map(|n| n.to_lowercase())
                    .unwrap_or_default(),
            ];
            scope.groups.iter().any(|want| names.contains(want))
                && g.members.iter().any(|m| keys.contains(m))
        });
        if !member {
            return Some(format!(
                "not a member of {} ([scope] groups)",
                scope.groups.join(" or ")
            ));
        }
    }
    if !scope.ous.is_empty() {
        let inside = person.records.iter().any(|(_, r)| {
            let dn = r.attrs.get("dn").unwrap_or(&r.location).to_lowercase();
            scope.ous.iter().any(|ou| dn.ends_with(ou.as_str()))
        });
        if !inside {
            let at: Vec<&str> = person
                .records
                .iter()
                .map(|(_, r)| r.attrs.get("dn").unwrap_or(&r.location))
                .collect();
            return Some(format!(
                "not under {} ([scope] ous; now at {})",
                scope.ous.join(" or "),
                at.join(", ")
            ));
        }
    }
    for (attr, allowed) in &scope.attr_in {
        let value = view.attr(attr).map(str::to_lowercase).unwrap_or_default();
        if !allowed.iter().any(|a| a.to_lowercase() == value) {
            return Some(format!(
                "{attr} is `{value}`, not one of {} ([scope] where)",
                allowed.join(", ")
            ));
        }
    }
    None
}

/// The desired groups: the selected source groups, named by the template, with their active
/// members' userNames; groups whose names collide are reported and none of them pushed.
fn groups(
    sources: &[SourceData<'_>],
    rules: &MappingRules,
    key_to_user: &BTreeMap<&SourceKey, UserName>,
    active: &BTreeSet<&SourceKey>,
    issues: &mut Vec<SourceIssue>,
) -> Vec<DesiredGroup> {
    let mut out: Vec<DesiredGroup> = Vec::new();
    for source in sources {
        for group in source.groups {
            if !selected(rules, group) {
                continue;
            }
            let g = &rules.groups;
            let Some(display_name) = g.name.render(&group.attrs) else {
                issues.push(SourceIssue {
                    source: source.name.to_owned(),
                    location: group.location.clone(),
                    code: FindingCode::GroupNameEmpty,
                    message: format!(
                        "group {} has no name under the template `{}`; not pushed",
                        group.location,
                        g.name.as_str()
                    ),
                    hints: Vec::new(),
                    skipped_person: false,
                });
                continue;
            };
            let mut members: Vec<UserName> = group
                .members
                .iter()
                .filter(|k| active.contains(k))
                .filter_map(|k| key_to_user.get(k).cloned())
                .collect();
            members.sort();
            members.dedup();
            out.push(DesiredGroup {
                key: group.key.clone(),
                location: group.location.clone(),
                display_name,
                members,
            });
        }
    }
    let mut out = without_name_conflicts(out, issues);
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// Whether `groups.include` and `groups.exclude` select a source group (by name or location).
fn selected(rules: &MappingRules, group: &SourceGroup) -> bool {
    let g = &rules.groups;
    let name = group.attrs.get("name").cloned().unwrap_or_default();
    let matches = |globs: &[super::rules::Glob]| {
        globs
            .iter()
            .any(|p| p.matches(&name) || p.matches(&group.location))
    };
    (g.include.is_empty() || matches(&g.include)) && !matches(&g.exclude)
}

/// Two source groups under one displayName cannot both own the target group: neither is kept.
fn without_name_conflicts(
    groups: Vec<DesiredGroup>,
    issues: &mut Vec<SourceIssue>,
) -> Vec<DesiredGroup> {
    let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, d) in groups.iter().enumerate() {
        by_name
            .entry(d.display_name.to_lowercase())
            .or_default()
            .push(i);
    }
    let mut drop: BTreeSet<usize> = BTreeSet::new();
    for (name, idx) in by_name.into_iter().filter(|(_, v)| v.len() > 1) {
        let places: Vec<String> = idx.iter().map(|&i| groups[i].location.clone()).collect();
        issues.push(SourceIssue {
            source: groups[idx[0]].key.source.clone(),
            location: places.join("; "),
            code: FindingCode::GroupNameConflict,
            message: format!(
                "{} source groups map to the displayName `{name}`; none of them is pushed",
                idx.len()
            ),
            hints: Vec::new(),
            skipped_person: false,
        });
        drop.extend(idx);
    }
    groups
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, d)| d)
        .collect()
}

#[cfg(test)]
mod tests;
