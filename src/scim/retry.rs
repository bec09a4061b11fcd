//! How the SCIM client uses the shared retry policy (`crate::retry`): what each reply status
//! means for a retry, the verdict on one attempt, and the retried send of an idempotent request.
//! A create's retries, which look before they send again, are `recovery`'s.
//!
//! - 401 is a rejected token, and so is a 403 on a read; a 403 on a write may refuse only that
//!   change: none is retried (`replies` tells them apart).
//! - 429 and 503 are throttling: `Retry-After` (seconds or an HTTP date) is honoured up to
//!   `max_retry_after`; a longer one fails with [`Error::RateLimited`] at once and holds back
//!   every later request of the client until that time ([`Error::HeldBack`]), so a run neither
//!   sleeps for an hour nor knocks again and again. Without it, the backoff; the AIMD limiter
//!   also shrinks the requests in flight (`limiter`).
//! - Other 5xx and a lost reply are retried after the backoff, and may have been applied.
//! - A connection that cannot be made is retried at most twice, quickly, and never when refused
//!   or timed out: nothing was sent.

use super::error::{Error, Result};
use super::transport::{path_of, Attempt, Core, Reply};
use crate::retry::{Again, Earlier, Failed, Throttle};
use reqwest::Method;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// What to do with a reply status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx.
    Success,
    /// 401: stop, the token is dead.
    Auth,
    /// 403: refused. On a read the token is refused; on a write it may be this one change
    /// (Notion refuses some changes with 403), which only a token check can tell apart.
    Forbidden,
    /// 429 or 503: throttled, honour `Retry-After` if present.
    Throttled,
    /// Other 5xx (500, 502, 504, 529, ...): retry with exponential backoff.
    ServerError,
    /// Any other status: final, the caller interprets it (404, 409, 400, ...).
    Final,
}

/// Classify an HTTP status for the retry loop.
pub fn classify(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        401 => StatusClass::Auth,
        403 => StatusClass::Forbidden,
        429 | 503 => StatusClass::Throttled,
        500..=599 => StatusClass::ServerError,
        _ => StatusClass::Final,
    }
}

impl Core {
    /// Send an idempotent request (GET, PUT, PATCH, DELETE) with retries; returns the final reply.
    pub(super) async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply> {
        let path = path_of(segments);
        let (method, path) = (&method, path.as_str());
        self.retrying(method.as_str(), path, |earlier: Earlier| async move {
            let attempt = self
                .attempt(method, segments, query, body)
                .await
                .map_err(Failed::never)?;
            let (status, body) = self.judge(method.as_str(), path, attempt)?;
            Ok(Reply {
                status,
                body,
                after_lost: earlier.any_maybe_applied,
            })
        })
        .await
    }

    /// Run `attempt` under the client's retry policy, counting and logging each retry.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        method: &str,
        path: &str,
        attempt: F,
    ) -> Result<T>
    where
        F: FnMut(Earlier) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failed<Error>>>,
    {
        self.policy
            .run(attempt, |failed, delay, retry| {
                self.log_retry(method, path, failed, delay, retry)
            })
            .await
            .map_err(|failed| failed.error)
    }

    fn log_retry(
        &self,
        method: &str,
        path: &str,
        failed: &Failed<Error>,
        delay: Duration,
        retry: u32,
    ) {
        self.stats.retried();
        // Method, path, status and delay only: never headers.
        tracing::warn!(
            method,
            path,
            status = failed.error.status().map(i64::from).unwrap_or(-1),
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            retry,
            max_retries = self.policy.retries,
            reply_lost = failed.maybe_applied,
            "SCIM request failed; retrying"
        );
    }

    /// The retry rules applied to one attempt: `(status, body)` of a reply to hand to the
    /// caller (a success, or a status only the caller can interpret), or a failure saying
    /// whether and how to try again.
    // The failure is handed straight to the retry loop, once per attempt; boxing it would only
    // add an allocation to every retry.
    #[allow(clippy::result_large_err)]
    pub(super) fn judge(
        &self,
        method: &str,
        path: &str,
        attempt: Attempt,
    ) -> std::result::Result<(u16, String), Failed<Error>> {
        let (status, retry_after, body) = match attempt {
            Attempt::NoConnection { detail, retry } => {
                let error = Error::Connect {
                    url: self.shown_base.clone(),
                    method: method.to_owned(),
                    path: path.to_owned(),
                    detail,
                };
                let again = if retry {
                    Again::Reconnect
                } else {
                    Again::Never
                };
                return Err(Failed {
                    error,
                    again,
                    maybe_applied: false,
                });
            }
            Attempt::Lost { detail } => {
                return Err(Failed {
                    error: Error::Transport {
                        method: method.to_owned(),
                        path: path.to_owned(),
                        detail,
                    },
                    again: Again::Backoff,
                    maybe_applied: true,
                })
            }
            Attempt::Reply {
                status,
                retry_after,
                body,
            } => (status, retry_after, body),
        };
        match classify(status) {
            StatusClass::Success | StatusClass::Final => Ok((status, body)),
            StatusClass::Auth | StatusClass::Forbidden => {
                Err(Failed::never(self.refusal(method, path, status, &body)))
            }
            StatusClass::Throttled => Err(self.throttled(method, path, status, retry_after)),
            StatusClass::ServerError => {
                let reply = Reply {
                    status,
                    body,
                    after_lost: false,
                };
                Err(Failed {
                    error: self.api_error(method, path, &reply),
                    again: Again::Backoff,
                    maybe_applied: true,
                })
            }
        }
    }

    /// A 429 or 503: wait as `Retry-After` asks, within the cap, or back off when it asks
    /// nothing usable. A 503 may have been applied; a 429 was turned away before.
    fn throttled(
        &self,
        method: &str,
        path: &str,
        status: u16,
        retry_after: Option<String>,
    ) -> Failed<Error> {
        let limited = |retry_after| Error::RateLimited {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            retry_after,
        };
        let (again, asked) = match self
            .policy
            .throttled(retry_after.as_deref(), self.clock.now())
        {
            Throttle::TooLong(wait) => {
                let until = chrono::Duration::from_std(wait)
                    .ok()
                    .and_then(|wait| self.clock.now().checked_add_signed(wait))
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
                self.hold_until(until);
                (Again::Never, wait)
            }
            Throttle::Wait(wait) => (Again::Asked(wait), wait),
            Throttle::Backoff => (Again::Backoff, Duration::ZERO),
        };
        Failed {
            error: limited(asked),
            again,
            maybe_applied: status >= 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(classify(200), StatusClass::Success);
        assert_eq!(classify(204), StatusClass::Success);
        assert_eq!(classify(401), StatusClass::Auth);
        assert_eq!(classify(403), StatusClass::Forbidden);
        assert_eq!(classify(429), StatusClass::Throttled);
        assert_eq!(classify(503), StatusClass::Throttled);
        for s in [500, 502, 504, 529] {
            assert_eq!(classify(s), StatusClass::ServerError);
        }
        for s in [400, 404, 409, 412] {
            assert_eq!(classify(s), StatusClass::Final);
        }
    }
}
