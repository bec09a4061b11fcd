//! The access review (`report users`) and the users no source knows (`report orphans`), built
//! from one read of the target and the sources, the stored links, the journal and the SAML
//! history. The CLI reads those (read-only, as `plan` does) and hands them over as a
//! [`Workspace`]; everything here is pure. [`UserRow`] is the typed row of the access review, so
//! another front end (a Notion database) publishes the same facts the formats render.

use super::audit::OpEntry;
use super::data::{Cell, Column, Field, Report};
use super::sso::SsoCheck;
use crate::model::{cite, Attr, DesiredUser, Lifecycle, SourceKey, SourceRecord, TargetUser};
use crate::plan::{Adopt, KnownLink, OpKind, Policy};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// Everything the access reports are made from, read once, the way `plan` reads it.
#[derive(Debug, Clone, Copy)]
pub struct Workspace<'a> {
    /// The target users, profile-normalised.
    pub users: &'a [TargetUser],
    /// The people the sources describe now, mapped.
    pub desired: &'a [DesiredUser],
    /// Every valid source record (for ids and locations).
    pub records: &'a [SourceRecord],
    /// The stored user links of this target.
    pub links: &'a [KnownLink],
    /// The attributes idbridge manages on this target.
    pub managed: &'a BTreeSet<Attr>,
    /// The policy (who is protected, whether matches are adopted).
    pub policy: &'a Policy,
    /// Operations done on this target, oldest first.
    pub journal: &'a [OpEntry],
    /// SAML checks recorded in the store, newest first.
    pub sso: &'a [SsoCheck],
}

/// How idbridge stands towards one workspace user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Management {
    /// Linked to a source person: idbridge keeps them as the sources say.
    Managed {
        /// The source key the link is stored under.
        key: String,
    },
    /// Not linked, but a source person matches: the next sync adopts them (`adopt`), or leaves
    /// them alone under `policy.adopt = "none"`.
    Matched {
        /// The matching person's key.
        key: String,
        /// Whether the next sync links them.
        adopted: bool,
    },
    /// Never changed whatever the sources say (a workspace owner, the token's owner).
    Protected {
        /// Why.
        why: &'static str,
    },
    /// No source knows them and no link names them: idbridge leaves them alone.
    Unmanaged,
}

impl Management {
    /// One short phrase for a cell.
    pub fn text(&self) -> String {
        match self {
            Management::Managed { key } => format!("managed (linked as {key})"),
            Management::Matched { key, adopted: true } => {
                format!("matched {key}; linked by the next sync")
            }
            Management::Matched {
                key,
                adopted: false,
            } => format!("matched {key}; left alone (policy.adopt = \"none\")"),
            Management::Protected { why } => format!("left alone: {why}"),
            Management::Unmanaged => "left alone: unmanaged".to_owned(),
        }
    }

    /// Whether idbridge writes to this user.
    pub fn is_managed(&self) -> bool {
        matches!(
            self,
            Management::Managed { .. } | Management::Matched { adopted: true, .. }
        )
    }
}

/// Where one attribute's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrOrigin {
    /// The SCIM attribute.
    pub attr: Attr,
    /// The value the sources give it now (`None`: no value).
    pub value: Option<String>,
    /// The source records and values it was made from, with their locations
    /// (`hr: title=Lead (hr.csv line 2)`); `config: …` for a constant of the mapping.
    pub from: String,
}

impl AttrOrigin {
    /// `title = Lead ← hr: title=Lead (hr.csv line 2)`.
    pub fn text(&self) -> String {
        let name = super::data::short_attr(self.attr.path());
        let value = self.value.as_deref().unwrap_or("∅");
        if self.from.is_empty() {
            format!("{name} = {value}")
        } else {
            format!("{name} = {value} ← {}", self.from)
        }
    }
}

