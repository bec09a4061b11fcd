//! Role rules (`[roles]`): which workspace role each person should have, from the groups they are
//! in and their attributes. The first rule that matches wins; without a match the default applies,
//! and without a default the person gets no desired role, so the planner keeps the one they have
//! (a first run never demotes an admin set by hand). Pure: the rules arrive as data from `config`,
//! the records and groups from the sources.

use super::join::SourceData;
use crate::model::{Attr, DesiredUser, SourceFact, SourceGroup, SourceKey, SourceRecord};
use std::collections::BTreeSet;

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleMatch {
    /// Membership (nested groups flattened by the connector) of any of these groups, each a DN or
    /// a group name, compared without case.
    Group(Vec<String>),
    /// The person's `attribute` (as the sources name it, first source with a value, in config
    /// order) is one of `values`, compared trimmed and without case.
    Attribute {
        /// The source attribute name.
        name: String,
        /// Accepted values.
        values: Vec<String>,
    },
}

/// One `[[roles.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    /// The role it grants.
    pub role: String,
    /// What it looks at.
    pub when: RoleMatch,
    /// How the config names it in reasons (`[[roles.rules]] #2`).
    pub label: String,
}

/// All of `[roles]` the mapping needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRules {
    /// Rules in file order; the first match wins.
    pub rules: Vec<RoleRule>,
    /// The role of a person no rule matches; `None` keeps the role they have.
    pub default: Option<String>,
}

