//! The one retry policy of idbridge's HTTP clients: the SCIM client (`scim`) and the HR API reader
//! (`connectors::hr::http`). It owns how many attempts a request gets, how long to wait between
//! them (capped exponential backoff with jitter, driven by `backon`), `Retry-After`
//! (RFC 9110 §10.2.3: whole seconds or an HTTP date, honoured up to a longest wait; a longer one ends the
//! retries, since a run would rather fail now than sit idle past its schedule), and the short
//! retries of a connection that could not be made.
//!
//! It never reads a status: the caller says of each failed attempt whether and how it may be
//! tried again ([`Again`]) and whether it may have taken effect although its reply was lost
//! ([`Failed::maybe_applied`]); the next attempt is told ([`Earlier`]), so a create can look
//! before it writes again. What a 401 or a 409 means stays the caller's business.
//!
//! May import: std, chrono, httpdate, backon, tokio (its sleep).

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// How a client retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Retries after the first attempt, of every kind together.
    pub retries: u32,
    /// First backoff delay.
    pub backoff_base: Duration,
    /// Longest backoff delay (jitter included).
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured; a longer one ends the retries ([`Throttle::TooLong`]).
    pub max_retry_after: Duration,
    /// Retries of a connection that could not be made ([`Again::Reconnect`]), within `retries`.
    pub reconnects: u32,
    /// Pause before a reconnect, times the number of connections that failed so far.
    pub reconnect_delay: Duration,
}

/// Whether, and after what, a failed attempt may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Again {
    /// Never: another attempt would fail the same way (a refusal, a reply too large, a
    /// `Retry-After` longer than allowed, a lookup that failed).
    Never,
    /// After the next step of the exponential backoff.
    Backoff,
    /// After the wait the server asked for (a `Retry-After` within the cap).
    Asked(Duration),
    /// Nothing reached the server (no connection): after [`Policy::reconnect_delay`] times the
    /// number of such failures, at most [`Policy::reconnects`] times.
    Reconnect,
}

/// A failed attempt: the error to report if it stays the last one, and what the policy may do.
#[derive(Debug)]
pub struct Failed<E> {
    /// The error.
    pub error: E,
    /// Whether and when to try again.
    pub again: Again,
    /// The attempt may have taken effect although no usable reply came back (the reply was
    /// lost after the request went out, or a 5xx): a request that is not idempotent must look
    /// before it is sent again.
    pub maybe_applied: bool,
}

impl<E> Failed<E> {
    /// A failure that is final.
    pub fn never(error: E) -> Self {
        Failed {
            error,
            again: Again::Never,
            maybe_applied: false,
        }
    }

    /// A failure worth another attempt after the backoff, that cannot have taken effect.
    pub fn backoff(error: E) -> Self {
        Failed {
            error,
            again: Again::Backoff,
            maybe_applied: false,
        }
    }
}

/// What an attempt is told about the ones before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Earlier {
    /// Retries so far: 0 on the first attempt.
    pub retries: u32,
    /// The attempt just before this one may have taken effect.
    pub last_maybe_applied: bool,
    /// Some attempt before this one may have taken effect.
    pub any_maybe_applied: bool,
}

/// What a throttled reply's `Retry-After` asks of the retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Wait this long, then try again.
    Wait(Duration),
    /// No usable `Retry-After` (absent or garbage): the policy's own backoff.
    Backoff,
    /// Longer than [`Policy::max_retry_after`]: give up now, saying how long was asked.
    TooLong(Duration),
}

/// The attempts made so far, shared by the attempt (which reads it) and the notice of a retry
/// (which writes it). Atomics, because the retry future must stay `Send`.
#[derive(Default)]
struct History {
    retries: AtomicU32,
    last_maybe_applied: AtomicBool,
    any_maybe_applied: AtomicBool,
}

impl History {
    fn earlier(&self) -> Earlier {
        Earlier {
            retries: self.retries.load(Ordering::SeqCst),
            last_maybe_applied: self.last_maybe_applied.load(Ordering::SeqCst),
            any_maybe_applied: self.any_maybe_applied.load(Ordering::SeqCst),
        }
    }

