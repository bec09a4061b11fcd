//! Store errors, and the redaction that keeps database passwords out of them.
//!
//! Every message names the store by its URL with any password replaced by `***`. Messages that
//! come from the database driver are passed through [`Redactor::clean`] first, because a driver
//! may echo connection parameters back; errors therefore carry plain, already-cleaned strings
//! rather than the driver's error values (whose `Display`/`Debug` we cannot vouch for).

use std::fmt;

/// What the store failed at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be understood.
    #[error(
        "The store URL `{url}` is not valid: {reason}. Use `sqlite://FILE?mode=rwc`, a plain file \
         path such as `idbridge.db`, or `postgres://USER@HOST:PORT/DATABASE`."
    )]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The folder of the SQLite file does not exist. idbridge creates the database file, never
    /// its folder: a folder that is not there is a mistake in the config (a typo, a relative path
    /// read from another folder, a volume that is not mounted), not an empty store.
    #[error(
        "The folder {folder} of the SQLite store `{url}` does not exist. idbridge creates the \
         database file but not its folder: create the folder, or correct `store.url` (a relative \
         path is relative to the config file's folder)."
    )]
    NoFolder {
        /// The URL (SQLite URLs carry no password).
        url: String,
        /// The missing folder, absolute.
        folder: String,
    },

    /// Connecting to the database failed.
    #[error("Could not connect to the store at `{url}`: {detail}. {hint}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// The driver's message, password redacted.
        detail: String,
        /// What to check, for this backend.
        hint: &'static str,
    },

    /// Running the embedded migrations failed.
    #[error(
        "Running the {backend} migrations on the store at `{url}` failed: {detail}. The schema was \
         left as it was before the failing migration; fix the cause (permissions, a database \
         changed by hand) and run `idbridge migrate` again."
    )]
    Migrate {
        /// The URL, password redacted.
        url: String,
        /// `SQLite` or `PostgreSQL`.
        backend: &'static str,
        /// The driver's message, password redacted.
        detail: String,
    },

    /// A query failed.
    #[error(
        "The store at `{url}` could not {operation} (table `{table}`): {detail}. If the schema is \
         missing or old, run `idbridge migrate`; otherwise check the database's health and \
         permissions."
    )]
    Query {
        /// The URL, password redacted.
        url: String,
        /// What was being done, e.g. `record a pending operation`.
        operation: &'static str,
        /// The table involved.
        table: &'static str,
        /// The driver's message, password redacted.
        detail: String,
    },

    /// The database refused a write on a connection of a store opened with
    /// [`super::Store::open_read_only`] (its [`super::StoreRead`] has no method that writes; this
    /// is the database's own line of defence).
    #[error(
        "The store at `{url}` was opened read-only (as `plan`, `check-config` and the reports do), \
         so the database refused to {operation}. This is a bug in idbridge: a read-only command \
         tried to write. Please report it; the store was not changed."
    )]
    ReadOnly {
        /// The URL, password redacted.
        url: String,
        /// What was refused.
        operation: &'static str,
    },

    /// A SCIM id is already linked to another source key on the same target.
    #[error("{0}")]
    ScimIdTaken(Box<ScimIdConflict>),

    /// No run has this id.
    #[error(
        "The store at `{url}` has no run with id {id} (table `runs`), so it could not {operation}. \
         Start the run with `start_run` and use the id it returns."
    )]
    RunNotFound {
        /// The URL, password redacted.
        url: String,
        /// The missing id.
        id: i64,
        /// What was being done.
        operation: &'static str,
    },

    /// No journal entry has this id.
    #[error(
        "The store at `{url}` has no journal entry with id {id} (table `operations`), so it could \
         not mark it `{wanted}`. Record it with `journal_pending` first and use the id it returns."
    )]
    OperationNotFound {
        /// The URL, password redacted.
        url: String,
        /// The missing id.
        id: i64,
        /// The status that was to be set.
        wanted: &'static str,
    },

    /// A journal entry is already final (`done` or `skipped`).
    #[error(
        "The store at `{url}` refused to mark journal entry {id} `{wanted}` (table `operations`): \
         it is already `{status}`, which is final. Record a new operation instead of rewriting \
         history."
    )]
    OperationFinal {
        /// The URL, password redacted.
        url: String,
        /// The entry's id.
        id: i64,
        /// Its current status.
        status: String,
        /// The status that was to be set.
        wanted: &'static str,
    },

    /// No link exists for the key.
    #[error(
        "The store at `{url}` has no {kind} link for `{key}` on target `{target_name}` (table \
         `links`), so it could not {operation}. Create the link with `upsert_link` first."
    )]
    LinkNotFound {
        /// The URL, password redacted.
        url: String,
        /// The target's configured name.
        target_name: String,
        /// `user` or `group`.
        kind: &'static str,
        /// The source key.
        key: String,
        /// What was being done.
        operation: &'static str,
    },

    /// A stored value could not be read back.
    #[error(
        "The store at `{url}` holds a value it cannot read in table `{table}`, column `{column}`: \
         `{value}` ({reason}). The row was probably written by hand or by another program; correct \
         or delete it."
    )]
    Corrupt {
        /// The URL, password redacted.
        url: String,
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Another run holds the run lock of this target on this store.
    #[error(
        "Another idbridge run holds the run lock for target `{target_name}` on the store at \
         `{url}`: {holder}. This run stopped before reading the target and wrote nothing. Runs of \
         one target take turns: let that run finish (a scheduler can try again at its next slot). \
         A run that was killed releases the lock by itself."
    )]
    Locked {
        /// The URL, password redacted.
        url: String,
        /// The target's configured name.
        target_name: String,
        /// Who holds it, as far as it recorded (see [`super::LockHolder`]).
        holder: String,
    },

    /// Another process kept the store's migration lock for too long.
    #[error(
        "Another process has been upgrading the schema of the store at `{url}` for more than \
         {waited_secs}s (it holds `{path}`), so this run stopped without writing anything. Let it \
         finish, then run again."
    )]
    MigrationBusy {
        /// The URL, password redacted.
        url: String,
        /// The migration lock file.
        path: String,
        /// How long this run waited.
        waited_secs: u64,
    },

    /// The lock file beside a SQLite database could not be used.
    #[error(
        "The run lock file `{path}` of the store at `{url}` could not be used: {detail}. idbridge \
         keeps its lock files beside the database file: check that the directory is writable by \
         this user and is on a local file system."
    )]
    LockFile {
        /// The URL, password redacted.
        url: String,
        /// The lock file.
        path: String,
        /// The OS error.
        detail: String,
    },
}

