//! `idbridge explain EMAIL|EMPLOYEE-ID` (docs/cli.md): reads the sources, the workspace and the
//! store exactly as `plan` does (a SCIM `Reader`, a `StoreRead`: it cannot write), makes the plan,
//! and hands the facts about one person to `report::explain`, which writes the letter (or the
//! JSON). Nobody matching is a refusal (exit 1) with the nearest email or id.

use super::output;
use super::pipeline::{self, Refused};
use super::review;
use super::{Exit, Format};
use crate::clock::Clock;
use crate::report::explain::{self, Facts};
use anyhow::Result;
use clap::Args;
use std::path::Path;
use std::sync::Arc;

/// `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The person: an email (userName), an employee id, or a source key such as hr:E1.
    pub who: String,
    /// Output format: a letter, or the same facts as one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Run `explain`.
pub async fn run(args: ExplainArgs, config: &Path, clock: Arc<dyn Clock>) -> Result<Exit> {
    let now = clock.now();
    let settings = pipeline::load(config)?;
    let store = pipeline::open_store_read_only(&settings).await?;
    let live = review::read(settings, store.as_ref(), clock).await?;
    let facts = Facts {
        ws: live.workspace(),
        plan: &live.prepared.plan,
        issues: &live.prepared.issues,
        target: &live.settings.target.name,
        now,
    };
    let explanation = explain::explain(&facts, &args.who).map_err(|e| Refused(e.to_string()))?;
    match args.format {
        Format::Json => output::json(&explanation)?,
        Format::Table => output::out(&explain::letter(&explanation)),
    }
    Ok(Exit::Ok)
}
