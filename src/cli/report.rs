//! `idbridge report …`: audit reports from the store (docs/reports.md).
//!
//! Every report opens the store read-only (`Store::open_read_only`, a `StoreRead` that has no
//! method that writes; SQLite in `mode=ro`, PostgreSQL in read-only transactions) and never
//! creates, migrates or writes it. The one exception is `report prune`, which deletes journal
//! entries: it opens the store for writing and holds the run lock of every target it prunes, so
//! no run writes meanwhile. The store comes from `--store URL` or the `[store]` table of the
//! config file (no other table is read, so no other secret is needed).

use super::pipeline;
use super::review;
use super::Exit;
use crate::clock::Clock;
use crate::plan::OpKind;
use crate::report::audit::{self, ChangeFilter, OpEntry, PruneEntry, RunEntry};
use crate::report::html::Page;
use crate::report::upcoming::{self, Recorded, Upcoming};
use crate::report::{render_page, Cell, Field, Format, Report};
use crate::store::{
    LockHolder, OperationRecord, PruneReason, PruneRecord, PruneRequest, RunId, RunRecord, Store,
    StoreRead, Window,
};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strum::IntoEnumIterator;

/// The table width when stdout is not a terminal (a pipe, a file, `--out`).
const FIXED_WIDTH: u16 = 120;
/// The most journal entries one `report changes` reads; more is an error asking for a narrower
/// window, never a silently cut report.
pub(super) const MAX_CHANGES: u32 = 100_000;
/// The most runs one `report runs` lists.
const MAX_RUNS: u32 = 100_000;

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report.
    #[command(subcommand)]
    pub command: ReportCommand,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// The store to read (default: the `[store]` table of the config file).
    #[arg(long, global = true)]
    pub store: Option<String>,
    /// Only this target (its `target.name`); default: every target in the store.
    #[arg(long, global = true)]
    pub target: Option<String>,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A table fitted to the terminal.
    Table,
    /// One JSON document.
    Json,
    /// RFC 4180 CSV, formula-safe, for spreadsheets.
    Csv,
    /// Markdown.
    Md,
    /// One self-contained HTML page with a chart of the changes over time.
    Html,
}

impl ReportFormat {
    /// How a failure of the command is reported: a JSON error document when JSON was asked for.
    pub fn json_or_table(self) -> super::Format {
        if self == ReportFormat::Json {
            super::Format::Json
        } else {
            super::Format::Table
        }
    }

    fn format(self) -> Format {
        match self {
            ReportFormat::Table => Format::Table,
            ReportFormat::Json => Format::Json,
            ReportFormat::Csv => Format::Csv,
            ReportFormat::Md => Format::Md,
            ReportFormat::Html => Format::Html,
        }
    }
}

/// The reports.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Runs: when, trigger, duration, operations per kind, SCIM requests, retries, 429s, result.
    Runs(RunsArgs),
    /// One run: every operation with before → after, status, SCIM id and error.
    Run(RunArgs),
    /// Who was created, changed, deactivated or re-added, when, and which source fact caused it.
    Changes(ChangesArgs),
    /// Future starts and terminations, as the latest sync read them from the sources.
    Upcoming(UpcomingArgs),
    /// The access review: everyone in the workspace, their role, status, source ids, where each
    /// attribute came from, when idbridge last changed them, and whether SSO lets them in.
    /// Reads the sources and the target as `plan` does (the config's [target] and [[sources]]).
    Users(UsersArgs),
    /// Managed attributes that differ from the sources now, and changes made in the workspace
    /// by hand since idbridge last wrote them. Reads the sources and the target as `plan` does.
    Drift,
    /// Workspace users no source knows, whether idbridge manages them, and the users it leaves
    /// alone (owners, the token's owner). Reads the sources and the target as `plan` does.
    Orphans,
    /// The SAML check history: metadata and certificate expiry, the last responses checked.
    Sso,
    /// When the journal was pruned, how much, why and by whom.
    Prunes,
    /// Delete the journal of runs that finished before DATE (writes: takes the run lock).
    Prune(PruneArgs),
}

/// `report users`.
#[derive(Debug, Args)]
pub struct UsersArgs {
    /// Publish the access review into the `[notion] users_database`, one page per person,
    /// instead of printing it (docs/reports.md, "Publishing to Notion").
    #[arg(long, value_enum, value_name = "WHERE")]
    pub publish: Option<super::publish::PublishTo>,
}

