//! SCIM client errors: full sentences that name the request (method and path, never headers or the
//! token) and say what to do, plus the parser for the three error-body shapes a Notion endpoint may
//! use (docs/notion.md, "Errors and throttling").

use serde_json::Value;
use std::time::Duration;

/// The result of a SCIM client call.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a SCIM call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The token was refused: a 401, a 403 on a read, or a 403 on a write that a token check then
    /// confirmed. Every later call would fail the same way, so `apply` stops all writes on this one.
    #[error(
        "{method} {path} answered HTTP {status}{}: the SCIM token was rejected (it is invalid, \
         expired or revoked); {advice}",
        detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Unauthorized {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// 401 or 403.
        status: u16,
        /// The server's explanation, when its body had one.
        detail: Option<String>,
        /// What to do: names where the token is configured (never the token) and, for Notion, why
        /// tokens die; comes from the target profile.
        advice: String,
    },
    /// A 403 on a write: the target refused this one change. The token may still be good (Notion
    /// refuses name and email changes outside verified domains with a 403), so `apply` checks the
    /// token before it lets the run go on.
    #[error(
        "{method} {path} was refused by the target (HTTP {status}{}): {detail}; fix what the \
         target objects to, in the source or in the target, then run again",
        scim_type.as_deref().map(|t| format!(", {t}")).unwrap_or_default()
    )]
    Forbidden {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// 403.
        status: u16,
        /// The SCIM `scimType`, or the Notion `code` for Notion-shaped bodies.
        scim_type: Option<String>,
        /// The server's explanation, or an excerpt of the body.
        detail: String,
    },
    /// Any other non-success reply that was not retried (or still failed after retries).
    #[error(
        "{method} {path} failed with HTTP {status}{}: {detail}; check the request and the target's \
         state, then run again",
        scim_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default()
    )]
    Api {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// HTTP status.
        status: u16,
        /// The SCIM `scimType`, or the Notion `code` for Notion-shaped bodies.
        scim_type: Option<String>,
        /// The server's explanation, or an excerpt of the body.
        detail: String,
    },
    /// Throttled for longer than we are willing to wait, or still throttled after every retry.
    #[error(
        "{method} {path} was rate limited (HTTP {status}) and the target asked to wait {}s, longer \
         than allowed or after the last retry; lower the request rate or raise max_retry_after, then \
         run again later",
        retry_after.as_secs()
    )]
    RateLimited {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// 429 or 503.
        status: u16,
        /// The delay the target asked for (zero when it gave none).
        retry_after: Duration,
    },
    /// Not sent: earlier in this run the target asked for a wait longer than
    /// `target.max_retry_after`, and it has not passed.
    #[error(
        "{method} {path} was not sent: the target asked idbridge to wait (a Retry-After longer \
         than target.max_retry_after) and {}s of that wait remain; the target's request budget \
         is spent for now: run again after that, and lower the request rate (target.rate_limit) \
         if it happens on every run",
        retry_after.as_secs()
    )]
    HeldBack {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// How much of the wait remains.
        retry_after: Duration,
    },
    /// Timeout, connection failure or a reply body that could not be read.
    #[error(
        "{method} {path} could not reach the SCIM target: {detail}; check the URL, the network and \
         the timeout, then run again"
    )]
    Transport {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The target could not be connected to (connection refused, a host name that does not
    /// resolve, a TLS handshake that fails, no connection within the connect timeout). Nothing
    /// of the request was sent, so this is never a lost reply.
    #[error(
        "cannot connect to {url}: {detail} ({method} {path}); check target.url, DNS, the network, \
         any proxy and the target's TLS certificate, then run again"
    )]
    Connect {
        /// The target's base URL (without credentials, query or fragment).
        url: String,
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// Why, in words.
        detail: String,
    },
    /// A reply body larger than the configured maximum; idbridge stopped reading it.
    #[error(
        "{method} {path} answered HTTP {status} with a reply larger than {limit} bytes \
         (target.max_reply_bytes), so idbridge stopped reading it; a page of 100 users is about \
         100 KB: check that target.url is the SCIM base URL, or raise target.max_reply_bytes if \
         the target really sends replies that large"
    )]
    ReplyTooLarge {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// HTTP status of the reply.
        status: u16,
        /// The maximum, in bytes.
        limit: u64,
    },
    /// A paged read that makes no progress (the same ids again, or more pages than
    /// `totalResults` allows), in every attempt. Nothing was written.
    #[error(
        "GET {path} does not page: {detail}; idbridge stopped reading after {requests} page \
         requests and changed nothing from this read; check that the target (or a proxy in front \
         of it) honours startIndex and count, then run again"
    )]
    Paging {
        /// The listed collection, e.g. `/Users`.
        path: String,
        /// What the last attempt saw.
        detail: String,
        /// Page requests made over every attempt.
        requests: u64,
    },
    /// A success reply that idbridge cannot use (malformed JSON, a resource without `id`).
    #[error(
        "{method} {path} returned a reply idbridge cannot use: {detail}; the target may not be a \
         SCIM 2.0 service, check the base URL"
    )]
    InvalidReply {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Bad client settings or a request idbridge cannot build.
    #[error("SCIM client configuration error: {detail}")]
    Config {
        /// What is wrong and how to fix it.
        detail: String,
    },
}

