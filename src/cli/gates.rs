//! The source health gates' I/O (docs/lifecycle.md, "Source health gates"): the baselines read
//! from the store, the pure verdict (`plan::gates`) on this run's source reads, the baselines and
//! override audit entries kept after a run that applied, and a held `sync` recorded as a refused
//! run so `report runs` shows it.

use super::pipeline;
use crate::config::{Settings, SourceSettings};
use crate::connectors::SourceRead;
use crate::plan::gates::{self, Baseline, GateHit, Override, ReadSummary};
use crate::plan::{Plan, Policy};
use crate::store::{
    GateOverride, NewRun, RunId, RunStatus, RunTrigger, Store, StoreRead, StoredBaseline,
};
use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// What the gates said about one run's source reads.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Each source's read, summarised (the next baseline when the run applies).
    pub summaries: Vec<(String, ReadSummary)>,
    /// The baselines judged against, by source, without their per-person prints once judged.
    pub baselines: BTreeMap<String, Baseline>,
    /// The gates that fired.
    pub hits: Vec<GateHit>,
}

/// The baselines of `target_name`'s sources (none without a store). A baseline that cannot be
/// read stops the run: judging without it would pass a bad read.
pub async fn baselines(
    store: Option<&StoreRead>,
    target_name: &str,
) -> Result<BTreeMap<String, Baseline>> {
    let Some(store) = store else {
        return Ok(BTreeMap::new());
    };
    let stored = store
        .baselines(target_name)
        .await
        .context("reading the source baselines from the store")?;
    let mut out = BTreeMap::new();
    for row in stored {
        let summary: ReadSummary = serde_json::from_str(&row.summary).with_context(|| {
            format!(
                "the stored baseline of source `{}` (run {}) cannot be read, so its health gates cannot \
                 judge this read; run `idbridge migrate` with this idbridge version, or pass the gates once \
                 with `--override` to keep a new baseline",
                row.source, row.run_id
            )
        })?;
        out.insert(
            row.source.clone(),
            Baseline {
                run_id: row.run_id.0,
                taken_at: row.taken_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                summary,
            },
        );
    }
    Ok(out)
}

/// Judge the reads with the policy's gates and overrides, against the stored baselines
/// `baselines` yields ([`baselines`], or a read of it already under way). An override naming a
/// source that is not configured is refused (a typo must not look like a pass that did nothing),
/// before a baseline the store could not read is reported.
pub async fn judge(
    settings: &Settings,
    reads: &[SourceRead],
    baselines: impl std::future::Future<Output = Result<BTreeMap<String, Baseline>>>,
    policy: &Policy,
) -> Result<Verdict> {
    check_overrides(settings, &policy.gates.overrides)?;
    let mut baselines = baselines.await?;
    let summaries: Vec<(String, ReadSummary)> = reads
        .iter()
        .map(|r| {
            let mut summary = gates::summarize(&r.records, &r.groups);
            summary.kept = ldap_kept(settings, &r.source).cloned();
            (r.source.clone(), summary)
        })
        .collect();
    for (source, base) in &mut baselines {
        if let Some(keep) = ldap_kept(settings, source) {
            forget_unread(base, keep);
        }
    }
    let hits = gates::evaluate(&summaries, &baselines, &policy.gates);
    // Judged: only the groups' sizes are read again (a held group keeps its old size in the next
    // baseline). The prints, one a person and attribute, go before the mapping, where a run
    // peaks (docs/performance.md, "Scale").
    for base in baselines.values_mut() {
        base.summary.fingerprints = Default::default();
    }
    Ok(Verdict {
        summaries,
        baselines,
        hits,
    })
}

/// The attributes an LDAP source's config keeps (`None`: another kind of source, or all).
fn ldap_kept<'s>(settings: &'s Settings, source: &str) -> Option<&'s BTreeSet<String>> {
    settings.sources.iter().find_map(|s| match s {
        SourceSettings::Ldap(l) if l.name == source => l.keep.as_ref(),
        _ => None,
    })
}

/// An LDAP source's records carry only the attributes its config reads (`config::names::
/// ldap_kept`), so an attribute the config no longer reads, or one that every record carried
/// before issue 14 trimmed them (`uid`, `sn`, `entryUUID`, … beside their canonical names), is
/// not in this read. Compared with a baseline that has it, it would look lost for everyone and
/// hold the run; it is a change of config, not of the directory, so the baseline forgets it.
fn forget_unread(base: &mut Baseline, keep: &BTreeSet<String>) {
    base.summary.present.retain(|attr, _| keep.contains(attr));
    base.summary.fingerprints.retain(keep);
}

