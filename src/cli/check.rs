//! `check-config`: validate the config, then test each connection.

use super::{exit, pipeline, Exit};
use crate::clock::Clock;
use anyhow::Result;
use std::path::Path;
use std::sync::Arc;

/// Run the checks; print one line per check. The exit is the worst failure: a config problem (2)
/// before an unreachable store, target or source or a refused token (3), before a failed check
/// (1); see `exit::worst`.
pub async fn run(config: &Path, clock: Arc<dyn Clock>) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    println!("ok    config {}", config.display());
    let mut exits = Vec::new();
    let mut report = |failed: Option<Exit>, what: String| {
        println!(
            "{} {what}",
            if failed.is_none() { "ok   " } else { "FAIL " }
        );
        exits.extend(failed);
    };
    match pipeline::open_store_read_only(&settings).await {
        Ok(Some(store)) => match store.ping().await {
            Ok(()) => report(
                None,
                format!("store {} ({})", store.redacted_url(), store.backend()),
            ),
            Err(e) => report(Some(exit::store_class(&e)), format!("store: {e}")),
        },
        Ok(None) => report(
            None,
            "store: no database yet; `idbridge migrate` or the first sync creates it".to_owned(),
        ),
        Err(e) => report(Some(exit::for_error(&e)), format!("store: {e:#}")),
    }
    match pipeline::client(&settings.target, clock) {
        Ok(client) => match client.probe().await {
            Ok(()) => report(
                None,
                format!(
                    "target {} ({}): token accepted",
                    settings.target.name, settings.target.url
                ),
            ),
            Err(e) => report(
                Some(exit::scim_class(&e)),
                format!("target {}: {e}", settings.target.name),
            ),
        },
        Err(e) => report(
            Some(exit::for_error(&e)),
            format!("target {}: {e:#}", settings.target.name),
        ),
    }
    match pipeline::read_sources(&settings).await {
        Ok(reads) => {
            for read in reads {
                // The same guardrail as `sync`: a source that yields nobody is refused (1).
                report(
                    read.records.is_empty().then_some(Exit::Blocked),
                    format!(
                        "source {}: {} valid people, {} rows skipped",
                        read.source,
                        read.records.len(),
                        read.issues.len()
                    ),
                );
                for issue in read.issues.iter().take(20) {
                    println!("        {}: {}", issue.location, issue.message);
                }
            }
        }
        Err(e) => report(Some(exit::for_error(&e)), format!("sources: {e:#}")),
    }
    Ok(exit::worst(exits))
}
