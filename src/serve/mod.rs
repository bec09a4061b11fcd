//! `idbridge serve`: the sync on a schedule, with health, readiness, metrics and a small
//! token-protected API over HTTP. This module owns the loop and the endpoints; what one run does
//! is the [`Backend`]'s (the CLI wires `sync`'s code path in), and what happens after a run
//! beyond metrics and logs is the [`RunObserver`]'s (alerts plug in there).
//!
//! - [`schedule`]: when runs are due (pure).
//! - [`Service`]: the loop (ticks, `POST /sync` triggers, one run at a time in this process,
//!   catch-up after downtime, stop on SIGTERM), the cached readiness and the store/token checks
//!   between runs.
//! - [`http`]: the endpoints, bounded and timed out.
//! - [`metrics`]: the Prometheus registry.

pub mod http;
pub mod metrics;
pub mod schedule;

use crate::clock::Clock;
use crate::scim::RequestCounts;
use chrono::{DateTime, Utc};
use schedule::Schedule;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Why `serve` could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `[serve] listen` could not be bound: another process has the port, or the address is not
    /// this machine's. Exit 3, so a supervisor tries again later.
    #[error("cannot listen on {addr} ([serve] listen): {detail}. Free the port (another idbridge serve?) or set `listen` to an address of this machine")]
    Bind {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// The OS error.
        detail: String,
    },
}

/// Bind `[serve] listen`.
pub async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Bind {
            addr,
            detail: e.to_string(),
        })
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The schedule, for the tick at this instant (before jitter).
    Schedule {
        /// The tick.
        tick: DateTime<Utc>,
    },
    /// `POST /sync`.
    Api,
}

/// Why a replica did not run a scheduled tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Another run (another replica, or a `sync` by hand) holds the run lock.
    LockHeld,
    /// Another replica already ran this tick.
    AlreadyRun,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    /// Every operation done.
    Succeeded,
    /// Applied, with at least one failed operation.
    Failed,
    /// A guardrail held the plan: nothing was applied (never forced).
    Refused,
    /// The run stopped before or during apply (a source, the target or the store failed).
    Error,
    /// Not run by this replica.
    Skipped(SkipReason),
}

impl RunResult {
    /// The `result` label of `idbridge_runs_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed => "failed",
            RunResult::Refused => "refused",
            RunResult::Error => "error",
            RunResult::Skipped(_) => "skipped",
        }
    }
}

/// The outcome of a check the readiness rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not known (not checked yet, or the check could not tell: the target was unreachable).
    Unknown = 0,
    /// Passed.
    Passed = 1,
    /// Failed.
    Failed = 2,
}

impl Check {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Check::Passed,
            2 => Check::Failed,
            _ => Check::Unknown,
        }
    }

    /// `unknown`, `passed` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Unknown => "unknown",
            Check::Passed => "passed",
            Check::Failed => "failed",
        }
    }
}

/// The IdP signing certificate that expires first, from a check of `[saml] metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpCert {
    /// The IdP's entity ID (or the metadata's source when it has none).
    pub entity: String,
    /// When the certificate expires.
    pub expires: DateTime<Utc>,
}

/// What one run (or one skipped tick) did: what metrics, logs and the [`RunObserver`] see.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// What started it.
    pub trigger: Trigger,
    /// How it ended.
    pub result: RunResult,
    /// The run's id in the store, when one was recorded.
    pub run_id: Option<i64>,
    /// Why it failed, was refused or skipped (no secret: errors are redacted where they arise).
    pub message: Option<String>,
    /// Operations by (kind, result): `("create", "done")` → 3.
    pub operations: BTreeMap<(String, String), u64>,
    /// SCIM requests the run made.
    pub scim: RequestCounts,
    /// The token check this run made (`Unknown` when it never reached the target).
    pub token: Check,
    /// Whether the store answered (`Unknown` when the run never got to it).
    pub store: Check,
    /// The IdP certificate that expires first, when `[saml] metadata` was checked.
    pub idp_cert: Option<IdpCert>,
    /// The verdict of the `[saml] metadata` check (`accept`/`reject`), or why it could not run.
    pub saml: Option<String>,
}

impl RunReport {
    /// A report with nothing done yet, for `trigger`.
    pub fn new(trigger: Trigger, result: RunResult) -> Self {
        Self {
            trigger,
            result,
            run_id: None,
            message: None,
            operations: BTreeMap::new(),
            scim: RequestCounts::default(),
            token: Check::Unknown,
            store: Check::Unknown,
            idp_cert: None,
            saml: None,
        }
    }
}

