//! Mapping: joins the records of one person across sources, decides each person's lifecycle from
//! the HR facts at the plan's `now`, applies the scope, renders the SCIM attributes from
//! templates, and selects the groups to push. Pure: no I/O, no clock.
//!
//! HR dates: a start date in the future keeps the person `Pending`; a termination takes effect at
//! the start of the day after `termination_date`, in the source's time zone, whether the status
//! already says "terminated" or not (until then the person is kept and carries a [`Leaving`]);
//! an inactive status with no date takes effect at once. The start of a day is its midnight, or
//! the first instant after it that exists when the zone skipped it (a DST gap, a skipped day):
//! every date has one, so no termination is ever lost to the calendar. Across sources, a
//! person is inactive when any source says so (an HR termination or a disabled directory
//! account), pending when one says so, otherwise active.

pub mod join;
pub mod roles;
pub mod rules;
pub mod template;

pub use join::{map, Mapped, SourceData};
pub use roles::{RoleMatch, RoleRule, RoleRules};
pub use rules::{Glob, GroupRules, JoinRules, MappingRules, Scope, SourceJoin, ATTR_KEYS};

use crate::model::{Employment, Leaving, Lifecycle, SourceRecord, StatusKind};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// How far from a local time, in seconds, the search for its instant looks: more than the widest
/// UTC offset (under 16 hours, local mean times included) plus the longest gap a zone has made
/// (a whole skipped day).
const SEARCH_SECONDS: i64 = 2 * 24 * 3600;

