//! Command-line glue: parses arguments, wires config, sources, target, store and clock together,
//! and renders results. `anyhow` lives here and in `main` only.
//!
//! Exit codes (docs/cli.md): 0 ok; 1 blocked, refused, findings or a failed operation; 2 usage or
//! config error; 3 environment failure (target, source or store unreachable, token refused), before
//! or during apply; 4 the run lock is held by another run. When 3 and 1 both apply, 3 wins. Module
//! `exit` classifies errors into that table.

mod check;
mod confirm;
mod demo;
mod emulator;
pub mod exit;
mod explain;
mod gates;
pub mod logging;
pub mod output;
pub mod pipeline;
pub mod progress;
mod publish;
mod report;
mod report_html;
mod review;
mod saml;
mod serve;

pub use pipeline::Refused;
mod sync;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::{Clock, FixedClock, SystemClock};

/// How a command ended; `main` turns it into the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (warnings included).
    Ok,
    /// 1: blocked, refused, conflicts or failed operations.
    Blocked,
    /// 2: bad usage, bad config, unreadable input file.
    Usage,
    /// 3: the environment failed: target, source or store unreachable, token refused.
    Environment,
    /// 4: another run holds the run lock for this store and target.
    Locked,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Blocked => 1,
            Exit::Usage => 2,
            Exit::Environment => 3,
            Exit::Locked => 4,
        }
    }

    /// A stable name for the class (the `kind` of a JSON error document).
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Blocked => "blocked",
            Exit::Usage => "usage",
            Exit::Environment => "environment",
            Exit::Locked => "locked",
        }
    }
}

/// Output format of plan-like commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A human-readable table.
    Table,
    /// One JSON document on stdout.
    Json,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// idbridge: provision people and groups from LDAP/AD and HR into Notion (or any SCIM 2.0 service).
#[derive(Debug, Parser)]
#[command(name = "idbridge", version, about, long_about = None, after_help = exit::TABLE)]
pub struct Cli {
    /// Config file.
    #[arg(long, global = true, default_value = "idbridge.toml")]
    pub config: PathBuf,
    /// Log format (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Pretend the current time is this RFC 3339 instant (HR date rules, plan timestamps).
    #[arg(long, global = true, hide = true)]
    pub now: Option<DateTime<Utc>>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Emulator + bundled sample company + SQLite: plan, sync and report in one go (no network, no config).
    Demo(DemoArgs),
    /// Validate the config and test each connection (store, target, sources).
    CheckConfig(FormatArgs),
    /// Dry run: read everything, print the plan, write nothing.
    Plan(PlanArgs),
    /// Apply a plan saved by `plan --out`, if the target has not changed since.
    Apply(ApplyArgs),
    /// Plan and apply in one go.
    Sync(SyncArgs),
    /// Audit reports from the store: runs, one run, changes, upcoming starts and terminations, prunes.
    Report(report::ReportArgs),
    /// Why this person gets (or does not get) each operation right now: their record in each
    /// source, how the join merged them, the mapped resource, the workspace's user, the link and
    /// the rule that decided. Reads as `plan` does; writes nothing.
    Explain(explain::ExplainArgs),
    /// SAML SSO checks: IdP metadata, SAML responses, a test login.
    Saml(saml::SamlArgs),
    /// Run the sync on the schedule of [serve], with /healthz, /readyz, /metrics, /runs and POST /sync.
    Serve(serve::ServeArgs),
    /// Serve the Notion SCIM emulator.
    Emulator(EmulatorArgs),
    /// Record an admin's decision about something the plan holds for one: `confirm reuse EMAIL
    /// --as same|new` for a reused email; `confirm list` shows the decisions.
    Confirm(confirm::ConfirmArgs),
    /// Run store migrations and exit (takes the run lock of the configured target).
    Migrate(FormatArgs),
    /// Ask the local `serve` for /readyz: exit 0 ready, 1 not ready, 3 unreachable.
    Healthcheck(serve::HealthcheckArgs),
}

/// Commands whose only option is the output format.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write the plan as JSON to this file, for `apply --plan`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Let the plan go past the deactivation guardrail and the role guardrail
    /// (`roles.max_role_changes`).
    #[arg(long)]
    pub force: bool,
    /// Write to at most N users.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Plan again the changes the target refused on its own in an earlier run (they are held
    /// back otherwise, until their source value changes).
    #[arg(long)]
    pub retry_refused: bool,
    /// Pass one source health gate this run (`GATE` or `GATE:SOURCE`, as its finding says); the
    /// read becomes the source's new baseline. Repeatable. `--force` never passes a gate.
    #[arg(long = "override", value_name = "GATE[:SOURCE]", value_parser = crate::plan::gates::Override::parse)]
    pub overrides: Vec<crate::plan::gates::Override>,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file written by `plan --out`.
    #[arg(long)]
    pub plan: PathBuf,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Apply a plan that a guardrail blocked.
    #[arg(long)]
    pub force: bool,
    /// Apply only if the plan's planDigest is this (the digest an approver signed off).
    #[arg(long, value_name = "HEX")]
    pub expect_digest: Option<String>,
    /// Not needed: a plan made with `--override` is applied under it. A gate named here that the
    /// plan did not pass makes the gates' verdict differ from the plan's, which refuses it.
    #[arg(long = "override", value_name = "GATE[:SOURCE]", value_parser = crate::plan::gates::Override::parse)]
    pub overrides: Vec<crate::plan::gates::Override>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Go past the deactivation guardrail and the role guardrail (`roles.max_role_changes`).
    #[arg(long)]
    pub force: bool,
    /// Write to at most N users (start small).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Send again the changes the target refused on its own in an earlier run (they are held
    /// back otherwise, until their source value changes).
    #[arg(long)]
    pub retry_refused: bool,
    /// Pass one source health gate this run (`GATE` or `GATE:SOURCE`, as its finding says); the
    /// read becomes the source's new baseline. Repeatable. `--force` never passes a gate.
    #[arg(long = "override", value_name = "GATE[:SOURCE]", value_parser = crate::plan::gates::Override::parse)]
    pub overrides: Vec<crate::plan::gates::Override>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// File holding the bearer token clients must send.
    #[arg(long)]
    pub token_file: PathBuf,
    /// Email of the workspace owner the token belongs to.
    #[arg(long, default_value = "owner@example.com")]
    pub token_owner: String,
    /// Emulator profile (TOML): switches, seed data, faults.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Expose the /_emulator/* control routes (tests).
    #[arg(long)]
    pub control: bool,
    /// Rate limit in requests per second per token (429 with Retry-After beyond it).
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Also serve Notion's public API under /v1/ (the token file's token as the integration
    /// token, a `changes` database created, at 3 requests per second): for `report … --publish`.
    #[arg(long)]
    pub notion_api: bool,
}

