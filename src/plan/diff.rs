//! The diff: matches desired people to target users and emits operations, findings and digests.

use super::absence::{Absence, Gone};
use super::converge::{Guard, PastWrite};
use super::digest::{id_lines, plan_digest, source_digest, target_digest_by, IdLines};
use super::index::{sized_map, sized_set, users_by_id, ByKey};
use super::names;
use super::op::{
    Change, CreateUser, DeactivateUser, Finding, LinkOrigin, LinkUser, Op, OpKind, PatchUser, Plan,
    Severity, TargetRef, Watch, PLAN_VERSION,
};
use super::policy::{Adopt, Policy};
use super::returns::{Account, Confirmed};
use super::ChangeValue;
use crate::model::{
    cite, Attr, DesiredGroup, DesiredUser, FindingCode, Lifecycle, NameModel, ScimId, SourceFact,
    SourceIssue, SourceKey, TargetGroup, TargetUser, UserAttrs, UserName,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use strum::IntoEnumIterator;

/// A stored link as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownLink {
    /// Source key.
    pub key: SourceKey,
    /// Linked target id.
    pub scim_id: ScimId,
    /// The userName (or group displayName) idbridge last wrote.
    pub user_name: UserName,
    /// False once idbridge deactivated the linked user.
    pub active: bool,
}

/// The target as read for this plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetState {
    /// Users, profile-normalised.
    pub users: Vec<TargetUser>,
    /// False when the paged read did not add up after retries.
    pub consistent: bool,
    /// Why it did not add up.
    pub problems: Vec<String>,
}

/// The target's groups as read for this plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupState {
    /// Groups.
    pub groups: Vec<TargetGroup>,
    /// False when the paged read did not add up after retries.
    pub consistent: bool,
    /// Why it did not add up.
    pub problems: Vec<String>,
}

/// Everything a plan depends on. Same input, same plan, byte for byte.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// Desired people (any order).
    pub desired: &'a [DesiredUser],
    /// Attributes the mapping manages; others are never compared or changed.
    pub managed: &'a BTreeSet<Attr>,
    /// Configured source names: links into other sources are left alone.
    pub sources: &'a [String],
    /// Bad source records.
    pub issues: &'a [SourceIssue],
    /// The target.
    pub target: &'a TargetState,
    /// Stored links for this target.
    pub links: &'a [KnownLink],
    /// Lowercased userNames of creates an earlier run left unfinished (lost reply, crash).
    pub recovered: &'a BTreeSet<String>,
    /// Policy.
    pub policy: &'a Policy,
    /// The target's identity.
    pub target_ref: TargetRef,
    /// Whether the target sends invite emails on create (Notion does).
    pub invites_on_create: bool,
    /// Groups the sources want pushed.
    pub desired_groups: &'a [DesiredGroup],
    /// Groups in the target (`None` when groups were not read: no group source, no group link).
    pub target_groups: Option<&'a GroupState>,
    /// Stored group links.
    pub group_links: &'a [KnownLink],
    /// The plan's `now`.
    pub now: DateTime<Utc>,
    /// What the last patch of each user's attributes sent and how it ended (store): the
    /// convergence guard's input (`converge`).
    pub writes: &'a [PastWrite],
    /// What the target profile says to do about writes it refused on its own.
    pub refusal_advice: &'a str,
    /// How the target keeps names (the target profile says), so names are compared as kept.
    pub names: NameModel,
    /// The stored absences (store): who earlier counted runs found gone, since when
    /// (`absence`).
    pub absences: &'a [Absence],
    /// Linked keys a source read missed because they moved out of its scope, with the scope
    /// rule they no longer match (a directory entry moved out of `users.base`).
    pub excluded: &'a BTreeMap<SourceKey, String>,
    /// Admins' decisions about held email reuses not acted on yet (`idbridge confirm reuse`).
    pub confirmations: &'a [Confirmed],
}

enum Match<'t> {
    /// Linked, and the linked id is in the target.
    Linked(&'t TargetUser),
    /// Linked, but the id is not in the target (removed from the workspace).
    LinkedGone(&'t KnownLink),
    /// Not linked; found by externalId or userName.
    Found(&'t TargetUser, &'static str),
    /// Nothing in the target.
    None,
    /// Not linked; found by userName, and the user's link is under a key of the same source that
    /// vanished from this read: the source re-keyed the person.
    Rekeyed(&'t TargetUser, &'t KnownLink),
    /// Cannot decide: reported and left alone.
    Conflict,
}

/// What the skipped bad records of this read say about who may be missing from it.
struct BadRows<'i> {
    /// Skipped records that name nobody: any absent person could be one of them.
    unnamed: Vec<&'i SourceIssue>,
    /// Lowercased ids and userNames the skipped records name.
    hints: BTreeSet<String>,
}

impl<'i> BadRows<'i> {
    fn of(issues: &'i [SourceIssue]) -> Self {
        let skipped = issues.iter().filter(|i| i.skipped_person);
        Self {
            unnamed: skipped.clone().filter(|i| i.hints.is_empty()).collect(),
            hints: skipped
                .flat_map(|i| i.hints.iter().map(|h| h.to_lowercase()))
                .collect(),
        }
    }
}

