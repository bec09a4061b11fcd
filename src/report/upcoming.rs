//! Future starts and terminations: what the sources have scheduled, as a run read them.
//!
//! Each run that reads its sources (`sync`, `demo`) records them with the run ([`collect`], stored
//! as the run's `upcoming_json`); `report upcoming --days N` shows those of the latest such run of
//! each target ([`report`]). The report therefore reads the store only, never the sources: an
//! auditor with a copy of the store needs no directory or HR credentials, and the report says
//! which run read the facts and when. What changed in the sources since shows after the next sync.

use super::data::{time_text, Cell, Column, Field, Report};
use crate::mapping::start_of_day;
use crate::model::{DesiredUser, Lifecycle, SourceKey, SourceRecord};
use crate::plan::AbsenceSection;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A start or a termination: `start`, `termination` in the recorded JSON and the report.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum UpcomingKind {
    /// A hire whose start date is still ahead: provisioned on that day.
    Start,
    /// A termination that has not taken effect: deactivated at the start of the next day.
    Termination,
    /// A managed person gone from the sources (or out of scope), kept through the absence grace
    /// (docs/lifecycle.md): deactivated by the first run after this time, once enough counted runs
    /// have missed them.
    PendingDeactivation,
}

/// One scheduled event, as recorded with a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upcoming {
    /// Start or termination.
    pub kind: UpcomingKind,
    /// The person's userName (or source key, when the mapping gave none).
    pub user_name: String,
    /// The person's source key.
    pub source_key: String,
    /// The HR date: the first day of work, or the last.
    pub day: NaiveDate,
    /// When idbridge acts on it: the start of the first day, or of the day after the last one,
    /// in the source's time zone.
    pub effective: DateTime<Utc>,
    /// The source's time zone.
    pub timezone: String,
    /// The source fact, with its location.
    pub fact: String,
}

/// The future starts and terminations among `desired` at `now`: a person not started yet (the
/// latest start date any of their records gives), and a termination not yet in effect (from
/// the mapping's [`DesiredUser::leaving`]). Sorted by when they take effect.
pub fn collect(
    desired: &[DesiredUser],
    records: &[&SourceRecord],
    now: DateTime<Utc>,
) -> Vec<Upcoming> {
    let mut out = Vec::new();
    for person in desired {
        let user_name = person
            .user_name()
            .map_or_else(|| person.key.to_string(), |n| n.to_string());
        if person.lifecycle == Lifecycle::Pending {
            if let Some(start) = latest_start(person, records, now) {
                out.push(Upcoming {
                    user_name: user_name.clone(),
                    ..start
                });
            }
        }
        if let Some(leaving) = &person.leaving {
            out.push(Upcoming {
                kind: UpcomingKind::Termination,
                user_name,
                source_key: person.key.to_string(),
                day: leaving.last_day,
                effective: leaving.effective,
                timezone: leaving.timezone.name().to_owned(),
                fact: leaving.fact.clone(),
            });
        }
    }
    out.sort_by(|a, b| {
        (a.effective, &a.user_name, a.kind).cmp(&(b.effective, &b.user_name, b.kind))
    });
    out
}

/// The pending deactivations of a plan's absence section, each at the time the grace's duration
/// ends (the earliest a run may deactivate them; the run count may still hold them longer).
pub fn pending_deactivations(section: &AbsenceSection, grace_runs: u32) -> Vec<Upcoming> {
    section
        .people
        .iter()
        .filter(|p| !p.deactivate)
        .filter_map(|p| {
            let effective = DateTime::parse_from_rfc3339(&p.due_at)
                .ok()?
                .with_timezone(&Utc);
            Some(Upcoming {
                kind: UpcomingKind::PendingDeactivation,
                user_name: p.user_name.to_string(),
                source_key: p.source_key.to_string(),
                day: effective.date_naive(),
                effective,
                timezone: "UTC".to_owned(),
                fact: format!(
                    "{}; {} of {grace_runs} counted runs so far",
                    p.reason, p.runs
                ),
            })
        })
        .collect()
}

fn latest_start(
    person: &DesiredUser,
    records: &[&SourceRecord],
    now: DateTime<Utc>,
) -> Option<Upcoming> {
    let keys: BTreeSet<&SourceKey> = std::iter::once(&person.key)
        .chain(&person.other_keys)
        .collect();
    records
        .iter()
        .filter(|r| keys.contains(&r.key))
        .filter_map(|r| {
            let employment = r.employment.as_ref()?;
            let day = employment.start?;
            let effective = start_of_day(day, employment.timezone);
            (effective > now).then(|| Upcoming {
                kind: UpcomingKind::Start,
                user_name: String::new(),
                source_key: person.key.to_string(),
                day,
                effective,
                timezone: employment.timezone.name().to_owned(),
                fact: format!("{}: startDate={day} ({})", r.key.source, r.location),
            })
        })
        .max_by_key(|u| u.effective)
}

/// The events one run recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The run.
    pub run_id: i64,
    /// Its target.
    pub target: String,
    /// When it read the sources (its start).
    pub read_at: DateTime<Utc>,
    /// What it found.
    pub events: Vec<Upcoming>,
}

