//! `check-config`: validate the config, then test each connection; print one line per check, or
//! one JSON document with every check.

use super::output;
use super::{exit, pipeline, Exit, Format};
use crate::alert::notion::Unfit;
use crate::clock::Clock;
use crate::config::Settings;
use crate::connectors::SourceRead;
use crate::report;
use crate::scim::TargetRead;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// Rows skipped by a source that are listed (the count is always given).
const ISSUES_SHOWN: usize = 20;

/// The result of one check.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Check {
    /// `config`, `store`, `target`, `source` or `alerts`.
    check: &'static str,
    ok: bool,
    /// The exit code this check alone would give.
    code: u8,
    message: String,
    #[serde(skip)]
    failed: Option<Exit>,
    /// Skipped rows of a source (`location: message`), at most [`ISSUES_SHOWN`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    issues: Vec<String>,
}

impl Check {
    fn new(check: &'static str, failed: Option<Exit>, message: String) -> Self {
        Self {
            check,
            ok: failed.is_none(),
            code: failed.unwrap_or(Exit::Ok).code(),
            message,
            failed,
            issues: Vec::new(),
        }
    }
}

/// The checks so far; in table mode each is printed as soon as it is known, so a slow connection
/// does not hide the checks before it.
struct Checks {
    format: Format,
    done: Vec<Check>,
}

impl Checks {
    fn push(&mut self, check: Check) {
        if self.format == Format::Table {
            print(&check);
        }
        self.done.push(check);
    }
}

/// Run the checks. The exit is the worst failure: a config problem (2) before an unreachable
/// store, target or source or a refused token (3), before a failed check (1); see `exit::worst`.
/// A config that cannot be loaded ends the command with that error (nothing else can be checked).
pub async fn run(config: &Path, clock: Arc<dyn Clock>, format: Format) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    let mut checks = Checks {
        format,
        done: Vec::new(),
    };
    checks.push(Check::new(
        "config",
        None,
        format!("config {}", config.display()),
    ));
    checks.push(store(&settings).await);
    checks.push(target(&settings, clock.clone()).await);
    match pipeline::read_sources(&settings, clock.as_ref()).await {
        Ok(reads) => {
            for read in reads {
                checks.push(source(&read));
            }
        }
        Err(e) => checks.push(Check::new(
            "source",
            Some(exit::for_error(&e)),
            format!("sources: {e:#}"),
        )),
    }
    if let Some(check) = alerts(&settings, config, clock.clone()).await {
        checks.push(check);
    }
    let exit = exit::worst(checks.done.iter().filter_map(|c| c.failed));
    if format == Format::Json {
        output::json(&serde_json::json!({
            "ok": exit == Exit::Ok,
            "code": exit.code(),
            "checks": checks.done,
        }))?;
    }
    Ok(exit)
}

/// The store answers (or does not exist yet, which is fine).
async fn store(settings: &Settings) -> Check {
    match pipeline::open_store_read_only(settings).await {
        Ok(Some(store)) => match store.ping().await {
            Ok(()) => Check::new(
                "store",
                None,
                format!("store {} ({})", store.redacted_url(), store.backend()),
            ),
            Err(e) => Check::new("store", Some(exit::store_class(&e)), format!("store: {e}")),
        },
        Ok(None) => Check::new(
            "store",
            None,
            "store: no database yet; `idbridge migrate` or the first sync creates it".to_owned(),
        ),
        Err(e) => Check::new("store", Some(exit::for_error(&e)), format!("store: {e:#}")),
    }
}

/// The target answers and accepts the token.
async fn target(settings: &Settings, clock: Arc<dyn Clock>) -> Check {
    let target = &settings.target.name;
    match pipeline::reader(&settings.target, clock) {
        Ok(reader) => match reader.probe().await {
            Ok(()) => Check::new(
                "target",
                None,
                format!("target {target} ({}): token accepted", settings.target.url),
            ),
            Err(e) => Check::new(
                "target",
                Some(exit::scim_class(&e)),
                format!("target {target}: {e}"),
            ),
        },
        Err(e) => Check::new(
            "target",
            Some(exit::for_error(&e)),
            format!("target {target}: {e:#}"),
        ),
    }
}

/// The Notion alert database of `[alerts] notion_database` is shared with the integration and
/// has the properties alert pages need; `None` without one.
async fn alerts(settings: &Settings, config: &Path, clock: Arc<dyn Clock>) -> Option<Check> {
    let sink = match super::serve::notion_sink(settings, config, clock) {
        Ok(sink) => sink?,
        Err(e) => {
            return Some(Check::new(
                "alerts",
                Some(exit::for_error(&e)),
                format!("alerts: {e:#}"),
            ))
        }
    };
    Some(match sink.check().await {
        Ok(columns) => Check::new(
            "alerts",
            None,
            format!(
                "alerts: {} takes alert pages (title property `{}`)",
                sink.describe(),
                columns.title
            ),
        ),
        // A database not shared or lacking a property is the setup to change (2); Notion or the
        // network failing, or the token refused, is the environment (3), as for publishing.
        Err(Unfit::Setup(e)) => Check::new("alerts", Some(Exit::Usage), format!("alerts: {e}")),
        Err(Unfit::Environment(e)) => {
            Check::new("alerts", Some(Exit::Environment), format!("alerts: {e}"))
        }
    })
}

/// A source was read: its counts and the first rows it skipped.
fn source(read: &SourceRead) -> Check {
    // The same guardrail as `sync`: a source that yields nobody is refused (1).
    let mut message = format!(
        "source {}: {} valid people, {} rows skipped",
        read.source,
        read.records.len(),
        read.issues.len()
    );
    if read.deleted_skipped > 0 {
        message += &format!(
            ", {} deleted entries (tombstones) left out",
            read.deleted_skipped
        );
    }
    let mut check = Check::new(
        "source",
        read.records.is_empty().then_some(Exit::Blocked),
        message,
    );
    check.issues = read
        .issues
        .iter()
        .take(ISSUES_SHOWN)
        .map(|issue| format!("{}: {}", issue.location, issue.message))
        .collect();
    check
}

/// One line for a check, and the rows its source skipped.
fn print(check: &Check) {
    output::out(&report::check_text(check.ok, &check.message, &check.issues));
}
