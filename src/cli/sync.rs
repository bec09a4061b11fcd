//! `plan`, `apply --plan`, `sync` and `migrate`. `sync`, `apply` and `migrate` hold the run lock
//! of their target from before the target is read to the end; `plan` writes nothing and takes none.

use super::output::{self, eprint_errors, errln, print_outcome, print_plan};
use super::pipeline::{self, Refused};
use super::{progress, ApplyArgs, Exit, Format, PlanArgs, SyncArgs};
use crate::apply::{self, Outcome};
use crate::clock::Clock;
use crate::config::Settings;
use crate::model::{SourceKey, TargetGroup, TargetUser};
use crate::plan::{self, Plan, TargetState, PLAN_VERSION};
use crate::report::upcoming::Upcoming;
use crate::scim::{Reader, RequestCounts, TargetRead, Writer};
use crate::store::{
    AbsenceRecord, NewRun, PruneReason, PruneRequest, RunId, RunLock, RunStatus, RunTrigger,
    ScimCounts, Store,
};
use anyhow::{Context, Result};
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::sync::Arc;

fn plan_exit(plan: &Plan) -> Exit {
    if plan.blocked || plan.has_errors() {
        Exit::Blocked
    } else {
        Exit::Ok
    }
}

/// `idbridge plan`.
pub async fn plan(config: &Path, clock: Arc<dyn Clock>, args: PlanArgs) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    // A reader: a plan is made without any value that could write to the target.
    let reader = pipeline::reader(&settings.target, clock.clone())?;
    let spinner = progress::spinner(READING);
    // The store is opened first so its reads overlap the source read, but a source that cannot
    // be read is reported before a store that cannot be opened, as when the store was opened
    // after the sources were read.
    let store_reads = pipeline::open_store_read_only(&settings)
        .await
        .map(|store| pipeline::start_store_reads(&settings, store.as_ref()));
    let reads = pipeline::read_sources(&settings, clock.as_ref()).await?;
    let reading = store_reads?.then_target(&reader, &reads)?;
    let mut policy = pipeline::policy(&settings, args.force, args.limit);
    policy.retry_refused = args.retry_refused;
    policy.gates.overrides = args.overrides.clone();
    let (prepared, _) =
        pipeline::prepare_reading(&settings, &reader, reads, reading, &policy, clock.now()).await?;
    drop(spinner);
    if let Some(out) = &args.out {
        let json = serde_json::to_string_pretty(&prepared.plan)?;
        std::fs::write(out, format!("{json}\n"))
            .with_context(|| format!("writing the plan to {}", out.display()))?;
        errln!(
            "plan written to {}; apply exactly it with: idbridge apply --plan {} --expect-digest {}",
            out.display(),
            out.display(),
            prepared.plan.plan_digest.as_deref().unwrap_or("-")
        );
    }
    print_plan(&prepared.plan, args.format)?;
    let exit = plan_exit(&prepared.plan);
    // The process ends with this command: its memory goes back whole, where freeing a million
    // people's values one at a time took most of a second (docs/performance.md, "Scale").
    std::mem::forget(prepared);
    Ok(exit)
}

/// What the spinner says while sources and target are read (a first read of a large workspace
/// at Notion's rate takes minutes).
const READING: &str = "reading the sources and the target";

/// Ask on a terminal; a refusal ends the command as refused (exit 1, nothing applied).
fn confirm(plan: &Plan, yes: bool) -> Result<()> {
    if yes
        || plan.write_count() == 0
        || !std::io::stdin().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return Ok(());
    }
    output::err(&format!(
        "Apply {} operations to {} ({})? [y/N] ",
        plan.operations.len(),
        plan.target.name,
        plan.target.url
    ));
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Refused("not confirmed; nothing was applied".to_owned()).into())
    }
}

