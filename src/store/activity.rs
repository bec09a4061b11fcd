//! The journal's activity over time: operations done per UTC day and kind, counted by the
//! database so a chart over years reads one row per active day and kind, never the journal
//! itself (the HTML report's chart, docs/reports.md, "Formats").

use super::runs::{count_i64, Window};
use super::{Result, StoreRead};
use chrono::NaiveDate;

/// Operations of one kind done on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyOps {
    /// The UTC day they were done (when their outcome was recorded).
    pub day: NaiveDate,
    /// The operation kind, e.g. `create-user`.
    pub op: String,
    /// How many.
    pub count: u64,
}

impl StoreRead {
    /// Operations marked `done` within `window`, counted per UTC day and kind, by day then kind;
    /// at most `limit` rows (a caller that gets `limit` rows asks for a narrower window).
    pub async fn daily_operations(&self, window: &Window, limit: u32) -> Result<Vec<DailyOps>> {
        const T: &str = "operations";
        // Instants are stored as fixed-width RFC 3339 text in UTC, so the first ten characters
        // are the UTC day on both backends, and grouping by them needs no date function.
        let rows = sqlx::query(
            "SELECT substr(updated_at, 1, 10) AS day, op, COUNT(*) AS n FROM operations \
             WHERE status = 'done' AND updated_at >= $1 AND updated_at < $2 \
             AND ($3 = '' OR target_name = $3) \
             GROUP BY substr(updated_at, 1, 10), op ORDER BY day, op LIMIT $4",
        )
        .bind(window.since_text())
        .bind(window.until_text())
        .bind(window.target_name.as_deref().unwrap_or(""))
        .bind(count_i64(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.query_err("count the operations per day", T, &e))?;
        rows.iter()
            .map(|row| {
                let day: String = self.get(row, T, "day")?;
                let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| {
                    self.corrupt(
                        T,
                        "updated_at",
                        &day,
                        format!("not an RFC 3339 instant: {e}"),
                    )
                })?;
                let count: i64 = self.get(row, T, "n")?;
                Ok(DailyOps {
                    day,
                    op: self.get(row, T, "op")?,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }
}
