//! `idbridge demo`: the emulator, a bundled sample company and SQLite, in one go. It needs no
//! network, no config and no services: the emulator listens on a free loopback port, the store is
//! a SQLite file in a temporary folder, and the HR exports are compiled into the binary.
//!
//! Story: day 1 is the first sync (an existing member is adopted, a contractor and the owner are
//! left alone, a future hire waits, a bad row is reported); day 2 has a promotion, a leaver and a
//! hire; day 3 a return and a start; a last run shows that nothing is left to do. The journal of
//! the four runs ends the story (`report runs`).

use super::output::{self, outcome_view, outln};
use super::pipeline;
use super::report::run_entry;
use super::sync::{execute, RunStart};
use super::{DemoArgs, Exit, Format};
use crate::clock::{Clock, FixedClock};
use crate::config::{HrCsvSettings, Settings, SourceSettings, TargetKind, TargetSettings};
use crate::connectors::hr;
use crate::emulator::{Emulator, Profile, Running, SeedUser};
use crate::mapping::{MappingRules, SourceJoin};
use crate::plan::Policy;
use crate::report;
use crate::scim::Writer;
use crate::store::{RunTrigger, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use rand::RngCore;
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const OWNER: &str = "owner@acme.example";
/// The sample company's email domain.
const DOMAIN: &str = "acme.example";

struct Day {
    title: &'static str,
    file: &'static str,
    csv: &'static [u8],
    at: (i32, u32, u32),
}

const DAYS: [Day; 4] = [
    Day {
        title: "Day 1 — first sync",
        file: "hr-day1.csv",
        csv: include_bytes!("../../examples/demo/hr-day1.csv"),
        at: (2026, 3, 2),
    },
    Day {
        title: "Day 2 — a promotion, a leaver, a new hire",
        file: "hr-day2.csv",
        csv: include_bytes!("../../examples/demo/hr-day2.csv"),
        at: (2026, 3, 16),
    },
    Day {
        title: "Day 3 — a return and a start",
        file: "hr-day3.csv",
        csv: include_bytes!("../../examples/demo/hr-day3.csv"),
        at: (2026, 4, 6),
    },
    Day {
        title: "Day 3, again — nothing left to do",
        file: "hr-day3.csv",
        csv: include_bytes!("../../examples/demo/hr-day3.csv"),
        at: (2026, 4, 6),
    },
];

fn morning(at: (i32, u32, u32)) -> Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(at.0, at.1, at.2, 9, 0, 0)
        .single()
        .context("demo date out of range")
}

fn seed(emulator: &Emulator) {
    let owner = SeedUser {
        role: Some("owner".to_owned()),
        title: Some("IT Administrator".to_owned()),
        ..SeedUser::member(OWNER, "Olivia", "Owner")
    };
    emulator.seed_user(owner);
    // In Notion before idbridge: adopted by email, then managed.
    emulator.seed_user(SeedUser::member("grace@acme.example", "Grace", "Hopper"));
    // Not in HR: idbridge must leave them alone.
    emulator.seed_user(SeedUser::member(
        "sam.contractor@acme.example",
        "Sam",
        "Contractor",
    ));
    // Guests are invisible to SCIM.
    emulator.seed_user(SeedUser {
        guest: true,
        ..SeedUser::member("guest@partner.example", "Gus", "Guest")
    });
}

