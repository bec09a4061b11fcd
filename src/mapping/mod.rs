//! Mapping: joins the records of one person across sources, decides each person's lifecycle from
//! the HR facts at the plan's `now`, applies the scope, renders the SCIM attributes from
//! templates, and selects the groups to push. Pure: no I/O, no clock.
//!
//! HR dates: a start date in the future keeps the person `Pending`; a termination takes effect at
//! the start of the day after `termination_date`, in the source's time zone, whether the status
//! already says "terminated" or not (until then the person is kept and carries a [`Leaving`]);
//! an inactive status with no date takes effect at once. Across sources, a
//! person is inactive when any source says so (an HR termination or a disabled directory
//! account), pending when one says so, otherwise active.

pub mod join;
pub mod rules;
pub mod template;

pub use join::{map, Mapped, SourceData};
pub use rules::{Glob, GroupRules, JoinRules, MappingRules, Scope, SourceJoin, ATTR_KEYS};

use crate::model::{Employment, Leaving, Lifecycle, SourceRecord, StatusKind};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// Midnight at the start of `day` in `tz`, as UTC. On a DST gap at midnight the earliest valid
/// instant is used, so the rule never panics and never skips a day.
pub fn start_of_day(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let midnight = day.and_hms_opt(0, 0, 0)?;
    let local = tz.from_local_datetime(&midnight);
    local
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// When a termination on `end` takes effect: the start of the next day in `tz`.
fn effective_end(end: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    end.succ_opt().and_then(|next| start_of_day(next, tz))
}

/// The termination date fact, as reasons and findings cite it.
fn end_fact(record: &SourceRecord, status: Option<&str>, end: NaiveDate) -> String {
    let status = status.map(|s| format!("status={s}, ")).unwrap_or_default();
    format!(
        "{}: {status}terminationDate={end} ({})",
        record.key.source, record.location
    )
}

/// Lifecycle and its reason for a record at `now`. Any termination, whatever the status says,
/// acts at the start of the day after `termination_date`; an inactive status without a date acts
/// at once.
pub fn lifecycle(record: &SourceRecord, now: DateTime<Utc>) -> (Lifecycle, String) {
    let source = &record.key.source;
    let at = &record.location;
    let Some(Employment {
        status,
        kind,
        start,
        end,
        timezone,
    }) = &record.employment
    else {
        return (Lifecycle::Active, format!("{source}: present ({at})"));
    };
    let status_text = status.as_deref().unwrap_or("active");
    let inactive = *kind == StatusKind::Inactive;
    // The status is cited with the date only when it is what says "leaving".
    let cited = inactive.then_some(status_text);
    match end {
        Some(end) if effective_end(*end, *timezone).is_some_and(|e| now >= e) => {
            return (Lifecycle::Inactive, end_fact(record, cited, *end));
        }
        Some(_) => {}
        None if inactive => {
            return (
                Lifecycle::Inactive,
                format!("{source}: status={status_text} ({at})"),
            )
        }
        None => {}
    }
    if let Some(start) = start {
        if start_of_day(*start, *timezone).is_some_and(|s| now < s) {
            return (
                Lifecycle::Pending,
                format!("{source}: startDate={start} is in the future ({at})"),
            );
        }
    }
    match end {
        Some(end) if inactive => (
            Lifecycle::Active,
            format!("{}; not yet in effect", end_fact(record, cited, *end)),
        ),
        _ => (
            Lifecycle::Active,
            format!("{source}: status={status_text} ({at})"),
        ),
    }
}

/// A termination the record schedules that has not taken effect at `now`.
pub fn scheduled_end(record: &SourceRecord, now: DateTime<Utc>) -> Option<Leaving> {
    let employment = record.employment.as_ref()?;
    let end = employment.end?;
    let effective = effective_end(end, employment.timezone)?;
    let status = match employment.kind {
        StatusKind::Inactive => employment.status.as_deref(),
        StatusKind::Active => None,
    };
    (now < effective).then(|| Leaving {
        last_day: end,
        effective,
        timezone: employment.timezone,
        fact: end_fact(record, status, end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{attr, SourceKey};
    use std::collections::BTreeMap;

    fn record(kind: StatusKind, start: Option<&str>, end: Option<&str>, tz: Tz) -> SourceRecord {
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let attrs: BTreeMap<String, String> = [
            (attr::EMPLOYEE_ID, "E1"),
            (attr::EMAIL, "Ada@Example.com"),
            (attr::GIVEN_NAME, "Ada"),
            (attr::FAMILY_NAME, "Lovelace"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        SourceRecord {
            key: SourceKey::new("hr", "E1"),
            location: "hr.csv line 2".into(),
            attrs,
            employment: Some(Employment {
                status: Some(
                    if kind == StatusKind::Active {
                        "active"
                    } else {
                        "terminated"
                    }
                    .into(),
                ),
                kind,
                start: start.map(date),
                end: end.map(date),
                timezone: tz,
            }),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn termination_takes_effect_the_day_after_in_the_source_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let r = record(StatusKind::Active, None, Some("2026-03-01"), paris);
        // 2026-03-01 23:30 in Paris is 22:30 UTC: still employed.
        assert_eq!(
            lifecycle(&r, at("2026-03-01T22:30:00Z")).0,
            Lifecycle::Active
        );
        // Midnight of 2026-03-02 in Paris is 23:00 UTC on 03-01.
        let (state, reason) = lifecycle(&r, at("2026-03-01T23:00:00Z"));
        assert_eq!(state, Lifecycle::Inactive);
        assert_eq!(reason, "hr: terminationDate=2026-03-01 (hr.csv line 2)");
    }

    #[test]
    fn an_inactive_status_with_a_future_date_waits_for_the_day_after() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let r = record(StatusKind::Inactive, None, Some("2026-03-13"), paris);
        // The last day, late evening in Paris: still employed, and the reason says why.
        let (state, reason) = lifecycle(&r, at("2026-03-13T22:59:59Z"));
        assert_eq!(state, Lifecycle::Active);
        assert_eq!(
            reason,
            "hr: status=terminated, terminationDate=2026-03-13 (hr.csv line 2); not yet in effect"
        );
        let leaving = scheduled_end(&r, at("2026-03-13T22:59:59Z")).unwrap();
        assert_eq!(leaving.effective, at("2026-03-13T23:00:00Z"));
        assert_eq!(
            leaving.fact,
            "hr: status=terminated, terminationDate=2026-03-13 (hr.csv line 2)"
        );
        // Midnight in Paris: gone, the date cited.
        let (state, reason) = lifecycle(&r, at("2026-03-13T23:00:00Z"));
        assert_eq!(state, Lifecycle::Inactive);
        assert_eq!(
            reason,
            "hr: status=terminated, terminationDate=2026-03-13 (hr.csv line 2)"
        );
        assert!(scheduled_end(&r, at("2026-03-13T23:00:00Z")).is_none());
        // No date: at once.
        let now = record(StatusKind::Inactive, None, None, paris);
        assert_eq!(
            lifecycle(&now, at("2020-01-01T00:00:00Z")).0,
            Lifecycle::Inactive
        );
        assert!(scheduled_end(&now, at("2020-01-01T00:00:00Z")).is_none());
    }

    #[test]
    fn an_active_status_with_a_future_date_is_scheduled_too() {
        let r = record(StatusKind::Active, None, Some("2026-03-13"), Tz::UTC);
        let leaving = scheduled_end(&r, at("2026-03-01T00:00:00Z")).unwrap();
        assert_eq!(
            leaving.fact,
            "hr: terminationDate=2026-03-13 (hr.csv line 2)"
        );
        assert_eq!(
            lifecycle(&r, at("2026-03-01T00:00:00Z")).0,
            Lifecycle::Active
        );
    }

    #[test]
    fn future_start_is_pending_and_status_wins() {
        let r = record(StatusKind::Active, Some("2026-06-01"), None, Tz::UTC);
        assert_eq!(
            lifecycle(&r, at("2026-05-31T23:59:59Z")).0,
            Lifecycle::Pending
        );
        assert_eq!(
            lifecycle(&r, at("2026-06-01T00:00:00Z")).0,
            Lifecycle::Active
        );
        let gone = record(StatusKind::Inactive, Some("2020-01-01"), None, Tz::UTC);
        let (state, reason) = lifecycle(&gone, at("2026-01-01T00:00:00Z"));
        assert_eq!(state, Lifecycle::Inactive);
        assert!(reason.contains("status=terminated"));
    }
}
