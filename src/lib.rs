//! idbridge: an identity provisioning bridge from LDAP/AD and HR systems to Notion (and any SCIM 2.0
//! service), with SAML SSO checks.
//!
//! Data flows one way: `connectors` -> `mapping` -> `plan` -> `apply` -> `store` -> `report`.
//! The pure core (`model`, `mapping`, `plan`, `report`) does no I/O and reads no clock: it takes
//! `now` as an argument. Edges (`connectors`, `scim`, `store`, `apply`, `emulator`, `cli`)
//! do the I/O. `config` is the only module that reads files and environment variables for settings
//! and secrets; `retry` is the retry policy the HTTP edges share. `saml` checks SSO documents on the side (its rules are pure too). `alert` is a sink downstream
//! of a run's report: `serve` hands it each run's outcome. What each module
//! owns and may import: docs/architecture.md.

// The library has no `unsafe`, and must not gain any: the package's only `unsafe` is the
// binary's setting of one allocator option and its test (src/main.rs, `purge_sooner`).
#![forbid(unsafe_code)]

pub mod alert;
pub mod apply;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod emulator;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod mapping;
pub mod model;
pub mod notion_api;
pub mod plan;
pub mod report;
pub mod retry;
pub mod saml;
pub mod scim;
pub mod serve;
pub mod store;

#[cfg(test)]
mod spellings;
