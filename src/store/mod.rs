//! The store: runs, the operation journal, links (source person ↔ SCIM id), attribute snapshots
//! and the record of journal prunes, in SQLite (default, `sqlite://idbridge.db?mode=rwc`) or
//! PostgreSQL.
//!
//! One [`Store`] serves both backends through `sqlx::AnyPool`, so every query is written once,
//! with `$1, $2, …` placeholders (SQLite accepts them as numbered parameters). To keep one text
//! working on both, booleans and integers are `BIGINT`/`INTEGER` (`i64`) and instants are RFC 3339
//! `TEXT` in UTC with microseconds (`2026-11-27T10:00:00.000000Z`), which also sorts correctly as
//! text. The store never reads the clock: every instant is an argument.
//!
//! Migrations are embedded at compile time from `migrations/sqlite` and `migrations/postgres`, so
//! the binary works from any directory; [`Store::migrate`] applies them, one process at a time.
//!
//! Writing runs take the run lock of their target first ([`Store::lock_run`], module `lock`), so
//! a run still marked `running` when the lock is free belongs to a process that died;
//! [`Store::abort_dead_runs`] closes such runs out.
//!
//! Read-only use (`plan`, `check-config`): [`Store::open_read_only`] returns `Ok(None)` when there
//! is nothing to read yet (a missing SQLite file in a folder that exists, or a database whose
//! migrations never ran), and a store that refuses every write otherwise. The refusal is enforced
//! twice: by the store itself, with a clear [`Error::ReadOnly`], and by the database (`mode=ro`
//! for SQLite, read-only transactions for PostgreSQL).
//!
//! Both opens log (info) where the store is: the SQLite file as an absolute path, or the
//! PostgreSQL URL with its password masked. [`resolve_path`] anchors a relative SQLite path to a
//! folder (config does it with the config file's folder).

mod error;
mod journal;
mod links;
mod lock;
mod prune;
mod runs;
mod saml;
mod snapshots;

pub use error::{Error, Result, ScimIdConflict};
pub use journal::{NewOperation, OperationId, OperationRecord, OperationStatus};
pub use links::{Link, LinkKind, LinkOrigin, LinkState};
pub use lock::{LockHolder, RunLock};
pub use prune::{PruneReason, PruneRecord, PruneRequest};
pub use runs::{
    AbortedRun, JournalCounts, NewRun, RunId, RunOrigin, RunRecord, RunStatus, RunTrigger,
    ScimCounts, Window,
};
pub use saml::{SamlCheckRecord, UserLinkState};
pub use snapshots::Snapshot;

