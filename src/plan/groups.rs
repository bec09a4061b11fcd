//! Group planning: create pushed groups, rename them, add and remove members (only users idbridge
//! manages are ever removed), and empty or delete groups whose source group is gone.

use super::diff::{KnownLink, Planner};
use super::op::{
    Change, CreateGroup, DeleteGroup, GroupOrigin, Members, Op, OpKind, PatchGroup, Severity,
};
use crate::model::{DesiredGroup, FindingCode, ScimId, SourceKey, TargetGroup, UserName};
use serde_json::Value;
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

impl Planner<'_> {
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
        for id in &self.claimed {
            if let (Some(user), Some(name)) = (self.by_id.get(id.as_str()), names.get(id)) {
                if user.active && !leaving.contains(id) {
                    out.insert(name.clone(), Some(id.clone()));
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

    pub(super) fn groups(&mut self) {
        let Some(state) = self.input.target_groups else {
            return;
        };
        let (provisioned, names_by_id) = self.provisioned();
        let managed = self.managed_ids();
        let by_id: BTreeMap<&str, &TargetGroup> =
            state.groups.iter().map(|g| (g.id.0.as_str(), g)).collect();
        let mut by_name: BTreeMap<String, Vec<&TargetGroup>> = BTreeMap::new();
        for g in &state.groups {
            by_name
                .entry(g.display_name.to_lowercase())
                .or_default()
                .push(g);
        }
        let link_by_key: BTreeMap<String, &KnownLink> = self
            .input
            .group_links
            .iter()
            .map(|l| (l.key.to_string(), l))
            .collect();
        let linked_ids: BTreeSet<&str> = self
            .input
            .group_links
            .iter()
            .map(|l| l.scim_id.0.as_str())
            .collect();
        let mut desired: Vec<&DesiredGroup> = self.input.desired_groups.iter().collect();
        desired.sort_by(|a, b| a.key.cmp(&b.key));
        let mut wanted_keys = BTreeSet::new();

        for group in desired {
            let source_key = &group.key;
            let key = group.key.to_string();
            wanted_keys.insert(key.clone());
            let members: Vec<String> = group
                .members
                .iter()
                .map(|m| m.key())
                .filter(|m| provisioned.contains_key(m))
                .collect();
            let reason_src = format!("{}: group {}", group.key.source, group.location);
            let existing = match link_by_key
                .get(&key)
                .and_then(|l| by_id.get(l.scim_id.0.as_str()))
            {
                Some(g) => Some((*g, false)),
                None => {
                    let same_name: Vec<&TargetGroup> = by_name
                        .get(&group.display_name.to_lowercase())
                        .map(|v| {
                            v.iter()
                                .copied()
                                .filter(|g| !linked_ids.contains(g.id.0.as_str()))
                                .collect()
                        })
                        .unwrap_or_default();
                    match same_name.as_slice() {
                        [] => None,
                        [g] if self
                            .input
                            .policy
                            .adopt_groups
                            .contains(&g.display_name.to_lowercase())
                            || self
                                .input
                                .recovered
                                .contains(&format!("group:{}", g.display_name.to_lowercase())) =>
                        {
                            Some((*g, true))
                        }
                        _ => {
                            self.finding(
                                Severity::Warning,
                                FindingCode::GroupExistsUnadopted,
                                format!(
                                    "a target group named `{}` already exists and idbridge did not create it; add it to groups.adopt to manage it",
                                    group.display_name
                                ),
                                vec![reason_src.clone()],
                            );
                            continue;
                        }
                    }
                }
            };
            let Some((target, adopt)) = existing else {
                if link_by_key.contains_key(&key) {
                    self.finding(
                        Severity::Warning,
                        FindingCode::GroupRecreated,
                        format!(
                            "group `{}` was deleted in the target; it is created again",
                            group.display_name
                        ),
                        vec![reason_src.clone()],
                    );
                }
                self.ops.push(Op::CreateGroup(CreateGroup {
                    display_name: group.display_name.clone(),
                    source_key: source_key.clone(),
                    reason: reason_src.clone(),
                }));
                if !members.is_empty() {
                    self.ops.push(Op::AddMembers(self::members(
                        &group.display_name,
                        None,
                        source_key,
                        format!("members of {reason_src}"),
                        members,
                    )));
                }
                continue;
            };
            let id = target.id.0.as_str();
            let mut changes = Vec::new();
            if target.display_name != group.display_name {
                changes.push(Change {
                    attr: "displayName".to_owned(),
                    before: Some(Value::String(target.display_name.clone())),
                    after: Some(Value::String(group.display_name.clone())),
                });
            }
            if adopt || !changes.is_empty() {
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
                    source_key: source_key.clone(),
                    reason,
                    changes,
                    origin,
                }));
            }
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
            let name = |id: &str| names_by_id.get(id).cloned();
            let remove: Vec<String> = current
                .iter()
                .filter(|id| !wanted_ids.contains(*id) && managed.contains(**id))
                .filter_map(|id| name(id))
                .collect();
            let unmanaged: Vec<String> = current
                .iter()
                .filter(|id| !wanted_ids.contains(*id) && !managed.contains(**id))
                .filter_map(|id| name(id))
                .collect();
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
            if !add.is_empty() {
                self.ops.push(Op::AddMembers(self::members(
                    &group.display_name,
                    Some(id),
                    source_key,
                    format!("members of {reason_src}"),
                    add,
                )));
            }
            if !remove.is_empty() {
                self.ops.push(Op::RemoveMembers(self::members(
                    &group.display_name,
                    Some(id),
                    source_key,
                    format!("no longer members of {reason_src}"),
                    remove,
                )));
            }
        }

        // Pushed groups whose source group is gone or no longer selected.
        let mut gone: Vec<&KnownLink> = self
            .input
            .group_links
            .iter()
            .filter(|l| !wanted_keys.contains(&l.key.to_string()))
            .collect();
        gone.sort_by(|a, b| a.key.cmp(&b.key));
        // A group entry the source could not read (no id) or whose name rendered empty may be one
        // of these: absence is not proof, so none of that source's groups is emptied or deleted.
        let unreadable: BTreeMap<&str, Vec<String>> =
            self.input
                .issues
                .iter()
                .fold(BTreeMap::new(), |mut acc, i| {
                    if matches!(
                        i.code,
                        FindingCode::GroupEntryInvalid | FindingCode::GroupNameEmpty
                    ) {
                        acc.entry(i.source.as_str())
                            .or_default()
                            .push(format!("{}: {}", i.source, i.location));
                    }
                    acc
                });
        let mut held: Vec<String> = Vec::new();
        let mut held_at: BTreeSet<String> = BTreeSet::new();
        for link in gone {
            let Some(target) = by_id.get(link.scim_id.0.as_str()) else {
                continue;
            };
            if let Some(locations) = unreadable.get(link.key.source.as_str()) {
                held.push(target.display_name.clone());
                held_at.extend(locations.iter().cloned());
                continue;
            }
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
                continue;
            }
            let remove: Vec<String> = target
                .members
                .iter()
                .filter(|m| managed.contains(&m.0))
                .filter_map(|m| names_by_id.get(&m.0).cloned())
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
        if !state.consistent {
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
}
