//! The client's concurrency bound, adaptive: additive increase, multiplicative decrease (AIMD).
//!
//! Honouring `Retry-After` alone does not end a 429 storm: every request in flight is refused,
//! waits, and comes back at the same moment as the others, so the same share is refused again
//! until operations run out of retries. So a throttled reply (429, 503, 529) also halves the
//! number of requests allowed in flight (never below 1), and successful replies grow it back by
//! one per [`GROWTH`] × the current limit of them, up to the configured concurrency.
//!
//! One refusal per "window" counts: a request started before the last change of the limit says
//! nothing about the new limit, so its 429 does not halve again (each permit carries the
//! generation it was taken in). Waiting requests are served first come, first served (tokio's
//! semaphore is fair), so a request that was throttled and waited is not overtaken indefinitely.

use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::Semaphore;

/// Successes needed per step of growth, in multiples of the current limit. TCP grows by one per
/// window; growing four times slower keeps a client that has found the target's limit from
/// probing past it every few requests, each probe costing some request a retry.
pub const GROWTH: usize = 4;

/// The limit's arithmetic, without any waiting (unit-tested on its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitState {
    /// Requests allowed in flight now (1..=max).
    pub limit: usize,
    /// The configured concurrency: the limit never grows past it.
    pub max: usize,
    /// Bumped at every change of the limit.
    pub generation: u64,
    /// Successful replies since the last change.
    pub successes: usize,
}

impl LimitState {
    /// A limit starting at `max` (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            limit: max,
            max,
            generation: 0,
            successes: 0,
        }
    }

    /// A throttled reply to a request started in `generation`: halve the limit (never below 1)
    /// unless the limit already changed since that request started. Returns how many permits
    /// the limit lost.
    pub fn throttled(&mut self, generation: u64) -> usize {
        if generation != self.generation || self.limit == 1 {
            return 0;
        }
        let before = self.limit;
        self.limit = (before / 2).max(1);
        self.changed();
        before - self.limit
    }

    /// A reply that was not throttled: grow by one after `GROWTH × limit` of them. Returns
    /// whether the limit grew.
    pub fn succeeded(&mut self) -> bool {
        if self.limit >= self.max {
            return false;
        }
        self.successes += 1;
        if self.successes < GROWTH * self.limit {
            return false;
        }
        self.limit += 1;
        self.changed();
        true
    }

    fn changed(&mut self) {
        self.generation += 1;
        self.successes = 0;
    }
}

/// The adaptive bound, shared by clones of a client.
#[derive(Debug)]
pub struct Limiter {
    permits: Semaphore,
    state: Mutex<Shared>,
}

#[derive(Debug)]
struct Shared {
    limit: LimitState,
    /// Permits to withhold when they come back: the limit shrank while they were out.
    debt: usize,
}

/// One request's place in flight; gives it back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    generation: u64,
}

impl Limiter {
    /// A bound of `max` requests in flight (at least 1).
    pub fn new(max: usize) -> Self {
        let limit = LimitState::new(max);
        Self {
            permits: Semaphore::new(limit.limit),
            state: Mutex::new(Shared { limit, debt: 0 }),
        }
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // The state is a few integers updated in one step each: a panic elsewhere cannot leave
        // it half-written, so a poisoned lock is still good.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait for a place in flight. `None` only if the semaphore was closed, which this type
    /// never does.
    pub async fn acquire(&self) -> Option<Permit<'_>> {
        let permit = self.permits.acquire().await.ok()?;
        // Given back by hand in `Drop`, so a shrunk limit can keep it.
        permit.forget();
        let generation = self.shared().limit.generation;
        Some(Permit {
            limiter: self,
            generation,
        })
    }

    /// The allowed concurrency now.
    pub fn limit(&self) -> usize {
        self.shared().limit.limit
    }

    fn throttled(&self, generation: u64) {
        let mut shared = self.shared();
        let lost = shared.limit.throttled(generation);
        if lost > 0 {
            let taken = self.permits.forget_permits(lost);
            shared.debt += lost - taken;
            tracing::warn!(
                limit = shared.limit.limit,
                "SCIM target is throttling; fewer requests in flight"
            );
        }
    }

