//! What a failed SCIM call means for the run: a rejected token halts it; a 403 on a write is
//! checked against the token first (`GET /Users?count=1`), once per run, under the gate of
//! [`super::Ctx`] so that refusals in flight wait for one verdict instead of checking again.

use super::Ctx;
use crate::scim::{self, TargetRead};
use std::sync::atomic::Ordering;

/// The operation's message for failure `e`, after halting the run if the token is rejected.
pub(super) async fn judge_failure<W: TargetRead>(ctx: &Ctx<W>, e: &scim::Error) -> String {
    if e.is_auth() {
        halt(ctx, e.to_string());
        return e.to_string();
    }
    if !e.is_forbidden() || ctx.token_works.load(Ordering::SeqCst) {
        return e.to_string();
    }
    let _gate = ctx.gate.write().await;
    if ctx.halted.load(Ordering::SeqCst) {
        return format!(
            "{e}; the SCIM token was rejected in this run, so this refusal may be the token's too"
        );
    }
    if ctx.token_works.load(Ordering::SeqCst) {
        return e.to_string();
    }
    match ctx.target.probe().await {
        Ok(()) => {
            ctx.token_works.store(true, Ordering::SeqCst);
            tracing::info!(error = %e, "the token still works: only this operation was refused");
            e.to_string()
        }
        Err(check) if check.is_auth() => {
            let reason = e.clone().confirmed_by(&check).to_string();
            halt(ctx, reason.clone());
            reason
        }
        // The check could not decide (target unreachable, throttled): fail this operation only;
        // the next refusal checks again.
        Err(check) => {
            format!("{e}; whether the SCIM token still works could not be checked: {check}")
        }
    }
}

/// Stop every write that has not started; the first reason is the run's.
fn halt<W>(ctx: &Ctx<W>, reason: String) {
    if !ctx.halted.swap(true, Ordering::SeqCst) {
        tracing::error!(error = %reason, "stopping all writes");
        if let Ok(mut slot) = ctx.halt_reason.lock() {
            *slot = Some(reason);
        }
    }
}
