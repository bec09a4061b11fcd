//! The store: runs, the operation journal, links (source person ↔ SCIM id), attribute snapshots,
//! the record of journal prunes and the outcomes of patches (`writes`), in SQLite (default, `sqlite://idbridge.db?mode=rwc`) or
//! PostgreSQL.
//!
//! Two handle types carry what a command may do. [`StoreRead`] only reads: links, runs, the
//! journal, the unfinished creates, the report queries, the SAML check history. [`Store`] is a
//! reader that also writes (the journal, links, runs, snapshots, the run lock, migrations,
//! prunes, the alert state) and derefs to [`StoreRead`], so code that only reads takes `&StoreRead` and is handed
//! either. [`Store::open_read_only`] returns a [`StoreRead`], so `plan`, the reports and the SAML
//! cross-check cannot write by construction; the database refuses writes on those connections too
//! (`mode=ro` for SQLite, read-only transactions for PostgreSQL), in case a query that writes is
//! ever added to the reader, and such a refusal reads as [`Error::ReadOnly`].
//!
//! Both backends are served through `sqlx::AnyPool`, so every query is written once, with `$1,
//! $2, …` placeholders (SQLite accepts them as numbered parameters). To keep one text working on
//! both, booleans and integers are `BIGINT`/`INTEGER` (`i64`) and instants are RFC 3339 `TEXT` in
//! UTC with microseconds (`2026-11-27T10:00:00.000000Z`), which also sorts correctly as text (why
//! `Any` rather than a pool per backend: docs/architecture.md, "Decisions worth knowing"). The store never reads the
//! clock: every instant is an argument.
//!
//! Migrations are embedded at compile time from `migrations/sqlite` and `migrations/postgres`, so
//! the binary works from any directory; [`Store::migrate`] applies them, one process at a time.
//!
//! Writing runs take the run lock of their target first ([`Store::lock_run`], module `lock`), so
//! a run still marked `running` when the lock is free belongs to a process that died;
//! [`Store::abort_dead_runs`] closes such runs out.
//!
//! Read-only opens return `Ok(None)` when there is nothing to read yet (a missing SQLite file in
//! a folder that exists, or a database whose migrations never ran).
//!
//! Both opens log (info) where the store is: the SQLite file as an absolute path, or the
//! PostgreSQL URL with its password masked. URLs are understood by sqlx's own parsers (module
//! `urls`); [`resolve_path`] anchors a relative SQLite path to a folder (config does it with the
//! config file's folder).

mod absence;
mod activity;
mod alerts;
mod baselines;
mod confirm;
mod error;
mod history;
mod journal;
mod links;
mod lock;
mod outcomes;
mod packed;
mod prune;
mod runs;
mod saml;
mod snapshots;
mod urls;
mod writes;

pub use absence::AbsenceRecord;
pub use activity::DailyOps;
pub use alerts::AlertState;
pub use baselines::{GateOverride, StoredBaseline};
pub use confirm::{Confirmation, ConfirmationFacts, Decision, NewConfirmation};
pub use error::{Error, Result, ScimIdConflict};
pub use history::{LinkChange, LinkHistoryEntry, LinkSide};
pub use journal::Transition;
pub use journal::{NewOperation, OperationId, OperationRecord, OperationStatus};
pub use links::{Link, LinkKind, LinkOrigin, LinkState, PlanLink};
pub use lock::{LockHolder, RunLock};
pub use outcomes::{Displaced, Outcome};
pub use prune::{PruneReason, PruneRecord, PruneRequest};
pub use runs::{
    AbortedRun, JournalCounts, NewRun, RunId, RunOrigin, RunRecord, RunStatus, RunTrigger,
    ScimCounts, Window,
};
pub use saml::{SamlCheckRecord, UserLinkState};
pub use snapshots::Snapshot;
pub use urls::resolve_path;
pub use writes::{WriteOutcome, WriteRecord};

use crate::model::SourceKey;
use chrono::{DateTime, SecondsFormat, Utc};
use error::Redactor;
use futures_util::TryStreamExt;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, ConnectOptions, Connection, Row};
use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::time::Duration;
use urls::{Mode, Target};

