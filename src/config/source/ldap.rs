//! `kind = "ldap"`: a directory (OpenLDAP, 389-DS, Active Directory): how to reach it safely
//! (TLS, bind), what to search and which attribute holds what.

use super::{Common, SourceSettings};
use crate::config::raw::{RawLdap, RawQuery};
use crate::config::resolve::Resolver;
use crate::config::{names, ConfigError};
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// LDAP server flavour: decides the default attribute names and how "disabled" is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapDialect {
    /// OpenLDAP / 389-DS: `inetOrgPerson`, `groupOfNames`, `entryUUID`.
    OpenLdap,
    /// Active Directory: `objectGUID`, `userAccountControl`, ranged `member` values.
    ActiveDirectory,
}

/// LDAP search scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapScope {
    /// The base entry only.
    Base,
    /// Direct children.
    One,
    /// The whole subtree.
    Sub,
}

/// One LDAP search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapQuery {
    /// Base DN.
    pub base: String,
    /// Scope.
    pub scope: LdapScope,
    /// Filter.
    pub filter: String,
}

/// How nested groups are flattened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NestedGroups {
    /// The connector follows member DNs that are groups, with cycle detection.
    Resolve,
    /// AD's LDAP_MATCHING_RULE_IN_CHAIN (1.2.840.113556.1.4.1941) asks the server.
    InChain,
    /// Direct members only.
    Off,
}

/// LDAP attribute names per role (defaults depend on the dialect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapAttributes {
    /// Stable id: `entryUUID` / `objectGUID`.
    pub id: String,
    /// Login name: `uid` / `sAMAccountName`.
    pub login: String,
    /// Email: `mail`.
    pub mail: String,
    /// Given name: `givenName`.
    pub given_name: String,
    /// Family name: `sn`.
    pub family_name: String,
    /// Display name: `displayName`.
    pub display_name: String,
    /// Title: `title`.
    pub title: String,
    /// Department: `departmentNumber` / `department`.
    pub department: String,
    /// Employee number: `employeeNumber`.
    pub employee_number: String,
    /// Manager DN: `manager`.
    pub manager: String,
    /// Group name: `cn`.
    pub group_name: String,
    /// Group members: `member` (also `uniqueMember`, `memberUid` for the other group classes).
    pub member: String,
    /// User principal name (AD): `userPrincipalName`.
    pub upn: String,
}

impl LdapAttributes {
    /// Defaults for a dialect.
    pub fn defaults(dialect: LdapDialect) -> Self {
        let ad = dialect == LdapDialect::ActiveDirectory;
        let s = |v: &str| v.to_owned();
        Self {
            id: s(if ad { "objectGUID" } else { "entryUUID" }),
            login: s(if ad { "sAMAccountName" } else { "uid" }),
            mail: s("mail"),
            given_name: s("givenName"),
            family_name: s("sn"),
            display_name: s("displayName"),
            title: s("title"),
            department: s(if ad { "department" } else { "departmentNumber" }),
            employee_number: s("employeeNumber"),
            manager: s("manager"),
            group_name: s("cn"),
            member: s("member"),
            upn: s("userPrincipalName"),
        }
    }
}

/// Resolved `kind = "ldap"` source.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// Source name.
    pub name: String,
    /// `ldap://` or `ldaps://` URL.
    pub url: url::Url,
    /// StartTLS on `ldap://`.
    pub starttls: bool,
    /// CA certificate file (PEM).
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (warned about).
    pub insecure_skip_verify: bool,
    /// Bind DN; `None` = anonymous.
    pub bind_dn: Option<String>,
    /// Bind password (redacted in Debug).
    pub password: Option<SecretString>,
    /// Dialect.
    pub dialect: LdapDialect,
    /// User search.
    pub users: LdapQuery,
    /// Group search; `None` = no groups from this source.
    pub groups: Option<LdapQuery>,
    /// Paged-results page size.
    pub page_size: u32,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Search timeout.
    pub search_timeout: Duration,
    /// Extra filter for disabled accounts (OpenLDAP); AD reads `userAccountControl` bit 0x2.
    pub disabled_filter: Option<String>,
    /// Nested groups.
    pub nested: NestedGroups,
    /// Attribute names.
    pub attributes: LdapAttributes,
    /// Extra attributes to fetch.
    pub extra_attributes: Vec<String>,
    /// Join attribute (canonical name), default `email`.
    pub join_attr: String,
    /// Active Directory with `deleted_objects = true`: the Deleted Objects container of the
    /// users' domain (`CN=Deleted Objects,DC=…`), read with the Show Deleted control so people
    /// deleted from the directory are read as leavers. `None`: deleted objects are not asked for.
    pub deleted_base: Option<String>,
    /// The record attributes something after the read uses (`config::names::ldap_kept`, filled
    /// when the whole config is resolved): only these are asked for and kept. `None` keeps every
    /// attribute fetched (settings built by hand, as tests do).
    pub keep: Option<std::collections::BTreeSet<String>>,
}

