//! The generic RFC 7644 SCIM client, with a target profile for Notion's quirks.
//!
//! - [`wire`]: lenient SCIM resource types.
//! - [`profile`]: the only place that knows Notion (normalisation, request bodies, filters).
//! - [`client`]: HTTP with rate budget, bounded concurrency, retries and duplicate-free creates.
//! - [`retry`]: the retry policy and `Retry-After` parsing.
//! - [`limiter`]: the adaptive (AIMD) bound on requests in flight.
//! - [`paging`]: the bookkeeping of a paged read, and when it makes no progress.
//! - [`redact`]: the token and its encoded forms, scrubbed from server text.
//! - `stats`: request, retry and 429 counters per client, for the run's record.
//! - [`error`]: errors that name the request and say what to do; never the token.

pub mod client;
pub mod error;
pub mod limiter;
pub mod paging;
pub mod profile;
pub mod redact;
pub mod retry;
mod stats;
pub mod wire;

pub use client::{Client, ClientSettings, CreateOutcome, GroupRead, UserRead};
pub use error::{Error, Result};
pub use profile::{Lookup, MemberRemoval, Profile, TargetKind};
pub use stats::RequestCounts;
