//! The run lock: one writing run (`sync`, `apply`, `migrate`) at a time per store and target, so
//! two runs never interleave their writes, and a run left `running` can be known to be dead.
//!
//! - SQLite: an exclusive OS file lock (`flock`) on `<database>.run-<target>.lock` beside the
//!   database file. The kernel drops it when the process ends, however it ends (`kill -9`, a
//!   crash, a power cut), so it can never be left stuck.
//! - PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) taken on a dedicated
//!   connection that lives as long as the run; the server drops it when that session ends. The
//!   key is derived from the target name with sha256, so it is the same for every idbridge build
//!   and host.
//!
//! The holder (command, pid, host, start) is recorded so that a second run can say who holds the
//! lock: in the lock file (SQLite), and in the lock connection's `application_name` (PostgreSQL),
//! read back through `pg_locks` and `pg_stat_activity`. The record is for people; the OS or
//! server lock alone decides.
//!
//! Migrations are serialised separately and store-wide (two targets may share a store): sqlx's
//! PostgreSQL migrator holds an advisory lock of its own, while its SQLite migrator takes none, so
//! [`Store::migrate`] holds `<database>.migrate.lock` while it runs on SQLite.

use super::{Backend, Error, Result, Store};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, ConnectOptions, Connection, Row};
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Who holds (or asks for) a run lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockHolder {
    /// The command: `sync`, `apply` or `migrate`.
    pub command: String,
    /// The process id.
    pub pid: u32,
    /// The host name.
    pub host: String,
    /// When the run started (from the caller's clock).
    pub started_at: DateTime<Utc>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`idbridge {}` (pid {} on host {}, started {})",
            self.command,
            self.pid,
            self.host,
            self.started_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

/// Keepalives of the lock's session (seconds idle, seconds between probes, probes): a holder
/// that vanished without closing its connection loses the lock after about 30 + 3 × 10 s.
const PG_KEEPALIVE_IDLE_SECS: u32 = 30;
const PG_KEEPALIVE_INTERVAL_SECS: u32 = 10;
const PG_KEEPALIVE_COUNT: u32 = 3;

/// PostgreSQL keeps at most 63 bytes of `application_name`.
const PG_NAME_MAX: usize = 63;

impl LockHolder {
    /// The holder as a PostgreSQL `application_name`: `idbridge CMD PID START HOST`, cut to 63
    /// bytes (the host goes last so that only it is ever cut).
    fn pg_tag(&self) -> String {
        let mut tag = format!(
            "idbridge {} {} {} {}",
            self.command.replace(char::is_whitespace, "-"),
            self.pid,
            self.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.host
        );
        // PostgreSQL turns anything but printable ASCII into '?'; do it first so the cut is exact.
        tag = tag
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        tag.truncate(PG_NAME_MAX);
        tag
    }

    /// Read back [`LockHolder::pg_tag`].
    fn from_pg_tag(tag: &str) -> Option<Self> {
        let mut parts = tag.splitn(5, ' ');
        if parts.next()? != "idbridge" {
            return None;
        }
        let command = parts.next()?.to_owned();
        let pid = parts.next()?.parse().ok()?;
        let started_at = DateTime::parse_from_rfc3339(parts.next()?).ok()?.to_utc();
        let host = parts.next().unwrap_or("?").to_owned();
        Some(Self {
            command,
            pid,
            host,
            started_at,
        })
    }
}

/// A held run lock. Dropping it releases it (the file is closed, or the PostgreSQL session ends);
/// [`RunLock::release`] does so explicitly.
pub struct RunLock {
    target_name: String,
    holder: LockHolder,
    guard: Guard,
}

enum Guard {
    /// The locked file (SQLite).
    File(LockedFile),
    /// The session holding the advisory lock, and its key (PostgreSQL). In a mutex only so the
    /// lock is `Sync` (a connection is not) and `&RunLock` can be held across awaits; it is never
    /// used while the lock is held.
    Postgres(Mutex<AnyConnection>, i64),
    /// An in-memory SQLite database: no other process can see it.
    Private,
}

// By hand: the connection's Debug is not ours to vouch for.
impl fmt::Debug for RunLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.guard {
            Guard::File(_) => "file",
            Guard::Postgres(..) => "postgres-advisory",
            Guard::Private => "in-memory",
        };
        f.debug_struct("RunLock")
            .field("target_name", &self.target_name)
            .field("holder", &self.holder)
            .field("kind", &kind)
            .finish()
    }
}

impl RunLock {
    /// The target whose runs this lock serialises.
    pub fn target_name(&self) -> &str {
        &self.target_name
    }