/// `report upcoming --days N`: the starts and terminations that take effect from `now` until
/// `days` days later, from the latest recording run of each target.
pub fn report(
    recorded: &[Recorded],
    days: u32,
    parameters: Vec<Field>,
    now: DateTime<Utc>,
) -> Report {
    let end = now + Duration::days(i64::from(days));
    let mut events: Vec<(&Recorded, &Upcoming)> = recorded
        .iter()
        .flat_map(|r| r.events.iter().map(move |e| (r, e)))
        .filter(|(_, e)| e.effective >= now && e.effective < end)
        .collect();
    events.sort_by(|(_, a), (_, b)| {
        (a.effective, &a.user_name, a.kind).cmp(&(b.effective, &b.user_name, b.kind))
    });
    let columns = vec![
        Column::new("day", "date"),
        Column::new("kind", "kind"),
        Column::new("userName", "userName"),
        Column::new("effectiveAt", "takes effect"),
        Column::new("fact", "source fact"),
        Column::data("timezone", "time zone"),
        Column::data("sourceKey", "sourceKey"),
        Column::data("target", "target"),
        Column::data("run", "recorded by run"),
    ];
    let rows = events
        .iter()
        .map(|(r, e)| {
            vec![
                Cell::Date(e.day),
                <&str>::from(e.kind).into(),
                e.user_name.as_str().into(),
                Cell::Time(e.effective),
                e.fact.as_str().into(),
                e.timezone.as_str().into(),
                e.source_key.as_str().into(),
                r.target.as_str().into(),
                Cell::Int(r.run_id),
            ]
        })
        .collect();
    let read: Vec<String> = recorded
        .iter()
        .map(|r| {
            format!(
                "run {} of target {} at {}",
                r.run_id,
                r.target,
                time_text(r.read_at)
            )
        })
        .collect();
    let mut notes = Vec::new();
    if recorded.is_empty() {
        notes.push(
            "no run has recorded the sources' future starts and terminations yet: they are \
             recorded by each `idbridge sync` (not by `apply --plan`, which reads no source)"
                .to_owned(),
        );
    } else {
        notes.push(
            "as the sources stood when the runs above read them; a change in the sources since \
             shows after the next sync"
                .to_owned(),
        );
    }
    Report {
        name: "upcoming",
        title: format!("Starts and terminations in the next {days} day(s)"),
        generated_at: now,
        parameters,
        facts: vec![Field::new("readBy", "read by", Cell::List(read))],
        columns,
        rows,
        empty: "Nothing scheduled in this window.".to_owned(),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_spelled_alike_everywhere() {
        use crate::spellings::*;
        assert_spellings::<UpcomingKind>(&["start", "termination", "pending-deactivation"]);
        assert_serialized_alike::<UpcomingKind>();
        assert_deserialized_alike::<UpcomingKind>();
    }
    use crate::model::{Attr, Employment, Leaving, StatusKind};
    use chrono::TimeZone;
    use chrono_tz::Tz;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn person(id: &str, lifecycle: Lifecycle, leaving: Option<Leaving>) -> DesiredUser {
        DesiredUser {
            key: SourceKey::new("hr", id),
            other_keys: Vec::new(),
            attrs: [(Attr::UserName, format!("{id}@acme.test"))].into(),
            lifecycle,
            reason: String::new(),
            leaving,
            out_of_scope: None,
            disabled: None,
            provenance: Default::default(),
        }
    }

    fn record(id: &str, start: &str, tz: Tz) -> SourceRecord {
        SourceRecord {
            key: SourceKey::new("hr", id),
            location: format!("hr.csv line {}", id.len() + 1),
            attrs: Default::default(),
            employment: Some(Employment {
                status: None,
                kind: StatusKind::Active,
                start: Some(day(start)),
                end: None,
                timezone: tz,
            }),
        }
    }

    #[test]
    fn starts_and_terminations_are_collected_in_order_and_windowed() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let leaving = Leaving {
            last_day: day("2026-03-05"),
            effective: Utc.with_ymd_and_hms(2026, 3, 6, 0, 0, 0).unwrap(),
            timezone: Tz::UTC,
            fact: "hr: terminationDate=2026-03-05 (hr.csv line 3)".into(),
        };
        let desired = vec![
            person("new", Lifecycle::Pending, None),
            person("old", Lifecycle::Active, Some(leaving)),
            person("here", Lifecycle::Active, None),
        ];
        let records = [
            record("new", "2026-03-20", Tz::Europe__Berlin),
            record("here", "2020-01-01", Tz::UTC),
        ];
        let refs: Vec<&SourceRecord> = records.iter().collect();
        let events = collect(&desired, &refs, now);
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].kind, UpcomingKind::Termination);
        assert_eq!(events[1].kind, UpcomingKind::Start);
        assert_eq!(events[1].user_name, "new@acme.test");
        // Midnight in Berlin is 23:00 UTC the day before.
        assert_eq!(
            events[1].effective,
            Utc.with_ymd_and_hms(2026, 3, 19, 23, 0, 0).unwrap()
        );
        assert_eq!(events[1].fact, "hr: startDate=2026-03-20 (hr.csv line 4)");

        let recorded = [Recorded {
            run_id: 7,
            target: "t".into(),
            read_at: now,
            events,
        }];
        let week = report(&recorded, 7, Vec::new(), now);
        assert_eq!(week.rows.len(), 1);
        assert_eq!(week.rows[0][2].text(""), "old@acme.test");
        assert_eq!(report(&recorded, 30, Vec::new(), now).rows.len(), 2);
        let later = now + Duration::days(5);
        assert_eq!(report(&recorded, 30, Vec::new(), later).rows.len(), 1);
        assert_eq!(report(&[], 30, Vec::new(), now).notes.len(), 1);
    }
}