/// The first instant whose local time in `tz` is `local` or later, as UTC: `local` itself when it
/// exists (its earlier occurrence when the clocks go back over it), else the end of the gap it
/// falls in. Gaps come in every length: an hour at midnight (America/Santiago starts DST at
/// 00:00), a whole day (Pacific/Apia skipped 2011-12-30), a few seconds (a zone leaving local mean
/// time); so the gap's end is searched for, not guessed. Out of chrono's range it saturates.
fn first_instant(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    let target = local.and_utc().timestamp();
    // Whether the local time at UTC second `t` is `local` or later, in seconds, so that no local
    // time near the end of chrono's range can overflow.
    let reached = |t: i64| {
        DateTime::from_timestamp(t, 0).is_some_and(|utc| {
            let offset = tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
            t + i64::from(offset.local_minus_utc()) >= target
        })
    };
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    // At `lo` the local time is before `local`, at `hi` past it; in between it only moves forward
    // (a zone changes its offset months apart, not twice in four days), so bisect to the second.
    let mut lo = target.saturating_sub(SEARCH_SECONDS).max(min);
    let mut hi = target.saturating_add(SEARCH_SECONDS).min(max);
    if reached(lo) {
        hi = lo;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The start of `day` in `tz`, as UTC: its midnight, or, when the zone skipped that midnight (a
/// DST gap) or the whole day, the first instant after it that exists. Defined for every date.
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    first_instant(day.and_time(NaiveTime::MIN), tz)
}

/// When a termination on `end` takes effect: the start of the next day in `tz` (which is the
/// start of the day after that when the zone skipped the next day). A termination on the last
/// date chrono knows never takes effect.
fn effective_end(end: NaiveDate, tz: Tz) -> DateTime<Utc> {
    end.succ_opt()
        .map_or(DateTime::<Utc>::MAX_UTC, |next| start_of_day(next, tz))
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
    let inactive = *kind != StatusKind::Active;
    // The status is cited with the date only when it is what says "leaving".
    let cited = inactive.then_some(status_text);
    match end {
        Some(end) if now >= effective_end(*end, *timezone) => {
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
        if now < start_of_day(*start, *timezone) {
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
    let effective = effective_end(end, employment.timezone);
    let status = match employment.kind {
        StatusKind::Inactive | StatusKind::Disabled => employment.status.as_deref(),
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
            attrs: attrs.into(),
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

    fn zone(name: &str) -> Tz {
        name.parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Samoa skipped 2011-12-30: 2011-12-29 23:59:59 (-10:00) was followed by 2011-12-31 00:00
    /// (+14:00), at 10:00 UTC. A termination on the 29th takes effect then, not never.
    #[test]
    fn a_termination_before_a_skipped_day_takes_effect_when_the_next_day_begins() {
        let apia = zone("Pacific/Apia");
        assert_eq!(
            start_of_day(day("2011-12-30"), apia),
            at("2011-12-30T10:00:00Z")
        );
        assert_eq!(
            effective_end(day("2011-12-29"), apia),
            at("2011-12-30T10:00:00Z")
        );
        assert_eq!(
            effective_end(day("2011-12-30"), apia),
            at("2011-12-30T10:00:00Z")
        );
        let r = record(StatusKind::Inactive, None, Some("2011-12-29"), apia);
        assert_eq!(
            lifecycle(&r, at("2011-12-30T09:59:59Z")).0,
            Lifecycle::Active
        );
        let leaving = scheduled_end(&r, at("2011-12-30T09:59:59Z")).expect("scheduled");
        assert_eq!(leaving.effective, at("2011-12-30T10:00:00Z"));
        let (state, reason) = lifecycle(&r, at("2011-12-30T10:00:00Z"));
        assert_eq!(state, Lifecycle::Inactive);
        assert_eq!(
            reason,
            "hr: status=terminated, terminationDate=2011-12-29 (hr.csv line 2)"
        );
        assert!(scheduled_end(&r, at("2011-12-30T10:00:00Z")).is_none());
        // A start date on the skipped day is pending until the zone's next day begins.
        let hire = record(StatusKind::Active, Some("2011-12-30"), None, apia);
        assert_eq!(
            lifecycle(&hire, at("2011-12-30T09:59:59Z")).0,
            Lifecycle::Pending
        );
        assert_eq!(
            lifecycle(&hire, at("2011-12-30T10:00:00Z")).0,
            Lifecycle::Active
        );
    }

    /// Where DST starts at midnight the day begins at 01:00 local time.
    #[test]
    fn a_day_whose_midnight_is_skipped_starts_when_its_clocks_do() {
        // America/Havana, 2024-03-10: 00:00 (-05:00) became 01:00 (-04:00) at 05:00 UTC.
        let havana = zone("America/Havana");
        assert_eq!(
            start_of_day(day("2024-03-10"), havana),
            at("2024-03-10T05:00:00Z")
        );
        assert_eq!(
            effective_end(day("2024-03-09"), havana),
            at("2024-03-10T05:00:00Z")
        );
        // America/Santiago, 2024-09-08: 00:00 (-04:00) became 01:00 (-03:00) at 04:00 UTC.
        let santiago = zone("America/Santiago");
        assert_eq!(
            start_of_day(day("2024-09-08"), santiago),
            at("2024-09-08T04:00:00Z")
        );
        // Ordinary days and zones: midnight.
        assert_eq!(
            start_of_day(day("2024-09-09"), santiago),
            at("2024-09-09T03:00:00Z")
        );
        assert_eq!(
            start_of_day(day("2026-03-29"), zone("Europe/Paris")),
            at("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            start_of_day(day("2026-03-30"), zone("Europe/Paris")),
            at("2026-03-29T22:00:00Z")
        );
        assert_eq!(
            start_of_day(day("2026-01-01"), Tz::UTC),
            at("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            start_of_day(day("2026-01-01"), zone("Asia/Kolkata")),
            at("2025-12-31T18:30:00Z")
        );
    }

    /// For every day of 45 years in zones with gaps at midnight, skipped days and half-hour
    /// offsets, the start of a day is a local time at or after its midnight, and the second
    /// before it is still the day before: the first instant of the day, never missing.
    #[test]
    fn every_day_starts_at_the_first_instant_that_exists() {
        let zones = [
            "Pacific/Apia",
            "Pacific/Kiritimati",
            "Pacific/Kwajalein",
            "America/Havana",
            "America/Santiago",
            "America/Asuncion",
            "Asia/Tehran",
            "Australia/Lord_Howe",
            "Europe/Paris",
            "UTC",
        ];
        for name in zones {
            let tz = zone(name);
            let mut d = day("1990-01-01");
            while d < day("2035-01-01") {
                let midnight = d.and_time(NaiveTime::MIN);
                let start = start_of_day(d, tz);
                let local = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local();
                assert!(local(start) >= midnight, "{name} {d}: {start}");
                let before = start - chrono::Duration::seconds(1);
                assert!(local(before) < midnight, "{name} {d}: {start}");
                d = d.succ_opt().unwrap();
            }
        }
    }

    /// The first and last dates chrono knows give an instant too (no panic, no `None`): one
    /// out of range is the end of the range.
    #[test]
    fn dates_at_the_ends_of_the_calendar_saturate() {
        // Tokyo's local mean time was +09:18:59, so its first midnight is before the first UTC instant.
        assert_eq!(
            start_of_day(NaiveDate::MIN, zone("Asia/Tokyo")),
            DateTime::<Utc>::MIN_UTC
        );
        let last = NaiveDate::MAX.and_time(NaiveTime::MIN).and_utc();
        assert_eq!(
            start_of_day(NaiveDate::MAX, zone("Pacific/Kiritimati")),
            last - chrono::Duration::hours(14)
        );
        assert_eq!(
            effective_end(NaiveDate::MAX, Tz::UTC),
            DateTime::<Utc>::MAX_UTC
        );
        let r = record(
            StatusKind::Inactive,
            None,
            Some(&NaiveDate::MAX.to_string()),
            Tz::UTC,
        );
        assert_eq!(
            lifecycle(&r, at("2026-01-01T00:00:00Z")).0,
            Lifecycle::Active
        );
    }
}
