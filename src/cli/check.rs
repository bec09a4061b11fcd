//! `check-config`: validate the config, then test each connection.

use super::pipeline;
use super::Exit;
use crate::clock::Clock;
use anyhow::Result;
use std::path::Path;
use std::sync::Arc;

/// Run the checks; print one line per check.
pub async fn run(config: &Path, clock: Arc<dyn Clock>) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    println!("ok    config {}", config.display());
    let mut failed = 0;
    let mut report = |ok: bool, what: String| {
        if !ok {
            failed += 1;
        }
        println!("{} {what}", if ok { "ok   " } else { "FAIL " });
    };
    match pipeline::open_store_read_only(&settings).await {
        Ok(Some(store)) => match store.ping().await {
            Ok(()) => report(
                true,
                format!("store {} ({})", store.redacted_url(), store.backend()),
            ),
            Err(e) => report(false, format!("store: {e}")),
        },
        Ok(None) => report(
            true,
            "store: no database yet; `idbridge migrate` or the first sync creates it".to_owned(),
        ),
        Err(e) => report(false, format!("store: {e:#}")),
    }
    match pipeline::client(&settings.target, clock) {
        Ok(client) => match client.probe().await {
            Ok(()) => report(
                true,
                format!(
                    "target {} ({}): token accepted",
                    settings.target.name, settings.target.url
                ),
            ),
            Err(e) => report(false, format!("target {}: {e}", settings.target.name)),
        },
        Err(e) => report(false, format!("target {}: {e:#}", settings.target.name)),
    }
    match pipeline::read_sources(&settings).await {
        Ok(reads) => {
            for read in reads {
                report(
                    !read.records.is_empty(),
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
        Err(e) => report(false, format!("sources: {e:#}")),
    }
    Ok(if failed == 0 { Exit::Ok } else { Exit::Blocked })
}