/// `report runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Runs started at or after DATE (YYYY-MM-DD, UTC midnight, or RFC 3339).
    #[arg(long, value_parser = parse_when)]
    pub since: Option<When>,
    /// Runs started before the end of DATE (YYYY-MM-DD, UTC) or before an RFC 3339 instant.
    #[arg(long, value_parser = parse_when)]
    pub until: Option<When>,
    /// The newest N runs.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_RUNS)))]
    pub limit: u32,
}

/// `report run ID`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run's id (the `run` column of `report runs`).
    pub id: i64,
}

/// `report changes`.
#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// Changes done at or after DATE (YYYY-MM-DD, UTC midnight, or RFC 3339).
    #[arg(long, value_parser = parse_when)]
    pub since: When,
    /// Changes done before the end of DATE (YYYY-MM-DD, UTC) or before an RFC 3339 instant.
    #[arg(long, value_parser = parse_when)]
    pub until: Option<When>,
    /// Only this person (userName, any case), with the groups they joined or left.
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
    /// Only this kind of operation, e.g. deactivate-user.
    #[arg(long, value_name = "KIND", value_parser = parse_op_kind)]
    pub op: Option<OpKind>,
    /// Publish the changes into the `[notion] changes_database`, one page per change, instead
    /// of printing them (docs/reports.md, "Publishing to Notion").
    #[arg(long, value_enum, value_name = "WHERE")]
    pub publish: Option<super::publish::PublishTo>,
}

/// `report upcoming`.
#[derive(Debug, Args)]
pub struct UpcomingArgs {
    /// The window: starts and terminations taking effect in the next N days.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
}

/// `report prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Delete the journal of runs that finished before DATE (YYYY-MM-DD, UTC midnight, or RFC 3339).
    #[arg(long, value_parser = parse_when)]
    pub before: When,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

/// A `--since`/`--until`/`--before` value: a whole UTC day or an exact instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `YYYY-MM-DD`.
    Day(NaiveDate),
    /// RFC 3339.
    Instant(DateTime<Utc>),
}

impl When {
    /// As a lower bound: the day's first instant (UTC midnight), or the instant.
    pub(super) fn start(self) -> DateTime<Utc> {
        match self {
            When::Day(day) => day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            When::Instant(at) => at,
        }
    }

    /// As an upper bound (exclusive): the end of the day (the next UTC midnight), or the instant.
    pub(super) fn end(self) -> DateTime<Utc> {
        match self {
            When::Day(day) => When::Day(day).start() + Duration::days(1),
            When::Instant(at) => at,
        }
    }

    fn text(self) -> String {
        match self {
            When::Day(day) => day.format("%Y-%m-%d").to_string(),
            When::Instant(at) => crate::report::data::time_text(at),
        }
    }
}

fn parse_when(text: &str) -> std::result::Result<When, String> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(When::Day(day));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| When::Instant(at.to_utc()))
        .map_err(|_| {
            format!(
                "`{text}` is not a date: write YYYY-MM-DD (a UTC day) or an RFC 3339 instant such \
                 as 2026-03-02T09:00:00Z"
            )
        })
}

fn parse_op_kind(text: &str) -> std::result::Result<OpKind, String> {
    text.trim().parse().map_err(|_| {
        let kinds: Vec<&str> = OpKind::iter().map(Into::into).collect();
        format!(
            "`{text}` is not an operation kind; use one of {}",
            kinds.join(", ")
        )
    })
}