    fn succeeded(&self) {
        let mut shared = self.shared();
        if shared.limit.succeeded() {
            if shared.debt > 0 {
                shared.debt -= 1;
            } else {
                self.permits.add_permits(1);
            }
            tracing::debug!(limit = shared.limit.limit, "SCIM requests in flight raised");
        }
    }

    fn release(&self) {
        let mut shared = self.shared();
        if shared.debt > 0 {
            shared.debt -= 1;
        } else {
            self.permits.add_permits(1);
        }
    }
}

impl Permit<'_> {
    /// Tell the limiter how the request ended: `Some(status)` for a reply, `None` when the reply
    /// was lost (which says nothing about throttling).
    pub fn report(&self, status: Option<u16>) {
        match status {
            Some(429 | 503 | 529) => self.limiter.throttled(self.generation),
            Some(_) => self.limiter.succeeded(),
            None => {}
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_throttle_halves_once_per_window_and_never_below_one() {
        let mut s = LimitState::new(8);
        let g = s.generation;
        assert_eq!(s.throttled(g), 4);
        assert_eq!(s.limit, 4);
        // Requests started under the old limit are refused too: no second halving for them.
        assert_eq!(s.throttled(g), 0);
        assert_eq!(s.limit, 4);
        assert_eq!(s.throttled(s.generation), 2);
        assert_eq!(s.throttled(s.generation), 1);
        assert_eq!(s.limit, 1);
        assert_eq!(s.throttled(s.generation), 0);
        assert_eq!(s.limit, 1);
        // 7 halves to 3.
        let mut s = LimitState::new(7);
        assert_eq!(s.throttled(0), 4);
        assert_eq!(s.limit, 3);
    }

    #[test]
    fn successes_grow_the_limit_slowly_up_to_the_maximum() {
        let mut s = LimitState::new(4);
        s.throttled(0);
        s.throttled(s.generation);
        assert_eq!(s.limit, 1);
        let mut grew_at = Vec::new();
        for n in 1..=200 {
            if s.succeeded() {
                grew_at.push(n);
            }
        }
        // GROWTH × 1, then GROWTH × 2, then GROWTH × 3 successes; never past 4.
        assert_eq!(grew_at, vec![4, 12, 24]);
        assert_eq!(s.limit, 4);
        // A throttle resets the count of successes.
        let mut s = LimitState::new(4);
        s.throttled(0);
        for _ in 0..7 {
            s.succeeded();
        }
        let g = s.generation;
        s.throttled(g);
        assert_eq!((s.limit, s.successes), (1, 0));
        assert!(!LimitState::new(3).succeeded(), "already at the maximum");
        assert_eq!(LimitState::new(0).limit, 1);
    }

    #[tokio::test]
    async fn permits_follow_the_limit() {
        let limiter = Limiter::new(4);
        let held: Vec<Permit<'_>> = vec![
            limiter.acquire().await.unwrap(),
            limiter.acquire().await.unwrap(),
            limiter.acquire().await.unwrap(),
            limiter.acquire().await.unwrap(),
        ];
        held[0].report(Some(429));
        assert_eq!(limiter.limit(), 2);
        // Two of the four in flight must come back before anyone else may start.
        drop(held);
        let a = limiter.acquire().await.unwrap();
        let b = limiter.acquire().await.unwrap();
        assert_eq!(
            limiter.permits.available_permits(),
            0,
            "a third may not start"
        );
        a.report(Some(200));
        drop(a);
        assert_eq!(limiter.permits.available_permits(), 1);
        let c = limiter.acquire().await.unwrap();
        drop((b, c));
        // Growth hands out one more permit.
        for _ in 0..GROWTH * 2 {
            limiter.acquire().await.unwrap().report(Some(201));
        }
        assert_eq!(limiter.limit(), 3);
        let all: Vec<_> = vec![
            limiter.acquire().await.unwrap(),
            limiter.acquire().await.unwrap(),
            limiter.acquire().await.unwrap(),
        ];
        assert_eq!(all.len(), 3);
    }
}
