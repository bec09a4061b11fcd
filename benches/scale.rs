//! Benchmark: idbridge at 100,000 people (issue 14's figures). Generates the people with fixed
//! seeds, seeds the target, and reports what each phase of a plan costs, then what a sync costs.
//!
//! Plan figures (in this process, so each phase is timed on its own):
//! - the target is the Notion emulator (`idbridge emulator`) in a child process, seeded from a
//!   profile file with the same people as the CSV, fixed ids and 2,000 groups; its CPU is not
//!   this process's, so only idbridge is timed;
//! - sources: an HR CSV read and mapped (`cli::pipeline::read_sources` and `desired`);
//! - links: every person and group linked, built in memory as the store would return them
//!   (the store's own read is not in these figures; another branch changes the store);
//! - target read: `/Users` and `/Groups` paged over loopback HTTP (`concurrency` 4, no rate
//!   limit);
//! - plan: `plan::plan` on one core after the read;
//! - peak RSS: `VmHWM` reset through `/proc/self/clear_refs` (value 5) before each plan.
//!
//! Groups: 2,000 groups in a tree (each has a parent but the first), every person directly in
//! one leaf-level group; a group's members are its own and those of the groups below it,
//! flattened as the LDAP source resolves nested groups, so the upper groups are large.
//!
//! Sync figures (the CLI, a child process per run, `/usr/bin/time` for time and peak RSS): a
//! first sync of `IDBRIDGE_BENCH_SYNC_PEOPLE` people into an empty emulator, then a no-change
//! sync; the emulator's CPU time is read from `/proc/<pid>/stat`.
//!
//! Throughput: a first sync of `IDBRIDGE_BENCH_RATE_PEOPLE` people at `rate_limit = 500`, its
//! requests over the run's duration as `report runs` records it, against the rate.
//!
//! Run: `cargo bench --bench scale`. Environment: `IDBRIDGE_BENCH_PEOPLE` (100000),
//! `IDBRIDGE_BENCH_HIRES` (1000), `IDBRIDGE_BENCH_GROUPS` (2000), `IDBRIDGE_BENCH_SYNC_PEOPLE`
//! (10000; 0 skips the syncs), `IDBRIDGE_BENCH_RATE_PEOPLE` (10000; 0 skips the throughput). Without `--bench` on the command line (e.g. `cargo test
//! --all-targets`) it does nothing.

// A benchmark stops at the first thing that goes wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idbridge::cli::pipeline;
use idbridge::clock::{Clock, SystemClock};
use idbridge::model::{DesiredGroup, ScimId, SourceKey, UserName};
use idbridge::plan::{self, Input, KnownLink};
use idbridge::scim::TargetRead;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The allocator the binary uses (src/main.rs), so the in-process figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "bench-token-not-a-secret";
const DOMAIN: &str = "bench.example";
const GIVEN: [&str; 16] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Radia", "Ken",
    "Margaret", "Dennis", "Leslie", "Niklaus", "Shafi", "Tony",
];
const FAMILY: [&str; 16] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Perlman",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Lamport",
    "Wirth",
    "Goldwasser",
    "Hoare",
];
const TITLES: [&str; 8] = [
    "Engineer",
    "Designer",
    "Analyst",
    "Manager",
    "Accountant",
    "Recruiter",
    "Writer",
    "Lawyer",
];

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Person `i`, from a fixed mixing of `i` (no RNG: the same people on every run).
struct Person {
    id: String,
    email: String,
    given: &'static str,
    family: &'static str,
    title: &'static str,
}

fn person(i: usize) -> Person {
    let mix = i.wrapping_mul(2_654_435_761) >> 7;
    Person {
        id: format!("E{i:07}"),
        email: format!("p{i:07}@{DOMAIN}"),
        given: GIVEN[mix % 16],
        family: FAMILY[(mix / 16) % 16],
        title: TITLES[(mix / 256) % 8],
    }
}

fn scim_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn group_id(g: usize) -> String {
    format!("00000000-0000-4000-9000-{g:012}")
}

fn write_csv(path: &Path, people: std::ops::Range<usize>) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "employee_id,email,first_name,last_name,title,status").unwrap();
    for i in people {
        let p = person(i);
        writeln!(
            w,
            "{},{},{},{},{},active",
            p.id, p.email, p.given, p.family, p.title
        )
        .unwrap();
    }
}

