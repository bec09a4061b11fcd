//! SCIM client errors: full sentences that name the request (method and path, never headers or the
//! token) and say what to do, plus the parser for the three error-body shapes a Notion endpoint may
//! use (docs/notion-scim.md §12).

use serde_json::Value;
use std::time::Duration;

/// The result of a SCIM client call.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a SCIM call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401 or 403: the token is dead. `apply` stops all writes on this one.
    #[error(
        "{method} {path} answered HTTP {status}: the SCIM token was rejected: it is invalid or was \
         revoked (Notion revokes a token when the owner who created it leaves or changes role); \
         create a new token and update NOTION_SCIM_TOKEN"
    )]
    Unauthorized {
        /// HTTP method.
        method: String,
        /// Request path relative to the base URL.
        path: String,
        /// 401 or 403.
        status: u16,
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
    /// Whether the token was rejected (401/403): every later call will fail the same way.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Unauthorized { .. })
    }

    /// The HTTP status behind the error, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { status, .. }
            | Error::Api { status, .. }
            | Error::RateLimited { status, .. } => Some(*status),
            Error::Transport { .. } | Error::InvalidReply { .. } | Error::Config { .. } => None,
        }
    }

    /// The SCIM `scimType` (or Notion `code`) of an API error.
    pub fn scim_type(&self) -> Option<&str> {
        match self {
            Error::Api { scim_type, .. } => scim_type.as_deref(),
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
    let fallback = || {
        let excerpt = excerpt(body);
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected status");
        if excerpt.is_empty() {
            format!("{reason} (empty body)")
        } else {
            format!("{reason}: {excerpt}")
        }
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return (None, fallback());
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
    let detail = detail.map(|d| excerpt(&d)).unwrap_or_else(fallback);
    (kind, detail)
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
        };
        assert!(auth.is_auth());
        assert!(auth.to_string().contains("NOTION_SCIM_TOKEN"));
    }
}