/// The last operation idbridge did on a user, from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastChange {
    /// When it was done.
    pub at: DateTime<Utc>,
    /// Its kind (`patch-user`, …).
    pub op: String,
    /// The run that did it.
    pub run_id: i64,
}

/// Whether a user can log in through SSO, from the recorded SAML checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoStatus {
    /// No response for this user was checked with `--record`.
    NotChecked,
    /// The latest recorded response for this user was accepted.
    Accepted {
        /// When it was checked.
        at: DateTime<Utc>,
    },
    /// The latest recorded response for this user was rejected.
    Rejected {
        /// When it was checked.
        at: DateTime<Utc>,
        /// The error codes.
        codes: Vec<String>,
    },
}

impl SsoStatus {
    /// One phrase for a cell.
    pub fn text(&self) -> String {
        match self {
            SsoStatus::NotChecked => "not checked".to_owned(),
            SsoStatus::Accepted { at } => {
                format!("can log in (accepted {})", super::data::time_text(*at))
            }
            SsoStatus::Rejected { at, codes } => format!(
                "cannot log in (rejected {}: {})",
                super::data::time_text(*at),
                codes.join(", ")
            ),
        }
    }
}

/// One row of the access review: a person in the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// The target's userName.
    pub user_name: String,
    /// The target's displayName.
    pub display_name: Option<String>,
    /// The SCIM id.
    pub scim_id: String,
    /// The workspace role (Notion), when the target has roles.
    pub role: Option<String>,
    /// Whether the target lists them as active.
    pub active: bool,
    /// How idbridge stands towards them.
    pub management: Management,
    /// Their keys in the sources (`hr:E1`, `corp:…`).
    pub source_keys: Vec<String>,
    /// The HR employee id, when a source has one.
    pub employee_id: Option<String>,
    /// The directory DN, when a directory source has them.
    pub dn: Option<String>,
    /// What the sources say about their employment now, with the fact (`hr: status=active (…)`).
    pub lifecycle: Option<String>,
    /// Where each managed attribute's value comes from.
    pub origins: Vec<AttrOrigin>,
    /// The last operation idbridge did on them.
    pub last_change: Option<LastChange>,
    /// Whether they can log in through SSO.
    pub sso: SsoStatus,
}

/// A workspace user with what idbridge knows of them.
pub(super) struct Known<'a> {
    pub(super) user: &'a TargetUser,
    pub(super) link: Option<&'a KnownLink>,
    pub(super) person: Option<&'a DesiredUser>,
    /// The person's records, in join order.
    pub(super) records: Vec<&'a SourceRecord>,
    /// The journal's done user operations on this user (by SCIM id), oldest first.
    pub(super) journal: Vec<&'a OpEntry>,
}

/// Lookups over the workspace's slices, built once, so a report over tens of thousands of
/// users and a long journal stays linear instead of scanning every slice for every user.
struct Index<'a> {
    link_by_id: HashMap<&'a str, &'a KnownLink>,
    link_by_key: HashMap<&'a SourceKey, &'a KnownLink>,
    person_by_key: HashMap<&'a SourceKey, &'a DesiredUser>,
    person_by_name: HashMap<String, Vec<&'a DesiredUser>>,
    person_by_ext: HashMap<&'a str, Vec<&'a DesiredUser>>,
    record_by_key: HashMap<&'a SourceKey, &'a SourceRecord>,
    journal_by_id: HashMap<&'a str, Vec<&'a OpEntry>>,
}

fn keys_of(person: &DesiredUser) -> impl Iterator<Item = &SourceKey> {
    std::iter::once(&person.key).chain(person.other_keys.iter())
}

