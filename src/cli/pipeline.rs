//! The shared front half of `plan`, `sync`, `apply` and `demo`: config, sources, mapping, target
//! read, links, and the call to the pure planner. The store's links and baselines are read on
//! tasks of their own from before the source read ([`start_store_reads`]); once the sources are
//! read (and none is empty), the target's users are too, while the sources are judged and mapped
//! ([`start_reads`]).

use crate::clock::Clock;
use crate::config::{self, Settings, SourceSettings, TargetKind as ConfigKind, TargetSettings};
use crate::connectors::hr;
use crate::connectors::SourceRead;
use crate::mapping;
use crate::model::{Attr, DesiredUser, ScimId, SourceKey, SourceRecord, TargetGroup, UserName};
use crate::plan::{self, gates, GroupState, KnownLink, Plan, Policy, TargetRef, TargetState};
use crate::report::upcoming::{self, Upcoming};
use crate::scim::{ClientSettings, Profile, Reader, TargetKind, TargetRead, Writer};
use crate::store::{
    AbortedRun, Decision, LinkKind, LinkState, LockHolder, RunLock, RunOrigin, RunTrigger, Store,
    StoreRead, WriteOutcome, WriteRecord,
};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// A refusal: the run stops on purpose (exit 1), as opposed to an error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Load and validate the config file.
pub fn load(path: &Path) -> Result<Settings> {
    Ok(config::load(path)?)
}

/// The target profile for the configured target.
pub fn profile(target: &TargetSettings) -> Profile {
    let mut profile = Profile::for_kind(match target.kind {
        ConfigKind::Notion => TargetKind::Notion,
        ConfigKind::Scim => TargetKind::Scim,
    });
    if let Some(external_id) = target.external_id {
        profile.external_id = external_id;
    }
    profile.roles = target.manage_roles;
    profile
}

/// A read-only SCIM client for the configured target: what `plan` and `check-config` hold, so
/// they cannot write.
pub fn reader(target: &TargetSettings, clock: Arc<dyn Clock>) -> Result<Reader> {
    Ok(Reader::new(
        client_settings(target),
        profile(target),
        clock,
    )?)
}

/// A SCIM client that can write to the configured target (`sync`, `apply`, `demo`).
pub fn writer(target: &TargetSettings, clock: Arc<dyn Clock>) -> Result<Writer> {
    Ok(Writer::new(
        client_settings(target),
        profile(target),
        clock,
    )?)
}

/// [`writer`], with `observer` told of every exchange (`serve`'s latency histogram).
pub fn writer_observed(
    target: &TargetSettings,
    clock: Arc<dyn Clock>,
    observer: Option<crate::scim::Observer>,
) -> Result<Writer> {
    let mut settings = client_settings(target);
    settings.observer = observer;
    Ok(Writer::new(settings, profile(target), clock)?)
}

fn client_settings(target: &TargetSettings) -> ClientSettings {
    let mut settings = ClientSettings::new(target.url.clone(), target.token.clone());
    settings.token_source = target.token_source.clone();
    settings.timeout = target.timeout;
    settings.rate_limit = target.rate_limit;
    settings.concurrency = target.concurrency;
    settings.max_retries = target.max_retries;
    settings.max_retry_after = target.max_retry_after;
    settings.max_reply_bytes = target.max_reply_bytes;
    settings.page_size = target.page_size;
    settings
}

/// The plan's identity of the target.
pub fn target_ref(target: &TargetSettings) -> TargetRef {
    TargetRef {
        kind: target.kind.as_str().to_owned(),
        url: target.url.to_string(),
        name: target.name.clone(),
    }
}

/// Read every source (files from disk, directories over the network); `clock` reads an HR API's
/// HTTP-date `Retry-After`.
pub async fn read_sources(settings: &Settings, clock: &dyn Clock) -> Result<Vec<SourceRead>> {
    let mut reads = Vec::with_capacity(settings.sources.len());
    for source in &settings.sources {
        let mut read = match source {
            SourceSettings::HrCsv(csv) => hr::read_csv_file(csv)?,
            SourceSettings::HrHttp(api) => hr::read_http(api, clock).await?,
            SourceSettings::Ldap(ldap) => crate::connectors::ldap::read(ldap).await?,
        };
        // Held until mapped, beside everything else a run reads: a list grown by doubling
        // keeps up to half its length spare (4.5 MB of 100,000 records).
        read.records.shrink_to_fit();
        reads.push(read);
    }
    Ok(reads)
}

