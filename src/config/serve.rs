//! `[serve]` (the schedule, HTTP address and API token of `idbridge serve`) and `[saml]` (the
//! IdP metadata `serve` checks on every run). Other commands read neither, and no secret of them
//! is read at load: `serve` reads the API token file when it starts and again before each run,
//! so a config shared with `sync --yes` needs no API token.

use super::raw::{RawSaml, RawServe};
use super::resolve::Resolver;
use super::secrets::SecretSource;
use super::{duration, ConfigError};
use crate::serve::schedule::Schedule;
use chrono_tz::Tz;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// How many runs `/runs` lists unless `[serve] history` says otherwise.
pub const DEFAULT_HISTORY: i64 = 50;
/// The most `/runs` lists: every reply is bounded.
pub const MAX_HISTORY: i64 = 1000;
/// Shortest `every`: a run reads every source and the whole target.
pub const MIN_EVERY: Duration = Duration::from_secs(1);

/// `[serve]`, resolved.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The address of the HTTP endpoints.
    pub listen: SocketAddr,
    /// When the sync runs.
    pub schedule: Schedule,
    /// Largest random delay added to each tick (zero: none).
    pub jitter: Duration,
    /// Where the bearer token of `/runs` and `POST /sync` is kept; `None`: those endpoints are
    /// off (404).
    pub api_token: Option<SecretSource>,
    /// How many runs `/runs` lists.
    pub history: u32,
}

/// Where the IdP metadata comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataSource {
    /// A file (relative paths anchored to the config file's folder).
    File(PathBuf),
    /// An `http(s)://` URL, fetched on every run.
    Url(url::Url),
}

impl std::fmt::Display for MetadataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetadataSource::File(path) => write!(f, "{}", path.display()),
            MetadataSource::Url(url) => write!(f, "{url}"),
        }
    }
}

/// `[saml]`, resolved.
#[derive(Debug, Clone)]
pub struct SamlSettings {
    /// The IdP metadata.
    pub metadata: MetadataSource,
    /// Which entity of an `EntitiesDescriptor`.
    pub entity: Option<String>,
    /// Warn when a signing certificate expires within this many days.
    pub warn_days: i64,
}

impl Resolver<'_> {
    /// `[serve]`: `listen` and exactly one of `every` / `cron` are required when the table is
    /// there.
    pub(in crate::config) fn serve(
        &self,
        raw: &Option<Spanned<RawServe>>,
    ) -> Result<Option<ServeSettings>, ConfigError> {
        let Some(spanned) = raw else {
            return Ok(None);
        };
        let header = spanned.span().start;
        let raw = spanned.get_ref();
        let listen = match &raw.listen {
            None => {
                return self.invalid(
                    header,
                    "serve.listen",
                    "`[serve]` needs `listen`, the address of /healthz, /readyz and /metrics, \
                     e.g. listen = \"0.0.0.0:8080\" (or \"127.0.0.1:8080\" for this machine only)",
                )
            }
            Some(text) => text.get_ref().parse::<SocketAddr>().or_else(|_| {
                self.invalid(
                    text.span().start,
                    "serve.listen",
                    format!(
                        "`{}` is not an IP address and port such as \"0.0.0.0:8080\" or \
                         \"[::1]:8080\" (host names are not resolved)",
                        text.get_ref()
                    ),
                )
            })?,
        };
        let schedule = self.schedule(raw, header)?;
        let jitter = match &raw.jitter {
            None => Duration::ZERO,
            Some(v) => match duration::parse_duration(v.get_ref()) {
                Some(d) => d,
                None => {
                    return self.invalid(
                        v.span().start,
                        "serve.jitter",
                        format!("`{}` is not a duration; write e.g. \"5m\"", v.get_ref()),
                    )
                }
            },
        };
        let api_token = self
            .secret(&raw.api_token_env, &raw.api_token_file, "serve.api_token")?
            .map(|(source, _)| source);
        let history = self.positive(&raw.history, "serve.history", DEFAULT_HISTORY, MAX_HISTORY)?;
        Ok(Some(ServeSettings {
            listen,
            schedule,
            jitter,
            api_token,
            history: u32::try_from(history).unwrap_or(u32::MAX),
        }))
    }

    fn schedule(&self, raw: &RawServe, header: usize) -> Result<Schedule, ConfigError> {
        match (&raw.every, &raw.cron) {
            (Some(every), Some(_)) => self.invalid(
                every.span().start,
                "serve.every",
                "set either `every` or `cron`, not both",
            ),
            (None, None) => self.invalid(
                header,
                "serve.every",
                "`[serve]` needs a schedule: every = \"1h\", or cron = \"0 7 * * 1-5\" with \
                 timezone = \"Europe/Paris\"",
            ),
            (Some(every), None) => {
                if let Some(zone) = &raw.timezone {
                    return self.invalid(
                        zone.span().start,
                        "serve.timezone",
                        "`timezone` applies to `cron` only; `every` counts from the Unix epoch",
                    );
                }
                match duration::parse_duration(every.get_ref()) {
                    Some(d) if d >= MIN_EVERY => Ok(Schedule::Every(d)),
                    _ => self.invalid(
                        every.span().start,
                        "serve.every",
                        format!(
                            "`{}` is not a duration of at least 1s; write e.g. \"1h\" or \"30m\"",
                            every.get_ref()
                        ),
                    ),
                }
            }
            (None, Some(cron)) => {
                let zone: Tz = match &raw.timezone {
                    None => Tz::UTC,
                    Some(z) => z.get_ref().parse().or_else(|_| {
                        self.invalid(
                            z.span().start,
                            "serve.timezone",
                            format!(
                                "`{}` is not an IANA time zone name such as \"Europe/Paris\" or \
                                 \"UTC\"",
                                z.get_ref()
                            ),
                        )
                    })?,
                };
                Schedule::cron(cron.get_ref(), zone)
                    .or_else(|e| self.invalid(cron.span().start, "serve.cron", e.to_string()))
            }
        }
    }

    /// `[saml]`: `metadata` is a file or an `http(s)://` URL without credentials.
    pub(in crate::config) fn saml(
        &self,
        raw: &Option<Spanned<RawSaml>>,
    ) -> Result<Option<SamlSettings>, ConfigError> {
        let Some(spanned) = raw else {
            return Ok(None);
        };
        let raw = spanned.get_ref();
        let Some(text) = &raw.metadata else {
            return self.invalid(
                spanned.span().start,
                "saml.metadata",
                "`[saml]` needs `metadata`: the IdP metadata file, or its https:// URL",
            );
        };
        let at = text.span().start;
        let value = text.get_ref();
        let metadata = if value.starts_with("http://") || value.starts_with("https://") {
            MetadataSource::Url(self.url(
                value,
                at,
                "saml.metadata",
                &["https", "http"],
                "a URL the IdP publishes without one",
            )?)
        } else {
            MetadataSource::File(self.base.join(value))
        };
        let warn_days = self.in_range(&raw.warn_days, "saml.warn_days", 30, 0, 3650)?;
        Ok(Some(SamlSettings {
            metadata,
            entity: raw.entity.as_ref().map(|e| e.get_ref().clone()),
            warn_days,
        }))
    }
}