/// Run the parsed command.
pub async fn run(cli: Cli) -> Result<Exit> {
    let clock: Arc<dyn Clock> = match cli.now {
        Some(now) => Arc::new(FixedClock::new(now)),
        None => Arc::new(SystemClock),
    };
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::CheckConfig(args) => check::run(&cli.config, clock, args.format).await,
        Command::Plan(args) => sync::plan(&cli.config, clock, args).await,
        Command::Apply(args) => sync::apply(&cli.config, clock, args).await,
        Command::Sync(args) => sync::sync(&cli.config, clock, args).await,
        Command::Migrate(args) => sync::migrate(&cli.config, clock, args.format).await,
        Command::Emulator(args) => emulator::run(args, clock).await,
        Command::Saml(args) => saml::run(args, clock, &cli.config).await,
        Command::Report(args) => report::run(args, &cli.config, clock).await,
        Command::Explain(args) => explain::run(args, &cli.config, clock).await,
        Command::Confirm(args) => confirm::run(args, &cli.config, clock).await,
        Command::Serve(args) => serve::serve(&cli.config, clock, args).await,
        Command::Healthcheck(args) => serve::healthcheck(&cli.config, args).await,
    }
}

impl Cli {
    /// The output format the command was asked for; `main` needs it before the command runs, to
    /// report a failure as JSON.
    pub fn format(&self) -> Format {
        match &self.command {
            Command::Demo(a) => a.format,
            Command::CheckConfig(a) | Command::Migrate(a) => a.format,
            Command::Plan(a) => a.format,
            Command::Apply(a) => a.format,
            Command::Sync(a) => a.format,
            Command::Saml(a) => a.format(),
            Command::Report(r) => r.format.json_or_table(),
            Command::Explain(a) => a.format,
            Command::Confirm(a) => a.format(),
            Command::Serve(_) | Command::Healthcheck(_) | Command::Emulator(_) => Format::Table,
        }
    }
}

/// Whether raw arguments ask for `--format json`: for command lines clap could not parse (and
/// commands that take any argument), so their failure is reported as JSON too.
pub fn json_requested<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> bool {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
    args.iter().enumerate().any(|(i, a)| {
        *a == "--format=json" || (*a == "--format" && args.get(i + 1).is_some_and(|v| *v == "json"))
    })
}

/// End a command line clap could not parse (or `--help`, `--version`): clap's text as usual,
/// and with `--format json` a JSON error document on stdout too. Returns the exit code.
pub fn parse_failed<S: AsRef<std::ffi::OsStr>>(error: clap::Error, args: &[S]) -> u8 {
    let code = u8::try_from(error.exit_code()).unwrap_or(Exit::Usage.code());
    // clap writes through anstream, which drops colours off a terminal and with NO_COLOR, and
    // returns (not panics on) a closed pipe.
    let _ = error.print();
    if code != 0 && json_requested(args) {
        let message = error.render().to_string();
        let doc = output::error_document(message.trim(), Exit::Usage);
        let _ = output::json(&doc);
    }
    code
}

/// How `main` ends a command: an error is reported on stderr (and as the JSON error document
/// when JSON was asked for and no document was written yet), a failure to write stdout turns the
/// exit into 3, and the result is the exit code.
pub fn finish(result: Result<Exit>, format: Format) -> Exit {
    let exit = match result {
        Ok(exit) => exit,
        Err(err) => {
            let exit = exit::for_error(&err);
            let message = format!("{err:#}");
            output::errln!("idbridge: {}", crate::report::safe_lines(&message));
            if format == Format::Json && !output::json_written() {
                let _ = output::json(&output::error_document(&message, exit));
            }
            exit
        }
    };
    match output::stdout_failure() {
        Some(why) => {
            output::errln!(
                "idbridge: could not write the output to stdout ({why}); it is incomplete (exit 3)"
            );
            exit::worst([exit, Exit::Environment])
        }
        None => exit,
    }
}

/// Demo arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's SQLite database in this folder instead of a temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}
