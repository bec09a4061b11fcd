//! Group planning: create pushed groups, rename them, add and remove members (only users idbridge
//! manages are ever removed), and empty or delete groups whose source group is gone.

use super::diff::{GroupState, KnownLink, Planner};
use super::op::{
    Change, CreateGroup, DeleteGroup, GroupOrigin, Members, Op, OpKind, PatchGroup, Severity,
};
use crate::model::{
    DesiredGroup, FindingCode, ScimId, SourceIssue, SourceKey, TargetGroup, UserName,
};
use std::collections::{BTreeMap, BTreeSet};

/// A membership operation's body.
fn members(
    group: &str,
    id: Option<&str>,
    key: &SourceKey,
    reason: String,
    names: Vec<String>,
) -> Members {
    Members {
        display_name: group.to_owned(),
        scim_id: id.map(ScimId::from),
        source_key: key.clone(),
        reason,
        members: names.into_iter().map(UserName::new).collect(),
    }
}

/// What group planning looks things up in, built once per plan.
struct GroupIndex<'a> {
    /// Lowercased userNames active in the target after this plan, with their ids when they exist.
    provisioned: BTreeMap<String, Option<String>>,
    /// The lowercased userName each existing user id carries after this plan.
    names_by_id: BTreeMap<String, String>,
    /// Ids of the users idbridge manages.
    managed: BTreeSet<String>,
    by_id: BTreeMap<&'a str, &'a TargetGroup>,
    /// Target groups by lowercased displayName.
    by_name: BTreeMap<String, Vec<&'a TargetGroup>>,
    /// Group links by source key text.
    link_by_key: BTreeMap<String, &'a KnownLink>,
    /// Ids of linked target groups.
    linked_ids: BTreeSet<&'a str>,
}

/// The target group a desired group corresponds to.
enum Counterpart<'a> {
    /// Linked (`adopt` false), or an unlinked group of the same name adopted in this plan.
    Found {
        target: &'a TargetGroup,
        adopt: bool,
    },
    /// None: the group is created.
    Missing,
    /// Groups of the same name idbridge may not take over: reported and left alone.
    Blocked,
}

impl<'a> Planner<'a> {
    /// Lowercased userNames that will be active in the target after this plan, with their ids
    /// when they already exist, and the name each existing id will carry after this plan (a
    /// patched userName moves with its id: membership is about identity, not names).
    fn provisioned(&self) -> (BTreeMap<String, Option<String>>, BTreeMap<String, String>) {
        let leaving: BTreeSet<String> = self
            .ops
            .iter()
            .filter(|o| o.kind() == OpKind::DeactivateUser)
            .filter_map(|o| o.scim_id().map(|id| id.0.clone()))
            .collect();
        let mut names: BTreeMap<String, String> = self
            .by_id
            .iter()
            .map(|(id, u)| ((*id).to_owned(), u.user_name().key()))
            .collect();
        for op in &self.ops {
            if let Op::PatchUser(patch) = op {
                names.insert(patch.scim_id.0.clone(), patch.user_name.key());
            }
        }
        let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
        // In id order: two ids could carry one name, and the last one in wins.
        let mut claimed: Vec<&str> = self.claimed.iter().copied().collect();
        claimed.sort_unstable();
        for id in &claimed {
            if let (Some(user), Some(name)) = (self.by_id.get(id), names.get(*id)) {
                if user.active && !leaving.contains(*id) {
                    out.insert(name.clone(), Some((*id).to_owned()));
                }
            }
        }
        for op in self
            .ops
            .iter()
            .filter(|o| matches!(o.kind(), OpKind::CreateUser | OpKind::ReaddUser))
        {
            out.entry(op.subject().to_lowercase()).or_insert(None);
        }
        (out, names)
    }

    /// Ids of users idbridge manages (linked, or adopted in this plan).
    fn managed_ids(&self) -> BTreeSet<String> {
        self.input
            .links
            .iter()
            .map(|l| l.scim_id.0.clone())
            .chain(
                self.ops
                    .iter()
                    .filter(|o| o.kind() == OpKind::LinkUser)
                    .filter_map(|o| o.scim_id().map(|id| id.0.clone())),
            )
            .collect()
    }