/// Make the plan.
pub fn plan(input: &Input<'_>) -> Plan {
    let by_id = &users_by_id(&input.target.users);
    // What reads only the input is made on another core while the diff runs (a million people:
    // the source digest a tenth of the plan, the watched users' lines a fifth; docs/performance.md,
    // "Scale"): the source digest, and the target digest's lines of the linked ids, which are the
    // ids the plan watches unless it adopts someone. A thread the system refuses leaves the source
    // digest to this one, and the lines to the target digest.
    std::thread::scope(|scope| {
        let source = || source_digest(input.desired, input.issues);
        let ahead = move || {
            let linked = input.links.iter().map(|l| l.scim_id.0.as_str()).collect();
            (source(), id_lines(linked, by_id))
        };
        let beside = std::thread::Builder::new()
            .name("plan-beside".to_owned())
            .spawn_scoped(scope, ahead)
            .ok();
        Planner::new(input, by_id).run(move || match beside {
            Some(thread) => {
                let (source, lines) = thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (source, Some(lines))
            }
            None => (source(), None),
        })
    })
}

pub(super) struct Planner<'a> {
    pub(super) input: &'a Input<'a>,
    pub(super) by_id: &'a foldhash::HashMap<&'a str, &'a TargetUser>,
    by_ext: ByKey<'a, TargetUser>,
    pub(super) by_name: ByKey<'a, TargetUser>,
    link_by_key: foldhash::HashMap<&'a SourceKey, &'a KnownLink>,
    pub(super) link_by_id: foldhash::HashMap<&'a str, &'a KnownLink>,
    /// Links by userName key, in input order; built at the first unmatched person, so a plan
    /// with no joiner never pays for it.
    link_by_name: std::cell::OnceCell<ByKey<'a, KnownLink>>,
    /// Every key of every desired person.
    desired_keys: foldhash::HashSet<&'a SourceKey>,
    /// Target ids matched to a person or an absent link in this plan (unordered: whoever reads
    /// them in order sorts them).
    pub(super) claimed: foldhash::HashSet<&'a str>,
    /// Target ids that a desired person matches although they are linked to another key: the
    /// person is still there under another identity, so the user is never deactivated as absent.
    held: BTreeSet<String>,
    /// Keys whose link moves to a re-keyed person's new key in this plan.
    moved: BTreeSet<&'a SourceKey>,
    pub(super) ops: Vec<Op>,
    pub(super) findings: Vec<Finding>,
    /// What earlier patches taught (`converge`).
    pub(super) guard: Guard<'a>,
    /// Managed people gone from the sources or out of scope (`absence`).
    pub(super) gone: Vec<Gone>,
}

impl<'a> Planner<'a> {
    fn new(input: &'a Input<'a>, by_id: &'a foldhash::HashMap<&'a str, &'a TargetUser>) -> Self {
        let users = &input.target.users;
        let links = input.links.len();
        let link_by_key = sized_map(links, input.links.iter().map(|l| (&l.key, l)));
        let link_by_id = sized_map(links, input.links.iter().map(|l| (l.scim_id.0.as_str(), l)));
        let desired_keys = sized_set(
            input.desired.len(),
            input
                .desired
                .iter()
                .flat_map(|d| std::iter::once(&d.key).chain(d.other_keys.iter())),
        );
        let by_ext = ByKey::new(users.iter().filter_map(|u| {
            let ext = u.attrs.get(&Attr::ExternalId)?;
            Some((Cow::Borrowed(ext), u))
        }));
        let by_name = ByKey::new(users.iter().map(|u| (u.user_name_key(), u)));
        Self {
            input,
            by_id,
            by_ext,
            by_name,
            link_by_key,
            link_by_id,
            link_by_name: std::cell::OnceCell::new(),
            desired_keys,
            claimed: foldhash::HashSet::default(),
            held: BTreeSet::new(),
            moved: BTreeSet::new(),
            ops: Vec::new(),
            findings: Vec::new(),
            guard: Guard::new(input.writes),
            gone: Vec::new(),
        }
    }

    pub(super) fn finding(
        &mut self,
        severity: Severity,
        code: FindingCode,
        message: String,
        sources: Vec<String>,
    ) {
        self.findings
            .push(Finding::new(severity, code, message, sources));
    }

