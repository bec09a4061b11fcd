//! Request counters of one client (and its clones): what a run reports as "SCIM requests made",
//! kept apart from the client so that counting stays a one-line concern there.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Told of every SCIM exchange as it ends: how long it took and the reply's status (`None` when
/// no reply came). `serve` feeds its latency histogram from it; it must not block.
pub trait RequestObserver: Send + Sync {
    /// One exchange ended after `elapsed`.
    fn replied(&self, elapsed: Duration, status: Option<u16>);
}

/// A [`RequestObserver`] in [`super::ClientSettings`], which is `Debug`.
#[derive(Clone)]
pub struct Observer(pub Arc<dyn RequestObserver>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// Counts shared by a client's clones.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

impl Stats {
    /// A request is about to be sent.
    pub(crate) fn sent(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A reply came back with `status`.
    pub(crate) fn replied(&self, status: u16) {
        if status == 429 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request will be sent again.
    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> RequestCounts {
        RequestCounts {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}

/// What a client has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests sent again (after a 429, 503, another 5xx or a lost reply).
    pub retries: u64,
    /// Replies with status 429 Too Many Requests.
    pub throttled: u64,
}

impl RequestCounts {
    /// What was sent after `earlier` was taken (a client outlives one run in `demo`).
    pub fn since(self, earlier: RequestCounts) -> RequestCounts {
        RequestCounts {
            requests: self.requests.saturating_sub(earlier.requests),
            retries: self.retries.saturating_sub(earlier.retries),
            throttled: self.throttled.saturating_sub(earlier.throttled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_429_as_throttled_and_subtract() {
        let stats = Stats::default();
        let before = stats.counts();
        stats.sent();
        stats.replied(429);
        stats.retried();
        stats.sent();
        stats.replied(503);
        stats.replied(200);
        let now = stats.counts();
        assert_eq!(
            now.since(before),
            RequestCounts {
                requests: 2,
                retries: 1,
                throttled: 1
            }
        );
        assert_eq!(before.since(now), RequestCounts::default());
    }
}
