//! Which attribute names the configured sources can provide, and the check that every name a
//! template, `join_attr`, `[join] precedence` or `[scope] where` reads is one of them, with a
//! did-you-mean. A typo there (`{upper(titel)}`) would otherwise render empty forever and silently
//! stop idbridge managing that attribute, or put everyone out of scope.

use super::{LdapDialect, LdapSettings, SourceSettings};
use crate::mapping::template::{Reference, Template};
use crate::mapping::{MappingRules, RoleMatch, RoleRules};
use crate::model::attr;
use crate::plan::gates::Gates;
use std::collections::BTreeSet;

/// What every HR record carries (CSV and HTTP alike): the canonical names, whatever the columns
/// are called. A column merely absent from an export leaves the name empty, which is "not
/// managed", not an error.
pub const HR_NAMES: [&str; 7] = [
    attr::EMPLOYEE_ID,
    attr::EMAIL,
    attr::GIVEN_NAME,
    attr::FAMILY_NAME,
    attr::TITLE,
    attr::DEPARTMENT,
    attr::MANAGER,
];

/// The canonical names of LDAP records (`connectors::ldap`; a test pins them), besides every
/// fetched attribute under its own name.
pub const LDAP_NAMES: [&str; 10] = [
    attr::EMAIL,
    attr::GIVEN_NAME,
    attr::FAMILY_NAME,
    "displayName",
    attr::TITLE,
    attr::DEPARTMENT,
    attr::EMPLOYEE_ID,
    attr::MANAGER,
    "login",
    "dn",
];

/// Active Directory records also carry the user principal name.
pub const LDAP_AD_NAMES: [&str; 1] = ["upn"];

/// What the `[groups] name` template reads (docs/config.md).
pub const GROUP_NAMES: [&str; 4] = ["name", "cn", "dn", "description"];

/// `[join] precedence` may also order whose employment facts speak first.
const PRECEDENCE_STATUS: &str = "status";

/// Attribute names the records of `source` can carry. For LDAP these are the canonical names
/// plus the attributes it fetches: one per role and `extra_attributes` (the connector reads
/// nothing else, so a name outside them would always be empty).
pub fn provided(source: &SourceSettings) -> BTreeSet<String> {
    let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    match source {
        SourceSettings::HrCsv(_) | SourceSettings::HrHttp(_) => {
            owned(&HR_NAMES).into_iter().collect()
        }
        SourceSettings::Ldap(l) => ldap_provided(l),
    }
}

/// What an LDAP source's records can carry: [`provided`] for one LDAP source.
fn ldap_provided(l: &LdapSettings) -> BTreeSet<String> {
    let a = &l.attributes;
    let mut names: BTreeSet<String> = LDAP_NAMES.iter().map(|n| (*n).to_owned()).collect();
    names.extend(
        [
            &a.id,
            &a.login,
            &a.mail,
            &a.given_name,
            &a.family_name,
            &a.display_name,
            &a.title,
            &a.department,
            &a.employee_number,
            &a.manager,
        ]
        .into_iter()
        .cloned(),
    );
    if l.dialect == LdapDialect::ActiveDirectory {
        names.extend(LDAP_AD_NAMES.iter().map(|n| (*n).to_owned()));
        names.insert(a.upn.clone());
    }
    names.extend(l.extra_attributes.iter().cloned());
    // Fetched to read the disabled bit, not offered as data (connectors::ldap).
    names.remove("userAccountControl");
    names.retain(|n| !n.is_empty());
    names
}

/// Canonical names every LDAP record keeps whatever the config reads: `email` (the identity,
/// the manager lookup, the tombstone check), and `employeeId`, `login` and `dn`, which the join's
/// hints (they keep a linked person whose record cannot be used from being deactivated),
/// `explain`'s lookup, group `memberUid` resolution and the access review read.
pub const LDAP_ALWAYS_KEPT: [&str; 4] = [attr::EMAIL, attr::EMPLOYEE_ID, "login", "dn"];