/// Run `report …`.
pub async fn run(args: ReportArgs, config: &Path, clock: Arc<dyn Clock>) -> Result<Exit> {
    let now = clock.now();
    let report = match &args.command {
        ReportCommand::Prune(prune) => return run_prune(&args, prune, config, now).await,
        ReportCommand::Runs(runs) => {
            let store = open(&args, config).await?;
            runs_report(&store, &args, runs, now).await?
        }
        ReportCommand::Run(run) => {
            let store = open(&args, config).await?;
            run_report(&store, run.id, now).await?
        }
        ReportCommand::Changes(changes) if changes.publish.is_some() => {
            return super::publish::changes(&args, changes, config, clock).await;
        }
        ReportCommand::Changes(changes) => {
            let store = open(&args, config).await?;
            changes_report(&store, &args, changes, now).await?
        }
        ReportCommand::Upcoming(up) => {
            let store = open(&args, config).await?;
            upcoming_report(&store, &args, up.days, now).await?
        }
        ReportCommand::Users(users) if users.publish.is_some() => {
            return super::publish::users(&args, config, clock).await;
        }
        ReportCommand::Users(_) | ReportCommand::Drift | ReportCommand::Orphans => {
            let which = match &args.command {
                ReportCommand::Users(_) => review::Which::Users,
                ReportCommand::Drift => review::Which::Drift,
                _ => review::Which::Orphans,
            };
            let store = open(&args, config).await?;
            review::report(which, &args, &store, config, clock).await?
        }
        ReportCommand::Sso => {
            let store = open(&args, config).await?;
            let checks = review::sso_checks(&store).await?;
            crate::report::sso::report(&checks, Vec::new(), now)
        }
        ReportCommand::Prunes => {
            let store = open(&args, config).await?;
            let prunes = store.prunes(args.target.as_deref()).await?;
            let entries: Vec<PruneEntry> = prunes.iter().map(prune_entry).collect();
            audit::prunes("prunes", &entries, now)
        }
    };
    emit(&report, &args, config, now).await?;
    Ok(Exit::Ok)
}

/// The store URL: `--store`, else the `[store]` table of the config file.
pub(super) fn store_url(args: &ReportArgs, config: &Path) -> Result<String> {
    if let Some(url) = &args.store {
        return Ok(url.clone());
    }
    if !config.exists() {
        bail!(
            "no store to report on: pass --store URL, or run where {} (or --config FILE) names one",
            config.display()
        );
    }
    let url = crate::config::load_store_url(config)?;
    Ok(secrecy::ExposeSecret::expose_secret(&url).to_owned())
}

/// Open the store read-only. A store that does not exist is an error, not an empty report: an
/// auditor pointed at the wrong file must not read "nothing happened".
pub(super) async fn open(args: &ReportArgs, config: &Path) -> Result<StoreRead> {
    let url = store_url(args, config)?;
    let Some(store) = Store::open_read_only(&url).await? else {
        bail!(
            "the store {} holds nothing to report: the database does not exist or was never \
             migrated. Check --store or the [store] url of {}; runs are recorded by `idbridge \
             sync` and `apply`",
            crate::store::redact_url(&url),
            config.display()
        );
    };
    if !store.audit_schema_present().await? {
        bail!(
            "the store {} was last migrated by an older idbridge, so it lacks the audit record; \
             run `idbridge migrate` (it takes the run lock), then the report",
            store.redacted_url()
        );
    }
    Ok(store)
}

/// Write the report to `--out` or stdout. An HTML page also shows the store and a chart of the
/// journal's changes over time, read here for every report (`cli::report_html`).
pub(super) async fn emit(
    report: &Report,
    args: &ReportArgs,
    config: &Path,
    now: DateTime<Utc>,
) -> Result<()> {
    let format = args.format.format();
    let width = if args.out.is_none() && std::io::stdout().is_terminal() {
        comfy_table::Table::new().width().unwrap_or(FIXED_WIDTH)
    } else {
        FIXED_WIDTH
    };
    let page = match format {
        Format::Html => super::report_html::page(args, config, now).await?,
        _ => Page::default(),
    };
    let text = render_page(report, format, width, &page)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, text.as_bytes())
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            eprintln!("report written to {}", path.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                // The reader went away (`| head`): what it wanted, it has.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
    }
    Ok(())
}

pub(super) fn window(args: &ReportArgs, since: Option<When>, until: Option<When>) -> Window {
    Window {
        since: since.map(When::start),
        until: until.map(When::end),
        target_name: args.target.clone(),
    }
}

pub(super) fn window_fields(
    args: &ReportArgs,
    since: Option<When>,
    until: Option<When>,
) -> Vec<Field> {
    let mut fields = Vec::new();
    if let Some(since) = since {
        fields.push(Field::new("since", "since", since.text()));
    }
    if let Some(until) = until {
        fields.push(Field::new("until", "until", until.text()));
    }
    if let Some(target) = &args.target {
        fields.push(Field::new("target", "target", target.as_str()));
    }
    fields
}