/// A query with its bound arguments, as every store query is built.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// The default store URL: a SQLite file in the working directory, created on first use.
pub const DEFAULT_URL: &str = "sqlite://idbridge.db?mode=rwc";

/// Which database a store talks to. Displayed as the product name, for messages.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::IntoStaticStr, strum::EnumIter,
)]
pub enum Backend {
    /// A SQLite file.
    #[strum(serialize = "SQLite")]
    Sqlite,
    /// A PostgreSQL database.
    #[strum(serialize = "PostgreSQL")]
    Postgres,
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

/// A handle that reads the store: links, runs, the journal, report queries, SAML check history.
/// It has no method that writes. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct StoreRead {
    pool: AnyPool,
    backend: Backend,
    redactor: Redactor,
    /// Opened with [`Store::open_read_only`]: the database refuses writes on these connections.
    read_only: bool,
    /// The SQLite database file (lock files live beside it); `None` for PostgreSQL and in-memory.
    sqlite_file: Option<PathBuf>,
    /// A SQLite store written in WAL mode with `synchronous = NORMAL`: a pending journal entry
    /// is committed with `FULL` (see [`Store::journal_pending`]).
    wal: bool,
}

/// A handle that reads and writes the store; it derefs to [`StoreRead`] for every read. Only
/// [`Store::open`] makes one. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Store {
    read: StoreRead,
}

impl Deref for Store {
    type Target = StoreRead;

    fn deref(&self) -> &StoreRead {
        &self.read
    }
}

// By hand: the pool's own Debug prints the connect options, which include the password.
impl fmt::Debug for StoreRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreRead")
            .field("backend", &self.backend)
            .field("url", &self.redactor.url())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.read.backend)
            .field("url", &self.read.redactor.url())
            .finish()
    }
}

/// How long to wait for a pooled connection. The first connection is made directly in `open`, so
/// an unreachable server fails at once with the driver's reason instead of after this.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// The outcome of connecting.
enum Connected {
    /// Connected; the pool is ready.
    Open(StoreRead),
    /// The server answered that the database does not exist (redacted URL).
    NoDatabase(String),
}

impl Store {
    /// Open for writing; SQLite files are created on first use (`sqlite://idbridge.db?mode=rwc`
    /// is the default URL; a plain path like `idbridge.db` or `sqlite:idbridge.db` also works and
    /// means `mode=rwc` unless the URL says otherwise). Does not run migrations: call
    /// [`Store::migrate`].
    pub async fn open(url: &str) -> Result<Store> {
        let redactor = Redactor::new(url);
        let target = urls::parse(url, Mode::ReadWrite, &redactor)?;
        target.check_folder(&redactor)?;
        tracing::info!(
            store = %target.location(&redactor),
            backend = %target.backend,
            "opening the store"
        );
        match StoreRead::connect(target, redactor, Mode::ReadWrite).await? {
            Connected::Open(read) => Ok(Store { read }),
            // Only reported for read-only opens; kept exhaustive rather than unreachable.
            Connected::NoDatabase(url) => Err(Error::Connect {
                url,
                detail: "the database does not exist".into(),
                hint: Backend::Postgres.connect_hint(),
            }),
        }
    }

