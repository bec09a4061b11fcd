//! Lost-reply recovery: the writes that are not simply sent again.
//!
//! A POST is not idempotent (RFC 9110 §9.2.2). After a reply is lost (timeout, transport
//! error, unreadable body, 5xx) the create may have committed, so before it is sent again the
//! resource is looked up, and returned if found. A connection that could not be made sent
//! nothing, so it needs no lookup. A DELETE whose earlier attempt lost its reply and that now
//! finds nothing (404) did its work the first time.

use super::error::Result;
use super::transport::{path_of, Core, Reply};
use crate::retry::{Earlier, Failed};
use reqwest::Method;
use serde_json::Value;
use std::future::Future;

/// A create request either got a reply or was found by lookup after a lost reply.
pub(super) enum Created<T> {
    Reply(Reply),
    Recovered(T),
}

impl Core {
    /// Send a create: retried only after `lookup` confirms the lost write did not commit.
    pub(super) async fn send_create<T, F, Fut>(
        &self,
        segments: &[&str],
        body: &Value,
        lookup: F,
    ) -> Result<Created<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let path = path_of(segments);
        let (path, lookup) = (path.as_str(), &lookup);
        self.retrying("POST", path, |earlier: Earlier| async move {
            if earlier.last_maybe_applied {
                // The write may have landed: look before writing again.
                if let Some(found) = lookup().await.map_err(Failed::never)? {
                    tracing::info!(
                        path,
                        "SCIM create reply was lost but the resource exists; adopting it"
                    );
                    return Ok(Created::Recovered(found));
                }
            }
            let attempt = self
                .attempt(&Method::POST, segments, &[], Some(body))
                .await
                .map_err(Failed::never)?;
            let (status, body) = self.judge("POST", path, attempt)?;
            Ok(Created::Reply(Reply {
                status,
                body,
                after_lost: earlier.any_maybe_applied,
            }))
        })
        .await
    }

    /// `DELETE` (204 or 200). A 404 on a retry after a lost reply counts as done.
    pub(super) async fn delete(&self, segments: &[&str]) -> Result<()> {
        let path = path_of(segments);
        let reply = self.send(Method::DELETE, segments, &[], None).await?;
        if reply.status == 404 && reply.after_lost {
            return Ok(());
        }
        self.expect_ok("DELETE", &path, &reply)
    }
}