    /// Everything group planning looks up, built once per plan.
    fn group_index(&self, state: &'a GroupState) -> GroupIndex<'a> {
        let input = self.input;
        let (provisioned, names_by_id) = self.provisioned();
        let mut by_name: BTreeMap<String, Vec<&TargetGroup>> = BTreeMap::new();
        for g in &state.groups {
            by_name
                .entry(g.display_name.to_lowercase())
                .or_default()
                .push(g);
        }
        GroupIndex {
            provisioned,
            names_by_id,
            managed: self.managed_ids(),
            by_id: state.groups.iter().map(|g| (g.id.0.as_str(), g)).collect(),
            by_name,
            link_by_key: input
                .group_links
                .iter()
                .map(|l| (l.key.to_string(), l))
                .collect(),
            linked_ids: input
                .group_links
                .iter()
                .map(|l| l.scim_id.0.as_str())
                .collect(),
        }
    }

    pub(super) fn groups(&mut self) {
        let Some(state) = self.input.target_groups else {
            return;
        };
        let nothing = state.groups.is_empty()
            && self.input.desired_groups.is_empty()
            && self.input.group_links.is_empty();
        if nothing && state.consistent {
            // No group anywhere: the index (every user's name, twice) would serve nothing.
            return;
        }
        let index = self.group_index(state);
        let mut desired: Vec<&DesiredGroup> = self.input.desired_groups.iter().collect();
        desired.sort_by(|a, b| a.key.cmp(&b.key));
        let mut wanted_keys = BTreeSet::new();
        for group in desired {
            wanted_keys.insert(group.key.to_string());
            self.desired_group(&index, group);
        }
        self.gone_groups(&index, &wanted_keys);
        if !state.consistent {
            self.hold_group_removals(state);
        }
    }

    /// One group the sources want: create it, or rename or adopt its counterpart and bring the
    /// counterpart's members in line.
    fn desired_group(&mut self, index: &GroupIndex<'a>, group: &DesiredGroup) {
        let members: Vec<String> = group
            .members
            .iter()
            .map(|m| m.key())
            .filter(|m| index.provisioned.contains_key(m))
            .collect();
        let reason_src = format!("{}: group {}", group.key.source, group.location);
        match self.counterpart(index, group, &reason_src) {
            Counterpart::Blocked => {}
            Counterpart::Missing => self.create_group(index, group, members, &reason_src),
            Counterpart::Found { target, adopt } => {
                self.rename_or_adopt(group, target, adopt, &reason_src);
                self.sync_members(index, group, target, &members, &reason_src);
            }
        }
    }

    /// The target group a desired group corresponds to: the linked one, else the one unlinked group
    /// of the same name when policy (or journal recovery) lets idbridge adopt it.
    fn counterpart(
        &mut self,
        index: &GroupIndex<'a>,
        group: &DesiredGroup,
        reason_src: &str,
    ) -> Counterpart<'a> {
        let linked = index
            .link_by_key
            .get(&group.key.to_string())
            .and_then(|l| index.by_id.get(l.scim_id.0.as_str()));
        if let Some(target) = linked {
            return Counterpart::Found {
                target,
                adopt: false,
            };
        }
        let same_name: Vec<&TargetGroup> = index
            .by_name
            .get(&group.display_name.to_lowercase())
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|g| !index.linked_ids.contains(g.id.0.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        match same_name.as_slice() {
            [] => Counterpart::Missing,
            [g] if self.may_adopt_group(g) => Counterpart::Found {
                target: g,
                adopt: true,
            },
            _ => {
                self.finding(
                    Severity::Warning,
                    FindingCode::GroupExistsUnadopted,
                    format!(
                        "a target group named `{}` already exists and idbridge did not create it; add it to groups.adopt to manage it",
                        group.display_name
                    ),
                    vec![reason_src.to_owned()],
                );
                Counterpart::Blocked
            }
        }
    }

    fn may_adopt_group(&self, group: &TargetGroup) -> bool {
        let name = group.display_name.to_lowercase();
        self.input.policy.adopt_groups.contains(&name)
            || self.input.recovered.contains(&format!("group:{name}"))
    }

    /// A desired group with no counterpart: created, with its members in a second operation.
    fn create_group(
        &mut self,
        index: &GroupIndex<'a>,
        group: &DesiredGroup,
        members: Vec<String>,
        reason_src: &str,
    ) {
        if index.link_by_key.contains_key(&group.key.to_string()) {
            self.finding(
                Severity::Warning,
                FindingCode::GroupRecreated,
                format!(
                    "group `{}` was deleted in the target; it is created again",
                    group.display_name
                ),
                vec![reason_src.to_owned()],
            );
        }
        self.ops.push(Op::CreateGroup(CreateGroup {
            display_name: group.display_name.clone(),
            source_key: group.key.clone(),
            reason: reason_src.to_owned(),
        }));
        if !members.is_empty() {
            self.ops.push(Op::AddMembers(self::members(
                &group.display_name,
                None,
                &group.key,
                format!("members of {reason_src}"),
                members,
            )));
        }
    }

    /// A patch when the group is adopted in this plan or its name changed in the source.
    fn rename_or_adopt(
        &mut self,
        group: &DesiredGroup,
        target: &TargetGroup,
        adopt: bool,
        reason_src: &str,
    ) {
        let mut changes = Vec::new();
        if target.display_name != group.display_name {
            changes.push(Change {
                attr: "displayName".into(),
                before: Some(target.display_name.as_str().into()),
                after: Some(group.display_name.as_str().into()),
            });
        }
        if !adopt && changes.is_empty() {
            return;
        }
        let (origin, reason) = if adopt {
            (
                GroupOrigin::Adopt,
                format!("adopt: existing target group matches {reason_src} by displayName"),
            )
        } else {
            (GroupOrigin::Rename, format!("renamed: {reason_src}"))
        };
        self.ops.push(Op::PatchGroup(PatchGroup {
            display_name: group.display_name.clone(),
            scim_id: target.id.clone(),
            source_key: group.key.clone(),
            reason,
            changes,
            origin,
        }));
    }

    /// Adds the wanted members `target` lacks and removes the managed members nobody wants; members
    /// idbridge does not manage stay, with a finding.
    fn sync_members(
        &mut self,
        index: &GroupIndex<'a>,
        group: &DesiredGroup,
        target: &TargetGroup,
        members: &[String],
        reason_src: &str,
    ) {
        let provisioned = &index.provisioned;
        // Compare by id: a member whose userName changes in this plan is still the same member.
        let current: BTreeSet<&str> = target.members.iter().map(|m| m.0.as_str()).collect();
        let wanted_ids: BTreeSet<&str> = members
            .iter()
            .filter_map(|m| provisioned.get(m).and_then(|id| id.as_deref()))
            .collect();
        let add: Vec<String> = members
            .iter()
            .filter(|m| match provisioned.get(*m) {
                Some(Some(id)) => !current.contains(id.as_str()),
                _ => true,
            })
            .cloned()
            .collect();
        let unwanted = |managed: bool| -> Vec<String> {
            current
                .iter()
                .filter(|id| !wanted_ids.contains(*id) && index.managed.contains(**id) == managed)
                .filter_map(|id| index.names_by_id.get(*id).cloned())
                .collect()
        };
        let (remove, unmanaged) = (unwanted(true), unwanted(false));
        if !unmanaged.is_empty() {
            self.finding(
                Severity::Info,
                FindingCode::GroupUnmanagedMembers,
                format!(
                    "group `{}` has {} members idbridge does not manage; they are left in it",
                    group.display_name,
                    unmanaged.len()
                ),
                unmanaged,
            );
        }
        let id = Some(target.id.0.as_str());
        if !add.is_empty() {
            self.ops.push(Op::AddMembers(self::members(
                &group.display_name,
                id,
                &group.key,
                format!("members of {reason_src}"),
                add,
            )));
        }
        if !remove.is_empty() {
            self.ops.push(Op::RemoveMembers(self::members(
                &group.display_name,
                id,
                &group.key,
                format!("no longer members of {reason_src}"),
                remove,
            )));
        }
    }

    /// Pushed groups whose source group is gone or no longer selected: emptied or deleted, unless
    /// their source could not read every group entry.
    fn gone_groups(&mut self, index: &GroupIndex<'a>, wanted_keys: &BTreeSet<String>) {
        let input = self.input;
        let mut gone: Vec<&KnownLink> = input
            .group_links
            .iter()
            .filter(|l| !wanted_keys.contains(&l.key.to_string()))
            .collect();
        gone.sort_by(|a, b| a.key.cmp(&b.key));
        let unreadable = unreadable_group_entries(input.issues);
        let mut held: Vec<String> = Vec::new();
        let mut held_at: BTreeSet<String> = BTreeSet::new();
        for link in gone {
            let Some(target) = index.by_id.get(link.scim_id.0.as_str()) else {
                continue;
            };
            if let Some(locations) = unreadable.get(link.key.source.as_str()) {
                held.push(target.display_name.clone());
                held_at.extend(locations.iter().cloned());
                continue;
            }
            self.retire_group(index, link, target);
        }
        if !held.is_empty() {
            self.finding(
                Severity::Error,
                FindingCode::GroupRemovalsHeld,
                format!(
                    "{} pushed groups ({}) are no longer in the sources, but some source group entries could not be read, \
                     so none of them is emptied or deleted this run; fix the entries and re-run",
                    held.len(),
                    held.join(", ")
                ),
                held_at.into_iter().collect(),
            );
        }
    }

    /// One gone group: deleted when policy says so, else emptied of the users idbridge manages.
    fn retire_group(&mut self, index: &GroupIndex<'a>, link: &KnownLink, target: &TargetGroup) {
        let reason = format!(
            "{}: source group {} is gone or no longer selected",
            link.key.source, link.key
        );
        if self.input.policy.delete_groups {
            self.ops.push(Op::DeleteGroup(DeleteGroup {
                display_name: target.display_name.clone(),
                scim_id: target.id.clone(),
                source_key: link.key.clone(),
                reason,
            }));
            return;
        }
        let remove: Vec<String> = target
            .members
            .iter()
            .filter(|m| index.managed.contains(&m.0))
            .filter_map(|m| index.names_by_id.get(&m.0).cloned())
            .collect();
        self.finding(
            Severity::Info,
            FindingCode::GroupEmptied,
            format!(
                "group `{}` is no longer in the sources; idbridge empties it of the users it manages and leaves the group (set groups.delete = true to delete it)",
                target.display_name
            ),
            vec![link.key.to_string()],
        );
        if !remove.is_empty() {
            self.ops.push(Op::RemoveMembers(self::members(
                &target.display_name,
                Some(&target.id.0),
                &link.key,
                reason,
                remove,
            )));
        }
    }

    /// A group read that did not add up: no member removals and no group deletions this run.
    fn hold_group_removals(&mut self, state: &GroupState) {
        let before = self.ops.len();
        self.ops
            .retain(|o| !matches!(o.kind(), OpKind::RemoveMembers | OpKind::DeleteGroup));
        let dropped = before - self.ops.len();
        self.finding(
            Severity::Error,
            FindingCode::TargetReadInconsistent,
            format!(
                "the paged read of the target's groups did not add up after retries ({}); this run makes no member removals and no group deletions ({dropped} held back)",
                state.problems.join("; ")
            ),
            Vec::new(),
        );
    }
}

/// Where each source has group entries it could not read (no id) or whose name rendered empty.
/// A gone group may be one of these: absence is not proof, so none of that source's groups is
/// emptied or deleted.
fn unreadable_group_entries(issues: &[SourceIssue]) -> BTreeMap<&str, Vec<String>> {
    let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for issue in issues {
        if matches!(
            issue.code,
            FindingCode::GroupEntryInvalid | FindingCode::GroupNameEmpty
        ) {
            out.entry(issue.source.as_str())
                .or_default()
                .push(format!("{}: {}", issue.source, issue.location));
        }
    }
    out
}