pub(in crate::config) const DIALECTS: [(&str, LdapDialect); 4] = [
    ("openldap", LdapDialect::OpenLdap),
    ("389ds", LdapDialect::OpenLdap),
    ("ad", LdapDialect::ActiveDirectory),
    ("active-directory", LdapDialect::ActiveDirectory),
];
pub(in crate::config) const NESTED: [(&str, NestedGroups); 3] = [
    ("resolve", NestedGroups::Resolve),
    ("in-chain", NestedGroups::InChain),
    ("off", NestedGroups::Off),
];
pub(in crate::config) const SCOPES: [(&str, LdapScope); 3] = [
    ("sub", LdapScope::Sub),
    ("one", LdapScope::One),
    ("base", LdapScope::Base),
];
/// The roles of an LDAP source's `attributes` table.
pub(in crate::config) const LDAP_ROLES: [&str; 13] = [
    "id",
    "login",
    "mail",
    "given_name",
    "family_name",
    "display_name",
    "title",
    "department",
    "employee_number",
    "manager",
    "group_name",
    "member",
    "upn",
];

impl LdapAttributes {
    /// The name slot of `role` (one of [`LDAP_ROLES`]).
    fn slot(&mut self, role: &str) -> Option<&mut String> {
        Some(match role {
            "id" => &mut self.id,
            "login" => &mut self.login,
            "mail" => &mut self.mail,
            "given_name" => &mut self.given_name,
            "family_name" => &mut self.family_name,
            "display_name" => &mut self.display_name,
            "title" => &mut self.title,
            "department" => &mut self.department,
            "employee_number" => &mut self.employee_number,
            "manager" => &mut self.manager,
            "group_name" => &mut self.group_name,
            "member" => &mut self.member,
            "upn" => &mut self.upn,
            _ => return None,
        })
    }
}

/// The trailing `DC=` components of `dn` (`DC=ad,DC=example,DC=com`), as written. RDNs are split
/// at commas that are not escaped with a backslash (RFC 4514 §2.4).
fn domain_of(dn: &str) -> Option<String> {
    let mut rdns: Vec<&str> = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, ch) in dn.char_indices() {
        match ch {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => {
                rdns.push(dn[start..i].trim());
                start = i + 1;
            }
            _ => escaped = false,
        }
    }
    rdns.push(dn[start..].trim());
    let is_dc = |r: &&str| r.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("dc="));
    let first = rdns.iter().rposition(|r| !is_dc(r)).map_or(0, |i| i + 1);
    (first < rdns.len()).then(|| rdns[first..].join(","))
}

/// Whether a filter is parenthesised and balanced (a cheap sanity check; the server parses it).
fn balanced_filter(filter: &str) -> bool {
    let filter = filter.trim();
    if !filter.starts_with('(') || !filter.ends_with(')') {
        return false;
    }
    let mut depth = 0i64;
    let mut escaped = false;
    for c in filter.chars() {
        match c {
            '\\' => escaped = !escaped,
            '(' if !escaped => depth += 1,
            ')' if !escaped => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => escaped = false,
        }
    }
    depth == 0
}