use chrono::{DateTime, SecondsFormat, Utc};
use error::Redactor;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, ConnectOptions, Connection, Row};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The default store URL: a SQLite file in the working directory, created on first use.
pub const DEFAULT_URL: &str = "sqlite://idbridge.db?mode=rwc";

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Backend {
    /// The product name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

impl Backend {
    /// What to check when connecting fails.
    fn connect_hint(self) -> &'static str {
        match self {
            Backend::Sqlite => {
                "Check that the file's directory exists and is writable, and that the file is a \
                 SQLite database."
            }
            Backend::Postgres => {
                "Check that the server is running and reachable, and that the database, user and \
                 password in the URL are right."
            }
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A handle on the store. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    redactor: Redactor,
    read_only: bool,
    /// The SQLite database file (lock files live beside it); `None` for PostgreSQL and in-memory.
    sqlite_file: Option<PathBuf>,
}

// By hand: the pool's own Debug prints the connect options, which include the password.
impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.redactor.url())
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// How long to wait for a pooled connection. The first connection is made directly in `open`, so
/// an unreachable server fails at once with the driver's reason instead of after this.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// A parsed store URL.
struct Target {
    backend: Backend,
    /// The URL handed to sqlx.
    sqlx_url: String,
    /// For a SQLite file: its path (to check existence without creating it).
    sqlite_file: Option<PathBuf>,
    /// An in-memory SQLite database: each connection would see its own, so the pool keeps one.
    in_memory: bool,
}

impl Target {
    /// Where the store is, for logs: the SQLite file as an absolute path, or the PostgreSQL URL
    /// with its password masked.
    fn location(&self, redactor: &Redactor) -> String {
        match &self.sqlite_file {
            Some(file) => std::path::absolute(file)
                .unwrap_or_else(|_| file.clone())
                .display()
                .to_string(),
            None if self.in_memory => "SQLite in memory".to_owned(),
            None => redactor.url().to_owned(),
        }
    }

    /// A SQLite file's folder must exist: idbridge creates the file, never the folder, so a
    /// missing folder is a wrong path (exit 2), not an empty store.
    fn check_folder(&self, redactor: &Redactor) -> Result<()> {
        let Some(folder) = self.sqlite_file.as_deref().and_then(Path::parent) else {
            return Ok(());
        };
        if folder.as_os_str().is_empty() || folder.is_dir() {
            return Ok(());
        }
        Err(Error::NoFolder {
            url: redactor.url().to_owned(),
            folder: std::path::absolute(folder)
                .unwrap_or_else(|_| folder.to_path_buf())
                .display()
                .to_string(),
        })
    }
}

/// The store URL with a relative SQLite path made absolute against `base` (the config file's
/// folder, itself absolute), so a scheduled run started from any working directory opens the same
/// file. PostgreSQL URLs, in-memory databases and absolute paths come back unchanged. Every form
/// [`Store::open`] accepts is understood: `sqlite://PATH?…`, `sqlite:PATH?…` and a plain path.
/// `None` when the path is relative and `base` is not valid UTF-8 (a URL cannot spell it).
pub fn resolve_path(url: &str, base: &Path) -> Option<String> {
    let text = url.trim();
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Some(url.to_owned());
    }
    match strip_prefix_ci(text, "sqlite://").or_else(|| strip_prefix_ci(text, "sqlite:")) {
        Some(rest) => {
            let (db, query) = match rest.split_once('?') {
                Some((db, query)) => (db, Some(query)),
                None => (rest, None),
            };
            let in_memory =
                db == ":memory:" || query.is_some_and(|q| q.split('&').any(|p| p == "mode=memory"));
            if db.is_empty() || in_memory || Path::new(&percent_decode_path(db)).is_absolute() {
                return Some(url.to_owned());
            }
            // The path part of a URL is percent-encoded; the folder must be spelled the same way.
            let folder = encode_path(base.to_str()?);
            let folder = folder.trim_end_matches('/');
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            Some(format!("sqlite://{folder}/{db}{query}"))
        }
        None if text.is_empty()
            || text.contains("://")
            || text == ":memory:"
            || Path::new(text).is_absolute() =>
        {
            Some(url.to_owned())
        }
        None => base.join(text).to_str().map(str::to_owned),
    }
}

/// The outcome of connecting.
enum Connected {
    /// Connected; the pool is ready.
    Open(Store),
    /// The server answered that the database does not exist (redacted URL).
    NoDatabase(String),
}

/// Whether the store is opened for writing or for reading only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    ReadWrite,
    ReadOnly,
}

impl Store {
    /// Open for writing; SQLite files are created on first use (`sqlite://idbridge.db?mode=rwc`
    /// is the default URL; a plain path like `idbridge.db` or `sqlite:idbridge.db` also works and
    /// means `mode=rwc` unless the URL says otherwise). Does not run migrations: call
    /// [`Store::migrate`].
    pub async fn open(url: &str) -> Result<Store> {
        let redactor = Redactor::new(url);
        let target = parse_url(url, Mode::ReadWrite, &redactor)?;
        target.check_folder(&redactor)?;
        tracing::info!(
            store = %target.location(&redactor),
            backend = %target.backend,
            "opening the store"
        );
        match Self::connect(target, redactor, Mode::ReadWrite).await? {
            Connected::Open(store) => Ok(store),
            // Only reported for read-only opens; kept exhaustive rather than unreachable.
            Connected::NoDatabase(url) => Err(Error::Connect {
                url,
                detail: "the database does not exist".into(),
                hint: Backend::Postgres.connect_hint(),
            }),
        }
    }

