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
use crate::report::explain::{Explanation, HistoryView};
use crate::store::{LinkHistoryEntry, LinkKind};
use anyhow::Result;
use chrono::SecondsFormat;
use clap::Args;
use std::collections::BTreeSet;
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
    let history = match &store {
        Some(store) => store.link_history(facts.target, LinkKind::User).await?,
        None => Vec::new(),
    };
    let mut explanation = match explain::explain(&facts, &args.who) {
        Ok(found) => found,
        // A former email (or key) of someone whose link moved on: explain them as they are now.
        Err(not_found) => match former_key(&history, &args.who) {
            Some(key) => {
                explain::explain(&facts, &key).map_err(|_| Refused(not_found.to_string()))?
            }
            None => return Err(Refused(not_found.to_string()).into()),
        },
    };
    explanation.history = link_history(&history, &explanation);
    match args.format {
        Format::Json => output::json(&explanation)?,
        Format::Table => output::out(&explain::letter(&explanation)),
    }
    Ok(Exit::Ok)
}

/// The key whose link last held `who` as its userName (or was `who`), from the link history.
fn former_key(history: &[LinkHistoryEntry], who: &str) -> Option<String> {
    let who = who.trim().to_lowercase();
    history
        .iter()
        .rev()
        .find(|h| {
            let named = |side: &Option<crate::store::LinkSide>| {
                side.as_ref()
                    .is_some_and(|s| s.user_name.to_lowercase() == who)
            };
            named(&h.after)
                || named(&h.before)
                || h.previous_key
                    .as_ref()
                    .is_some_and(|k| k.to_string().to_lowercase() == who)
        })
        .map(|h| h.key.to_string())
}

/// The history rows of the explained person's link: under their key, of their SCIM id, and of
/// the keys their link moved from.
fn link_history(history: &[LinkHistoryEntry], e: &Explanation) -> Vec<HistoryView> {
    let Some(link) = &e.link else {
        return Vec::new();
    };
    let mut keys: BTreeSet<String> = BTreeSet::from([link.key.clone()]);
    let ids: BTreeSet<&str> = BTreeSet::from([link.scim_id.as_str()]);
    for h in history.iter().rev() {
        if keys.contains(&h.key.to_string()) {
            keys.extend(h.previous_key.as_ref().map(ToString::to_string));
        }
    }
    let of_id = |side: &Option<crate::store::LinkSide>| {
        side.as_ref()
            .is_some_and(|s| ids.contains(s.scim_id.0.as_str()))
    };
    history
        .iter()
        .filter(|h| keys.contains(&h.key.to_string()) || of_id(&h.after) || of_id(&h.before))
        .map(|h| HistoryView {
            at: h.changed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            run: h.run_id.map(|r| r.0),
            cause: h.cause.clone(),
            key: h.key.to_string(),
            previous_key: h.previous_key.as_ref().map(ToString::to_string),
            scim_id: h.after.as_ref().map(|s| s.scim_id.0.clone()),
            previous_scim_id: h.before.as_ref().map(|s| s.scim_id.0.clone()),
            user_name: h.after.as_ref().map(|s| s.user_name.clone()),
            previous_user_name: h.before.as_ref().map(|s| s.user_name.clone()),
            state: h.after.as_ref().map(|s| s.state.to_string()),
        })
        .collect()
}
