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

/// A shell-style pattern, matched case-insensitively: `*` is any run of characters (commas and
/// `=` of a DN included) and `?` any one character; everything else is literal. Compiled once by
/// `globset` into an automaton, so matching is linear in the text whatever the pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    matcher: Option<globset::GlobMatcher>,
}

impl Glob {
    /// A pattern.
    pub fn new(pattern: &str) -> Self {
        // Only `*` and `?` are special in idbridge's patterns: a group named `Team [EU]` or
        // `{ops}` is matched literally, so globset's other syntax is escaped.
        let mut escaped = String::with_capacity(pattern.len());
        for c in pattern.chars() {
            if matches!(c, '[' | ']' | '{' | '}' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        let build = |text: &str| {
            globset::GlobBuilder::new(text)
                .case_insensitive(true)
                .literal_separator(false)
                .backslash_escape(true)
                .build()
        };
        // With that escaping the pattern always compiles; if it ever did not, the pattern
        // matches nothing, the safe side for an include list and reported by tests.
        let matcher = build(&escaped).ok().map(|g| g.compile_matcher());
        Self {
            pattern: pattern.to_owned(),
            matcher,
        }
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(text))
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.pattern.eq_ignore_ascii_case(&other.pattern)
    }
}

impl Eq for Glob {}

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

    #[test]
    fn globs_match_like_the_shell_without_case_and_literally_otherwise() {
        let dn = Glob::new("cn=eng*,ou=groups,*");
        assert!(dn.matches("CN=Engineering,OU=Groups,DC=acme,DC=test"));
        assert!(!dn.matches("cn=sales,ou=groups,dc=acme"));
        assert!(Glob::new("team-?").matches("Team-A"));
        assert!(!Glob::new("team-?").matches("team-ab"));
        assert!(Glob::new("Team [EU]").matches("team [eu]"));
        assert!(!Glob::new("Team [EU]").matches("team e"));
        assert!(Glob::new("{ops}*").matches("{OPS} on call"));
        assert!(Glob::new("a\\b").matches("a\\b"));
        assert!(Glob::new("*").matches(""));
    }

    #[test]
    fn a_hostile_pattern_matches_in_linear_time() {
        // The backtracking matcher this replaced took exponential time on this pair.
        let pattern = format!("{}b", "*a".repeat(30));
        let text = "a".repeat(5_000);
        assert!(!Glob::new(&pattern).matches(&text));
    }
}
