//! `idbridge serve` and `idbridge healthcheck`: the wiring of [`crate::serve`]. Each run is
//! `sync --yes`'s code path ([`super::sync::make_plan`], [`super::sync::apply_prepared`]) under
//! the same run lock and guardrails: a blocked plan is recorded as a refused run and never
//! forced. The config file (and every secret file it names) is read again before each run, so a
//! rotated token or a changed source needs no restart; `[serve]` itself is read once, at start.

use super::output::errln;
use super::pipeline::{self, Refused};
use super::sync::{apply_prepared, make_plan, RunStart};
use super::Exit;
use crate::alert::{AlertSink, Alerter, NotionSink, WebhookSink};
use crate::clock::Clock;
use crate::config::{self, secrets, Settings};
use crate::plan::Plan;
use crate::scim::{Observer, TargetRead};
use crate::serve::metrics::Metrics;
use crate::serve::{
    self, Backend, Check, IdpCert, NoObserver, RunReport, RunResult, Service, SkipReason, Timing,
    Trigger,
};
use crate::store::{self, RunStatus, RunTrigger, Store, Window};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Write the address the endpoints listen on (e.g. `127.0.0.1:8080`) to this file once they
    /// do: for `listen = "127.0.0.1:0"`, and for scripts that wait for the service.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

/// `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The serve to ask, e.g. `http://127.0.0.1:8080` (default: `[serve] listen` of the config,
    /// a wildcard address asked on loopback).
    #[arg(long)]
    pub url: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = config::duration::parse_flag)]
    pub timeout: Duration,
}

/// One `serve` process's way of running the sync.
struct SyncBackend {
    config: PathBuf,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    target_name: String,
    api_token: Option<secrets::SecretSource>,
    history: u32,
}

impl SyncBackend {
    fn writer(&self, settings: &Settings) -> Result<crate::scim::Writer> {
        let observer = Observer(self.metrics.clone());
        pipeline::writer_observed(&settings.target, self.clock.clone(), Some(observer))
    }

    /// Whether a scheduled run of `tick` (by any replica) is already recorded.
    async fn tick_taken(&self, store: &Store, tick: DateTime<Utc>) -> Result<bool> {
        let window = Window {
            since: Some(tick),
            until: None,
            target_name: Some(self.target_name.clone()),
        };
        let runs = store.runs_in(&window, 100).await?;
        Ok(runs.iter().any(|r| {
            r.origin
                .as_ref()
                .is_some_and(|o| o.trigger == RunTrigger::Schedule)
        }))
    }

    /// Everything of one run after the config is read; errors end up in the report's message.
    async fn run_with(
        &self,
        settings: &Settings,
        trigger: Trigger,
        stop: Arc<AtomicBool>,
        report: &mut RunReport,
    ) -> Result<()> {
        let now = self.clock.now();
        let (store, lock) = match pipeline::open_store_for_run(settings, "serve", now).await {
            Ok(opened) => opened,
            Err(e) => {
                match e.downcast_ref::<store::Error>() {
                    Some(s) if s.is_lock_held() => {
                        report.result = RunResult::Skipped(SkipReason::LockHeld);
                        report.store = Check::Passed;
                    }
                    Some(_) => report.store = Check::Failed,
                    None => {}
                }
                return Err(e);
            }
        };
        report.store = Check::Passed;
        if let Trigger::Schedule { tick } = trigger {
            if self.tick_taken(&store, tick).await? {
                report.result = RunResult::Skipped(SkipReason::AlreadyRun);
                return Ok(());
            }
        }
        if let Some(saml) = &settings.saml {
            self.check_metadata(saml, &store, report).await;
        }
        self.plan_and_apply(settings, &store, &lock, trigger, stop, report)
            .await?;
        lock.release().await;
        Ok(())
    }

