//! Store URLs: which database a URL names, and the options sqlx connects with.
//!
//! Nothing here splits or percent-decodes a URL by hand. The `url` crate holds a URL's structure
//! (the same parser `sqlx::any::AnyConnectOptions` keeps its URL in), and sqlx's own parsers read
//! it (`SqliteConnectOptions`, `PgConnectOptions`), so a path or a parameter means here exactly what
//! it means when sqlx opens the database. idbridge adds only its own forms and rules: a plain file
//! path, `mode=rwc` unless the URL chose a mode, `mode=ro` for read-only opens, and relative SQLite
//! paths anchored to a folder ([`resolve_path`]).

use super::error::Redactor;
use super::{Backend, Error, Result};
use sqlx::any::AnyConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use url::Url;

/// Whether the store is opened for writing or for reading only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    ReadWrite,
    ReadOnly,
}

/// A store URL understood: the backend, what sqlx connects with, and for SQLite its file.
pub(super) struct Target {
    /// SQLite or PostgreSQL.
    pub(super) backend: Backend,
    /// What the pool connects with (for SQLite: the URL with the open mode set).
    pub(super) options: AnyConnectOptions,
    /// For a SQLite file: its path as sqlx opens it (to check existence without creating it, and
    /// to put the lock files beside it).
    pub(super) sqlite_file: Option<PathBuf>,
    /// An in-memory SQLite database: each connection would see its own, so the pool keeps one.
    pub(super) in_memory: bool,
}

impl Target {
    /// Where the store is, for logs: the SQLite file as an absolute path, or the PostgreSQL URL
    /// with its password masked.
    pub(super) fn location(&self, redactor: &Redactor) -> String {
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
    pub(super) fn check_folder(&self, redactor: &Redactor) -> Result<()> {
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

/// How a store URL is written.
enum Form<'a> {
    /// `postgres://…` or `postgresql://…`.
    Postgres,
    /// `sqlite://PATH?…`, `sqlite:PATH?…` (the scheme in any case), or a bare `:memory:`.
    Sqlite(Url),
    /// A plain file path.
    Path(&'a str),
}

/// Tell the forms apart. `Err` says why the text is no store URL.
fn form(text: &str) -> std::result::Result<Form<'_>, String> {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Ok(Form::Postgres);
    }
    let url = if lower.starts_with("sqlite:") {
        // The `url` crate lowercases the scheme; sqlx's SQLite parser only knows `sqlite:`.
        text
    } else if text == ":memory:" {
        "sqlite::memory:"
    } else if text.contains("://") {
        return Err("only `sqlite:`, `postgres:` and `postgresql:` URLs are supported".to_owned());
    } else {
        return Ok(Form::Path(text));
    };
    Url::parse(url).map(Form::Sqlite).map_err(|e| e.to_string())
}

/// Whether a SQLite URL names an in-memory database (`sqlite::memory:` or `mode=memory`).
fn in_memory(url: &Url) -> bool {
    url.path() == ":memory:" || url.query_pairs().any(|(k, v)| k == "mode" && v == "memory")
}

/// Understand a store URL in every accepted form and produce what sqlx connects with.
pub(super) fn parse(url: &str, mode: Mode, redactor: &Redactor) -> Result<Target> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: redactor.url().to_owned(),
        reason: redactor.clean(&reason),
    };
    let text = url.trim();
    if text.is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    match form(text).map_err(invalid)? {
        Form::Postgres => {
            let options = AnyConnectOptions::from_str(text).map_err(|e| invalid(e.to_string()))?;
            // sqlx's PostgreSQL parser reads the URL now, so a malformed one is a usage error
            // here rather than a connection failure later; the Any driver parses it the same way.
            PgConnectOptions::from_url(&options.database_url)
                .map_err(|e| invalid(e.to_string()))?;
            Ok(Target {
                backend: Backend::Postgres,
                options,
                sqlite_file: None,
                in_memory: false,
            })
        }
        Form::Sqlite(url) => sqlite(url, mode).map_err(invalid),
        Form::Path(path) => sqlite(file_url(Path::new(path))?, mode).map_err(invalid),
    }
}

/// A SQLite URL with the open mode set: read-only opens force `mode=ro`; writing opens create
/// the file (`mode=rwc`) unless the URL chose a mode itself. In-memory databases keep theirs.
fn sqlite(mut url: Url, mode: Mode) -> std::result::Result<Target, String> {
    let memory = in_memory(&url);
    if !memory {
        let chosen = url.query_pairs().any(|(k, _)| k == "mode");
        match mode {
            Mode::ReadOnly => set_mode(&mut url, "ro"),
            Mode::ReadWrite if !chosen => set_mode(&mut url, "rwc"),
            Mode::ReadWrite => {}
        }
    }
    // sqlx reads the file name (percent-decoded) and refuses parameters it does not know.
    let options = SqliteConnectOptions::from_url(&url).map_err(|e| e.to_string())?;
    let file = options.get_filename();
    if !memory && file.as_os_str().is_empty() {
        return Err("it names no SQLite file".to_owned());
    }
    Ok(Target {
        backend: Backend::Sqlite,
        sqlite_file: (!memory).then(|| file.to_path_buf()),
        in_memory: memory,
        options: AnyConnectOptions::from_url(&url).map_err(|e| e.to_string())?,
    })
}