impl<'a> Index<'a> {
    fn new(ws: &Workspace<'a>) -> Self {
        let mut index = Index {
            link_by_id: ws.links.iter().map(|l| (l.scim_id.0.as_str(), l)).collect(),
            link_by_key: ws.links.iter().map(|l| (&l.key, l)).collect(),
            person_by_key: HashMap::new(),
            person_by_name: HashMap::new(),
            person_by_ext: HashMap::new(),
            record_by_key: ws.records.iter().map(|r| (&r.key, r)).collect(),
            journal_by_id: HashMap::new(),
        };
        for d in ws.desired {
            for key in keys_of(d) {
                index.person_by_key.entry(key).or_insert(d);
            }
            if let Some(name) = d.user_name() {
                index.person_by_name.entry(name.key()).or_default().push(d);
            }
            if let Some(ext) = d.attrs.get(&Attr::ExternalId) {
                index.person_by_ext.entry(ext).or_default().push(d);
            }
        }
        for o in ws.journal.iter().filter(|o| user_op(&o.op)) {
            if let Some(id) = o.scim_id.as_deref() {
                index.journal_by_id.entry(id).or_default().push(o);
            }
        }
        index
    }

    /// The first of `people` that no link ties to another workspace user.
    fn unlinked(
        &self,
        people: Option<&Vec<&'a DesiredUser>>,
        user: &TargetUser,
    ) -> Option<&'a DesiredUser> {
        people?.iter().copied().find(|d| {
            !keys_of(d).any(|k| {
                self.link_by_key
                    .get(k)
                    .is_some_and(|l| l.scim_id != user.id)
            })
        })
    }

    /// The person a workspace user with no link matches: by externalId when idbridge manages
    /// it, else by userName, as the planner matches.
    fn matching(&self, ws: &Workspace<'a>, user: &TargetUser) -> Option<&'a DesiredUser> {
        let by_ext = ws
            .managed
            .contains(&Attr::ExternalId)
            .then(|| user.attrs.get(&Attr::ExternalId))
            .flatten()
            .and_then(|ext| self.unlinked(self.person_by_ext.get(ext), user));
        by_ext.or_else(|| self.unlinked(self.person_by_name.get(&user.user_name().key()), user))
    }
}

/// Pair each workspace user with their link, the source person and their records and journal,
/// the way the planner matches: a link first, else the same externalId (when managed), else the
/// same userName. By userName.
pub(super) fn known<'a>(ws: &Workspace<'a>) -> Vec<Known<'a>> {
    let index = Index::new(ws);
    let mut users: Vec<&TargetUser> = ws.users.iter().collect();
    users.sort_by_key(|u| (u.user_name().key(), u.id.0.clone()));
    users
        .into_iter()
        .map(|user| {
            let link = index.link_by_id.get(user.id.0.as_str()).copied();
            let person = match link {
                Some(link) => index.person_by_key.get(&link.key).copied(),
                None => index.matching(ws, user),
            };
            let records = person
                .map(|p| {
                    keys_of(p)
                        .filter_map(|k| index.record_by_key.get(k).copied())
                        .collect()
                })
                .unwrap_or_default();
            let journal = index
                .journal_by_id
                .get(user.id.0.as_str())
                .cloned()
                .unwrap_or_default();
            Known {
                user,
                link,
                person,
                records,
                journal,
            }
        })
        .collect()
}

/// Why a user is never changed, as the planner decides it.
pub fn protection(policy: &Policy, user: &TargetUser) -> Option<&'static str> {
    if policy
        .token_owner
        .as_ref()
        .is_some_and(|o| *o == user.user_name())
    {
        return Some("the owner of idbridge's SCIM token (target.token_owner)");
    }
    if user
        .role
        .as_ref()
        .is_some_and(|r| policy.protected_roles.iter().any(|p| p == r))
    {
        return Some("a workspace owner");
    }
    None
}

pub(super) fn management(ws: &Workspace<'_>, k: &Known<'_>) -> Management {
    if let Some(why) = protection(ws.policy, k.user) {
        return Management::Protected { why };
    }
    match (k.link, k.person) {
        (Some(link), _) => Management::Managed {
            key: link.key.to_string(),
        },
        (None, Some(person)) => Management::Matched {
            key: person.key.to_string(),
            adopted: ws.policy.adopt != Adopt::None,
        },
        (None, None) => Management::Unmanaged,
    }
}

