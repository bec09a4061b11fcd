//! A report sink: Notion's public REST API (`api.notion.com/v1`), used to publish audit reports
//! into a Notion database, one page per row, updated in place (docs/reports.md, "Publishing to
//! Notion"; the API facts idbridge relies on are docs/notion.md, "Public API used for
//! publishing").
//!
//! - [`client`]: a small client of the three endpoints idbridge needs (query a database by a key
//!   property with cursor paging, create a page, update a page's properties) plus the database's
//!   schema, within Notion's rate limit, with `Retry-After` honoured through the shared retry
//!   policy (`retry`), every reply body read up to a bound, and the integration token kept out of
//!   every message. It is the library other sinks (an alert page) build on.
//! - [`props`]: property values, pure: a report cell as the property type the database gives the
//!   column (rich text cut into chunks of at most 2,000 characters and 100 items), and a page's
//!   property read back, so an unchanged page is not written again.
//! - [`publish`]: a `report::Report` into a database: the columns matched to the schema before
//!   any write, existing pages found by their key (the title property), then created, updated or
//!   left as they are.
//!
//! Downstream of `report` in the one-way flow; may import `report`, `clock`, `retry` and `scim`
//! (its token `Redactor` only).

pub mod client;
pub mod error;
pub mod props;
pub mod publish;

pub use client::{Client, Counts, DatabaseId, Key, Page, Settings, DEFAULT_URL, DEFAULT_VERSION};
pub use error::{Error, Result};
pub use props::{PropType, Schema};
pub use publish::{publish, Layout, Outcome};