    /// `sync --yes` under the lock `run_with` took: plan, hold a blocked plan, apply the rest.
    async fn plan_and_apply(
        &self,
        settings: &Settings,
        store: &Store,
        lock: &store::RunLock,
        trigger: Trigger,
        stop: Arc<AtomicBool>,
        report: &mut RunReport,
    ) -> Result<()> {
        let client = self.writer(settings)?;
        let requests_before = client.request_counts();
        let policy = pipeline::policy(settings, false, None);
        let planned = make_plan(settings, store, &client, self.clock.as_ref(), &policy).await;
        report.scim = client.request_counts().since(requests_before);
        let mut prepared = match planned {
            Ok(p) => p,
            Err(e) => {
                if e.downcast_ref::<crate::scim::Error>()
                    .is_some_and(crate::scim::Error::is_auth)
                {
                    report.token = Check::Failed;
                }
                return Err(e);
            }
        };
        report.token = Check::Passed;
        let run_trigger = match trigger {
            Trigger::Schedule { .. } => RunTrigger::Schedule,
            Trigger::Api => RunTrigger::PostSync,
        };
        if prepared.plan.blocked {
            report.result = RunResult::Refused;
            report.message = Some(blocked_reason(&prepared.plan));
            let id = self
                .record_refused(settings, store, &prepared.plan, run_trigger)
                .await?;
            report.run_id = Some(id);
            return Ok(());
        }
        let start = RunStart {
            kind: "sync",
            trigger: run_trigger,
            plan_digest: prepared.plan.plan_digest.clone(),
            upcoming: Some(prepared.upcoming.clone()),
            requests_before,
            stop: Some(stop),
        };
        let outcome = apply_prepared(
            settings,
            &client,
            store,
            lock,
            self.clock.clone(),
            &mut prepared,
            start,
            None,
        )
        .await;
        report.scim = client.request_counts().since(requests_before);
        outcome_into(&outcome?, report);
        Ok(())
    }

    /// A held plan is recorded as a run with status `refused` and no journal, so `/runs`,
    /// `report runs` and the other replicas see it.
    async fn record_refused(
        &self,
        settings: &Settings,
        store: &Store,
        plan: &Plan,
        trigger: RunTrigger,
    ) -> Result<i64> {
        let now = self.clock.now();
        let id = store
            .start_run(&store::NewRun {
                kind: "sync".to_owned(),
                target_name: settings.target.name.clone(),
                started_at: now,
                plan_sha256: plan.plan_digest.clone(),
                origin: pipeline::run_origin(trigger),
                upcoming_json: None,
            })
            .await?;
        let summary =
            serde_json::json!({ "refused": blocked_reason(plan), "summary": plan.summary });
        store
            .finish_run(id, now, RunStatus::Refused, &summary.to_string())
            .await?;
        Ok(id.0)
    }

    async fn check_metadata(
        &self,
        saml: &config::SamlSettings,
        store: &Store,
        report: &mut RunReport,
    ) {
        match super::saml::check_configured(saml, store, self.clock.now()).await {
            Ok(checked) => {
                report.saml = Some(checked.verdict.as_str().to_owned());
                report.idp_cert = checked
                    .certificates
                    .iter()
                    .filter(|c| c.use_ != "encryption")
                    .filter_map(|c| DateTime::parse_from_rfc3339(&c.not_after).ok())
                    .map(|t| t.to_utc())
                    .min()
                    .map(|expires| IdpCert {
                        entity: checked
                            .entity_id
                            .clone()
                            .unwrap_or_else(|| saml.metadata.to_string()),
                        expires,
                    });
            }
            Err(e) => {
                tracing::warn!(
                    "[saml] metadata {} could not be checked: {e:#}",
                    saml.metadata
                );
                report.saml = Some(format!("not checked: {e:#}"));
            }
        }
    }
}

/// What apply did, into the report: operations by kind and result, a halt on a refused token,
/// and the run's result.
fn outcome_into(outcome: &crate::apply::Outcome, report: &mut RunReport) {
    report.run_id = Some(outcome.run_id);
    for r in &outcome.results {
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *report
            .operations
            .entry((r.op.to_string(), status))
            .or_default() += 1;
    }
    if let Some(why) = &outcome.halted {
        report.token = Check::Failed;
        report.message = Some(why.clone());
    }
    report.result = if outcome.succeeded() {
        RunResult::Succeeded
    } else {
        let failed = outcome.count(crate::apply::Status::Failed);
        let skipped = outcome.count(crate::apply::Status::Skipped);
        report
            .message
            .get_or_insert_with(|| format!("{failed} operation(s) failed, {skipped} skipped"));
        RunResult::Failed
    };
}

fn blocked_reason(plan: &Plan) -> String {
    let errors: Vec<String> = plan
        .findings
        .iter()
        .filter(|f| f.severity == crate::plan::Severity::Error)
        .take(5)
        .map(|f| f.message.clone())
        .collect();
    format!(
        "the plan is blocked by a guardrail; nothing was applied: {}",
        errors.join("; ")
    )
}