/// The demo's moving parts, shared by every day.
struct Demo {
    emulator: Emulator,
    clock: Arc<FixedClock>,
    settings: Settings,
    csv: HrCsvSettings,
    client: Writer,
    store: Store,
    /// Whether the output is the table story (else one JSON document at the end).
    table: bool,
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> Result<Exit> {
    let temp =
        tempfile::tempdir().context("cannot create a temporary folder for the demo store")?;
    let dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let clock = Arc::new(FixedClock::new(morning(DAYS[0].at)?));
    // The sample company's domain is verified, as it is in a workspace that provisions it: Notion
    // refuses name and email changes outside verified domains (docs/notion.md, "Verified domains").
    let mut profile = Profile::default();
    profile.seed.verified_domains.push(DOMAIN.to_owned());
    let emulator = Emulator::new(profile, clock.clone());
    // A throwaway token that lives only in this process.
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    seed(&emulator);
    emulator.add_token(&token, OWNER);
    let running = emulator
        .clone()
        .spawn(false)
        .await
        .context("cannot start the emulator")?;
    let db = dir.join("idbridge-demo.db");
    let csv = HrCsvSettings::new("hr", "examples/demo/hr.csv".into());
    let settings = settings(&db, &csv, &running.base_url(), token)?;
    let table = args.format == Format::Table;
    if table {
        outln!(
            "idbridge demo: a Notion SCIM emulator on {}",
            running.base_url()
        );
        outln!("store: {}", db.display());
        outln!("workspace before: owner {OWNER}, grace@acme.example (added by hand), a contractor, a guest\n");
    }
    let demo = Demo {
        client: pipeline::writer(&settings.target, clock.clone())?,
        store: pipeline::open_store(&settings).await?,
        emulator,
        clock,
        settings,
        csv,
        table,
    };
    let mut exit = Exit::Ok;
    let mut days = Vec::new();
    for day in &DAYS {
        let (json, ok) = demo.day(day).await?;
        days.push(json);
        if !ok {
            exit = Exit::Blocked;
        }
    }
    demo.ending(&running, &db, days).await?;
    running.shutdown();
    Ok(exit)
}

/// The demo's settings: the emulator as a Notion target, the bundled HR export as the source,
/// and a SQLite store at `db`.
fn settings(db: &Path, csv: &HrCsvSettings, base_url: &str, token: String) -> Result<Settings> {
    let policy = Policy {
        token_owner: Some(crate::model::UserName::new(OWNER)),
        ..Policy::default()
    };
    Ok(Settings {
        path: "(built-in demo config)".into(),
        store_url: SecretString::from(format!("sqlite://{}?mode=rwc", db.display())),
        store_retention: None,
        target: TargetSettings {
            name: "acme-demo".to_owned(),
            kind: TargetKind::Notion,
            url: url::Url::parse(base_url)?,
            token: SecretString::from(token),
            token_source: "the demo's built-in token".to_owned(),
            token_owner: Some(OWNER.to_owned()),
            external_id: None,
            manage_roles: false,
            rate_limit: None,
            concurrency: 4,
            timeout: Duration::from_secs(10),
            max_retries: 3,
            max_retry_after: Duration::from_secs(5),
            max_reply_bytes: 32 << 20,
            page_size: 100,
        },
        sources: vec![SourceSettings::HrCsv(Box::new(csv.clone()))],
        policy,
        mapping: MappingRules::with_sources(vec![SourceJoin {
            name: csv.name.clone(),
            join_attr: csv.join_attr.clone(),
        }]),
        serve: None,
        saml: None,
        alerts: None,
        roles: None,
    })
}

impl Demo {
    /// One day: plan the day's HR export and apply it. Returns the day's JSON and whether it
    /// went through (not blocked, every operation applied).
    async fn day(&self, day: &Day) -> Result<(serde_json::Value, bool)> {
        self.clock.set(morning(day.at)?);
        let requests_before = self.client.request_counts();
        let read = hr::read_csv(&self.csv, day.csv, day.file)?;
        let prepared = pipeline::prepare(
            &self.settings,
            self.client.reader(),
            vec![read],
            Some(self.store.reader()),
            &self.settings.policy,
            self.clock.now(),
        )
        .await?;
        if self.table {
            outln!("━━ {} ({}, {}) ━━", day.title, day.at_text(), day.file);
            output::out(&report::plan_text(&prepared.plan));
        }
        if prepared.plan.blocked {
            if self.table {
                outln!("blocked: nothing applied\n");
            }
            return Ok((day.json(&prepared.plan, None, 0), false));
        }
        let writes_before = self.emulator.write_count();
        let outcome = execute(
            &self.settings,
            &self.client,
            &self.store,
            self.clock.clone(),
            &prepared.plan,
            RunStart {
                kind: "demo",
                trigger: RunTrigger::Demo,
                plan_digest: prepared.plan.plan_digest.clone(),
                upcoming: Some(prepared.upcoming.clone()),
                requests_before,
                stop: None,
            },
            None,
        )
        .await?;
        let writes = self.emulator.write_count() - writes_before;
        if self.table {
            output::out(&report::outcome_text(&outcome_view(&outcome)));
            outln!("SCIM write calls: {writes}\n");
        }
        let json = day.json(&prepared.plan, Some(&outcome), writes);
        Ok((json, outcome.succeeded()))
    }

    /// The end of the story: the workspace as it is now and the journal of the runs, as tables,
    /// or the whole demo as one JSON document.
    async fn ending(
        &self,
        running: &Running,
        db: &Path,
        days: Vec<serde_json::Value>,
    ) -> Result<()> {
        let mut members = self.emulator.members();
        members.sort_by(|a, b| a.user_name.cmp(&b.user_name));
        let runs = self.store.runs(10).await?;
        if !self.table {
            let workspace: Vec<serde_json::Value> = members
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "userName": m.user_name,
                        "active": m.active,
                        "role": m.role,
                        "title": m.title,
                    })
                })
                .collect();
            return output::json(&serde_json::json!({
                "emulator": running.base_url(),
                "store": db.display().to_string(),
                "days": days,
                "workspace": workspace,
                "runs": runs.len(),
            }));
        }
        let shown: Vec<report::Member<'_>> = members
            .iter()
            .map(|m| report::Member {
                user_name: &m.user_name,
                active: m.active,
                role: m.role.as_deref(),
                title: m.title.as_deref(),
            })
            .collect();
        outln!(
            "━━ The workspace now ━━\n{}",
            report::workspace_table(&shown)
        );
        let entries: Vec<_> = runs.iter().map(run_entry).collect();
        let journal = report::audit::runs(&entries, Vec::new(), self.clock.now());
        outln!(
            "━━ The journal (idbridge report runs) ━━\n{}",
            report::render(&journal, report::Format::Table, 120)?
        );
        outln!(
            "{} runs journaled in {}; keep the store with `idbridge demo --keep DIR`, then try \
             `idbridge report changes --since 2026-03-01 --store DIR/idbridge-demo.db`",
            runs.len(),
            db.display()
        );
        Ok(())
    }
}

impl Day {
    fn at_text(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.at.0, self.at.1, self.at.2)
    }

    /// The day in the JSON document: its plan, and what applying it did (none when blocked).
    fn json(
        &self,
        plan: &crate::plan::Plan,
        outcome: Option<&crate::apply::Outcome>,
        scim_writes: usize,
    ) -> serde_json::Value {
        serde_json::json!({
            "title": self.title,
            "date": self.at_text(),
            "file": self.file,
            "plan": plan,
            "outcome": outcome,
            "scimWrites": scim_writes,
        })
    }
}
