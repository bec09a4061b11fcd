//! The raw config file as serde reads it: every table denies unknown keys, and values that need
//! checking after parsing keep their byte span so errors can name the line. `[[sources]]`
//! entries have one struct per kind ([`source`]).

pub mod gates;
pub mod source;

pub use source::{RawColumns, RawHrCsv, RawHrHttp, RawLdap, RawQuery, RawSource, SourceKind};

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
    /// `[[sources]]`: here only checked to be an array, so that the key is known; each entry is
    /// read by its `kind` ([`source::read_sources`]).
    #[serde(default)]
    pub sources: Vec<serde::de::IgnoredAny>,
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
    /// `[roles]`: workspace roles from source groups and attributes.
    pub roles: Option<Spanned<RawRoles>>,
    /// `[serve]`.
    pub serve: Option<Spanned<RawServe>>,
    /// `[saml]`.
    pub saml: Option<Spanned<RawSaml>>,
    /// `[alerts]`.
    pub alerts: Option<Spanned<RawAlerts>>,
    /// `[notion]`: publishing reports to Notion databases (resolved only by the commands that
    /// publish, so a sync needs no integration token).
    pub notion: Option<RawNotion>,
}

/// `[roles]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoles {
    /// The role of a person no rule matches; absent: they keep the role they have.
    pub default: Option<Spanned<String>>,
    /// A count such as 5 or a percentage such as "10%".
    pub max_role_changes: Option<Spanned<toml::Value>>,
    /// `[[roles.rules]]`, first match wins.
    #[serde(default)]
    pub rules: Vec<Spanned<RawRoleRule>>,
}

/// One `[[roles.rules]]` entry: a role and exactly one of `group`/`groups` or `attribute`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoleRule {
    /// The role granted.
    pub role: Option<Spanned<String>>,
    /// A group DN or name.
    pub group: Option<Spanned<String>>,
    /// Several group DNs or names (any of them).
    pub groups: Option<Spanned<Vec<String>>>,
    /// A source attribute name.
    pub attribute: Option<Spanned<String>>,
    /// The attribute's accepted value.
    pub value: Option<Spanned<String>>,
    /// The attribute's accepted values.
    pub values: Option<Spanned<Vec<String>>>,
}

/// `[notion]`: Notion's public API, where reports are published.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotion {
    /// The API root (default `https://api.notion.com`).
    pub url: Option<Spanned<String>>,
    /// `Notion-Version`.
    pub version: Option<Spanned<String>>,
    /// Env var holding the internal integration token.
    pub token_env: Option<Spanned<String>>,
    /// File holding the internal integration token.
    pub token_file: Option<Spanned<String>>,
    /// Database the `users` report is published into.
    pub users_database: Option<Spanned<String>>,
    /// Database the `changes` report is published into.
    pub changes_database: Option<Spanned<String>>,
    /// Requests per second on average (0 turns the client-side budget off).
    pub rate_limit: Option<Spanned<f64>>,
    /// Per-request timeout.
    pub timeout: Option<Spanned<String>>,
    /// Retries of one request.
    pub max_retries: Option<Spanned<i64>>,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Option<Spanned<String>>,
    /// Largest reply body read, in bytes.
    pub max_reply_bytes: Option<Spanned<i64>>,
}

/// The file as far as publishing is concerned: `[store]` and `[notion]`, other tables unread.
#[derive(Debug, Deserialize)]
pub struct RawNotionOnly {
    /// `[store]`.
    #[serde(default)]
    pub store: RawStore,
    /// `[notion]`.
    pub notion: Option<RawNotion>,
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

/// The file as far as `healthcheck` is concerned: `[serve]` only, other tables ignored unread.
#[derive(Debug, Deserialize)]
pub struct RawServeOnly {
    /// `[serve]`.
    pub serve: Option<Spanned<RawServe>>,
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
    /// `[policy.gates]`: source health gates.
    pub gates: Option<gates::RawGates>,
    /// `{ runs = 2, duration = "24h" }`: how long a person gone from the sources is kept.
    pub absence_grace: Option<Spanned<RawAbsenceGrace>>,
    /// `deactivate` or `grace`: a disabled directory account.
    pub disabled_accounts: Option<Spanned<String>>,
}

/// `[policy] absence_grace`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAbsenceGrace {
    /// Consecutive counted runs that must miss a person first.
    pub runs: Option<Spanned<i64>>,
    /// Time since the first counted run that missed them, e.g. `"24h"`; `"0s"` for none.
    pub duration: Option<Spanned<String>>,
}

/// `[serve]`: read by `idbridge serve` only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServe {
    /// Address of the HTTP endpoints, e.g. `"0.0.0.0:8080"`.
    pub listen: Option<Spanned<String>>,
    /// Interval between runs, e.g. `"1h"`.
    pub every: Option<Spanned<String>>,
    /// Cron expression (five fields), instead of `every`.
    pub cron: Option<Spanned<String>>,
    /// IANA zone the cron expression is read in (UTC by default).
    pub timezone: Option<Spanned<String>>,
    /// Largest random delay added to each tick.
    pub jitter: Option<Spanned<String>>,
    /// Env var holding the bearer token of `/runs` and `POST /sync`.
    pub api_token_env: Option<Spanned<String>>,
    /// File holding that token.
    pub api_token_file: Option<Spanned<String>>,
    /// How many runs `/runs` lists.
    pub history: Option<Spanned<i64>>,
}

/// `[saml]`: the IdP metadata `serve` checks on every run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSaml {
    /// A metadata file, or an `https://` URL.
    pub metadata: Option<Spanned<String>>,
    /// Which entity of an `EntitiesDescriptor`.
    pub entity: Option<Spanned<String>>,
    /// Warn when a signing certificate expires within this many days.
    pub warn_days: Option<Spanned<i64>>,
}

/// `[alerts]`: read by `idbridge serve` only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// Env var holding the webhook URL.
    pub webhook_url_env: Option<Spanned<String>>,
    /// File holding the webhook URL.
    pub webhook_url_file: Option<Spanned<String>>,
    /// `slack` (default) or `generic`.
    pub format: Option<Spanned<String>>,
    /// Alert when the IdP signing certificate expires within this many days.
    pub warn_days: Option<Spanned<i64>>,
    /// How long one delivery may take.
    pub timeout: Option<Spanned<String>>,
    /// The Notion database alerts become pages in (the token is `[notion]`'s).
    pub notion_database: Option<Spanned<String>>,
}
