//! The one integration test binary (ripgrep style): each module below talks to real peers
//! (the emulator over HTTP, SQLite and PostgreSQL, the CLI binary).

// A failing test should stop at the line that failed; helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod alerts;
mod alerts_notion;
mod bamboohr;
mod boundaries;
mod concurrent_reads;
mod config;
mod converge;
mod docs;
mod emulator;
mod exit_codes;
mod explain;
mod gates;
mod hr_http;
mod kill9;
mod ldap;
mod ldap_sync;
mod lifecycle;
mod notion_fidelity;
mod notion_matrix;
mod notion_publish;
mod output;
mod rehire;
mod reports;
mod reports_html;
mod roles;
mod run_lock;
mod safety;
mod saml;
mod scim;
mod serve;
mod sources;
mod store;
mod sync;
mod target;
mod token;
