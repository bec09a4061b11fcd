//! Tokens (who created each, revoked or live), the `Authorization` check, and the per-token
//! rate-limit buckets.

use super::{ApiError, State, Status};
use crate::emulator::profile::{RateLimit, SeedUser};
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

impl State {
    pub fn add_token(&mut self, token: &str, owner: &str) {
        let owner_lower = owner.trim().to_ascii_lowercase();
        let owner_id = match self
            .accounts
            .iter_mut()
            .find(|a| a.owns_email(&owner_lower))
        {
            Some(account) => {
                account.status = Status::Member;
                account
                    .doc
                    .insert(NOTION_SCHEMA.into(), json!({"role": "owner"}));
                account.id.clone()
            }
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

    /// Take one request from the token's bucket, or say how long to wait.
    pub fn rate_check(&mut self, token: &str) -> Result<(), ApiError> {
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let now = tokio::time::Instant::now();
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