    fn protected(&self, user: &TargetUser) -> Option<&'static str> {
        let policy = self.input.policy;
        if policy
            .token_owner
            .as_ref()
            .is_some_and(|o| *o == user.user_name())
        {
            return Some("the owner of idbridge's SCIM token (target.token_owner)");
        }
        if user
            .role
            .as_ref()
            .is_some_and(|r| policy.protected_roles.iter().any(|p| p == r))
        {
            return Some("a workspace owner");
        }
        None
    }

    /// `beside` gives what was made beside the diff: the source digest, and the linked ids'
    /// lines when they were made ahead.
    fn run(mut self, beside: impl FnOnce() -> (String, Option<IdLines<'a>>)) -> Plan {
        for issue in self.input.issues {
            let what = if issue.skipped_person {
                "skipped: "
            } else {
                ""
            };
            self.finding(
                Severity::Warning,
                issue.code,
                format!("{}: {what}{}", issue.source, issue.message),
                vec![
                    if issue.location.starts_with(&format!("{}: ", issue.source)) {
                        issue.location.clone()
                    } else {
                        format!("{}: {}", issue.source, issue.location)
                    },
                ],
            );
        }
        let mut desired: Vec<&DesiredUser> = self.input.desired.iter().collect();
        desired.sort_by(|a, b| a.key.cmp(&b.key));
        let duplicates = self.duplicate_user_names(&desired);
        for person in &desired {
            if duplicates.contains(&person.key) {
                continue;
            }
            match self.rekeyed(person) {
                Some(linked) => self.person(&linked),
                None => self.person(person),
            }
            self.leaving(person);
        }
        let desired_keys = std::mem::take(&mut self.desired_keys);
        self.absent(&desired_keys);
        self.desired_keys = desired_keys;
        self.orphans();
        self.guard_findings();
        self.inconsistent_read();
        self.sort_ops();
        // Both guardrails report, even when the first already blocks.
        let blocked = self.guardrail() | self.role_guardrail();
        self.limit();
        self.groups();
        self.sort_ops();
        let absence = self.absence_section(blocked);
        if self.input.invites_on_create && self.ops.iter().any(|o| o.kind() == OpKind::CreateUser) {
            self.finding(
                Severity::Info,
                FindingCode::NotionInviteEmails,
                "Notion sends an invite email to every user this plan creates, unless the organization turned on \
                 \"Suppress invite emails from SCIM provisioning\" (Manage organization > General)"
                    .to_owned(),
                Vec::new(),
            );
        }
        let (source_digest, linked_lines) = beside();
        self.finish(blocked, absence, source_digest, linked_lines)
    }

    /// Upcoming leavers are announced, as future starters are: the admin sees the date before it
    /// acts.
    fn leaving(&mut self, person: &DesiredUser) {
        let Some(leaving) = &person.leaving else {
            return;
        };
        let name = person
            .user_name()
            .map_or_else(|| person.key.to_string(), |n| n.to_string());
        self.finding(
            Severity::Info,
            FindingCode::TerminationScheduled,
            format!(
                "{name} leaves on {}: {}; kept until {} (the start of {} in {}), then deactivated",
                leaving.last_day,
                leaving.fact,
                leaving.effective.to_rfc3339_opts(SecondsFormat::Secs, true),
                leaving.last_day.succ_opt().unwrap_or(leaving.last_day),
                leaving.timezone
            ),
            vec![person.key.to_string()],
        );
    }

    /// A person whose link is stored under one of their other keys (a source added later, or a
    /// source order change) keeps that link: the person is planned under the linked key.
    fn rekeyed(&self, person: &DesiredUser) -> Option<DesiredUser> {
        if self.link_by_key.contains_key(&person.key) {
            return None;
        }
        let linked = person
            .other_keys
            .iter()
            .find(|k| self.link_by_key.contains_key(k))?;
        let mut out = person.clone();
        out.other_keys = std::iter::once(person.key.clone())
            .chain(person.other_keys.iter().filter(|k| *k != linked).cloned())
            .collect();
        out.key = linked.clone();
        Some(out)
    }

    fn duplicate_user_names(&mut self, desired: &[&DesiredUser]) -> BTreeSet<SourceKey> {
        let named = desired
            .iter()
            .filter_map(|d| Some((UserName::key_of(d.attrs.get(&Attr::UserName)?), *d)));
        let by_name = ByKey::new(named);
        let mut out = BTreeSet::new();
        for (name, people) in by_name.shared() {
            let sources = people.iter().map(|p| p.key.to_string()).collect();
            self.finding(
                Severity::Error,
                FindingCode::DuplicateUserName,
                format!("several source people map to userName {name}; each is left untouched until the sources agree"),
                sources,
            );
            out.extend(people.iter().map(|p| p.key.clone()));
        }
        out
    }

    fn find(&mut self, person: &DesiredUser, name_key: &str) -> Match<'a> {
        if let Some(link) = self.link_by_key.get(&person.key).copied() {
            return match self.by_id.get(link.scim_id.0.as_str()) {
                Some(user) => Match::Linked(user),
                None => Match::LinkedGone(link),
            };
        }
        let by_ext: Vec<&'a TargetUser> = person
            .attrs
            .get(&Attr::ExternalId)
            .filter(|_| self.input.managed.contains(&Attr::ExternalId))
            .map(|ext| self.by_ext.get(ext).collect())
            .unwrap_or_default();
        let (candidates, how) = if by_ext.is_empty() {
            (self.by_name.get(name_key).collect(), "userName")
        } else {
            (by_ext, "externalId")
        };
        match candidates.as_slice() {
            [] => Match::None,
            [user] => match self.link_by_id.get(user.id.0.as_str()).copied() {
                Some(other) => self.linked_elsewhere(person, user, other, how),
                None => Match::Found(user, how),
            },
            many => {
                self.held.extend(many.iter().map(|u| u.id.0.clone()));
                let ids = many.iter().map(|u| format!("scim: {}", u.id)).collect();
                self.finding(
                    Severity::Error,
                    FindingCode::AmbiguousMatch,
                    format!(
                        "{} matches several target users by {how}; left untouched",
                        person.key
                    ),
                    ids,
                );
                Match::Conflict
            }
        }
    }

    /// `person` matches `user` (by `how`), which is linked to another key, `other`. When `other`
    /// vanished from this read and belongs to the same source, the source re-keyed the person: an
    /// active link moves; a deactivated one means someone new has a former person's email. Either
    /// way `user` is matched by someone present, so it is never deactivated as absent.
    fn linked_elsewhere(
        &mut self,
        person: &DesiredUser,
        user: &'a TargetUser,
        other: &'a KnownLink,
        how: &str,
    ) -> Match<'a> {
        self.held.insert(user.id.0.clone());
        let vanished = !self.desired_keys.contains(&other.key);
        let same_name = person.user_name().is_some_and(|n| n == user.user_name());
        if vanished && same_name && other.key.source == person.key.source {
            if !other.active || !user.active {
                self.email_reused(person, other);
                return Match::Conflict;
            }
            if !self.bad_rows_might_name(&other.key, user) {
                return Match::Rekeyed(user, other);
            }
        }
        let (other_key, user_id) = (other.key.to_string(), user.id.to_string());
        self.finding(
            Severity::Error,
            FindingCode::LinkConflict,
            format!(
                "target user {} matches {} by {how} but is already linked to {other_key}; left untouched and not \
                 deactivated: fix the source or remove the stale link",
                user.user_name(),
                person.key
            ),
            vec![person.key.to_string(), other_key, format!("scim: {user_id}")],
        );
        Match::Conflict
    }

    /// Whether a skipped bad row of `key`'s source could be the record of `key` or `user`: one
    /// that names either, or one too broken to name anyone.
    fn bad_rows_might_name(&self, key: &SourceKey, user: &TargetUser) -> bool {
        let name = user.user_name().key();
        let id = key.id.to_lowercase();
        self.input
            .issues
            .iter()
            .filter(|i| i.skipped_person && i.source == key.source)
            .any(|i| {
                i.hints.is_empty()
                    || i.hints
                        .iter()
                        .any(|h| h.to_lowercase() == id || h.to_lowercase() == name)
            })
    }

    /// A new key carries the email of a person idbridge took out of the workspace. Creating (in
    /// Notion: re-adding) that email would hand the former person's account, pages and history to
    /// whoever holds the new key, so the person is held until an admin decides.
    fn email_reused(&mut self, person: &DesiredUser, former: &KnownLink) {
        self.held.insert(former.scim_id.0.clone());
        if self.reuse_confirmed_new(person, &former.key).is_some() {
            return;
        }
        self.finding(
            Severity::Error,
            FindingCode::EmailReused,
            format!(
                "{} ({}) has the email idbridge provisioned for {}, whose account is out of the workspace or no longer \
                 in the sources; provisioning it would hand that account to {}. Held, and that account is not \
                 deactivated either: whether this is the same person under a new id or someone new reusing the \
                 address is an admin's decision (see docs/plan-format.md, `email-reused`)",
                former.user_name,
                person.key,
                former.key,
                person.key
            ),
            vec![person.key.to_string(), former.key.to_string(), format!("scim: {}", former.scim_id)],
        );
    }

    /// A link under another key that last held `name`, although no target user holds it now (the
    /// caller found nobody): in Notion, creating that email re-adds the removed account of the
    /// person that link belongs to.
    /// Indexed: scanning every link for each joiner made a plan of 1,000 hires on a 100,000-person
    /// workspace 16 times slower than a plan with none (docs/performance.md).
    fn former_holder(&self, person: &DesiredUser, name: &UserName) -> Option<&'a KnownLink> {
        let links: &'a [KnownLink] = self.input.links;
        let index = self
            .link_by_name
            .get_or_init(|| ByKey::new(links.iter().map(|l| (l.user_name.key_ref(), l))));
        index
            .get(&name.key_ref())
            .find(|l| l.key != person.key && !person.other_keys.contains(&l.key))
    }

    fn person(&mut self, person: &DesiredUser) {
        let Some(name) = person.user_name() else {
            self.finding(
                Severity::Error,
                FindingCode::NoUserName,
                format!(
                    "{} has no userName after mapping; left untouched",
                    person.key
                ),
                vec![person.key.to_string()],
            );
            return;
        };
        match self.find(person, &name.key_ref()) {
            Match::Conflict => {}
            Match::Rekeyed(user, old) => self.rekey(person, &name, user, old),
            Match::Linked(user) => {
                self.claimed.insert(user.id.0.as_str());
                self.existing(person, user);
            }
            Match::LinkedGone(link) => self.returning(person, &name, link),
            Match::Found(user, how) => self.found(person, &name, user, how),
            Match::None => self.unmatched(person, &name),
        }
    }

    /// A re-keyed person: the link moves to the new key and nothing is written to the target.
    fn rekey(
        &mut self,
        person: &DesiredUser,
        name: &UserName,
        user: &'a TargetUser,
        old: &'a KnownLink,
    ) {
        self.claimed.insert(user.id.0.as_str());
        self.moved.insert(&old.key);
        self.ops.push(Op::LinkUser(LinkUser {
            user_name: name.clone(),
            scim_id: user.id.clone(),
            source_key: person.key.clone(),
            reason: format!(
                "rekey: {} now identifies {name} as {} ({}); {} vanished from the same read",
                person.key.source, person.key, person.reason, old.key
            ),
            origin: LinkOrigin::Rekey,
            previous_key: Some(old.key.clone()),
        }));
        self.finding(
            Severity::Info,
            FindingCode::Rekeyed,
            format!(
                "{name}: source `{}` re-keyed them from {} to {}; the link moves and nothing is written to the \
                 target in this run (attributes that differ under the new record are patched on the next run)",
                person.key.source, old.key, person.key
            ),
            vec![old.key.to_string(), person.key.to_string(), format!("scim: {}", user.id)],
        );
    }

    /// A linked person whose user is no longer in the target (removed from the workspace): re-added
    /// when active, unless the read did not add up.
    fn returning(&mut self, person: &DesiredUser, name: &UserName, link: &KnownLink) {
        if person.lifecycle != Lifecycle::Active {
            return;
        }
        if self.input.target.consistent {
            let account = Account::Gone {
                id: &link.scim_id,
                user_name: &link.user_name,
            };
            self.readd(person, name, account);
        } else {
            self.finding(
                Severity::Warning,
                FindingCode::ReaddDeferred,
                format!("{name} looks removed from the workspace, but the target read did not add up; not re-added this run"),
                vec![person.key.to_string()],
            );
        }
    }

    /// An unlinked person matching target user `user` (by `how`): linked (adopted, or recovered
    /// from the journal) when policy allows, then planned as an existing user.
    fn found(&mut self, person: &DesiredUser, name: &UserName, user: &'a TargetUser, how: &str) {
        self.claimed.insert(user.id.0.as_str());
        if let Some(why) = self.protected(user) {
            self.finding(
                Severity::Info,
                FindingCode::ProtectedUser,
                format!("{} is {why}; idbridge never changes it", user.user_name()),
                vec![person.key.to_string(), format!("scim: {}", user.id)],
            );
            return;
        }
        let recovered = self.input.recovered.contains(&name.key());
        if !recovered && self.input.policy.adopt == Adopt::None {
            self.finding(
                Severity::Warning,
                FindingCode::UnadoptedMatch,
                format!(
                    "target user {} matches {} by {how}, but policy.adopt = \"none\"; left alone (set adopt = \"match-email\" to manage it)",
                    user.user_name(),
                    person.key
                ),
                vec![person.key.to_string(), format!("scim: {}", user.id)],
            );
            return;
        }
        let (origin, reason) = if recovered {
            (LinkOrigin::Recover, format!("recover: {name} was created by an earlier idbridge run whose reply was lost (journal)"))
        } else {
            (
                LinkOrigin::Adopt,
                format!(
                    "adopt: existing target user matches {} by {how}",
                    person.key
                ),
            )
        };
        self.ops.push(Op::LinkUser(LinkUser {
            user_name: name.clone(),
            scim_id: user.id.clone(),
            source_key: person.key.clone(),
            reason,
            origin,
            previous_key: None,
        }));
        self.existing(person, user);
    }

    /// A person nobody in the target matches: created when active, unless their email was a
    /// former person's.
    fn unmatched(&mut self, person: &DesiredUser, name: &UserName) {
        match person.lifecycle {
            Lifecycle::Active => match self.former_holder(person, name) {
                Some(former) => self.email_reused(person, former),
                None => self.ops.push(Op::CreateUser(CreateUser {
                    user_name: name.clone(),
                    source_key: person.key.clone(),
                    reason: person.reason.clone(),
                    changes: full_changes(&person.attrs, None),
                })),
            },
            Lifecycle::Pending => self.finding(
                Severity::Info,
                FindingCode::NotStarted,
                format!("{name} is not provisioned yet: {}", person.reason),
                vec![person.key.to_string()],
            ),
            Lifecycle::Inactive => {}
        }
    }

    /// The id of another target user that holds the userName `changes` would give `user`.
    fn name_held_by_another(
        &self,
        person: &DesiredUser,
        user: &TargetUser,
        changes: &[Change],
    ) -> Option<ScimId> {
        if !changes.iter().any(|c| c.attr == Attr::UserName.path()) {
            return None;
        }
        let name = person.user_name()?;
        self.by_name
            .get(&name.key_ref())
            .find(|other| other.id != user.id)
            .map(|other| other.id.clone())
    }

    /// A person matched to target user `user`.
    fn existing(&mut self, person: &DesiredUser, user: &TargetUser) {
        let changes = names::compare(
            self.input.names,
            &person.attrs,
            &user.attrs,
            self.input.managed,
        );
        let changes = self.guard_changes(user, changes);
        let changes = self.role_changes(person, user, changes);
        if !self.existing_held(person, user, &changes) {
            self.bring_in_line(person, user, changes);
        }
    }

    /// Whether `user` must be left as it is although `person` would change it: a protected user,
    /// or a rename onto a userName another account holds. Reported when so.
    fn existing_held(
        &mut self,
        person: &DesiredUser,
        user: &TargetUser,
        changes: &[Change],
    ) -> bool {
        let would_act = match person.lifecycle {
            Lifecycle::Active => !user.active || !changes.is_empty(),
            Lifecycle::Inactive => user.active,
            Lifecycle::Pending => false,
        };
        if let Some(why) = self.protected(user) {
            if would_act {
                self.finding(
                    Severity::Info,
                    FindingCode::ProtectedUser,
                    format!(
                        "{} is {why}; idbridge never changes it ({})",
                        user.user_name(),
                        person.reason
                    ),
                    vec![person.key.to_string(), format!("scim: {}", user.id)],
                );
            }
            return true;
        }
        if let Some(holder) = self.name_held_by_another(person, user, changes) {
            // Renaming onto a name another account holds would hand that name (and, when both
            // are renamed, both accounts) to the wrong person; the target would refuse it anyway.
            self.finding(
                Severity::Error,
                FindingCode::UserNameHeld,
                format!(
                    "{} would be renamed to {}, which target user {} holds; left untouched: when two people swap \
                     emails, rename one of them in the target first or fix the source",
                    user.user_name(),
                    desired_name(person),
                    holder
                ),
                vec![person.key.to_string(), format!("scim: {}", user.id), format!("scim: {holder}")],
            );
            return true;
        }
        false
    }

    /// The operation that brings matched user `user` in line with `person`'s attributes and
    /// lifecycle, if any.
    fn bring_in_line(&mut self, person: &DesiredUser, user: &TargetUser, changes: Vec<Change>) {
        match (person.lifecycle.clone(), user.active) {
            (Lifecycle::Active, true) if !changes.is_empty() => {
                let reason = patch_reason(person, &changes);
                self.ops.push(Op::PatchUser(PatchUser {
                    user_name: desired_name(person),
                    scim_id: user.id.clone(),
                    source_key: person.key.clone(),
                    reason,
                    changes,
                }));
            }
            (Lifecycle::Active, false) => {
                let dropped = changes.into_iter().filter(|c| c.after.is_none()).collect();
                self.readd(person, &desired_name(person), Account::Kept(user, dropped));
            }
            (Lifecycle::Inactive, true) if self.graced_leaver(person, user) => {}
            (Lifecycle::Inactive, true) => {
                self.ops.push(Op::DeactivateUser(DeactivateUser {
                    user_name: desired_name(person),
                    scim_id: user.id.clone(),
                    source_key: person.key.clone(),
                    reason: person.reason.clone(),
                    changes: deactivation(),
                }));
            }
            (Lifecycle::Pending, true) => self.finding(
                Severity::Info,
                FindingCode::NotStarted,
                format!(
                    "{} is already in the workspace but {}; left as is",
                    user.user_name(),
                    person.reason
                ),
                vec![person.key.to_string()],
            ),
            _ => {}
        }
    }

    /// Linked people who are in no source any more.
    fn absent(&mut self, desired_keys: &foldhash::HashSet<&SourceKey>) {
        let bad = BadRows::of(self.input.issues);
        let mut held_back = Vec::new();
        // Only the absent are sorted: a run of a million people sorted every link only to skip it.
        let mut links: Vec<&KnownLink> = self
            .input
            .links
            .iter()
            .filter(|l| !desired_keys.contains(&l.key) && !self.moved.contains(&l.key))
            .collect();
        links.sort_by(|a, b| a.key.cmp(&b.key));
        for link in links {
            let Some(user) = self.absent_user(link) else {
                continue;
            };
            if self.kept_in(link, user, &bad) {
                continue;
            }
            let name = user.user_name();
            if !bad.unnamed.is_empty() {
                held_back.push(name.to_string());
                continue;
            }
            let reason = match self.input.excluded.get(&link.key) {
                Some(rule) => format!(
                    "out of scope: {}: {rule} (linked as {})",
                    link.key.source, link.key
                ),
                None => format!(
                    "{}: absent from every source (linked as {})",
                    link.key.source, link.key
                ),
            };
            self.gone(&link.key, user, reason);
        }
        if !held_back.is_empty() {
            self.deactivations_held(&held_back, &bad);
        }
    }

    /// The active target user behind the link of an absent key, claimed; `None` when there is
    /// nothing to deactivate.
    fn absent_user(&mut self, link: &KnownLink) -> Option<&'a TargetUser> {
        if self.held.contains(&link.scim_id.0) {
            // A present person matches this user under another identity (findings say which).
            return None;
        }
        let user = self.by_id.get(link.scim_id.0.as_str()).copied()?;
        self.claimed.insert(user.id.0.as_str());
        user.active.then_some(user)
    }

    /// Whether an absent person's user stays in although absent: linked through an unconfigured
    /// source, protected, or named by a skipped bad row. Reported when so.
    fn kept_in(&mut self, link: &KnownLink, user: &TargetUser, bad: &BadRows<'_>) -> bool {
        if !self.input.sources.contains(&link.key.source) {
            self.finding(
                Severity::Warning,
                FindingCode::UnknownSourceLink,
                format!(
                    "{} is linked through source `{}`, which is not configured; left alone (was the source renamed?)",
                    user.user_name(),
                    link.key.source
                ),
                vec![link.key.to_string()],
            );
            return true;
        }
        if let Some(why) = self.protected(user) {
            self.finding(
                Severity::Warning,
                FindingCode::ProtectedUser,
                format!(
                    "{} is in no source but is {why}; idbridge never removes it",
                    user.user_name()
                ),
                vec![link.key.to_string()],
            );
            return true;
        }
        let name = user.user_name();
        if bad.hints.contains(&link.key.id.to_lowercase()) || bad.hints.contains(&name.key()) {
            // A held deactivation is an error: a leaver whose row is broken (a terminated row
            // with an unreadable date) must not stay in, night after night, with exit 0.
            self.finding(
                Severity::Error,
                FindingCode::KeptBadRow,
                format!("{name} is missing from the valid source rows, but a skipped bad row names them; not deactivated \
                         until the row is fixed"),
                vec![link.key.to_string()],
            );
            return true;
        }
        false
    }

    /// Absent people kept in because a skipped record that names nobody could be any of them.
    fn deactivations_held(&mut self, held_back: &[String], bad: &BadRows<'_>) {
        // An error, not a warning: a run that holds leavers every night must not look green.
        self.finding(
            Severity::Error,
            FindingCode::DeactivationsHeld,
            format!(
                "{} people are missing from the sources, but a source read may be missing people too ({}), so \
                 nobody is deactivated for being absent this run; fix the source and re-run",
                held_back.len(),
                bad.unnamed
                    .iter()
                    .map(|i| format!("{}: {}: {}", i.source, i.location, unnamed_cause(i)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            bad.unnamed
                .iter()
                .map(|i| format!("{}: {}", i.source, i.location))
                .collect(),
        );
    }

    fn orphans(&mut self) {
        let orphans: Vec<String> = self
            .input
            .target
            .users
            .iter()
            .filter(|u| {
                u.active
                    && !self.claimed.contains(u.id.0.as_str())
                    && !self.link_by_id.contains_key(u.id.0.as_str())
            })
            .map(|u| u.user_name().to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !orphans.is_empty() {
            self.finding(
                Severity::Info,
                FindingCode::OrphanUsers,
                format!(
                    "{} target users match nobody in the sources; idbridge leaves them alone",
                    orphans.len()
                ),
                orphans,
            );
        }
    }

    fn inconsistent_read(&mut self) {
        if self.input.target.consistent {
            return;
        }
        let before = self.ops.len();
        self.ops
            .retain(|o| !matches!(o.kind(), OpKind::DeactivateUser | OpKind::RemoveMembers));
        let dropped = before - self.ops.len();
        self.finding(
            Severity::Error,
            FindingCode::TargetReadInconsistent,
            format!(
                "the paged read of the target did not add up after retries ({}); this run makes no deactivations and no \
                 member removals ({dropped} held back); re-run later",
                self.input.target.problems.join("; ")
            ),
            Vec::new(),
        );
    }

    fn sort_ops(&mut self) {
        // The key compares as its `source:id` text, the order plans have always had.
        self.ops.sort_by_cached_key(|o| {
            (
                o.kind(),
                o.subject().to_lowercase(),
                o.source_key().to_string(),
            )
        });
    }

    fn guardrail(&mut self) -> bool {
        let deactivations = self
            .ops
            .iter()
            .filter(|o| o.kind() == OpKind::DeactivateUser)
            .count();
        if deactivations == 0 {
            return false;
        }
        let linked_present = self
            .input
            .links
            .iter()
            .filter(|l| {
                self.by_id
                    .get(l.scim_id.0.as_str())
                    .is_some_and(|u| u.active)
            })
            .count();
        let adopted = self
            .ops
            .iter()
            .filter(|o| matches!(o, Op::LinkUser(l) if l.origin != LinkOrigin::Rekey))
            .count();
        let managed = linked_present + adopted;
        let threshold = self.input.policy.max_deactivations;
        let limit = threshold.limit(managed);
        if deactivations as u64 <= limit {
            return false;
        }
        let message = format!(
            "this plan deactivates {deactivations} of {managed} managed users, above policy.max_deactivations = {threshold} \
             (at most {limit})"
        );
        if self.input.policy.force {
            self.finding(
                Severity::Warning,
                FindingCode::MaxDeactivationsForced,
                format!("{message}; allowed by --force"),
                Vec::new(),
            );
            false
        } else {
            self.finding(
                Severity::Error,
                FindingCode::MaxDeactivationsExceeded,
                format!("{message}; nothing is applied. Check the sources, then re-run with --force if it is right"),
                Vec::new(),
            );
            true
        }
    }

    fn limit(&mut self) {
        let Some(limit) = self.input.policy.limit else {
            return;
        };
        let mut kept = 0usize;
        let mut deferred = Vec::new();
        self.ops.retain(|o| {
            if !o.writes_target() {
                return true;
            }
            kept += 1;
            if kept <= limit {
                true
            } else {
                deferred.push(format!("{} {}", o.kind(), o.subject()));
                false
            }
        });
        if !deferred.is_empty() {
            self.finding(
                Severity::Info,
                FindingCode::LimitDeferred,
                format!(
                    "--limit {limit}: {} more operations are left for a later run",
                    deferred.len()
                ),
                deferred,
            );
        }
    }

    /// The users and groups `targetDigest` covers: those this plan touches or could touch, so
    /// `apply` can tell whether they changed since the plan was made.
    fn watch(&self) -> Watch {
        let input = self.input;
        let mut watch = Watch {
            scim_ids: {
                // Sorted as a list, not gathered in a tree: a million ids twice over.
                let mut ids: Vec<&str> = self
                    .claimed
                    .iter()
                    .copied()
                    .chain(input.links.iter().map(|l| l.scim_id.0.as_str()))
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids.into_iter().map(str::to_owned).collect()
            },
            user_names: self
                .ops
                .iter()
                .filter(|o| matches!(o.kind(), OpKind::CreateUser | OpKind::ReaddUser))
                .map(|o| o.subject().to_lowercase())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            group_ids: Vec::new(),
            group_names: Vec::new(),
        };
        if let Some(groups) = input.target_groups {
            let desired_names: BTreeSet<String> = input
                .desired_groups
                .iter()
                .map(|g| g.display_name.to_lowercase())
                .collect();
            watch.group_ids = groups
                .groups
                .iter()
                .filter(|g| {
                    input.group_links.iter().any(|l| l.scim_id == g.id)
                        || desired_names.contains(&g.display_name.to_lowercase())
                })
                .map(|g| g.id.0.clone())
                .chain(input.group_links.iter().map(|l| l.scim_id.0.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            watch.group_names = desired_names.into_iter().collect();
        }
        watch
    }

    fn finish(
        mut self,
        blocked: bool,
        absence: super::absence::AbsenceSection,
        source_digest: String,
        linked_lines: Option<IdLines<'a>>,
    ) -> Plan {
        let input = self.input;
        let watch = self.watch();
        let summary = OpKind::iter()
            .map(|k| {
                (
                    k.to_string(),
                    self.ops.iter().filter(|o| o.kind() == k).count(),
                )
            })
            .collect();
        // Most severe first; within a severity, by code (as spelt) then message, so the order
        // never depends on the order the target listed users in.
        self.findings.sort_by(|a, b| {
            (a.severity, a.code.as_str(), &a.message).cmp(&(
                b.severity,
                b.code.as_str(),
                &b.message,
            ))
        });
        let mut plan = Plan {
            version: PLAN_VERSION,
            generated_at: input.now.to_rfc3339_opts(SecondsFormat::Secs, true),
            target: input.target_ref.clone(),
            source_digest,
            target_digest: target_digest_by(
                &input.target.users,
                self.by_id,
                linked_lines,
                input
                    .target_groups
                    .map(|g| g.groups.as_slice())
                    .unwrap_or(&[]),
                &watch,
            ),
            plan_digest: None,
            watch,
            blocked,
            summary,
            // Held through a whole apply: 100,000 creates grown by doubling kept 6 MB spare.
            operations: {
                self.ops.shrink_to_fit();
                self.ops
            },
            findings: self.findings,
            gates: Vec::new(),
            absence,
        };
        plan.plan_digest = Some(plan_digest(&plan));
        plan
    }
}

fn desired_name(person: &DesiredUser) -> UserName {
    person.user_name().unwrap_or_else(|| UserName::new(""))
}

pub(super) fn readd_reason(person: &DesiredUser, old: &ScimId) -> String {
    format!(
        "returned: {} (was removed from the workspace as {old})",
        person.reason
    )
}

pub(super) fn deactivation() -> Vec<Change> {
    vec![Change {
        attr: "active".into(),
        before: Some(Value::Bool(true).into()),
        after: Some(Value::Bool(false).into()),
    }]
}

/// Why an issue that names nobody could hide a person, as `deactivations-held` says it.
fn unnamed_cause(issue: &SourceIssue) -> &'static str {
    match issue.code {
        FindingCode::SourcePagingOverlap => {
            "the HR API sent a record on two pages, so its paging shifted and may have skipped someone"
        }
        FindingCode::SourceTotalMismatch => {
            "the HR API's record count does not match the records it sent, or could not be read"
        }
        _ if issue.location.contains(" lines ") => {
            "a skipped row spans several lines and may hold other people's rows"
        }
        _ => "a skipped record names nobody, so it could be anyone's",
    }
}

pub(super) fn same(attr: Attr, a: &str, b: &str) -> bool {
    if attr.case_insensitive() {
        a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
    } else {
        a == b
    }
}

/// Changes that turn `current` into `desired`, over the managed attributes only.
pub fn diff(desired: &UserAttrs, current: &UserAttrs, managed: &BTreeSet<Attr>) -> Vec<Change> {
    managed
        .iter()
        .filter_map(|attr| {
            let (want, have) = (desired.get(attr), current.get(attr));
            let equal = match (want, have) {
                (Some(w), Some(h)) => same(*attr, w, h),
                (None, None) => true,
                _ => false,
            };
            (!equal).then(|| Change {
                attr: attr.path().into(),
                before: have.map(ChangeValue::from),
                after: want.map(ChangeValue::from),
            })
        })
        .collect()
}

/// Every desired attribute, as a create or re-add sends it.
pub(super) fn full_changes(desired: &UserAttrs, current: Option<&UserAttrs>) -> Vec<Change> {
    desired
        .iter()
        .map(|(attr, value)| Change {
            attr: attr.path().into(),
            before: current.and_then(|c| c.get(&attr)).map(ChangeValue::from),
            after: Some(value.into()),
        })
        .collect()
}

/// A patch's reason: for each changed attribute, the source values it was mapped from and where
/// they stand (`hr: title=Lead Engineer (hr.csv line 4)`), so a reviewer can check the change
/// against the file. An attribute without recorded provenance falls back to the person's
/// lifecycle fact.
fn patch_reason(person: &DesiredUser, changes: &[Change]) -> String {
    let facts_of = |c: &Change| {
        Attr::from_path(&c.attr)
            .and_then(|a| person.provenance.get(&a))
            .filter(|facts| !facts.is_empty())
    };
    let (mut facts, mut unsourced): (Vec<SourceFact>, Vec<Change>) = (Vec::new(), Vec::new());
    for change in changes {
        match facts_of(change) {
            Some(found) => facts.extend(found),
            None => unsourced.push(change.clone()),
        }
    }
    let mut parts = vec![cite(&facts)];
    if !unsourced.is_empty() {
        parts.push(format!(
            "{} differs in the target; {}",
            describe(&unsourced),
            person.reason
        ));
    }
    parts.retain(|p| !p.is_empty());
    parts.join("; ")
}

fn describe(changes: &[Change]) -> String {
    let names: Vec<&str> = changes
        .iter()
        .map(|c| c.attr.rsplit(':').next().unwrap_or(&c.attr))
        .collect();
    names.join(", ")
}