impl Error {
    /// Whether the failure is the environment's rather than this request's: the target could not
    /// be reached, answered with a server error or something that is not SCIM, kept throttling,
    /// or refused the token. A later run may succeed without any change to the input.
    pub fn is_environment(&self) -> bool {
        match self {
            Error::Unauthorized { .. }
            | Error::Transport { .. }
            | Error::Connect { .. }
            | Error::RateLimited { .. }
            | Error::HeldBack { .. }
            | Error::ReplyTooLarge { .. }
            | Error::Paging { .. }
            | Error::InvalidReply { .. } => true,
            Error::Api { status, .. } => *status >= 500,
            Error::Forbidden { .. } | Error::Config { .. } => false,
        }
    }

    /// Whether the token was rejected: every later call will fail the same way.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Unauthorized { .. })
    }

    /// Whether a write was refused with 403: the change, or the token (only a token check can
    /// tell which).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Error::Forbidden { .. })
    }

    /// A refused write (`self`) whose token check (`check`) was refused too: the token was
    /// rejected, in the write's words, with the check's advice. Other pairs are returned as `self`.
    pub fn confirmed_by(self, check: &Error) -> Self {
        match (self, check) {
            (
                Error::Forbidden {
                    method,
                    path,
                    status,
                    detail,
                    ..
                },
                Error::Unauthorized {
                    method: check_method,
                    path: check_path,
                    status: check_status,
                    advice,
                    ..
                },
            ) => Error::Unauthorized {
                method,
                path,
                status,
                detail: Some(format!(
                    "{detail}; the token check that followed, {check_method} {check_path}, was \
                     refused too with HTTP {check_status}"
                )),
                advice: advice.clone(),
            },
            (other, _) => other,
        }
    }

    /// The same error with `note` added to the server's explanation (API errors and refusals
    /// only; other errors are returned unchanged).
    pub fn with_note(self, note: &str) -> Self {
        match self {
            Error::Api {
                method,
                path,
                status,
                scim_type,
                detail,
            } => Error::Api {
                method,
                path,
                status,
                scim_type,
                detail: format!("{detail}; {note}"),
            },
            Error::Forbidden {
                method,
                path,
                status,
                scim_type,
                detail,
            } => Error::Forbidden {
                method,
                path,
                status,
                scim_type,
                detail: format!("{detail}; {note}"),
            },
            other => other,
        }
    }

    /// The target's own reason when it refused the request for what it asked, as opposed to the
    /// token, the network or its health: a 403 (a write's caller must first rule out the token,
    /// as `apply` does) or a 400.
    pub fn refusal_detail(&self) -> Option<&str> {
        match self {
            Error::Forbidden { detail, .. } => Some(detail),
            Error::Api {
                status: 400,
                detail,
                ..
            } => Some(detail),
            _ => None,
        }
    }

    /// The HTTP status behind the error, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { status, .. }
            | Error::Forbidden { status, .. }
            | Error::Api { status, .. }
            | Error::RateLimited { status, .. } => Some(*status),
            Error::ReplyTooLarge { status, .. } => Some(*status),
            Error::Transport { .. }
            | Error::Connect { .. }
            | Error::HeldBack { .. }
            | Error::Paging { .. }
            | Error::InvalidReply { .. }
            | Error::Config { .. } => None,
        }
    }

    /// The SCIM `scimType` (or Notion `code`) of an API error.
    pub fn scim_type(&self) -> Option<&str> {
        match self {
            Error::Api { scim_type, .. } | Error::Forbidden { scim_type, .. } => {
                scim_type.as_deref()
            }
            _ => None,
        }
    }
}

