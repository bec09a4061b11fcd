//! Re-checking a saved plan before `apply --plan` runs it: a plan file is input like any other,
//! and an edited one must not get past the rules the planner keeps. Each operation is checked
//! against a fresh read of the target, the stored links, the journal's unfinished creates, the
//! sources as they read now (the person an operation names must be there, and say what the
//! operation relies on) and the configured policy; the guardrail is recomputed from the plan's
//! own operations. Pure: the caller reads everything first.

use super::diff::{same, KnownLink};
use super::index::ByKey;
use super::op::{
    CreateGroup, CreateUser, DeactivateUser, DeleteGroup, GroupOrigin, LinkOrigin, LinkUser,
    Members, Op, OpKind, PatchGroup, PatchUser, Plan, ReaddUser,
};
use super::policy::{Adopt, Policy};
use super::ChangeValue;
use crate::model::email::check_plain;
use crate::model::{
    parse_email, Attr, DesiredUser, Lifecycle, ScimId, SourceKey, TargetGroup, TargetUser, UserName,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use strum::IntoEnumIterator;

/// What a saved plan is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The plan as read from its file.
    pub plan: &'a Plan,
    /// The target's users, read now (the read added up).
    pub users: &'a [TargetUser],
    /// The target's groups, read now (empty when the plan has no group operation).
    pub groups: &'a [TargetGroup],
    /// Stored user links for this target.
    pub links: &'a [KnownLink],
    /// Stored group links for this target.
    pub group_links: &'a [KnownLink],
    /// Lowercased userNames (and `group:<name>`) of creates an earlier run left unfinished.
    pub unfinished: &'a BTreeSet<String>,
    /// The configured policy, with this run's `--force`.
    pub policy: &'a Policy,
    /// The people the sources describe now (mapped as for a plan); `None` skips the source checks.
    pub desired: Option<&'a [DesiredUser]>,
}

/// One rule an operation (or the plan as a whole) breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 1-based position of the operation in the plan; `None` for the plan as a whole.
    pub position: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(n) => write!(f, "operation {n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every rule the plan breaks; empty when it may be applied.
pub fn verify(check: &Check<'_>) -> Vec<Violation> {
    let mut verifier = Verifier::new(check);
    verifier.summary();
    for (i, op) in check.plan.operations.iter().enumerate() {
        verifier.position = Some(i + 1);
        verifier.op(op);
    }
    verifier.position = None;
    verifier.guardrail();
    verifier.role_guardrail();
    verifier.violations
}

struct Verifier<'a> {
    check: &'a Check<'a>,
    users: BTreeMap<&'a str, &'a TargetUser>,
    users_by_name: ByKey<'a, TargetUser>,
    groups: BTreeMap<&'a str, &'a TargetGroup>,
    link_by_key: BTreeMap<&'a SourceKey, &'a KnownLink>,
    linked_ids: BTreeSet<&'a str>,
    /// Every key of every person the sources describe now.
    people: Option<BTreeMap<&'a SourceKey, &'a DesiredUser>>,
    /// Keys and target ids a `link-user` of this plan links; keys a re-key moves away from.
    plan_link_ids: BTreeSet<&'a str>,
    moved_keys: BTreeSet<&'a SourceKey>,
    group_link_by_key: BTreeMap<&'a SourceKey, &'a KnownLink>,
    /// Target ids the plan itself links (checked `link-user`s), by the key they link under.
    plan_links: BTreeMap<&'a SourceKey, &'a ScimId>,
    /// Group keys the plan creates, and the ids of groups it adopts by key.
    plan_created_groups: BTreeSet<&'a SourceKey>,
    plan_adopted_groups: BTreeMap<&'a SourceKey, &'a ScimId>,
    /// userNames the plan creates or re-adds.
    plan_new: BTreeSet<String>,
    /// Target ids and keys that already have a writing user operation.
    touched_ids: BTreeSet<&'a str>,
    touched_keys: BTreeSet<&'a SourceKey>,
    position: Option<usize>,
    violations: Vec<Violation>,
}