    /// Open without writing or creating anything, for `plan` and `check-config`.
    ///
    /// Returns `Ok(None)` ("no links yet") when there is nothing to read: the SQLite file does not
    /// exist (it is not created; its folder must exist, see [`Error::NoFolder`]), the PostgreSQL database does not exist, or the database exists
    /// but its migrations never ran (no `links` table). The PostgreSQL server itself must be
    /// reachable: an unreachable server or a refused login is an error. Otherwise the store reads
    /// normally and refuses every write with [`Error::ReadOnly`].
    pub async fn open_read_only(url: &str) -> Result<Option<Store>> {
        let redactor = Redactor::new(url);
        let target = parse_url(url, Mode::ReadOnly, &redactor)?;
        target.check_folder(&redactor)?;
        let location = target.location(&redactor);
        if let Some(path) = &target.sqlite_file {
            if !path.exists() {
                tracing::info!(store = %location, "no SQLite store there yet: no links yet");
                return Ok(None);
            }
        }
        tracing::info!(
            store = %location,
            backend = %target.backend,
            "opening the store read-only"
        );
        let store = match Self::connect(target, redactor, Mode::ReadOnly).await? {
            Connected::Open(store) => store,
            Connected::NoDatabase(_) => return Ok(None),
        };
        if store.schema_present().await? {
            Ok(Some(store))
        } else {
            store.close().await;
            Ok(None)
        }
    }