/// Open the store for reading only (`plan`, `check-config`): a missing database means no links yet.
pub async fn open_store_read_only(settings: &Settings) -> Result<Option<StoreRead>> {
    Ok(Store::open_read_only(settings.store_url.expose_secret()).await?)
}

/// Open the store for writing and bring its schema up to date.
pub async fn open_store(settings: &Settings) -> Result<Store> {
    let store = Store::open(settings.store_url.expose_secret()).await?;
    store.migrate().await?;
    Ok(store)
}

/// This machine's name, for the run lock's holder record and the run's audit record.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The OS account this process runs as, for the run's audit record: `USER`, else `LOGNAME` (login
/// shells, cron and systemd set them), else the name `/etc/passwd` gives the process's uid, else
/// `uid N` (a container user with no name), else `unknown`. Only a name: never anything secret.
pub fn os_user() -> String {
    let named = ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|var| std::env::var(var).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty());
    named
        .or_else(|| {
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))?
                .split_whitespace()
                .next()?
                .to_owned();
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            let name = passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid).then(|| name.to_owned())
            });
            Some(name.unwrap_or_else(|| format!("uid {uid}")))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Who and what starts a run on this machine.
pub fn run_origin(trigger: RunTrigger) -> RunOrigin {
    RunOrigin {
        trigger,
        host: host_name(),
        os_user: os_user(),
    }
}

/// Open the store for a command that writes (`sync`, `apply`, `migrate`): take the run lock of
/// the configured target before anything else (another run holding it ends this one with exit 4,
/// having written nothing), then bring the schema up to date. Keep the lock until the end.
pub async fn open_store_locked(
    settings: &Settings,
    command: &str,
    now: DateTime<Utc>,
) -> Result<(Store, RunLock)> {
    let store = Store::open(settings.store_url.expose_secret()).await?;
    let holder = LockHolder {
        command: command.to_owned(),
        pid: std::process::id(),
        host: host_name(),
        started_at: now,
    };
    let lock = store.lock_run(&settings.target.name, &holder).await?;
    store.migrate().await?;
    Ok((store, lock))
}

/// [`open_store_locked`], then close out the target's runs that died (see
/// [`Store::abort_dead_runs`]) and warn about each, before this run reads the target.
pub async fn open_store_for_run(
    settings: &Settings,
    command: &str,
    now: DateTime<Utc>,
) -> Result<(Store, RunLock)> {
    let (store, lock) = open_store_locked(settings, command, now).await?;
    for dead in store.abort_dead_runs(&lock, now).await? {
        warn_aborted(&settings.target.name, &dead);
    }
    Ok((store, lock))
}

fn warn_aborted(target: &str, dead: &AbortedRun) {
    let unknown: Vec<String> = dead
        .unknown
        .iter()
        .map(|o| format!("{} {}", o.op, o.user_name.as_deref().unwrap_or("-")))
        .collect();
    let unknown_text = if unknown.is_empty() {
        "none".to_owned()
    } else {
        format!(
            "{} ({}); their outcome was never recorded, so this run's plan checks each against \
             the target instead of assuming it happened",
            unknown.len(),
            unknown.join(", ")
        )
    };
    tracing::warn!(
        run = dead.id.0,
        "run {} (`{}` on target `{target}`, started {}) was still marked running but nobody held \
         the run lock: its process died. Marked aborted. Its journal: {} done, {} failed, {} \
         skipped; unknown: {unknown_text}",
        dead.id,
        dead.kind,
        dead.started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        dead.done,
        dead.failed,
        dead.skipped,
    );
}

/// Read the target's groups, as the planner sees them.
pub async fn read_groups(reader: &Reader) -> Result<GroupState> {
    let read = reader.read_groups().await?;
    Ok(GroupState {
        groups: read
            .groups
            .into_iter()
            .map(|g| TargetGroup {
                id: ScimId(g.id),
                display_name: g.display_name,
                members: g.members.into_iter().map(|m| ScimId(m.value)).collect(),
            })
            .collect(),
        consistent: read.consistent,
        problems: read.problems,
    })
}