/// Set each person's desired role under `attr` (the target's role attribute), with the fact
/// behind it as provenance, so a patch's reason names the rule and the record that decided.
pub fn assign(
    desired: &mut [DesiredUser],
    sources: &[SourceData<'_>],
    rules: &RoleRules,
    attr: Attr,
) {
    for person in desired.iter_mut() {
        let Some((role, fact)) = decide(person, sources, rules) else {
            continue;
        };
        person.attrs.insert(attr, role);
        person.provenance.insert(attr, vec![fact]);
    }
}

/// Whether any rule reads membership of the group at `location` (its DN) with `name` (by DN or
/// name, as [`decide`] compares them). When a source health gate holds a group's read, the role
/// changes such a rule would make are held with it (docs/lifecycle.md, "Source health gates").
/// Takes the two texts rather than a [`SourceGroup`]: a group the read no longer has is known
/// only by what its baseline recorded.
pub fn reads_group(rules: &RoleRules, location: &str, name: Option<&str>) -> bool {
    rules.rules.iter().any(|rule| match &rule.when {
        RoleMatch::Group(wanted) => named(wanted, location, name),
        RoleMatch::Attribute { .. } => false,
    })
}

/// Whether the group at `location` with `name` is one of `wanted` (lowercased DNs or names).
fn named(wanted: &[String], location: &str, name: Option<&str>) -> bool {
    let name = name.map(str::to_lowercase);
    let location = location.to_lowercase();
    wanted
        .iter()
        .any(|w| *w == location || Some(w) == name.as_ref())
}

/// A source group's DN and name, as [`named`] compares them.
fn group_names(group: &SourceGroup) -> (&str, Option<&str>) {
    (&group.location, group.attrs.get("name").map(String::as_str))
}

/// The role `rules` give `person`, and why; `None` when no rule matches and there is no default.
pub fn decide(
    person: &DesiredUser,
    sources: &[SourceData<'_>],
    rules: &RoleRules,
) -> Option<(String, SourceFact)> {
    let keys: BTreeSet<&SourceKey> = std::iter::once(&person.key)
        .chain(person.other_keys.iter())
        .collect();
    for rule in &rules.rules {
        if let Some(fact) = matches(rule, &keys, sources) {
            return Some((rule.role.clone(), fact));
        }
    }
    rules.default.as_ref().map(|role| {
        let fact = SourceFact {
            source: "config".into(),
            location: format!("[roles] default = \"{role}\" (no rule matches)").into(),
            values: Vec::new(),
        };
        (role.clone(), fact)
    })
}

/// The fact that makes `rule` match the person with `keys`, if it does.
fn matches(
    rule: &RoleRule,
    keys: &BTreeSet<&SourceKey>,
    sources: &[SourceData<'_>],
) -> Option<SourceFact> {
    match &rule.when {
        RoleMatch::Group(wanted) => sources.iter().find_map(|source| {
            source.groups.iter().find_map(|g| {
                let (location, name) = group_names(g);
                (named(wanted, location, name) && g.members.iter().any(|m| keys.contains(m))).then(
                    || SourceFact {
                        source: source.name.into(),
                        location: format!("{} ({})", g.location, rule.label).into(),
                        values: vec![("memberOf".to_owned(), g.location.clone())],
                    },
                )
            })
        }),
        RoleMatch::Attribute { name, values } => {
            let (source, record, value) = first_value(keys, sources, name)?;
            let value_key = value.trim().to_lowercase();
            values
                .iter()
                .any(|v| v.trim().to_lowercase() == value_key)
                .then(|| SourceFact {
                    source: source.into(),
                    location: format!("{} ({})", record.location, rule.label).into(),
                    values: vec![(name.clone(), value.to_owned())],
                })
        }
    }
}

/// The first non-empty value of `name` among the person's records, sources in config order.
fn first_value<'s>(
    keys: &BTreeSet<&SourceKey>,
    sources: &'s [SourceData<'s>],
    name: &str,
) -> Option<(&'s str, &'s SourceRecord, &'s str)> {
    sources.iter().find_map(|source| {
        source
            .records
            .iter()
            .filter(|r| keys.contains(&r.key))
            .find_map(|r| {
                r.attrs
                    .get(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (source.name, r, v))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Lifecycle;
    use std::collections::BTreeMap;

    fn record(source: &str, id: &str, attrs: &[(&str, &str)]) -> SourceRecord {
        SourceRecord {
            key: SourceKey::new(source, id),
            location: format!("{source} line {id}"),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            employment: None,
        }
    }

    fn group(dn: &str, name: &str, members: &[&str]) -> SourceGroup {
        SourceGroup {
            key: SourceKey::new("corp", dn),
            location: dn.to_owned(),
            attrs: BTreeMap::from([("name".to_owned(), name.to_owned())]),
            members: members.iter().map(|m| SourceKey::new("corp", *m)).collect(),
        }
    }

    fn person(key: &str, others: &[SourceKey]) -> DesiredUser {
        DesiredUser {
            key: SourceKey::parse(key).unwrap(),
            other_keys: others.to_vec(),
            attrs: Default::default(),
            lifecycle: Lifecycle::Active,
            reason: String::new(),
            leaving: None,
            provenance: Default::default(),
            out_of_scope: None,
            disabled: None,
        }
    }

    fn rule(role: &str, when: RoleMatch) -> RoleRule {
        RoleRule {
            role: role.to_owned(),
            when,
            label: format!("rule {role}"),
        }
    }

    fn dept(values: &[&str]) -> RoleMatch {
        RoleMatch::Attribute {
            name: "department".to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    struct World {
        corp: Vec<SourceRecord>,
        hr: Vec<SourceRecord>,
        groups: Vec<SourceGroup>,
        fields: BTreeSet<String>,
    }

    impl World {
        fn new() -> Self {
            Self {
                corp: vec![record("corp", "ada", &[]), record("corp", "bob", &[])],
                hr: vec![
                    record("hr", "E1", &[("department", "IT ")]),
                    record("hr", "E2", &[("department", "Sales")]),
                ],
                groups: vec![group("cn=admins,ou=groups", "admins", &["ada"])],
                fields: BTreeSet::new(),
            }
        }

        fn sources(&self) -> Vec<SourceData<'_>> {
            let empty: &[SourceGroup] = &[];
            vec![
                SourceData {
                    name: "corp",
                    records: &self.corp,
                    groups: &self.groups,
                    fields: &self.fields,
                },
                SourceData {
                    name: "hr",
                    records: &self.hr,
                    groups: empty,
                    fields: &self.fields,
                },
            ]
        }
    }

    fn ada() -> DesiredUser {
        person("corp:ada", &[SourceKey::new("hr", "E1")])
    }

    fn bob() -> DesiredUser {
        person("corp:bob", &[SourceKey::new("hr", "E2")])
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let world = World::new();
        let rules = RoleRules {
            rules: vec![
                rule("membership_admin", RoleMatch::Group(vec!["admins".into()])),
                rule("restricted_member", dept(&["it"])),
            ],
            default: None,
        };
        let (role, fact) = decide(&ada(), &world.sources(), &rules).unwrap();
        assert_eq!(role, "membership_admin");
        assert_eq!(
            fact.to_string(),
            "corp: memberOf=cn=admins,ou=groups (cn=admins,ou=groups (rule membership_admin))"
        );
        // In the other order the attribute rule comes first and wins.
        let swapped = RoleRules {
            rules: rules.rules.iter().rev().cloned().collect(),
            default: None,
        };
        let (role, fact) = decide(&ada(), &world.sources(), &swapped).unwrap();
        assert_eq!(role, "restricted_member");
        assert_eq!(
            fact.values,
            [("department".to_owned(), "IT ".to_owned())],
            "the value as the source has it; compared trimmed and without case"
        );
    }

    #[test]
    fn a_rule_reads_a_group_by_dn_or_name_and_an_attribute_rule_reads_none() {
        let admins = group("cn=Admins,ou=groups", "Admins", &["ada"]);
        let other = group("cn=staff,ou=groups", "staff", &["ada"]);
        for wanted in ["cn=admins,ou=groups", "admins"] {
            let rules = RoleRules {
                rules: vec![
                    rule("restricted_member", dept(&["sales"])),
                    rule("membership_admin", RoleMatch::Group(vec![wanted.into()])),
                ],
                default: None,
            };
            let (location, name) = group_names(&admins);
            assert!(reads_group(&rules, location, name), "{wanted}");
            let (location, name) = group_names(&other);
            assert!(!reads_group(&rules, location, name), "{wanted}");
            // A group known only by its baseline: its id and recorded name.
            assert!(
                reads_group(&rules, "cn=admins,ou=groups", Some("Admins")),
                "{wanted}"
            );
        }
        let by_attribute = RoleRules {
            rules: vec![rule("restricted_member", dept(&["admins"]))],
            default: Some("member".into()),
        };
        let (location, name) = group_names(&admins);
        assert!(!reads_group(&by_attribute, location, name));
    }

    #[test]
    fn groups_match_by_dn_or_name_and_attributes_by_value() {
        let world = World::new();
        for wanted in ["cn=admins,ou=groups", "admins"] {
            let rules = RoleRules {
                rules: vec![rule(
                    "membership_admin",
                    RoleMatch::Group(vec![wanted.into()]),
                )],
                default: None,
            };
            assert!(
                decide(&ada(), &world.sources(), &rules).is_some(),
                "{wanted}"
            );
            assert!(
                decide(&bob(), &world.sources(), &rules).is_none(),
                "bob is not a member"
            );
        }
        let sales = RoleRules {
            rules: vec![rule("restricted_member", dept(&["Marketing", "sales"]))],
            default: None,
        };
        assert_eq!(
            decide(&bob(), &world.sources(), &sales).map(|(r, _)| r),
            Some("restricted_member".to_owned())
        );
        assert!(decide(&ada(), &world.sources(), &sales).is_none());
    }

    #[test]
    fn the_default_applies_only_when_set() {
        let world = World::new();
        let mut rules = RoleRules {
            rules: vec![rule(
                "membership_admin",
                RoleMatch::Group(vec!["admins".into()]),
            )],
            default: None,
        };
        let mut people = vec![ada(), bob()];
        assign(&mut people, &world.sources(), &rules, Attr::NotionRole);
        assert_eq!(
            people[0].attrs.get(&Attr::NotionRole),
            Some("membership_admin")
        );
        assert_eq!(
            people[1].attrs.get(&Attr::NotionRole),
            None,
            "no rule, no default: keep theirs"
        );
        assert!(!people[1].provenance.contains_key(&Attr::NotionRole));

        rules.default = Some("member".to_owned());
        let mut people = vec![bob()];
        assign(&mut people, &world.sources(), &rules, Attr::Roles);
        assert_eq!(people[0].attrs.get(&Attr::Roles), Some("member"));
        assert_eq!(
            people[0].provenance.get(&Attr::Roles).unwrap()[0].to_string(),
            "config: [roles] default = \"member\" (no rule matches)"
        );
    }
}