    /// Make the first connection directly (to get the driver's reason when it fails), then set up
    /// the pool.
    async fn connect(target: Target, redactor: Redactor, mode: Mode) -> Result<Connected> {
        let read_only = mode == Mode::ReadOnly;
        let sqlite_file = target.sqlite_file.clone().filter(|_| !target.in_memory);
        sqlx::any::install_default_drivers();
        let connect_err = |detail: String| Error::Connect {
            url: redactor.url().to_owned(),
            detail,
            hint: target.backend.connect_hint(),
        };
        let options =
            AnyConnectOptions::from_str(&target.sqlx_url).map_err(|e| Error::InvalidUrl {
                url: redactor.url().to_owned(),
                reason: redactor.detail(&e),
            })?;
        let probe = match options.connect().await {
            Ok(probe) => probe,
            // PostgreSQL `invalid_catalog_name`: the database was never created. For a read-only
            // open that is "no links yet", like a missing SQLite file.
            Err(sqlx::Error::Database(db))
                if read_only && db.code().as_deref() == Some("3D000") =>
            {
                return Ok(Connected::NoDatabase(redactor.url().to_owned()));
            }
            Err(e) => return Err(connect_err(redactor.detail(&e))),
        };
        // The probe only proves the database is reachable; a failed goodbye changes nothing.
        let _ = probe.close().await;

        let max = if target.in_memory {
            1
        } else {
            match target.backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            }
        };
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if target.in_memory {
            pool_options = pool_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        if read_only && target.backend == Backend::Postgres {
            // The database enforces read-only too, in case a future query forgets the check.
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            });
        }
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| connect_err(redactor.detail(&e)))?;
        Ok(Connected::Open(Store {
            pool,
            backend: target.backend,
            redactor,
            read_only,
            sqlite_file,
        }))
    }

    /// Whether the schema exists (the `links` table is there).
    async fn schema_present(&self) -> Result<bool> {
        // Catalog queries differ per backend; they are the only backend-specific texts.
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'links'"
            }
            Backend::Postgres => "SELECT to_regclass('links')::text AS name",
        };
        let row = sqlx::query(sql)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.query_err("look for the schema", "links", &e))?;
        match row {
            None => Ok(false),
            Some(row) => {
                let name: Option<String> = self.get(&row, "links", "name")?;
                Ok(name.is_some())
            }
        }
    }

    /// Run the embedded migrations of this backend. Idempotent: applied migrations are skipped.
    /// Safe to start from several processes at once: they take turns (module `lock`), and the
    /// later ones find nothing left to do.
    pub async fn migrate(&self) -> Result<()> {
        self.check_writable("run migrations")?;
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        let _turn = self.lock_migrations().await?;
        migrator.run(&self.pool).await.map_err(|e| Error::Migrate {
            url: self.redactor.url().to_owned(),
            backend: self.backend.name(),
            detail: self.redactor.clean(&e.to_string()),
        })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The store URL with any password masked, for messages and reports.
    pub fn redacted_url(&self) -> &str {
        self.redactor.url()
    }

    /// Check that the database answers (for `check-config` and readiness probes).
    pub async fn ping(&self) -> Result<()> {
        let connect_err = |e: sqlx::Error| Error::Connect {
            url: self.redactor.url().to_owned(),
            detail: self.redactor.detail(&e),
            hint: self.backend.connect_hint(),
        };
        let mut conn = self.pool.acquire().await.map_err(connect_err)?;
        conn.ping().await.map_err(connect_err)
    }

    /// Close every connection; later calls fail. Useful before deleting the database.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- helpers shared by the table modules ----

    /// Refuse `operation` on a read-only store.
    fn check_writable(&self, operation: &'static str) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly {
                url: self.redactor.url().to_owned(),
                operation,
            })
        } else {
            Ok(())
        }
    }

    /// A driver error during `operation` on `table`.
    fn query_err(&self, operation: &'static str, table: &'static str, err: &sqlx::Error) -> Error {
        // A write that reached a read-only database (the second line of defence) reads better as
        // a refusal than as a driver error.
        if self.read_only {
            if let sqlx::Error::Database(db) = err {
                let msg = db.message().to_ascii_lowercase();
                if msg.contains("read-only") || msg.contains("readonly") {
                    return Error::ReadOnly {
                        url: self.redactor.url().to_owned(),
                        operation,
                    };
                }
            }
        }
        Error::Query {
            url: self.redactor.url().to_owned(),
            operation,
            table,
            detail: self.redactor.detail(err),
        }
    }

    /// Read column `column` of `row`.
    fn get<'r, T>(&self, row: &'r AnyRow, table: &'static str, column: &'static str) -> Result<T>
    where
        T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        row.try_get(column)
            .map_err(|e| self.query_err("read a row", table, &e))
    }

    /// Read an RFC 3339 instant from `column`.
    fn get_time(
        &self,
        row: &AnyRow,
        table: &'static str,
        column: &'static str,
    ) -> Result<DateTime<Utc>> {
        let text: String = self.get(row, table, column)?;
        self.parse_time(&text, table, column)
    }

    /// Read an optional RFC 3339 instant from `column`.
    fn get_opt_time(
        &self,
        row: &AnyRow,
        table: &'static str,
        column: &'static str,
    ) -> Result<Option<DateTime<Utc>>> {
        let text: Option<String> = self.get(row, table, column)?;
        text.map(|t| self.parse_time(&t, table, column)).transpose()
    }

    fn parse_time(
        &self,
        text: &str,
        table: &'static str,
        column: &'static str,
    ) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.corrupt(table, column, text, format!("not an RFC 3339 instant: {e}")))
    }

    fn corrupt(
        &self,
        table: &'static str,
        column: &'static str,
        value: &str,
        reason: String,
    ) -> Error {
        Error::Corrupt {
            url: self.redactor.url().to_owned(),
            table,
            column,
            value: value.to_owned(),
            reason,
        }
    }
}

/// `url` with any password masked, for messages about a store that was not opened.
pub fn redact_url(url: &str) -> String {
    Redactor::new(url).url().to_owned()
}

