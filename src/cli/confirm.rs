//! `idbridge confirm reuse EMAIL --as same|new` and `idbridge confirm list` (docs/cli.md,
//! "confirm"; docs/lifecycle.md, "Rehires and returns"): an admin's decision about an email
//! reuse the planner held (`email-reused`). The command reads the sources, the target and the
//! store exactly as `sync` does, under the run lock, and records a decision only for a reuse the
//! plan holds right now; anything else is refused (exit 1) with what the plan says instead. The
//! decision is recorded in the store with who, where and when; the next plan takes it as input.

use super::output;
use super::pipeline::{self, Refused};
use super::{Exit, Format};
use crate::clock::Clock;
use crate::config::Settings;
use crate::model::{FindingCode, SourceKey, UserName};
use crate::plan::{KnownLink, Plan, Severity};
use crate::store::{Confirmation, Decision, NewConfirmation};
use anyhow::Result;
use chrono::SecondsFormat;
use clap::{Args, Subcommand, ValueEnum};
use std::path::Path;
use std::sync::Arc;

/// `confirm`.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// What to confirm.
    #[command(subcommand)]
    pub what: ConfirmCommand,
}

/// `confirm` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfirmCommand {
    /// Decide about a held email reuse: a new source key carries the email of someone idbridge
    /// took out of the workspace.
    Reuse(ReuseArgs),
    /// The recorded decisions, oldest first.
    List(ListArgs),
}

