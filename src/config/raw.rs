//! The raw config file as serde reads it: every table denies unknown keys, and values that need
//! checking after parsing keep their byte span so errors can name the line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// `[store]`.
    #[serde(default)]
    pub store: RawStore,
    /// `[target]`.
    pub target: RawTarget,
    /// `[[sources]]`.
    #[serde(default)]
    pub sources: Vec<Spanned<RawSource>>,
    /// `[policy]`.
    #[serde(default)]
    pub policy: RawPolicy,
    /// `[join]`.
    pub join: Option<RawJoin>,
    /// `[mapping]`: SCIM attribute -> template.
    #[serde(default)]
    pub mapping: BTreeMap<String, Spanned<String>>,
    /// `[scope]`.
    pub scope: Option<RawScope>,
    /// `[groups]`.
    pub groups: Option<RawGroups>,
}

/// `[join]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJoin {
    /// Sources every person needs a record in.
    #[serde(default)]
    pub require: Vec<Spanned<String>>,
    /// Attribute -> sources, first wins.
    #[serde(default)]
    pub precedence: BTreeMap<String, Spanned<Vec<String>>>,
}

/// `[scope]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScope {
    /// Group DNs or names; members (transitively) are in scope.
    #[serde(default)]
    pub groups: Vec<String>,
    /// DN subtrees.
    #[serde(default)]
    pub ous: Vec<String>,
    /// Attribute -> allowed values.
    #[serde(default, rename = "where")]
    pub attr_in: BTreeMap<String, Vec<String>>,
}

/// `[groups]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroups {
    /// Patterns (name or DN) of groups to push.
    #[serde(default)]
    pub include: Vec<String>,
    /// Patterns of groups never pushed.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// displayName template.
    pub name: Option<Spanned<String>>,
    /// Delete pushed groups whose source group is gone.
    pub delete: Option<bool>,
    /// Existing target groups (displayName) to adopt.
    #[serde(default)]
    pub adopt: Vec<String>,
    /// Members per PATCH.
    pub batch_size: Option<Spanned<i64>>,
}

/// The file as far as the store is concerned: `[store]` only, other tables ignored unread.
#[derive(Debug, Deserialize)]
pub struct RawStoreOnly {
    /// `[store]`.
    #[serde(default)]
    pub store: RawStore,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// Store URL without a password (SQLite path or PostgreSQL URL).
    pub url: Option<Spanned<String>>,
    /// Env var holding the URL (use when it carries a password).
    pub url_env: Option<Spanned<String>>,
    /// File holding the URL.
    pub url_file: Option<Spanned<String>>,
    /// How long journal entries are kept: `"keep"` (default) or a duration such as `"400d"`.
    pub retention: Option<Spanned<String>>,
}

/// `[target]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Name of this workspace; links are keyed by it.
    pub name: Option<Spanned<String>>,
    /// `notion` or `scim`.
    pub kind: Spanned<String>,
    /// SCIM base URL.
    pub url: Option<Spanned<String>>,
    /// Env var holding the bearer token.
    pub token_env: Option<Spanned<String>>,
    /// File holding the bearer token.
    pub token_file: Option<Spanned<String>>,
    /// Email of the workspace owner who created the token: never changed.
    pub token_owner: Option<Spanned<String>>,
    /// Whether the target stores `externalId`.
    pub external_id: Option<bool>,
    /// Client-side request budget, requests per second (0 turns it off).
    pub rate_limit: Option<Spanned<f64>>,
    /// Requests in flight at once.
    pub concurrency: Option<Spanned<i64>>,
    /// Per-request timeout, e.g. "30s".
    pub timeout: Option<Spanned<String>>,
    /// Retries of one request.
    pub max_retries: Option<Spanned<i64>>,
    /// Longest `Retry-After` honoured, e.g. "120s".
    pub max_retry_after: Option<Spanned<String>>,
    /// Largest SCIM reply body read, in bytes.
    pub max_reply_bytes: Option<Spanned<i64>>,
    /// Page size of full reads (at most 100).
    pub page_size: Option<Spanned<i64>>,
}

