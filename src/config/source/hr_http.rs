//! `kind = "hr-http"`: an HR system's JSON API (the BambooHR preset included): where the records
//! are in a reply, how it pages and how it authenticates.

use super::{date_format, Columns, Common, SourceSettings};
use crate::config::raw::{RawColumns, RawHrHttp};
use crate::config::resolve::Resolver;
use crate::config::ConfigError;
use crate::model::StatusKind;
use chrono_tz::Tz;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::time::Duration;

/// How an HR API authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic base64(<token>:x)` (BambooHR's API-key scheme).
    Basic,
}

/// How an HR API pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpPaging {
    /// One reply holds everything.
    None,
    /// Each reply names the next page's URL at this dotted path; absent or empty ends the read.
    NextLink(String),
    /// A page-number query parameter, from `start`, until a page has no records.
    PageNumber {
        /// Parameter name.
        param: String,
        /// First page number.
        start: u64,
    },
}

/// Resolved `kind = "hr-http"` source.
#[derive(Debug, Clone)]
pub struct HrHttpSettings {
    /// Source name.
    pub name: String,
    /// First page URL.
    pub url: url::Url,
    /// API token (redacted in Debug).
    pub token: Option<SecretString>,
    /// Auth scheme.
    pub auth: HttpAuth,
    /// Dotted path to the records array (empty: the reply is the array).
    pub records: String,
    /// Dotted path to the record count the API reports, if it reports one.
    pub total: Option<String>,
    /// Paging.
    pub paging: HttpPaging,
    /// Field names (same roles as CSV columns).
    pub columns: Columns,
    /// Status map.
    pub status_map: BTreeMap<String, StatusKind>,
    /// Time zone of dates.
    pub timezone: Tz,
    /// Date format.
    pub date_format: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Most pages read.
    pub max_pages: u32,
    /// Largest reply read, in bytes: a larger one fails the read.
    pub max_reply_bytes: u64,
    /// Join attribute.
    pub join_attr: String,
}

/// Default `max_reply_bytes` of an HR API: a whole-company report (BambooHR sends one reply) of
/// 100,000 people fits.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 64 * 1024 * 1024;

pub(in crate::config) const AUTHS: [(&str, HttpAuth); 2] =
    [("bearer", HttpAuth::Bearer), ("basic", HttpAuth::Basic)];
/// `preset`: `true` for BambooHR, the only one so far.
pub(in crate::config) const PRESETS: [(&str, bool); 1] = [("bamboohr", true)];

/// BambooHR custom-report field names (docs/config.md); explicit columns still win.
fn bamboo_columns(c: &RawColumns) -> Columns {
    let pick =
        |set: &Option<String>, preset: &str| set.clone().unwrap_or_else(|| preset.to_owned());
    Columns {
        employee_id: pick(&c.employee_id, "id"),
        email: pick(&c.email, "workEmail"),
        given_name: pick(&c.given_name, "firstName"),
        family_name: pick(&c.family_name, "lastName"),
        title: pick(&c.title, "jobTitle"),
        department: pick(&c.department, "department"),
        manager_email: pick(&c.manager_email, "supervisorEmail"),
        status: pick(&c.status, "status"),
        start_date: pick(&c.start_date, "hireDate"),
        termination_date: pick(&c.termination_date, "terminationDate"),
    }
}

impl Resolver<'_> {
    pub(super) fn hr_http(
        &self,
        c: Common<'_>,
        s: &RawHrHttp,
    ) -> Result<SourceSettings, ConfigError> {
        let Some(url_text) = &s.url else {
            return self.invalid(c.at, &c.key("url"), "an hr-http source needs `url`");
        };
        let url = self.url(
            url_text.get_ref(),
            url_text.span().start,
            &c.key("url"),
            &["https", "http"],
            "token_env or token_file",
        )?;
        let bamboo = self.choice(&s.preset, &c.key("preset"), &PRESETS, false)?;
        let token = self.optional_secret(&s.token_env, &s.token_file, &c.key("token"))?;
        let default_auth = if bamboo {
            HttpAuth::Basic
        } else {
            HttpAuth::Bearer
        };
        let auth = self.choice(&s.auth, &c.key("auth"), &AUTHS, default_auth)?;
        let paging = self.paging(&c, s)?;
        let columns = if bamboo {
            bamboo_columns(&s.columns)
        } else {
            Columns::resolve(&s.columns)
        };
        let timezone = self.timezone(&s.timezone, &c.key("timezone"))?;
        let records = match &s.records {
            Some(r) => r.get_ref().clone(),
            None if bamboo => "employees".to_owned(),
            None => String::new(),
        };
        Ok(SourceSettings::HrHttp(Box::new(HrHttpSettings {
            name: c.name.to_owned(),
            url,
            token,
            auth,
            records,
            total: s.total.as_ref().map(|t| t.get_ref().trim().to_owned()),
            paging,
            columns,
            status_map: self.status_map(&s.status_map, &format!("sources[{}]", c.i))?,
            timezone,
            date_format: date_format(&s.date_format),
            timeout: self.duration(&s.timeout, &c.key("timeout"), Duration::from_secs(30))?,
            max_pages: self.positive(&s.max_pages, &c.key("max_pages"), 10_000, 1_000_000)? as u32,
            max_reply_bytes: self.positive(
                &s.max_reply_bytes,
                &c.key("max_reply_bytes"),
                DEFAULT_MAX_REPLY_BYTES as i64,
                1 << 34,
            )? as u64,
            join_attr: c.join_attr,
        })))
    }

    /// `next` (next-link paging) or `page_param`/`page_start` (page numbers), not both.
    fn paging(&self, c: &Common<'_>, s: &RawHrHttp) -> Result<HttpPaging, ConfigError> {
        Ok(match (&s.next, &s.page_param) {
            (Some(n), Some(_)) => {
                return self.invalid(
                    n.span().start,
                    &c.key("next"),
                    "set either `next` or `page_param`, not both",
                )
            }
            (Some(n), None) => HttpPaging::NextLink(n.get_ref().clone()),
            (None, Some(p)) => HttpPaging::PageNumber {
                param: p.get_ref().clone(),
                start: s.page_start.unwrap_or(1).max(0) as u64,
            },
            (None, None) => HttpPaging::None,
        })
    }
}
