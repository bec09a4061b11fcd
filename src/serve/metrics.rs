//! The Prometheus metrics of `serve`, encoded by `prometheus-client` (OpenMetrics text, which
//! Prometheus scrapes as is). Names and labels are listed in docs/cli.md, "serve".
//!
//! The SCIM latency histogram is fed live by the SCIM client through [`scim::RequestObserver`];
//! everything else is recorded from each run's [`RunReport`] when the run ends.

use super::{RunReport, RunResult, SkipReason};
use crate::scim;
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntityLabel {
    entity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// Every metric `serve` exposes, registered once.
pub struct Metrics {
    registry: Registry,
    runs: Family<ResultLabel, Counter>,
    skipped: Family<ReasonLabel, Counter>,
    operations: Family<OperationLabels, Counter>,
    latency: Family<StatusLabel, Histogram>,
    requests: Counter,
    retries: Counter,
    throttled: Counter,
    last_success: Gauge<f64, AtomicU64>,
    last_run: Gauge<f64, AtomicU64>,
    cert_expiry: Family<EntityLabel, Gauge<f64, AtomicU64>>,
    in_progress: Gauge,
    ready: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The registry with every metric at zero.
    // Over 80 lines: each metric is registered with its help text, one after the other; a list
    // reads best whole.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("idbridge");
        let runs = Family::<ResultLabel, Counter>::default();
        registry.register(
            "runs",
            "Runs of the sync by result: succeeded, failed (an operation failed), refused (a guardrail held the plan), error (the run stopped before or during apply)",
            runs.clone(),
        );
        let skipped = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "ticks_skipped",
            "Scheduled ticks this replica did not run: lock-held (another run or replica holds the run lock) or already-run (another replica ran this tick)",
            skipped.clone(),
        );
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "operations",
            "SCIM operations applied, by kind and result (done, failed, skipped)",
            operations.clone(),
        );
        let latency = Family::<StatusLabel, Histogram>::new_with_constructor(|| {
            // 10 ms to about 41 s: Notion answers in tens of milliseconds, a stalled request
            // runs into the client's timeout.
            Histogram::new(exponential_buckets(0.01, 2.0, 13))
        });
        registry.register(
            "scim_request_duration_seconds",
            "Time from sending a SCIM request to reading its reply, by HTTP status class (2xx, 4xx, 429, 5xx, none when no reply came)",
            latency.clone(),
        );
        let requests = Counter::default();
        registry.register("scim_requests", "SCIM requests sent", requests.clone());
        let retries = Counter::default();
        registry.register(
            "scim_retries",
            "SCIM requests sent again (after a 429, a 5xx or a lost reply)",
            retries.clone(),
        );
        let throttled = Counter::default();
        registry.register(
            "scim_throttled",
            "SCIM replies with status 429 Too Many Requests",
            throttled.clone(),
        );
        let last_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "last_success_timestamp_seconds",
            "When the last run that succeeded ended (Unix time); 0 before the first",
            last_success.clone(),
        );
        let last_run = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "last_run_timestamp_seconds",
            "When the last run ended, whatever its result (Unix time); 0 before the first",
            last_run.clone(),
        );
        let cert_expiry = Family::<EntityLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "idp_certificate_expiry_seconds",
            "Seconds until the IdP's signing certificate that expires first expires (negative: expired), from the last check of [saml] metadata, by IdP entity ID; absent until a check read a certificate",
            cert_expiry.clone(),
        );
        let in_progress = Gauge::default();
        registry.register(
            "run_in_progress",
            "1 while this process runs a sync",
            in_progress.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 when /readyz answers 200: the store answered and the last token check passed",
            ready.clone(),
        );
        Self {
            registry,
            runs,
            skipped,
            operations,
            latency,
            requests,
            retries,
            throttled,
            last_success,
            last_run,
            cert_expiry,
            in_progress,
            ready,
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Whether a run is going on.
    pub fn set_in_progress(&self, running: bool) {
        self.in_progress.set(i64::from(running));
    }

    /// The readiness /readyz reports.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Count a run (or a skipped tick) that ended at `at`.
    pub fn record(&self, report: &RunReport, at: DateTime<Utc>) {
        let seconds = at.timestamp_millis() as f64 / 1000.0;
        match &report.result {
            RunResult::Skipped(reason) => {
                let reason = match reason {
                    SkipReason::LockHeld => "lock-held",
                    SkipReason::AlreadyRun => "already-run",
                };
                self.skipped
                    .get_or_create(&ReasonLabel {
                        reason: reason.to_owned(),
                    })
                    .inc();
                return;
            }
            result => {
                self.runs
                    .get_or_create(&ResultLabel {
                        result: result.as_str().to_owned(),
                    })
                    .inc();
            }
        }
        self.last_run.set(seconds);
        if report.result == RunResult::Succeeded {
            self.last_success.set(seconds);
        }
        for ((kind, result), count) in &report.operations {
            self.operations
                .get_or_create(&OperationLabels {
                    kind: kind.clone(),
                    result: result.clone(),
                })
                .inc_by(*count);
        }
        self.requests.inc_by(report.scim.requests);
        self.retries.inc_by(report.scim.retries);
        self.throttled.inc_by(report.scim.throttled);
        if let Some(cert) = &report.idp_cert {
            let left = (cert.expires - at).num_milliseconds() as f64 / 1000.0;
            self.cert_expiry
                .get_or_create(&EntityLabel {
                    entity: cert.entity.clone(),
                })
                .set(left);
        }
    }
}