/// `confirm reuse`.
#[derive(Debug, Args)]
pub struct ReuseArgs {
    /// The reused email (the userName the plan's `email-reused` finding names).
    pub email: String,
    /// `same`: the former person returning under a new id (their account is re-added and linked
    /// to the new id). `new`: someone else (kept held; the former account is never handed over).
    #[arg(long = "as", value_enum)]
    pub decision: DecisionArg,
    /// A note kept with the decision (a ticket number, who asked).
    #[arg(long)]
    pub note: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `confirm list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `--as`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionArg {
    /// The same person, returning.
    Same,
    /// Someone new.
    New,
}

impl ConfirmArgs {
    /// The output format asked for.
    pub fn format(&self) -> Format {
        match &self.what {
            ConfirmCommand::Reuse(a) => a.format,
            ConfirmCommand::List(a) => a.format,
        }
    }
}

/// Run `confirm`.
pub async fn run(args: ConfirmArgs, config: &Path, clock: Arc<dyn Clock>) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    match args.what {
        ConfirmCommand::Reuse(a) => reuse(&settings, a, clock).await,
        ConfirmCommand::List(a) => list(&settings, a.format).await,
    }
}

/// A held reuse as the plan shows it.
struct Held {
    key: SourceKey,
    former: KnownLink,
    /// Already confirmed as someone new (the finding is a warning).
    confirmed_new: bool,
}

async fn reuse(settings: &Settings, args: ReuseArgs, clock: Arc<dyn Clock>) -> Result<Exit> {
    let now = clock.now();
    let (store, _lock) = pipeline::open_store_for_run(settings, "confirm", now).await?;
    // A reader: deciding what is held never writes to the target.
    let reader = pipeline::reader(&settings.target, clock.clone())?;
    let reads = pipeline::read_sources(settings, clock.as_ref()).await?;
    let policy = pipeline::policy(settings, false, None);
    let prepared =
        pipeline::prepare(settings, &reader, reads, Some(store.reader()), &policy, now).await?;
    let email = UserName::new(args.email.trim());
    let held = held(&prepared.plan, &prepared.links, &email)?;
    let decision = match args.decision {
        DecisionArg::Same => Decision::Same,
        DecisionArg::New => Decision::New,
    };
    if held.confirmed_new && decision == Decision::New {
        return Err(Refused(format!(
            "{email} ({}) is already confirmed as someone new; nothing recorded. `idbridge confirm list` shows the decision",
            held.key
        ))
        .into());
    }
    let record = NewConfirmation {
        target_name: settings.target.name.clone(),
        user_name: email.to_string(),
        key: held.key.clone(),
        former_key: held.former.key.clone(),
        former_scim_id: held.former.scim_id.clone(),
        decision,
        note: args.note,
        host: pipeline::host_name(),
        os_user: pipeline::os_user(),
        at: now,
    };
    let id = store.confirm(&record).await?;
    let recorded = store
        .confirmations(&settings.target.name)
        .await?
        .into_iter()
        .find(|c| c.id == id);
    match (args.format, recorded) {
        (Format::Json, Some(c)) => output::json(&c)?,
        _ => output::out(&recorded_text(id, &record)),
    }
    Ok(Exit::Ok)
}

/// The reuse of `email` the plan holds, or a refusal saying what the plan shows instead.
fn held(plan: &Plan, links: &[KnownLink], email: &UserName) -> Result<Held> {
    let formers: Vec<&KnownLink> = links.iter().filter(|l| l.user_name == *email).collect();
    let found = plan
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::EmailReused)
        .find_map(|f| {
            let key = SourceKey::parse(f.sources.first()?)?;
            let former_key = SourceKey::parse(f.sources.get(1)?)?;
            let former = formers.iter().find(|l| l.key == former_key)?;
            Some(Held {
                key,
                former: (*former).clone(),
                confirmed_new: f.severity != Severity::Error,
            })
        });
    found.ok_or_else(|| {
        Refused(format!(
            "nothing is held for {email}: the plan made now has no `email-reused` finding for it, so there is \
             nothing to confirm and nothing was recorded. `idbridge plan` shows what is held; `idbridge explain \
             {email}` shows what idbridge does with this person"
        ))
        .into()
    })
}

fn recorded_text(id: i64, c: &NewConfirmation) -> String {
    let then = match c.decision {
        Decision::Same => format!(
            "{} now holds {}'s link (account {}); the next sync re-adds that account for them",
            c.key, c.former_key, c.former_scim_id
        ),
        Decision::New => format!(
            "{} stays held and {}'s account is never handed over; give them another email in the source, or free \
             the address in the target first (docs/lifecycle.md, \"Rehires and returns\")",
            c.key, c.former_key
        ),
    };
    format!(
        "confirmation {id} recorded: {} ({}) is {} {} by {}@{}; {then}\n",
        c.user_name,
        c.key,
        match c.decision {
            Decision::Same => "the same person as",
            Decision::New => "someone other than",
        },
        c.former_key,
        c.os_user,
        c.host
    )
}

async fn list(settings: &Settings, format: Format) -> Result<Exit> {
    let store = pipeline::open_store_read_only(settings).await?;
    let records = match &store {
        Some(store) => store.confirmations(&settings.target.name).await?,
        None => Vec::new(),
    };
    match format {
        Format::Json => output::json(&records)?,
        Format::Table => output::out(&list_text(&records)),
    }
    Ok(Exit::Ok)
}

fn list_text(records: &[Confirmation]) -> String {
    if records.is_empty() {
        return "no confirmations recorded\n".to_owned();
    }
    let mut text = String::new();
    for c in records {
        let w = &c.what;
        let acted = match (c.consumed_run_id, c.consumed_at) {
            (Some(run), Some(at)) => format!(
                "acted on by run {run} at {}",
                at.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            _ => "not acted on yet".to_owned(),
        };
        text.push_str(&format!(
            "{} {} {} ({}) --as {} (former {}, account {}) by {}@{}{}; {acted}\n",
            c.id,
            w.confirmed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            w.user_name,
            w.key,
            w.decision,
            w.former_key,
            w.former_scim_id,
            w.os_user,
            w.host,
            w.note
                .as_deref()
                .map(|n| format!(", note: {n}"))
                .unwrap_or_default()
        ));
    }
    text
}