/// The attributes of LDAP source `source`'s records that something after the read uses, so the
/// connector asks the server for those only and keeps nothing else in memory (issue 14: with
/// every fetched attribute kept twice, raw and canonical, 100,000 entries held 360 MiB). Read
/// here: the `[mapping]` templates (`{title}` from any source, `{corp.costCenter}` from this
/// one), the join attribute, `[scope] where`, `[roles]` attribute rules, the health gates'
/// `required` attributes, `extra_attributes` (asked for by name) and [`LDAP_ALWAYS_KEPT`]. Names
/// the source cannot provide are left out. `[scope] ous` reads the DN, which is always kept;
/// group rules read groups, not records. Precedence only orders sources for a name some template
/// reads.
pub fn ldap_kept(
    source: &LdapSettings,
    mapping: &MappingRules,
    roles: Option<&RoleRules>,
    gates: &Gates,
) -> BTreeSet<String> {
    let mut wanted: BTreeSet<&str> = LDAP_ALWAYS_KEPT.into_iter().collect();
    wanted.insert(&source.join_attr);
    wanted.extend(
        mapping
            .join
            .sources
            .iter()
            .filter(|j| j.name == source.name)
            .map(|j| j.join_attr.as_str()),
    );
    wanted.extend(source.extra_attributes.iter().map(String::as_str));
    for template in mapping.attrs.values() {
        for reference in template.references() {
            match reference {
                Reference::Attr(name) => {
                    wanted.insert(name);
                }
                Reference::SourceAttr(from, name) if from == source.name => {
                    wanted.insert(name);
                }
                Reference::SourceAttr(..) => {}
            }
        }
    }
    wanted.extend(mapping.scope.attr_in.keys().map(String::as_str));
    for rule in roles.map(|r| r.rules.as_slice()).unwrap_or_default() {
        if let RoleMatch::Attribute { name, .. } = &rule.when {
            wanted.insert(name);
        }
    }
    wanted.extend(
        gates
            .rules(&source.name)
            .required
            .iter()
            .map(String::as_str),
    );
    let provided = ldap_provided(source);
    wanted
        .into_iter()
        .filter(|n| provided.contains(*n))
        .map(str::to_owned)
        .collect()
}

/// Levenshtein distance, in characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The known name `name` was probably meant to be: the same without case, else the closest within
/// two edits (shorter than the name itself, so `id` does not suggest `dn`).
pub fn suggest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let known: Vec<&str> = known.into_iter().collect();
    if let Some(same) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(same);
    }
    known
        .into_iter()
        .map(|k| (distance(name, k), k))
        .filter(|(d, _)| *d <= 2 && *d < name.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The end of a sentence about an unknown `name`: "; did you mean `x`?" or ".".
fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    match suggest(name, known) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => ".".to_owned(),
    }
}

/// `names` as a list for a message.
fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// The names of all configured sources together, and each one's.
pub struct Provided<'a> {
    sources: Vec<(&'a SourceSettings, BTreeSet<String>)>,
    all: BTreeSet<String>,
}

impl<'a> Provided<'a> {
    /// What `sources` provide.
    pub fn new(sources: &'a [SourceSettings]) -> Self {
        let sources: Vec<_> = sources.iter().map(|s| (s, provided(s))).collect();
        let all = sources
            .iter()
            .flat_map(|(_, n)| n.iter().cloned())
            .collect();
        Self { sources, all }
    }

    /// Why `name` (read without a source prefix) can never have a value, if it cannot.
    pub fn check_name(&self, name: &str) -> Result<(), String> {
        if self.all.contains(name) {
            return Ok(());
        }
        let hint = match self.column_role(name) {
            Some((source, canonical)) => format!(
                " (it is a column of source `{source}`, whose records carry it as `{canonical}`)."
            ),
            None => did_you_mean(name, self.all.iter().map(String::as_str)),
        };
        let ldap = self
            .sources
            .iter()
            .any(|(s, _)| matches!(s, SourceSettings::Ldap(_)));
        Err(format!(
            "`{name}` is not an attribute any configured source provides{hint} They provide: \
             {}.{}",
            list(self.all.iter().map(String::as_str)),
            if ldap {
                " An LDAP source provides another directory attribute once it is listed in its \
                 `extra_attributes`."
            } else {
                ""
            }
        ))
    }

