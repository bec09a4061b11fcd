//! What apply records of a patch for later plans (`store::WriteRecord`, read back by the
//! planner's convergence guard), per attribute and value sent: a patch the target refused on its
//! own, with the target's reason; a patch it took, with the value it showed right after (its
//! reply, else a `GET`). So the next run does not send again unchanged a write the target refused,
//! nor one whose value the target does not keep as sent (a case it normalises, an attribute it
//! drops).

use super::Ctx;
use crate::model::Attr;
use crate::plan::{Op, PatchUser};
use crate::scim::{self, wire, TargetRead};
use crate::store::{Outcome, WriteOutcome, WriteRecord};
use std::sync::atomic::Ordering;

/// Record a refusal of `op` (a patch) as each attribute it refuses: only when the target refused
/// it for what it asked, never the token (a 403 counts once the token check found the token
/// working). With Notion, a refused patch that holds name or email changes refuses those (the
/// verified-domain rule); otherwise every attribute of the patch.
pub(super) fn refused<W: TargetRead>(ctx: &Ctx<W>, op: &Op, e: &scim::Error) -> Vec<Outcome> {
    let Op::PatchUser(o) = op else {
        return Vec::new();
    };
    let Some(reason) = e.refusal_detail() else {
        return Vec::new();
    };
    if ctx.halted.load(Ordering::SeqCst)
        || (e.is_forbidden() && !ctx.token_works.load(Ordering::SeqCst))
    {
        return Vec::new();
    }
    let mut records = Vec::new();
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
        records.push(Outcome::Write(record));
    }
    tracing::info!(user = %o.user_name, "the target refused this patch; it is not sent again unchanged");
    records
}

/// Record what patch `o` sent (`pairs`) and what the target showed right after: its reply, else
/// a `GET` of the user. When neither can be read, nothing is recorded (the next plan compares
/// afresh), and the patch itself still counts as done. The records are committed with the
/// journal entry's outcome (module `commit`).
pub(super) async fn applied<W: TargetRead>(
    ctx: &Ctx<W>,
    o: &PatchUser,
    pairs: &[(Attr, Option<String>)],
    reply: Option<wire::User>,
) -> Vec<Outcome> {
    let user = match reply {
        Some(user) => Some(user),
        None => match ctx.target.get_user(&o.scim_id).await {
            Ok(user) => user,
            Err(e) => {
                tracing::warn!(user = %o.user_name, error = %e, "could not read the user back after a patch; its outcome is not recorded");
                None
            }
        },
    };
    let Some(user) = user else {
        return Vec::new();
    };
    let profile = ctx.target.profile();
    let shown = profile.to_target_user(&user).attrs;
    let mut records = Vec::new();
    for (attr, value) in pairs {
        let sent = value
            .as_deref()
            .and_then(|v| profile.normalise_value(*attr, v));
        let record = WriteRecord {
            read_back: shown.get(attr).map(str::to_owned),
            ..record(ctx, o, attr.path(), sent)
        };
        records.push(Outcome::Write(record));
    }
    records
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
