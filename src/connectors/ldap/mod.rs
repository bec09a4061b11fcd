//! LDAP / Active Directory source: reads people and groups from one directory server and
//! normalises them into [`SourceRecord`]s and [`SourceGroup`]s. It never decides who changes.
//!
//! Imports `config` (its settings), `model` (what it yields) and `ldap3` (the wire). Layout:
//! `conn` talks to the server (TLS, bind, paged search, BER decoding), `dn` compares DNs,
//! `values` renders GUIDs, parses ranges and builds filters, `groups` resolves memberships.
//!
//! Policy, in one place:
//! - **Complete or nothing.** Any search that ends with a result code other than success
//!   (sizeLimitExceeded 4, timeLimitExceeded 3, adminLimitExceeded 11, …), any referral or
//!   continuation reference, a dropped connection or a timeout makes [`read`] fail. A partial list
//!   would look as if the missing people had left, and be deactivated.
//! - **Referrals are never chased**: following one would send the bind password to whichever
//!   host the directory names. They are reported as [`Error::Referral`] with the
//!   URLs, so the operator can point the source at that server or narrow the base.
//! - **Disabled**: Active Directory reads `userAccountControl` bit 0x2 (ADS_UF_ACCOUNTDISABLE);
//!   OpenLDAP runs the users search a second time as `(&<users.filter><disabled_filter>)` and marks
//!   the entries it returns.
//! - **Invalid entries** (no id, no mail, or a mail that is not a usable address under
//!   [`crate::model::parse_email`]) are reported as `source-entry-invalid` issues with whatever
//!   identifiers could be read (the id among them), never dropped silently.
//! - **Tombstones** (AD's `isDeleted`/`isRecycled`, asked for with `deleted_objects`) are leavers:
//!   inactive at once. One that cannot be a record, or that is the former account of someone
//!   present, is counted in [`SourceRead::deleted_skipped`], not reported (docs/config.md,
//!   "Deleted objects").
//! - **TLS or nothing**: a StartTLS the server does not offer and a certificate that does not
//!   verify end the read before the bind, with what was wrong ([`TlsProblem`]).

mod conn;
pub mod dn;
mod groups;
mod scope;
pub mod values;

use super::SourceRead;
use crate::config::{LdapDialect, LdapSettings, NestedGroups};
use crate::model::{
    attr, parse_email, AttrNames, Attrs, Employment, FindingCode, SourceIssue, SourceKey,
    SourceRecord, StatusKind,
};
use conn::{Conn, Entry};
use groups::{GroupEntry, People};
pub use scope::explain_missing;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

/// Canonical name for the login (`uid` / `sAMAccountName`).
pub const LOGIN: &str = "login";
/// Canonical name for the AD user principal name.
pub const UPN: &str = "upn";
/// Canonical name for the entry's DN.
pub const DN: &str = "dn";
/// Canonical name for the display name.
pub const DISPLAY_NAME: &str = "displayName";