/// What a run records about itself when it starts.
pub struct RunStart {
    /// `sync`, `apply` or `demo`.
    pub kind: &'static str,
    /// What started it.
    pub trigger: RunTrigger,
    /// The planDigest of the plan it applies.
    pub plan_digest: Option<String>,
    /// The future starts and terminations its source read found; `None` without a source read.
    pub upcoming: Option<Vec<Upcoming>>,
    /// The client's counts when the command began, so the run records only its own requests.
    pub requests_before: RequestCounts,
    /// Set when the process is asked to stop (`serve`): operations not yet started are skipped.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Run `plan` in a new journaled run and record it: how it was started, what it did, and the
/// SCIM requests it took. `progress` is told of each operation (the terminal's progress bar).
pub async fn execute(
    settings: &Settings,
    client: &Writer,
    store: &Store,
    clock: Arc<dyn Clock>,
    plan: &Plan,
    start: RunStart,
    progress: Option<Arc<dyn apply::Progress>>,
) -> Result<Outcome> {
    let upcoming_json = match &start.upcoming {
        Some(list) => Some(serde_json::to_string(list)?),
        None => None,
    };
    let run_id = store
        .start_run(&NewRun {
            kind: start.kind.to_owned(),
            target_name: settings.target.name.clone(),
            started_at: clock.now(),
            plan_sha256: start.plan_digest,
            origin: pipeline::run_origin(start.trigger),
            upcoming_json,
        })
        .await?;
    let outcome = apply::apply_with_progress(
        plan,
        client,
        store,
        clock.clone(),
        run_id,
        apply::Options {
            target_name: settings.target.name.clone(),
            deactivate: settings.policy.deactivate,
            batch_size: settings.mapping.groups.batch_size,
            concurrency: settings.target.concurrency,
            stop: start.stop,
        },
        progress,
    )
    .await;
    if outcome.is_ok() {
        record_absences(settings, store, plan, clock.now()).await?;
    }
    let (status, summary) = match &outcome {
        Ok(o) if o.succeeded() => (RunStatus::Succeeded, serde_json::to_string(&plan.summary)?),
        Ok(_) => (RunStatus::Failed, serde_json::to_string(&plan.summary)?),
        Err(e) => (
            RunStatus::Failed,
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
    };
    store
        .finish_run(run_id, clock.now(), status, &summary)
        .await?;
    let sent = client.request_counts().since(start.requests_before);
    store
        .record_scim_counts(
            run_id,
            ScimCounts {
                requests: sent.requests,
                retries: sent.retries,
                throttled: sent.throttled,
            },
        )
        .await?;
    Ok(outcome?)
}

/// Record what the plan's absence section says, when the run counts (docs/lifecycle.md): the
/// store then holds exactly the gone people the plan lists. A run that does not count leaves the
/// records as they were.
async fn record_absences(
    settings: &Settings,
    store: &Store,
    plan: &Plan,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let Some(people) = plan::absences::to_record(plan) else {
        tracing::info!(
            "this run does not count toward the absence grace: {}",
            plan.absence.not_counted.join("; ")
        );
        return Ok(());
    };
    let records: Vec<AbsenceRecord> = people
        .into_iter()
        .map(|(p, since)| AbsenceRecord {
            key: p.source_key,
            scim_id: p.scim_id,
            user_name: p.user_name.to_string(),
            since,
            runs: p.runs,
            reason: p.reason,
        })
        .collect();
    store
        .replace_absences(&settings.target.name, &records, at)
        .await
        .context("recording the absences of this run in the store")?;
    Ok(())
}

/// Each person's snapshot: their key and the hash of their attributes.
fn snapshot_hashes(desired: &[crate::model::DesiredUser]) -> Vec<(SourceKey, String)> {
    desired
        .iter()
        .map(|person| (person.key.clone(), plan::attr_hash(&person.attrs)))
        .collect()
}

/// Keep each person's snapshot: only those whose attributes changed are written (in one
/// transaction), so a sync that changed nothing writes none.
async fn snapshots(
    settings: &Settings,
    store: &Store,
    clock: &dyn Clock,
    current: &[(SourceKey, String)],
) -> Result<()> {
    let written = store
        .save_snapshots(&settings.target.name, current, clock.now())
        .await?;
    tracing::debug!(written, people = current.len(), "snapshots saved");
    Ok(())
}

/// `[store] retention`: prune the journal of this target's runs that finished longer ago, under
/// the run lock this run holds. A failure is logged, not fatal: the run itself is recorded, and
/// the next run tries again.
async fn retention(settings: &Settings, store: &Store, lock: &RunLock, clock: &dyn Clock) {
    let Some(keep) = settings.store_retention else {
        return;
    };
    let now = clock.now();
    let Some(cutoff) = chrono::Duration::from_std(keep)
        .ok()
        .and_then(|keep| now.checked_sub_signed(keep))
    else {
        return;
    };
    let request = PruneRequest {
        cutoff,
        at: now,
        reason: PruneReason::Retention,
        host: pipeline::host_name(),
        os_user: pipeline::os_user(),
    };
    match store.prune(lock, &request).await {
        Ok(Some(done)) => tracing::info!(
            runs = done.runs,
            operations = done.operations,
            cutoff = %done.cutoff,
            "[store] retention pruned the journal of old runs"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(
            error = %e,
            "[store] retention could not prune the journal; personal data older than the retention is still \
             stored, and the next run tries again"
        ),
    }
}

fn outcome_exit(plan: &Plan, outcome: &Outcome) -> Exit {
    super::exit::for_outcome(outcome, plan.has_errors())
}

/// The front half of a sync (`sync`, and each run of `serve`): read the sources and the target
/// and make the plan, under the run lock the caller holds.
pub async fn make_plan(
    settings: &Settings,
    store: &Store,
    client: &Writer,
    clock: &dyn Clock,
    policy: &plan::Policy,
) -> Result<pipeline::Prepared> {
    let store_reads = pipeline::start_store_reads(settings, Some(store.reader()));
    let reads = pipeline::read_sources(settings, clock).await?;
    let reading = store_reads.then_target(client.reader(), &reads)?;
    let (prepared, _) = pipeline::prepare_reading(
        settings,
        client.reader(),
        reads,
        reading,
        policy,
        clock.now(),
    )
    .await?;
    Ok(prepared)
}

/// The back half of a sync: apply a plan no guardrail blocked in a new journaled run, then keep
/// the snapshots and prune by `[store] retention`.
#[allow(clippy::too_many_arguments)] // the pieces of one run, each from a different place
pub async fn apply_prepared(
    settings: &Settings,
    client: &Writer,
    store: &Store,
    lock: &RunLock,
    clock: Arc<dyn Clock>,
    prepared: &mut pipeline::Prepared,
    start: RunStart,
    progress: Option<Arc<dyn apply::Progress>>,
) -> Result<Outcome> {
    // The people, the target's users and the links are not read again once the plan is made:
    // let go of them before the writes, which a first 100,000-person sync spends most of its
    // time in (docs/performance.md, "Scale"). Only the snapshots need the people, as hashes.
    let hashes = snapshot_hashes(&prepared.desired);
    prepared.desired = Vec::new();
    prepared.target = TargetState::default();
    prepared.links = Vec::new();
    let outcome = execute(
        settings,
        client,
        store,
        clock.clone(),
        &prepared.plan,
        start,
        progress,
    )
    .await?;
    super::gates::keep(
        store,
        settings,
        RunId(outcome.run_id),
        clock.now(),
        &prepared.gates,
    )
    .await?;
    snapshots(settings, store, clock.as_ref(), &hashes).await?;
    retention(settings, store, lock, clock.as_ref()).await;
    store.checkpoint().await;
    Ok(outcome)
}

/// `idbridge sync`.
pub async fn sync(config: &Path, clock: Arc<dyn Clock>, args: SyncArgs) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    let (store, lock) = pipeline::open_store_for_run(&settings, "sync", clock.now()).await?;
    let client = pipeline::writer(&settings.target, clock.clone())?;
    let reading = progress::spinner(READING);
    let requests_before = client.request_counts();
    let mut policy = pipeline::policy(&settings, args.force, args.limit);
    policy.retry_refused = args.retry_refused;
    policy.gates.overrides = args.overrides.clone();
    let mut prepared = make_plan(&settings, &store, &client, clock.as_ref(), &policy).await?;
    drop(reading);
    let plan = &prepared.plan;
    if args.format == Format::Table {
        print_plan(plan, Format::Table)?;
    }
    if plan.blocked {
        eprint_errors(plan);
        if plan::gates::holds_run(&plan.gates) {
            let id =
                super::gates::record_held(&settings, &store, plan, RunTrigger::Sync, clock.now())
                    .await?;
            return Err(Refused(format!(
                "run {id} is held by a source health gate; nothing was applied"
            ))
            .into());
        }
        return Err(
            Refused("the plan is blocked by a guardrail; nothing was applied".to_owned()).into(),
        );
    }
    confirm(plan, args.yes)?;
    let start = RunStart {
        kind: "sync",
        trigger: RunTrigger::Sync,
        plan_digest: plan.plan_digest.clone(),
        upcoming: Some(prepared.upcoming.clone()),
        requests_before,
        stop: None,
    };
    let outcome = apply_prepared(
        &settings,
        &client,
        &store,
        &lock,
        clock.clone(),
        &mut prepared,
        start,
        progress::apply_bar(),
    )
    .await?;
    print_outcome(&prepared.plan, &outcome, args.format)?;
    Ok(outcome_exit(&prepared.plan, &outcome))
}

/// `idbridge apply --plan FILE`.
pub async fn apply(config: &Path, clock: Arc<dyn Clock>, args: ApplyArgs) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    let (plan, digest) = load_plan(&settings, &args)?;
    // Locked before the target is read, so the digest check and the writes see the same target.
    let (store, lock) = pipeline::open_store_for_run(&settings, "apply", clock.now()).await?;
    let client = pipeline::writer(&settings.target, clock.clone())?;
    let requests_before = client.request_counts();
    let verdict = verify_plan(
        &settings,
        client.reader(),
        &store,
        &plan,
        &args,
        clock.as_ref(),
    )
    .await?;
    confirm(&plan, args.yes)?;
    let outcome = execute(
        &settings,
        &client,
        &store,
        clock.clone(),
        &plan,
        RunStart {
            kind: "apply",
            trigger: RunTrigger::ApplyPlan,
            plan_digest: Some(digest),
            upcoming: None,
            requests_before,
            stop: None,
        },
        progress::apply_bar(),
    )
    .await?;
    super::gates::keep(
        &store,
        &settings,
        RunId(outcome.run_id),
        clock.now(),
        &verdict,
    )
    .await?;
    retention(&settings, &store, &lock, clock.as_ref()).await;
    print_outcome(&plan, &outcome, args.format)?;
    Ok(outcome_exit(&plan, &outcome))
}

/// Read `--plan FILE` and check it is a plan for this target, unedited, the one approved
/// (`--expect-digest`) and not blocked (unless `--force`); returns it and its planDigest.
fn load_plan(settings: &Settings, args: &ApplyArgs) -> Result<(Plan, String)> {
    let bytes = std::fs::read(&args.plan)
        .with_context(|| format!("cannot read plan file {}", args.plan.display()))?;
    let plan: Plan = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a plan written by `idbridge plan --out`",
            args.plan.display()
        )
    })?;
    if plan.version != PLAN_VERSION {
        anyhow::bail!(
            "plan file {} has format version {}; this idbridge reads version {PLAN_VERSION}",
            args.plan.display(),
            plan.version
        );
    }
    let here = pipeline::target_ref(&settings.target);
    if plan.target != here {
        return Err(Refused(format!(
            "the plan was made for target {} ({}, {}) but the config points at {} ({}, {}); refusing to apply it",
            plan.target.name, plan.target.kind, plan.target.url, here.name, here.kind, here.url
        ))
        .into());
    }
    let digest = plan::plan_digest(&plan);
    let Some(stated) = plan.plan_digest.as_deref() else {
        return Err(Refused(format!(
            "plan file {} has no planDigest, so nothing shows it is the plan that was made and reviewed; \
             nothing was applied. Make a new plan with `idbridge plan --out`",
            args.plan.display()
        ))
        .into());
    };
    if !stated.eq_ignore_ascii_case(&digest) {
        return Err(Refused(format!(
            "plan file {} was edited after it was made: its planDigest is {stated} but its content hashes to {digest}; \
             nothing was applied. Make a new plan with `idbridge plan --out`",
            args.plan.display()
        ))
        .into());
    }
    if let Some(expected) = &args.expect_digest {
        if !expected.eq_ignore_ascii_case(&digest) {
            return Err(Refused(format!(
                "plan file {} is not the plan that was approved: --expect-digest is {expected} but the file's planDigest \
                 is {digest}; nothing was applied",
                args.plan.display()
            ))
            .into());
        }
    }
    if plan.blocked && !args.force {
        return Err(Refused("the plan was blocked by a guardrail when it was made; re-plan, or pass --force after review".to_owned()).into());
    }
    Ok((plan, digest))
}