/// One `[[sources]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Unique source name (part of every source key).
    pub name: Spanned<String>,
    /// `hr-csv` (more kinds come with the LDAP and HR API connectors).
    pub kind: Spanned<String>,
    /// CSV file path, relative to the config file.
    pub path: Option<Spanned<String>>,
    /// Time zone of HR dates, e.g. "Europe/Paris".
    pub timezone: Option<Spanned<String>>,
    /// strftime format of HR dates.
    pub date_format: Option<Spanned<String>>,
    /// Field delimiter (one ASCII character).
    pub delimiter: Option<Spanned<String>>,
    /// HR CSV: largest trusted field, in bytes.
    pub max_field_bytes: Option<Spanned<i64>>,
    /// HR CSV: most lines one quoted field may span.
    pub max_field_lines: Option<Spanned<i64>>,
    /// HR CSV: largest file read, in bytes.
    pub max_file_bytes: Option<Spanned<i64>>,
    /// Header names of the columns idbridge reads.
    #[serde(default)]
    pub columns: RawColumns,
    /// HR status value -> `active` or `inactive`.
    pub status_map: Option<Spanned<BTreeMap<String, String>>>,
    /// The attribute of this source's records that joins them to other sources' records.
    pub join_attr: Option<Spanned<String>>,
    /// LDAP: `ldap://host:389` (StartTLS with `starttls = true`) or `ldaps://host:636`.
    pub url: Option<Spanned<String>>,
    /// LDAP: upgrade `ldap://` with StartTLS (never falls back to cleartext).
    pub starttls: Option<bool>,
    /// LDAP: PEM file of the CA that signed the server certificate.
    pub ca_file: Option<Spanned<String>>,
    /// LDAP: skip certificate verification (logs a warning on every run).
    pub insecure_skip_verify: Option<bool>,
    /// LDAP: bind DN (simple bind).
    pub bind_dn: Option<Spanned<String>>,
    /// LDAP: env var holding the bind password.
    pub password_env: Option<Spanned<String>>,
    /// LDAP: file holding the bind password.
    pub password_file: Option<Spanned<String>>,
    /// LDAP: `openldap` (also 389-DS) or `ad`.
    pub dialect: Option<Spanned<String>>,
    /// LDAP: the user search.
    pub users: Option<Spanned<RawQuery>>,
    /// LDAP: the group search.
    pub groups: Option<Spanned<RawQuery>>,
    /// LDAP: paged-results page size (RFC 2696).
    pub page_size: Option<Spanned<i64>>,
    /// LDAP: connect timeout, e.g. "10s".
    pub connect_timeout: Option<Spanned<String>>,
    /// LDAP: per-search timeout, e.g. "120s".
    pub search_timeout: Option<Spanned<String>>,
    /// LDAP: an extra filter that marks disabled accounts (OpenLDAP has no standard flag).
    pub disabled_filter: Option<Spanned<String>>,
    /// LDAP: nested groups: `resolve` (client side, cycle-safe), `in-chain` (AD matching rule) or `off`.
    pub nested: Option<Spanned<String>>,
    /// LDAP: attribute names, per role, overriding the dialect's defaults.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// LDAP: extra attributes to fetch for mapping templates.
    #[serde(default)]
    pub extra_attributes: Vec<String>,
    /// HR API: env var holding the API token.
    pub token_env: Option<Spanned<String>>,
    /// HR API: file holding the API token.
    pub token_file: Option<Spanned<String>>,
    /// HR API: `bearer` (default) or `basic` (the token as user name, BambooHR style).
    pub auth: Option<Spanned<String>>,
    /// HR API: dotted path to the records array in each reply (e.g. `employees`, `data.items`).
    pub records: Option<Spanned<String>>,
    /// HR API: dotted path to the record count the API reports (checked against what was read).
    pub total: Option<Spanned<String>>,
    /// HR API: dotted path to the next page's URL (next-link paging).
    pub next: Option<Spanned<String>>,
    /// HR API: query parameter of page-number paging.
    pub page_param: Option<Spanned<String>>,
    /// HR API: first page number (default 1).
    pub page_start: Option<i64>,
    /// HR API: a preset for a known HR system (`bamboohr`).
    pub preset: Option<Spanned<String>>,
    /// HR API: per-request timeout.
    pub timeout: Option<Spanned<String>>,
    /// HR API: most pages read before giving up.
    pub max_pages: Option<Spanned<i64>>,
    /// HR API: largest reply read, in bytes.
    pub max_reply_bytes: Option<Spanned<i64>>,
}

/// An LDAP search: base, scope and filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    /// Search base DN.
    pub base: String,
    /// `sub` (default), `one` or `base`.
    pub scope: Option<String>,
    /// LDAP filter (RFC 4515).
    pub filter: Option<String>,
}

/// `[sources.columns]`: header names; every key is optional and has a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumns {
    /// Stable employee id column.
    pub employee_id: Option<String>,
    /// Work email column.
    pub email: Option<String>,
    /// Given name column.
    pub given_name: Option<String>,
    /// Family name column.
    pub family_name: Option<String>,
    /// Job title column.
    pub title: Option<String>,
    /// Department column.
    pub department: Option<String>,
    /// Manager's email column.
    pub manager_email: Option<String>,
    /// Employment status column.
    pub status: Option<String>,
    /// Start date column.
    pub start_date: Option<String>,
    /// Termination date column.
    pub termination_date: Option<String>,
}

/// `[policy]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// "10%" or a count such as 5.
    pub max_deactivations: Option<Spanned<toml::Value>>,
    /// `active-false` or `delete`.
    pub deactivate: Option<Spanned<String>>,
    /// `match-email` or `none`.
    pub adopt: Option<Spanned<String>>,
}