/// The default user and group filters of a dialect.
fn default_filters(dialect: LdapDialect) -> (&'static str, &'static str) {
    match dialect {
        LdapDialect::OpenLdap => (
            "(objectClass=inetOrgPerson)",
            "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
        ),
        LdapDialect::ActiveDirectory => (
            "(&(objectCategory=person)(objectClass=user))",
            "(objectClass=group)",
        ),
    }
}

impl Resolver<'_> {
    pub(super) fn ldap(&self, c: Common<'_>, s: &RawLdap) -> Result<SourceSettings, ConfigError> {
        let (url, starttls) = self.ldap_url(&c, s)?;
        let dialect = self.choice(
            &s.dialect,
            &c.key("dialect"),
            &DIALECTS,
            LdapDialect::OpenLdap,
        )?;
        let (bind_dn, password) = self.ldap_bind(&c, s)?;
        let (user_filter, group_filter) = default_filters(dialect);
        let Some(users) = &s.users else {
            return self.invalid(
                c.at,
                &c.key("users"),
                "an ldap source needs `users = { base = \"ou=people,dc=example,dc=com\" }`",
            );
        };
        let users = self.query(users, &c.key("users"), user_filter)?;
        let groups = match &s.groups {
            Some(g) => Some(self.query(g, &c.key("groups"), group_filter)?),
            None => None,
        };
        let nested = self.nested(&c, s, dialect)?;
        let attributes = self.ldap_attributes(&c, s, dialect)?;
        let deleted_base = self.deleted_base(&c, s, dialect, &users.base)?;
        Ok(SourceSettings::Ldap(Box::new(LdapSettings {
            name: c.name.to_owned(),
            url,
            starttls,
            ca_file: s.ca_file.as_ref().map(|f| self.base.join(f.get_ref())),
            insecure_skip_verify: s.insecure_skip_verify.unwrap_or(false),
            bind_dn,
            password,
            dialect,
            users,
            groups,
            page_size: self.positive(&s.page_size, &c.key("page_size"), 500, 10_000)? as u32,
            connect_timeout: self.duration(
                &s.connect_timeout,
                &c.key("connect_timeout"),
                Duration::from_secs(10),
            )?,
            search_timeout: self.duration(
                &s.search_timeout,
                &c.key("search_timeout"),
                Duration::from_secs(120),
            )?,
            disabled_filter: s.disabled_filter.as_ref().map(|f| f.get_ref().clone()),
            nested,
            attributes,
            extra_attributes: s.extra_attributes.clone(),
            join_attr: c.join_attr,
            deleted_base,
            // Needs the mapping, roles and gates: set by `Resolver::resolve` at the end.
            keep: None,
        })))
    }

    /// `deleted_objects = true`: the Deleted Objects container of the domain `users.base` is in
    /// (its trailing `DC=` components). Only Active Directory keeps tombstones there.
    fn deleted_base(
        &self,
        c: &Common<'_>,
        s: &RawLdap,
        dialect: LdapDialect,
        users_base: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(flag) = &s.deleted_objects else {
            return Ok(None);
        };
        if !*flag.get_ref() {
            return Ok(None);
        }
        let at = flag.span().start;
        if dialect != LdapDialect::ActiveDirectory {
            return self.invalid(
                at,
                &c.key("deleted_objects"),
                "deleted objects (tombstones) are Active Directory's; set `dialect = \"ad\"` or remove `deleted_objects`",
            );
        }
        match domain_of(users_base) {
            Some(domain) => Ok(Some(format!("CN=Deleted Objects,{domain}"))),
            None => self.invalid(
                at,
                &c.key("deleted_objects"),
                "`users.base` has no `DC=` components, so the domain whose `CN=Deleted Objects` holds the tombstones is unknown",
            ),
        }
    }

    /// The URL (no credential in it), and StartTLS only on `ldap://`.
    fn ldap_url(&self, c: &Common<'_>, s: &RawLdap) -> Result<(url::Url, bool), ConfigError> {
        let Some(url_text) = &s.url else {
            return self.invalid(
                c.at,
                &c.key("url"),
                "an ldap source needs `url` (ldap://host:389 or ldaps://host:636)",
            );
        };
        let url = self.url(
            url_text.get_ref(),
            url_text.span().start,
            &c.key("url"),
            &["ldap", "ldaps"],
            "bind_dn with password_env or password_file",
        )?;
        let starttls = s.starttls.unwrap_or(false);
        if starttls && url.scheme() == "ldaps" {
            return self.invalid(
                url_text.span().start,
                &c.key("starttls"),
                "StartTLS applies to ldap:// URLs; ldaps:// is TLS already",
            );
        }
        Ok((url, starttls))
    }

    /// The bind: anonymous, or a DN with a password.
    fn ldap_bind(
        &self,
        c: &Common<'_>,
        s: &RawLdap,
    ) -> Result<(Option<String>, Option<SecretString>), ConfigError> {
        let password =
            self.optional_secret(&s.password_env, &s.password_file, &c.key("password"))?;
        let bind_dn = s.bind_dn.as_ref().map(|b| b.get_ref().trim().to_owned());
        if bind_dn.is_some() && password.is_none() {
            let at = s.bind_dn.as_ref().map(|b| b.span().start).unwrap_or(0);
            // RFC 4513 §5.1.2: a name with an empty password is an unauthenticated bind that
            // servers may accept, which would read as success.
            return self.invalid(
                at,
                &c.key("password_env"),
                "a bind_dn needs a password (password_env or password_file)",
            );
        }
        Ok((bind_dn, password))
    }

    /// `nested`: `in-chain` is Active Directory's alone.
    fn nested(
        &self,
        c: &Common<'_>,
        s: &RawLdap,
        dialect: LdapDialect,
    ) -> Result<NestedGroups, ConfigError> {
        let nested = self.choice(&s.nested, &c.key("nested"), &NESTED, NestedGroups::Resolve)?;
        if nested == NestedGroups::InChain && dialect != LdapDialect::ActiveDirectory {
            let at = s.nested.as_ref().map(|n| n.span().start).unwrap_or(0);
            return self.invalid(
                at,
                &c.key("nested"),
                "\"in-chain\" is Active Directory's matching rule; with OpenLDAP use \"resolve\"",
            );
        }
        Ok(nested)
    }

    /// The dialect's attribute names with `attributes` over them, then the CA file's existence.
    fn ldap_attributes(
        &self,
        c: &Common<'_>,
        s: &RawLdap,
        dialect: LdapDialect,
    ) -> Result<LdapAttributes, ConfigError> {
        let mut attributes = LdapAttributes::defaults(dialect);
        for (role, value) in &s.attributes {
            let Some(slot) = attributes.slot(role) else {
                return self.invalid(
                    c.at,
                    &c.key(&format!("attributes.{role}")),
                    format!(
                        "unknown attribute role{} The roles are {}.",
                        names::suggest(role, LDAP_ROLES)
                            .map_or(".".to_owned(), |r| format!("; did you mean `{r}`?")),
                        LDAP_ROLES.join(", ")
                    ),
                );
            };
            *slot = value.clone();
        }
        if let Some(ca) = &s.ca_file {
            let path = self.base.join(ca.get_ref());
            if !path.is_file() {
                return self.invalid(
                    ca.span().start,
                    &c.key("ca_file"),
                    format!("CA file {} does not exist", path.display()),
                );
            }
        }
        Ok(attributes)
    }

    fn query(
        &self,
        q: &Spanned<RawQuery>,
        key: &str,
        default_filter: &str,
    ) -> Result<LdapQuery, ConfigError> {
        let raw = q.get_ref();
        let at = q.span().start;
        let scope = match raw.scope.as_deref() {
            None => LdapScope::Sub,
            Some(s) => self.pick(s, at, &format!("{key}.scope"), &SCOPES)?,
        };
        let filter = raw
            .filter
            .clone()
            .unwrap_or_else(|| default_filter.to_owned());
        if !balanced_filter(&filter) {
            return self.invalid(
                at,
                &format!("{key}.filter"),
                format!(
                    "`{filter}` is not an LDAP filter: it must be wrapped in parentheses, balanced"
                ),
            );
        }
        if raw.base.trim().is_empty() {
            return self.invalid(at, &format!("{key}.base"), "the search base DN is empty");
        }
        Ok(LdapQuery {
            base: raw.base.trim().to_owned(),
            scope,
            filter,
        })
    }
}