    /// Open without writing or creating anything, for `plan`, `check-config`, the reports and
    /// the SAML cross-check: the handle returned has no method that writes.
    ///
    /// Returns `Ok(None)` ("no links yet") when there is nothing to read: the SQLite file does not
    /// exist (it is not created; its folder must exist, see [`Error::NoFolder`]), the PostgreSQL
    /// database does not exist, or the database exists but its migrations never ran (no `links`
    /// table). The PostgreSQL server itself must be reachable: an unreachable server or a refused
    /// login is an error.
    pub async fn open_read_only(url: &str) -> Result<Option<StoreRead>> {
        let redactor = Redactor::new(url);
        let target = urls::parse(url, Mode::ReadOnly, &redactor)?;
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
        let store = match StoreRead::connect(target, redactor, Mode::ReadOnly).await? {
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

    /// The reading side of this handle (what `Deref` gives), for calls that take a reader.
    pub fn reader(&self) -> &StoreRead {
        &self.read
    }

    /// Run the embedded migrations of this backend. Idempotent: applied migrations are skipped.
    /// Safe to start from several processes at once: they take turns (module `lock`), and the
    /// later ones find nothing left to do.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        let _turn = self.lock_migrations().await?;
        migrator.run(&self.pool).await.map_err(|e| Error::Migrate {
            url: self.redactor.url().to_owned(),
            backend: self.backend.into(),
            detail: self.redactor.clean(&e.to_string()),
        })
    }
}

impl StoreRead {
    /// Make the first connection directly (to get the driver's reason when it fails), then set up
    /// the pool.
    async fn connect(target: Target, redactor: Redactor, mode: Mode) -> Result<Connected> {
        let read_only = mode == Mode::ReadOnly;
        sqlx::any::install_default_drivers();
        let connect_err = |detail: String| Error::Connect {
            url: redactor.url().to_owned(),
            detail,
            hint: target.backend.connect_hint(),
        };
        let probe = match target.options.connect().await {
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
            // The database enforces read-only too, in case a query that writes is ever added.
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            });
        }
        let sqlite_writer = !read_only && target.backend == Backend::Sqlite && !target.in_memory;
        if sqlite_writer {
            pool_options = pool_options
                .after_connect(|conn, _meta| Box::pin(async move { write_ahead(conn).await }));
        }
        let pool = pool_options
            .connect_with(target.options)
            .await
            .map_err(|e| connect_err(redactor.detail(&e)))?;
        let wal = sqlite_writer && journal_mode(&pool).await.is_some_and(|m| m == "wal");
        Ok(Connected::Open(StoreRead {
            pool,
            backend: target.backend,
            redactor,
            read_only,
            sqlite_file: target.sqlite_file,
            wal,
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

    /// A connection of the pool, for statements that must share one (a transaction, or a
    /// per-connection setting around a statement).
    async fn acquire(
        &self,
        operation: &'static str,
        table: &'static str,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.pool
            .acquire()
            .await
            .map_err(|e| self.query_err(operation, table, &e))
    }

    /// Copy a SQLite store's write-ahead log into the database file and empty the log, at the
    /// end of an applying run: the file alone then holds every committed run (a copy of it, or a
    /// read-only open, needs no log). Best effort: a reader holding the log open makes SQLite
    /// skip it, and the log is replayed at the next open anyway. Nothing on PostgreSQL.
    pub async fn checkpoint(&self) {
        if self.wal {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
            {
                tracing::debug!(error = %self.redactor.clean(&e.to_string()), "no checkpoint of the SQLite log this time");
            }
        }
    }

    /// Close every connection; later calls fail. Useful before deleting the database.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- helpers shared by the table modules ----

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

    /// Run `query` and hand its rows to `each` one at a time: 100,000 links held whole before
    /// conversion were twice their converted size. The reads every run makes go packed instead
    /// (`packed`); this serves apply's read of the whole links.
    async fn each_row(
        &self,
        query: AnyQuery<'_>,
        operation: &'static str,
        table: &'static str,
        mut each: impl FnMut(&AnyRow) -> Result<()>,
    ) -> Result<()> {
        let mut rows = std::pin::pin!(query.fetch(&self.pool));
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| self.query_err(operation, table, &e))?
        {
            each(&row)?;
        }
        Ok(())
    }

    /// The source key in the `source` and `source_id` columns of `row`.
    fn source_key(&self, row: &AnyRow, table: &'static str) -> Result<SourceKey> {
        Ok(SourceKey::new(
            self.get::<&str>(row, table, "source")?,
            self.get::<&str>(row, table, "source_id")?,
        ))
    }

    /// Read column `column` of `row`.
    fn get<'r, T>(&self, row: &'r AnyRow, table: &'static str, column: &'static str) -> Result<T>
    where
        T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        row.try_get(column)
            .map_err(|e| self.query_err("read a row", table, &e))
    }

