//! Configuration: reads the TOML file (the only module that reads settings files and environment
//! variables), validates it, and resolves it into [`Settings`]. Errors name the file, the line and
//! the key, and say what to do. Secrets are read from `*_env` / `*_file` keys only.
//!
//! Two stages: [`raw`] is what serde parses (unknown keys refused); [`Settings`] is resolved
//! (paths made absolute against the config file's folder, the store's SQLite path included,
//! durations and thresholds parsed, secrets read, every attribute name a template reads checked
//! against what the sources provide, [`names`]).
//!
//! Nothing read is unbounded: the file is read only when it is a regular file of at most
//! [`MAX_CONFIG_BYTES`]. No error echoes a secret: TOML errors are rebuilt without the offending
//! line's secret ([`toml_error`]), credentials in URLs are refused by name, and every message
//! goes through [`redact::Scrubber`] before it leaves [`parse`].

pub mod names;
pub mod raw;
pub mod redact;
pub mod secrets;
mod toml_error;

use crate::mapping::template::Template;
use crate::mapping::{Glob, MappingRules, SourceJoin, ATTR_KEYS};
use crate::model::StatusKind;
use crate::plan::{Adopt, DeactivateMode, Policy, Threshold};
use crate::store;
use chrono_tz::Tz;
use raw::{Raw, RawColumns, RawSource};
use secrecy::{ExposeSecret, SecretString};
use secrets::SecretSource;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Default Notion SCIM base URL (docs/notion.md, "Hosts and base URL").
pub const NOTION_SCIM_URL: &str = "https://api.notion.com/scim/v2";
/// Default store: a SQLite file beside the config file, created on first write.
pub const DEFAULT_STORE_URL: &str = store::DEFAULT_URL;

/// The most a config file may hold: 1 MiB. A real one is a few kilobytes; the bound keeps a wrong
/// `--config` (`/dev/zero`, a log file) from filling memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A configuration problem. Every variant names the file; most name the line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}; pass --config FILE or create idbridge.toml (see docs/config.md)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// TOML syntax or shape error.
    #[error("{path}:{line}:{column}: invalid config file: {message}{}", quote_line(.snippet))]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// The parser's message (without the quoted line).
        message: String,
        /// The offending line, trimmed, secrets masked.
        snippet: Option<String>,
    },
    /// A value parsed but is not acceptable.
    #[error("{path}:{line}: `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending key (the table header when the key is missing).
        line: usize,
        /// Dotted key, e.g. `target.token_env` or `sources[1].path`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

fn quote_line(snippet: &Option<String>) -> String {
    snippet
        .as_deref()
        .map(|s| format!(" (the line reads: {s})"))
        .unwrap_or_default()
}

impl ConfigError {
    /// The same error with every secret of the config text masked (see [`redact::Scrubber`]).
    fn scrubbed(self, scrubber: &redact::Scrubber) -> Self {
        match self {
            ConfigError::Read { .. } => self,
            ConfigError::Parse {
                path,
                line,
                column,
                message,
                snippet,
            } => ConfigError::Parse {
                path,
                line,
                column,
                message: scrubber.clean(&message),
                snippet: snippet.map(|s| scrubber.clean(&s)),
            },
            ConfigError::Invalid {
                path,
                line,
                key,
                message,
            } => ConfigError::Invalid {
                path,
                line,
                key,
                message: scrubber.clean(&message),
            },
        }
    }
}

/// The kind of SCIM target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Notion's SCIM API, with its quirks.
    Notion,
    /// A plain RFC 7644 service.
    Scim,
}

impl TargetKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Notion => "notion",
            TargetKind::Scim => "scim",
        }
    }
}

/// Resolved `[target]`.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// Workspace name (links are keyed by it).
    pub name: String,
    /// Notion or plain SCIM.
    pub kind: TargetKind,
    /// SCIM base URL.
    pub url: url::Url,
    /// Bearer token (redacted in Debug).
    pub token: SecretString,
    /// Where the token is configured ("the environment variable X", "the file /p"), for messages
    /// that say what to update. Never the token.
    pub token_source: String,
    /// Email of the token's owner: never changed.
    pub token_owner: Option<String>,
    /// Whether `externalId` is sent and compared; `None` = the target profile's default.
    pub external_id: Option<bool>,
    /// Client-side requests per second; `None` = unlimited.
    pub rate_limit: Option<f64>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of one request.
    pub max_retries: u32,
    /// Longest Retry-After honoured.
    pub max_retry_after: Duration,
    /// Largest reply body read from the target, in bytes.
    pub max_reply_bytes: u64,
    /// Page size of full reads.
    pub page_size: u32,
}

/// Which CSV column holds what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// Employee id (required).
    pub employee_id: String,
    /// Work email (required).
    pub email: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Title.
    pub title: String,
    /// Department.
    pub department: String,
    /// Manager email.
    pub manager_email: String,
    /// Employment status.
    pub status: String,
    /// Start date.
    pub start_date: String,
    /// Termination date.
    pub termination_date: String,
}

impl Columns {
    fn resolve(raw: &RawColumns) -> Self {
        let pick = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_owned());
        Self {
            employee_id: pick(&raw.employee_id, "employee_id"),
            email: pick(&raw.email, "email"),
            given_name: pick(&raw.given_name, "first_name"),
            family_name: pick(&raw.family_name, "last_name"),
            title: pick(&raw.title, "title"),
            department: pick(&raw.department, "department"),
            manager_email: pick(&raw.manager_email, "manager_email"),
            status: pick(&raw.status, "status"),
            start_date: pick(&raw.start_date, "start_date"),
            termination_date: pick(&raw.termination_date, "termination_date"),
        }
    }
}

