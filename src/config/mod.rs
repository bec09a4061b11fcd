//! Configuration: reads the TOML file (the only module that reads settings files and environment
//! variables), validates it, and resolves it into [`Settings`]. Errors name the file, the line and
//! the key, and say what to do. Secrets are read from `*_env` / `*_file` keys only.
//!
//! Two stages: [`raw`] is what serde parses (unknown keys refused; `[[sources]]` entries by their
//! `kind`, one struct per kind); [`Settings`] is resolved (paths made absolute against the config
//! file's folder, the store's SQLite path included, durations and thresholds parsed, secrets
//! read, every attribute name a template reads checked against what the sources provide,
//! [`names`]). Each section resolves in its own file: [`store`], [`target`], [`source`] (one file
//! per kind), [`policy`] (and its [`gates`]), [`mapping`], [`roles`], [`serve`], [`alerts`], [`notion`] (resolved only by the commands that publish); [`duration`] is the one duration grammar, shared with the
//! command line.
//!
//! Nothing read is unbounded: the file is read only when it is a regular file of at most
//! [`MAX_CONFIG_BYTES`] ([`load`]). No error echoes a secret: TOML errors are rebuilt without the
//! offending line's secret ([`toml_error`]), credentials in URLs are refused by name, and every
//! message goes through [`redact::Scrubber`] before it leaves [`parse`].

pub mod alerts;
pub mod duration;
pub mod gates;
mod load;
pub mod mapping;
pub mod names;
pub mod notion;
pub mod policy;
pub mod raw;
pub mod redact;
mod resolve;
pub mod roles;
pub mod secrets;
pub mod serve;
pub mod source;
pub mod store;
pub mod target;
mod toml_error;

pub use alerts::{AlertSettings, WebhookFormat, WebhookSettings};
pub use duration::{parse_duration, parse_retention, MIN_RETENTION};
pub(crate) use load::read_bounded;
pub use load::{load, load_notion, load_serve_listen, load_store_url, parse, MAX_CONFIG_BYTES};
pub use notion::NotionSettings;
pub use serve::{MetadataSource, SamlSettings, ServeSettings};
pub use source::hr_csv::{
    HrCsvSettings, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_FIELD_LINES, DEFAULT_MAX_FILE_BYTES,
};
pub use source::hr_http::{
    bamboo_fields, HrHttpSettings, HttpAuth, HttpPaging, HttpRequest, DEFAULT_MAX_REPLY_BYTES,
};
pub use source::ldap::{
    LdapAttributes, LdapDialect, LdapQuery, LdapScope, LdapSettings, NestedGroups,
};
pub use source::{default_status_map, Columns, SourceSettings};
pub use store::DEFAULT_STORE_URL;
pub use target::{TargetKind, TargetSettings, NOTION_SCIM_URL};

use crate::mapping::MappingRules;
use crate::plan::Policy;
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

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
    /// `[serve]`: read by `idbridge serve` only.
    pub serve: Option<ServeSettings>,
    /// `[saml]`: the IdP metadata `serve` checks on every run.
    pub saml: Option<SamlSettings>,
    /// `[alerts]`: where `serve` sends alerts.
    pub alerts: Option<AlertSettings>,
    /// `[roles]`: the role rules (the guardrail and known roles are in `policy.roles`).
    pub roles: Option<crate::mapping::RoleRules>,
}

#[cfg(test)]
mod roles_tests;
#[cfg(test)]
mod tests;