impl Backend for SyncBackend {
    async fn run(&self, trigger: Trigger, stop: Arc<AtomicBool>) -> RunReport {
        let mut report = RunReport::new(trigger, RunResult::Error);
        let settings = match pipeline::load(&self.config) {
            Ok(s) => s,
            Err(e) => {
                report.message = Some(format!("{e:#}"));
                return report;
            }
        };
        if let Err(e) = self.run_with(&settings, trigger, stop, &mut report).await {
            report.message = Some(format!("{e:#}"));
            if let RunResult::Skipped(_) = report.result {
            } else if e.downcast_ref::<Refused>().is_some() {
                report.result = RunResult::Refused;
            } else {
                report.result = RunResult::Error;
            }
        }
        report
    }

    async fn check_store(&self) -> Check {
        let Ok(url) = config::load_store_url(&self.config) else {
            return Check::Unknown;
        };
        match Store::open_read_only(secrecy::ExposeSecret::expose_secret(&url)).await {
            Ok(Some(store)) => match store.runs(1).await {
                Ok(_) => Check::Passed,
                Err(e) => {
                    tracing::warn!("the store does not answer: {e}");
                    Check::Failed
                }
            },
            Ok(None) => {
                tracing::warn!("the store's database is gone");
                Check::Failed
            }
            Err(e) => {
                tracing::warn!("the store does not answer: {e}");
                Check::Failed
            }
        }
    }

    async fn check_token(&self) -> Check {
        let settings = match pipeline::load(&self.config) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot check the token: {e:#}");
                return Check::Failed;
            }
        };
        let reader = match pipeline::reader(&settings.target, self.clock.clone()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot check the token: {e:#}");
                return Check::Unknown;
            }
        };
        match reader.probe().await {
            Ok(()) => Check::Passed,
            Err(e) if e.is_auth() => {
                tracing::warn!("token check: {e}");
                Check::Failed
            }
            Err(e) => {
                tracing::warn!("token check could not reach the target: {e}");
                Check::Unknown
            }
        }
    }

    async fn recent_runs(&self) -> std::result::Result<serde_json::Value, String> {
        let url = config::load_store_url(&self.config).map_err(|e| e.to_string())?;
        let store = Store::open_read_only(secrecy::ExposeSecret::expose_secret(&url))
            .await
            .map_err(|e| e.to_string())?;
        let runs = match store {
            Some(store) => store
                .runs_in(
                    &Window {
                        target_name: Some(self.target_name.clone()),
                        ..Window::default()
                    },
                    self.history,
                )
                .await
                .map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        Ok(serde_json::json!({ "target": self.target_name, "runs": runs }))
    }

    fn api_token(&self) -> std::result::Result<Option<SecretString>, String> {
        match &self.api_token {
            None => Ok(None),
            Some(source) => secrets::read(source).map(Some).map_err(|e| e.to_string()),
        }
    }
}

