//! `[roles]`: the workspace role rules (resolved into `mapping::RoleRules`), the role guardrail
//! and the role values the target is known to have (into `policy.roles`). For Notion a rule may
//! grant only `membership_admin`, `member` or `restricted_member`: `owner` is never granted or
//! removed by idbridge (docs/notion.md, "Workspace roles").

use super::names::Provided;
use super::raw::{RawRoleRule, RawRoles};
use super::resolve::Resolver;
use super::target::{TargetKind, TargetSettings};
use super::{ConfigError, SourceSettings};
use crate::mapping::{RoleMatch, RoleRule, RoleRules};
use crate::plan::{Policy, Threshold};
use toml::Spanned;

/// Notion's documented workspace roles (docs/notion.md, "Workspace roles"), `owner` included:
/// what the planner treats as known when it reads a user.
pub const NOTION_ROLES: [&str; 4] = ["owner", "membership_admin", "member", "restricted_member"];

/// The Notion roles a rule or the default may grant.
pub const NOTION_GRANTABLE: [&str; 3] = ["membership_admin", "member", "restricted_member"];

impl Resolver<'_> {
    /// `[roles]`, when present; fills `policy.roles` (cap and known values) as it goes.
    pub(in crate::config) fn roles(
        &self,
        raw: Option<&Spanned<RawRoles>>,
        target: &TargetSettings,
        sources: &[SourceSettings],
        policy: &mut Policy,
    ) -> Result<Option<RoleRules>, ConfigError> {
        if target.kind == TargetKind::Notion {
            policy.roles.known = Some(NOTION_ROLES.iter().map(|r| (*r).to_owned()).collect());
        }
        let Some(raw) = raw else {
            return Ok(None);
        };
        let at = raw.span().start;
        let raw = raw.get_ref();
        if let Some(v) = &raw.max_role_changes {
            policy.roles.max_changes = self.role_cap(v)?;
        }
        let default = match &raw.default {
            Some(d) => Some(self.role_name(d, "roles.default", target.kind)?),
            None => None,
        };
        let provided = Provided::new(sources);
        let mut rules = Vec::new();
        for (i, rule) in raw.rules.iter().enumerate() {
            rules.push(self.role_rule(i, rule, target.kind, &provided)?);
        }
        if rules.is_empty() && default.is_none() {
            return self.invalid(
                at,
                "roles",
                "[roles] has no rule and no default, so it would change nothing; add [[roles.rules]] entries \
                 (see docs/config.md, \"[roles]\") or remove the table",
            );
        }
        Ok(Some(RoleRules { rules, default }))
    }

    fn role_cap(&self, v: &Spanned<toml::Value>) -> Result<Threshold, ConfigError> {
        let parsed = match v.get_ref() {
            toml::Value::Integer(n) if *n >= 0 => Some(Threshold::Count(*n as u64)),
            toml::Value::String(s) => Threshold::parse(s),
            _ => None,
        };
        match parsed {
            Some(t) => Ok(t),
            None => self.invalid(
                v.span().start,
                "roles.max_role_changes",
                "write a count such as 5 or a percentage such as \"10%\"",
            ),
        }
    }

    /// A role a rule or the default grants, checked against what the target takes.
    fn role_name(
        &self,
        role: &Spanned<String>,
        key: &str,
        kind: TargetKind,
    ) -> Result<String, ConfigError> {
        let name = role.get_ref().trim();
        if name.is_empty() {
            return self.invalid(role.span().start, key, "the role is empty; name one");
        }
        if kind == TargetKind::Scim || NOTION_GRANTABLE.contains(&name) {
            return Ok(name.to_owned());
        }
        let why = if name == "owner" {
            "idbridge never grants or removes `owner`: a workspace owner is made by hand in Notion"
                .to_owned()
        } else {
            format!("`{name}` is not a Notion workspace role")
        };
        self.invalid(
            role.span().start,
            key,
            format!("{why}; a rule may grant {}", NOTION_GRANTABLE.join(", ")),
        )
    }

    /// One `[[roles.rules]]` entry.
    fn role_rule(
        &self,
        i: usize,
        rule: &Spanned<RawRoleRule>,
        kind: TargetKind,
        provided: &Provided<'_>,
    ) -> Result<RoleRule, ConfigError> {
        let key = format!("roles.rules[{i}]");
        let at = rule.span().start;
        let r = rule.get_ref();
        let Some(role) = &r.role else {
            return self.invalid(
                at,
                &format!("{key}.role"),
                "a rule needs the `role` it grants",
            );
        };
        let role = self.role_name(role, &format!("{key}.role"), kind)?;
        let mut groups: Vec<String> = r.group.iter().map(|g| g.get_ref().clone()).collect();
        groups.extend(r.groups.iter().flat_map(|g| g.get_ref().iter().cloned()));
        let groups: Vec<String> = groups
            .iter()
            .map(|g| g.trim().to_lowercase())
            .filter(|g| !g.is_empty())
            .collect();
        let mut values: Vec<String> = r.value.iter().map(|v| v.get_ref().clone()).collect();
        values.extend(r.values.iter().flat_map(|v| v.get_ref().iter().cloned()));
        let when = match (&r.attribute, groups.is_empty()) {
            (None, false) if values.is_empty() => RoleMatch::Group(groups),
            (Some(attribute), true) => {
                let name = attribute.get_ref().trim().to_owned();
                let at = attribute.span().start;
                self.checked(provided.check_name(&name), at, &format!("{key}.attribute"))?;
                if values.is_empty() {
                    return self.invalid(
                        at,
                        &format!("{key}.values"),
                        "an attribute rule needs `value` or `values`: the values that grant the role",
                    );
                }
                RoleMatch::Attribute { name, values }
            }
            _ => {
                return self.invalid(
                    at,
                    &key,
                    "a rule names exactly one of `group`/`groups` (membership) or `attribute` (with `values`)",
                )
            }
        };
        Ok(RoleRule {
            role,
            when,
            label: format!("[[roles.rules]] #{}", i + 1),
        })
    }
}