/// Group `g`'s parent in the tree (four children a group).
fn parent(g: usize) -> Option<usize> {
    (g > 0).then(|| (g - 1) / 4)
}

/// Every group's flattened members (person numbers): person `i` is directly in one of the
/// last quarter of the groups, and so in that group's ancestors too.
fn memberships(people: usize, groups: usize) -> Vec<Vec<usize>> {
    let mut members = vec![Vec::new(); groups];
    if groups == 0 {
        return members;
    }
    let leaves = (groups * 3 / 4)..groups;
    for i in 0..people {
        let mut g = Some(leaves.start + i % leaves.len());
        while let Some(at) = g {
            members[at].push(i);
            g = parent(at);
        }
    }
    members
}

/// The emulator profile: the people as Notion holds them after a sync, fixed ids, the groups.
fn write_profile(path: &Path, people: usize, members: &[Vec<usize>]) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "[seed]\nverified_domains = [\"{DOMAIN}\"]").unwrap();
    for i in 0..people {
        let p = person(i);
        writeln!(
            w,
            "[[seed.users]]\nuser_name = \"{}\"\ngiven_name = \"{}\"\nfamily_name = \"{}\"\n\
             title = \"{}\"\nrole = \"member\"\nactive = true\nid = \"{}\"",
            p.email,
            p.given,
            p.family,
            p.title,
            scim_id(i)
        )
        .unwrap();
    }
    for (g, list) in members.iter().enumerate() {
        let mut line = String::new();
        for i in list {
            write!(line, "\"p{i:07}@{DOMAIN}\",").unwrap();
        }
        writeln!(
            w,
            "[[seed.groups]]\ndisplay_name = \"Group {g:04}\"\nid = \"{}\"\nmembers = [{line}]",
            group_id(g)
        )
        .unwrap();
    }
}

fn write_config(dir: &Path, name: &str, csv: &str, url: &str) -> PathBuf {
    write_config_at(dir, name, csv, url, 0)
}

/// A config whose target is paced at `rate` requests a second (`0`: unpaced).
fn write_config_at(dir: &Path, name: &str, csv: &str, url: &str, rate: u32) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "[store]\nurl = \"sqlite://{name}.db?mode=rwc\"\n\n[target]\nname = \"bench\"\n\
         kind = \"notion\"\nurl = \"{url}\"\ntoken_file = \"token\"\n\
         token_owner = \"owner@{DOMAIN}\"\nrate_limit = {rate}\nmax_reply_bytes = 1073741824\n\n[[sources]]\nname = \"hr\"\n\
         kind = \"hr-csv\"\npath = \"{csv}\"\n\n[mapping]\ndepartment = \"\"\nmanager = \"\"\n\
         employeeNumber = \"\"\n\n[policy]\nmax_deactivations = \"100%\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// An emulator child process serving `profile` (or an empty workspace); returns it and its
/// SCIM base URL, read from the line it prints when it listens.
fn spawn_emulator(dir: &Path, profile: Option<&Path>) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idbridge"));
    cmd.current_dir(dir).args([
        "emulator",
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        "token",
        "--token-owner",
    ]);
    cmd.arg(format!("owner@{DOMAIN}"));
    if let Some(profile) = profile {
        cmd.arg("--profile").arg(profile);
    }
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("the emulator said {line:?}"))
        .trim_end_matches(';')
        .to_owned();
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The figures of one plan.
struct PlanRun {
    sources: Duration,
    read: Duration,
    plan: Duration,
    peak_mib: f64,
    rss_before_mib: f64,
    writes: usize,
    summary: String,
}

fn links(people: usize, groups: usize) -> (Vec<KnownLink>, Vec<KnownLink>) {
    let users = (0..people)
        .map(|i| {
            let p = person(i);
            KnownLink {
                key: SourceKey::new("hr", &p.id),
                scim_id: ScimId(scim_id(i)),
                user_name: UserName::new(&p.email),
                active: true,
            }
        })
        .collect();
    let groups = (0..groups)
        .map(|g| KnownLink {
            key: SourceKey::new("corp", format!("group-{g}")),
            scim_id: ScimId(group_id(g)),
            user_name: UserName::new(format!("Group {g:04}")),
            active: true,
        })
        .collect();
    (users, groups)
}

