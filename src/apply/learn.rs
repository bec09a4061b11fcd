//! What apply records of a patch for later plans (`store::WriteRecord`, read back by the
//! planner's convergence guard): a patch the target refused on its own, per attribute, with the
//! target's reason, so the next run does not send it again unchanged.

use super::Ctx;
use crate::plan::{Op, PatchUser};
use crate::scim::{self, TargetRead};
use crate::store::{self, WriteOutcome, WriteRecord};
use std::sync::atomic::Ordering;

/// Record a refusal of `op` (a patch) as each attribute it refuses: only when the target refused
/// it for what it asked, never the token (a 403 counts once the token check found the token
/// working). With Notion, a refused patch that holds name or email changes refuses those (the
/// verified-domain rule); otherwise every attribute of the patch.
pub(super) async fn refused<W: TargetRead>(
    ctx: &Ctx<W>,
    op: &Op,
    e: &scim::Error,
) -> Result<(), store::Error> {
    let Op::PatchUser(o) = op else {
        return Ok(());
    };
    let Some(reason) = e.refusal_detail() else {
        return Ok(());
    };
    if ctx.halted.load(Ordering::SeqCst)
        || (e.is_forbidden() && !ctx.token_works.load(Ordering::SeqCst))
    {
        return Ok(());
    }
    let profile = ctx.target.profile();
    let pairs = super::patch_pairs(&o.changes);
    let targeted = pairs.iter().any(|(a, _)| profile.refusal_targets(*a));
    for (attr, value) in pairs
        .iter()
        .filter(|(a, _)| !targeted || profile.refusal_targets(*a))
    {
        let sent = value
            .as_deref()
            .and_then(|v| profile.normalise_value(*attr, v));
        let record = WriteRecord {
            outcome: WriteOutcome::Refused,
            reason: Some(reason.to_owned()),
            http_status: e.status(),
            ..record(ctx, o, attr.path(), sent)
        };
        ctx.store.record_write(&record).await?;
    }
    tracing::info!(user = %o.user_name, "the target refused this patch; it is not sent again unchanged");
    Ok(())
}

/// A record of `attr` for patch `o`, applied with nothing read back until the caller says more.
fn record<W>(ctx: &Ctx<W>, o: &PatchUser, attr: &str, sent: Option<String>) -> WriteRecord {
    WriteRecord {
        target_name: ctx.opts.target_name.clone(),
        scim_id: o.scim_id.clone(),
        attr: attr.to_owned(),
        sent,
        outcome: WriteOutcome::Applied,
        read_back: None,
        reason: None,
        http_status: None,
        user_name: o.user_name.to_string(),
        source_key: Some(o.source_key.to_string()),
        run_id: Some(ctx.run_id),
        recorded_at: ctx.clock.now(),
    }
}
