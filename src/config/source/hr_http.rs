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

/// How the records are asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpRequest {
    /// `GET` each page (any API; a BambooHR saved company report, `…/v1/reports/{id}`).
    Get,
    /// BambooHR's custom report: one `POST …/v1/reports/custom?format=JSON` whose body lists
    /// exactly these fields (the columns the row rules read), answered in one reply.
    BambooCustom {
        /// The field names, each once, in the columns' order.
        fields: Vec<String>,
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
    /// `GET` pages, or BambooHR's custom-report `POST`.
    pub request: HttpRequest,
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

/// The fields a BambooHR custom report is asked for: every column the row rules read (the
/// profile, the status and both dates), each once.
pub fn bamboo_fields(columns: &Columns) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for field in [
        &columns.employee_id,
        &columns.email,
        &columns.given_name,
        &columns.family_name,
        &columns.title,
        &columns.department,
        &columns.manager_email,
        &columns.status,
        &columns.start_date,
        &columns.termination_date,
    ] {
        if !fields.contains(field) {
            fields.push(field.clone());
        }
    }
    fields
}

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
        let (url, request) = if bamboo {
            self.bamboo_request(url, &columns, &c, s)?
        } else {
            (url, HttpRequest::Get)
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
            request,
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

    /// With the BambooHR preset, a URL without a report id (the API root `…/v1`, or
    /// `…/v1/reports/custom`) asks for a custom report of exactly the fields read; one naming a
    /// report (`…/v1/reports/{id}`) reads that saved report by `GET`, as any API.
    fn bamboo_request(
        &self,
        mut url: url::Url,
        columns: &Columns,
        c: &Common<'_>,
        s: &RawHrHttp,
    ) -> Result<(url::Url, HttpRequest), ConfigError> {
        let path = url.path().trim_end_matches('/').to_owned();
        if path.ends_with("/v1") {
            url.set_path(&format!("{path}/reports/custom"));
        } else if !path.ends_with("/reports/custom") {
            return Ok((url, HttpRequest::Get));
        }
        if let Some(key) = s.next.as_ref().or(s.page_param.as_ref()) {
            return self.invalid(
                key.span().start,
                &c.key(if s.next.is_some() {
                    "next"
                } else {
                    "page_param"
                }),
                "BambooHR answers a custom report in one reply: remove the paging keys",
            );
        }
        let at = s.url.as_ref().map_or(c.at, |u| u.span().start);
        match url.query_pairs().find(|(k, _)| k == "format") {
            Some((_, v)) if !v.eq_ignore_ascii_case("json") => {
                return self.invalid(
                    at,
                    &c.key("url"),
                    format!(
                        "the custom report is read as JSON, and the URL asks for format={v}: \
                         drop `format` from the URL (idbridge adds format=JSON)"
                    ),
                )
            }
            Some(_) => {}
            None => {
                url.query_pairs_mut().append_pair("format", "JSON");
            }
        }
        let fields = bamboo_fields(columns);
        Ok((url, HttpRequest::BambooCustom { fields }))
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
