//! The generic RFC 7644 SCIM client, with a target profile for Notion's quirks.
//!
//! - [`target`]: what a target lets idbridge do, split by capability: [`TargetRead`] and
//!   [`TargetWrite`]; the read results and [`CreateOutcome`].
//! - [`client`]: the handles, [`Reader`] (no write method at all) and [`Writer`].
//! - `transport`: the request core shared by both: settings, one HTTP exchange within the rate
//!   budget and the concurrency bound, bounded reply bodies.
//! - [`retry`]: what each reply status means for the shared retry policy (`crate::retry`).
//! - `replies`: errors from replies (a refused token or write, any other API error) and parsing.
//! - `reads`: the token check, gets, lookups and checked full paged reads.
//! - `users`, `groups`: the writes; `forms`: the PATCH forms the target accepts, learned per
//!   run (another documented form is tried when one is refused as malformed).
//! - `recovery`: creates that look before they send again after a lost reply.
//! - [`profile`]: the only place that knows Notion (normalisation, request bodies, filters, and
//!   the wording of Notion's reasons in messages).
//! - [`wire`]: lenient SCIM resource types.
//! - [`limiter`]: the adaptive (AIMD) bound on requests in flight.
//! - [`paging`]: the bookkeeping of a paged read, and when it makes no progress.
//! - [`redact`]: the token and its encoded forms, scrubbed from server text.
//! - `stats`: request, retry and 429 counters per client, for the run's record.
//! - [`error`]: errors that name the request and say what to do; never the token.

pub mod client;
pub mod error;
mod forms;
mod groups;
pub mod limiter;
pub mod paging;
pub mod profile;
mod reads;
mod recovery;
pub mod redact;
mod replies;
pub mod retry;
mod stats;
pub mod target;
mod transport;
mod users;
pub mod wire;

pub use client::{Reader, Writer};
pub use error::{Error, Result};
pub use profile::{Lookup, MemberRemoval, OpCase, PatchForm, Profile, Readd, SetForm, TargetKind};
pub use stats::{Observer, RequestCounts, RequestObserver};
pub use target::{CreateOutcome, GroupRead, TargetRead, TargetUserRead, TargetWrite, UserRead};
pub use transport::{ClientSettings, DEFAULT_MAX_REPLY_BYTES};

/// Helpers of the client's unit tests: a token canary, quick settings, and ports that refuse or
/// drop connections.
#[cfg(test)]
mod test_support {
    use super::ClientSettings;
    use secrecy::SecretString;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use url::Url;

    /// A token that must never show up in any text.
    pub const CANARY: &str = "canary-tok-3f9a1c77e2";

    /// Settings for `url` with no rate limit and waits too short to notice.
    pub fn quick(url: &str) -> ClientSettings {
        let mut s = ClientSettings::new(Url::parse(url).unwrap(), SecretString::from(CANARY));
        s.rate_limit = None;
        s.timeout = Duration::from_secs(5);
        s.backoff_base = Duration::from_millis(1);
        s.backoff_max = Duration::from_millis(2);
        s
    }

    /// A loopback port nothing listens on (bound, then closed).
    pub fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A listener that accepts connections and closes them at once, counting them.
    pub async fn accept_and_drop() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        (port, count)
    }
}