/// What `serve` needs from the rest of idbridge: one run of the sync, and the checks and reads
/// behind the endpoints. The CLI implements it with `sync`'s code path.
pub trait Backend: Send + Sync + 'static {
    /// One run under the run lock (skipped when another holds it or already ran `trigger`'s
    /// tick). `stop` is set on SIGTERM: operations not yet started are then journaled as skipped.
    fn run(
        &self,
        trigger: Trigger,
        stop: Arc<AtomicBool>,
    ) -> impl Future<Output = RunReport> + Send;
    /// Whether the store answers a read now.
    fn check_store(&self) -> impl Future<Output = Check> + Send;
    /// Whether the target accepts the token now (one cheap read).
    fn check_token(&self) -> impl Future<Output = Check> + Send;
    /// The most recent runs, newest first, as the JSON `/runs` returns.
    fn recent_runs(&self) -> impl Future<Output = Result<serde_json::Value, String>> + Send;
    /// The bearer token of `/runs` and `POST /sync`, read now (so a rotated file counts);
    /// `Ok(None)` when none is configured.
    fn api_token(&self) -> Result<Option<SecretString>, String>;
}

/// Told of every run when it ends, after metrics and logs (alerts, `src/alert/`). It runs on the
/// scheduler's task: a slow observer delays the next run, so it must bound its own work.
pub trait RunObserver: Send + Sync {
    /// A run ended (or a tick was skipped).
    fn run_ended<'a>(
        &'a self,
        report: &'a RunReport,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// The default observer: does nothing.
#[derive(Debug, Default)]
pub struct NoObserver;

impl RunObserver for NoObserver {
    fn run_ended<'a>(&'a self, _: &'a RunReport) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
}

/// How often the store is checked (and the token, while its last check did not pass) between
/// runs, so /readyz follows them without calling anything per probe.
pub const HEALTH_EVERY: Duration = Duration::from_secs(10);

/// The longest an observer may take with one report before the scheduler goes on.
const OBSERVER_BUDGET: Duration = Duration::from_secs(60);

/// The schedule part of `[serve]`.
#[derive(Debug, Clone)]
pub struct Timing {
    /// When runs are due.
    pub schedule: Schedule,
    /// Largest random delay added to each tick.
    pub jitter: Duration,
}

/// A running `serve`: the state the loop and the endpoints share.
pub struct Service<B> {
    backend: B,
    timing: Timing,
    clock: Arc<dyn Clock>,
    metrics: Arc<metrics::Metrics>,
    observer: Arc<dyn RunObserver>,
    store: AtomicU8,
    token: AtomicU8,
    running: AtomicBool,
    stop: Arc<AtomicBool>,
    triggers: mpsc::Sender<()>,
    history: u32,
}

/// What `POST /sync` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triggered {
    /// A run starts now.
    Accepted,
    /// A run is going on (or one was already asked for).
    Busy,
}

impl<B: Backend> Service<B> {
    /// A service, and the receiving end of its `POST /sync` triggers for [`Service::run_loop`].
    pub fn new(
        backend: B,
        timing: Timing,
        clock: Arc<dyn Clock>,
        metrics: Arc<metrics::Metrics>,
        observer: Arc<dyn RunObserver>,
        history: u32,
    ) -> (Arc<Self>, mpsc::Receiver<()>) {
        let (triggers, receiver) = mpsc::channel(1);
        let service = Arc::new(Self {
            backend,
            timing,
            clock,
            metrics,
            observer,
            store: AtomicU8::new(Check::Unknown as u8),
            token: AtomicU8::new(Check::Unknown as u8),
            running: AtomicBool::new(false),
            stop: Arc::new(AtomicBool::new(false)),
            triggers,
            history,
        });
        (service, receiver)
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// How many runs `/runs` lists.
    pub fn history(&self) -> u32 {
        self.history
    }

    /// The cached checks behind /readyz: (store, token).
    pub fn checks(&self) -> (Check, Check) {
        (
            Check::from_u8(self.store.load(Ordering::SeqCst)),
            Check::from_u8(self.token.load(Ordering::SeqCst)),
        )
    }

    /// Ready: the store answered and the last token check passed.
    pub fn ready(&self) -> bool {
        self.checks() == (Check::Passed, Check::Passed)
    }

    fn set_checks(&self, store: Check, token: Check) {
        // A check that could not tell keeps what the last one that could said.
        if store != Check::Unknown {
            self.store.store(store as u8, Ordering::SeqCst);
        }
        if token != Check::Unknown {
            self.token.store(token as u8, Ordering::SeqCst);
        }
        self.metrics.set_ready(self.ready());
    }

    /// Ask for a run now (`POST /sync`).
    pub fn trigger(&self) -> Triggered {
        // Claimed here, not when the loop picks the request up, so a second request in between
        // is told a run is on its way.
        if self.stop.load(Ordering::SeqCst)
            || self
                .running
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return Triggered::Busy;
        }
        match self.triggers.try_send(()) {
            Ok(()) => Triggered::Accepted,
            Err(_) => {
                self.running.store(false, Ordering::SeqCst);
                Triggered::Busy
            }
        }
    }