/// The policy for a run: the config's, with the command's flags and the group rules.
pub fn policy(settings: &Settings, force: bool, limit: Option<usize>) -> Policy {
    let mut policy = settings.policy.clone();
    policy.force = force;
    policy.limit = limit;
    policy.delete_groups = settings.mapping.groups.delete;
    policy.adopt_groups = settings.mapping.groups.adopt.clone();
    policy
}

/// What the store knows about a target: its links and the creates an earlier run left unfinished.
pub struct Known {
    /// User links.
    pub links: Vec<KnownLink>,
    /// Group links.
    pub group_links: Vec<KnownLink>,
    /// Lowercased userNames of unfinished creates (journal).
    pub unfinished: BTreeSet<String>,
    /// What the last patch of each user's attributes sent and how it ended.
    pub writes: Vec<plan::PastWrite>,
    /// Who earlier counted runs found gone from the sources (absence grace).
    pub absences: Vec<plan::Absence>,
    /// Admins' decisions about held email reuses that no run acted on yet.
    pub confirmations: Vec<plan::Confirmed>,
}

/// Read the links and unfinished creates of `target_name` (none without a store).
pub async fn known(store: Option<&StoreRead>, target_name: &str) -> Result<Known> {
    let Some(store) = store else {
        return Ok(Known {
            links: Vec::new(),
            group_links: Vec::new(),
            unfinished: BTreeSet::new(),
            writes: Vec::new(),
            absences: Vec::new(),
            confirmations: Vec::new(),
        });
    };
    let stored = store
        .plan_links(target_name)
        .await
        .context("reading links from the store")?;
    let unfinished = store
        .unfinished_creates(target_name)
        .await
        .context("reading the journal")?
        .into_iter()
        .filter_map(|op| op.user_name.map(|n| n.to_lowercase()))
        .collect();
    // Moved, not copied: a large store's links were held twice here.
    let users = stored.iter().filter(|l| l.kind == LinkKind::User).count();
    let mut links = Vec::with_capacity(users);
    let mut group_links = Vec::with_capacity(stored.len() - users);
    for l in stored {
        let link = KnownLink {
            user_name: UserName::new(l.user_name),
            key: l.key,
            scim_id: l.scim_id,
            active: l.state == LinkState::Active,
        };
        match l.kind {
            LinkKind::User => links.push(link),
            LinkKind::Group => group_links.push(link),
        }
    }
    let writes = store
        .write_outcomes(target_name)
        .await
        .context("reading the recorded write outcomes from the store")?
        .into_iter()
        .filter_map(past_write)
        .collect();
    Ok(Known {
        links,
        group_links,
        unfinished,
        writes,
        absences: absences(store, target_name).await?,
        confirmations: confirmations(store, target_name).await?,
    })
}

/// The stored absences of `target_name`, as the planner takes them.
pub async fn absences(store: &StoreRead, target_name: &str) -> Result<Vec<plan::Absence>> {
    Ok(store
        .absences(target_name)
        .await
        .context("reading the recorded absences from the store")?
        .into_iter()
        .map(|a| plan::Absence {
            key: a.key,
            since: a.since,
            runs: a.runs,
        })
        .collect())
}

/// The recorded decisions about email reuses no run acted on yet, as the planner takes them.
async fn confirmations(store: &StoreRead, target_name: &str) -> Result<Vec<plan::Confirmed>> {
    let stored = store
        .confirmations(target_name)
        .await
        .context("reading the confirmations from the store")?;
    Ok(stored
        .into_iter()
        .filter(|c| c.consumed_run_id.is_none())
        .map(|c| plan::Confirmed {
            id: c.id,
            user_name: UserName::new(&c.what.user_name),
            key: c.what.key,
            former_key: c.what.former_key,
            decision: match c.what.decision {
                Decision::Same => plan::Reuse::Same,
                Decision::New => plan::Reuse::New,
            },
            by: format!("{}@{}", c.what.os_user, c.what.host),
            at: c.what.confirmed_at,
        })
        .collect())
}