    /// Who holds it: this process.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// Release the lock now rather than when dropped.
    pub async fn release(self) {
        match self.guard {
            // Closing the file releases the lock; an explicit unlock changes nothing.
            Guard::File(file) => drop(file),
            Guard::Postgres(conn, key) => {
                let mut conn = conn.into_inner().unwrap_or_else(PoisonError::into_inner);
                // Ending the session releases it anyway; the unlock only makes it prompt.
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
            Guard::Private => {}
        }
    }
}

/// A locked lock file. Its holder record is erased on release, while the lock is still held, so
/// that a record found in the file always belongs to a live holder, or to one that was killed.
struct LockedFile(File);

impl Drop for LockedFile {
    fn drop(&mut self) {
        // Best effort: a record left behind only makes a later "who holds it" message stale.
        let _ = self.0.set_len(0);
    }
}

/// The advisory-lock key of a target's run lock.
fn pg_key(target_name: &str) -> i64 {
    let digest = Sha256::digest(format!("idbridge run lock\n{target_name}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// `<database>.<suffix>.lock`, beside the database file.
fn lock_path(db: &Path, suffix: &str) -> Option<PathBuf> {
    let mut name = db.file_name()?.to_os_string();
    name.push(format!(".{suffix}.lock"));
    Some(db.with_file_name(name))
}

/// A file-name-safe form of a target name; names that had to change get a hash so two targets
/// never share a lock file by accident.
fn slug(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    if clean == name {
        clean
    } else {
        let hash = hex::encode(Sha256::digest(name.as_bytes()));
        format!("{clean}-{}", &hash[..12])
    }
}

/// How often and how long to re-read a holder record that is being written.
const HOLDER_READS: u32 = 10;
const HOLDER_PAUSE: Duration = Duration::from_millis(20);

/// How long `migrate` waits for another process's migration on SQLite.
const MIGRATION_WAIT: Duration = Duration::from_secs(30);
const MIGRATION_POLL: Duration = Duration::from_millis(25);

/// A held store-wide migration lock (SQLite); released when dropped.
pub(super) struct MigrationLock {
    _file: Option<File>,
}

impl Store {
    /// Take the run lock of `target_name`, recording `holder`. Fails with [`Error::Locked`],
    /// naming the holder, when another run has it; nothing is written to the store either way.
    pub async fn lock_run(&self, target_name: &str, holder: &LockHolder) -> Result<RunLock> {
        let guard = match (self.backend, &self.sqlite_file) {
            (Backend::Postgres, _) => self.pg_lock(target_name, holder).await?,
            (Backend::Sqlite, Some(db)) => {
                let path = lock_path(db, &format!("run-{}", slug(target_name)))
                    .ok_or_else(|| self.lock_file_err(db, "it names no file".into()))?;
                self.file_lock(target_name, holder, &path).await?
            }
            (Backend::Sqlite, None) => Guard::Private,
        };
        Ok(RunLock {
            target_name: target_name.to_owned(),
            holder: holder.clone(),
            guard,
        })
    }

    fn lock_file_err(&self, path: &Path, detail: String) -> Error {
        Error::LockFile {
            url: self.redactor.url().to_owned(),
            path: path.display().to_string(),
            detail,
        }
    }

    async fn file_lock(
        &self,
        target_name: &str,
        holder: &LockHolder,
        path: &Path,
    ) -> Result<Guard> {
        let io_err = |e: std::io::Error| self.lock_file_err(path, e.to_string());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {
                let record = serde_json::to_string(holder)
                    .map_err(|e| self.lock_file_err(path, e.to_string()))?;
                let mut writer = &file;
                file.set_len(0).map_err(io_err)?;
                writer.seek(SeekFrom::Start(0)).map_err(io_err)?;
                writer
                    .write_all(format!("{record}\n").as_bytes())
                    .map_err(io_err)?;
                Ok(Guard::File(LockedFile(file)))
            }
            Err(TryLockError::WouldBlock) => {
                drop(file);
                let holder = read_holder(path).await;
                Err(self.locked(target_name, holder))
            }
            Err(TryLockError::Error(e)) => Err(io_err(e)),
        }
    }

    fn locked(&self, target_name: &str, holder: Option<LockHolder>) -> Error {
        Error::Locked {
            url: self.redactor.url().to_owned(),
            target_name: target_name.to_owned(),
            holder: holder.map_or_else(
                || "another process (it has not recorded who it is yet)".to_owned(),
                |h| h.to_string(),
            ),
        }
    }

    async fn pg_lock(&self, target_name: &str, holder: &LockHolder) -> Result<Guard> {
        let connect_err = |e: sqlx::Error| Error::Connect {
            url: self.redactor.url().to_owned(),
            detail: self.redactor.detail(&e),
            hint: self.backend.connect_hint(),
        };
        let mut conn = self
            .pool
            .connect_options()
            .connect()
            .await
            .map_err(connect_err)?;
        let key = pg_key(target_name);
        let op = "take the run lock";
        // The server's TCP keepalives on this session: if the holder's machine or network dies
        // (no FIN ever comes), the server finds the connection dead within about a minute and
        // drops the session, and with it the lock, so another replica can run.
        sqlx::query(
            "SELECT set_config('tcp_keepalives_idle', $1, false), \
             set_config('tcp_keepalives_interval', $2, false), \
             set_config('tcp_keepalives_count', $3, false)",
        )
        .bind(PG_KEEPALIVE_IDLE_SECS.to_string())
        .bind(PG_KEEPALIVE_INTERVAL_SECS.to_string())
        .bind(PG_KEEPALIVE_COUNT.to_string())
        .execute(&mut conn)
        .await
        .map_err(|e| self.query_err(op, "pg_settings", &e))?;
        // Named before locking, so whoever sees the lock held also sees who holds it.
        sqlx::query("SELECT set_config('application_name', $1, false)")
            .bind(holder.pg_tag())
            .execute(&mut conn)
            .await
            .map_err(|e| self.query_err(op, "pg_locks", &e))?;
        let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
            .bind(key)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| self.query_err(op, "pg_locks", &e))?;
        let got: bool = row
            .try_get("got")
            .map_err(|e| self.query_err(op, "pg_locks", &e))?;
        if got {
            return Ok(Guard::Postgres(Mutex::new(conn), key));
        }
        let holder = self.pg_holder(&mut conn, key).await;
        let _ = conn.close().await;
        Err(self.locked(target_name, holder))
    }

    /// Who holds advisory lock `key` in this database, from its `application_name`.
    async fn pg_holder(&self, conn: &mut AnyConnection, key: i64) -> Option<LockHolder> {
        // A bigint advisory key shows in pg_locks as classid (high half) and objid (low half).
        let bits = key as u64;
        let (high, low) = ((bits >> 32).to_string(), (bits & 0xffff_ffff).to_string());
        let row = sqlx::query(
            "SELECT a.application_name AS name FROM pg_locks l \
             JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND l.classid::text = $1 AND l.objid::text = $2",
        )
        .bind(high)
        .bind(low)
        .fetch_optional(conn)
        .await
        .ok()??;
        let name: Option<String> = row.try_get("name").ok()?;
        LockHolder::from_pg_tag(&name?)
    }

    /// On SQLite, wait for (at most [`MIGRATION_WAIT`]) and take the store-wide migration lock.
    pub(super) async fn lock_migrations(&self) -> Result<MigrationLock> {
        let Some(db) = &self.sqlite_file else {
            return Ok(MigrationLock { _file: None });
        };
        let path = lock_path(db, "migrate")
            .ok_or_else(|| self.lock_file_err(db, "it names no file".into()))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.lock_file_err(&path, e.to_string()))?;
        let mut waited = Duration::ZERO;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(MigrationLock { _file: Some(file) }),
                Err(TryLockError::WouldBlock) if waited < MIGRATION_WAIT => {
                    tokio::time::sleep(MIGRATION_POLL).await;
                    waited += MIGRATION_POLL;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::MigrationBusy {
                        url: self.redactor.url().to_owned(),
                        path: path.display().to_string(),
                        waited_secs: waited.as_secs(),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(self.lock_file_err(&path, e.to_string())),
            }
        }
    }
}

/// The holder recorded in a lock file. The holder writes it right after locking, so a reader
/// that comes in between sees an empty or partial file: read again a few times before giving up.
async fn read_holder(path: &Path) -> Option<LockHolder> {
    for attempt in 0..HOLDER_READS {
        if attempt > 0 {
            tokio::time::sleep(HOLDER_PAUSE).await;
        }
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(holder) = serde_json::from_str(text.trim()) {
                return Some(holder);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str) -> LockHolder {
        LockHolder {
            command: "sync".into(),
            pid: 4242,
            host: host.into(),
            started_at: DateTime::from_timestamp(1_795_773_600, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn pg_tag_round_trips_and_fits() {
        let h = holder("vm");
        assert_eq!(h.pg_tag(), "idbridge sync 4242 2026-11-27T10:00:00Z vm");
        assert_eq!(LockHolder::from_pg_tag(&h.pg_tag()), Some(h));
        let long = holder(&"h".repeat(200));
        let tag = long.pg_tag();
        assert_eq!(tag.len(), PG_NAME_MAX);
        let back = LockHolder::from_pg_tag(&tag);
        assert_eq!(
            back.map(|b| (b.pid, b.command)),
            Some((4242, "sync".into()))
        );
        assert_eq!(LockHolder::from_pg_tag("psql"), None);
    }

    #[test]
    fn keys_and_slugs_are_stable_and_distinct() {
        assert_eq!(pg_key("test"), pg_key("test"));
        assert_ne!(pg_key("test"), pg_key("Test"));
        assert_eq!(slug("acme-prod_1"), "acme-prod_1");
        let odd = slug("acme/prod");
        assert!(odd.starts_with("acme_prod-") && odd.len() == "acme_prod-".len() + 12);
        assert_ne!(slug("a/b"), slug("a_b"));
    }

    #[test]
    fn lock_files_sit_beside_the_database() {
        let p = lock_path(Path::new("/srv/idb/idbridge.db"), "run-test");
        assert_eq!(p, Some(PathBuf::from("/srv/idb/idbridge.db.run-test.lock")));
    }
}
