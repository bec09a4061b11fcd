//! The reports that read the workspace and the sources as well as the store: `report users` (the
//! access review), `report drift` and `report orphans` (docs/reports.md). They read exactly what
//! `plan` reads, through the same pipeline, holding only a SCIM `Reader` and a `StoreRead`: they
//! cannot write to the target or the store. `explain` reads the same [`Live`] state.

use super::pipeline::{self, Prepared};
use super::report::{op_entry, ReportArgs};
use crate::clock::Clock;
use crate::config::Settings;
use crate::model::SourceRecord;
use crate::plan::Policy;
use crate::report::access::{self, Workspace};
use crate::report::audit::OpEntry;
use crate::report::sso::{CertEntry, SsoCheck};
use crate::report::{drift, Field, Report};
use crate::store::{SamlCheckRecord, StoreRead, Window};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;

/// The most journal entries a live report reads; more is an error, never a silently partial
/// "last changed".
const MAX_JOURNAL: u32 = 1_000_000;
/// The most SAML checks read for the SSO column and `report sso`.
pub(super) const MAX_SAML_CHECKS: i64 = 10_000;

/// Everything the live reports and `explain` are made from: one read of the sources and the
/// target, the plan made from them, and the store's links, journal and SAML history.
pub struct Live {
    /// The configuration.
    pub settings: Settings,
    /// Every valid source record.
    pub records: Vec<SourceRecord>,
    /// The plan and what it was made from.
    pub prepared: Prepared,
    /// The policy the plan was made under.
    pub policy: Policy,
    /// Done operations on this target, oldest first.
    pub journal: Vec<OpEntry>,
    /// Recorded SAML checks, newest first.
    pub sso: Vec<SsoCheck>,
}

impl Live {
    /// The view the pure access reports read.
    pub fn workspace(&self) -> Workspace<'_> {
        Workspace {
            users: &self.prepared.target.users,
            desired: &self.prepared.desired,
            records: &self.records,
            links: &self.prepared.links,
            managed: &self.prepared.managed,
            policy: &self.policy,
            journal: &self.journal,
            sso: &self.sso,
        }
    }
}

/// Read the sources, the target and the store (which must exist: these reports answer from the
/// links and the journal) the way `plan` does, writing nothing.
pub async fn read(
    settings: Settings,
    store: Option<&StoreRead>,
    clock: Arc<dyn Clock>,
) -> Result<Live> {
    let reader = pipeline::reader(&settings.target, clock.clone())?;
    let store_reads = pipeline::start_store_reads(&settings, store);
    let reads = pipeline::read_sources(&settings, clock.as_ref()).await?;
    let reading = store_reads.then_target(&reader, &reads)?.keeping_records();
    let policy = pipeline::policy(&settings, false, None);
    let (prepared, records) =
        pipeline::prepare_reading(&settings, &reader, reads, reading, &policy, clock.now()).await?;
    let (journal, sso) = match store {
        Some(store) => (
            journal(store, &settings.target.name).await?,
            sso_checks(store).await?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(Live {
        settings,
        records,
        prepared,
        policy,
        journal,
        sso,
    })
}

async fn journal(store: &StoreRead, target: &str) -> Result<Vec<OpEntry>> {
    let window = Window {
        since: None,
        until: None,
        target_name: Some(target.to_owned()),
    };
    let records = store.done_operations(&window, MAX_JOURNAL + 1).await?;
    if records.len() > MAX_JOURNAL as usize {
        bail!(
            "the journal of target {target} holds more than {MAX_JOURNAL} operations, more than \
             this report reads; prune old runs (`idbridge report prune --before DATE`, or \
             `[store] retention`)"
        );
    }
    Ok(records.iter().map(op_entry).collect())
}

/// The recorded SAML checks, newest first, as the reports read them.
pub async fn sso_checks(store: &StoreRead) -> Result<Vec<SsoCheck>> {
    let records = store.saml_checks(MAX_SAML_CHECKS).await?;
    records
        .iter()
        .map(|r| sso_check(r, store))
        .collect::<Result<Vec<_>>>()
}

fn sso_check(r: &SamlCheckRecord, store: &StoreRead) -> Result<SsoCheck> {
    let findings: Vec<crate::saml::Finding> =
        serde_json::from_str(&r.findings_json).with_context(|| {
            format!(
                "SAML check {} in the store {} holds findings that cannot be read",
                r.id,
                store.redacted_url()
            )
        })?;
    let certificates = match r.certificates_json.as_deref() {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Vec<StoredCert>>(text)
            .with_context(|| {
                format!(
                    "SAML check {} in the store {} holds certificates that cannot be read",
                    r.id,
                    store.redacted_url()
                )
            })?
            .into_iter()
            // A date that does not parse is left out rather than guessed.
            .filter_map(|c| {
                let not_after = DateTime::parse_from_rfc3339(&c.not_after).ok()?.to_utc();
                Some(CertEntry {
                    use_: c.use_,
                    sha256: c.sha256,
                    not_after,
                })
            })
            .collect(),
    };
    Ok(SsoCheck {
        id: r.id,
        kind: r.kind.clone(),
        subject: r.subject.clone(),
        verdict: r.verdict.clone(),
        checked_at: r.checked_at,
        findings,
        certificates,
    })
}

/// A certificate as `saml check-metadata --record` stores it (`saml::metadata::CertSummary`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredCert {
    #[serde(rename = "use")]
    use_: String,
    sha256: String,
    not_after: String,
}

/// Which live report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `report users`.
    Users,
    /// `report drift`.
    Drift,
    /// `report orphans`.
    Orphans,
}

/// Build `report users|drift|orphans`. `--target`, when given, must be the config's target: the
/// workspace read is the configured one.
pub async fn report(
    which: Which,
    args: &ReportArgs,
    store: &StoreRead,
    config: &Path,
    clock: Arc<dyn Clock>,
) -> Result<Report> {
    let now: DateTime<Utc> = clock.now();
    let live = read(pipeline::load(config)?, Some(store), clock).await?;
    let name = &live.settings.target.name;
    if let Some(asked) = args.target.as_deref().filter(|t| *t != name) {
        bail!(
            "--target {asked}: this report reads the workspace of {}, whose target is `{name}`; \
             pass that config with --config",
            config.display()
        );
    }
    let parameters = vec![Field::new("target", "target", name.as_str())];
    let ws = live.workspace();
    Ok(match which {
        Which::Users => access::users(&access::user_rows(&ws), parameters, now),
        Which::Drift => drift::report(&drift::drift_rows(&ws), parameters, now),
        Which::Orphans => access::orphans(&ws, parameters, now),
    })
}