/// Why the directory could not be read completely. Messages name the server and what to do; they
/// never include the bind password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CA file could not be used.
    #[error("The LDAP CA file {path} could not be used: {detail}. Point `ca_file` at a PEM file holding the CA certificate that signed the server's certificate.")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The TLS handshake failed (unknown CA, wrong host name, expired certificate…). Nothing,
    /// the bind least of all, was sent to the server.
    #[error("The TLS handshake with LDAP server {server} failed: {problem} ({detail}). {} `insecure_skip_verify` turns every certificate check off and is for experiments only; nothing was sent to the server.", problem.advice())]
    Tls {
        /// Server URL.
        server: String,
        /// What was wrong with the certificate, when the handshake failed on it.
        problem: TlsProblem,
        /// The TLS library's reason.
        detail: String,
    },
    /// The server does not offer StartTLS (it refused or does not implement the extended
    /// operation); nothing is sent in clear text instead.
    #[error("LDAP server {server} does not offer StartTLS: it answered the StartTLS request with result code {rc}{} ({text}). Nothing else was sent, the bind password least of all: there is no fallback to clear text. Use an ldaps:// URL (port 636) or configure TLS on the server.", rc_name(*.rc))]
    StartTls {
        /// Server URL.
        server: String,
        /// LDAP result code.
        rc: u32,
        /// The server's diagnostic message.
        text: String,
    },
    /// Connecting with StartTLS did not finish in time. The client library cannot tell a server
    /// that ignores the StartTLS request, or closes the connection on it, from a slow one.
    #[error("LDAP server {server} did not finish connecting and starting TLS within {after:?}: it is unreachable or slow, or it does not offer StartTLS and ignored the request or hung up on it. Nothing else was sent, the bind password least of all: there is no fallback to clear text. Check that the server answers at this URL; if it has no StartTLS, use an ldaps:// URL (port 636) or configure TLS on the server; if it is only slow, raise `connect_timeout`.")]
    StartTlsUnanswered {
        /// Server URL.
        server: String,
        /// `connect_timeout`.
        after: Duration,
    },
    /// The connection failed or broke.
    #[error("The connection to LDAP server {server} failed during {during}: {detail}. Check that the server is reachable and the URL and port are right, then run again; nothing was changed.")]
    Connection {
        /// Server URL.
        server: String,
        /// What was going on.
        during: String,
        /// The client library's reason.
        detail: String,
    },
    /// No answer in time.
    #[error("LDAP server {server} did not answer {what} within {after:?}. Raise `connect_timeout`/`search_timeout` or check the server's load; nothing was changed.")]
    Timeout {
        /// Server URL.
        server: String,
        /// What was waited for.
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// The bind was refused.
    #[error("LDAP server {server} refused the bind as `{bind_dn}` (result code {rc}{}: {text}). Check `bind_dn` and the password in `password_env`/`password_file`.", if *.rc == 49 { ", invalid credentials" } else { "" })]
    Bind {
        /// Server URL.
        server: String,
        /// The bind DN (not secret).
        bind_dn: String,
        /// LDAP result code (49 = invalidCredentials).
        rc: u32,
        /// The server's diagnostic message.
        text: String,
    },
    /// A search ended with a result other than success: the result is incomplete.
    #[error("The search of LDAP server {server} under `{base}` with filter `{filter}` ended with result code {rc} ({text}), so the result is incomplete and nothing is used. {}", advice(*.rc))]
    Incomplete {
        /// Server URL.
        server: String,
        /// Search base.
        base: String,
        /// Search filter.
        filter: String,
        /// LDAP result code.
        rc: u32,
        /// The server's diagnostic message.
        text: String,
    },
    /// The deleted objects (`deleted_objects = true`) could not be listed.
    #[error("LDAP server {server} would not list the deleted objects under `{base}` (result code {rc}: {text}), so who was deleted cannot be told and nothing is used. That container exists only in Active Directory and is read with the Show Deleted control: check `dialect`, that `users.base` is in the domain whose deleted users to read, and that the bind account may list the container; or set `deleted_objects = false`.")]
    DeletedObjects {
        /// Server URL.
        server: String,
        /// The Deleted Objects container.
        base: String,
        /// LDAP result code (12 unavailableCriticalExtension: the control is unknown; 32
        /// noSuchObject: no such container).
        rc: u32,
        /// The server's diagnostic message.
        text: String,
    },
    /// The server answered with a referral or continuation references.
    #[error("LDAP server {server} referred the search under `{base}` to other servers ({}); referrals are not followed because that would send the bind password elsewhere, so the result is incomplete. Point the source at the server that holds the entries, or narrow the base to exclude the referral.", .refs.join(", "))]
    Referral {
        /// Server URL.
        server: String,
        /// Search base.
        base: String,
        /// The referral URLs.
        refs: Vec<String>,
    },
    /// The client library rejected a filter.
    #[error("The LDAP filter `{filter}` for server {server} is not valid. Fix `users.filter`, `groups.filter` or `disabled_filter`.")]
    Filter {
        /// Server URL.
        server: String,
        /// The filter.
        filter: String,
    },
    /// The server sent something this client cannot read.
    #[error("LDAP server {server} sent a malformed answer: {detail}. This is a server or network problem; nothing was changed.")]
    Protocol {
        /// Server URL.
        server: String,
        /// What was malformed.
        detail: String,
    },
    /// Ranged retrieval of a large attribute did not complete.
    #[error("Reading all members of `{dn}` from LDAP server {server} failed: {detail}. The member list would be truncated, so nothing is used.")]
    Range {
        /// Server URL.
        server: String,
        /// The group.
        dn: String,
        /// What went wrong.
        detail: String,
    },
}

/// What was wrong with the server's certificate, as far as the handshake says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// Not issued by a CA this source trusts (`ca_file`, else the system's roots).
    UnknownIssuer,
    /// The certificate does not name the host of the URL.
    WrongHost {
        /// The host name or address of `url`.
        host: String,
        /// The names the certificate holds (DNS names and addresses), when the library said.
        presented: Vec<String>,
    },
    /// The certificate's validity has ended.
    Expired {
        /// Its `notAfter`, as an RFC 3339 UTC time, when the library said.
        not_after: Option<String>,
    },
    /// The certificate is not valid yet.
    NotYetValid {
        /// Its `notBefore`, as an RFC 3339 UTC time, when the library said.
        not_before: Option<String>,
    },
    /// Anything else: another certificate fault, or a handshake that failed before one was seen.
    Other,
}

impl std::fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownIssuer => {
                f.write_str("the server's certificate was not issued by a CA this source trusts")
            }
            Self::WrongHost { host, presented } if presented.is_empty() => {
                write!(
                    f,
                    "the server's certificate is not valid for the host name `{host}`"
                )
            }
            Self::WrongHost { host, presented } => write!(
                f,
                "the server's certificate is not valid for the host name `{host}`; it names {}",
                presented.join(", ")
            ),
            Self::Expired { not_after: Some(t) } => {
                write!(f, "the server's certificate expired at {t}")
            }
            Self::Expired { not_after: None } => {
                f.write_str("the server's certificate has expired")
            }
            Self::NotYetValid {
                not_before: Some(t),
            } => {
                write!(f, "the server's certificate is not valid before {t}")
            }
            Self::NotYetValid { not_before: None } => {
                f.write_str("the server's certificate is not valid yet")
            }
            Self::Other => f.write_str("the handshake did not complete"),
        }
    }
}

impl TlsProblem {
    /// What the operator can do about it.
    fn advice(&self) -> String {
        match self {
            Self::UnknownIssuer => "Set `ca_file` to the PEM file of the CA that issued the server's certificate (without it the system's roots are trusted).".to_owned(),
            Self::WrongHost { host, .. } => format!("Use a host name the certificate holds in `url`, or have the directory's certificate reissued with `{host}` in its subjectAltName; `ca_file` does not change this."),
            Self::Expired { .. } => "Have the directory's certificate renewed (and check this machine's clock if the certificate is current).".to_owned(),
            Self::NotYetValid { .. } => "Check this machine's clock, and the certificate's dates on the server.".to_owned(),
            Self::Other => "Check that `url` points at the directory's TLS port (ldaps:// is usually 636; StartTLS is on 389) and the server's TLS setup, and set `ca_file` to the CA that issued its certificate.".to_owned(),
        }
    }
}

