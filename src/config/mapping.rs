//! `[mapping]`, `[join]`, `[scope]` and `[groups]`: the templates and rules that turn source
//! records into target users and groups, with every attribute name they read checked against
//! what the configured sources provide ([`super::names`]).

use super::raw::{Raw, RawGroups, RawJoin, RawScope, RawSource};
use super::resolve::Resolver;
use super::source::SourceSettings;
use super::{names, ConfigError};
use crate::mapping::{Glob, MappingRules, SourceJoin, ATTR_KEYS};
use std::collections::BTreeMap;
use toml::Spanned;

impl Resolver<'_> {
    /// The mapping rules: templates, join, scope and groups, in that order.
    pub(in crate::config) fn mapping(
        &self,
        raw: &Raw,
        raw_sources: &[Spanned<RawSource>],
        sources: &[SourceSettings],
    ) -> Result<MappingRules, ConfigError> {
        let provided = names::Provided::new(sources);
        self.check_names(raw, raw_sources, sources, &provided)?;
        let joins = sources
            .iter()
            .map(|s| SourceJoin {
                name: s.name().to_owned(),
                join_attr: s.join_attr().to_owned(),
            })
            .collect();
        let mut rules = MappingRules::with_sources(joins);
        self.templates(&raw.mapping, &provided, &mut rules)?;
        if let Some(join) = &raw.join {
            self.join(join, sources, &mut rules)?;
        }
        if let Some(scope) = &raw.scope {
            scope_rules(scope, &mut rules);
        }
        if let Some(groups) = &raw.groups {
            self.groups(groups, &mut rules)?;
        }
        Ok(rules)
    }

    /// Every attribute name the config reads besides the templates must be one some source
    /// provides: `join_attr` (a typo joins nobody), `[join] precedence` keys (ignored) and
    /// `[scope] where` keys (everyone out of scope, so deactivated).
    fn check_names(
        &self,
        raw: &Raw,
        raw_sources: &[Spanned<RawSource>],
        sources: &[SourceSettings],
        provided: &names::Provided<'_>,
    ) -> Result<(), ConfigError> {
        for (i, (source, raw_source)) in sources.iter().zip(raw_sources).enumerate() {
            if let Some(j) = raw_source.get_ref().join_attr() {
                self.checked(
                    provided.check_source_name(source.name(), source.join_attr()),
                    j.span().start,
                    &format!("sources[{i}].join_attr"),
                )?;
            }
        }
        if let Some(join) = &raw.join {
            for (attr, order) in &join.precedence {
                self.checked(
                    provided.check_precedence_key(attr),
                    order.span().start,
                    &format!("join.precedence.{attr}"),
                )?;
            }
        }
        if let Some(scope) = &raw.scope {
            for attr in scope.attr_in.keys() {
                self.checked(
                    provided.check_name(attr),
                    self.header_offset("[scope]"),
                    &format!("scope.where.{attr}"),
                )?;
            }
        }
        Ok(())
    }

    /// `[mapping]`: a template per SCIM attribute over the defaults; an empty one turns the
    /// attribute off, except `userName`.
    fn templates(
        &self,
        mapping: &BTreeMap<String, Spanned<String>>,
        provided: &names::Provided<'_>,
        rules: &mut MappingRules,
    ) -> Result<(), ConfigError> {
        for (key, text) in mapping {
            let Some((_, attr, _)) = ATTR_KEYS.iter().find(|(k, _, _)| k == key) else {
                let list: Vec<&str> = ATTR_KEYS.iter().map(|(k, _, _)| *k).collect();
                return self.invalid(
                    text.span().start,
                    &format!("mapping.{key}"),
                    format!("unknown SCIM attribute; use one of {}", list.join(", ")),
                );
            };
            if text.get_ref().trim().is_empty() {
                // An empty template turns the attribute off: idbridge will not manage it.
                rules.attrs.remove(attr);
            } else {
                let key = format!("mapping.{key}");
                let template = self.template(text, &key)?;
                // A name no source can provide would render empty forever and silently stop
                // idbridge managing the attribute. The defaults are not checked: they read the
                // names of every source kind and keep what the configured ones provide.
                self.checked(
                    provided
                        .check_template(&template)
                        .map_err(|e| format!("template `{}`: {e}", text.get_ref())),
                    text.span().start,
                    &key,
                )?;
                rules.attrs.insert(*attr, template);
            }
        }
        if !rules.attrs.contains_key(&crate::model::Attr::UserName) {
            return self.invalid(
                self.header_offset("[mapping]"),
                "mapping.userName",
                "userName cannot be turned off: it is how Notion identifies a member",
            );
        }
        Ok(())
    }

    /// `[join]`: every source it names must be configured.
    fn join(
        &self,
        join: &RawJoin,
        sources: &[SourceSettings],
        rules: &mut MappingRules,
    ) -> Result<(), ConfigError> {
        let known = |name: &str| sources.iter().any(|s| s.name() == name);
        for req in &join.require {
            if !known(req.get_ref()) {
                return self.invalid(
                    req.span().start,
                    "join.require",
                    format!("`{}` is not a configured source", req.get_ref()),
                );
            }
            rules.join.require.push(req.get_ref().clone());
        }
        for (attr, order) in &join.precedence {
            for src in order.get_ref() {
                if !known(src) {
                    return self.invalid(
                        order.span().start,
                        &format!("join.precedence.{attr}"),
                        format!("`{src}` is not a configured source"),
                    );
                }
            }
            rules
                .join
                .precedence
                .insert(attr.clone(), order.get_ref().clone());
        }
        Ok(())
    }

    /// `[groups]`: which groups are pushed, under which name, in batches of what size.
    fn groups(&self, groups: &RawGroups, rules: &mut MappingRules) -> Result<(), ConfigError> {
        rules.groups.include = groups.include.iter().map(|g| Glob::new(g)).collect();
        rules.groups.exclude = groups.exclude.iter().map(|g| Glob::new(g)).collect();
        if let Some(name) = &groups.name {
            let template = self.template(name, "groups.name")?;
            self.checked(
                names::check_group_template(&template)
                    .map_err(|e| format!("template `{}`: {e}", name.get_ref())),
                name.span().start,
                "groups.name",
            )?;
            rules.groups.name = template;
        }
        rules.groups.delete = groups.delete.unwrap_or(false);
        rules.groups.adopt = groups
            .adopt
            .iter()
            .map(|a| a.trim().to_lowercase())
            .collect();
        if let Some(batch) = &groups.batch_size {
            rules.groups.batch_size =
                self.positive(&Some(batch.clone()), "groups.batch_size", 100, 1000)? as usize;
        }
        Ok(())
    }
}

/// `[scope]`: group and OU names compare without case.
fn scope_rules(scope: &RawScope, rules: &mut MappingRules) {
    rules.scope.groups = scope
        .groups
        .iter()
        .map(|g| g.trim().to_lowercase())
        .collect();
    rules.scope.ous = scope.ous.iter().map(|o| o.trim().to_lowercase()).collect();
    rules.scope.attr_in = scope.attr_in.clone();
}