/// The details of [`Error::ScimIdTaken`] (boxed to keep `Error` small).
#[derive(Debug)]
pub struct ScimIdConflict {
    /// The URL, password redacted.
    pub url: String,
    /// The target's configured name.
    pub target_name: String,
    /// `user` or `group`.
    pub kind: &'static str,
    /// The contested SCIM id.
    pub scim_id: String,
    /// The key that was being linked.
    pub key: String,
    /// The key that already holds the id (`unknown` if it could not be read back).
    pub holder: String,
}

impl fmt::Display for ScimIdConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            url,
            target_name,
            kind,
            scim_id,
            key,
            holder,
        } = self;
        write!(
            f,
            "The store at `{url}` refused to link SCIM {kind} id `{scim_id}` on target \
             `{target_name}` to `{key}`: that id is already linked to `{holder}`, and one SCIM \
             resource can belong to one source record only. Delete or correct the existing link \
             first (two source records probably map to the same target {kind})."
        )
    }
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether the store itself failed (unreachable, a query or a migration failed, a lock file
    /// that cannot be used): something outside idbridge's config and input, which a later run may
    /// not meet. The CLI exits 3 for these.
    pub fn is_environment(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Migrate { .. }
            | Error::Query { .. }
            | Error::LockFile { .. } => true,
            Error::InvalidUrl { .. }
            | Error::NoFolder { .. }
            | Error::ReadOnly { .. }
            | Error::ScimIdTaken(_)
            | Error::RunNotFound { .. }
            | Error::OperationNotFound { .. }
            | Error::OperationFinal { .. }
            | Error::LinkNotFound { .. }
            | Error::Corrupt { .. }
            | Error::Locked { .. }
            | Error::MigrationBusy { .. } => false,
        }
    }

    /// Whether the store URL in the config is wrong, or names a folder that is not there (the
    /// CLI exits 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::InvalidUrl { .. } | Error::NoFolder { .. })
    }

    /// Whether another run holds a lock this run needs (the CLI exits 4).
    pub fn is_lock_held(&self) -> bool {
        matches!(self, Error::Locked { .. } | Error::MigrationBusy { .. })
    }
}