/// The RFC 4511 name of the result codes a StartTLS refusal is met with.
fn rc_name(rc: u32) -> &'static str {
    match rc {
        1 => ", operationsError",
        2 => ", protocolError: the server does not know the extended operation",
        52 => ", unavailable: TLS is not configured on the server",
        53 => ", unwillingToPerform",
        _ => "",
    }
}

fn advice(rc: u32) -> &'static str {
    match rc {
        3 => "The server's time limit stopped it: raise `search_timeout` or the server's time limit for the bind account.",
        4 => "The server's size limit stopped it: allow paged results beyond the limit for the bind account (OpenLDAP: `sizelimit size.prtotal=unlimited`; AD: MaxPageSize) or lower `page_size`.",
        11 => "An administrative limit stopped it: ask the directory administrator to raise it for the bind account, or lower `page_size`.",
        12 => "The server does not support paged results (RFC 2696), which this source needs.",
        32 => "The base DN does not exist: check `users.base`/`groups.base`.",
        50 => "The bind account may not read there: grant it read access.",
        _ => "Check the server's log for the reason.",
    }
}

/// Read people and groups from the directory: everything or an error.
pub async fn read(settings: &LdapSettings) -> Result<SourceRead, Error> {
    if settings.insecure_skip_verify {
        tracing::warn!(
            source = %settings.name,
            "LDAP source `{}`: TLS certificate verification is OFF (insecure_skip_verify); anyone on the path can read the bind password and the directory. Set `ca_file` instead.",
            settings.name
        );
    } else if settings.url.scheme() == "ldap" && !settings.starttls && settings.password.is_some() {
        tracing::warn!(
            source = %settings.name,
            "LDAP source `{}` binds over ldap:// without StartTLS: the password crosses the network in clear text. Use ldaps:// or `starttls = true`.",
            settings.name
        );
    }
    let mut conn = Conn::open(settings).await?;
    let result = read_with(&mut conn, settings).await;
    conn.close().await;
    result
}