/// Check a saved plan against the target as it is now (its watched state must not have moved),
/// the store's links and journal, and the sources as they read now, whose health gates must say
/// what the plan recorded (the gates' verdict is returned, to keep the baselines after the run).
/// It holds only a [`Reader`] of the target: the check cannot write.
async fn verify_plan(
    settings: &Settings,
    reader: &Reader,
    store: &Store,
    plan: &Plan,
    args: &ApplyArgs,
    clock: &dyn Clock,
) -> Result<super::gates::Verdict> {
    let (users, groups) = watched_state(reader, plan).await?;
    let now_digest = plan::target_digest(&users, &groups, &plan.watch);
    if now_digest != plan.target_digest {
        return Err(Refused(format!(
            "the target changed since the plan was made (targetDigest {} is now {now_digest}); nothing was applied: run `idbridge plan` again and review the new plan",
            plan.target_digest
        ))
        .into());
    }
    let known = pipeline::known(Some(store), &settings.target.name).await?;
    let mut policy = pipeline::policy(settings, args.force, None);
    policy.gates.overrides = super::gates::plan_overrides(plan, &args.overrides);
    // The sources as they read now: every operation must still rest on what they say (a person to
    // create, adopt or re-add is there; one to deactivate is gone or inactive). The plan is applied
    // as reviewed; this only refuses operations whose facts an edit invented or time removed.
    let reads = pipeline::read_sources(settings, clock).await?;
    let baselines = super::gates::baselines(Some(store.reader()), &settings.target.name);
    let verdict = super::gates::judge(settings, &reads, baselines, &policy).await?;
    super::gates::check_plan(plan, &verdict)?;
    let now_desired = pipeline::desired(
        settings,
        reader.profile(),
        &reads,
        &verdict.hits,
        clock.now(),
    )?;
    let mut violations = plan::verify(&plan::Check {
        plan,
        users: &users,
        groups: &groups,
        links: &known.links,
        group_links: &known.group_links,
        unfinished: &known.unfinished,
        policy: &policy,
        desired: Some(&now_desired.desired),
    });
    // The absence grace: the stored absences are those the plan was made from, and each
    // deactivation of a gone person is one the grace allows.
    violations.extend(
        plan::absences::verify(
            plan,
            &known.absences,
            policy.absence_grace,
            policy.disabled_accounts,
            &now_desired.desired,
        )
        .into_iter()
        .map(|message| plan::Violation {
            position: None,
            message,
        }),
    );
    if violations.is_empty() {
        return Ok(verdict);
    }
    let shown: Vec<String> = violations
        .iter()
        .take(20)
        .map(|v| format!("  - {v}"))
        .collect();
    let more = violations.len().saturating_sub(shown.len());
    Err(Refused(format!(
        "plan file {} breaks {} rule(s) the planner keeps, so it was not made by idbridge for this workspace as it is \
         now, or it was edited; nothing was applied:\n{}{}",
        args.plan.display(),
        violations.len(),
        shown.join("\n"),
        if more > 0 { format!("\n  … and {more} more") } else { String::new() }
    ))
    .into())
}