/// An instant as stored: RFC 3339, UTC, microseconds, `Z`, so text order is time order.
fn fmt_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Understand the accepted URL forms and produce what sqlx needs.
fn parse_url(url: &str, mode: Mode, redactor: &Redactor) -> Result<Target> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: redactor.url().to_owned(),
        reason: reason.to_owned(),
    };
    let url = url.trim();
    if url.is_empty() {
        return Err(invalid("it is empty"));
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Ok(Target {
            backend: Backend::Postgres,
            sqlx_url: url.to_owned(),
            sqlite_file: None,
            in_memory: false,
        });
    }

    // SQLite: `sqlite://PATH?params`, `sqlite:PATH?params`, or a plain path.
    let (db, params): (String, Vec<(String, String)>) = if let Some(rest) =
        strip_prefix_ci(url, "sqlite://").or_else(|| strip_prefix_ci(url, "sqlite:"))
    {
        let (db, query) = rest.split_once('?').unwrap_or((rest, ""));
        let params = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        (db.to_owned(), params)
    } else if url.contains("://") {
        return Err(invalid(
            "only `sqlite:`, `postgres:` and `postgresql:` URLs are supported",
        ));
    } else {
        (encode_path(url), Vec::new())
    };

    let in_memory = db == ":memory:" || params.iter().any(|(k, v)| k == "mode" && v == "memory");
    if db.is_empty() && !in_memory {
        return Err(invalid("it names no SQLite file"));
    }
    let mut params: Vec<(String, String)> = params;
    let has_mode = params.iter().any(|(k, _)| k == "mode");
    if !in_memory {
        match mode {
            // Created on first use unless the URL chose a mode itself.
            Mode::ReadWrite if !has_mode => params.push(("mode".into(), "rwc".into())),
            Mode::ReadWrite => {}
            Mode::ReadOnly => {
                params.retain(|(k, _)| k != "mode");
                params.push(("mode".into(), "ro".into()));
            }
        }
    }
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let sqlx_url = if query.is_empty() {
        format!("sqlite://{db}")
    } else {
        format!("sqlite://{db}?{}", query.join("&"))
    };
    let sqlite_file = if in_memory {
        None
    } else {
        Some(PathBuf::from(percent_decode_path(&db)))
    };
    Ok(Target {
        backend: Backend::Sqlite,
        sqlx_url,
        sqlite_file,
        in_memory,
    })
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    if text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&text[prefix.len()..])
    } else {
        None
    }
}

/// Escape the characters sqlx's SQLite URL parser would misread in a plain path.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            _ => out.push(c),
        }
    }
    out
}