fn check_overrides(settings: &Settings, overrides: &[Override]) -> Result<()> {
    for o in overrides {
        let Some(source) = &o.source else { continue };
        if !settings.sources.iter().any(|s| s.name() == source) {
            let names: Vec<&str> = settings.sources.iter().map(|s| s.name()).collect();
            return Err(pipeline::Refused(format!(
                "--override {o} names source `{source}`, which is not configured (the sources are {}); \
                 nothing was done",
                names.join(", ")
            ))
            .into());
        }
    }
    Ok(())
}

/// After run `run_id` applied a plan no gate held: keep each source's read as its baseline (a
/// group whose changes were held keeps its old size) and an audit entry per gate overridden.
pub async fn keep(
    store: &Store,
    settings: &Settings,
    run_id: RunId,
    now: DateTime<Utc>,
    verdict: &Verdict,
) -> Result<()> {
    if gates::holds_run(&verdict.hits) {
        return Ok(());
    }
    let target = &settings.target.name;
    for (source, summary) in &verdict.summaries {
        let next = gates::next_baseline(
            source,
            summary.clone(),
            verdict.baselines.get(source),
            &verdict.hits,
        );
        let baseline = StoredBaseline {
            source: source.clone(),
            run_id,
            taken_at: now,
            summary: serde_json::to_string(&next)?,
        };
        store.put_baseline(target, &baseline).await?;
    }
    for hit in verdict.hits.iter().filter(|h| h.overridden) {
        let entry = GateOverride {
            run_id,
            target_name: target.clone(),
            gate: hit.gate.to_string(),
            source: hit.source.clone(),
            subject: hit.subject.clone(),
            finding: gates::finding(hit).message,
            host: pipeline::host_name(),
            os_user: pipeline::os_user(),
            recorded_at: now,
        };
        store.record_gate_override(&entry).await?;
        tracing::warn!(
            run = run_id.0,
            gate = %hit.gate,
            source = %hit.source,
            "gate overridden by {}@{}: {}",
            entry.os_user,
            entry.host,
            entry.finding
        );
    }
    Ok(())
}

/// A `sync` held by a gate, recorded as a refused run with no journal (as `serve` records a held
/// plan), so `report runs` and `/runs` show the night that did nothing and why.
pub async fn record_held(
    settings: &Settings,
    store: &Store,
    plan: &Plan,
    trigger: RunTrigger,
    now: DateTime<Utc>,
) -> Result<RunId> {
    let id = store
        .start_run(&NewRun {
            kind: "sync".to_owned(),
            target_name: settings.target.name.clone(),
            started_at: now,
            plan_sha256: plan.plan_digest.clone(),
            origin: pipeline::run_origin(trigger),
            upcoming_json: None,
        })
        .await?;
    let held: Vec<String> = plan
        .gates
        .iter()
        .filter(|h| !h.overridden)
        .map(|h| gates::finding(h).message)
        .collect();
    let summary = serde_json::json!({
        "refused": format!("held by a source health gate; nothing was applied: {}", held.join("; ")),
        "gates": plan.gates,
        "summary": plan.summary,
    });
    store
        .finish_run(id, now, RunStatus::Refused, &summary.to_string())
        .await?;
    Ok(id)
}

/// `apply --plan`: the gates judged now, with the overrides the plan was made under (and any
/// given again), must say what the plan recorded; otherwise the reviewed plan no longer
/// describes this read and is refused.
pub fn check_plan(plan: &Plan, now: &Verdict) -> Result<()> {
    if gates::holds_run(&plan.gates) {
        return Err(pipeline::Refused(
            "the plan was held by a source health gate when it was made, so it has nothing to apply; \
             `--force` does not pass a gate: make a new plan with `--override GATE:SOURCE` as its findings say"
                .to_owned(),
        )
        .into());
    }
    let differences = gates::compare(&plan.gates, &now.hits);
    if differences.is_empty() {
        return Ok(());
    }
    Err(pipeline::Refused(format!(
        "the source health gates judge the sources differently now than when the plan was made, so it is not \
         the plan that was reviewed; nothing was applied. Run `idbridge plan` again (with the `--override` it \
         needs) and review the new plan:\n  - {}",
        differences.join("\n  - ")
    ))
    .into())
}

