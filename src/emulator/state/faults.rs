//! Faults injected into later requests: the ones a profile or the control API queued (an HTTP
//! status, a dropped connection, a delay), each firing once on the nth request that matches it,
//! and chaos, which draws faults for every request from its own seeded RNG.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::State;
use crate::emulator::profile::{Chaos, Fault, FaultKind};

#[derive(Debug, Clone)]
/// A queued fault and how many matching requests it has seen.
pub(crate) struct PendingFault {
    fault: Fault,
    seen: u64,
}

/// The order one list call sees its items in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListOrder {
    /// List order (by `seq`).
    Listed,
    /// A new shuffle from the state's RNG (the `unstable_order` switch).
    Fresh,
    /// Chaos's current order: the permutation this seed draws.
    Seeded(u64),
}

impl State {
    pub fn push_fault(&mut self, fault: Fault) {
        self.faults.push(PendingFault { fault, seen: 0 });
    }

    /// Turn chaos on (its RNG restarts from its seed) or off.
    pub fn set_chaos(&mut self, chaos: Option<Chaos>) {
        self.order_epoch = 0;
        self.chaos = chaos.map(|c| {
            let rng = StdRng::seed_from_u64(c.seed);
            (c, rng)
        });
    }

    pub fn chaos(&self) -> Option<Chaos> {
        self.chaos.as_ref().map(|(c, _)| c.clone())
    }

    /// Put one list call's items (in list order) in the order it sees: reshuffled on every
    /// call by the `unstable_order` switch, or in chaos's current order, which changes on a
    /// share of calls. That order is a permutation drawn from a seed that only changes with
    /// it, so calls between two changes see the same order (of the same set of items).
    pub(super) fn arrange<T>(&mut self, items: &mut [T]) {
        let order = self.next_order();
        self.put_in_order(order, items);
    }

    /// Put items (in list order) in the order `next_order` chose.
    pub(super) fn put_in_order<T>(&mut self, order: ListOrder, items: &mut [T]) {
        match order {
            ListOrder::Listed => {}
            ListOrder::Fresh => items.shuffle(&mut self.rng),
            ListOrder::Seeded(seed) => items.shuffle(&mut StdRng::seed_from_u64(seed)),
        }
    }

    /// Which order this list call sees (drawing chaos's change, as `arrange` does), so a call
    /// in list order can serve its page without copying the whole list.
    pub(super) fn next_order(&mut self) -> ListOrder {
        if self.switches.unstable_order {
            return ListOrder::Fresh;
        }
        let Some((chaos, rng)) = self.chaos.as_mut() else {
            return ListOrder::Listed;
        };
        let change: f64 = rng.random();
        if change < chaos.reorder {
            self.order_epoch = rng.random::<u64>().max(1);
        }
        match self.order_epoch {
            0 => ListOrder::Listed,
            seed => ListOrder::Seeded(seed),
        }
    }

    /// The faults for this request: a queued fault that is due (it alone), else chaos's draws.
    pub fn due_faults(&mut self, method: &str, path: &str, rest: &str) -> Vec<FaultKind> {
        match self.take_fault(method, path, rest) {
            Some(kind) => vec![kind],
            None => self.draw_chaos(),
        }
    }

    /// One refusal draw (429, a 5xx, or served), then for a served request a draw for a lost
    /// reply and one for a slow reply. The same number of draws whatever comes out, so one
    /// request's outcome does not shift the draws of the next.
    fn draw_chaos(&mut self) -> Vec<FaultKind> {
        let Some((chaos, rng)) = self.chaos.as_mut() else {
            return Vec::new();
        };
        let refusal: f64 = rng.random();
        let which: u8 = rng.random_range(0..3);
        let drop: f64 = rng.random();
        let slow: f64 = rng.random();
        if refusal < chaos.throttle {
            return vec![FaultKind::Status429 {
                retry_after_secs: chaos.retry_after_secs,
            }];
        }
        if refusal < chaos.throttle + chaos.server_error {
            let kind = match which {
                0 => FaultKind::Status500,
                1 => FaultKind::Status503,
                _ => FaultKind::Status529,
            };
            return vec![kind];
        }
        let mut kinds = Vec::new();
        if drop < chaos.commit_then_drop {
            kinds.push(FaultKind::CommitThenDrop);
        }
        if slow < chaos.slow {
            kinds.push(FaultKind::Stall {
                millis: chaos.slow_millis,
            });
        }
        kinds
    }

