//! Tokens (who created each, revoked or live), the `Authorization` check, and the per-token
//! rate-limit buckets.

use super::{ApiError, State, Status};
use crate::emulator::profile::{RateLimit, SeedUser, WorkspaceBudget};
use crate::emulator::NOTION_SCHEMA;
use serde_json::json;

#[derive(Debug, Clone)]
/// A SCIM token and the account that created it.
pub(crate) struct Token {
    pub token: String,
    pub owner_id: String,
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy)]
/// A token bucket of the rate limit.
pub(crate) struct Bucket {
    tokens: f64,
    at: tokio::time::Instant,
}

/// The workspace-wide budget and the window it is counted in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkspaceWindow {
    budget: Option<WorkspaceBudget>,
    /// When the current window opened, and the requests spent in it.
    current: Option<(tokio::time::Instant, u32)>,
}

impl WorkspaceWindow {
    pub fn new(budget: Option<WorkspaceBudget>) -> Self {
        Self {
            budget,
            current: None,
        }
    }

    /// Spend one request, or say how many whole seconds remain until the window ends.
    fn spend(&mut self, now: tokio::time::Instant) -> Result<(), u64> {
        let Some(budget) = self.budget else {
            return Ok(());
        };
        let window = std::time::Duration::from_secs(budget.window_secs);
        let (opened, used) = match self.current {
            Some((opened, used)) if now.saturating_duration_since(opened) < window => {
                (opened, used)
            }
            _ => (now, 0),
        };
        if used >= budget.requests {
            let left = window.saturating_sub(now.saturating_duration_since(opened));
            // Whole seconds, rounded up: a client that waits this long finds a fresh window.
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            self.current = Some((opened, used));
            return Err(secs.max(1));
        }
        self.current = Some((opened, used + 1));
        Ok(())
    }
}

impl State {
    pub fn add_token(&mut self, token: &str, owner: &str) {
        let owner_lower = owner.trim().to_ascii_lowercase();
        let owner_id = match self.owners_of(&owner_lower).first().copied() {
            Some(at) => self.edit_account(at, |account| {
                account.status = Status::Member;
                account
                    .doc
                    .insert(NOTION_SCHEMA.into(), json!({"role": "owner"}));
                account.id.clone()
            }),
            None => self.seed_user(&SeedUser {
                user_name: owner_lower,
                role: Some("owner".into()),
                ..SeedUser::default()
            }),
        };
        self.tokens.retain(|t| t.token != token);
        self.tokens.push(Token {
            token: token.to_owned(),
            owner_id,
            revoked: false,
        });
    }

    pub fn revoke_token(&mut self, token: &str) {
        for t in self.tokens.iter_mut().filter(|t| t.token == token) {
            t.revoked = true;
        }
    }

    pub(super) fn revoke_tokens_of(&mut self, account_id: &str) {
        for t in self.tokens.iter_mut().filter(|t| t.owner_id == account_id) {
            t.revoked = true;
        }
    }

    pub fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.rate_limit = limit;
        self.buckets.clear();
    }

    /// Set or clear the workspace-wide budget (a fresh window opens with the next request).
    pub fn set_workspace_budget(&mut self, budget: Option<WorkspaceBudget>) {
        self.workspace_window = WorkspaceWindow::new(budget);
    }

    /// The live token in an `Authorization` header, or the auth failure.
    pub fn authenticate(&self, header: Option<&str>) -> Result<String, ApiError> {
        let status = self.switches.auth_failure_status;
        let token = header
            .and_then(|h| {
                let (scheme, token) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| ApiError::new(status, "A bearer token is required."))?;
        match self.tokens.iter().find(|t| t.token == token) {
            Some(t) if !t.revoked => Ok(t.token.clone()),
            Some(_) => Err(ApiError::new(status, "The token has been revoked.")),
            None => Err(ApiError::new(status, "The token is not valid.")),
        }
    }

    /// Take one request from the workspace's budget and the token's bucket, or say how long to
    /// wait.
    pub fn rate_check(&mut self, token: &str) -> Result<(), ApiError> {
        let now = tokio::time::Instant::now();
        if let Err(secs) = self.workspace_window.spend(now) {
            return Err(ApiError {
                retry_after: Some(secs),
                ..ApiError::typed(
                    429,
                    "tooMany",
                    "The workspace's request budget is spent: retry after the window ends.",
                )
            });
        }
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let burst = f64::from(limit.burst.max(1));
        let bucket = self.buckets.entry(token.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / limit.per_second).ceil();
        // Saturating float-to-int cast; Retry-After is whole seconds, at least 1.
        let secs = (wait as u64).max(1);
        Err(ApiError {
            retry_after: Some(secs),
            ..ApiError::typed(429, "tooMany", "Rate limited: slow down and retry later.")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_workspace_window_refuses_until_it_ends_and_says_how_long() {
        let mut window = WorkspaceWindow::new(Some(WorkspaceBudget {
            requests: 2,
            window_secs: 3600,
        }));
        let start = tokio::time::Instant::now();
        assert_eq!(window.spend(start), Ok(()));
        assert_eq!(window.spend(start + Duration::from_secs(1)), Ok(()));
        assert_eq!(window.spend(start + Duration::from_secs(10)), Err(3590));
        assert_eq!(
            window.spend(start + Duration::from_millis(3_599_500)),
            Err(1),
            "a part of a second left is a whole second"
        );
        assert_eq!(window.spend(start + Duration::from_secs(3600)), Ok(()));
        assert_eq!(WorkspaceWindow::new(None).spend(start), Ok(()));
    }
}
