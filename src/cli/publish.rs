//! `idbridge report changes … --publish notion` and `report users --publish notion`: the report
//! written into a Notion database
//! through Notion's public API (docs/reports.md, "Publishing to Notion") instead of printed.
//!
//! Wiring only: the store is read as the report reads it (read-only), the `[notion]` table of the
//! config file gives the database and the integration token (no other table is resolved, so no
//! SCIM token is needed), `notion_api::publish` writes, and `report::publish` renders what it
//! did in the report's `--format`. A report is a small addition: its rows as a `Report`, the
//! column that keys its pages, and the `[notion]` key that names its database.

use super::report::{self, ChangesArgs, ReportArgs};
use super::Exit;
use crate::clock::Clock;
use crate::config::NotionSettings;
use crate::notion_api::client::{Client, DatabaseId, Settings};
use crate::notion_api::{self, Layout, Outcome};
use crate::report::audit::{ChangeFilter, OpEntry};
use crate::report::publish::{change_pages, publish_summary, PublishView, CHANGE_KEY};
use crate::report::{Field, Report};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use std::path::Path;
use std::sync::Arc;

/// The users report's column that keys its pages: a person's userName (their email in Notion).
const USER_KEY: &str = "userName";

/// Where a report can be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishTo {
    /// A Notion database, through Notion's public API (`[notion]` in the config).
    Notion,
}

/// `report changes --since … --publish notion`: one page per change.
pub(super) async fn changes(
    args: &ReportArgs,
    changes: &ChangesArgs,
    config: &Path,
    clock: Arc<dyn Clock>,
) -> Result<Exit> {
    let notion = notion_settings(config)?;
    let db = database(notion.changes_database.as_ref(), "changes_database", config)?;
    let now = clock.now();
    let store = report::open(args, config).await?;
    let window = report::window(args, Some(changes.since), changes.until);
    let records = store
        .done_operations(&window, report::MAX_CHANGES + 1)
        .await?;
    if records.len() > report::MAX_CHANGES as usize {
        bail!(
            "more than {} operations were done in this window; narrow it with --since and \
             --until (a report is never cut short)",
            report::MAX_CHANGES
        );
    }
    let ops: Vec<OpEntry> = records.iter().map(report::op_entry).collect();
    let filter = ChangeFilter {
        user: changes.user.clone(),
        op: changes.op,
    };
    let mut parameters = report::window_fields(args, Some(changes.since), changes.until);
    if let Some(user) = &changes.user {
        parameters.push(Field::new("user", "user", user.as_str()));
    }
    if let Some(op) = changes.op {
        parameters.push(Field::new("op", "operation", <&str>::from(op)));
    }
    let rows = change_pages(&ops, &filter, parameters, now);
    let layout = Layout {
        key: CHANGE_KEY,
        noun: "change",
    };
    publish(&notion, &db, &rows, &layout, args, config, clock).await
}

/// `report users --publish notion`: the access review, one page per person, keyed by userName.
pub(super) async fn users(args: &ReportArgs, config: &Path, clock: Arc<dyn Clock>) -> Result<Exit> {
    let notion = notion_settings(config)?;
    let db = database(notion.users_database.as_ref(), "users_database", config)?;
    let store = report::open(args, config).await?;
    let rows = super::review::report(
        super::review::Which::Users,
        args,
        &store,
        config,
        clock.clone(),
    )
    .await?;
    let layout = Layout {
        key: USER_KEY,
        noun: "person",
    };
    publish(&notion, &db, &rows, &layout, args, config, clock).await
}

/// The `[notion]` table, or why there is none.
fn notion_settings(config: &Path) -> Result<NotionSettings> {
    if !config.exists() {
        bail!(
            "publishing needs the [notion] table of a config file, and {} does not exist; pass \
             --config FILE (docs/config.md, [notion])",
            config.display()
        );
    }
    crate::config::load_notion(config)?.with_context(|| {
        format!(
            "{} has no [notion] table: add one with the database ids and token_env \
             (docs/config.md, [notion]) to publish",
            config.display()
        )
    })
}

/// The database a report is published into, or which key to set.
fn database(id: Option<&DatabaseId>, key: &str, config: &Path) -> Result<DatabaseId> {
    id.cloned().with_context(|| {
        format!(
            "{}: the [notion] table has no {key}; set it to the id of the database to publish \
             into (docs/config.md, [notion])",
            config.display()
        )
    })
}

/// Publish `rows` into `db`, print what was done, and say how it ended: 0 done, 1 when a
/// page failed, the stopping error's own class (with what was done before it) when the publish
/// stopped midway.
async fn publish(
    notion: &NotionSettings,
    db: &DatabaseId,
    rows: &Report,
    layout: &Layout,
    args: &ReportArgs,
    config: &Path,
    clock: Arc<dyn Clock>,
) -> Result<Exit> {
    let now = clock.now();
    let mut settings = Settings::new(
        notion.url.clone(),
        &notion.version,
        notion.token.clone(),
        &notion.token_source,
    );
    settings.rate_limit = notion.rate_limit;
    settings.timeout = notion.timeout;
    settings.max_retries = notion.max_retries;
    settings.max_retry_after = notion.max_retry_after;
    settings.max_reply_bytes = notion.max_reply_bytes;
    let client = Client::new(settings, clock)?;
    let mut outcome = notion_api::publish(&client, db, rows, layout).await?;
    if let Some(error) = outcome.stopped.take() {
        // One error, not a summary and then an error: `--format json` prints one document.
        let progress = format!(
            "the publish into the Notion database {db} stopped with {} page(s) created, {} \
             updated and {} unchanged, {} row(s) not reached; publish again once this is fixed: \
             pages already written are found by their key and updated, never duplicated",
            outcome.created.len(),
            outcome.updated.len(),
            outcome.unchanged,
            outcome.not_reached
        );
        return Err(anyhow::Error::new(error).context(progress));
    }
    let view = view_of(&outcome, rows.name);
    report::emit(&publish_summary(&view, now), args, config, now).await?;
    Ok(if outcome.failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Blocked
    })
}

fn view_of(outcome: &Outcome, report: &str) -> PublishView {
    PublishView {
        report: report.to_owned(),
        database: outcome.database.clone(),
        title_property: outcome.title_property.clone(),
        created: outcome.created.clone(),
        updated: outcome.updated.clone(),
        unchanged: outcome.unchanged,
        failed: outcome.failed.clone(),
        left_alone: outcome.left_alone,
        duplicates: outcome.duplicates.clone(),
        not_published: outcome.not_published.clone(),
        cut: outcome.cut.clone(),
        requests: [
            outcome.counts.requests,
            outcome.counts.retries,
            outcome.counts.throttled,
        ],
    }
}