/// Replace the URL's `mode` parameter (the others are kept, in order).
fn set_mode(url: &mut Url, mode: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "mode")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("mode", mode);
}

/// The SQLite URL of a file path, made absolute (as SQLite would resolve it now). The `url`
/// crate escapes what a URL path reserves (`%`, `?`, `#`, spaces), which sqlx decodes again.
fn file_url(path: &Path) -> Result<Url> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: path.display().to_string(),
        reason,
    };
    let absolute = std::path::absolute(path)
        .map_err(|e| invalid(format!("the path cannot be made absolute: {e}")))?;
    sqlite_file_url(&absolute).ok_or_else(|| invalid("the path cannot be written as a URL".into()))
}

/// `sqlite://` and the escaped absolute path `file`.
fn sqlite_file_url(file: &Path) -> Option<Url> {
    let escaped = Url::from_file_path(file).ok()?;
    Url::parse(&format!("sqlite://{}", escaped.path())).ok()
}

/// The store URL with a relative SQLite path made absolute against `base` (the config file's
/// folder, itself absolute), so a scheduled run started from any working directory opens the same
/// file. PostgreSQL URLs, in-memory databases, absolute paths and text that is no store URL (which
/// [`super::Store::open`] then refuses) come back unchanged. Every form [`super::Store::open`]
/// accepts is understood: `sqlite://PATH?…`, `sqlite:PATH?…` and a plain path; a URL keeps its
/// parameters as written. `None` when the path is relative and `base` is not valid UTF-8 (a URL
/// cannot spell it).
pub fn resolve_path(url: &str, base: &Path) -> Option<String> {
    let text = url.trim();
    match form(text) {
        Ok(Form::Sqlite(parsed)) => {
            let Ok(options) = SqliteConnectOptions::from_url(&parsed) else {
                return Some(url.to_owned());
            };
            let file = options.get_filename();
            if in_memory(&parsed) || file.as_os_str().is_empty() || file.is_absolute() {
                return Some(url.to_owned());
            }
            let folder = std::path::absolute(base.to_str()?).ok()?;
            let mut anchored = sqlite_file_url(&folder.join(file))?;
            anchored.set_query(parsed.query());
            Some(anchored.into())
        }
        Ok(Form::Path(path)) if !path.is_empty() && !Path::new(path).is_absolute() => {
            base.join(path).to_str().map(str::to_owned)
        }
        Ok(Form::Path(_) | Form::Postgres) | Err(_) => Some(url.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(url: &str, mode: Mode) -> Target {
        match parse(url, mode, &Redactor::new(url)) {
            Ok(t) => t,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    fn sqlx_url(t: &Target) -> &str {
        t.options.database_url.as_str()
    }

    /// `name` in the working directory, as an escaped URL path.
    fn here(name: &str) -> String {
        let cwd = std::env::current_dir().unwrap_or_default();
        let url = sqlite_file_url(&cwd.join(name)).map(String::from);
        url.unwrap_or_default()
    }

    #[test]
    fn sqlite_url_forms_are_understood() {
        let t = parse_ok("sqlite://idbridge.db?mode=rwc", Mode::ReadWrite);
        assert_eq!(t.backend, Backend::Sqlite);
        assert_eq!(sqlx_url(&t), "sqlite://idbridge.db?mode=rwc");
        assert_eq!(t.sqlite_file, Some(PathBuf::from("idbridge.db")));

        let t = parse_ok("sqlite:idbridge.db", Mode::ReadWrite);
        assert_eq!(sqlx_url(&t), "sqlite:idbridge.db?mode=rwc");
        assert_eq!(t.sqlite_file, Some(PathBuf::from("idbridge.db")));

        let t = parse_ok("SQLite://idbridge.db?cache=shared", Mode::ReadWrite);
        assert_eq!(sqlx_url(&t), "sqlite://idbridge.db?cache=shared&mode=rwc");

        // A plain path is made absolute, and what a URL path reserves is escaped.
        let t = parse_ok("idbridge.db", Mode::ReadWrite);
        assert_eq!(sqlx_url(&t), format!("{}?mode=rwc", here("idbridge.db")));
        let t = parse_ok("/tmp/a b?.db", Mode::ReadWrite);
        assert_eq!(sqlx_url(&t), "sqlite:///tmp/a%20b%3F.db?mode=rwc");
        assert_eq!(t.sqlite_file, Some(PathBuf::from("/tmp/a b?.db")));
        // `%41` is three characters of a folder's name, never an `A`.
        let t = parse_ok("/tmp/a%41/x.db", Mode::ReadWrite);
        assert_eq!(t.sqlite_file, Some(PathBuf::from("/tmp/a%41/x.db")));

        // A percent-escape in a URL is decoded, as sqlx does when it opens the file.
        let t = parse_ok("sqlite:///tmp/a%25b%3Fc.db", Mode::ReadWrite);
        assert_eq!(t.sqlite_file, Some(PathBuf::from("/tmp/a%b?c.db")));

        // A mode the URL chose is kept for writing.
        let t = parse_ok("sqlite://x.db?mode=rw", Mode::ReadWrite);
        assert_eq!(sqlx_url(&t), "sqlite://x.db?mode=rw");
    }

    #[test]
    fn in_memory_databases_are_understood() {
        for url in ["sqlite::memory:", ":memory:", "sqlite://mem?mode=memory"] {
            for mode in [Mode::ReadWrite, Mode::ReadOnly] {
                let t = parse_ok(url, mode);
                assert!(t.in_memory, "{url}");
                assert!(t.sqlite_file.is_none(), "{url}");
                assert!(!sqlx_url(&t).contains("mode=r"), "{url}: {}", sqlx_url(&t));
            }
        }
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
            ("sqlite://a%20b.db", "sqlite:///etc/idbridge/a%20b.db"),
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
            ("", ""),
        ];
        for (url, want) in cases {
            assert_eq!(resolve_path(url, base).as_deref(), Some(want), "{url}");
        }
        // A folder with characters a URL path reserves is escaped, so sqlx opens that folder.
        let odd = Path::new("/srv/a%b?c#d");
        let url = resolve_path("sqlite://x.db", odd).unwrap_or_default();
        assert_eq!(url, "sqlite:///srv/a%25b%3Fc%23d/x.db");
        assert_eq!(
            parse_ok(&url, Mode::ReadWrite).sqlite_file,
            Some(PathBuf::from("/srv/a%b?c#d/x.db"))
        );
    }

    #[test]
    fn a_missing_folder_is_a_usage_error_and_a_missing_file_is_not() {
        let dir = std::env::temp_dir();
        let missing = dir.join("idbridge-surely-missing-folder-9f2c").join("x.db");
        let url = format!("sqlite://{}", missing.display());
        let target = parse_ok(&url, Mode::ReadOnly);
        let err = target.check_folder(&Redactor::new(&url));
        assert!(
            matches!(&err, Err(e @ Error::NoFolder { .. }) if e.is_usage()),
            "{err:?}"
        );
        let present = format!("sqlite://{}", dir.join("never-made.db").display());
        let target = parse_ok(&present, Mode::ReadOnly);
        assert!(target.check_folder(&Redactor::new(&present)).is_ok());
        // A bare file name lives in the working directory, which exists.
        let bare = parse_ok("x.db", Mode::ReadOnly);
        assert!(bare.check_folder(&Redactor::new("x.db")).is_ok());
    }

    #[test]
    fn read_only_forces_mode_ro() {
        let t = parse_ok("sqlite://x.db?mode=rwc", Mode::ReadOnly);
        assert_eq!(sqlx_url(&t), "sqlite://x.db?mode=ro");
        let t = parse_ok("sqlite://x.db?cache=shared&mode=rw", Mode::ReadOnly);
        assert_eq!(sqlx_url(&t), "sqlite://x.db?cache=shared&mode=ro");
        let t = parse_ok("x.db", Mode::ReadOnly);
        assert_eq!(sqlx_url(&t), format!("{}?mode=ro", here("x.db")));
    }

    #[test]
    fn postgres_urls_pass_through() {
        let t = parse_ok("postgresql://u@h/d", Mode::ReadWrite);
        assert_eq!(t.backend, Backend::Postgres);
        assert_eq!(sqlx_url(&t), "postgresql://u@h/d");
        assert!(t.sqlite_file.is_none());
    }

    #[test]
    fn bad_urls_are_rejected_without_the_password() {
        let cases = [
            ("mysql://root:PaSsWoRd@h/d", "only `sqlite:`"),
            ("postgres://u:PaSsWoRd@h:notaport/d", "invalid port"),
            ("sqlite://x.db?mode=fast", "mode"),
            ("sqlite://x.db?colour=blue", "colour"),
            ("sqlite://?mode=rwc", "names no SQLite file"),
            ("  ", "it is empty"),
        ];
        for (url, reason) in cases {
            let Err(err) = parse(url, Mode::ReadWrite, &Redactor::new(url)) else {
                panic!("{url} must be rejected")
            };
            assert!(err.is_usage(), "{url}: {err:?}");
            let text = format!("{err} {err:?}");
            assert!(!text.contains("PaSsWoRd"), "{text}");
            assert!(text.contains(reason), "{url}: {text}");
        }
    }
}
