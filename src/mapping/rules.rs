//! Mapping rules as data: templates per SCIM attribute, join keys and precedence, scope, and
//! group selection. Built by `config` (which reports errors with lines); used purely here.

use super::template::Template;
use crate::model::Attr;
use std::collections::BTreeMap;

/// How one source joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceJoin {
    /// Source name.
    pub name: String,
    /// Attribute of its records that identifies the person across sources (compared trimmed,
    /// case-insensitively).
    pub join_attr: String,
}

/// Join rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinRules {
    /// Sources in config order (the default precedence).
    pub sources: Vec<SourceJoin>,
    /// Sources every person must have a record in (`join.require`).
    pub require: Vec<String>,
    /// Per-attribute precedence (attribute name -> sources, first wins); `status` decides whose
    /// employment facts speak first.
    pub precedence: BTreeMap<String, Vec<String>>,
}

/// Who is in scope. Every configured criterion must hold; an empty scope takes everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Member (transitively) of any of these groups, by DN or name (lowercased).
    pub groups: Vec<String>,
    /// DN under any of these subtrees (lowercased suffixes).
    pub ous: Vec<String>,
    /// Attribute value among the listed ones (compared case-insensitively).
    pub attr_in: BTreeMap<String, Vec<String>>,
}

impl Scope {
    /// Whether any criterion is configured.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.ous.is_empty() && self.attr_in.is_empty()
    }
}

/// A shell-style pattern (`*` and `?`), matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// A pattern.
    pub fn new(pattern: &str) -> Self {
        Self(pattern.to_lowercase())
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        fn go(p: &[char], t: &[char]) -> bool {
            match (p.first(), t.first()) {
                (None, None) => true,
                (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
                (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
                (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
                _ => false,
            }
        }
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.to_lowercase().chars().collect();
        go(&p, &t)
    }
}

/// Which source groups are pushed, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRules {
    /// Push groups whose name or DN matches one of these (empty = every group read).
    pub include: Vec<Glob>,
    /// Never push these.
    pub exclude: Vec<Glob>,
    /// The target displayName.
    pub name: Template,
    /// Delete a pushed group when its source group disappears (default: empty it and report).
    pub delete: bool,
    /// Existing target groups (by displayName, lowercased) idbridge may adopt.
    pub adopt: Vec<String>,
    /// Members per PATCH operation.
    pub batch_size: usize,
}

/// All mapping rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRules {
    /// One template per managed SCIM attribute.
    pub attrs: BTreeMap<Attr, Template>,
    /// Join.
    pub join: JoinRules,
    /// Scope.
    pub scope: Scope,
    /// Groups.
    pub groups: GroupRules,
}

/// The config key of each mappable attribute (`[mapping]` table) and its default template.
pub const ATTR_KEYS: [(&str, Attr, &str); 10] = [
    ("userName", Attr::UserName, "{lower(email)}"),
    ("givenName", Attr::GivenName, "{givenName}"),
    ("familyName", Attr::FamilyName, "{familyName}"),
    (
        "displayName",
        Attr::DisplayName,
        "{default(displayName, join(\" \", givenName, familyName))}",
    ),
    ("email", Attr::Email, "{lower(email)}"),
    ("title", Attr::Title, "{title}"),
    ("externalId", Attr::ExternalId, "{employeeId}"),
    ("employeeNumber", Attr::EmployeeNumber, "{employeeId}"),
    ("department", Attr::Department, "{department}"),
    ("manager", Attr::Manager, "{lower(manager)}"),
];

impl MappingRules {
    /// The default rules for sources joined by their `join_attr`: the templates of
    /// [`ATTR_KEYS`], every group pushed under its name.
    pub fn with_sources(sources: Vec<SourceJoin>) -> Self {
        let attrs = ATTR_KEYS
            .iter()
            .filter_map(|(_, attr, text)| Template::compile(text).ok().map(|t| (*attr, t)))
            .collect();
        Self {
            attrs,
            join: JoinRules {
                sources,
                ..JoinRules::default()
            },
            scope: Scope::default(),
            groups: GroupRules {
                include: Vec::new(),
                exclude: Vec::new(),
                name: Template::attr("name"),
                delete: false,
                adopt: Vec::new(),
                batch_size: 100,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(Glob::new("cn=notion-*").matches("CN=Notion-Eng,ou=groups"));
        assert!(Glob::new("eng?").matches("eng1"));
        assert!(!Glob::new("eng?").matches("eng12"));
        assert!(Glob::new("*").matches(""));
    }

    #[test]
    fn default_templates_compile() {
        let rules = MappingRules::with_sources(vec![]);
        assert_eq!(rules.attrs.len(), ATTR_KEYS.len());
    }
}