/// `idbridge serve`.
pub async fn serve(config: &Path, clock: Arc<dyn Clock>, args: ServeArgs) -> Result<Exit> {
    let settings = pipeline::load(config)?;
    let Some(serve_settings) = settings.serve.clone() else {
        anyhow::bail!(
            "{}: `idbridge serve` needs a [serve] table with `listen` and `every` or `cron` \
             (docs/config.md, \"[serve]\")",
            config.display()
        );
    };
    // Migrations run once at start, under their own lock; a store that is down now leaves the
    // service unready until it answers.
    match pipeline::open_store(&settings).await {
        Ok(store) => store.close().await,
        Err(e) => tracing::error!("the store could not be opened and migrated: {e:#}"),
    }
    let metrics = Arc::new(Metrics::new());
    let backend = SyncBackend {
        config: config.to_owned(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        target_name: settings.target.name.clone(),
        api_token: serve_settings.api_token.clone(),
        history: serve_settings.history,
    };
    let timing = Timing {
        schedule: serve_settings.schedule.clone(),
        jitter: serve_settings.jitter,
    };
    let observer = observer(&settings, config, clock.clone())?;
    let (service, triggers) = Service::new(
        backend,
        timing,
        clock,
        metrics,
        observer,
        serve_settings.history,
    );
    let listener = serve::bind(serve_settings.listen).await?;
    let address = listener.local_addr()?;
    let stop = stop_signal()?;
    errln!(
        "idbridge serve: listening on http://{address} (/healthz, /readyz, /metrics, /runs, POST /sync); {}",
        serve_settings.schedule.describe()
    );
    if let Some(path) = &args.ready_file {
        std::fs::write(path, format!("{address}\n"))
            .with_context(|| format!("cannot write --ready-file {}", path.display()))?;
    }
    service.check_now().await;
    run_until_stopped(service, triggers, listener, stop).await;
    errln!("idbridge serve: stopped");
    Ok(Exit::Ok)
}

/// The endpoints, the health checks and the schedule, until SIGTERM or SIGINT: then no new run
/// starts, the run in flight ends, and the endpoints close last.
async fn run_until_stopped<B: Backend>(
    service: Arc<Service<B>>,
    triggers: tokio::sync::mpsc::Receiver<()>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let stopper = service.clone();
    tokio::spawn(async move {
        stop.await;
        tracing::info!(
            "stop asked: no new run starts; the run in flight finishes its operations in flight"
        );
        errln!("idbridge serve: stopping (the run in flight, if any, finishes first)");
        stopper.stop();
        let _ = shutdown_tx.send(true);
    });
    let health = tokio::spawn(service.clone().health_loop(shutdown.clone()));
    // The endpoints keep answering until the run in flight has ended.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let router = serve::http::router(service.clone());
    let server = tokio::spawn(serve::http::serve(listener, router, async move {
        let _ = done_rx.await;
    }));
    service.clone().run_loop(triggers, shutdown).await;
    let _ = done_tx.send(());
    let _ = health.await;
    if tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .is_err()
    {
        tracing::warn!("the HTTP endpoints did not close within 10 s");
    }
}

/// The alerts of `[alerts]`, or no observer when the table is absent.
fn observer(
    settings: &Settings,
    config: &Path,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn serve::RunObserver>> {
    let Some(alerts) = &settings.alerts else {
        return Ok(Arc::new(NoObserver));
    };
    let mut sinks: Vec<Box<dyn AlertSink>> = Vec::new();
    if let Some(webhook) = &alerts.webhook {
        sinks.push(Box::new(WebhookSink::new(webhook, alerts.timeout)?));
        errln!(
            "idbridge serve: alerts go to the webhook whose URL is in {}",
            webhook.url
        );
    }
    if let Some(sink) = notion_sink(settings, config, clock.clone())? {
        errln!("idbridge serve: alerts go to {}", sink.describe());
        sinks.push(Box::new(sink));
    }
    Ok(Arc::new(Alerter::new(
        settings.target.name.clone(),
        alerts.warn_days,
        sinks,
        settings.store_url.clone(),
        clock,
    )))
}

/// The Notion database sink of `[alerts] notion_database`, with `[notion]`'s settings (its
/// token must be readable now; it is read again at every delivery), or `None` without one.
pub(super) fn notion_sink(
    settings: &Settings,
    config: &Path,
    clock: Arc<dyn Clock>,
) -> Result<Option<NotionSink>> {
    let Some(alerts) = &settings.alerts else {
        return Ok(None);
    };
    let Some(database) = &alerts.notion_database else {
        return Ok(None);
    };
    let notion = config::load_notion(config)?.with_context(|| {
        format!(
            "{}: [alerts] notion_database needs the [notion] table's integration token; add \
             [notion] with token_env or token_file (docs/config.md, [alerts])",
            config.display()
        )
    })?;
    Ok(Some(NotionSink::new(
        database.clone(),
        notion,
        alerts.timeout,
        clock,
    )))
}

/// Resolves on SIGTERM (systemd, Kubernetes, docker stop) or SIGINT (Ctrl-C). SIGTERM's handler
/// is installed before this returns, so a stop asked as soon as the address is announced is not
/// the default "die at once".
fn stop_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// `idbridge healthcheck`: 0 when the serve answers /readyz with 200, 1 when it answers
/// otherwise (not ready), 3 when it cannot be reached.
pub async fn healthcheck(config: &Path, args: HealthcheckArgs) -> Result<Exit> {
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", loopback(config::load_serve_listen(config)?)),
    };
    let url = format!("{base}/readyz");
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .build()
        .context("cannot build the HTTP client")?;
    let response = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            errln!("idbridge healthcheck: {url} cannot be reached: {e}");
            return Ok(Exit::Environment);
        }
    };
    let status = response.status();
    let body: String = match response.text().await {
        Ok(text) => text.chars().take(1024).collect(),
        Err(_) => String::new(),
    };
    if status.is_success() {
        errln!("idbridge healthcheck: ready ({url})");
        Ok(Exit::Ok)
    } else {
        errln!(
            "idbridge healthcheck: not ready ({url} answered HTTP {}: {})",
            status.as_u16(),
            crate::report::safe_lines(body.trim())
        );
        Ok(Exit::Blocked)
    }
}

/// A wildcard listen address is asked on loopback, of the same family.
fn loopback(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}