/// The overrides to judge a saved plan with: those it was made under, and those given again.
pub fn plan_overrides(plan: &Plan, given: &[Override]) -> Vec<Override> {
    let mut all = gates::overrides_of(plan);
    all.extend(given.iter().cloned());
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attrs, SourceKey, SourceRecord};
    use crate::plan::gates::{Gate, Gates};

    fn people(attrs: &[&str]) -> Vec<SourceRecord> {
        (0..40)
            .map(|i| SourceRecord {
                key: SourceKey::new("corp", format!("u{i}")),
                location: format!("uid=u{i},ou=p"),
                attrs: attrs
                    .iter()
                    .map(|a| ((*a).to_owned(), format!("{a}-{i}")))
                    .collect::<Attrs>(),
                employment: None,
            })
            .collect()
    }

    /// A baseline taken when every LDAP record also carried its raw `uid` and `sn` does not
    /// hold the first run whose config reads neither: only the attributes still read are
    /// compared, and a change among those still holds it.
    #[test]
    fn attributes_the_config_no_longer_reads_are_not_changes() {
        let before = gates::summarize(&people(&["email", "uid", "sn"]), &[]);
        let mut base = Baseline {
            run_id: 1,
            taken_at: "2026-12-01T00:00:00Z".to_owned(),
            summary: before,
        };
        let now = vec![(
            "corp".to_owned(),
            gates::summarize(&people(&["email"]), &[]),
        )];
        let held = |base: &Baseline| {
            let baselines = BTreeMap::from([("corp".to_owned(), base.clone())]);
            gates::evaluate(&now, &baselines, &Gates::default())
                .iter()
                .any(|h| h.gate == Gate::AttributeChange)
        };
        assert!(held(&base), "without forgetting, uid and sn look lost");
        let keep: BTreeSet<String> = ["email", "dn"].iter().map(|a| (*a).to_owned()).collect();
        forget_unread(&mut base, &keep);
        assert!(!held(&base));
        assert!(base.summary.present.keys().all(|a| a == "email"));
        let changed = vec![("corp".to_owned(), gates::summarize(&people(&["dn"]), &[]))];
        let baselines = BTreeMap::from([("corp".to_owned(), base)]);
        assert!(gates::evaluate(&changed, &baselines, &Gates::default())
            .iter()
            .any(|h| h.gate == Gate::AttributeChange));
    }

    /// The config starts reading `title` (a template, a role rule, a scope rule): every record
    /// now carries it and the baseline, kept when the config did not read it, has none. That is
    /// the config's change, not the directory's: no hold. A baseline that did read `title`
    /// still compares it, and one kept before reads were trimmed (no kept set) compares all.
    #[test]
    fn an_attribute_the_config_newly_reads_is_not_a_change() {
        let read = |attrs: &[&str], kept: Option<&[&str]>| {
            let mut s = gates::summarize(&people(attrs), &[]);
            s.kept = kept.map(|k| k.iter().map(|a| (*a).to_owned()).collect());
            s
        };
        let held = |now: ReadSummary, before: ReadSummary| {
            let baselines = BTreeMap::from([(
                "corp".to_owned(),
                Baseline {
                    run_id: 1,
                    taken_at: "2026-12-01T00:00:00Z".to_owned(),
                    summary: before,
                },
            )]);
            gates::evaluate(&[("corp".to_owned(), now)], &baselines, &Gates::default())
                .iter()
                .any(|h| h.gate == Gate::AttributeChange)
        };
        let now = || read(&["email", "title"], Some(&["email", "title"]));
        assert!(!held(now(), read(&["email"], Some(&["email"]))));
        // The baseline read titles and had none: they appeared for everyone.
        assert!(held(now(), read(&["email"], Some(&["email", "title"]))));
        assert!(held(now(), read(&["email"], None)));
        // Stored and read back, the kept set survives; a stored summary without one reads as None.
        let stored = serde_json::to_string(&read(&["email"], Some(&["email"]))).unwrap();
        let back: ReadSummary = serde_json::from_str(&stored).unwrap();
        assert!(back.kept.is_some());
        let old: ReadSummary =
            serde_json::from_str(&stored.replace(",\"kept\":[\"email\"]", "")).unwrap();
        assert_eq!(old.kept, None);
    }
}