/// Resolved HR CSV source.
#[derive(Debug, Clone)]
pub struct HrCsvSettings {
    /// Source name.
    pub name: String,
    /// Absolute path of the CSV file.
    pub path: PathBuf,
    /// Column names.
    pub columns: Columns,
    /// Lowercased HR status -> class.
    pub status_map: BTreeMap<String, StatusKind>,
    /// Time zone of dates.
    pub timezone: Tz,
    /// strftime format of dates.
    pub date_format: String,
    /// Field delimiter.
    pub delimiter: u8,
    /// Largest trusted field, in bytes: a longer one makes its row unidentified.
    pub max_field_bytes: usize,
    /// Most lines one quoted field may span before its row is unidentified.
    pub max_field_lines: usize,
    /// Largest file read, in bytes: a larger one fails the read (nothing of it is used).
    pub max_file_bytes: u64,
    /// Join attribute (canonical name), default `email`.
    pub join_attr: String,
}

/// Default `max_field_bytes`: far above any cell idbridge reads (a long note fits), and a bound on
/// the memory one field may take.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 8 * 1024;
/// Default `max_field_lines`: a postal address (street, second line, city, country) fits; a
/// stray quote that swallowed several rows does not.
pub const DEFAULT_MAX_FIELD_LINES: usize = 4;
/// Default `max_file_bytes`: 256 MiB is some 500,000 people of 500 bytes each, and a bound on a
/// path that names something endless (a pipe, `/dev/zero`, a file still being written).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Default `max_reply_bytes` of an HR API: a whole-company report (BambooHR sends one reply) of
/// 100,000 people fits.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 64 * 1024 * 1024;

impl HrCsvSettings {
    /// Defaults for a CSV at `path` (used by the demo and tests).
    pub fn new(name: &str, path: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            path,
            columns: Columns::resolve(&RawColumns::default()),
            status_map: default_status_map(),
            timezone: Tz::UTC,
            date_format: "%Y-%m-%d".to_owned(),
            delimiter: b',',
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_field_lines: DEFAULT_MAX_FIELD_LINES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            join_attr: "email".to_owned(),
        }
    }
}

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
}

/// How an HR API authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic base64(<token>:x)` (BambooHR's API-key scheme).
    Basic,
}

/// How an HR API pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpPaging {
    /// One reply holds everything.
    None,
    /// Each reply names the next page's URL at this dotted path; absent or empty ends the read.
    NextLink(String),
    /// A page-number query parameter, from `start`, until a page has no records.
    PageNumber {
        /// Parameter name.
        param: String,
        /// First page number.
        start: u64,
    },
}

/// Resolved `kind = "hr-http"` source.
#[derive(Debug, Clone)]
pub struct HrHttpSettings {
    /// Source name.
    pub name: String,
    /// First page URL.
    pub url: url::Url,
    /// API token (redacted in Debug).
    pub token: Option<SecretString>,
    /// Auth scheme.
    pub auth: HttpAuth,
    /// Dotted path to the records array (empty: the reply is the array).
    pub records: String,
    /// Dotted path to the record count the API reports, if it reports one.
    pub total: Option<String>,
    /// Paging.
    pub paging: HttpPaging,
    /// Field names (same roles as CSV columns).
    pub columns: Columns,
    /// Status map.
    pub status_map: BTreeMap<String, StatusKind>,
    /// Time zone of dates.
    pub timezone: Tz,
    /// Date format.
    pub date_format: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Most pages read.
    pub max_pages: u32,
    /// Largest reply read, in bytes: a larger one fails the read.
    pub max_reply_bytes: u64,
    /// Join attribute.
    pub join_attr: String,
}

/// One resolved source.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    /// `kind = "hr-http"`.
    HrHttp(Box<HrHttpSettings>),
    /// `kind = "hr-csv"`.
    HrCsv(Box<HrCsvSettings>),
    /// `kind = "ldap"`.
    Ldap(Box<LdapSettings>),
}

impl SourceSettings {
    /// The source's name.
    pub fn name(&self) -> &str {
        match self {
            SourceSettings::HrCsv(s) => &s.name,
            SourceSettings::HrHttp(s) => &s.name,
            SourceSettings::Ldap(s) => &s.name,
        }
    }