/// The records of `person` in every source, in the order the mapping joined them (one
/// person: `explain`).
pub(super) fn records_of<'a>(ws: &Workspace<'a>, person: &DesiredUser) -> Vec<&'a SourceRecord> {
    keys_of(person)
        .filter_map(|k| ws.records.iter().find(|r| r.key == *k))
        .collect()
}

/// The user operations of the journal, as kinds spelled there.
fn user_op(op: &str) -> bool {
    [
        OpKind::CreateUser,
        OpKind::PatchUser,
        OpKind::ReaddUser,
        OpKind::DeactivateUser,
        OpKind::LinkUser,
    ]
    .iter()
    .any(|k| <&str>::from(*k) == op)
}

/// The latest recorded response (or test login) per userName (lowercased); `sso` is newest
/// first, so the first seen wins.
fn latest_logins<'a>(ws: &Workspace<'a>) -> HashMap<String, &'a SsoCheck> {
    let mut latest = HashMap::new();
    for check in ws.sso.iter().filter(|c| c.kind != "metadata") {
        if let Some(subject) = check.subject.as_deref() {
            latest
                .entry(crate::model::UserName::new(subject).key())
                .or_insert(check);
        }
    }
    latest
}

fn sso_status(latest: &HashMap<String, &SsoCheck>, user: &TargetUser) -> SsoStatus {
    match latest.get(&user.user_name().key()) {
        None => SsoStatus::NotChecked,
        Some(check) if check.verdict == "accept" => SsoStatus::Accepted {
            at: check.checked_at,
        },
        Some(check) => SsoStatus::Rejected {
            at: check.checked_at,
            codes: check.error_codes(),
        },
    }
}

fn lifecycle_text(person: &DesiredUser) -> String {
    let state = match person.lifecycle {
        Lifecycle::Active => "active",
        Lifecycle::Inactive => "inactive",
        Lifecycle::Pending => "not started",
    };
    match &person.leaving {
        Some(leaving) => format!(
            "{state}: {}; leaves {} (deactivated from {})",
            person.reason,
            leaving.last_day,
            super::data::time_text(leaving.effective)
        ),
        None => format!("{state}: {}", person.reason),
    }
}

/// The attributes of `person` with where each came from, in plan order.
pub fn origins(person: &DesiredUser, managed: &BTreeSet<Attr>) -> Vec<AttrOrigin> {
    managed
        .iter()
        .filter(|a| person.attrs.contains_key(a) || person.provenance.contains_key(a))
        .map(|attr| AttrOrigin {
            attr: *attr,
            value: person.attrs.get(attr).map(str::to_owned),
            from: person
                .provenance
                .get(attr)
                .map(|facts| cite(facts.iter()))
                .unwrap_or_default(),
        })
        .collect()
}

/// The access review's rows: every user in the workspace, by userName.
pub fn user_rows(ws: &Workspace<'_>) -> Vec<UserRow> {
    let logins = latest_logins(ws);
    known(ws)
        .iter()
        .map(|k| {
            let records = &k.records;
            let mut source_keys: Vec<String> = records.iter().map(|r| r.key.to_string()).collect();
            if let (true, Some(link)) = (source_keys.is_empty(), k.link) {
                source_keys.push(link.key.to_string());
            }
            let attr = |name: &str| {
                records
                    .iter()
                    .find_map(|r| r.attrs.get(name).map(str::to_owned))
            };
            UserRow {
                user_name: k.user.user_name().to_string(),
                display_name: k.user.attrs.get(&Attr::DisplayName).map(str::to_owned),
                scim_id: k.user.id.0.clone(),
                role: k.user.role.clone(),
                active: k.user.active,
                management: management(ws, k),
                source_keys,
                employee_id: attr(crate::model::attr::EMPLOYEE_ID),
                dn: attr("dn"),
                lifecycle: k.person.map(lifecycle_text),
                origins: k.person.map(|p| origins(p, ws.managed)).unwrap_or_default(),
                last_change: k.journal.last().map(|o| LastChange {
                    at: o.updated_at,
                    op: o.op.clone(),
                    run_id: o.run_id,
                }),
                sso: sso_status(&logins, k.user),
            }
        })
        .collect()
}

