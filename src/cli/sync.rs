//! `plan`, `apply --plan`, `sync` and `migrate`. `sync`, `apply` and `migrate` hold the run lock
//! of their target from before the target is read to the end; `plan` writes nothing and takes none.

use super::output::{eprint_errors, print_outcome, print_plan};
use super::pipeline::{self, Refused};
use super::{ApplyArgs, Exit, Format, PlanArgs, SyncArgs};
use crate::apply::{self, Outcome};
use crate::clock::Clock;
use crate::config::Settings;
use crate::model::Attr;
use crate::plan::{self, Plan, PLAN_VERSION};
use crate::scim::Client;
use crate::store::{NewRun, RunStatus, Store};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::{BufRead, IsTerminal, Write};
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
    let client = pipeline::client(&settings.target, clock.clone())?;
    let reads = pipeline::read_sources(&settings).await?;
    let store = pipeline::open_store_read_only(&settings).await?;
    let policy = pipeline::policy(&settings, args.force, args.limit);
    let prepared = pipeline::prepare(
        &settings,
        &client,
        &reads,
        store.as_ref(),
        &policy,
        clock.now(),
    )
    .await?;
    if let Some(out) = &args.out {
        let json = serde_json::to_string_pretty(&prepared.plan)?;
        std::fs::write(out, format!("{json}\n"))
            .with_context(|| format!("writing the plan to {}", out.display()))?;
        eprintln!(
            "plan written to {}; apply it with: idbridge apply --plan {}",
            out.display(),
            out.display()
        );
    }
    print_plan(&prepared.plan, args.format)?;
    Ok(plan_exit(&prepared.plan))
}

fn confirm(plan: &Plan, yes: bool) -> Result<bool> {
    if yes
        || plan.write_count() == 0
        || !std::io::stdin().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return Ok(true);
    }
    eprint!(
        "Apply {} operations to {} ({})? [y/N] ",
        plan.operations.len(),
        plan.target.name,
        plan.target.url
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Run `plan` in a new journaled run, record it, and write snapshots.
pub async fn execute(
    settings: &Settings,
    client: &Client,
    store: &Store,
    clock: Arc<dyn Clock>,
    plan: &Plan,
    kind: &str,
    plan_sha256: Option<String>,
) -> Result<Outcome> {
    let run_id = store
        .start_run(&NewRun {
            kind: kind.to_owned(),
            target_name: settings.target.name.clone(),
            started_at: clock.now(),
            plan_sha256,
        })
        .await?;
    let outcome = apply::apply(
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
        },
    )
    .await;
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
    Ok(outcome?)
}

async fn snapshots(
    settings: &Settings,
    store: &Store,
    clock: &dyn Clock,
    desired: &[crate::model::DesiredUser],
) -> Result<()> {
    for person in desired {
        let text: Vec<String> = person
            .attrs
            .iter()
            .map(|(a, v): (&Attr, &String)| format!("{}={v}", a.path()))
            .collect();
        let hash = hex::encode(Sha256::digest(text.join("\n").as_bytes()));
        store
            .put_snapshot(&settings.target.name, &person.key, &hash, clock.now())
            .await?;
    }
    Ok(())
}

fn outcome_exit(plan: &Plan, outcome: &Outcome) -> Exit {
    super::exit::for_outcome(outcome, plan.has_errors())
}

/// `idbridge sync`.
pub async fn sync(config: &Path, clock: Arc<dyn Clock>, args: SyncArgs) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    let (store, _lock) = pipeline::open_store_for_run(&settings, "sync", clock.now()).await?;
    let client = pipeline::client(&settings.target, clock.clone())?;
    let reads = pipeline::read_sources(&settings).await?;
    let policy = pipeline::policy(&settings, args.force, args.limit);
    let prepared = pipeline::prepare(
        &settings,
        &client,
        &reads,
        Some(&store),
        &policy,
        clock.now(),
    )
    .await?;
    let plan = &prepared.plan;
    if args.format == Format::Table {
        print_plan(plan, Format::Table)?;
    }
    if plan.blocked {
        eprint_errors(plan);
        return Err(
            Refused("the plan is blocked by a guardrail; nothing was applied".to_owned()).into(),
        );
    }
    if !confirm(plan, args.yes)? {
        eprintln!("nothing applied");
        return Ok(Exit::Blocked);
    }
    let outcome = execute(
        &settings,
        &client,
        &store,
        clock.clone(),
        plan,
        "sync",
        None,
    )
    .await?;
    snapshots(&settings, &store, clock.as_ref(), &prepared.desired).await?;
    print_outcome(plan, &outcome, args.format)?;
    Ok(outcome_exit(plan, &outcome))
}

/// `idbridge apply --plan FILE`.
pub async fn apply(config: &Path, clock: Arc<dyn Clock>, args: ApplyArgs) -> Result<Exit> {
    let settings = pipeline::load(config)?;
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
    if plan.blocked && !args.force {
        return Err(Refused("the plan was blocked by a guardrail when it was made; re-plan, or pass --force after review".to_owned()).into());
    }
    // Locked before the target is read, so the digest check and the writes see the same target.
    let (store, _lock) = pipeline::open_store_for_run(&settings, "apply", clock.now()).await?;
    let client = pipeline::client(&settings.target, clock.clone())?;
    let read = client.read_users().await?;
    if !read.consistent {
        return Err(Refused(format!(
            "cannot verify the target: its paged read did not add up ({}); try again later",
            read.problems.join("; ")
        ))
        .into());
    }
    let users: Vec<_> = read
        .users
        .iter()
        .map(|u| client.profile().to_target_user(u))
        .collect();
    let groups = if plan.watch.group_ids.is_empty() && plan.watch.group_names.is_empty() {
        Vec::new()
    } else {
        let state = pipeline::read_groups(&client).await?;
        if !state.consistent {
            return Err(Refused(format!(
                "cannot verify the target's groups: their paged read did not add up ({}); try again later",
                state.problems.join("; ")
            ))
            .into());
        }
        state.groups
    };
    let digest = plan::target_digest(&users, &groups, &plan.watch);
    if digest != plan.target_digest {
        return Err(Refused(format!(
            "the target changed since the plan was made (targetDigest {} is now {digest}); nothing was applied: run `idbridge plan` again and review the new plan",
            plan.target_digest
        ))
        .into());
    }
    if !confirm(&plan, args.yes)? {
        eprintln!("nothing applied");
        return Ok(Exit::Blocked);
    }
    let sha = hex::encode(Sha256::digest(&bytes));
    let outcome = execute(&settings, &client, &store, clock, &plan, "apply", Some(sha)).await?;
    print_outcome(&plan, &outcome, args.format)?;
    Ok(outcome_exit(&plan, &outcome))
}

/// `idbridge migrate`: under the run lock, so the schema never changes under a run of the target.
pub async fn migrate(config: &Path, clock: Arc<dyn Clock>) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    let (store, _lock) = pipeline::open_store_locked(&settings, "migrate", clock.now()).await?;
    eprintln!("store {} is up to date", store.redacted_url());
    Ok(Exit::Ok)
}