    /// The attribute that joins this source's records to other sources'.
    pub fn join_attr(&self) -> &str {
        match self {
            SourceSettings::HrCsv(s) => &s.join_attr,
            SourceSettings::HrHttp(s) => &s.join_attr,
            SourceSettings::Ldap(s) => &s.join_attr,
        }
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file it came from (for messages).
    pub path: PathBuf,
    /// Store URL (may carry a password: never print it unredacted).
    pub store_url: SecretString,
    /// `[store] retention`: prune the journal of runs older than this at the end of each run;
    /// `None` keeps everything.
    pub store_retention: Option<Duration>,
    /// The SCIM target.
    pub target: TargetSettings,
    /// Sources, in file order.
    pub sources: Vec<SourceSettings>,
    /// Safety policy (CLI flags such as `--force` are applied later).
    pub policy: Policy,
    /// Join, mapping templates, scope and groups.
    pub mapping: MappingRules,
}

/// The accepted spellings of a fixed-choice key, for messages: `"a", "b", "c"`.
fn spellings<T>(options: &[(&str, T)]) -> String {
    options
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kind of a source, as `[[sources]] kind` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    HrCsv,
    HrHttp,
    Ldap,
}

// Every fixed-choice key's spellings, in one place; a unit test checks that each lists every
// variant of its type, so an error's list of accepted values is always complete.
const TARGET_KINDS: [(&str, TargetKind); 2] =
    [("notion", TargetKind::Notion), ("scim", TargetKind::Scim)];
const SOURCE_KINDS: [(&str, SourceKind); 3] = [
    ("hr-csv", SourceKind::HrCsv),
    ("hr-http", SourceKind::HrHttp),
    ("ldap", SourceKind::Ldap),
];
const DIALECTS: [(&str, LdapDialect); 4] = [
    ("openldap", LdapDialect::OpenLdap),
    ("389ds", LdapDialect::OpenLdap),
    ("ad", LdapDialect::ActiveDirectory),
    ("active-directory", LdapDialect::ActiveDirectory),
];
const NESTED: [(&str, NestedGroups); 3] = [
    ("resolve", NestedGroups::Resolve),
    ("in-chain", NestedGroups::InChain),
    ("off", NestedGroups::Off),
];
const SCOPES: [(&str, LdapScope); 3] = [
    ("sub", LdapScope::Sub),
    ("one", LdapScope::One),
    ("base", LdapScope::Base),
];
const AUTHS: [(&str, HttpAuth); 2] = [("bearer", HttpAuth::Bearer), ("basic", HttpAuth::Basic)];
/// `preset`: `true` for BambooHR, the only one so far.
const PRESETS: [(&str, bool); 1] = [("bamboohr", true)];
const DEACTIVATE_MODES: [(&str, DeactivateMode); 2] = [
    ("active-false", DeactivateMode::ActiveFalse),
    ("delete", DeactivateMode::Delete),
];
const ADOPT_MODES: [(&str, Adopt); 2] = [("match-email", Adopt::MatchEmail), ("none", Adopt::None)];
/// `status_map` values: a class, or `""` to remove a default entry.
const STATUS_CLASSES: [(&str, Option<StatusKind>); 3] = [
    ("active", Some(StatusKind::Active)),
    ("inactive", Some(StatusKind::Inactive)),
    ("", None),
];
/// The roles of an LDAP source's `attributes` table.
const LDAP_ROLES: [&str; 13] = [
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

/// The default status map: `active` and `leave` keep a person in, `terminated`/`inactive` take them out.
pub fn default_status_map() -> BTreeMap<String, StatusKind> {
    [
        ("active", StatusKind::Active),
        ("leave", StatusKind::Active),
        ("on leave", StatusKind::Active),
        ("terminated", StatusKind::Inactive),
        ("inactive", StatusKind::Inactive),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// An HR source's date format (ISO dates when unset).
fn date_format(s: &RawSource) -> String {
    s.date_format
        .as_ref()
        .map(|f| f.get_ref().clone())
        .unwrap_or_else(|| "%Y-%m-%d".to_owned())
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

/// Parse "30s", "500ms", "2m", "1h".
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// The shortest `[store] retention`: a shorter one would erase the evidence of the run that
/// just ended before anyone could read it.
pub const MIN_RETENTION: Duration = Duration::from_secs(86_400);

/// Parse `[store] retention`: `"keep"` is `None`; otherwise days (`"400d"`), weeks (`"8w"`) or
/// any [`parse_duration`] form, at least [`MIN_RETENTION`].
pub fn parse_retention(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text == "keep" {
        return Ok(None);
    }
    let scaled = |suffix: char, unit: u64| {
        let n: u64 = text.strip_suffix(suffix)?.trim().parse().ok()?;
        n.checked_mul(unit).map(Duration::from_secs)
    };
    let parsed = scaled('d', 86_400)
        .or_else(|| scaled('w', 7 * 86_400))
        .or_else(|| parse_duration(text));
    match parsed {
        Some(d) if d >= MIN_RETENTION => Ok(Some(d)),
        Some(_) => Err(format!(
            "`{text}` is shorter than one day; keep the journal at least \"1d\" (it is the evidence \
             of what each run did), or write \"keep\""
        )),
        None => Err(format!(
            "`{text}` is not a retention; write \"keep\" or a duration such as \"400d\", \"8w\""
        )),
    }
}

/// Load and resolve the config file at `path`. Relative paths in it (the store's SQLite file
/// included) resolve against the file's folder, made absolute, so a run started from any working
/// directory reads the same files.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = read_bounded(path, MAX_CONFIG_BYTES, "a config file").map_err(|reason| {
        ConfigError::Read {
            path: path.to_owned(),
            reason,
        }
    })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let base = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, path, &base)
}

/// Only the store URL of the config file at `path`: the `[store]` table is resolved (its own
/// secret included), every other table is neither validated nor resolved, so no other secret
/// is read (`saml check-*` need the store and nothing else). Read and anchored like [`load`].
pub fn load_store_url(path: &Path) -> Result<SecretString, ConfigError> {
    let text = read_bounded(path, MAX_CONFIG_BYTES, "a config file").map_err(|reason| {
        ConfigError::Read {
            path: path.to_owned(),
            reason,
        }
    })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let base = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolved = match toml::from_str::<raw::RawStoreOnly>(&text) {
        Ok(raw) => Resolver {
            text: &text,
            path,
            base: &base,
        }
        .store_url(&raw.store),
        Err(e) => Err(toml_error::convert(&e, &text, path)),
    };
    resolved.map_err(|e| e.scrubbed(&redact::Scrubber::new(&text)))
}

/// Read a settings file of at most `limit` bytes as UTF-8 text; `what` names it in the error.
/// Only a regular file is read: a device (`/dev/zero`) never ends, and opening a FIFO waits for a
/// writer that may never come.
pub(crate) fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<String, String> {
    use std::io::Read;
    let size = if limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{} KiB", limit >> 10)
    };
    let too_large = || format!("it is larger than {size}, the most {what} may hold");
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file (a device, a FIFO or a folder)".to_owned());
    }
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    // The file may have grown since it was measured.
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// Parse and resolve config text; `path` is used in messages and `base` (absolute) to resolve
/// relative paths. No error it returns shows a value the text gives a secret-looking key.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Settings, ConfigError> {
    let resolved = match toml::from_str::<Raw>(text) {
        Ok(raw) => Resolver { text, path, base }.resolve(raw),
        Err(e) => Err(toml_error::convert(&e, text, path)),
    };
    resolved.map_err(|e| e.scrubbed(&redact::Scrubber::new(text)))
}

struct Resolver<'a> {
    text: &'a str,
    path: &'a Path,
    base: &'a Path,
}

