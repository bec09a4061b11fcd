//! `[store]`: the store URL (a secret when it carries a password, its relative SQLite path
//! anchored to the config file's folder) and `retention`.

use super::raw::RawStore;
use super::resolve::Resolver;
use super::{duration, redact, ConfigError};
use crate::store;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Default store: a SQLite file beside the config file, created on first write.
pub const DEFAULT_STORE_URL: &str = store::DEFAULT_URL;

impl Resolver<'_> {
    /// The store URL, its relative SQLite path made absolute against the config file's folder.
    pub(in crate::config) fn store_url(&self, raw: &RawStore) -> Result<SecretString, ConfigError> {
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

    /// `retention`: `None` keeps everything (docs/config.md, "Durations").
    pub(in crate::config) fn retention(
        &self,
        raw: &RawStore,
    ) -> Result<Option<Duration>, ConfigError> {
        match &raw.retention {
            None => Ok(None),
            Some(v) => duration::parse_retention(v.get_ref())
                .or_else(|why| self.invalid(v.span().start, "store.retention", why)),
        }
    }
}