/// The target's users, and the groups when the plan watches any, each from a read that added up.
async fn watched_state(
    reader: &Reader,
    plan: &Plan,
) -> Result<(Vec<TargetUser>, Vec<TargetGroup>)> {
    let reading = progress::spinner("reading the target");
    let read = reader.read_target_users().await?;
    drop(reading);
    if !read.consistent {
        return Err(Refused(format!(
            "cannot verify the target: its paged read did not add up ({}); try again later",
            read.problems.join("; ")
        ))
        .into());
    }
    let users = read.users;
    if plan.watch.group_ids.is_empty() && plan.watch.group_names.is_empty() {
        return Ok((users, Vec::new()));
    }
    let state = pipeline::read_groups(reader).await?;
    if !state.consistent {
        return Err(Refused(format!(
            "cannot verify the target's groups: their paged read did not add up ({}); try again later",
            state.problems.join("; ")
        ))
        .into());
    }
    Ok((users, state.groups))
}

/// `idbridge migrate`: under the run lock, so the schema never changes under a run of the target.
/// The text goes to stderr as before; `--format json` prints `{"store", "backend", "upToDate"}`.
pub async fn migrate(config: &Path, clock: Arc<dyn Clock>, format: Format) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    let (store, _lock) = pipeline::open_store_locked(&settings, "migrate", clock.now()).await?;
    match format {
        Format::Json => output::json(&serde_json::json!({
            "store": store.redacted_url(),
            "backend": store.backend().to_string(),
            "upToDate": true,
        }))?,
        Format::Table => errln!("store {} is up to date", store.redacted_url()),
    }
    Ok(Exit::Ok)
}