/// What a read asks for on each user entry (`raw`), the names its records can carry (shared by
/// every record), and where each kept name is read from: worked out once, not per entry.
struct Wanted {
    raw: Vec<String>,
    names: AttrNames,
    /// Directory attributes kept under their own names.
    kept_raw: Vec<String>,
    /// Kept canonical names (but `email` and `dn`), the attribute each is read from, and whether
    /// it is the only one of them reading that attribute (then its value is moved out of the
    /// entry).
    canonical: Vec<(&'static str, String, bool)>,
    /// Whether the config reads `manager`, so managers' DNs are resolved.
    manager: bool,
}

impl Wanted {
    fn new(settings: &LdapSettings) -> Self {
        let raw = user_attribute_names(settings);
        let names = AttrNames::new(fields(settings, &raw));
        let a = &settings.attributes;
        // A raw name that equals a canonical one is left to the canonical value (e.g. `manager`
        // is an email here, not the DN).
        let kept_raw = raw
            .iter()
            .filter(|n| {
                !is_operational_helper(n, a)
                    && !CANONICAL.contains(&n.as_str())
                    && kept(settings, n)
            })
            .cloned()
            .collect();
        let mut roles = person_roles(a).to_vec();
        roles.push((LOGIN, &a.login));
        if settings.dialect == LdapDialect::ActiveDirectory {
            roles.push((UPN, &a.upn));
        }
        roles.retain(|(key, _)| kept(settings, key));
        let canonical = roles
            .iter()
            .map(|(key, from)| {
                let readers = roles
                    .iter()
                    .filter(|(_, f)| f.eq_ignore_ascii_case(from))
                    .count();
                (*key, (*from).clone(), readers == 1)
            })
            .collect();
        Self {
            raw,
            names,
            kept_raw,
            canonical,
            manager: kept(settings, attr::MANAGER),
        }
    }
}

/// A valid user entry, before the manager is resolved.
struct Pending {
    record: SourceRecord,
    /// The number of its manager's DN in [`People`]; set by [`take_user`].
    manager: Option<u32>,
    /// A tombstone (`isDeleted`/`isRecycled`): a leaver, dropped when a live entry has its mail.
    deleted: bool,
    /// The former account of someone present ([`drop_former_accounts`]): left out of the read.
    /// Kept in place until the end so positions in [`People`] stay valid.
    dropped: bool,
}

/// The user entries taken in so far: people, issues, the index groups resolve members in, and
/// the tombstones left out quietly.
#[derive(Default)]
struct Users {
    pending: Vec<Pending>,
    issues: Vec<SourceIssue>,
    people: People,
    deleted_skipped: usize,
}

async fn read_with(conn: &mut Conn, settings: &LdapSettings) -> Result<SourceRead, Error> {
    let disabled = disabled_dns(conn, settings).await?;
    let want = Wanted::new(settings);
    let mut users = read_users(conn, settings, &want, &disabled).await?;
    if let Some(base) = &settings.deleted_base {
        read_deleted(conn, settings, base, &want, &mut users).await?;
    }
    drop_former_accounts(&mut users);
    let Users {
        pending,
        mut issues,
        people,
        deleted_skipped,
    } = users;
    if deleted_skipped > 0 {
        tracing::info!(
            source = %settings.name,
            deleted_skipped,
            "LDAP source `{}`: {deleted_skipped} deleted entries (tombstones) left out: no id or mail, or the former account of someone present",
            settings.name
        );
    }
    let (records, dropped) = with_managers(pending, &people);
    let mut group_list = Vec::new();
    if let Some(q) = &settings.groups {
        let (entries, bad) = read_groups(conn, settings, q).await?;
        issues.extend(bad);
        let members = groups::Members {
            people: &people,
            records: &records,
        };
        let (groups, notices) = groups::resolve(&settings.name, entries, members, settings.nested);
        issues.extend(notices);
        group_list = groups;
    }
    drop(people);
    let records = without_dropped(records, &dropped);
    Ok(SourceRead {
        source: settings.name.clone(),
        records,
        groups: group_list,
        issues,
        fields: fields(settings, &want.raw),
        deleted_skipped,
    })
}

/// OpenLDAP: the normalised DNs of disabled entries, the users the disabled filter also matches.
/// Empty for Active Directory, which marks them in `userAccountControl`.
async fn disabled_dns(conn: &mut Conn, settings: &LdapSettings) -> Result<HashSet<String>, Error> {
    let mut disabled: HashSet<String> = HashSet::new();
    let ad = settings.dialect == LdapDialect::ActiveDirectory;
    if let (false, Some(extra)) = (ad, &settings.disabled_filter) {
        let filter = values::and(&settings.users.filter, extra);
        // RFC 4511 §4.5.1.8: "1.1" asks for no attributes.
        conn.search_paged(
            &settings.users.base,
            settings.users.scope,
            &filter,
            &["1.1".to_owned()],
            |e| {
                disabled.insert(dn::normalize(&e.dn));
                Ok(())
            },
        )
        .await?;
    }
    Ok(disabled)
}

/// Every user entry: the valid ones, the issues for the others, and the index groups resolve
/// their members in.
async fn read_users(
    conn: &mut Conn,
    settings: &LdapSettings,
    want: &Wanted,
    disabled: &HashSet<String>,
) -> Result<Users, Error> {
    let mut users = Users::default();
    conn.search_paged(
        &settings.users.base,
        settings.users.scope,
        &settings.users.filter,
        &want.raw,
        |mut e| {
            take_user(settings, want, &mut e, disabled, &mut users);
            Ok(())
        },
    )
    .await?;
    Ok(users)
}

/// The tombstones of users deleted from under `users.base`: one level of the Deleted Objects
/// container `base`, read with the Show Deleted control. A tombstone keeps its `objectGUID` (the
/// key of its links) and `lastKnownParent`; its other attributes survive only while the Recycle
/// Bin holds it. `users.filter` is not used: `objectCategory` is stripped from tombstones.
async fn read_deleted(
    conn: &mut Conn,
    settings: &LdapSettings,
    base: &str,
    want: &Wanted,
    users: &mut Users,
) -> Result<(), Error> {
    let mut names = want.raw.clone();
    names.push(LAST_KNOWN_PARENT.to_owned());
    let none = HashSet::new();
    conn.search_deleted(base, DELETED_USERS, &names, |mut e| {
        // Someone deleted from elsewhere in the domain (another OU, a computer's parent) was
        // never read from this source; they are not its people.
        let from_here = e
            .first_text(LAST_KNOWN_PARENT)
            .is_some_and(|p| dn::within(p, &settings.users.base));
        if from_here && tombstone(&e).is_some() {
            take_user(settings, want, &mut e, &none, users);
        }
        Ok(())
    })
    .await
    .map_err(|e| match e {
        Error::Incomplete {
            server,
            base,
            rc,
            text,
            ..
        } => Error::DeletedObjects {
            server,
            base,
            rc,
            text,
        },
        other => other,
    })
}

/// The filter for deleted users in the Deleted Objects container (computers are users too).
const DELETED_USERS: &str = "(&(isDeleted=TRUE)(objectClass=user)(!(objectClass=computer)))";
/// The DN of the container a deleted entry was in.
const LAST_KNOWN_PARENT: &str = "lastKnownParent";

/// The former accounts of people still present: a tombstone whose mail a live entry of the read
/// has is someone deleted and created again, and a second tombstone with one mail is an account
/// deleted twice. Keeping them would make two records with one mail (a join conflict that holds
/// the person), so only the live entry, else the first tombstone, is kept.
fn drop_former_accounts(users: &mut Users) {
    if !users.pending.iter().any(|p| p.deleted) {
        return;
    }
    let mut seen: HashSet<String> = users
        .pending
        .iter()
        .filter(|p| !p.deleted)
        .filter_map(|p| p.record.attrs.get(attr::EMAIL).map(|m| m.to_lowercase()))
        .collect();
    for p in users.pending.iter_mut().filter(|p| p.deleted) {
        p.dropped = p
            .record
            .attrs
            .get(attr::EMAIL)
            .is_some_and(|m| !seen.insert(m.to_lowercase()));
        users.deleted_skipped += usize::from(p.dropped);
    }
}

/// Active Directory's tombstone marks (MS-ADTS 3.1.1.5.5): `isRecycled` once the Recycle Bin let
/// it go, else `isDeleted`; the status a leaver's reason cites.
fn tombstone(e: &Entry) -> Option<&'static str> {
    let set = |name: &str| {
        e.first_text(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))
    };
    if set("isRecycled") {
        Some("recycled (isRecycled=TRUE)")
    } else if set("isDeleted") {
        Some("deleted (isDeleted=TRUE)")
    } else {
        None
    }
}