impl<'a> Verifier<'a> {
    fn new(check: &'a Check<'a>) -> Self {
        Self {
            check,
            users: check.users.iter().map(|u| (u.id.0.as_str(), u)).collect(),
            users_by_name: ByKey::new(check.users.iter().map(|u| (u.user_name_key(), u))),
            groups: check.groups.iter().map(|g| (g.id.0.as_str(), g)).collect(),
            link_by_key: check.links.iter().map(|l| (&l.key, l)).collect(),
            linked_ids: check.links.iter().map(|l| l.scim_id.0.as_str()).collect(),
            people: check.desired.map(|desired| {
                desired
                    .iter()
                    .flat_map(|d| {
                        std::iter::once((&d.key, d)).chain(d.other_keys.iter().map(move |k| (k, d)))
                    })
                    .collect()
            }),
            plan_link_ids: BTreeSet::new(),
            moved_keys: BTreeSet::new(),
            group_link_by_key: check.group_links.iter().map(|l| (&l.key, l)).collect(),
            plan_links: BTreeMap::new(),
            plan_created_groups: BTreeSet::new(),
            plan_adopted_groups: BTreeMap::new(),
            plan_new: BTreeSet::new(),
            touched_ids: BTreeSet::new(),
            touched_keys: BTreeSet::new(),
            position: None,
            violations: Vec::new(),
        }
    }

    fn refuse(&mut self, message: String) {
        self.violations.push(Violation {
            position: self.position,
            message,
        });
    }

    fn summary(&mut self) {
        for kind in OpKind::iter() {
            let counted = self
                .check
                .plan
                .operations
                .iter()
                .filter(|o| o.kind() == kind)
                .count();
            let stated = self.check.plan.summary.get(<&str>::from(kind)).copied();
            if stated != Some(counted) {
                self.refuse(format!(
                    "the summary says {} {kind} but the plan has {counted}: the file was edited",
                    stated.map_or_else(|| "no".to_owned(), |n| n.to_string())
                ));
            }
        }
    }

    fn op(&mut self, op: &'a Op) {
        if self.moved_keys.contains(op.source_key()) {
            self.refuse(format!(
                "{}: {} is re-keyed away earlier in this plan; nothing else may use it",
                op.subject(),
                op.source_key()
            ));
            return;
        }
        if let Some(why) = super::roles::forbidden_role(op, self.check.policy) {
            self.refuse(why);
            return;
        }
        match op {
            Op::LinkUser(o) => self.link_user(o),
            Op::CreateUser(o) => self.create_user(o),
            Op::PatchUser(o) => self.patch_user(o),
            Op::ReaddUser(o) => self.readd_user(o),
            Op::DeactivateUser(o) => self.deactivate_user(o),
            Op::CreateGroup(o) => self.create_group(o),
            Op::PatchGroup(o) => self.patch_group(o),
            Op::AddMembers(o) => self.members(o, true),
            Op::RemoveMembers(o) => self.members(o, false),
            Op::DeleteGroup(o) => self.delete_group(o),
        }
    }

