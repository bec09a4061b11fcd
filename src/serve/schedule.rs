//! When `serve` runs the sync: `[serve] every` (a fixed interval) or `cron` in a named time zone,
//! plus `jitter`. Pure: every function takes `now`.
//!
//! Ticks are instants every replica computes alike: `every` ticks fall on multiples of the
//! interval since the Unix epoch (`every = "1h"` is the top of each hour, UTC), and cron ticks
//! are the expression's matches in its zone. So two replicas agree on which tick a run belongs
//! to, and the one that loses the run lock, or comes second, knows that tick is taken.
//!
//! After downtime the scheduler asks for [`Schedule::previous`] once, at start: the one tick that
//! was missed most recently is caught up (if no run of it was recorded), never every tick missed.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use std::time::Duration;

/// How often the sync runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A fixed interval, aligned on the Unix epoch.
    Every(Duration),
    /// A cron expression (five fields, minute first) in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<Cron>,
        /// The expression as written, for messages.
        text: String,
        /// The zone its fields are read in.
        zone: Tz,
    },
}

/// Why a cron expression was refused.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not a cron expression with five fields (minute hour day-of-month month day-of-week, e.g. \"0 7 * * 1-5\"): {reason}")]
pub struct CronError {
    text: String,
    reason: String,
}

impl Schedule {
    /// A cron schedule from its text: five fields, or a `@daily`-style alias. Seconds are not
    /// accepted: a sync more often than once a minute is better written as `every`.
    pub fn cron(text: &str, zone: Tz) -> Result<Self, CronError> {
        let fail = |reason: String| CronError {
            text: text.to_owned(),
            reason,
        };
        let fields = text.split_whitespace().count();
        if !text.trim_start().starts_with('@') && fields != 5 {
            return Err(fail(format!("it has {fields} fields")));
        }
        let cron = croner::parser::CronParser::builder()
            .build()
            .parse(text.trim())
            .map_err(|e| fail(e.to_string()))?;
        // An expression that never matches (`0 0 30 2 *`) would leave serve idle forever.
        let probe = Utc
            .timestamp_opt(0, 0)
            .single()
            .unwrap_or_default()
            .with_timezone(&zone);
        if cron.find_next_occurrence(&probe, false).is_err() {
            return Err(fail("it never matches".to_owned()));
        }
        Ok(Schedule::Cron {
            cron: Box::new(cron),
            text: text.trim().to_owned(),
            zone,
        })
    }

    /// The first tick strictly after `now`.
    pub fn next(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(every) => {
                let step = every_millis(*every);
                let at = now.timestamp_millis();
                let next = (at.div_euclid(step) + 1).checked_mul(step)?;
                DateTime::from_timestamp_millis(next)
            }
            Schedule::Cron { cron, zone, .. } => cron
                .find_next_occurrence(&now.with_timezone(zone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The last tick at or before `now`: the one a start after downtime catches up.
    pub fn previous(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(every) => {
                let step = every_millis(*every);
                let at = now.timestamp_millis();
                DateTime::from_timestamp_millis(at.div_euclid(step).checked_mul(step)?)
            }
            Schedule::Cron { cron, zone, .. } => cron
                .find_previous_occurrence(&now.with_timezone(zone), true)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The schedule as the config wrote it, for logs.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Every(every) => format!("every {}", humantime::format_duration(*every)),
            Schedule::Cron { text, zone, .. } => format!("cron \"{text}\" in {zone}"),
        }
    }
}

/// The interval in milliseconds, at least 1 (a zero interval is refused by the config).
fn every_millis(every: Duration) -> i64 {
    i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// When a run of `tick` starts: the tick plus a delay drawn uniformly from `[0, jitter)` by the
/// caller (`fraction` in `[0, 1)`), so replicas and neighbouring deployments do not all call the
/// target at the same second.
pub fn with_jitter(tick: DateTime<Utc>, jitter: Duration, fraction: f64) -> DateTime<Utc> {
    let millis = (jitter.as_millis() as f64 * fraction.clamp(0.0, 1.0)) as i64;
    tick + Span::milliseconds(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn every_ticks_on_epoch_multiples() {
        let hourly = Schedule::Every(Duration::from_secs(3600));
        assert_eq!(
            hourly.next(at("2026-11-30T10:20:00Z")),
            Some(at("2026-11-30T11:00:00Z"))
        );
        assert_eq!(
            hourly.next(at("2026-11-30T11:00:00Z")),
            Some(at("2026-11-30T12:00:00Z"))
        );
        assert_eq!(
            hourly.previous(at("2026-11-30T10:20:00Z")),
            Some(at("2026-11-30T10:00:00Z"))
        );
        assert_eq!(
            hourly.previous(at("2026-11-30T10:00:00Z")),
            Some(at("2026-11-30T10:00:00Z"))
        );
    }

    #[test]
    fn cron_reads_its_fields_in_its_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let weekdays = Schedule::cron("0 7 * * 1-5", paris).unwrap();
        // Friday 2026-11-27 08:00 in Paris (07:00 UTC): the next is Monday 07:00 Paris = 06:00 UTC.
        assert_eq!(
            weekdays.next(at("2026-11-27T07:00:00Z")),
            Some(at("2026-11-30T06:00:00Z"))
        );
        assert_eq!(
            weekdays.previous(at("2026-11-29T12:00:00Z")),
            Some(at("2026-11-27T06:00:00Z"))
        );
        // Summer time: 07:00 in Paris is 05:00 UTC.
        assert_eq!(
            weekdays.next(at("2026-07-01T12:00:00Z")),
            Some(at("2026-07-02T05:00:00Z"))
        );
    }

    #[test]
    fn bad_cron_expressions_are_refused_with_the_reason() {
        let utc: Tz = "UTC".parse().unwrap();
        for bad in [
            "0 7 * *",
            "0 0 7 * * 1-5",
            "61 * * * *",
            "0 0 30 2 *",
            "x y z a b",
        ] {
            let err = Schedule::cron(bad, utc).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("five fields"), "{err}");
        }
        assert!(Schedule::cron("@daily", utc).is_ok());
    }

    #[test]
    fn jitter_delays_within_its_bound() {
        let tick = at("2026-11-30T11:00:00Z");
        let five = Duration::from_secs(300);
        assert_eq!(with_jitter(tick, five, 0.0), tick);
        assert_eq!(with_jitter(tick, five, 0.5), at("2026-11-30T11:02:30Z"));
        assert!(with_jitter(tick, five, 0.999_999) < at("2026-11-30T11:05:00Z"));
        assert_eq!(with_jitter(tick, Duration::ZERO, 0.7), tick);
    }
}