/// One user entry into the read: a person (indexed by login and DN for group members) or an
/// issue. A tombstone that cannot be a record (no id or mail, a mail mangled) is counted, not
/// reported: it names someone who left, not a record to fix, and an issue without an id would
/// hold every deactivation of the run.
fn take_user(
    settings: &LdapSettings,
    want: &Wanted,
    e: &mut Entry,
    disabled: &HashSet<String>,
    users: &mut Users,
) {
    // DNs are indexed only for what reads them: group members, and managers.
    let groups = settings.groups.is_some();
    let index = groups || want.manager;
    let norm = if index || !disabled.is_empty() {
        dn::normalize(&e.dn)
    } else {
        String::new()
    };
    match user(settings, want, e, disabled, &norm) {
        Ok((mut p, manager_dn)) => {
            let at = u32::try_from(users.pending.len()).unwrap_or(u32::MAX);
            if groups && !p.deleted {
                if let Some(login) = p.record.attrs.get(LOGIN) {
                    users.people.add_login(login.to_lowercase(), at);
                }
            }
            if index {
                let dn = users.people.dn_number(norm);
                users.people.person_at(dn, at);
                p.manager = manager_dn.map(|m| users.people.dn_number(m));
            }
            users.pending.push(p);
        }
        Err(_) if tombstone(e).is_some() => users.deleted_skipped += 1,
        Err(issue) => {
            if groups {
                users.people.skipped.insert(norm);
            }
            users.issues.push(*issue);
        }
    }
}

/// The records and issues of search result entries, given as consecutive BER messages
/// (`LDAPMessage`s or bare `SearchResultEntry`s), taken in as [`read`] takes entries in, for the
/// fuzz targets: no server. A message that does not decode ends the read with the error `read`
/// gives it.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn read_entries(
    settings: &LdapSettings,
    mut bytes: &[u8],
    disabled: &HashSet<String>,
) -> Result<(Vec<SourceRecord>, Vec<SourceIssue>), Error> {
    let want = Wanted::new(settings);
    let mut users = Users::default();
    while !bytes.is_empty() {
        let undecodable = || Error::Protocol {
            server: settings.url.to_string(),
            detail: "a search result entry could not be decoded".to_owned(),
        };
        let (rest, tag) = ldap3::asn1::parse_tag(bytes).map_err(|_| undecodable())?;
        let mut entry = conn::decode_message(tag).ok_or_else(undecodable)?;
        take_user(settings, &want, &mut entry, disabled, &mut users);
        bytes = rest;
    }
    drop_former_accounts(&mut users);
    let (records, dropped) = with_managers(users.pending, &users.people);
    Ok((without_dropped(records, &dropped), users.issues))
}

/// The records, each with its manager's email (the manager attribute holds a DN, mapping wants
/// the email, model::attr::MANAGER), in the order taken in (the positions [`People`] holds), and
/// the positions of those dropped.
fn with_managers(mut pending: Vec<Pending>, people: &People) -> (Vec<SourceRecord>, Vec<usize>) {
    for i in 0..pending.len() {
        let manager = pending[i]
            .manager
            .and_then(|dn| people.at(dn))
            .and_then(|at| pending.get(at))
            .filter(|m| !m.dropped)
            .and_then(|m| m.record.attrs.get(attr::EMAIL))
            .map(str::to_owned);
        if let Some(m) = manager {
            pending[i].record.attrs.set(attr::MANAGER, m);
        }
    }
    let dropped = (0..pending.len()).filter(|&i| pending[i].dropped).collect();
    (pending.into_iter().map(|p| p.record).collect(), dropped)
}

/// `records` without those at the positions `dropped` (ascending), in a vector no larger than
/// they need: the people are held for the rest of the run.
fn without_dropped(mut records: Vec<SourceRecord>, dropped: &[usize]) -> Vec<SourceRecord> {
    if !dropped.is_empty() {
        let mut at = 0;
        records.retain(|_| {
            let keep = dropped.binary_search(&at).is_err();
            at += 1;
            keep
        });
    }
    records.shrink_to_fit();
    records
}