/// The longest body excerpt quoted in an error.
const EXCERPT_CHARS: usize = 200;

/// Extract `(scimType or code, detail)` from an error body in any of the three shapes:
/// SCIM (`schemas:[…:Error]`, string `status`, `scimType`, `detail`), Notion public API
/// (`object:"error"`, numeric `status`, `code`, `message`) and Notion admin API (`type:"error"`,
/// `code`, `status`, `message`). Anything else falls back on the HTTP reason and a body excerpt.
pub fn parse_error_body(status: u16, body: &str) -> (Option<String>, String) {
    parse_error_body_with(status, body, &|text| text.to_owned())
}

/// [`parse_error_body`], with `redact` applied to every text taken from the body before it is
/// cut to an excerpt (a cut must never split a secret into a part that no longer matches).
pub fn parse_error_body_with(
    status: u16,
    body: &str,
    redact: &dyn Fn(&str) -> String,
) -> (Option<String>, String) {
    let (kind, detail) = explain_with(body, redact);
    let detail = detail.unwrap_or_else(|| {
        let excerpt = excerpt(&redact(body));
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected status");
        if excerpt.is_empty() {
            format!("{reason} (empty body)")
        } else {
            format!("{reason}: {excerpt}")
        }
    });
    (kind, detail)
}

/// The `(scimType or code, explanation)` a JSON error body carries, if any (see
/// [`parse_error_body`] for the shapes); `None` for what it does not say.
pub fn explain(body: &str) -> (Option<String>, Option<String>) {
    explain_with(body, &|text| text.to_owned())
}

/// [`explain`], with `redact` applied to what the body says before it is cut to an excerpt.
pub fn explain_with(
    body: &str,
    redact: &dyn Fn(&str) -> String,
) -> (Option<String>, Option<String>) {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return (None, None);
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let is_scim = map
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.ends_with(":Error")))
        });
    let is_notion =
        text("object").as_deref() == Some("error") || text("type").as_deref() == Some("error");
    let (kind, detail) = if is_scim {
        (text("scimType"), text("detail").or_else(|| text("message")))
    } else if is_notion {
        (text("code"), text("message").or_else(|| text("detail")))
    } else {
        // Unknown JSON: take whatever explanation it carries.
        (
            text("scimType")
                .or_else(|| text("code"))
                .or_else(|| text("error")),
            text("detail")
                .or_else(|| text("message"))
                .or_else(|| text("error_description")),
        )
    };
    (
        kind.map(|k| excerpt(&redact(&k))),
        detail.map(|d| excerpt(&redact(&d))),
    )
}

