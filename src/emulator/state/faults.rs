//! Faults a profile or the control API queued for later requests (an HTTP status, a dropped
//! connection, a delay), each firing on the nth request that matches it.

use super::State;
use crate::emulator::profile::{Fault, FaultKind};

#[derive(Debug, Clone)]
/// A queued fault and how many matching requests it has seen.
pub(crate) struct PendingFault {
    fault: Fault,
    seen: u64,
}

impl State {
    pub fn push_fault(&mut self, fault: Fault) {
        self.faults.push(PendingFault { fault, seen: 0 });
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