    /// Why `user` may never be changed, if it may not.
    fn protected(&self, user: &TargetUser) -> Option<&'static str> {
        let policy = self.check.policy;
        if self.is_token_owner(&user.user_name()) {
            return Some("the owner of idbridge's SCIM token");
        }
        user.role
            .as_ref()
            .filter(|r| policy.protected_roles.iter().any(|p| p == *r))
            .map(|_| "a workspace owner")
    }

    fn is_token_owner(&self, name: &UserName) -> bool {
        self.check.policy.token_owner.as_ref() == Some(name)
    }

    /// The target user `id`, when it exists and may be changed; refuses otherwise.
    fn changeable(&mut self, id: &ScimId, name: &UserName) -> Option<&'a TargetUser> {
        let Some(user) = self.users.get(id.0.as_str()).copied() else {
            self.refuse(format!(
                "{name}: the target has no user with id {id} (it was removed, or the id was edited)"
            ));
            return None;
        };
        if let Some(why) = self.protected(user) {
            self.refuse(format!(
                "{} (id {id}) is {why}; idbridge never changes it",
                user.user_name()
            ));
            return None;
        }
        Some(user)
    }

    /// A user operation must be the only one of its person and its target user.
    fn once(&mut self, key: &'a SourceKey, id: Option<&'a ScimId>) {
        let twice_key = !self.touched_keys.insert(key);
        let twice_id = id.is_some_and(|id| !self.touched_ids.insert(id.0.as_str()));
        if twice_key || twice_id {
            self.refuse(format!(
                "{key} has more than one operation that writes to the target"
            ));
        }
    }

    /// The id `key` is linked to: stored, or linked earlier in this plan.
    fn linked_id(&self, key: &SourceKey) -> Option<&'a ScimId> {
        self.plan_links
            .get(key)
            .copied()
            .or_else(|| self.link_by_key.get(key).map(|l| &l.scim_id))
    }

    fn require_link(&mut self, key: &SourceKey, id: &ScimId, name: &UserName) -> bool {
        match self.linked_id(key) {
            Some(linked) if linked == id => true,
            Some(linked) => {
                self.refuse(format!(
                    "{name}: {key} is linked to target id {linked}, not {id}"
                ));
                false
            }
            None => {
                self.refuse(format!(
                    "{name}: target id {id} is not linked to {key}; idbridge only changes users it manages"
                ));
                false
            }
        }
    }

    /// The userName the operation names must be the one the target user holds.
    fn same_name(&mut self, user: &TargetUser, name: &UserName) -> bool {
        if user.user_name() == *name {
            return true;
        }
        self.refuse(format!(
            "the operation names {name} but target id {} is {}",
            user.id,
            user.user_name()
        ));
        false
    }

    fn link_user(&mut self, o: &'a LinkUser) {
        if !self.plan_link_ids.insert(o.scim_id.0.as_str())
            || self.plan_links.contains_key(&o.source_key)
        {
            self.refuse(format!(
                "{}: target id {} or key {} is linked twice in this plan",
                o.user_name, o.scim_id, o.source_key
            ));
            return;
        }
        let Some(user) = self.changeable(&o.scim_id, &o.user_name) else {
            return;
        };
        if !self.same_name(user, &o.user_name) {
            return;
        }
        let allowed = match o.origin {
            LinkOrigin::Adopt => {
                self.may_adopt(o) && self.person_named(&o.source_key, &o.user_name, false)
            }
            LinkOrigin::Recover => self.may_recover(o),
            LinkOrigin::Rekey => {
                self.may_rekey(o) && self.person_named(&o.source_key, &o.user_name, false)
            }
        };
        if allowed {
            self.plan_links.insert(&o.source_key, &o.scim_id);
            if let Some(previous) = &o.previous_key {
                self.moved_keys.insert(previous);
            }
        }
    }

    fn unlinked(&mut self, o: &LinkUser) -> bool {
        if self.linked_ids.contains(o.scim_id.0.as_str()) {
            self.refuse(format!(
                "{}: target id {} is already linked to another source person",
                o.user_name, o.scim_id
            ));
            return false;
        }
        if let Some(linked) = self.linked_id(&o.source_key) {
            self.refuse(format!(
                "{}: {} is already linked to target id {linked}",
                o.user_name, o.source_key
            ));
            return false;
        }
        true
    }

    fn may_adopt(&mut self, o: &LinkUser) -> bool {
        if self.check.policy.adopt != Adopt::MatchEmail {
            self.refuse(format!(
                "{}: adopting an existing target user is off (policy.adopt = \"none\")",
                o.user_name
            ));
            return false;
        }
        self.unlinked(o)
    }

    fn may_recover(&mut self, o: &LinkUser) -> bool {
        if !self.check.unfinished.contains(&o.user_name.key()) {
            self.refuse(format!(
                "{}: a recovery link needs an unfinished create of that userName in the journal, and there is none",
                o.user_name
            ));
            return false;
        }
        self.unlinked(o)
    }

    fn may_rekey(&mut self, o: &LinkUser) -> bool {
        let Some(previous) = &o.previous_key else {
            self.refuse(format!(
                "{}: a rekey link names no previousKey",
                o.user_name
            ));
            return false;
        };
        let old = self.link_by_key.get(previous).copied();
        let moves = old.is_some_and(|l| l.scim_id == o.scim_id && l.active)
            && previous.source == o.source_key.source
            && !self.link_by_key.contains_key(&o.source_key)
            && self
                .people
                .as_ref()
                .is_none_or(|p| !p.contains_key(previous));
        if !moves {
            self.refuse(format!(
                "{}: a rekey must move an active link of target id {} from {previous} to an unlinked key of the same \
                 source ({}), and the store does not allow that",
                o.user_name, o.scim_id, o.source_key
            ));
        }
        moves
    }

    /// The sources must describe a person under `key` whose userName is `name` (active, when
    /// `active` is asked for): what a create, re-add or adoption relies on.
    fn person_named(&mut self, key: &SourceKey, name: &UserName, active: bool) -> bool {
        let Some(people) = &self.people else {
            return true;
        };
        let found = people.get(key).copied();
        let ok = found.is_some_and(|d| {
            d.user_name().as_ref() == Some(name) && (!active || d.lifecycle == Lifecycle::Active)
        });
        if !ok {
            self.refuse(format!(
                "{name}: the sources {} (re-plan if they changed since the plan was made)",
                match found {
                    None => format!("name nobody as {key}"),
                    Some(d) if d.user_name().as_ref() != Some(name) => format!(
                        "give {key} the userName {}",
                        d.user_name()
                            .map_or_else(|| "(none)".to_owned(), |n| n.to_string())
                    ),
                    Some(_) => format!("do not make {key} active"),
                }
            ));
        }
        ok
    }

    /// Identities a plan sends must pass the rule every source passes: an edited plan must not
    /// carry an address the sources would have refused.
    fn identities_clean(&mut self, subject: &UserName, changes: &[super::Change]) -> bool {
        let mut clean = true;
        for change in changes {
            let Some(attr) = Attr::from_path(&change.attr)
                .filter(|a| matches!(a, Attr::UserName | Attr::Email | Attr::Manager))
            else {
                continue;
            };
            let Some(value) = change.after.as_ref().and_then(ChangeValue::as_str) else {
                continue;
            };
            let verdict = if attr == Attr::UserName && !value.contains('@') {
                check_plain(value).map(|()| value.to_owned())
            } else {
                parse_email(value)
            };
            match verdict {
                Ok(normal) if normal.eq_ignore_ascii_case(value) => {}
                Ok(normal) => {
                    clean = false;
                    self.refuse(format!(
                        "{subject}: {} `{}` is not in its ASCII form (`{normal}`)",
                        change.attr,
                        value.escape_debug()
                    ));
                }
                Err(why) => {
                    clean = false;
                    self.refuse(format!(
                        "{subject}: {} `{}` is not a usable address: {why}",
                        change.attr,
                        value.escape_debug()
                    ));
                }
            }
        }
        clean
    }

    /// A create or re-add must not land on a userName someone holds: the target would answer
    /// with the existing user, and idbridge would link it without the adopt rule.
    fn name_free(&mut self, name: &UserName, allowed: Option<&ScimId>) -> bool {
        let holders: Vec<&TargetUser> = self
            .users_by_name
            .get(&name.key_ref())
            .filter(|u| Some(&u.id) != allowed)
            .collect();
        if let Some(user) = holders.first() {
            self.refuse(format!(
                "{name} is already held by target id {}; a create would take over that account",
                user.id
            ));
            return false;
        }
        if self.is_token_owner(name) {
            self.refuse(format!("{name} is the owner of idbridge's SCIM token"));
            return false;
        }
        true
    }

    /// The userName a create sends must be the operation's.
    fn sends_own_name(&mut self, name: &UserName, changes: &[super::Change]) -> bool {
        let sent = changes
            .iter()
            .find(|c| c.attr == Attr::UserName.path())
            .and_then(|c| c.after.as_ref())
            .and_then(ChangeValue::as_str)
            .map(UserName::new);
        if sent.as_ref() == Some(name) {
            return true;
        }
        self.refuse(format!(
            "{name}: the changes send userName {} instead",
            sent.map_or_else(|| "nothing".to_owned(), |s| s.to_string())
        ));
        false
    }

    fn create_user(&mut self, o: &'a CreateUser) {
        self.once(&o.source_key, None);
        if !self.identities_clean(&o.user_name, &o.changes)
            || !self.sends_own_name(&o.user_name, &o.changes)
            || !self.name_free(&o.user_name, None)
            || !self.person_named(&o.source_key, &o.user_name, true)
        {
            return;
        }
        if let Some(linked) = self.linked_id(&o.source_key) {
            self.refuse(format!(
                "{}: {} is already linked to target id {linked}; it is not new",
                o.user_name, o.source_key
            ));
            return;
        }
        let former = self
            .check
            .links
            .iter()
            .find(|l| l.user_name == o.user_name && l.key != o.source_key);
        if let Some(former) = former {
            self.refuse(format!(
                "{}: idbridge provisioned that email for {}; creating it would hand that account to {}",
                o.user_name, former.key, o.source_key
            ));
            return;
        }
        self.plan_new.insert(o.user_name.key());
    }

    fn patch_user(&mut self, o: &'a PatchUser) {
        self.once(&o.source_key, Some(&o.scim_id));
        let Some(user) = self.changeable(&o.scim_id, &o.user_name) else {
            return;
        };
        if !self.require_link(&o.source_key, &o.scim_id, &o.user_name) {
            return;
        }
        if !user.active {
            self.refuse(format!(
                "{}: target id {} is not active; a patch does not bring anyone back",
                o.user_name, o.scim_id
            ));
            return;
        }
        if !self.identities_clean(&o.user_name, &o.changes) {
            return;
        }
        let renames = o.changes.iter().any(|c| c.attr == Attr::UserName.path());
        if renames {
            if !self.sends_own_name(&o.user_name, &o.changes)
                || !self.name_free(&o.user_name, Some(&o.scim_id))
            {
                return;
            }
        } else if !self.same_name(user, &o.user_name) {
            return;
        }
        if let Some(people) = &self.people {
            if !people.contains_key(&o.source_key) {
                self.refuse(format!(
                    "{}: the sources name nobody as {} (re-plan if they changed since the plan was made)",
                    o.user_name, o.source_key
                ));
                return;
            }
        }
        for change in &o.changes {
            let Some(attr) = Attr::from_path(&change.attr) else {
                self.refuse(format!(
                    "{}: `{}` is not an attribute idbridge manages",
                    o.user_name, change.attr
                ));
                continue;
            };
            let now = user.attrs.get(&attr);
            let before = change.before.as_ref().and_then(ChangeValue::as_str);
            let current = match (before, now) {
                (Some(b), Some(n)) => same(attr, b, n),
                (None, None) => true,
                _ => false,
            };
            if !current {
                self.refuse(format!(
                    "{}: {} is {} in the target, but the plan says {}",
                    o.user_name,
                    change.attr,
                    now.map_or_else(|| "absent".to_owned(), |v| format!("`{v}`")),
                    before.map_or_else(|| "absent".to_owned(), |v| format!("`{v}`"))
                ));
            }
        }
    }

    fn readd_user(&mut self, o: &'a ReaddUser) {
        self.once(&o.source_key, o.scim_id.as_ref());
        if !self.identities_clean(&o.user_name, &o.changes)
            || !self.sends_own_name(&o.user_name, &o.changes)
            || !self.person_named(&o.source_key, &o.user_name, true)
        {
            return;
        }
        let Some(link) = self.link_by_key.get(&o.source_key).copied() else {
            self.refuse(format!(
                "{}: {} has no link; only a person idbridge took out can be re-added",
                o.user_name, o.source_key
            ));
            return;
        };
        let current = self.users.get(link.scim_id.0.as_str()).copied();
        if !self.former_name_is_theirs(o, link, current) {
            return;
        }
        match (&o.scim_id, current) {
            (Some(id), Some(user)) if *id == link.scim_id && !user.active => {
                if let Some(why) = self.protected(user) {
                    self.refuse(format!(
                        "{} (id {id}) is {why}; idbridge never changes it",
                        user.user_name()
                    ));
                    return;
                }
            }
            (None, None) => {}
            _ => {
                self.refuse(format!(
                    "{}: {} is linked to target id {}, which is {}; the plan re-adds {}",
                    o.user_name,
                    o.source_key,
                    link.scim_id,
                    match current {
                        Some(u) if u.active => "active",
                        Some(_) => "inactive",
                        None => "not in the target",
                    },
                    o.scim_id
                        .as_ref()
                        .map_or_else(|| "a removed user".to_owned(), |id| format!("id {id}"))
                ));
                return;
            }
        }
        if self.name_free(&o.user_name, o.scim_id.as_ref()) {
            self.plan_new.insert(o.user_name.key());
        }
    }

    /// A re-add that names a former userName must name the one the person's own account had: the
    /// target finds an account by it, so another name would bring back someone else's account.
    fn former_name_is_theirs(
        &mut self,
        o: &ReaddUser,
        link: &KnownLink,
        current: Option<&TargetUser>,
    ) -> bool {
        let Some(former) = &o.former_user_name else {
            return true;
        };
        let known = current.map_or_else(|| link.user_name.clone(), TargetUser::user_name);
        if *former == known {
            return true;
        }
        self.refuse(format!(
            "{}: the plan re-adds the account known as {former}, but {}'s account is known as {known}",
            o.user_name, o.source_key
        ));
        false
    }

    fn deactivate_user(&mut self, o: &'a DeactivateUser) {
        self.once(&o.source_key, Some(&o.scim_id));
        let Some(user) = self.changeable(&o.scim_id, &o.user_name) else {
            return;
        };
        if !self.require_link(&o.source_key, &o.scim_id, &o.user_name)
            || !self.same_name(user, &o.user_name)
        {
            return;
        }
        if !user.active {
            self.refuse(format!(
                "{}: target id {} is already inactive",
                o.user_name, o.scim_id
            ));
            return;
        }
        let present = self
            .people
            .as_ref()
            .and_then(|p| p.get(&o.source_key))
            .filter(|d| d.lifecycle != Lifecycle::Inactive);
        if let Some(person) = present {
            self.refuse(format!(
                "{}: the sources still describe {} ({}); a deactivation needs them gone or inactive",
                o.user_name, o.source_key, person.reason
            ));
        }
    }

    fn group_named(&self, name: &str) -> Option<&'a TargetGroup> {
        let name = name.to_lowercase();
        self.check
            .groups
            .iter()
            .find(|g| g.display_name.to_lowercase() == name)
    }

    fn create_group(&mut self, o: &'a CreateGroup) {
        if let Some(existing) = self.group_named(&o.display_name) {
            self.refuse(format!(
                "group `{}` already exists in the target (id {}); creating it again would duplicate it",
                o.display_name, existing.id
            ));
            return;
        }
        self.plan_created_groups.insert(&o.source_key);
    }

    fn patch_group(&mut self, o: &'a PatchGroup) {
        let Some(group) = self.groups.get(o.scim_id.0.as_str()).copied() else {
            self.refuse(format!(
                "group `{}`: the target has no group with id {}",
                o.display_name, o.scim_id
            ));
            return;
        };
        let allowed = match o.origin {
            GroupOrigin::Rename => self
                .group_link_by_key
                .get(&o.source_key)
                .is_some_and(|l| l.scim_id == o.scim_id),
            GroupOrigin::Adopt => {
                let name = group.display_name.to_lowercase();
                !self
                    .check
                    .group_links
                    .iter()
                    .any(|l| l.scim_id == o.scim_id)
                    && (self.check.policy.adopt_groups.contains(&name)
                        || self.check.unfinished.contains(&format!("group:{name}")))
            }
        };
        if !allowed {
            self.refuse(format!(
                "group `{}` (id {}): neither linked to {} nor adoptable under groups.adopt",
                o.display_name, o.scim_id, o.source_key
            ));
            return;
        }
        for change in &o.changes {
            let before = change.before.as_ref().and_then(ChangeValue::as_str);
            if change.attr != "displayName" || before != Some(group.display_name.as_str()) {
                self.refuse(format!(
                    "group `{}`: the change of `{}` does not start from the target's current value",
                    o.display_name, change.attr
                ));
            }
        }
        if o.origin == GroupOrigin::Adopt {
            self.plan_adopted_groups.insert(&o.source_key, &o.scim_id);
        }
    }

    fn group_is_ours(&mut self, key: &SourceKey, id: Option<&ScimId>, name: &str) -> bool {
        // A group created in this plan has no id yet: apply finds it by its link, so an id next to
        // its key would point the operation at some other group.
        let ours = match id {
            Some(id) => {
                self.group_link_by_key
                    .get(key)
                    .is_some_and(|l| l.scim_id == *id)
                    || self.plan_adopted_groups.get(key) == Some(&id)
            }
            None => self.plan_created_groups.contains(key),
        };
        if !ours {
            self.refuse(format!(
                "group `{name}` is not a group idbridge pushes under {key}"
            ));
        }
        ours
    }

    /// Who a member userName is: a linked user (stored or linked in this plan), or someone this
    /// plan creates or re-adds.
    fn managed_member(&self, name: &UserName) -> bool {
        if self.plan_new.contains(&name.key()) {
            return true;
        }
        let plan_ids: BTreeSet<&str> = self.plan_links.values().map(|id| id.0.as_str()).collect();
        self.users_by_name.get(&name.key_ref()).any(|u| {
            self.linked_ids.contains(u.id.0.as_str()) || plan_ids.contains(u.id.0.as_str())
        })
    }

    fn members(&mut self, o: &'a Members, add: bool) {
        if !self.group_is_ours(&o.source_key, o.scim_id.as_ref(), &o.display_name) {
            return;
        }
        for member in &o.members {
            if !self.managed_member(member) {
                self.refuse(format!(
                    "group `{}`: {member} is not a user idbridge manages, so it may not be {}",
                    o.display_name,
                    if add { "added" } else { "removed" }
                ));
            }
        }
    }

    fn delete_group(&mut self, o: &'a DeleteGroup) {
        if !self.check.policy.delete_groups {
            self.refuse(format!(
                "group `{}`: deleting groups is off (groups.delete = false)",
                o.display_name
            ));
            return;
        }
        self.group_is_ours(&o.source_key, Some(&o.scim_id), &o.display_name);
    }

    /// The deactivation guardrail, recomputed from the operations rather than trusted from the
    /// file's `blocked` flag.
    /// Users idbridge manages under this plan: linked and active, or adopted by it.
    fn managed(&self) -> usize {
        let linked_present = self
            .check
            .links
            .iter()
            .filter(|l| {
                self.users
                    .get(l.scim_id.0.as_str())
                    .is_some_and(|u| u.active)
            })
            .count();
        let adopted = self
            .check
            .plan
            .operations
            .iter()
            .filter(|o| matches!(o, Op::LinkUser(l) if l.origin != LinkOrigin::Rekey))
            .count();
        linked_present + adopted
    }

    fn guardrail(&mut self) {
        let plan = self.check.plan;
        let deactivations = plan
            .operations
            .iter()
            .filter(|o| o.kind() == OpKind::DeactivateUser)
            .count();
        if deactivations == 0 || self.check.policy.force {
            return;
        }
        let managed = self.managed();
        let threshold = self.check.policy.max_deactivations;
        let limit = threshold.limit(managed);
        if deactivations as u64 > limit {
            self.refuse(format!(
                "the plan deactivates {deactivations} of {managed} managed users, above policy.max_deactivations = \
                 {threshold} (at most {limit}); pass --force only if that is right"
            ));
        }
    }

    /// The role guardrail, recomputed like the deactivation one: a plan unblocked by hand is
    /// refused all the same.
    fn role_guardrail(&mut self) {
        let changed = super::roles::role_patches(&self.check.plan.operations).len();
        if changed == 0 || self.check.policy.force {
            return;
        }
        let managed = self.managed();
        let threshold = self.check.policy.roles.max_changes;
        let limit = threshold.limit(managed);
        if changed as u64 > limit {
            self.refuse(format!(
                "the plan changes the role of {changed} of {managed} managed users, above roles.max_role_changes = \
                 {threshold} (at most {limit}); pass --force only if that is right"
            ));
        }
    }
}