impl scim::RequestObserver for Metrics {
    fn replied(&self, elapsed: Duration, status: Option<u16>) {
        let class = match status {
            None => "none".to_owned(),
            Some(429) => "429".to_owned(),
            Some(s) => format!("{}xx", s / 100),
        };
        self.latency
            .get_or_create(&StatusLabel { status: class })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::RequestObserver;
    use crate::serve::{Check, IdpCert, Trigger};

    fn parse(text: &str) -> prometheus_parse::Scrape {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    }

    fn sample(
        scrape: &prometheus_parse::Scrape,
        name: &str,
        label: Option<(&str, &str)>,
    ) -> Option<f64> {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .find(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .and_then(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            })
    }

    #[test]
    fn a_run_shows_in_the_text_a_prometheus_parser_reads() {
        let metrics = Metrics::new();
        let at = DateTime::from_timestamp(1_795_773_600, 0).unwrap();
        let mut report = RunReport::new(Trigger::Schedule { tick: at }, RunResult::Succeeded);
        report
            .operations
            .insert(("create".into(), "done".into()), 2);
        report.scim.requests = 7;
        report.scim.throttled = 1;
        report.token = Check::Passed;
        report.idp_cert = Some(IdpCert {
            entity: "https://idp.example/".into(),
            expires: at + chrono::Duration::days(10),
        });
        metrics.record(&report, at);
        metrics.record(
            &RunReport::new(Trigger::Api, RunResult::Skipped(SkipReason::LockHeld)),
            at,
        );
        metrics.replied(Duration::from_millis(30), Some(200));
        metrics.replied(Duration::from_millis(30), Some(429));
        let text = metrics.encode();
        let scrape = parse(&text);
        assert_eq!(
            sample(
                &scrape,
                "idbridge_runs_total",
                Some(("result", "succeeded"))
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &scrape,
                "idbridge_operations_total",
                Some(("kind", "create"))
            ),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(&scrape, "idbridge_scim_requests_total", None),
            Some(7.0)
        );
        assert_eq!(
            sample(&scrape, "idbridge_scim_throttled_total", None),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &scrape,
                "idbridge_ticks_skipped_total",
                Some(("reason", "lock-held"))
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&scrape, "idbridge_last_success_timestamp_seconds", None),
            Some(1_795_773_600.0)
        );
        assert_eq!(
            sample(
                &scrape,
                "idbridge_idp_certificate_expiry_seconds",
                Some(("entity", "https://idp.example/"))
            ),
            Some(864_000.0)
        );
        let histogram = scrape.samples.iter().find(|s| {
            s.metric == "idbridge_scim_request_duration_seconds"
                && s.labels.get("status") == Some("429")
        });
        assert!(histogram.is_some(), "{text}");
    }
}
