//! The one integration test binary (ripgrep style): each module below talks to real peers
//! (the emulator over HTTP, SQLite and PostgreSQL, the CLI binary).

mod support;

mod boundaries;
mod emulator;
mod scim;
mod store;