/// The attribute names this source provides: the canonical ones, then the raw ones requested;
/// of both, only those its records keep.
fn fields(settings: &LdapSettings, raw_names: &[String]) -> BTreeSet<String> {
    let mut fields: BTreeSet<String> = [
        attr::EMAIL,
        attr::GIVEN_NAME,
        attr::FAMILY_NAME,
        DISPLAY_NAME,
        attr::TITLE,
        attr::DEPARTMENT,
        attr::EMPLOYEE_ID,
        attr::MANAGER,
        LOGIN,
        DN,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if settings.dialect == LdapDialect::ActiveDirectory {
        fields.insert(UPN.to_owned());
    }
    let canonical = fields.clone();
    fields.extend(
        raw_names
            .iter()
            .filter(|n| {
                !canonical.contains(n.as_str()) && !is_operational_helper(n, &settings.attributes)
            })
            .cloned(),
    );
    fields.retain(|n| kept(settings, n));
    fields
}

/// `userAccountControl` is fetched to read the disabled bit, `isDeleted` and `isRecycled` to
/// know a tombstone; they are not offered as data.
fn is_operational_helper(name: &str, _a: &crate::config::LdapAttributes) -> bool {
    ["userAccountControl", "isDeleted", "isRecycled"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// The attributes a read of `settings` asks the server for on each user entry (the benchmark
/// hands the same list to `ldapsearch`).
pub fn requested_attributes(settings: &LdapSettings) -> Vec<String> {
    user_attribute_names(settings)
}

/// The attributes requested for users: the id, the attributes of the canonical names always
/// kept (login, mail, employee number: they also name an invalid entry in its issue), each other
/// role's attribute when its canonical or raw name is kept, Active Directory's status
/// attributes, then `extra_attributes`; without duplicates (types compare without case).
fn user_attribute_names(settings: &LdapSettings) -> Vec<String> {
    let a = &settings.attributes;
    let mut names: Vec<String> = vec![a.id.clone(), a.login.clone(), a.mail.clone()];
    // The manager DN is read to resolve it to the manager's email.
    let optional = person_roles(a)
        .into_iter()
        .chain([(attr::MANAGER, &a.manager)]);
    for (canonical, raw) in optional {
        if kept(settings, canonical) || kept(settings, raw) {
            names.push(raw.clone());
        }
    }
    if settings.dialect == LdapDialect::ActiveDirectory {
        if kept(settings, UPN) || kept(settings, &a.upn) {
            names.push(a.upn.clone());
        }
        names.push("userAccountControl".to_owned());
        names.push("isDeleted".to_owned());
        names.push("isRecycled".to_owned());
    }
    // Extras are asked for by name, and the id is the record's key: both are read whether kept
    // or not (`user_attrs` keeps what is kept).
    names.extend(settings.extra_attributes.iter().cloned());
    let mut seen = HashSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.to_ascii_lowercase()));
    names
}

/// The canonical attributes of a person that the config maps from a directory attribute of its
/// choosing (`attributes.*`), with that attribute.
fn person_roles(a: &crate::config::LdapAttributes) -> [(&'static str, &String); 6] {
    [
        (attr::GIVEN_NAME, &a.given_name),
        (attr::FAMILY_NAME, &a.family_name),
        (DISPLAY_NAME, &a.display_name),
        (attr::TITLE, &a.title),
        (attr::DEPARTMENT, &a.department),
        (attr::EMPLOYEE_ID, &a.employee_number),
    ]
}

/// The stable id of an entry: GUID attributes are binary and rendered as GUID strings, others
/// (`entryUUID`) are text.
pub(super) fn stable_id(entry: &Entry, name: &str) -> Option<String> {
    let raw = entry.first_raw(name)?;
    if is_guid_attribute(name) {
        return values::guid_string(raw);
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

pub(super) fn is_guid_attribute(name: &str) -> bool {
    name.eq_ignore_ascii_case("objectGUID") || name.eq_ignore_ascii_case("mS-DS-ConsistencyGuid")
}

/// Build one person from a user entry, or the issue that says why it cannot be one.
fn user(
    settings: &LdapSettings,
    want: &Wanted,
    e: &mut Entry,
    disabled: &HashSet<String>,
    norm: &str,
) -> Result<(Pending, Option<String>), Box<SourceIssue>> {
    let a = &settings.attributes;
    let id = stable_id(e, &a.id);
    let mail = e.first_text(&a.mail);
    let (Some(id), Some(mail)) = (id, mail) else {
        return Err(no_id_or_mail(settings, e));
    };
    let mail = parse_email(mail).map_err(|why| bad_mail(settings, e, &id, mail, &why))?;
    let deleted = match settings.dialect {
        LdapDialect::ActiveDirectory => tombstone(e),
        LdapDialect::OpenLdap => None,
    };
    let is_disabled = match settings.dialect {
        // MS-ADTS 2.2.16: ADS_UF_ACCOUNTDISABLE = 0x2. The value is a signed 32-bit integer.
        LdapDialect::ActiveDirectory => e
            .first_text("userAccountControl")
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|v| v & 0x2 != 0),
        LdapDialect::OpenLdap => disabled.contains(norm),
    };
    // Resolved only for a config that reads `manager`: the DN index costs memory per entry.
    let manager_dn = want
        .manager
        .then(|| e.first_text(&a.manager).map(dn::normalize))
        .flatten();
    let attrs = user_attrs(want, e, mail);
    let pending = Pending {
        record: SourceRecord {
            key: SourceKey::new(settings.name.clone(), id),
            location: std::mem::take(&mut e.dn),
            attrs,
            employment: Some(Employment {
                status: Some(
                    deleted
                        .unwrap_or(if is_disabled { "disabled" } else { "enabled" })
                        .to_owned(),
                ),
                // A tombstone is a leaver, deactivated at once like an HR termination; a
                // disabled account is Disabled, which `[policy] disabled_accounts` decides on.
                kind: match (deleted, is_disabled) {
                    (Some(_), _) => StatusKind::Inactive,
                    (None, true) => StatusKind::Disabled,
                    (None, false) => StatusKind::Active,
                },
                start: None,
                end: None,
                timezone: chrono_tz::UTC,
            }),
        },
        manager: None,
        deleted: deleted.is_some(),
        dropped: false,
    };
    Ok((pending, manager_dn))
}

/// A user entry's attributes: the raw ones under their configured names, then the canonical ones;
/// of both, only those the settings keep. Values the entry holds once are moved out of it, not
/// copied.
fn user_attrs(want: &Wanted, e: &mut Entry, mail: String) -> Attrs {
    let mut pairs: Vec<(&str, String)> = Vec::with_capacity(16);
    // Raw attributes under their configured names, for `{corp.mail}`-style templates. Copied: a
    // canonical name below may read the same attribute.
    for name in &want.kept_raw {
        let value = if is_guid_attribute(name) {
            e.first_raw(name).and_then(values::guid_string)
        } else {
            e.first_text(name).map(str::to_owned)
        };
        if let Some(v) = value {
            pairs.push((name, v));
        }
    }
    pairs.push((attr::EMAIL, mail));
    for (key, from, only_reader) in &want.canonical {
        let value = if *only_reader {
            e.take_text(from)
        } else {
            e.first_text(from).map(str::to_owned)
        };
        if let Some(v) = value {
            pairs.push((key, v));
        }
    }
    pairs.push((DN, e.dn.clone()));
    Attrs::build(&want.names, &pairs)
}

/// Whether records keep attribute `name` (raw or canonical): what `settings.keep` names, and the
/// canonical names the connector and every report rely on whatever the config reads.
fn kept(settings: &LdapSettings, name: &str) -> bool {
    crate::config::names::LDAP_ALWAYS_KEPT.contains(&name)
        || settings.keep.as_ref().is_none_or(|k| k.contains(name))
}

/// The issue for a user entry without an id or a mail, with whatever identifiers it has as hints.
fn no_id_or_mail(settings: &LdapSettings, e: &Entry) -> Box<SourceIssue> {
    let a = &settings.attributes;
    let mut missing = Vec::new();
    if stable_id(e, &a.id).is_none() {
        missing.push(format!("the id attribute `{}`", a.id));
    }
    if e.first_text(&a.mail).is_none() {
        missing.push(format!("the mail attribute `{}`", a.mail));
    }
    let hints: Vec<String> = [&a.login, &a.mail, &a.employee_number]
        .iter()
        .filter_map(|n| e.first_text(n).map(str::to_owned))
        .collect();
    Box::new(SourceIssue {
        source: settings.name.clone(),
        location: e.dn.clone(),
        code: FindingCode::SourceEntryInvalid,
        message: format!(
            "LDAP entry `{}` has no {}, so it cannot be provisioned and was skipped. Fill in the attribute in the directory, or map the role to another attribute under `attributes`.",
            e.dn,
            missing.join(" and ")
        ),
        skipped_person: true,
        hints,
    })
}

/// The issue for an entry whose mail is not a usable address. The id is known, and is the first
/// hint: it keeps a linked person from being deactivated as absent.
fn bad_mail(
    settings: &LdapSettings,
    e: &Entry,
    id: &str,
    mail: &str,
    why: &crate::model::EmailError,
) -> Box<SourceIssue> {
    let a = &settings.attributes;
    let hints: Vec<String> = std::iter::once(id.to_owned())
        .chain(
            [&a.login, &a.employee_number]
                .iter()
                .filter_map(|n| e.first_text(n).map(str::to_owned)),
        )
        .chain(std::iter::once(mail.to_owned()))
        .collect();
    Box::new(SourceIssue {
        source: settings.name.clone(),
        location: e.dn.clone(),
        code: FindingCode::SourceEntryInvalid,
        message: format!(
            "LDAP entry `{}` has the mail \"{}\" in `{}`, which is not a usable address: {why}; it was skipped. \
             Correct the attribute in the directory.",
            e.dn,
            mail.escape_debug(),
            a.mail
        ),
        skipped_person: true,
        hints,
    })
}

/// Canonical attribute names this source fills; raw attributes never shadow them.
const CANONICAL: &[&str] = &[
    attr::EMAIL,
    attr::GIVEN_NAME,
    attr::FAMILY_NAME,
    DISPLAY_NAME,
    attr::TITLE,
    attr::DEPARTMENT,
    attr::EMPLOYEE_ID,
    attr::MANAGER,
    LOGIN,
    UPN,
    DN,
];

/// Read the group entries (members complete, ranged retrieval followed to the end) and the
/// issues for group entries without an id.
async fn read_groups(
    conn: &mut Conn,
    settings: &LdapSettings,
    q: &crate::config::LdapQuery,
) -> Result<(Vec<GroupEntry>, Vec<SourceIssue>), Error> {
    let a = &settings.attributes;
    let mut names = vec![
        a.id.clone(),
        a.group_name.clone(),
        "cn".to_owned(),
        "description".to_owned(),
        a.member.clone(),
        "uniqueMember".to_owned(),
        "memberUid".to_owned(),
    ];
    let mut seen = HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));

    let mut raw: Vec<Entry> = Vec::new();
    conn.search_paged(&q.base, q.scope, &q.filter, &names, |e| {
        raw.push(e);
        Ok(())
    })
    .await?;

    let mut entries = Vec::with_capacity(raw.len());
    let mut issues = Vec::new();
    for e in raw {
        let Some(id) = stable_id(&e, &a.id) else {
            issues.push(SourceIssue {
                source: settings.name.clone(),
                location: e.dn.clone(),
                code: FindingCode::GroupEntryInvalid,
                message: format!(
                    "LDAP group `{}` has no id attribute `{}`, so it was skipped. Check the bind account may read it, or map `attributes.id`.",
                    e.dn, a.id
                ),
                skipped_person: false,
                hints: Vec::new(),
            });
            continue;
        };
        entries.push(group_entry(conn, settings, e, id).await?);
    }
    Ok((entries, issues))
}

/// One group entry with id `id`, its members read in full.
async fn group_entry(
    conn: &mut Conn,
    settings: &LdapSettings,
    e: Entry,
    id: String,
) -> Result<GroupEntry, Error> {
    let a = &settings.attributes;
    let member_dns = members(conn, &e, &a.member).await?;
    let mut attrs = BTreeMap::new();
    for name in ["cn", "description"] {
        if let Some(v) = e.first_text(name) {
            attrs.insert(name.to_owned(), v.to_owned());
        }
    }
    if let Some(v) = e.first_text(&a.group_name) {
        attrs.insert("name".to_owned(), v.to_owned());
    }
    attrs.insert(DN.to_owned(), e.dn.clone());
    let chain_members = if settings.nested == NestedGroups::InChain {
        Some(chain_members(conn, settings, &e.dn).await?)
    } else {
        None
    };
    Ok(GroupEntry {
        key: SourceKey::new(settings.name.clone(), id),
        dn: e.dn.clone(),
        attrs,
        member_dns,
        member_uids: e
            .values("memberUid")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect(),
        chain_members,
    })
}

/// Active Directory's transitive members of group `dn` (LDAP_MATCHING_RULE_IN_CHAIN), among the
/// users the users query selects.
async fn chain_members(
    conn: &mut Conn,
    settings: &LdapSettings,
    dn: &str,
) -> Result<Vec<String>, Error> {
    let filter = values::and(
        &settings.users.filter,
        &values::assertion("memberOf", values::IN_CHAIN, dn),
    );
    let mut dns = Vec::new();
    conn.search_paged(
        &settings.users.base,
        settings.users.scope,
        &filter,
        &["1.1".to_owned()],
        |m| {
            dns.push(m.dn);
            Ok(())
        },
    )
    .await?;
    Ok(dns)
}

/// Every member DN of a group: `member` (following AD ranged retrieval to the `-*` chunk) and
/// `uniqueMember` (RFC 4517 §3.3.21 NameAndOptionalUID: the `#'0101'B` suffix is dropped).
async fn members(conn: &mut Conn, e: &Entry, member_attr: &str) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    let mut next_low: Option<u64> = None;
    for (description, vals) in &e.attrs {
        let (base, range) = values::split_range(description);
        if base.eq_ignore_ascii_case("uniqueMember") && !member_attr.eq_ignore_ascii_case(&base) {
            out.extend(
                vals.iter()
                    .filter_map(|v| std::str::from_utf8(v).ok())
                    .map(|v| strip_uid(v).to_owned()),
            );
            continue;
        }
        if !base.eq_ignore_ascii_case(member_attr) {
            continue;
        }
        out.extend(
            vals.iter()
                .filter_map(|v| std::str::from_utf8(v).ok())
                .map(|v| strip_uid(v).to_owned()),
        );
        match range {
            None => {}
            Some(Err(option)) => return Err(range_error(conn, e, &option)),
            Some(Ok(r)) => next_low = r.high.map(|h| h + 1),
        }
    }
    // MS-ADTS 3.1.1.3.1.3.3: ask for `member;range=<next>-*` until the server answers with a
    // chunk ending in `*`.
    while let Some(low) = next_low {
        next_low = member_chunk(conn, e, member_attr, low, &mut out).await?;
    }
    Ok(out)
}