/// Knows the secrets in one store URL and removes them from text.
#[derive(Clone)]
pub(crate) struct Redactor {
    /// The URL with every secret replaced by `***`.
    url: String,
    /// Secret values (raw and percent-decoded) to scrub from driver messages.
    secrets: Vec<String>,
}

// A hand-written Debug so that the secrets can never be printed by accident.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The mask written in place of a secret.
const MASK: &str = "***";

impl Redactor {
    /// Find the password in `url` (userinfo or a `password=` query parameter) and remember it.
    ///
    /// Parsing is by hand rather than with `url::Url` so that malformed URLs, which are exactly the
    /// ones that end up in error messages, are still redacted.
    pub(crate) fn new(url: &str) -> Self {
        let mut secrets = Vec::new();
        let mut out = url.to_owned();

        // userinfo password: scheme://user:PASSWORD@host...
        if let Some(scheme_end) = out.find("://") {
            let rest_start = scheme_end + 3;
            // The authority ends at the query; a password may (wrongly, unencoded) contain '/' or
            // '@', so take the last '@' before any '?' as the end of the userinfo.
            let query_start = out[rest_start..]
                .find('?')
                .map_or(out.len(), |i| rest_start + i);
            if let Some(at) = out[rest_start..query_start].rfind('@') {
                let at = rest_start + at;
                if let Some(colon) = out[rest_start..at].find(':') {
                    let colon = rest_start + colon;
                    let secret = out[colon + 1..at].to_owned();
                    if !secret.is_empty() {
                        secrets.push(secret);
                        out.replace_range(colon + 1..at, MASK);
                    }
                }
            }
        }

        // query parameters such as `password=` or `sslpassword=`
        if let Some(q) = out.find('?') {
            let (head, query) = out.split_at(q + 1);
            let cleaned: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, value))
                        if key.to_ascii_lowercase().contains("password") && !value.is_empty() =>
                    {
                        secrets.push(value.to_owned());
                        format!("{key}={MASK}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out = format!("{head}{}", cleaned.join("&"));
        }

        // Drivers see the percent-decoded password, so scrub that spelling too.
        let decoded: Vec<String> = secrets
            .iter()
            .map(|s| percent_decode(s))
            .filter(|d| !secrets.contains(d))
            .collect();
        secrets.extend(decoded);
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));

        Self { url: out, secrets }
    }

    /// The URL with secrets masked.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// `text` with every known secret masked.
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if !secret.is_empty() {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    /// A driver error as a cleaned, one-line message.
    pub(crate) fn detail(&self, err: &sqlx::Error) -> String {
        self.clean(&err.to_string())
    }
}

/// Decode `%XX` escapes as the drivers do; invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_password_is_masked() {
        let r = Redactor::new("postgres://admin:SeCrEt@db.example:5432/idb");
        assert_eq!(r.url(), "postgres://admin:***@db.example:5432/idb");
        assert_eq!(r.clean("auth failed for SeCrEt"), "auth failed for ***");
    }

    #[test]
    fn query_password_is_masked() {
        let r = Redactor::new("postgres://db/idb?user=a&password=Hunter2&sslmode=require");
        assert_eq!(
            r.url(),
            "postgres://db/idb?user=a&password=***&sslmode=require"
        );
        assert!(!r.clean("x Hunter2 y").contains("Hunter2"));
    }

    #[test]
    fn percent_encoded_password_is_masked_in_both_spellings() {
        let r = Redactor::new("postgres://u:p%40ss%2Fword@h/d");
        assert_eq!(r.url(), "postgres://u:***@h/d");
        assert_eq!(r.clean("p@ss/word and p%40ss%2Fword"), "*** and ***");
    }

    #[test]
    fn malformed_url_is_still_masked() {
        let r = Redactor::new("postgres://u:pa ss@wo/rd@host:notaport/d");
        assert_eq!(r.url(), "postgres://u:***@host:notaport/d");
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        for url in [
            "sqlite://idbridge.db?mode=rwc",
            "idbridge.db",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ] {
            assert_eq!(Redactor::new(url).url(), url);
        }
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let r = Redactor::new("postgres://u:TopSecret@h/d");
        assert!(!format!("{r:?}").contains("TopSecret"));
    }
}