const USER_COLUMNS: [Column; 16] = [
    Column::new("userName", "userName"),
    Column::data("displayName", "displayName"),
    Column::new("role", "role"),
    Column::new("status", "status"),
    Column::new("management", "idbridge"),
    Column::new("employeeId", "employee id"),
    Column::data("dn", "DN"),
    Column::data("sourceKeys", "source keys"),
    Column::data("sources", "sources say"),
    Column::data("attributes", "attributes and where they come from"),
    Column::new("lastChangedAt", "last changed"),
    Column::data("lastOperation", "last operation"),
    Column::data("lastRun", "run"),
    Column::new("sso", "SSO"),
    Column::data("scimId", "scimId"),
    Column::data("managed", "managed"),
];

fn status_text(active: bool) -> &'static str {
    if active {
        "active"
    } else {
        "deactivated"
    }
}

/// `report users`: the access review. Who is in the workspace, with which role and status, which
/// source records justify them and where each attribute came from, when idbridge last changed
/// them, and whether they can log in through SSO.
pub fn users(rows: &[UserRow], parameters: Vec<Field>, at: DateTime<Utc>) -> Report {
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r.user_name.as_str().into(),
                r.display_name.clone().into(),
                r.role.clone().into(),
                status_text(r.active).into(),
                r.management.text().into(),
                r.employee_id.clone().into(),
                r.dn.clone().into(),
                Cell::List(r.source_keys.clone()),
                r.lifecycle.clone().into(),
                Cell::List(r.origins.iter().map(AttrOrigin::text).collect()),
                r.last_change.as_ref().map(|c| c.at).into(),
                r.last_change.as_ref().map(|c| c.op.clone()).into(),
                r.last_change
                    .as_ref()
                    .map_or(Cell::Null, |c| Cell::Int(c.run_id)),
                r.sso.text().into(),
                r.scim_id.as_str().into(),
                Cell::Text(
                    if r.management.is_managed() {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_owned(),
                ),
            ]
        })
        .collect();
    let count =
        |f: &dyn Fn(&UserRow) -> bool| Cell::count(rows.iter().filter(|r| f(r)).count() as u64);
    let facts = vec![
        Field::new("users", "users", Cell::count(rows.len() as u64)),
        Field::new("active", "active", count(&|r| r.active)),
        Field::new(
            "managed",
            "managed by idbridge",
            count(&|r| r.management.is_managed()),
        ),
        Field::new(
            "unjustified",
            "active, no source justifies them",
            count(&|r| r.active && r.source_keys.is_empty()),
        ),
        Field::new(
            "ssoNotChecked",
            "SSO not checked",
            count(&|r| r.sso == SsoStatus::NotChecked),
        ),
    ];
    // Notes print on one line of a 120-column table: each stays under it.
    let mut notes =
        vec!["as the workspace and the sources stand now; \"last changed\": the journal's last operation".to_owned()];
    if rows.iter().any(|r| r.sso == SsoStatus::NotChecked) {
        notes.push(
            "SSO \"not checked\": no response of theirs was checked with `saml check-response --record`"
                .to_owned(),
        );
    }
    Report {
        name: "users",
        title: "Access review: everyone in the workspace".to_owned(),
        generated_at: at,
        parameters,
        facts,
        columns: USER_COLUMNS.to_vec(),
        rows: cells,
        empty: "The workspace has no users.".to_owned(),
        notes,
    }
}