impl Resolver<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn invalid<T>(
        &self,
        span_start: usize,
        key: &str,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            path: self.path.to_owned(),
            line: self.line_of(span_start),
            key: key.to_owned(),
            message: message.into(),
        })
    }

    /// Line of a `[table]` header, for keys that are missing altogether.
    fn header_offset(&self, header: &str) -> usize {
        self.text.find(header).unwrap_or(0)
    }

    fn secret(
        &self,
        env: &Option<Spanned<String>>,
        file: &Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<(SecretSource, usize)>, ConfigError> {
        match (env, file) {
            (Some(e), Some(_)) => self.invalid(
                e.span().start,
                &format!("{key}_env"),
                format!("set either {key}_env or {key}_file, not both"),
            ),
            (Some(e), None) => Ok(Some((
                SecretSource::Env(e.get_ref().clone()),
                e.span().start,
            ))),
            (None, Some(f)) => Ok(Some((
                SecretSource::File(self.base.join(f.get_ref())),
                f.span().start,
            ))),
            (None, None) => Ok(None),
        }
    }

    /// One of a fixed set of spellings; `None` gives `default`. An unknown spelling is an error at
    /// its line that lists every accepted one.
    fn choice<T: Copy>(
        &self,
        value: &Option<Spanned<String>>,
        key: &str,
        options: &[(&str, T)],
        default: T,
    ) -> Result<T, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => self.pick(v.get_ref(), v.span().start, key, options),
        }
    }

    /// `value` among `options`, or an error at `at` that lists every accepted spelling.
    fn pick<T: Copy>(
        &self,
        value: &str,
        at: usize,
        key: &str,
        options: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        match options.iter().find(|(name, _)| *name == value) {
            Some((_, chosen)) => Ok(*chosen),
            None => self.invalid(
                at,
                key,
                format!("`{value}` must be one of {}", spellings(options)),
            ),
        }
    }

    /// The IANA time zone of an HR source's dates (UTC when unset).
    fn timezone(&self, value: &Option<Spanned<String>>, key: &str) -> Result<Tz, ConfigError> {
        let Some(tz) = value else {
            return Ok(Tz::UTC);
        };
        tz.get_ref().parse::<Tz>().or_else(|_| {
            self.invalid(
                tz.span().start,
                key,
                format!(
                    "unknown time zone `{}`; use an IANA name such as \"Europe/Paris\"",
                    tz.get_ref()
                ),
            )
        })
    }

    /// An optional secret given as `<key>_env` or `<key>_file`.
    fn optional_secret(
        &self,
        env: &Option<Spanned<String>>,
        file: &Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<SecretString>, ConfigError> {
        match self.secret(env, file, key)? {
            Some((source, at)) => Ok(Some(self.read_secret(&source, at, key)?)),
            None => Ok(None),
        }
    }

    fn read_secret(
        &self,
        source: &SecretSource,
        at: usize,
        key: &str,
    ) -> Result<SecretString, ConfigError> {
        secrets::read(source).or_else(|e| self.invalid(at, key, e.to_string()))
    }

    fn duration(
        &self,
        value: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => match parse_duration(v.get_ref()) {
                Some(d) if !d.is_zero() => Ok(d),
                _ => self.invalid(
                    v.span().start,
                    key,
                    format!(
                        "`{}` is not a duration; write e.g. \"30s\", \"500ms\", \"2m\"",
                        v.get_ref()
                    ),
                ),
            },
        }
    }

    fn positive(
        &self,
        value: &Option<Spanned<i64>>,
        key: &str,
        default: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        self.in_range(value, key, default, 1, max)
    }

    fn in_range(
        &self,
        value: &Option<Spanned<i64>>,
        key: &str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) if (min..=max).contains(v.get_ref()) => Ok(*v.get_ref()),
            Some(v) => self.invalid(
                v.span().start,
                key,
                format!("must be between {min} and {max}"),
            ),
        }
    }

    /// The store URL, its relative SQLite path made absolute against the config file's folder.
    fn store_url(&self, raw: &raw::RawStore) -> Result<SecretString, ConfigError> {
        let (url, at) = match self.secret(&raw.url_env, &raw.url_file, "store.url")? {
            Some((source, at)) => {
                if let Some(url) = &raw.url {
                    return self.invalid(
                        url.span().start,
                        "store.url",
                        "set url or url_env/url_file, not both",
                    );
                }
                (self.read_secret(&source, at, "store.url")?, at)
            }
            None => {
                let (url, at) = match &raw.url {
                    Some(u) => (u.get_ref().clone(), u.span().start),
                    None => (DEFAULT_STORE_URL.to_owned(), self.header_offset("[store]")),
                };
                // A user name alone is fine (PostgreSQL trust, peer or .pgpass authentication).
                // The last `@` before the query ends the user info, even when an unescaped `/`
                // in the password would end the authority early.
                let password = url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.split(['?', '#']).next())
                    .and_then(|before_query| before_query.rsplit_once('@'))
                    .is_some_and(|(info, _)| info.contains(':'));
                let param = match redact::url_credential(&url) {
                    Some(redact::UrlCredential::Param(name)) => Some(name),
                    _ => None,
                };
                if password || param.is_some() {
                    let what = param.map_or("a password".to_owned(), |p| format!("`{p}=…`"));
                    return self.invalid(
                        at,
                        "store.url",
                        format!(
                            "the URL carries {what}; move the whole URL to url_env or url_file"
                        ),
                    );
                }
                (SecretString::from(url), at)
            }
        };
        match store::resolve_path(url.expose_secret(), self.base) {
            Some(resolved) => Ok(SecretString::from(resolved)),
            None => self.invalid(
                at,
                "store.url",
                format!(
                    "the config file's folder {} is not UTF-8, so a relative SQLite path cannot be \
                     anchored to it; give an absolute path",
                    self.base.display()
                ),
            ),
        }
    }

    fn resolve(&self, raw: Raw) -> Result<Settings, ConfigError> {
        let store_url = self.store_url(&raw.store)?;
        let store_retention = match &raw.store.retention {
            None => None,
            Some(v) => parse_retention(v.get_ref())
                .or_else(|why| self.invalid(v.span().start, "store.retention", why))?,
        };
        let target = self.target(&raw.target)?;
        let mut sources = Vec::new();
        let mut names = BTreeSet::new();
        for (i, source) in raw.sources.iter().enumerate() {
            let resolved = self.source(i, source)?;
            if !names.insert(resolved.name().to_owned()) {
                return self.invalid(
                    source.get_ref().name.span().start,
                    &format!("sources[{i}].name"),
                    format!(
                        "source name `{}` is used twice; names must be unique",
                        resolved.name()
                    ),
                );
            }
            sources.push(resolved);
        }
        if sources.is_empty() {
            return self.invalid(
                0,
                "sources",
                "no [[sources]] configured; add at least one (see docs/config.md)",
            );
        }
        let policy = self.policy(&raw.policy, &target)?;
        let mapping = self.mapping(&raw, &sources)?;
        Ok(Settings {
            path: self.path.to_owned(),
            store_url,
            store_retention,
            target,
            sources,
            policy,
            mapping,
        })
    }

    fn target(&self, t: &raw::RawTarget) -> Result<TargetSettings, ConfigError> {
        let kind = self.pick(
            t.kind.get_ref(),
            t.kind.span().start,
            "target.kind",
            &TARGET_KINDS,
        )?;
        let url_text = match (&t.url, kind) {
            (Some(u), _) => u.get_ref().clone(),
            (None, TargetKind::Notion) => NOTION_SCIM_URL.to_owned(),
            (None, TargetKind::Scim) => {
                return self.invalid(
                    self.header_offset("[target]"),
                    "target.url",
                    "a plain SCIM target needs its base URL",
                )
            }
        };
        let url_at = t.url.as_ref().map(|u| u.span().start).unwrap_or(0);
        let url = self.url(
            &url_text,
            url_at,
            "target.url",
            &["https", "http"],
            "token_env or token_file",
        )?;
        let (token, token_source) = match self.secret(
            &t.token_env,
            &t.token_file,
            "target.token",
        )? {
            Some((source, at)) => (
                self.read_secret(&source, at, "target.token")?,
                source.to_string(),
            ),
            None => return self.invalid(
                self.header_offset("[target]"),
                "target.token_env",
                "no SCIM token configured; set token_env = \"NOTION_SCIM_TOKEN\" (or token_file)",
            ),
        };
        let rate_limit = match &t.rate_limit {
            None => Some(2.0),
            Some(v) if *v.get_ref() == 0.0 => None,
            Some(v) if v.get_ref().is_finite() && *v.get_ref() > 0.0 => Some(*v.get_ref()),
            Some(v) => {
                return self.invalid(
                    v.span().start,
                    "target.rate_limit",
                    "must be a positive number of requests per second, or 0 for no limit",
                )
            }
        };
        let token_owner = match &t.token_owner {
            Some(o) if !o.get_ref().contains('@') => {
                return self.invalid(
                    o.span().start,
                    "target.token_owner",
                    "must be the email of the owner who created the token",
                )
            }
            other => other.as_ref().map(|o| o.get_ref().trim().to_owned()),
        };
        Ok(TargetSettings {
            name: t
                .name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_else(|| "default".to_owned()),
            kind,
            url,
            token,
            token_source,
            token_owner,
            external_id: t.external_id,
            rate_limit,
            concurrency: self.positive(&t.concurrency, "target.concurrency", 4, 64)? as usize,
            timeout: self.duration(&t.timeout, "target.timeout", Duration::from_secs(30))?,
            max_retries: self.in_range(&t.max_retries, "target.max_retries", 5, 0, 50)? as u32,
            max_retry_after: self.duration(
                &t.max_retry_after,
                "target.max_retry_after",
                Duration::from_secs(120),
            )?,
            max_reply_bytes: self.in_range(
                &t.max_reply_bytes,
                "target.max_reply_bytes",
                32 << 20,
                64 << 10,
                1 << 30,
            )? as u64,
            page_size: self.positive(&t.page_size, "target.page_size", 100, 100)? as u32,
        })
    }

    /// A URL of one of `schemes`, with a host and no credential in it. Credentials come from
    /// `*_env` / `*_file` (`advice`): a URL shows in messages, logs and plan files. The check
    /// runs on the raw text first, so even a URL too broken to parse is never echoed with one.
    fn url(
        &self,
        text: &str,
        at: usize,
        key: &str,
        schemes: &[&str],
        advice: &str,
    ) -> Result<url::Url, ConfigError> {
        let parsed = url::Url::parse(text).ok();
        let credential = redact::url_credential(text).or_else(|| {
            parsed
                .as_ref()
                .filter(|u| !u.username().is_empty() || u.password().is_some())
                .map(|_| redact::UrlCredential::UserInfo)
        });
        if let Some(credential) = credential {
            return self.invalid(
                at,
                key,
                format!(
                    "the URL carries {credential}; idbridge takes no credential from a URL (a URL \
                     shows in messages, logs and plan files): remove it and use {advice}"
                ),
            );
        }
        match parsed {
            Some(u) if schemes.contains(&u.scheme()) && u.host().is_some() => Ok(u),
            _ => {
                let schemes: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
                self.invalid(
                    at,
                    key,
                    format!(
                        "`{text}` is not a URL with a host starting with {}",
                        schemes.join(" or ")
                    ),
                )
            }
        }
    }

    fn source(
        &self,
        i: usize,
        spanned: &Spanned<RawSource>,
    ) -> Result<SourceSettings, ConfigError> {
        let s = spanned.get_ref();
        let key = |k: &str| format!("sources[{i}].{k}");
        let name = s.name.get_ref().trim();
        if name.is_empty() || name.contains(':') {
            return self.invalid(
                s.name.span().start,
                &key("name"),
                "must be non-empty and contain no `:`",
            );
        }
        let join_attr = s
            .join_attr
            .as_ref()
            .map(|j| j.get_ref().trim().to_owned())
            .unwrap_or_else(|| "email".to_owned());
        let kind = self.pick(
            s.kind.get_ref(),
            s.kind.span().start,
            &key("kind"),
            &SOURCE_KINDS,
        )?;
        match kind {
            SourceKind::HrCsv => self.refuse_keys(
                i,
                s,
                &[
                    "url",
                    "bind_dn",
                    "users",
                    "groups",
                    "dialect",
                    "password_env",
                    "password_file",
                    "total",
                    "max_reply_bytes",
                ],
            )?,
            SourceKind::Ldap => return self.ldap(i, spanned, name, join_attr),
            SourceKind::HrHttp => return self.hr_http(i, spanned, name, join_attr),
        }
        let Some(path) = &s.path else {
            return self.invalid(
                spanned.span().start,
                &key("path"),
                "an hr-csv source needs `path`",
            );
        };
        let timezone = self.timezone(&s.timezone, &key("timezone"))?;
        let delimiter = match &s.delimiter {
            None => b',',
            Some(d) if d.get_ref().len() == 1 && d.get_ref().is_ascii() => {
                d.get_ref().as_bytes()[0]
            }
            Some(d) => {
                return self.invalid(
                    d.span().start,
                    &key("delimiter"),
                    "must be one ASCII character",
                )
            }
        };
        let status_map = self.status_map(s, &format!("sources[{i}]"))?;
        Ok(SourceSettings::HrCsv(Box::new(HrCsvSettings {
            name: name.to_owned(),
            path: self.base.join(path.get_ref()),
            columns: Columns::resolve(&s.columns),
            status_map,
            timezone,
            date_format: date_format(s),
            delimiter,
            max_field_bytes: self.positive(
                &s.max_field_bytes,
                &key("max_field_bytes"),
                DEFAULT_MAX_FIELD_BYTES as i64,
                1 << 20,
            )? as usize,
            max_field_lines: self.positive(
                &s.max_field_lines,
                &key("max_field_lines"),
                DEFAULT_MAX_FIELD_LINES as i64,
                1_000,
            )? as usize,
            max_file_bytes: self.positive(
                &s.max_file_bytes,
                &key("max_file_bytes"),
                DEFAULT_MAX_FILE_BYTES as i64,
                1 << 40,
            )? as u64,
            join_attr,
        })))
    }

    /// Keys of another source kind set on this source are mistakes worth an error.
    fn refuse_keys(&self, i: usize, s: &RawSource, keys: &[&str]) -> Result<(), ConfigError> {
        let set: Vec<(&str, Option<usize>)> = vec![
            ("url", s.url.as_ref().map(|v| v.span().start)),
            ("bind_dn", s.bind_dn.as_ref().map(|v| v.span().start)),
            ("users", s.users.as_ref().map(|v| v.span().start)),
            ("groups", s.groups.as_ref().map(|v| v.span().start)),
            ("dialect", s.dialect.as_ref().map(|v| v.span().start)),
            (
                "password_env",
                s.password_env.as_ref().map(|v| v.span().start),
            ),
            (
                "password_file",
                s.password_file.as_ref().map(|v| v.span().start),
            ),
            ("path", s.path.as_ref().map(|v| v.span().start)),
            ("timezone", s.timezone.as_ref().map(|v| v.span().start)),
            ("status_map", s.status_map.as_ref().map(|v| v.span().start)),
            (
                "max_field_bytes",
                s.max_field_bytes.as_ref().map(|v| v.span().start),
            ),
            (
                "max_field_lines",
                s.max_field_lines.as_ref().map(|v| v.span().start),
            ),
            (
                "max_file_bytes",
                s.max_file_bytes.as_ref().map(|v| v.span().start),
            ),
            (
                "max_reply_bytes",
                s.max_reply_bytes.as_ref().map(|v| v.span().start),
            ),
            ("total", s.total.as_ref().map(|v| v.span().start)),
        ];
        for (name, at) in set {
            if let (true, Some(at)) = (keys.contains(&name), at) {
                return self.invalid(
                    at,
                    &format!("sources[{i}].{name}"),
                    format!("`{name}` does not apply to a `{}` source", s.kind.get_ref()),
                );
            }
        }
        Ok(())
    }

    fn status_map(
        &self,
        s: &RawSource,
        key: &str,
    ) -> Result<BTreeMap<String, StatusKind>, ConfigError> {
        // Entries add to the defaults rather than replace them: a map written for one new status
        // must not turn `terminated` into an unknown status, which keeps leavers in.
        let mut out = default_status_map();
        let Some(map) = &s.status_map else {
            return Ok(out);
        };
        for (status, class) in map.get_ref() {
            let at = map.span().start;
            let key = format!("{key}.status_map.{status}");
            let status = status.trim().to_lowercase();
            let Some((_, class)) = STATUS_CLASSES.iter().find(|(n, _)| n == class) else {
                return self.invalid(
                    at,
                    &key,
                    format!(
                        "`{class}` must be one of {} (\"\" removes a default entry)",
                        spellings(&STATUS_CLASSES)
                    ),
                );
            };
            match class {
                Some(class) => out.insert(status, *class),
                None => out.remove(&status),
            };
        }
        Ok(out)
    }

    fn hr_http(
        &self,
        i: usize,
        spanned: &Spanned<RawSource>,
        name: &str,
        join_attr: String,
    ) -> Result<SourceSettings, ConfigError> {
        let s = spanned.get_ref();
        let key = |k: &str| format!("sources[{i}].{k}");
        self.refuse_keys(
            i,
            s,
            &[
                "path",
                "bind_dn",
                "users",
                "groups",
                "dialect",
                "password_env",
                "password_file",
                "max_field_bytes",
                "max_field_lines",
                "max_file_bytes",
            ],
        )?;
        let Some(url_text) = &s.url else {
            return self.invalid(
                spanned.span().start,
                &key("url"),
                "an hr-http source needs `url`",
            );
        };
        let url = self.url(
            url_text.get_ref(),
            url_text.span().start,
            &key("url"),
            &["https", "http"],
            "token_env or token_file",
        )?;
        let bamboo = self.choice(&s.preset, &key("preset"), &PRESETS, false)?;
        let token = self.optional_secret(&s.token_env, &s.token_file, &key("token"))?;
        let default_auth = if bamboo {
            HttpAuth::Basic
        } else {
            HttpAuth::Bearer
        };
        let auth = self.choice(&s.auth, &key("auth"), &AUTHS, default_auth)?;
        let paging = match (&s.next, &s.page_param) {
            (Some(n), Some(_)) => {
                return self.invalid(
                    n.span().start,
                    &key("next"),
                    "set either `next` or `page_param`, not both",
                )
            }
            (Some(n), None) => HttpPaging::NextLink(n.get_ref().clone()),
            (None, Some(p)) => HttpPaging::PageNumber {
                param: p.get_ref().clone(),
                start: s.page_start.unwrap_or(1).max(0) as u64,
            },
            (None, None) => HttpPaging::None,
        };
        let c = &s.columns;
        let columns = if bamboo {
            // BambooHR custom-report field names (docs/config.md); explicit columns still win.
            let pick = |set: &Option<String>, preset: &str| {
                set.clone().unwrap_or_else(|| preset.to_owned())
            };
            Columns {
                employee_id: pick(&c.employee_id, "id"),
                email: pick(&c.email, "workEmail"),
                given_name: pick(&c.given_name, "firstName"),
                family_name: pick(&c.family_name, "lastName"),
                title: pick(&c.title, "jobTitle"),
                department: pick(&c.department, "department"),
                manager_email: pick(&c.manager_email, "supervisorEmail"),
                status: pick(&c.status, "status"),
                start_date: pick(&c.start_date, "hireDate"),
                termination_date: pick(&c.termination_date, "terminationDate"),
            }
        } else {
            Columns::resolve(c)
        };
        let timezone = self.timezone(&s.timezone, &key("timezone"))?;
        let records = match &s.records {
            Some(r) => r.get_ref().clone(),
            None if bamboo => "employees".to_owned(),
            None => String::new(),
        };
        Ok(SourceSettings::HrHttp(Box::new(HrHttpSettings {
            name: name.to_owned(),
            url,
            token,
            auth,
            records,
            total: s.total.as_ref().map(|t| t.get_ref().trim().to_owned()),
            paging,
            columns,
            status_map: self.status_map(s, &format!("sources[{i}]"))?,
            timezone,
            date_format: date_format(s),
            timeout: self.duration(&s.timeout, &key("timeout"), Duration::from_secs(30))?,
            max_pages: self.positive(&s.max_pages, &key("max_pages"), 10_000, 1_000_000)? as u32,
            max_reply_bytes: self.positive(
                &s.max_reply_bytes,
                &key("max_reply_bytes"),
                DEFAULT_MAX_REPLY_BYTES as i64,
                1 << 34,
            )? as u64,
            join_attr,
        })))
    }

    fn query(
        &self,
        q: &Spanned<raw::RawQuery>,
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

    fn ldap(
        &self,
        i: usize,
        spanned: &Spanned<RawSource>,
        name: &str,
        join_attr: String,
    ) -> Result<SourceSettings, ConfigError> {
        let s = spanned.get_ref();
        let key = |k: &str| format!("sources[{i}].{k}");
        self.refuse_keys(
            i,
            s,
            &[
                "path",
                "timezone",
                "status_map",
                "max_field_bytes",
                "max_field_lines",
                "max_file_bytes",
                "max_reply_bytes",
                "total",
            ],
        )?;
        let Some(url_text) = &s.url else {
            return self.invalid(
                spanned.span().start,
                &key("url"),
                "an ldap source needs `url` (ldap://host:389 or ldaps://host:636)",
            );
        };
        let url = self.url(
            url_text.get_ref(),
            url_text.span().start,
            &key("url"),
            &["ldap", "ldaps"],
            "bind_dn with password_env or password_file",
        )?;
        let starttls = s.starttls.unwrap_or(false);
        if starttls && url.scheme() == "ldaps" {
            return self.invalid(
                url_text.span().start,
                &key("starttls"),
                "StartTLS applies to ldap:// URLs; ldaps:// is TLS already",
            );
        }
        let dialect = self.choice(
            &s.dialect,
            &key("dialect"),
            &DIALECTS,
            LdapDialect::OpenLdap,
        )?;
        let password = self.optional_secret(&s.password_env, &s.password_file, &key("password"))?;
        let bind_dn = s.bind_dn.as_ref().map(|b| b.get_ref().trim().to_owned());
        if bind_dn.is_some() && password.is_none() {
            let at = s.bind_dn.as_ref().map(|b| b.span().start).unwrap_or(0);
            // RFC 4513 §5.1.2: a name with an empty password is an unauthenticated bind that
            // servers may accept, which would read as success.
            return self.invalid(
                at,
                &key("password_env"),
                "a bind_dn needs a password (password_env or password_file)",
            );
        }
        let (user_filter, group_filter) = match dialect {
            LdapDialect::OpenLdap => ("(objectClass=inetOrgPerson)", "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"),
            LdapDialect::ActiveDirectory => ("(&(objectCategory=person)(objectClass=user))", "(objectClass=group)"),
        };
        let Some(users) = &s.users else {
            return self.invalid(
                spanned.span().start,
                &key("users"),
                "an ldap source needs `users = { base = \"ou=people,dc=example,dc=com\" }`",
            );
        };
        let users = self.query(users, &key("users"), user_filter)?;
        let groups = match &s.groups {
            Some(g) => Some(self.query(g, &key("groups"), group_filter)?),
            None => None,
        };
        let nested = self.choice(&s.nested, &key("nested"), &NESTED, NestedGroups::Resolve)?;
        if nested == NestedGroups::InChain && dialect != LdapDialect::ActiveDirectory {
            let at = s.nested.as_ref().map(|n| n.span().start).unwrap_or(0);
            return self.invalid(
                at,
                &key("nested"),
                "\"in-chain\" is Active Directory's matching rule; with OpenLDAP use \"resolve\"",
            );
        }
        let mut attributes = LdapAttributes::defaults(dialect);
        for (role, value) in &s.attributes {
            let slot = match role.as_str() {
                "id" => &mut attributes.id,
                "login" => &mut attributes.login,
                "mail" => &mut attributes.mail,
                "given_name" => &mut attributes.given_name,
                "family_name" => &mut attributes.family_name,
                "display_name" => &mut attributes.display_name,
                "title" => &mut attributes.title,
                "department" => &mut attributes.department,
                "employee_number" => &mut attributes.employee_number,
                "manager" => &mut attributes.manager,
                "group_name" => &mut attributes.group_name,
                "member" => &mut attributes.member,
                "upn" => &mut attributes.upn,
                other => {
                    return self.invalid(
                        spanned.span().start,
                        &key(&format!("attributes.{other}")),
                        format!(
                            "unknown attribute role{} The roles are {}.",
                            names::suggest(other, LDAP_ROLES)
                                .map_or(".".to_owned(), |r| format!("; did you mean `{r}`?")),
                            LDAP_ROLES.join(", ")
                        ),
                    )
                }
            };
            *slot = value.clone();
        }
        let insecure = s.insecure_skip_verify.unwrap_or(false);
        let ca_file = s.ca_file.as_ref().map(|c| self.base.join(c.get_ref()));
        if let Some(ca) = &ca_file {
            if !ca.is_file() {
                let at = s.ca_file.as_ref().map(|c| c.span().start).unwrap_or(0);
                return self.invalid(
                    at,
                    &key("ca_file"),
                    format!("CA file {} does not exist", ca.display()),
                );
            }
        }
        Ok(SourceSettings::Ldap(Box::new(LdapSettings {
            name: name.to_owned(),
            url,
            starttls,
            ca_file,
            insecure_skip_verify: insecure,
            bind_dn,
            password,
            dialect,
            users,
            groups,
            page_size: self.positive(&s.page_size, &key("page_size"), 500, 10_000)? as u32,
            connect_timeout: self.duration(
                &s.connect_timeout,
                &key("connect_timeout"),
                Duration::from_secs(10),
            )?,
            search_timeout: self.duration(
                &s.search_timeout,
                &key("search_timeout"),
                Duration::from_secs(120),
            )?,
            disabled_filter: s.disabled_filter.as_ref().map(|f| f.get_ref().clone()),
            nested,
            attributes,
            extra_attributes: s.extra_attributes.clone(),
            join_attr,
        })))
    }

    fn template(&self, text: &Spanned<String>, key: &str) -> Result<Template, ConfigError> {
        Template::compile(text.get_ref()).or_else(|e| {
            self.invalid(
                text.span().start,
                key,
                format!("template `{}`: {e}", text.get_ref()),
            )
        })
    }

    /// `message` as an error at `at` when `check` failed.
    fn checked(&self, check: Result<(), String>, at: usize, key: &str) -> Result<(), ConfigError> {
        check.or_else(|message| self.invalid(at, key, message))
    }

    /// Every attribute name the config reads besides the templates must be one some source
    /// provides: `join_attr` (a typo joins nobody), `[join] precedence` keys (ignored) and
    /// `[scope] where` keys (everyone out of scope, so deactivated).
    fn check_names(
        &self,
        raw: &Raw,
        sources: &[SourceSettings],
        provided: &names::Provided<'_>,
    ) -> Result<(), ConfigError> {
        for (i, (source, raw_source)) in sources.iter().zip(&raw.sources).enumerate() {
            if let Some(j) = &raw_source.get_ref().join_attr {
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

    fn mapping(&self, raw: &Raw, sources: &[SourceSettings]) -> Result<MappingRules, ConfigError> {
        let provided = names::Provided::new(sources);
        self.check_names(raw, sources, &provided)?;
        let joins = sources
            .iter()
            .map(|s| SourceJoin {
                name: s.name().to_owned(),
                join_attr: s.join_attr().to_owned(),
            })
            .collect();
        let mut rules = MappingRules::with_sources(joins);
        let names: Vec<&str> = sources.iter().map(|s| s.name()).collect();
        let known = |name: &str| names.contains(&name);
        for (key, text) in &raw.mapping {
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
        if let Some(join) = &raw.join {
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
        }
        if let Some(scope) = &raw.scope {
            rules.scope.groups = scope
                .groups
                .iter()
                .map(|g| g.trim().to_lowercase())
                .collect();
            rules.scope.ous = scope.ous.iter().map(|o| o.trim().to_lowercase()).collect();
            rules.scope.attr_in = scope.attr_in.clone();
        }
        if let Some(groups) = &raw.groups {
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
        }
        Ok(rules)
    }

    fn policy(&self, p: &raw::RawPolicy, target: &TargetSettings) -> Result<Policy, ConfigError> {
        let mut policy = Policy::default();
        if let Some(v) = &p.max_deactivations {
            let parsed = match v.get_ref() {
                toml::Value::Integer(n) if *n >= 0 => Some(Threshold::Count(*n as u64)),
                toml::Value::String(s) => Threshold::parse(s),
                _ => None,
            };
            policy.max_deactivations = match parsed {
                Some(t) => t,
                None => {
                    return self.invalid(
                        v.span().start,
                        "policy.max_deactivations",
                        "write a count such as 5 or a percentage such as \"10%\"",
                    )
                }
            };
        }
        policy.deactivate = self.choice(
            &p.deactivate,
            "policy.deactivate",
            &DEACTIVATE_MODES,
            policy.deactivate,
        )?;
        policy.adopt = self.choice(&p.adopt, "policy.adopt", &ADOPT_MODES, policy.adopt)?;
        policy.token_owner = target
            .token_owner
            .as_deref()
            .map(crate::model::UserName::new);
        if target.kind == TargetKind::Scim {
            policy.protected_roles.clear();
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests;