/// Read the chunk of `member_attr` values from index `low` into `out`; returns where the next
/// chunk starts (`None` after the last). Each chunk must start where the previous one ended,
/// otherwise values were skipped.
async fn member_chunk(
    conn: &mut Conn,
    e: &Entry,
    member_attr: &str,
    low: u64,
    out: &mut Vec<String>,
) -> Result<Option<u64>, Error> {
    let want = format!("{member_attr};range={low}-*");
    let chunk = conn
        .read_entry(&e.dn, std::slice::from_ref(&want))
        .await?
        .ok_or_else(|| Error::Range {
            server: conn.server.clone(),
            dn: e.dn.clone(),
            detail: format!("the entry was not returned when asking for `{want}`"),
        })?;
    let mut got = None;
    for (description, vals) in &chunk.attrs {
        let (base, range) = values::split_range(description);
        if !base.eq_ignore_ascii_case(member_attr) {
            continue;
        }
        match range {
            Some(Ok(r)) if r.low == low => {
                out.extend(
                    vals.iter()
                        .filter_map(|v| std::str::from_utf8(v).ok())
                        .map(str::to_owned),
                );
                got = Some(r.high.map(|h| h + 1));
            }
            Some(Ok(r)) => {
                return Err(range_error(
                    conn,
                    e,
                    &format!("range={}-… after asking for {low}", r.low),
                ))
            }
            Some(Err(option)) => return Err(range_error(conn, e, &option)),
            None => {
                return Err(range_error(
                    conn,
                    e,
                    &format!("a value list without a range after asking for `{want}`"),
                ))
            }
        }
    }
    got.ok_or_else(|| Error::Range {
        server: conn.server.clone(),
        dn: e.dn.clone(),
        detail: format!("the server returned no `{member_attr}` values for `{want}`"),
    })
}

fn range_error(conn: &Conn, e: &Entry, what: &str) -> Error {
    Error::Range {
        server: conn.server.clone(),
        dn: e.dn.clone(),
        detail: format!("the server answered with `{what}`, which is not a valid continuation"),
    }
}

/// Drop an RFC 4517 NameAndOptionalUID bit-string suffix (`#'0101'B`).
fn strip_uid(value: &str) -> &str {
    if let Some(at) = value.rfind("#'") {
        let tail = &value[at + 2..];
        if let Some(bits) = tail.strip_suffix("'B") {
            if bits.bytes().all(|b| b == b'0' || b == b'1') {
                return &value[..at];
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::strip_uid;

    #[test]
    fn unique_member_suffix() {
        assert_eq!(strip_uid("uid=a,ou=p#'0101'B"), "uid=a,ou=p");
        assert_eq!(strip_uid("uid=a,ou=p"), "uid=a,ou=p");
        assert_eq!(strip_uid("uid=a\\#'x'B,ou=p"), "uid=a\\#'x'B,ou=p");
    }
}