/// Undo `%XX` escapes in a SQLite path, as sqlx does when it opens the file.
fn percent_decode_path(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = [bytes[i + 1], bytes[i + 2]];
            if let Some(b) = std::str::from_utf8(&hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str, mode: Mode) -> Target {
        match parse_url(url, mode, &Redactor::new(url)) {
            Ok(t) => t,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    #[test]
    fn sqlite_url_forms_are_understood() {
        let t = parse("sqlite://idbridge.db?mode=rwc", Mode::ReadWrite);
        assert_eq!(t.backend, Backend::Sqlite);
        assert_eq!(t.sqlx_url, "sqlite://idbridge.db?mode=rwc");
        assert_eq!(t.sqlite_file, Some(PathBuf::from("idbridge.db")));

        let t = parse("idbridge.db", Mode::ReadWrite);
        assert_eq!(t.sqlx_url, "sqlite://idbridge.db?mode=rwc");

        let t = parse("sqlite:idbridge.db", Mode::ReadWrite);
        assert_eq!(t.sqlx_url, "sqlite://idbridge.db?mode=rwc");

        let t = parse("/tmp/a b?.db", Mode::ReadWrite);
        assert_eq!(t.sqlx_url, "sqlite:///tmp/a b%3F.db?mode=rwc");
        assert_eq!(t.sqlite_file, Some(PathBuf::from("/tmp/a b?.db")));
    }

    #[test]
    fn relative_sqlite_paths_resolve_against_the_base_folder() {
        let base = Path::new("/etc/idbridge");
        let cases = [
            (
                "sqlite://idbridge.db?mode=rwc",
                "sqlite:///etc/idbridge/idbridge.db?mode=rwc",
            ),
            ("sqlite:state/x.db", "sqlite:///etc/idbridge/state/x.db"),
            ("SQLite://x.db", "sqlite:///etc/idbridge/x.db"),
            ("x.db", "/etc/idbridge/x.db"),
            ("./a b?.db", "/etc/idbridge/./a b?.db"),
            // Unchanged: absolute paths, memory, PostgreSQL, what is no store at all.
            ("sqlite:///var/lib/x.db", "sqlite:///var/lib/x.db"),
            ("sqlite:/var/lib/x.db", "sqlite:/var/lib/x.db"),
            ("/var/lib/x.db", "/var/lib/x.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite://mem?mode=memory", "sqlite://mem?mode=memory"),
            (":memory:", ":memory:"),
            ("postgres://u@h/d", "postgres://u@h/d"),
            ("mysql://h/d", "mysql://h/d"),
        ];
        for (url, want) in cases {
            assert_eq!(resolve_path(url, base).as_deref(), Some(want), "{url}");
        }
        // A folder with characters a URL path reserves is escaped, so sqlx opens that folder.
        let odd = Path::new("/srv/a%b?c#d");
        let url = resolve_path("sqlite://x.db", odd).unwrap_or_default();
        assert_eq!(url, "sqlite:///srv/a%25b%3Fc%23d/x.db");
        assert_eq!(
            parse(&url, Mode::ReadWrite).sqlite_file,
            Some(PathBuf::from("/srv/a%b?c#d/x.db"))
        );
    }

    #[test]
    fn a_missing_folder_is_a_usage_error_and_a_missing_file_is_not() {
        let dir = std::env::temp_dir();
        let missing = dir.join("idbridge-surely-missing-folder-9f2c").join("x.db");
        let url = format!("sqlite://{}", missing.display());
        let target = parse(&url, Mode::ReadOnly);
        let err = target.check_folder(&Redactor::new(&url));
        assert!(
            matches!(&err, Err(e @ Error::NoFolder { .. }) if e.is_usage()),
            "{err:?}"
        );
        let present = format!("sqlite://{}", dir.join("never-made.db").display());
        let target = parse(&present, Mode::ReadOnly);
        assert!(target.check_folder(&Redactor::new(&present)).is_ok());
        // A bare file name lives in the working directory, which exists.
        let bare = parse("x.db", Mode::ReadOnly);
        assert!(bare.check_folder(&Redactor::new("x.db")).is_ok());
    }

    #[test]
    fn read_only_forces_mode_ro() {
        let t = parse("sqlite://x.db?mode=rwc", Mode::ReadOnly);
        assert_eq!(t.sqlx_url, "sqlite://x.db?mode=ro");
        let t = parse("x.db", Mode::ReadOnly);
        assert_eq!(t.sqlx_url, "sqlite://x.db?mode=ro");
    }

    #[test]
    fn postgres_urls_pass_through() {
        let t = parse("postgresql://u@h/d", Mode::ReadWrite);
        assert_eq!(t.backend, Backend::Postgres);
        assert_eq!(t.sqlx_url, "postgresql://u@h/d");
        assert!(t.sqlite_file.is_none());
    }

    #[test]
    fn other_schemes_are_rejected_without_the_password() {
        let url = "mysql://root:PaSsWoRd@h/d";
        let err = parse_url(url, Mode::ReadWrite, &Redactor::new(url));
        let Err(err) = err else {
            panic!("mysql must be rejected")
        };
        let text = format!("{err} {err:?}");
        assert!(!text.contains("PaSsWoRd"), "{text}");
        assert!(text.contains("only `sqlite:`"), "{text}");
    }

    #[test]
    fn times_are_stored_sortably() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T10:00:00+01:00")
            .map(|t| t.with_timezone(&Utc));
        let Ok(t) = t else { panic!("bad fixture") };
        assert_eq!(fmt_time(t), "2026-11-27T09:00:00.000000Z");
    }
}
