//! Reading the config file: bounded (a regular file of at most [`MAX_CONFIG_BYTES`]), parsed in
//! two stages (serde's [`super::raw`], then [`Resolver`]), and every error scrubbed of secrets
//! ([`redact::Scrubber`]) before it leaves.

use super::notion::NotionSettings;
use super::raw::source::read_sources;
use super::raw::{Raw, RawNotionOnly, RawServeOnly, RawStoreOnly};
use super::resolve::Resolver;
use super::{redact, toml_error, ConfigError, Settings};
use secrecy::SecretString;
use std::path::{Path, PathBuf};

/// The most a config file may hold: 1 MiB. A real one is a few kilobytes; the bound keeps a wrong
/// `--config` (`/dev/zero`, a log file) from filling memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Load and resolve the config file at `path`. Relative paths in it (the store's SQLite file
/// included) resolve against the file's folder, made absolute, so a run started from any working
/// directory reads the same files.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let (text, base) = read_config(path)?;
    parse(&text, path, &base)
}

/// Only the store URL of the config file at `path`: the `[store]` table is resolved (its own
/// secret included), every other table is neither validated nor resolved, so no other secret
/// is read (`saml check-*` need the store and nothing else). Read and anchored like [`load`].
pub fn load_store_url(path: &Path) -> Result<SecretString, ConfigError> {
    let (text, base) = read_config(path)?;
    let resolved = match toml::from_str::<RawStoreOnly>(&text) {
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

/// Only `[serve] listen` of the config file at `path` (`healthcheck`): `[serve]` is resolved,
/// nothing else is read, and no secret.
pub fn load_serve_listen(path: &Path) -> Result<std::net::SocketAddr, ConfigError> {
    let (text, base) = read_config(path)?;
    let cx = Resolver {
        text: &text,
        path,
        base: &base,
    };
    let resolved = match toml::from_str::<RawServeOnly>(&text) {
        Ok(raw) => cx.serve(&raw.serve).and_then(|serve| match serve {
            Some(serve) => Ok(serve.listen),
            None => cx.invalid(
                0,
                "serve.listen",
                "there is no [serve] table, so no address to ask; pass --url",
            ),
        }),
        Err(e) => Err(toml_error::convert(&e, &text, path)),
    };
    resolved.map_err(|e| e.scrubbed(&redact::Scrubber::new(&text)))
}

/// Only the `[notion]` table of the config file at `path` (`None` when it has none): the
/// integration token is read, no other table's secret is. Read and anchored like [`load`].
pub fn load_notion(path: &Path) -> Result<Option<NotionSettings>, ConfigError> {
    let (text, base) = read_config(path)?;
    let resolved = match toml::from_str::<RawNotionOnly>(&text) {
        Ok(raw) => Resolver {
            text: &text,
            path,
            base: &base,
        }
        .notion(raw.notion.as_ref()),
        Err(e) => Err(toml_error::convert(&e, &text, path)),
    };
    resolved.map_err(|e| e.scrubbed(&redact::Scrubber::new(&text)))
}

/// The text of the config file at `path` and its folder, absolute (relative paths in the file
/// are anchored to it).
fn read_config(path: &Path) -> Result<(String, PathBuf), ConfigError> {
    let text = read_bounded(path, MAX_CONFIG_BYTES, "a config file").map_err(|reason| {
        ConfigError::Read {
            path: path.to_owned(),
            reason,
        }
    })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let base = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((text, base))
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
    let cx = Resolver { text, path, base };
    let resolved = match toml::from_str::<Raw>(text) {
        // Every serde error comes before any resolving error, as in one pass: the sources are
        // read (by kind) before anything is resolved.
        Ok(raw) => read_sources(&cx).and_then(|sources| cx.resolve(raw, &sources)),
        Err(e) => Err(toml_error::convert(&e, text, path)),
    };
    resolved.map_err(|e| e.scrubbed(&redact::Scrubber::new(text)))
}