/// The first characters of `text` on one line, for quoting a body in an error.
pub(crate) fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > EXCERPT_CHARS {
        let cut: String = flat.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_shape() {
        let body = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409",
                       "scimType":"uniqueness","detail":"User already exists"}"#;
        assert_eq!(
            parse_error_body(409, body),
            (Some("uniqueness".into()), "User already exists".into())
        );
    }

    #[test]
    fn notion_public_shape() {
        let body =
            r#"{"object":"error","status":404,"code":"object_not_found","message":"No such user"}"#;
        assert_eq!(
            parse_error_body(404, body),
            (Some("object_not_found".into()), "No such user".into())
        );
    }

    #[test]
    fn notion_admin_shape() {
        let body =
            r#"{"type":"error","code":"validation_error","status":400,"message":"bad role"}"#;
        assert_eq!(
            parse_error_body(400, body),
            (Some("validation_error".into()), "bad role".into())
        );
    }

    #[test]
    fn non_json_and_empty_bodies() {
        let (kind, detail) = parse_error_body(502, "<html>\n  <b>Bad   gateway</b></html>");
        assert_eq!(kind, None);
        assert_eq!(detail, "Bad Gateway: <html> <b>Bad gateway</b></html>");
        let (_, detail) = parse_error_body(500, "");
        assert_eq!(detail, "Internal Server Error (empty body)");
        let (_, detail) = parse_error_body(500, &"x".repeat(1000));
        assert!(detail.chars().count() < 260);
    }

    #[test]
    fn scim_shape_without_detail_falls_back() {
        let body = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400"}"#;
        let (kind, detail) = parse_error_body(400, body);
        assert_eq!(kind, None);
        assert!(detail.starts_with("Bad Request"));
    }

    #[test]
    fn messages_name_request_and_status() {
        let err = Error::Api {
            method: "PATCH".into(),
            path: "/Users/1".into(),
            status: 400,
            scim_type: Some("invalidValue".into()),
            detail: "nope".into(),
        };
        let text = err.to_string();
        assert!(
            text.contains("PATCH /Users/1")
                && text.contains("400")
                && text.contains("invalidValue")
        );
        assert_eq!(err.status(), Some(400));
        assert!(!err.is_auth());
        let auth = Error::Unauthorized {
            method: "GET".into(),
            path: "/Users".into(),
            status: 401,
            detail: Some("The token has been revoked.".into()),
            advice: "update the file /etc/idbridge/token".into(),
        };
        assert!(auth.is_auth() && !auth.is_forbidden());
        let text = auth.to_string();
        assert!(
            text.contains("token was rejected")
                && text.contains("The token has been revoked.")
                && text.ends_with("update the file /etc/idbridge/token"),
            "{text}"
        );
    }

    #[test]
    fn a_refused_write_quotes_the_server_and_takes_a_note() {
        let err = Error::Forbidden {
            method: "PATCH".into(),
            path: "/Users/1".into(),
            status: 403,
            scim_type: Some("restricted_resource".into()),
            detail: "a@b.test is not in a verified domain".into(),
        };
        assert!(err.is_forbidden() && !err.is_auth());
        assert_eq!(
            (err.status(), err.scim_type()),
            (Some(403), Some("restricted_resource"))
        );
        let text = err.with_note("more").to_string();
        assert!(
            text.starts_with("PATCH /Users/1 was refused by the target (HTTP 403, restricted_resource): a@b.test is not in a verified domain; more;"),
            "{text}"
        );
        assert!(!text.contains("token"), "{text}");
    }

    #[test]
    fn a_refusal_confirmed_by_a_refused_check_is_a_rejected_token() {
        let refusal = || Error::Forbidden {
            method: "POST".into(),
            path: "/Users".into(),
            status: 403,
            scim_type: None,
            detail: "The token has been revoked.".into(),
        };
        let check = Error::Unauthorized {
            method: "GET".into(),
            path: "/Users".into(),
            status: 403,
            detail: None,
            advice: "update the file /t".into(),
        };
        let err = refusal().confirmed_by(&check);
        assert!(err.is_auth());
        assert_eq!(
            err.to_string(),
            "POST /Users answered HTTP 403 (The token has been revoked.; the token check that \
             followed, GET /Users, was refused too with HTTP 403): the SCIM token was rejected (it \
             is invalid, expired or revoked); update the file /t"
        );
        let unreachable = Error::Transport {
            method: "GET".into(),
            path: "/Users".into(),
            detail: "timeout".into(),
        };
        assert!(refusal().confirmed_by(&unreachable).is_forbidden());
    }

    #[test]
    fn explain_says_nothing_for_bodies_without_an_explanation() {
        assert_eq!(explain(""), (None, None));
        assert_eq!(explain("<html>denied</html>"), (None, None));
        assert_eq!(
            explain(
                r#"{"object":"error","code":"unauthorized","message":"The token is not valid."}"#
            ),
            (
                Some("unauthorized".into()),
                Some("The token is not valid.".into())
            )
        );
    }
}
