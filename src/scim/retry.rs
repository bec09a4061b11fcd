//! Retry policy: which replies are retried, how long to wait, and `Retry-After` parsing.
//!
//! Pure functions (no I/O, time passed in) so the policy is unit-tested without a server.

use chrono::{DateTime, Utc};
use std::time::{Duration, SystemTime};

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

/// Capped exponential backoff with jitter, one generator per logical request.
pub struct Backoff {
    inner: backon::ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    /// Delays starting near `base`, doubling, never above `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        use backon::BackoffBuilder;
        let inner = backon::ExponentialBuilder::new()
            .with_jitter()
            .with_min_delay(base)
            .with_max_delay(max)
            .without_max_times()
            .build();
        Self { inner, max }
    }

    /// The next delay. backon's jitter adds up to one more delay on top, so cap again here.
    pub fn next_delay(&mut self) -> Duration {
        self.inner.next().unwrap_or(self.max).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
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

    #[test]
    fn backoff_is_capped() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        for _ in 0..20 {
            let d = backoff.next_delay();
            assert!(d <= Duration::from_millis(50), "{d:?}");
            assert!(d >= Duration::from_millis(10), "{d:?}");
        }
    }
}