/// A stored write outcome as the planner takes it; one of an attribute idbridge no longer knows
/// is left out.
fn past_write(record: WriteRecord) -> Option<plan::PastWrite> {
    let attr = Attr::from_path(&record.attr)?;
    let outcome = match record.outcome {
        WriteOutcome::Refused => plan::PastOutcome::Refused {
            reason: record.reason.unwrap_or_default(),
        },
        WriteOutcome::Applied => plan::PastOutcome::Applied {
            read_back: record.read_back,
        },
    };
    Some(plan::PastWrite {
        scim_id: record.scim_id,
        attr,
        sent: record.sent,
        outcome,
    })
}

/// A plan and what it was made from.
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// The desired people (for snapshots after a sync).
    pub desired: Vec<DesiredUser>,
    /// Future starts and terminations in the sources (recorded with the run).
    pub upcoming: Vec<Upcoming>,
    /// The target's users as the planner saw them (the access reports and `explain` read them).
    pub target: TargetState,
    /// The stored user links the planner matched with.
    pub links: Vec<KnownLink>,
    /// Bad source records and mapping problems (`explain` cites those naming a person).
    pub issues: Vec<crate::model::SourceIssue>,
    /// Attributes the mapping manages on this target.
    pub managed: BTreeSet<Attr>,
    /// The source health gates' verdict on the reads (the baselines to keep after the run).
    pub gates: super::gates::Verdict,
}

/// The people and groups the sources describe, mapped and normalised as the target stores them.
pub struct Desired {
    /// People.
    pub desired: Vec<DesiredUser>,
    /// Attributes the mapping manages on this target.
    pub managed: BTreeSet<Attr>,
    /// Bad source records and mapping problems.
    pub issues: Vec<crate::model::SourceIssue>,
    /// Groups to push.
    pub groups: Vec<crate::model::DesiredGroup>,
}

/// Map the source reads at `now`. A source that yielded nobody stops here
/// ([`plan::empty_source`]): an empty or broken export must never look like everybody left.
/// `gates` are the source health gates' hits on these reads: a held group that `[roles]` reads
/// holds every role change of the run.
pub fn desired(
    settings: &Settings,
    profile: &Profile,
    reads: &[SourceRead],
    gates: &[plan::gates::GateHit],
    now: DateTime<Utc>,
) -> Result<Desired> {
    refuse_empty(reads)?;
    let data: Vec<mapping::SourceData<'_>> = reads
        .iter()
        .map(|r| mapping::SourceData {
            name: &r.source,
            records: &r.records,
            groups: &r.groups,
            fields: &r.fields,
        })
        .collect();
    let mut mapped = mapping::map(&data, &settings.mapping, now);
    if let Some(rules) = &settings.roles {
        // The role attribute is managed whenever `[roles]` is configured; who gets which role
        // is the rules' (a person with none keeps theirs: plan::roles). While a group the rules
        // read is held, nobody gets a desired role, so everyone keeps theirs.
        let attr = profile.role_attr();
        let held = held_role_groups(reads, gates, rules);
        if held.is_empty() {
            mapping::roles::assign(&mut mapped.desired, &data, rules, attr);
        } else {
            mapped.issues.extend(held);
        }
        mapped.managed.insert(attr);
    }
    let mut issues: Vec<_> = reads
        .iter()
        .flat_map(|r| r.issues.iter().cloned())
        .collect();
    issues.extend(mapped.issues.iter().cloned());
    let managed: BTreeSet<Attr> = mapped
        .managed
        .iter()
        .copied()
        .filter(|a| profile.manages(*a))
        .collect();
    let desired: Vec<DesiredUser> = mapped
        .desired
        .into_iter()
        .map(|mut d| {
            d.attrs = profile.normalise_desired(&d.attrs);
            d
        })
        .collect();
    Ok(Desired {
        desired,
        managed,
        issues,
        groups: mapped.groups,
    })
}

/// The target's users, read for a plan and normalised by its profile.
pub async fn read_users(reader: &Reader) -> Result<TargetState> {
    let read = reader.read_target_users().await?;
    tracing::info!(
        users = read.users.len(),
        consistent = read.consistent,
        attempts = read.attempts,
        "target read"
    );
    if read.attempts > 1 {
        tracing::warn!(
            attempts = read.attempts,
            consistent = read.consistent,
            "target read was retried"
        );
    }
    let mut users = read.users;
    // Held through the whole plan: no spare room from the paged read's doubling.
    users.shrink_to_fit();
    Ok(TargetState {
        users,
        consistent: read.consistent,
        problems: read.problems,
    })
}