    /// Stop: no new run starts, and the run in flight starts no new operation.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Check the store and the token once (at start, before any probe is answered ready).
    pub async fn check_now(&self) {
        let store = self.backend.check_store().await;
        let token = self.backend.check_token().await;
        self.set_checks(store, token);
    }

    /// Between runs, every [`HEALTH_EVERY`]: the store, and the token while its last check did
    /// not pass (so readiness comes back after a rotation without waiting for the next run).
    pub async fn health_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(HEALTH_EVERY) => {}
                _ = shutdown.changed() => return,
            }
            if self.running.load(Ordering::SeqCst) {
                continue;
            }
            let store = self.backend.check_store().await;
            let token = if self.checks().1 == Check::Passed {
                Check::Unknown
            } else {
                self.backend.check_token().await
            };
            self.set_checks(store, token);
        }
    }

    /// The schedule: first the catch-up of the last tick before now (skipped by the backend when
    /// a run of it is recorded), then each tick; `POST /sync` runs in between. Returns when
    /// `shutdown` turns true, after the run in flight.
    pub async fn run_loop(
        self: Arc<Self>,
        mut triggers: mpsc::Receiver<()>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let now = self.clock.now();
        let mut tick = self.timing.schedule.previous(now);
        let mut due = self.jittered(now);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let wait = (due - self.clock.now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {
                    if let Some(at) = tick {
                        self.run_once(Trigger::Schedule { tick: at }, false).await;
                    }
                    let now = self.clock.now();
                    tick = self.timing.schedule.next(now);
                    match tick {
                        Some(at) => due = self.jittered(at),
                        None => {
                            tracing::error!("the schedule has no further tick; serve runs only on POST /sync from now on");
                            due = now + chrono::Duration::days(3650);
                        }
                    }
                    if let Some(at) = tick {
                        tracing::info!(next = %at.to_rfc3339(), "next scheduled run");
                    }
                }
                Some(()) = triggers.recv() => self.run_once(Trigger::Api, true).await,
                _ = shutdown.changed() => {}
            }
        }
    }

    fn jittered(&self, tick: DateTime<Utc>) -> DateTime<Utc> {
        schedule::with_jitter(tick, self.timing.jitter, rand::random::<f64>())
    }

    /// One run, unless one is going on; `claimed`: `POST /sync` already marked it as going on.
    async fn run_once(&self, trigger: Trigger, claimed: bool) {
        if self.stop.load(Ordering::SeqCst) {
            self.running.store(false, Ordering::SeqCst);
            return;
        }
        if !claimed && self.running.swap(true, Ordering::SeqCst) {
            tracing::info!("tick skipped: a run asked for by POST /sync is about to start");
            return;
        }
        self.metrics.set_in_progress(true);
        let report = self.backend.run(trigger, self.stop.clone()).await;
        self.running.store(false, Ordering::SeqCst);
        self.metrics.set_in_progress(false);
        // Metrics first: whoever sees readiness change finds the run that changed it counted.
        self.metrics.record(&report, self.clock.now());
        self.set_checks(report.store, report.token);
        log(&report);
        if tokio::time::timeout(OBSERVER_BUDGET, self.observer.run_ended(&report))
            .await
            .is_err()
        {
            tracing::warn!("the run observer took longer than {OBSERVER_BUDGET:?} and was cut off");
        }
    }
}

fn log(report: &RunReport) {
    let trigger = match report.trigger {
        Trigger::Schedule { tick } => format!("schedule ({})", tick.to_rfc3339()),
        Trigger::Api => "POST /sync".to_owned(),
    };
    let message = report.message.as_deref().unwrap_or("");
    let run = report.run_id.unwrap_or_default();
    match report.result {
        RunResult::Succeeded => tracing::info!(run, %trigger, "run succeeded"),
        RunResult::Skipped(SkipReason::LockHeld) => {
            tracing::info!(%trigger, "tick skipped: {message}")
        }
        RunResult::Skipped(SkipReason::AlreadyRun) => {
            tracing::info!(%trigger, "tick skipped: another replica already ran it")
        }
        RunResult::Refused => {
            tracing::warn!(run, %trigger, "plan held, nothing applied: {message}")
        }
        RunResult::Failed => {
            tracing::warn!(run, %trigger, "run ended with failed operations: {message}")
        }
        RunResult::Error => tracing::error!(%trigger, "run failed: {message}"),
    }
}