async fn runs_report(
    store: &StoreRead,
    args: &ReportArgs,
    runs: &RunsArgs,
    now: DateTime<Utc>,
) -> Result<Report> {
    let records = store
        .runs_in(&window(args, runs.since, runs.until), runs.limit)
        .await?;
    let entries: Vec<RunEntry> = records.iter().map(run_entry).collect();
    let mut parameters = window_fields(args, runs.since, runs.until);
    parameters.push(Field::new(
        "limit",
        "at most",
        Cell::Int(i64::from(runs.limit)),
    ));
    Ok(audit::runs(&entries, parameters, now))
}

async fn run_report(store: &StoreRead, id: i64, now: DateTime<Utc>) -> Result<Report> {
    let Some(record) = store.run(RunId(id)).await? else {
        bail!(
            "the store {} has no run {id}; `idbridge report runs` lists the runs",
            store.redacted_url()
        );
    };
    let ops: Vec<OpEntry> = store
        .operations(record.id)
        .await?
        .iter()
        .map(op_entry)
        .collect();
    Ok(audit::run(&run_entry(&record), &ops, now))
}

async fn changes_report(
    store: &StoreRead,
    args: &ReportArgs,
    changes: &ChangesArgs,
    now: DateTime<Utc>,
) -> Result<Report> {
    let window = window(args, Some(changes.since), changes.until);
    let records = store.done_operations(&window, MAX_CHANGES + 1).await?;
    if records.len() > MAX_CHANGES as usize {
        bail!(
            "more than {MAX_CHANGES} operations were done in this window; narrow it with \
             --since and --until (a report is never cut short)"
        );
    }
    let ops: Vec<OpEntry> = records.iter().map(op_entry).collect();
    let prunes: Vec<PruneEntry> = store
        .prunes(args.target.as_deref())
        .await?
        .iter()
        .map(prune_entry)
        .collect();
    let filter = ChangeFilter {
        user: changes.user.clone(),
        op: changes.op,
    };
    let mut parameters = window_fields(args, Some(changes.since), changes.until);
    if let Some(user) = &changes.user {
        parameters.push(Field::new("user", "user", user.as_str()));
    }
    if let Some(op) = changes.op {
        parameters.push(Field::new("op", "operation", <&str>::from(op)));
    }
    Ok(audit::changes(
        &ops,
        &filter,
        parameters,
        &prunes,
        changes.since.start(),
        now,
    ))
}

