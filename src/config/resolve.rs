//! Resolving the raw tables into [`Settings`]: the order of the sections, and the checks every
//! section shares (an error at a byte offset's line, fixed spellings, bounded numbers, durations,
//! secrets, URLs without credentials, templates). Each section resolves in its own file
//! (`store`, `target`, `source::*`, `policy`, `mapping`).

use super::raw::{Raw, RawSource};
use super::secrets::{self, SecretSource};
use super::{duration, redact, ConfigError, Settings, SourceSettings};
use crate::mapping::template::Template;
use secrecy::SecretString;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// The accepted spellings of a fixed-choice key, for messages: `"a", "b", "c"`.
pub(in crate::config) fn spellings<T>(options: &[(&str, T)]) -> String {
    options
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every variant of an enum whose spellings strum derives, with its spelling, as
/// [`Resolver::pick`] takes them: the list cannot miss a variant.
pub(in crate::config) fn choices<T>() -> Vec<(&'static str, T)>
where
    T: strum::IntoEnumIterator + Into<&'static str> + Copy,
{
    T::iter().map(|v| (v.into(), v)).collect()
}

/// What resolving needs besides the raw tables: the text (to turn byte offsets into lines), the
/// file's path (for messages) and its folder (absolute, to anchor relative paths).
pub(in crate::config) struct Resolver<'a> {
    /// The config text.
    pub text: &'a str,
    /// The config file, as given.
    pub path: &'a Path,
    /// Its folder, absolute.
    pub base: &'a Path,
}

impl Resolver<'_> {
    pub(in crate::config) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    pub(in crate::config) fn invalid<T>(
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
    pub(in crate::config) fn header_offset(&self, header: &str) -> usize {
        self.text.find(header).unwrap_or(0)
    }

    pub(in crate::config) fn secret(
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
    pub(in crate::config) fn choice<T: Copy>(
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
    pub(in crate::config) fn pick<T: Copy>(
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

    /// An optional secret given as `<key>_env` or `<key>_file`.
    pub(in crate::config) fn optional_secret(
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

    pub(in crate::config) fn read_secret(
        &self,
        source: &SecretSource,
        at: usize,
        key: &str,
    ) -> Result<SecretString, ConfigError> {
        secrets::read(source).or_else(|e| self.invalid(at, key, e.to_string()))
    }

    pub(in crate::config) fn duration(
        &self,
        value: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => match duration::parse_duration(v.get_ref()) {
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

    pub(in crate::config) fn positive(
        &self,
        value: &Option<Spanned<i64>>,
        key: &str,
        default: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        self.in_range(value, key, default, 1, max)
    }

    pub(in crate::config) fn in_range(
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

    /// A URL of one of `schemes`, with a host and no credential in it. Credentials come from
    /// `*_env` / `*_file` (`advice`): a URL shows in messages, logs and plan files. The check
    /// runs on the raw text first, so even a URL too broken to parse is never echoed with one.
    pub(in crate::config) fn url(
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

    pub(in crate::config) fn template(
        &self,
        text: &Spanned<String>,
        key: &str,
    ) -> Result<Template, ConfigError> {
        Template::compile(text.get_ref()).or_else(|e| {
            self.invalid(
                text.span().start,
                key,
                format!("template `{}`: {e}", text.get_ref()),
            )
        })
    }

    /// `message` as an error at `at` when `check` failed.
    pub(in crate::config) fn checked(
        &self,
        check: Result<(), String>,
        at: usize,
        key: &str,
    ) -> Result<(), ConfigError> {
        check.or_else(|message| self.invalid(at, key, message))
    }

    /// Every section, in the order errors are looked for: store, target, sources (each name once),
    /// policy, then the mapping, which checks names against what the sources provide.
    pub(in crate::config) fn resolve(
        &self,
        raw: Raw,
        raw_sources: &[Spanned<RawSource>],
    ) -> Result<Settings, ConfigError> {
        let store_url = self.store_url(&raw.store)?;
        let store_retention = self.retention(&raw.store)?;
        let target = self.target(&raw.target)?;
        let mut sources = Vec::new();
        let mut names = BTreeSet::new();
        for (i, source) in raw_sources.iter().enumerate() {
            let resolved = self.source(i, source)?;
            if !names.insert(resolved.name().to_owned()) {
                return self.invalid(
                    source.get_ref().name().span().start,
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
        let mut target = target;
        let mut policy = self.policy(&raw.policy, &target)?;
        policy.gates = self.gates(raw.policy.gates.as_ref(), &names)?;
        let mapping = self.mapping(&raw, raw_sources, &sources)?;
        let roles = self.roles(raw.roles.as_ref(), &target, &sources, &mut policy)?;
        target.manage_roles = roles.is_some();
        for source in &mut sources {
            if let SourceSettings::Ldap(l) = source {
                let keep = super::names::ldap_kept(l, &mapping, roles.as_ref(), &policy.gates);
                l.keep = Some(keep);
            }
        }
        let serve = self.serve(&raw.serve)?;
        let saml = self.saml(&raw.saml)?;
        let alerts = self.alerts(&raw.alerts, raw.notion.is_some())?;
        Ok(Settings {
            path: self.path.to_owned(),
            store_url,
            store_retention,
            target,
            sources,
            policy,
            mapping,
            serve,
            saml,
            alerts,
            roles,
        })
    }
}