/// For each directory source, the linked people its read missed and the scope rule each no
/// longer matches (moved out of `users.base`, or no longer matching `users.filter`), so a mover
/// out of scope is named as one. A failed lookup only loses the names: it is logged, and those
/// people read as absent (the same grace applies either way).
async fn scope_exits(
    settings: &Settings,
    reads: &[SourceRead],
    links: &[KnownLink],
) -> BTreeMap<SourceKey, String> {
    let mut out = BTreeMap::new();
    for source in &settings.sources {
        let SourceSettings::Ldap(ldap) = source else {
            continue;
        };
        let Some(read) = reads.iter().find(|r| r.source == ldap.name) else {
            continue;
        };
        let present: BTreeSet<&SourceKey> = read.records.iter().map(|r| &r.key).collect();
        let missing: Vec<String> = links
            .iter()
            .filter(|l| l.active && l.key.source == ldap.name && !present.contains(&l.key))
            .map(|l| l.key.id.clone())
            .collect();
        match crate::connectors::ldap::explain_missing(ldap, &missing).await {
            Ok(found) => out.extend(
                found
                    .into_iter()
                    .map(|(id, rule)| (SourceKey::new(ldap.name.clone(), id), rule)),
            ),
            Err(e) => tracing::warn!(
                source = %ldap.name,
                error = %e,
                "could not look up why linked people are missing from the directory read; they are treated as absent"
            ),
        }
    }
    out
}

/// The sources' future starts and terminations (before the plan: they need the records).
fn upcoming_in_sources(
    desired: &[DesiredUser],
    reads: &[SourceRead],
    now: DateTime<Utc>,
) -> Vec<Upcoming> {
    let records: Vec<_> = reads.iter().flat_map(|r| r.records.iter()).collect();
    upcoming::collect(desired, &records, now)
}

/// What the run records as upcoming: the sources' future starts and terminations, and the
/// plan's pending deactivations (absence grace), by when they take effect.
fn scheduled(mut upcoming: Vec<Upcoming>, plan: &Plan, policy: &Policy) -> Vec<Upcoming> {
    upcoming.extend(upcoming::pending_deactivations(
        &plan.absence,
        policy.absence_grace.runs,
    ));
    upcoming.sort_by(|a, b| {
        (a.effective, &a.user_name, a.kind).cmp(&(b.effective, &b.user_name, b.kind))
    });
    upcoming
}

/// One issue per group a `group-drop` gate holds (not overridden) that a `[roles]` rule reads.
/// A group the read no longer has is matched by the name and id its baseline recorded.
fn held_role_groups(
    reads: &[SourceRead],
    gates: &[plan::gates::GateHit],
    rules: &mapping::RoleRules,
) -> Vec<crate::model::SourceIssue> {
    let mut out = Vec::new();
    for hit in gates.iter().filter(|h| !h.overridden) {
        let Some(id) = &hit.group_id else { continue };
        let read = reads
            .iter()
            .filter(|r| r.source == hit.source)
            .flat_map(|r| r.groups.iter())
            .find(|g| g.key.id == *id);
        let name = hit.subject.clone().unwrap_or_else(|| id.clone());
        // A group the read no longer has is matched by the id and name its baseline recorded.
        let (location, read_name) = match read {
            Some(g) => (g.location.as_str(), g.attrs.get("name").map(String::as_str)),
            None => (id.as_str(), Some(name.as_str())),
        };
        if mapping::roles::reads_group(rules, location, read_name) {
            out.push(crate::model::SourceIssue {
                source: hit.source.clone(),
                location: location.to_owned(),
                code: crate::model::FindingCode::GroupGateHeld,
                message: format!(
                    "group `{name}` is held by the group-drop gate and [roles] reads it, so every role change of \
                     this run is held: everyone keeps the role they have. If the change is real, run again with \
                     `--override group-drop:{}`",
                    hit.source
                ),
                hints: Vec::new(),
                skipped_person: false,
            });
        }
    }
    out
}