async fn upcoming_report(
    store: &StoreRead,
    args: &ReportArgs,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Report> {
    let mut recorded = Vec::new();
    for run in store.latest_upcoming(args.target.as_deref()).await? {
        let text = run.upcoming_json.as_deref().unwrap_or("[]");
        let events: Vec<Upcoming> = serde_json::from_str(text).with_context(|| {
            format!(
                "run {} in the store {} holds upcoming events that cannot be read",
                run.id,
                store.redacted_url()
            )
        })?;
        recorded.push(Recorded {
            run_id: run.id.0,
            target: run.target_name.clone(),
            read_at: run.started_at,
            events,
        });
    }
    let mut parameters = vec![Field::new("days", "days", Cell::Int(i64::from(days)))];
    parameters.extend(window_fields(args, None, None));
    Ok(upcoming::report(&recorded, days, parameters, now))
}

/// `report prune --before DATE`: the one report that writes.
async fn run_prune(
    args: &ReportArgs,
    prune: &PruneArgs,
    config: &Path,
    now: DateTime<Utc>,
) -> Result<Exit> {
    let cutoff = prune.before.start();
    if cutoff > now {
        bail!(
            "--before {} is in the future; prune only what has already happened",
            prune.before.text()
        );
    }
    let url = store_url(args, config)?;
    let done = match Store::open_read_only(&url).await? {
        None => Vec::new(),
        Some(peek) => {
            peek.close().await;
            prune_store(&url, args, cutoff, prune.yes, now).await?
        }
    };
    let entries: Vec<PruneEntry> = done.iter().map(prune_entry).collect();
    emit(&audit::prunes("prune", &entries, now), args, config, now).await?;
    Ok(Exit::Ok)
}

async fn prune_store(
    url: &str,
    args: &ReportArgs,
    cutoff: DateTime<Utc>,
    yes: bool,
    now: DateTime<Utc>,
) -> Result<Vec<PruneRecord>> {
    let store = Store::open(url).await?;
    let targets = match &args.target {
        Some(target) => vec![target.clone()],
        None => store.run_targets().await?,
    };
    if targets.is_empty() || !confirm_prune(&store, &targets, cutoff, yes)? {
        return Ok(Vec::new());
    }
    let holder = LockHolder {
        command: "report prune".to_owned(),
        pid: std::process::id(),
        host: pipeline::host_name(),
        started_at: now,
    };
    // Every lock first: a run of any of these targets makes this exit 4 with nothing deleted.
    let mut locks = Vec::with_capacity(targets.len());
    for target in &targets {
        locks.push(store.lock_run(target, &holder).await?);
    }
    store.migrate().await?;
    let request = PruneRequest {
        cutoff,
        at: now,
        reason: PruneReason::ReportPrune,
        host: holder.host.clone(),
        os_user: pipeline::os_user(),
    };
    let mut done = Vec::new();
    for lock in &locks {
        done.extend(store.prune(lock, &request).await?);
    }
    Ok(done)
}

fn confirm_prune(
    store: &Store,
    targets: &[String],
    cutoff: DateTime<Utc>,
    yes: bool,
) -> Result<bool> {
    if yes || !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(true);
    }
    eprint!(
        "Delete the journal of runs that finished before {} in {} (targets: {})? [y/N] ",
        crate::report::data::time_text(cutoff),
        store.redacted_url(),
        targets.join(", ")
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let yes = matches!(answer.trim(), "y" | "Y" | "yes");
    if !yes {
        eprintln!("nothing pruned");
    }
    Ok(yes)
}

/// A stored run as the reports read it.
pub(super) fn run_entry(r: &RunRecord) -> RunEntry {
    let (planned, problem) = audit::summary_facts(r.summary_json.as_deref());
    RunEntry {
        id: r.id.0,
        kind: r.kind.clone(),
        target: r.target_name.clone(),
        started_at: r.started_at,
        finished_at: r.finished_at,
        status: r.status.to_string(),
        plan_digest: r.plan_sha256.clone(),
        trigger: r.origin.as_ref().map(|o| o.trigger.to_string()),
        host: r.origin.as_ref().map(|o| o.host.clone()),
        os_user: r.origin.as_ref().map(|o| o.os_user.clone()),
        planned,
        outcome: r.journal.map(|j| [j.done, j.failed, j.skipped, j.unknown]),
        requests: r.scim.map(|s| [s.requests, s.retries, s.throttled]),
        pruned_at: r.pruned_at,
        problem,
    }
}

pub(super) fn op_entry(o: &OperationRecord) -> OpEntry {
    let (changes, members) = audit::planned_parts(&o.detail_json, o.planned_json.as_deref());
    OpEntry {
        run_id: o.run_id.0,
        seq: o.seq,
        op: o.op.clone(),
        subject: o.user_name.clone(),
        scim_id: o.scim_id.clone(),
        source_key: o.source_key.clone(),
        reason: o.reason.clone(),
        changes,
        members,
        status: o.status.to_string(),
        http_status: o.http_status,
        detail: o.error.clone().or_else(|| o.skip_reason.clone()),
        updated_at: o.updated_at,
    }
}

fn prune_entry(p: &PruneRecord) -> PruneEntry {
    PruneEntry {
        id: p.id,
        target: p.target_name.clone(),
        pruned_at: p.pruned_at,
        cutoff: p.cutoff,
        runs: p.runs,
        operations: p.operations,
        kept: p.kept,
        reason: p.reason.to_string(),
        host: p.host.clone(),
        os_user: p.os_user.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_until_takes_the_whole_day() {
        let day = parse_when("2026-03-02").unwrap();
        assert_eq!(day.start().to_rfc3339(), "2026-03-02T00:00:00+00:00");
        assert_eq!(day.end().to_rfc3339(), "2026-03-03T00:00:00+00:00");
        let at = parse_when("2026-03-02T10:00:00+01:00").unwrap();
        assert_eq!(at.start().to_rfc3339(), "2026-03-02T09:00:00+00:00");
        assert_eq!(at.end(), at.start());
        assert!(parse_when("02/03/2026").unwrap_err().contains("YYYY-MM-DD"));
        assert_eq!(parse_op_kind("readd-user"), Ok(OpKind::ReaddUser));
        assert!(parse_op_kind("delete-user")
            .unwrap_err()
            .contains("deactivate-user"));
    }
}