    /// A retry is about to happen after an attempt that failed with `maybe_applied`; returns
    /// its number (1 for the first retry).
    fn retrying(&self, maybe_applied: bool) -> u32 {
        self.last_maybe_applied
            .store(maybe_applied, Ordering::SeqCst);
        if maybe_applied {
            self.any_maybe_applied.store(true, Ordering::SeqCst);
        }
        self.retries.fetch_add(1, Ordering::SeqCst) + 1
    }
}

impl Policy {
    /// What a throttled reply asks for: its `Retry-After` (`header`) read at `now`, against
    /// [`Policy::max_retry_after`].
    pub fn throttled(&self, header: Option<&str>, now: DateTime<Utc>) -> Throttle {
        match header.and_then(|v| parse_retry_after(v, now)) {
            Some(wait) if wait > self.max_retry_after => Throttle::TooLong(wait),
            Some(wait) => Throttle::Wait(wait),
            None => Throttle::Backoff,
        }
    }

    /// Run `attempt` until it succeeds, fails with [`Again::Never`], or the retries run out,
    /// waiting between attempts as each failure asks. `on_retry` hears of each retry before its
    /// wait: the failure, the wait and the retry's number (from 1). The last failure is
    /// returned whole, so the caller can tell "gave up" from "refused".
    pub async fn run<T, E, F, Fut>(
        &self,
        mut attempt: F,
        mut on_retry: impl FnMut(&Failed<E>, Duration, u32),
    ) -> Result<T, Failed<E>>
    where
        F: FnMut(Earlier) -> Fut,
        Fut: Future<Output = Result<T, Failed<E>>>,
    {
        let history = History::default();
        let mut reconnects = 0u32;
        let backoff = ExponentialBuilder::new()
            .with_jitter()
            .with_min_delay(self.backoff_base)
            .with_max_delay(self.backoff_max.max(self.backoff_base))
            .with_max_times(usize::try_from(self.retries).unwrap_or(usize::MAX));
        let cap = self.backoff_max.max(self.backoff_base);
        (|| attempt(history.earlier()))
            .retry(backoff.build())
            .sleep(tokio::time::sleep)
            .when(|failed: &Failed<E>| failed.again != Again::Never)
            // `next` is backon's next backoff step, `None` once the retries are spent: every
            // retry takes a step, whatever decides its wait, so `retries` bounds them all.
            .adjust(|failed, next| {
                let next = next?;
                match failed.again {
                    Again::Never => None,
                    // backon's jitter adds up to one more delay on top of the step: cap again.
                    Again::Backoff => Some(next.min(cap)),
                    // "Now" (0, or an HTTP date already past, as a server whose clock lags
                    // ours sends) would be a retry with no pause at all: back off instead.
                    Again::Asked(wait) if wait.is_zero() => Some(next.min(cap)),
                    Again::Asked(wait) => Some(wait),
                    Again::Reconnect => {
                        reconnects += 1;
                        (reconnects <= self.reconnects).then(|| self.reconnect_delay * reconnects)
                    }
                }
            })
            .notify(|failed, wait| {
                let retry = history.retrying(failed.maybe_applied);
                on_retry(failed, wait, retry);
            })
            .await
    }
}