const ORPHAN_COLUMNS: [Column; 7] = [
    Column::new("userName", "userName"),
    Column::new("role", "role"),
    Column::new("status", "status"),
    Column::new("managed", "managed"),
    Column::new("why", "what idbridge does"),
    Column::data("linkedAs", "linked as"),
    Column::data("scimId", "scimId"),
];

/// `report orphans`: workspace users no source knows (neither linked to a present person nor
/// matched by one), and whether idbridge manages them; the users it leaves alone whatever the
/// sources say (owners, the token's owner) are listed too, marked as such.
pub fn orphans(ws: &Workspace<'_>, parameters: Vec<Field>, at: DateTime<Utc>) -> Report {
    let mut rows = Vec::new();
    for k in known(ws) {
        let protected = protection(ws.policy, k.user);
        if k.person.is_some() && protected.is_none() {
            continue;
        }
        let (managed, why) = match (protected, k.link, k.person) {
            (Some(why), _, Some(p)) => (
                false,
                format!("left alone: {why} (the sources know them as {})", p.key),
            ),
            (Some(why), _, None) => (false, format!("left alone: {why}; no source knows them")),
            (None, Some(link), _) if !k.user.active => (
                true,
                format!(
                    "nothing: deactivated, and {} is in no source any more",
                    link.key
                ),
            ),
            (None, Some(link), _) => (
                true,
                format!(
                    "managed, but {} is in no source: the next sync deactivates them unless a \
                     guardrail holds it",
                    link.key
                ),
            ),
            (None, None, _) => (
                false,
                "left alone: unmanaged (no link, no source person matches)".to_owned(),
            ),
        };
        rows.push(vec![
            k.user.user_name().to_string().into(),
            k.user.role.clone().into(),
            status_text(k.user.active).into(),
            Cell::Text(if managed { "yes" } else { "no" }.to_owned()),
            why.into(),
            k.link.map(|l| l.key.to_string()).into(),
            k.user.id.0.as_str().into(),
        ]);
    }
    Report {
        name: "orphans",
        title: "Workspace users no source knows".to_owned(),
        generated_at: at,
        parameters,
        facts: vec![Field::new(
            "workspaceUsers",
            "workspace users",
            Cell::count(ws.users.len() as u64),
        )],
        columns: ORPHAN_COLUMNS.to_vec(),
        rows,
        empty: "Every workspace user is known to a source.".to_owned(),
        notes: vec![
            "as the workspace and the sources stand now; users a source knows are in `report users`"
                .to_owned(),
        ],
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::{Lifecycle, ScimId, SourceFact, SourceKey, UserName};
    use std::collections::BTreeMap;

    pub fn target(id: &str, name: &str, title: &str, role: Option<&str>) -> TargetUser {
        TargetUser {
            id: ScimId(id.into()),
            attrs: [
                (Attr::UserName, name.to_owned()),
                (Attr::Title, title.to_owned()),
            ]
            .into_iter()
            .collect(),
            active: true,
            role: role.map(str::to_owned),
        }
    }

    pub fn person(key: &str, name: &str, title: &str) -> DesiredUser {
        let key = SourceKey::parse(key).unwrap();
        DesiredUser {
            key: key.clone(),
            other_keys: Vec::new(),
            attrs: [
                (Attr::UserName, name.to_owned()),
                (Attr::Title, title.to_owned()),
            ]
            .into_iter()
            .collect(),
            lifecycle: Lifecycle::Active,
            reason: format!("hr: status=active (hr.csv line {})", &key.id[1..]),
            leaving: None,
            out_of_scope: None,
            disabled: None,
            provenance: [(
                Attr::Title,
                vec![SourceFact {
                    source: "hr".into(),
                    location: format!("hr.csv line {}", &key.id[1..]).into(),
                    values: vec![("title".into(), title.into())],
                }],
            )]
            .into_iter()
            .collect(),
        }
    }

    pub fn record(key: &str, email: &str) -> SourceRecord {
        let key = SourceKey::parse(key).unwrap();
        SourceRecord {
            location: format!("hr.csv line {}", &key.id[1..]),
            attrs: BTreeMap::from([
                ("employeeId".to_owned(), key.id.clone()),
                ("email".to_owned(), email.to_owned()),
            ])
            .into(),
            key,
            employment: None,
        }
    }

    pub fn link(key: &str, id: &str, name: &str) -> KnownLink {
        KnownLink {
            key: SourceKey::parse(key).unwrap(),
            scim_id: ScimId(id.into()),
            user_name: UserName::new(name),
            active: true,
        }
    }

    fn managed() -> BTreeSet<Attr> {
        [Attr::UserName, Attr::Title].into_iter().collect()
    }

    #[test]
    fn each_user_is_managed_matched_protected_or_left_alone() {
        let users = [
            target("1", "ada@acme.test", "Lead", None),
            target("2", "bob@acme.test", "Designer", None),
            target("3", "owner@acme.test", "Boss", Some("owner")),
            target("4", "guest@acme.test", "", None),
            target("5", "gone@acme.test", "", None),
        ];
        let mut ada = person("hr:E1", "ada@acme.test", "Lead");
        ada.other_keys = vec![SourceKey::new("corp", "u1")];
        let desired = [
            ada,
            person("hr:E2", "bob@acme.test", "Designer"),
            person("hr:E3", "owner@acme.test", "Boss"),
        ];
        let dn = "uid=ada,ou=people,dc=acme,dc=test";
        let directory = SourceRecord {
            key: SourceKey::new("corp", "u1"),
            location: dn.to_owned(),
            attrs: BTreeMap::from([("dn".to_owned(), dn.to_owned())]).into(),
            employment: None,
        };
        let records = [record("hr:E1", "ada@acme.test"), directory];
        let links = [
            link("hr:E1", "1", "ada@acme.test"),
            link("hr:E9", "5", "gone@acme.test"),
        ];
        let policy = Policy::default();
        let managed = managed();
        let ws = Workspace {
            users: &users,
            desired: &desired,
            records: &records,
            links: &links,
            managed: &managed,
            policy: &policy,
            journal: &[],
            sso: &[],
        };
        let rows = user_rows(&ws);
        let by = |name: &str| rows.iter().find(|r| r.user_name == name).unwrap();
        assert_eq!(
            by("ada@acme.test").management.text(),
            "managed (linked as hr:E1)"
        );
        assert_eq!(by("ada@acme.test").employee_id.as_deref(), Some("E1"));
        assert_eq!(by("ada@acme.test").dn.as_deref(), Some(dn));
        assert_eq!(by("ada@acme.test").source_keys, ["hr:E1", "corp:u1"]);
        assert_eq!(
            by("ada@acme.test").origins[1].text(),
            "title = Lead ← hr: title=Lead (hr.csv line 1)"
        );
        assert!(matches!(
            by("bob@acme.test").management,
            Management::Matched { adopted: true, .. }
        ));
        assert_eq!(
            by("owner@acme.test").management.text(),
            "left alone: a workspace owner"
        );
        assert_eq!(by("guest@acme.test").management, Management::Unmanaged);
        assert_eq!(by("gone@acme.test").source_keys, ["hr:E9"]);

        let report = orphans(&ws, Vec::new(), chrono::DateTime::UNIX_EPOCH);
        let names: Vec<String> = report.rows.iter().map(|r| r[0].text("")).collect();
        assert_eq!(
            names,
            ["gone@acme.test", "guest@acme.test", "owner@acme.test"]
        );
        assert_eq!(report.rows[0][3], Cell::Text("yes".into()));
        assert!(report.rows[0][4].text("").contains("next sync deactivates"));
        assert_eq!(
            report.rows[2][4].text(""),
            "left alone: a workspace owner (the sources know them as hr:E3)"
        );
    }
}
