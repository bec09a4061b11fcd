//! What an HTML report shows around its rows (docs/reports.md, "Formats"): the store it was read
//! from and the counts of the chart of changes over time, read (read-only, like every report)
//! from the journal for the report's window. Any report rendered through `report::emit` gets
//! them, whatever it reads itself.

use super::report::{store_url, ReportArgs, ReportCommand, When};
use crate::report::chart::{Activity, DayCount};
use crate::report::html::Page;
use crate::store::{Store, Window};
use anyhow::{bail, Result};
use chrono::{DateTime, Duration, Utc};
use std::path::Path;

/// The chart's window when the report has none of its own: the 30 days up to its end.
const DEFAULT_DAYS: i64 = 30;
/// The most (day, kind) counts one chart reads; more asks for a narrower window.
const MAX_COUNTS: u32 = 100_000;

/// The window the chart covers, `[since, until)`: the report's own (`changes`, `runs`), else the
/// last [`DEFAULT_DAYS`] days up to now (or up to `--until`).
fn chart_window(command: &ReportCommand, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let (since, until) = match command {
        ReportCommand::Changes(c) => (Some(c.since), c.until),
        ReportCommand::Runs(r) => (r.since, r.until),
        _ => (None, None),
    };
    let until = until.map_or(now, When::end);
    let since = since.map_or_else(
        || {
            let last_day = (until - Duration::microseconds(1)).date_naive();
            (last_day - Duration::days(DEFAULT_DAYS - 1))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
        },
        When::start,
    );
    (since, until)
}

/// The page around `args`' report: the store (password masked), the target, and the journal's
/// operations per day and kind over the chart's window.
pub(super) async fn page(args: &ReportArgs, config: &Path, now: DateTime<Utc>) -> Result<Page> {
    let url = store_url(args, config)?;
    let (since, until) = chart_window(&args.command, now);
    let from = since.date_naive();
    // `until` is excluded: a window ending at midnight ends with the day before.
    let to = (until - Duration::microseconds(1)).date_naive().max(from);
    let mut page = Page {
        store: Some(crate::store::redact_url(&url)),
        target: args.target.clone(),
        activity: Some(Activity {
            from,
            to,
            counts: Vec::new(),
            pruned_before: None,
        }),
    };
    // `report prune` on a store that does not exist reports nothing pruned: nothing to count.
    let Some(store) = Store::open_read_only(&url).await? else {
        return Ok(page);
    };
    page.store = Some(store.redacted_url().to_owned());
    let window = Window {
        since: Some(since),
        until: Some(until),
        target_name: args.target.clone(),
    };
    let counts = store.daily_operations(&window, MAX_COUNTS).await?;
    if counts.len() >= MAX_COUNTS as usize {
        bail!(
            "the chart of this HTML report would count more than {MAX_COUNTS} days and kinds; \
             narrow it with --since and --until"
        );
    }
    let pruned_before = store
        .prunes(args.target.as_deref())
        .await?
        .iter()
        .map(|p| p.cutoff)
        .max();
    store.close().await;
    page.activity = Some(Activity {
        from,
        to,
        counts: counts
            .into_iter()
            .map(|c| DayCount {
                day: c.day,
                op: c.op,
                count: c.count,
            })
            .collect(),
        pruned_before,
    });
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::report::{ChangesArgs, RunArgs, RunsArgs};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn day(text: &str) -> When {
        When::Day(chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn the_chart_covers_the_report_window_or_the_last_30_days() {
        let now = at("2026-03-22T00:00:00Z");
        let changes = ReportCommand::Changes(ChangesArgs {
            since: day("2026-03-01"),
            until: Some(day("2026-03-05")),
            user: None,
            op: None,
            publish: None,
        });
        assert_eq!(
            chart_window(&changes, now),
            (at("2026-03-01T00:00:00Z"), at("2026-03-06T00:00:00Z"))
        );
        let run = ReportCommand::Run(RunArgs { id: 1 });
        // Ending at midnight, the window's last day is the 21st: 30 days from 20 February.
        assert_eq!(chart_window(&run, now), (at("2026-02-20T00:00:00Z"), now));
        let runs = ReportCommand::Runs(RunsArgs {
            since: None,
            until: Some(day("2026-03-10")),
            limit: 10,
        });
        assert_eq!(
            chart_window(&runs, now),
            (at("2026-02-09T00:00:00Z"), at("2026-03-11T00:00:00Z"))
        );
    }
}