/// Parse a `Retry-After` value (RFC 9110 §10.2.3): whole seconds, or an HTTP-date taken relative to
/// `now` (a date in the past means "now"). `None` for anything else, so the caller falls back on its
/// own backoff instead of trusting garbage.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Over-long digit strings overflow u64: treat them as "very long" so the cap applies.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let now = SystemTime::from(now);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::Mutex;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    /// A policy whose waits are too short to notice.
    fn quick(retries: u32) -> Policy {
        Policy {
            retries,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            max_retry_after: Duration::from_secs(60),
            reconnects: 2,
            reconnect_delay: Duration::from_millis(1),
        }
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_http_date_uses_injected_clock() {
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", now()),
            Some(Duration::from_secs(90))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage() {
        for bad in ["", "soon", "-5", "1.5", "Sun, 99 Foo 2026"] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad}");
        }
    }

    #[test]
    fn throttle_honours_the_cap_in_both_forms() {
        let policy = quick(3);
        assert_eq!(
            policy.throttled(Some("60"), now()),
            Throttle::Wait(Duration::from_secs(60))
        );
        assert_eq!(
            policy.throttled(Some("61"), now()),
            Throttle::TooLong(Duration::from_secs(61))
        );
        assert_eq!(
            policy.throttled(Some("Sun, 01 Mar 2026 13:00:00 GMT"), now()),
            Throttle::TooLong(Duration::from_secs(3600))
        );
        assert_eq!(
            policy.throttled(Some("Sun, 01 Mar 2026 12:00:30 GMT"), now()),
            Throttle::Wait(Duration::from_secs(30))
        );
        assert_eq!(policy.throttled(Some("soon"), now()), Throttle::Backoff);
        assert_eq!(policy.throttled(None, now()), Throttle::Backoff);
    }

    /// Runs `policy` over failures that ask `again` each time; returns the attempts made, what
    /// each was told, and the waits announced.
    async fn exhaust(policy: &Policy, again: Again) -> (u32, Vec<Earlier>, Vec<Duration>) {
        let told = Mutex::new(Vec::new());
        let mut waits = Vec::new();
        let result: Result<(), Failed<&str>> = policy
            .run(
                |earlier| {
                    told.lock().unwrap().push(earlier);
                    async move {
                        Err(Failed {
                            error: "down",
                            again,
                            maybe_applied: earlier.retries == 0,
                        })
                    }
                },
                |_, wait, _| waits.push(wait),
            )
            .await;
        assert_eq!(result.unwrap_err().error, "down");
        let told = told.into_inner().unwrap();
        (told.len() as u32, told, waits)
    }

    #[tokio::test]
    async fn retries_bound_every_kind_of_retry() {
        let (attempts, told, waits) = exhaust(&quick(3), Again::Backoff).await;
        assert_eq!(attempts, 4);
        assert!(
            waits.iter().all(|w| *w <= Duration::from_millis(2)),
            "{waits:?}"
        );
        // Only the first attempt "may have been applied": the second is told, the later ones
        // remember it.
        assert_eq!(
            told[1],
            Earlier {
                retries: 1,
                last_maybe_applied: true,
                any_maybe_applied: true
            }
        );
        assert_eq!(
            told[3],
            Earlier {
                retries: 3,
                last_maybe_applied: false,
                any_maybe_applied: true
            }
        );
        let asked = Duration::from_millis(3);
        let (attempts, _, waits) = exhaust(&quick(2), Again::Asked(asked)).await;
        assert_eq!((attempts, waits), (3, vec![asked; 2]));
        // A Retry-After of "now" (or a date in the past) is no reason to knock at once.
        let (attempts, _, waits) = exhaust(&quick(2), Again::Asked(Duration::ZERO)).await;
        assert_eq!(attempts, 3);
        assert!(waits.iter().all(|w| !w.is_zero()), "{waits:?}");
        let (attempts, _, _) = exhaust(&quick(0), Again::Backoff).await;
        assert_eq!(attempts, 1);
    }

    #[tokio::test]
    async fn reconnects_have_their_own_smaller_bound_and_never_is_final() {
        let (attempts, _, waits) = exhaust(&quick(5), Again::Reconnect).await;
        assert_eq!(attempts, 3, "one attempt and two reconnects");
        assert_eq!(waits, [Duration::from_millis(1), Duration::from_millis(2)]);
        let (attempts, _, waits) = exhaust(&quick(1), Again::Reconnect).await;
        assert_eq!((attempts, waits.len()), (2, 1), "within `retries` too");
        let (attempts, _, waits) = exhaust(&quick(5), Again::Never).await;
        assert_eq!((attempts, waits.len()), (1, 0));
    }

    #[tokio::test]
    async fn a_success_after_failures_is_returned() {
        let result: Result<u32, Failed<&str>> = quick(3)
            .run(
                |earlier| async move {
                    if earlier.retries < 2 {
                        Err(Failed::backoff("busy"))
                    } else {
                        Ok(earlier.retries)
                    }
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(result.unwrap(), 2);
    }
}