    /// Read a stored spelling of `E` from `column` (see the enums' `strum` derives).
    fn get_enum<E>(&self, row: &AnyRow, table: &'static str, column: &'static str) -> Result<E>
    where
        E: std::str::FromStr + strum::IntoEnumIterator + Into<&'static str>,
    {
        let text: &str = self.get(row, table, column)?;
        self.parse_enum(text, table, column)
    }

    /// `text` as a stored spelling of `E`, or [`Error::Corrupt`] listing the spellings.
    fn parse_enum<E>(&self, text: &str, table: &'static str, column: &'static str) -> Result<E>
    where
        E: std::str::FromStr + strum::IntoEnumIterator + Into<&'static str>,
    {
        text.parse().map_err(|_| {
            let known: Vec<&'static str> = E::iter().map(Into::into).collect();
            self.corrupt(
                table,
                column,
                text,
                format!("expected {}", known.join(", ")),
            )
        })
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

/// Put a SQLite connection that writes in WAL mode with `synchronous = NORMAL` (docs/architecture.md,
/// "Decisions worth knowing", the store write path): a commit then costs no fsync, yet survives the process being killed;
/// only what must outlive a power loss (a pending journal entry) is committed with `FULL`.
/// Switching a database to WAL needs it alone for a moment: when another process holds it, this
/// connection keeps the database's mode and SQLite's `FULL` default (safe, slower), and a later
/// open switches it.
async fn write_ahead(conn: &mut sqlx::AnyConnection) -> sqlx::Result<()> {
    if let Err(e) = sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut *conn)
        .await
    {
        tracing::debug!(error = %e, "the SQLite store stays in its journal mode for now");
    }
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    if mode.eq_ignore_ascii_case("wal") {
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The SQLite journal mode of the pool's database, lowercased; `None` when it cannot be read.
async fn journal_mode(pool: &AnyPool) -> Option<String> {
    let mode: Option<String> = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .ok();
    mode.map(|m| m.to_ascii_lowercase())
}

/// `url` with any password masked, for messages about a store that was not opened.
pub fn redact_url(url: &str) -> String {
    Redactor::new(url).url().to_owned()
}

/// An instant as stored: RFC 3339, UTC, microseconds, `Z`, so text order is time order.
fn fmt_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write through a read-only handle's own connections, as a query that writes would if one
    /// were ever added to [`StoreRead`]: the database must refuse it, and the refusal must read as
    /// [`Error::ReadOnly`].
    async fn assert_database_refuses_writes(ro: &StoreRead) {
        let write = sqlx::query(
            "INSERT INTO saml_checks (kind, subject, verdict, findings_json, checked_at) \
             VALUES ('response', NULL, 'accept', '[]', '2026-11-27T10:00:00.000000Z')",
        )
        .execute(&ro.pool)
        .await;
        let err = write.err().unwrap_or_else(|| panic!("{ro:?} took a write"));
        let err = ro.query_err("record a SAML check", "saml_checks", &err);
        assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
        assert!(ro.saml_checks(10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sqlite_refuses_writes_through_a_read_only_handle() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let rw = Store::open(&url).await.unwrap();
        rw.migrate().await.unwrap();
        let ro = Store::open_read_only(&url).await.unwrap().unwrap();
        assert_database_refuses_writes(&ro).await;
        ro.close().await;
        rw.close().await;
    }

    #[tokio::test]
    async fn postgres_refuses_writes_through_a_read_only_handle() {
        use sqlx::Connection;
        let Some(admin) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
            assert!(std::env::var_os("CI").is_none(), "CI must set DATABASE_URL");
            eprintln!("*** SKIPPING PostgreSQL: DATABASE_URL is not set ***");
            return;
        };
        let name = format!("idbridge_unit_{}", uuid::Uuid::new_v4().simple());
        let exec = |sql: String| {
            let admin = admin.clone();
            async move {
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
        };
        exec(format!("CREATE DATABASE \"{name}\"")).await;
        let mut url = ::url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        let outcome = tokio::spawn(async move {
            let rw = Store::open(url.as_str()).await.unwrap();
            rw.migrate().await.unwrap();
            let ro = Store::open_read_only(url.as_str()).await.unwrap().unwrap();
            assert_database_refuses_writes(&ro).await;
            ro.close().await;
            rw.close().await;
        })
        .await;
        exec(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        outcome.unwrap();
    }

    /// The stored spellings are what the migrations' CHECK constraints allow, and what the JSON
    /// of runs, journal entries and prunes says.
    #[test]
    fn stored_spellings_round_trip() {
        use crate::spellings::{assert_serialized_alike, assert_spellings};
        assert_spellings::<LinkKind>(&["user", "group"]);
        assert_spellings::<LinkState>(&["active", "deactivated"]);
        assert_spellings::<LinkOrigin>(&["created", "adopted", "recovered"]);
        assert_spellings::<RunStatus>(&["running", "succeeded", "failed", "refused", "aborted"]);
        assert_spellings::<RunTrigger>(&["sync", "apply-plan", "schedule", "post-sync", "demo"]);
        assert_spellings::<OperationStatus>(&["pending", "done", "failed", "skipped", "unknown"]);
        assert_spellings::<PruneReason>(&["retention", "report-prune"]);
        let names: Vec<String> = <Backend as strum::IntoEnumIterator>::iter()
            .map(|b| format!("{b} {}", <&str>::from(b)))
            .collect();
        assert_eq!(names, ["SQLite SQLite", "PostgreSQL PostgreSQL"]);
        assert_serialized_alike::<LinkKind>();
        assert_serialized_alike::<LinkState>();
        assert_serialized_alike::<LinkOrigin>();
        assert_serialized_alike::<RunStatus>();
        assert_serialized_alike::<RunTrigger>();
        assert_serialized_alike::<OperationStatus>();
        assert_serialized_alike::<PruneReason>();
    }

    /// A SQLite store opened for writing is in WAL mode with `synchronous = NORMAL` on every
    /// connection (1 is NORMAL, 2 FULL), and a pending entry's commit leaves its connection back
    /// at NORMAL; a read-only open of that database still reads.
    #[tokio::test]
    async fn sqlite_writes_ahead_with_normal_sync() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let rw = Store::open(&url).await.unwrap();
        rw.migrate().await.unwrap();
        assert!(rw.wal);
        let run = rw
            .start_run(&NewRun {
                kind: "sync".into(),
                target_name: "t".into(),
                started_at: DateTime::from_timestamp(0, 0).unwrap(),
                plan_sha256: None,
                origin: RunOrigin {
                    trigger: RunTrigger::Sync,
                    host: "h".into(),
                    os_user: "u".into(),
                },
                upcoming_json: None,
            })
            .await
            .unwrap();
        for seq in 0..6 {
            rw.journal_pending(&NewOperation {
                run_id: run,
                seq,
                op: "create-user".into(),
                target_name: "t".into(),
                user_name: None,
                scim_id: None,
                source_key: None,
                detail_json: "[]".into(),
                reason: None,
                planned_json: None,
                at: DateTime::from_timestamp(0, 0).unwrap(),
            })
            .await
            .unwrap();
        }
        // Every pooled connection (the pool keeps up to 4) is at NORMAL again.
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut conn = rw.pool.acquire().await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!((mode.as_str(), sync), ("wal", 1));
            held.push(conn);
        }
        drop(held);
        let ro = Store::open_read_only(&url).await.unwrap().unwrap();
        assert_eq!(ro.operations(run).await.unwrap().len(), 6);
        ro.close().await;
        rw.close().await;
        // After the last writer closed (SQLite checkpoints and removes the log), it still reads.
        let ro = Store::open_read_only(&url).await.unwrap().unwrap();
        assert_eq!(ro.operations(run).await.unwrap().len(), 6);
        ro.close().await;
    }

    #[test]
    fn times_are_stored_sortably() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T10:00:00+01:00")
            .map(|t| t.with_timezone(&Utc));
        let Ok(t) = t else { panic!("bad fixture") };
        assert_eq!(fmt_time(t), "2026-11-27T09:00:00.000000Z");
    }
}