    /// The first pending fault that is due for this request, consumed. Every matching fault
    /// counts the request, so two faults on the same route keep independent counts.
    pub fn take_fault(&mut self, method: &str, path: &str, rest: &str) -> Option<FaultKind> {
        let mut fired = None;
        for (at, pending) in self.faults.iter_mut().enumerate() {
            let fault = &pending.fault;
            let method_ok = fault
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            let path_ok = fault.path_prefix.as_deref().is_none_or(|p| {
                path.to_ascii_lowercase()
                    .starts_with(&p.to_ascii_lowercase())
                    || rest
                        .to_ascii_lowercase()
                        .starts_with(&p.to_ascii_lowercase())
            });
            if method_ok && path_ok {
                pending.seen += 1;
                if fired.is_none() && pending.seen >= fault.nth {
                    fired = Some(at);
                }
            }
        }
        fired.map(|at| self.faults.remove(at).fault.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::emulator::profile::Profile;
    use std::sync::Arc;

    fn state_with(chaos: Chaos) -> State {
        use chrono::TimeZone;
        let clock = FixedClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
        State::new(
            Profile {
                chaos: Some(chaos),
                ..Profile::default()
            },
            Arc::new(clock),
        )
    }

    fn draws(st: &mut State, n: usize) -> Vec<Vec<FaultKind>> {
        (0..n)
            .map(|_| st.due_faults("POST", "/scim/v2/Users", "/Users"))
            .collect()
    }

    #[test]
    fn chaos_draws_its_shares_and_replays_from_its_seed() {
        let n = 20_000;
        let mut st = state_with(Chaos::soak(7));
        let first = draws(&mut st, n);
        let count = |pred: &dyn Fn(&FaultKind) -> bool| {
            first.iter().filter(|k| k.iter().any(pred)).count() as f64 / n as f64
        };
        let throttled = count(&|k| {
            matches!(
                k,
                FaultKind::Status429 {
                    retry_after_secs: 1
                }
            )
        });
        let failed = count(&|k| {
            matches!(
                k,
                FaultKind::Status500 | FaultKind::Status503 | FaultKind::Status529
            )
        });
        let dropped = count(&|k| *k == FaultKind::CommitThenDrop);
        let slow = count(&|k| matches!(k, FaultKind::Stall { millis: 300 }));
        assert!((throttled - 0.5).abs() < 0.02, "429: {throttled}");
        assert!((failed - 0.1).abs() < 0.01, "5xx: {failed}");
        // Drops and slow replies are drawn among the 40% of requests that are served.
        assert!((dropped - 0.02).abs() < 0.005, "dropped: {dropped}");
        assert!((slow - 0.02).abs() < 0.005, "slow: {slow}");
        st.set_chaos(Some(Chaos::soak(7)));
        assert_eq!(
            draws(&mut st, n),
            first,
            "the same seed draws the same faults"
        );
        st.set_chaos(Some(Chaos::soak(8)));
        assert_ne!(draws(&mut st, 50), first[..50].to_vec());
        st.set_chaos(None);
        assert!(draws(&mut st, 100).iter().all(Vec::is_empty));
    }

    #[test]
    fn chaos_changes_the_list_order_on_a_share_of_calls_and_keeps_it_between() {
        let list = |st: &mut State| {
            let mut items: Vec<u32> = (0..50).collect();
            st.arrange(&mut items);
            items
        };
        let mut st = state_with(Chaos::default());
        let natural: Vec<u32> = (0..50).collect();
        assert!(
            (0..20).all(|_| list(&mut st) == natural),
            "reorder 0 keeps list order"
        );
        st.set_chaos(Some(Chaos {
            reorder: 0.1,
            ..Chaos::default()
        }));
        let seen: Vec<Vec<u32>> = (0..400).map(|_| list(&mut st)).collect();
        let changes = seen.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(
            (20..=60).contains(&changes),
            "{changes} changes in 400 calls"
        );
        let mut sorted = seen[399].clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted, natural,
            "every order is a permutation of the same items"
        );
    }

    #[test]
    fn a_queued_fault_comes_before_chaos() {
        let mut st = state_with(Chaos {
            throttle: 1.0,
            ..Chaos::default()
        });
        st.push_fault(Fault {
            nth: 1,
            method: None,
            path_prefix: None,
            kind: FaultKind::CommitThenDrop,
        });
        assert_eq!(draws(&mut st, 1), vec![vec![FaultKind::CommitThenDrop]]);
        assert!(matches!(
            draws(&mut st, 1)[0][..],
            [FaultKind::Status429 { .. }]
        ));
    }
}
