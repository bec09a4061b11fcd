//! Benchmark: the access reports' pure core (`report users`, `drift`, `orphans`) over a large
//! workspace: N users (default 20,000), each linked to a source person with one HR record, and a
//! journal of 10 operations per user, plus N/10 users no source knows. Prints the wall time of
//! building each report's rows (the workspace and source reads are not included: they are the
//! same reads `plan` makes).
//!
//! Run: `cargo bench --bench access_reports` (`IDBRIDGE_BENCH_USERS` for other sizes). Without
//! `--bench` on the command line (e.g. `cargo test --all-targets`) it does nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::DateTime;
use idbridge::model::{
    Attr, DesiredUser, Lifecycle, ScimId, SourceFact, SourceKey, SourceRecord, TargetUser,
    UserAttrs, UserName,
};
use idbridge::plan::{KnownLink, Policy};
use idbridge::report::access::{orphans, user_rows, Workspace};
use idbridge::report::audit::OpEntry;
use idbridge::report::drift::drift_rows;
use idbridge::report::AttrChange;
use std::collections::BTreeSet;
use std::time::Instant;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("access_reports: run with `cargo bench --bench access_reports`");
        return;
    }
    let n: usize = std::env::var("IDBRIDGE_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let name = |i: usize| format!("user{i}@acme.test");
    let attrs = |i: usize, title: &str| -> UserAttrs {
        [(Attr::UserName, name(i)), (Attr::Title, title.to_owned())]
            .into_iter()
            .collect()
    };
    let mut users = Vec::new();
    let mut desired = Vec::new();
    let mut records = Vec::new();
    let mut links = Vec::new();
    let mut journal = Vec::new();
    for i in 0..n {
        let key = SourceKey::new("hr", format!("E{i}"));
        let id = format!("scim-{i}");
        users.push(TargetUser {
            id: ScimId(id.clone()),
            attrs: attrs(i, if i % 7 == 0 { "Changed" } else { "Engineer" }),
            active: true,
            role: Some("member".into()),
        });
        desired.push(DesiredUser {
            key: key.clone(),
            other_keys: Vec::new(),
            attrs: attrs(i, "Engineer"),
            lifecycle: Lifecycle::Active,
            reason: format!("hr: status=active (hr.csv line {})", i + 2),
            leaving: None,
            out_of_scope: None,
            disabled: None,
            provenance: [(
                Attr::Title,
                vec![SourceFact {
                    source: "hr".into(),
                    location: format!("hr.csv line {}", i + 2).into(),
                    values: vec![("title".into(), "Engineer".into())],
                }],
            )]
            .into_iter()
            .collect(),
        });
        records.push(SourceRecord {
            key: key.clone(),
            location: format!("hr.csv line {}", i + 2),
            attrs: [("employeeId".to_owned(), format!("E{i}"))]
                .into_iter()
                .collect(),
            employment: None,
        });
        links.push(KnownLink {
            key,
            scim_id: ScimId(id.clone()),
            user_name: UserName::new(name(i)),
            active: true,
        });
        for run in 0..10 {
            journal.push(OpEntry {
                run_id: run,
                seq: i as i64,
                op: "patch-user".into(),
                subject: Some(name(i)),
                scim_id: Some(id.clone()),
                source_key: None,
                reason: None,
                changes: vec![AttrChange {
                    attr: "title".into(),
                    before: None,
                    after: Some("Engineer".into()),
                }],
                members: Vec::new(),
                status: "done".into(),
                http_status: None,
                detail: None,
                updated_at: DateTime::UNIX_EPOCH,
            });
        }
    }
    for i in n..n + n / 10 {
        users.push(TargetUser {
            id: ScimId(format!("scim-{i}")),
            attrs: attrs(i, "Guest"),
            active: true,
            role: Some("member".into()),
        });
    }
    let managed: BTreeSet<Attr> = [Attr::UserName, Attr::Title].into_iter().collect();
    let policy = Policy::default();
    let ws = Workspace {
        users: &users,
        desired: &desired,
        records: &records,
        links: &links,
        managed: &managed,
        policy: &policy,
        journal: &journal,
        sso: &[],
    };
    println!(
        "{} users ({} linked), {} journal entries",
        users.len(),
        links.len(),
        journal.len()
    );
    let started = Instant::now();
    let rows = user_rows(&ws);
    println!("users:   {} rows in {:?}", rows.len(), started.elapsed());
    let started = Instant::now();
    let drift = drift_rows(&ws);
    println!("drift:   {} rows in {:?}", drift.len(), started.elapsed());
    let started = Instant::now();
    let report = orphans(&ws, Vec::new(), DateTime::UNIX_EPOCH);
    println!(
        "orphans: {} rows in {:?}",
        report.rows.len(),
        started.elapsed()
    );
}