    /// The source and canonical name of an HR column called `name`: HR records carry canonical
    /// names only, so `{first_name}` is a likely slip for `{givenName}`.
    fn column_role(&self, name: &str) -> Option<(&str, &'static str)> {
        self.sources.iter().find_map(|(source, _)| {
            let columns = match source {
                SourceSettings::HrCsv(s) => &s.columns,
                SourceSettings::HrHttp(s) => &s.columns,
                SourceSettings::Ldap(_) => return None,
            };
            [
                (&columns.employee_id, attr::EMPLOYEE_ID),
                (&columns.email, attr::EMAIL),
                (&columns.given_name, attr::GIVEN_NAME),
                (&columns.family_name, attr::FAMILY_NAME),
                (&columns.title, attr::TITLE),
                (&columns.department, attr::DEPARTMENT),
                (&columns.manager_email, attr::MANAGER),
            ]
            .into_iter()
            .find(|(column, _)| column.as_str() == name)
            .map(|(_, canonical)| (source.name(), canonical))
        })
    }

    /// Why `source.name` can never have a value, if it cannot.
    pub fn check_source_name(&self, source: &str, name: &str) -> Result<(), String> {
        let Some((_, names)) = self.sources.iter().find(|(s, _)| s.name() == source) else {
            let sources = || self.sources.iter().map(|(s, _)| s.name());
            return Err(format!(
                "`{source}` is not a configured source{} Sources: {}.",
                did_you_mean(source, sources()),
                list(sources())
            ));
        };
        if names.contains(name) {
            return Ok(());
        }
        Err(format!(
            "source `{source}` does not provide `{name}`{} It provides: {}.",
            did_you_mean(name, names.iter().map(String::as_str)),
            list(names.iter().map(String::as_str))
        ))
    }

    /// Why a template can never render some of what it reads, if it cannot.
    pub fn check_template(&self, template: &Template) -> Result<(), String> {
        for reference in template.references() {
            match reference {
                Reference::Attr(name) => self.check_name(name)?,
                Reference::SourceAttr(source, name) => self.check_source_name(source, name)?,
            }
        }
        Ok(())
    }

    /// Why a `[join] precedence` key names nothing, if it does.
    pub fn check_precedence_key(&self, name: &str) -> Result<(), String> {
        if name == PRECEDENCE_STATUS {
            return Ok(());
        }
        self.check_name(name)
    }
}