/// The target's groups, when a source reads groups or groups were pushed before (their links):
/// otherwise nothing to plan for groups, and no read.
async fn read_groups_if_needed(
    settings: &Settings,
    reader: &Reader,
    group_links: &[KnownLink],
) -> Result<Option<GroupState>> {
    let groups_configured = settings
        .sources
        .iter()
        .any(|s| matches!(s, SourceSettings::Ldap(l) if l.groups.is_some()));
    if groups_configured || !group_links.is_empty() {
        Ok(Some(read_groups(reader).await?))
    } else {
        Ok(None)
    }
}

/// What a plan takes from the source reads, made before the target is read.
struct FromSources {
    desired: Desired,
    gates: super::gates::Verdict,
    known: Known,
    excluded: BTreeMap<SourceKey, String>,
    upcoming: Vec<Upcoming>,
}

async fn from_sources(
    settings: &Settings,
    profile: &Profile,
    reads: &[SourceRead],
    store: StoreReading,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<FromSources> {
    let gates = super::gates::judge(settings, reads, store.baselines.join(), policy).await?;
    let desired = desired(settings, profile, reads, &gates.hits, now)?;
    let known = store.known.join().await?;
    for r in reads {
        tracing::info!(source = %r.source, people = r.records.len(), groups = r.groups.len(), skipped = r.issues.len(), "source read");
    }
    let excluded = scope_exits(settings, reads, &known.links).await;
    let upcoming = upcoming_in_sources(&desired.desired, reads, now);
    Ok(FromSources {
        desired,
        gates,
        known,
        excluded,
        upcoming,
    })
}

/// A read on a task of its own, stopped if dropped (an error elsewhere abandons it).
struct Background<T>(tokio::task::JoinHandle<Result<T>>);

impl<T: Send + 'static> Background<T> {
    fn spawn(read: impl std::future::Future<Output = Result<T>> + Send + 'static) -> Self {
        use tracing::Instrument;
        Self(tokio::spawn(read.instrument(tracing::Span::current())))
    }

    async fn join(mut self) -> Result<T> {
        match (&mut self.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(anyhow::anyhow!("a read was stopped before it ended: {e}")),
        }
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The store's links and the gates' baselines, being read on tasks of their own from before the
/// source read ([`start_store_reads`]), so a large store's read (a million links) overlaps the
/// source read, which uses one core (docs/performance.md, "Scale"). Under the run lock (`sync`,
/// `serve`) nothing else writes the store, so reading it earlier changes nothing the plan sees.
/// Without it (`plan`, `explain`, the reports) a run that commits during a long source read is in
/// the target read but not in these links, as it could already be during the mapping: such a
/// plan may propose adopting a user just linked, and `apply --plan` re-checks every operation
/// against the store before it writes.
pub struct StoreReading {
    known: Background<Known>,
    baselines: Background<BTreeMap<String, gates::Baseline>>,
}

/// Start reading the store's links and baselines ([`StoreReading`]). Dropped, the reads stop.
pub fn start_store_reads(settings: &Settings, store: Option<&StoreRead>) -> StoreReading {
    let name = settings.target.name.clone();
    let known = Background::spawn({
        let (store, name) = (store.cloned(), name.clone());
        async move { known(store.as_ref(), &name).await }
    });
    let baselines = Background::spawn({
        let store = store.cloned();
        async move { super::gates::baselines(store.as_ref(), &name).await }
    });
    StoreReading { known, baselines }
}

impl StoreReading {
    /// Start reading the target's users once the sources are read ([`start_reads`]).
    pub fn then_target(self, reader: &Reader, reads: &[SourceRead]) -> Result<Reading> {
        refuse_empty(reads)?;
        let users = Background::spawn({
            let reader = reader.clone();
            async move { read_users(&reader).await }
        });
        Ok(Reading {
            store: self,
            users,
            keep_records: false,
        })
    }
}

/// The store's reads and the target's users, being read on tasks of their own ([`start_reads`]).
pub struct Reading {
    store: StoreReading,
    users: Background<TargetState>,
    keep_records: bool,
}

impl Reading {
    /// Keep the source records past the mapping ([`prepare_reading`] returns them): the access
    /// reports and `explain` cite them.
    pub fn keeping_records(mut self) -> Self {
        self.keep_records = true;
        self
    }
}

/// Start reading the store's links and baselines and the target's users, each on a task of its
/// own, so the reads overlap the gates and the mapping: they wait on I/O and other threads, the
/// mapping is CPU (docs/performance.md, "Scale"). The target's read is started after the source read, not
/// before it: the target is read as close to the plan as before the overlap (a slow directory
/// read must not leave the plan working from an older copy of the workspace), and a source that
/// failed or yielded nobody ([`plan::empty_source`], checked here first) never reaches the
/// target. The store's reads may start before the source read ([`start_store_reads`], then
/// [`StoreReading::then_target`]). Dropped, the reads stop.
pub fn start_reads(
    settings: &Settings,
    reader: &Reader,
    store: Option<&StoreRead>,
    reads: &[SourceRead],
) -> Result<Reading> {
    start_store_reads(settings, store).then_target(reader, reads)
}

/// A source that yielded nobody stops the run ([`plan::empty_source`]): an empty or broken
/// export must never look like everybody left.
fn refuse_empty(reads: &[SourceRead]) -> Result<()> {
    for read in reads {
        plan::empty_source(&read.source, read.records.len(), &read.issues)
            .map_err(|refusal| Refused(refusal.to_string()))?;
    }
    Ok(())
}

/// Everything from source reads to the plan. It holds only a [`Reader`] of the target: making a
/// plan cannot write. See [`prepare_reading`].
pub async fn prepare(
    settings: &Settings,
    reader: &Reader,
    reads: Vec<SourceRead>,
    store: Option<&StoreRead>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Prepared> {
    let reading = start_reads(settings, reader, store, &reads)?;
    let (prepared, _) = prepare_reading(settings, reader, reads, reading, policy, now).await?;
    Ok(prepared)
}

/// [`prepare`] with the store's links and baselines and the target's users already being read
/// ([`start_reads`], or [`start_store_reads`] then [`StoreReading::then_target`], on these
/// reads). The reads are consumed: once mapped, their records are
/// dropped before the plan is made, so a large run never holds the records and the plan at
/// once, unless `reading` keeps them ([`Reading::keeping_records`]); they are returned then.
pub async fn prepare_reading(
    settings: &Settings,
    reader: &Reader,
    reads: Vec<SourceRead>,
    reading: Reading,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<(Prepared, Vec<SourceRecord>)> {
    let profile = reader.profile();
    let from = from_sources(settings, profile, &reads, reading.store, policy, now).await?;
    let records: Vec<SourceRecord> = if reading.keep_records {
        reads.into_iter().flat_map(|r| r.records).collect()
    } else {
        drop(reads);
        Vec::new()
    };
    let target = reading.users.join().await?;
    let group_state = read_groups_if_needed(settings, reader, &from.known.group_links).await?;
    let plan = plan_of(
        settings,
        profile,
        policy,
        now,
        &from,
        &target,
        group_state.as_ref(),
    );
    let FromSources {
        desired,
        gates,
        known,
        upcoming,
        ..
    } = from;
    let prepared = Prepared {
        upcoming: scheduled(upcoming, &plan, policy),
        plan,
        desired: desired.desired,
        target,
        links: known.links,
        issues: desired.issues,
        managed: desired.managed,
        gates,
    };
    Ok((prepared, records))
}

/// The plan of what the sources and the target's read say, held as a whole when a gate holds
/// the run: gates are judged before the plan is trusted, and a held run keeps no operation.
fn plan_of(
    settings: &Settings,
    profile: &Profile,
    policy: &Policy,
    now: DateTime<Utc>,
    from: &FromSources,
    target: &TargetState,
    target_groups: Option<&GroupState>,
) -> Plan {
    let sources: Vec<String> = settings
        .sources
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    let (desired, known) = (&from.desired, &from.known);
    let input = plan::Input {
        desired: &desired.desired,
        managed: &desired.managed,
        sources: &sources,
        issues: &desired.issues,
        target,
        links: &known.links,
        recovered: &known.unfinished,
        policy,
        target_ref: target_ref(&settings.target),
        invites_on_create: profile.kind == TargetKind::Notion,
        desired_groups: &desired.groups,
        target_groups,
        group_links: &known.group_links,
        now,
        writes: &known.writes,
        refusal_advice: profile.refusal_advice(),
        names: profile.name_model,
        absences: &known.absences,
        excluded: &from.excluded,
        confirmations: &known.confirmations,
    };
    plan::gates::hold(plan::plan(&input), from.gates.hits.clone())
}