fn desired_groups(members: &[Vec<usize>]) -> Vec<DesiredGroup> {
    members
        .iter()
        .enumerate()
        .map(|(g, list)| DesiredGroup {
            key: SourceKey::new("corp", format!("group-{g}")),
            location: format!("cn=group {g},ou=groups,dc=bench"),
            display_name: format!("Group {g:04}"),
            members: list
                .iter()
                .map(|i| UserName::new(format!("p{i:07}@{DOMAIN}")))
                .collect(),
        })
        .collect()
}

// Over 80 lines: the plan pipeline of `cli::pipeline::prepare` step by step, each step timed.
async fn run_plan(config: &Path, people: usize, members: &[Vec<usize>]) -> PlanRun {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let settings = pipeline::load(config).unwrap();
    let reader = pipeline::reader(&settings.target, clock.clone()).unwrap();
    let rss_before_mib = status_kib("VmRSS:") as f64 / 1024.0;
    reset_peak();
    let started = Instant::now();
    let reads = pipeline::read_sources(&settings, clock.as_ref())
        .await
        .unwrap();
    let rss_read_sources = status_kib("VmRSS:") as f64 / 1024.0;
    let now = clock.now();
    let desired = pipeline::desired(&settings, reader.profile(), &reads, &[], now).unwrap();
    // As `prepare` does: the records are not held past the mapping.
    drop(reads);
    let (user_links, group_links) = links(people, members.len());
    let desired_groups = desired_groups(members);
    let sources = started.elapsed();
    let rss_sources = status_kib("VmRSS:") as f64 / 1024.0;
    let started = Instant::now();
    let target = pipeline::read_users(&reader).await.unwrap();
    let groups = pipeline::read_groups(&reader).await.unwrap();
    let read = started.elapsed();
    let rss_read = status_kib("VmRSS:") as f64 / 1024.0;
    let policy = pipeline::policy(&settings, false, None);
    let source_names = vec!["hr".to_owned(), "corp".to_owned()];
    let input = Input {
        desired: &desired.desired,
        managed: &desired.managed,
        sources: &source_names,
        issues: &desired.issues,
        target: &target,
        links: &user_links,
        recovered: &BTreeSet::new(),
        policy: &policy,
        target_ref: pipeline::target_ref(&settings.target),
        invites_on_create: true,
        desired_groups: &desired_groups,
        target_groups: Some(&groups),
        group_links: &group_links,
        now,
        writes: &[],
        refusal_advice: reader.profile().refusal_advice(),
        names: reader.profile().name_model,
        absences: &[],
        excluded: &BTreeMap::new(),
        confirmations: &[],
    };
    let started = Instant::now();
    let plan = plan::plan(&input);
    let plan_time = started.elapsed();
    let summary = format!(
        "RSS after the source read {rss_read_sources:.0} MiB, after mapping and links {rss_sources:.0} MiB, after the target read {rss_read:.0} MiB, after the plan {:.0} MiB; {}",
        status_kib("VmRSS:") as f64 / 1024.0,
        plan.summary_in_order()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{kind:?} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    PlanRun {
        sources,
        read,
        plan: plan_time,
        peak_mib: status_kib("VmHWM:") as f64 / 1024.0,
        rss_before_mib,
        writes: plan.write_count(),
        summary,
    }
}

fn report_plan(label: &str, run: &PlanRun) {
    let whole = run.sources + run.read + run.plan;
    println!(
        "| {label} | {:.2} s | {:.2} s | {:.2} s | **{:.2} s** | {:.0} MiB | {:.0} MiB | {} |",
        run.sources.as_secs_f64(),
        run.read.as_secs_f64(),
        run.plan.as_secs_f64(),
        whole.as_secs_f64(),
        run.rss_before_mib,
        run.peak_mib,
        run.writes,
    );
    println!("  ({label}: {})", run.summary);
}

/// Run the CLI under `/usr/bin/time`: wall seconds and peak RSS in MiB.
fn timed_cli(dir: &Path, config: &Path, args: &[&str]) -> (f64, f64, String) {
    let out = Command::new("/usr/bin/time")
        .current_dir(dir)
        .args(["-f", "TIME %e %M"])
        .arg(env!("CARGO_BIN_EXE_idbridge"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("TIME "))
        .unwrap_or("TIME 0 0");
    let parts: Vec<f64> = line[5..]
        .split(' ')
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let summary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .take(3)
        .collect::<Vec<_>>()
        .join(" / ");
    (
        parts[0],
        parts[1] / 1024.0,
        format!("exit {:?}: {summary}", out.status.code()),
    )
}

fn syncs(dir: &Path, people: usize) {
    write_csv(&dir.join("sync.csv"), 0..people);
    let (mut emu, url) = spawn_emulator(dir, None);
    let config = write_config(dir, "sync.toml", "sync.csv", &url);
    let cpu_before = cpu_secs(emu.id());
    let (secs, mib, said) = timed_cli(dir, &config, &["sync", "--yes"]);
    let emu_cpu = cpu_secs(emu.id()) - cpu_before;
    println!("first sync of {people}: {secs:.1} s wall, peak RSS {mib:.0} MiB, emulator CPU {emu_cpu:.1} s ({said})");
    let cpu_before = cpu_secs(emu.id());
    let (secs, mib, said) = timed_cli(dir, &config, &["sync", "--yes"]);
    let emu_cpu = cpu_secs(emu.id()) - cpu_before;
    println!("no-change sync of {people}: {secs:.1} s wall, peak RSS {mib:.0} MiB, emulator CPU {emu_cpu:.1} s ({said})");
    emu.kill().unwrap();
    emu.wait().unwrap();
}

/// Write throughput against the rate budget: a first sync of `people` into an empty emulator at
/// `rate_limit = RATE`, its requests over the run's own duration (`report runs`, which starts at
/// the apply, so the read and the plan before it are not counted).
fn throughput(dir: &Path, people: usize) {
    const RATE: u32 = 500;
    write_csv(&dir.join("rate.csv"), 0..people);
    let (mut emu, url) = spawn_emulator(dir, None);
    let config = write_config_at(dir, "rate.toml", "rate.csv", &url, RATE);
    let (secs, _, said) = timed_cli(dir, &config, &["sync", "--yes"]);
    let out = Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .current_dir(dir)
        .arg("--config")
        .arg(&config)
        .args(["report", "runs", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &doc["rows"][0];
    let took = run["durationMs"].as_f64().unwrap() / 1000.0;
    let requests = run["scimRequests"].as_f64().unwrap();
    let per_second = requests / took;
    println!(
        "throughput at rate_limit = {RATE}: {requests} requests in {took:.1} s (the run; {secs:.1} s \
         wall for the command): {per_second:.0}/s = {:.2} R ({said})",
        per_second / f64::from(RATE)
    );
    emu.kill().unwrap();
    emu.wait().unwrap();
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // As the binary runs (src/main.rs): small pages only, so the peaks compare.
    #[cfg(target_os = "linux")]
    let _refused = rustix::thread::disable_transparent_huge_pages(true);
    let people = env_num("IDBRIDGE_BENCH_PEOPLE", 100_000);
    let hires = env_num("IDBRIDGE_BENCH_HIRES", 1_000);
    let group_count = env_num("IDBRIDGE_BENCH_GROUPS", 2_000);
    let sync_people = env_num("IDBRIDGE_BENCH_SYNC_PEOPLE", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let started = Instant::now();
    write_csv(&dir.join("people.csv"), 0..people);
    write_csv(&dir.join("hires.csv"), 0..people + hires);
    let members = memberships(people, group_count);
    write_profile(&dir.join("workspace.toml"), people, &members);
    let (mut emu, url) = spawn_emulator(dir, Some(&dir.join("workspace.toml")));
    println!(
        "{people} people, {group_count} groups ({} memberships): files and seeded emulator in {:.1} s",
        members.iter().map(Vec::len).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let same = write_config(dir, "same.toml", "people.csv", &url);
    let hired = write_config(dir, "hires.toml", "hires.csv", &url);
    println!("| plan | sources (CSV + mapping) | target read | plan core | whole | RSS before | peak RSS | writes |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for round in 1..=2 {
        let run = runtime.block_on(run_plan(&same, people, &members));
        report_plan(&format!("no change (run {round})"), &run);
        let run = runtime.block_on(run_plan(&hired, people, &members));
        report_plan(&format!("{hires} new hires (run {round})"), &run);
    }
    emu.kill().unwrap();
    emu.wait().unwrap();
    if sync_people > 0 {
        syncs(dir, sync_people);
    }
    let rate_people = env_num("IDBRIDGE_BENCH_RATE_PEOPLE", 10_000);
    if rate_people > 0 {
        throughput(dir, rate_people);
    }
}
