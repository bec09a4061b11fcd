//! Workspace roles in the plan (`[roles]`, docs/lifecycle.md, "Notion workspace roles"). A role
//! change is an attribute change of `patch-user` (the mapping put the desired role among the
//! person's attributes), with three rules of its own:
//!
//! - a role is never removed: a person no rule matches (and no default) keeps the role they have;
//! - a role read from the target that idbridge does not know (Notion has added values before
//!   without notice) is kept and reported (`role-unknown`), never "corrected";
//! - role changes are capped per plan (`roles.max_role_changes`): above the cap the plan is
//!   blocked unless `--force`, as for deactivations.
//!
//! Owners and the token's owner are never changed at all (`Planner::protected`): a role PATCH on
//! the token's owner would revoke the very token idbridge holds (docs/notion.md, "Tokens").

use super::diff::Planner;
use super::op::{Change, LinkOrigin, Op, Severity};
use super::policy::Policy;
use crate::model::{Attr, DesiredUser, FindingCode, TargetUser};

/// The userNames of the `patch-user` operations among `ops` that change a role: what the role
/// guardrail counts (a joiner's role, sent with the create, is not a change).
pub(super) fn role_patches(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .filter_map(|o| match o {
            Op::PatchUser(p)
                if p.changes
                    .iter()
                    .any(|c| Attr::from_path(&c.attr).is_some_and(Attr::is_role)) =>
            {
                Some(p.user_name.to_string())
            }
            _ => None,
        })
        .collect()
}

/// Why a saved plan's operation `op` may not run: it grants a protected role (`owner`), which the
/// planner never plans and `[roles]` refuses, so only an edited plan file can carry it; or it
/// removes a role, which the planner never does either.
pub(super) fn forbidden_role(op: &Op, policy: &Policy) -> Option<String> {
    op.changes()
        .iter()
        .filter(|c| Attr::from_path(&c.attr).is_some_and(Attr::is_role))
        .find_map(|c| match c.after.as_ref().map(|v| v.as_str()) {
            Some(Some(role)) if !policy.protected_roles.iter().any(|p| p == role) => None,
            Some(Some(role)) => Some(format!(
                "{}: the plan grants the role `{role}`, which idbridge never grants; make a new plan",
                op.subject()
            )),
            _ => Some(format!(
                "{}: the plan removes the role (`{}` after is not a role), which idbridge never does; make a new plan",
                op.subject(),
                c.attr
            )),
        })
}

impl Planner<'_> {
    /// The role attribute this plan manages, if any.
    fn role_attr(&self) -> Option<Attr> {
        self.input.managed.iter().copied().find(|a| a.is_role())
    }

    /// `changes` without the role changes the rules above forbid; a user whose role is unknown
    /// is reported.
    pub(super) fn role_changes(
        &mut self,
        person: &DesiredUser,
        user: &TargetUser,
        changes: Vec<Change>,
    ) -> Vec<Change> {
        let Some(attr) = self.role_attr() else {
            return changes;
        };
        let unknown = user.attrs.get(&attr).filter(|role| {
            self.input
                .policy
                .roles
                .known
                .as_ref()
                .is_some_and(|known| !known.iter().any(|k| k == role))
        });
        if let Some(role) = unknown {
            let wanted = person
                .attrs
                .get(&attr)
                .map_or_else(String::new, |w| format!(" (the rules say `{w}`)"));
            self.finding(
                Severity::Warning,
                FindingCode::RoleUnknown,
                format!(
                    "{} has the role `{role}`, which idbridge does not know{wanted}; kept as it is. The target may \
                     have added a role: check it in the workspace and change it by hand if it is wrong",
                    user.user_name()
                ),
                vec![person.key.to_string(), format!("scim: {}", user.id)],
            );
        }
        let keep_role = unknown.is_some();
        changes
            .into_iter()
            .filter(|c| c.attr != attr.path() || (c.after.is_some() && !keep_role))
            .collect()
    }

    /// The role guardrail: true (blocked) when the plan changes more roles than
    /// `roles.max_role_changes` allows and `--force` was not given.
    pub(super) fn role_guardrail(&mut self) -> bool {
        if self.role_attr().is_none() {
            return false;
        }
        let changed = role_patches(&self.ops);
        if changed.is_empty() {
            return false;
        }
        let managed = self.managed_count();
        let threshold = self.input.policy.roles.max_changes;
        let limit = threshold.limit(managed);
        if changed.len() as u64 <= limit {
            return false;
        }
        let message = format!(
            "this plan changes the role of {} of {managed} managed users, above roles.max_role_changes = {threshold} \
             (at most {limit})",
            changed.len()
        );
        let (severity, code, what, blocked) = if self.input.policy.force {
            (
                Severity::Warning,
                FindingCode::MaxRoleChangesForced,
                "; allowed by --force",
                false,
            )
        } else {
            (
                Severity::Error,
                FindingCode::MaxRoleChangesExceeded,
                "; nothing is applied. Check the [roles] rules and the groups they read, then re-run with --force if \
                 it is right",
                true,
            )
        };
        self.finding(severity, code, format!("{message}{what}"), changed);
        blocked
    }

    /// Users idbridge manages in this plan: linked and active in the target, or adopted now.
    fn managed_count(&self) -> usize {
        let linked = self
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
        linked + adopted
    }
}