/// Why the `[groups] name` template reads something groups do not have, if it does.
pub fn check_group_template(template: &Template) -> Result<(), String> {
    for reference in template.references() {
        let name = match reference {
            Reference::Attr(name) => name,
            Reference::SourceAttr(source, name) => {
                return Err(format!(
                    "`{source}.{name}`: a group name reads the group's own attributes, without a \
                     source prefix: {}.",
                    list(GROUP_NAMES)
                ))
            }
        };
        if !GROUP_NAMES.contains(&name) {
            return Err(format!(
                "`{name}` is not a group attribute{} A group name reads: {}.",
                did_you_mean(name, GROUP_NAMES),
                list(GROUP_NAMES)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("titel", "title"), 2);
        assert_eq!(distance("title", "title"), 0);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("dépt", "dept"), 1);
    }

    #[test]
    fn suggestions_are_close_or_differ_in_case_only() {
        let known = ["title", "department", "email", "dn"];
        assert_eq!(suggest("titel", known), Some("title"));
        assert_eq!(suggest("Email", known), Some("email"));
        assert_eq!(suggest("DEPARTMENT", known), Some("department"));
        assert_eq!(suggest("salary", known), None);
        assert_eq!(suggest("id", known), None);
    }

    /// The LDAP canonical names here are the connector's.
    #[test]
    fn ldap_names_match_the_connector() {
        use crate::connectors::ldap::{DISPLAY_NAME, DN, LOGIN, UPN};
        for name in [DISPLAY_NAME, DN, LOGIN] {
            assert!(LDAP_NAMES.contains(&name), "{name}");
        }
        assert_eq!(LDAP_AD_NAMES, [UPN]);
    }
    /// `text` parsed, and what its LDAP source `corp` keeps.
    fn kept_by(text: &str) -> BTreeSet<String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "tok\n").unwrap();
        let settings = crate::config::parse(text, &dir.path().join("idbridge.toml"), dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
        let corp = settings.sources.iter().find_map(|s| match s {
            SourceSettings::Ldap(l) => Some(l),
            _ => None,
        });
        corp.and_then(|l| l.keep.clone()).unwrap()
    }

    const LDAP_HR: &str = "[target]\nkind = \"notion\"\ntoken_file = \"token\"\n\n\
        [[sources]]\nname = \"corp\"\nkind = \"ldap\"\nurl = \"ldap://127.0.0.1:389\"\n\
        users = { base = \"ou=people,dc=x\" }\nextra_attributes = [\"costCenter\"]\n\n\
        [[sources]]\nname = \"hr\"\nkind = \"hr-csv\"\npath = \"hr.csv\"\n";

    /// The default mapping reads canonical names only: the raw copies (`uid`, `sn`, `mail`,
    /// `entryUUID`, …) and `upn` are neither kept nor, so, asked for.
    #[test]
    fn the_default_mapping_keeps_canonical_names_and_the_extras() {
        let kept = kept_by(LDAP_HR);
        let want = [
            "costCenter",
            "department",
            "displayName",
            "dn",
            "email",
            "employeeId",
            "familyName",
            "givenName",
            "login",
            "manager",
            "title",
        ];
        assert_eq!(kept, want.iter().map(|n| (*n).to_owned()).collect());
    }

    /// A raw attribute is kept when a template of this source, a template without a prefix, a
    /// `[scope] where`, a `[roles]` attribute rule or a gate's `required` names it; one named for
    /// another source is not, nor a canonical name nothing reads.
    #[test]
    fn every_reader_of_records_adds_what_it_names() {
        let text = format!(
            "{LDAP_HR}\n[mapping]\ntitle = \"{{corp.uid}}\"\ndisplayName = \"{{sn}}\"\n\
             department = \"{{hr.title}}\"\nmanager = \"\"\n\
             [scope]\nwhere = {{ employeeNumber = [\"E1\"] }}\n\
             [roles]\n[[roles.rules]]\nrole = \"member\"\nattribute = \"departmentNumber\"\nvalue = \"x\"\n\
             [policy.gates.sources.corp]\nrequired = [\"mail\"]\n"
        );
        let kept = kept_by(&text);
        for name in [
            "uid",
            "sn",
            "employeeNumber",
            "departmentNumber",
            "mail",
            "costCenter",
        ] {
            assert!(kept.contains(name), "{name} in {kept:?}");
        }
        // `{hr.title}` is HR's; no template reads the canonical title, department or manager.
        for name in [
            "title",
            "department",
            "manager",
            "displayName",
            "entryUUID",
            "upn",
        ] {
            assert!(!kept.contains(name), "{name} in {kept:?}");
        }
        for name in LDAP_ALWAYS_KEPT {
            assert!(kept.contains(name), "{name} in {kept:?}");
        }
    }

    /// A join attribute other than `email` is kept.
    #[test]
    fn the_join_attribute_is_kept() {
        let text = LDAP_HR.replace("extra_attributes", "join_attr = \"uid\"\nextra_attributes");
        assert!(kept_by(&text).contains("uid"));
    }
}
