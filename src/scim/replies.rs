//! What the SCIM client makes of a reply: the error for a non-success status (a refused token, a
//! refused write, any other API error), and the parsing of success bodies. Every text taken from
//! a reply is scrubbed of the token, and of its encoded forms, before it is cut to an excerpt
//! (`redact`): a server may echo the token back.
//!
//! A 401, or a 403 on a read, is a rejected token. A 403 on a write may refuse only that change
//! (a target can refuse one attribute change with 403), so it is [`Error::Forbidden`]; the caller
//! tells the two apart with a token check ([`super::TargetRead::probe`]).

use super::error::{excerpt, explain_with, parse_error_body_with, Error, Result};
use super::retry::{classify, StatusClass};
use super::transport::{Core, Reply, ERROR_BODY_BYTES};
use super::wire;
use serde::de::DeserializeOwned;

impl Core {
    pub(super) fn expect_ok(&self, method: &str, path: &str, reply: &Reply) -> Result<()> {
        if reply.ok() {
            Ok(())
        } else {
            Err(self.api_error(method, path, reply))
        }
    }

    /// The error for a non-success reply.
    pub(super) fn api_error(&self, method: &str, path: &str, reply: &Reply) -> Error {
        if matches!(
            classify(reply.status),
            StatusClass::Auth | StatusClass::Forbidden
        ) {
            return self.refusal(method, path, reply.status, &reply.body);
        }
        let (scim_type, detail) = self.explain_error(reply.status, &reply.body);
        Error::Api {
            method: method.to_owned(),
            path: path.to_owned(),
            status: reply.status,
            scim_type,
            detail,
        }
    }

    /// The error for a 401 or 403. A 401 is a refused token. A 403 on a read is too (a read of
    /// `/Users` is what checks a token). A 403 on a write may refuse only that change, so it is
    /// [`Error::Forbidden`] with the server's own explanation, for the caller to check the token.
    pub(super) fn refusal(&self, method: &str, path: &str, status: u16, body: &str) -> Error {
        let is_read = matches!(method, "GET" | "HEAD");
        if status == 403 && !is_read {
            let (scim_type, detail) = self.explain_error(status, body);
            return Error::Forbidden {
                method: method.to_owned(),
                path: path.to_owned(),
                status,
                scim_type,
                detail,
            };
        }
        let body = self.redact(body);
        let redact = |text: &str| self.redact(text);
        Error::Unauthorized {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            detail: explain_with(&body, &redact).1,
            advice: self.profile.token_advice(&self.token_source),
        }
    }

    /// `(scimType or code, detail)` of an error body, redacted before anything is cut from it
    /// (a cut could split an echoed token into pieces that no longer match) and after the JSON
    /// is decoded (an escaped token is plain text once decoded).
    fn explain_error(&self, status: u16, body: &str) -> (Option<String>, String) {
        let body = self.redact(body);
        parse_error_body_with(status, &body, &|text| self.redact(text))
    }

    pub(super) fn parse<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<T> {
        serde_json::from_str(body).map_err(|e| Error::InvalidReply {
            method: method.to_owned(),
            path: path.to_owned(),
            detail: format!(
                "the JSON does not parse ({}); body: {}",
                self.redact(&e.to_string()),
                self.quote(body)
            ),
        })
    }

    /// An excerpt of a reply body for an error message, redacted before it is cut. Only the
    /// start of the body is looked at: an excerpt never needs more.
    fn quote(&self, body: &str) -> String {
        let mut end = body.len().min(ERROR_BODY_BYTES);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        excerpt(&self.redact(&body[..end]))
    }

    pub(super) fn parse_user(&self, method: &str, path: &str, body: &str) -> Result<wire::User> {
        let user: wire::User = self.parse(method, path, body)?;
        if user.id.is_empty() {
            return Err(self.no_id(method, path));
        }
        Ok(user)
    }

    pub(super) fn parse_group(&self, method: &str, path: &str, body: &str) -> Result<wire::Group> {
        let group: wire::Group = self.parse(method, path, body)?;
        if group.id.is_empty() {
            return Err(self.no_id(method, path));
        }
        Ok(group)
    }

    fn no_id(&self, method: &str, path: &str) -> Error {
        Error::InvalidReply {
            method: method.to_owned(),
            path: path.to_owned(),
            detail: "the resource has no id".into(),
        }
    }

    /// Remove the token, in any form a server may echo it in, from text that came from the
    /// server (or from an error that quotes a request).
    pub(super) fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::scim::{ClientSettings, Profile};
    use chrono::TimeZone;
    use secrecy::SecretString;
    use serde_json::Value;
    use std::sync::Arc;
    use url::Url;

    const CANARY: &str = "canary-tok-3f9a1c77e2";

    fn core(profile: Profile, token_source: Option<&str>) -> Core {
        let clock = Arc::new(FixedClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        ));
        let mut settings = ClientSettings::new(
            Url::parse("http://127.0.0.1:9/scim/v2").unwrap(),
            SecretString::from(CANARY),
        );
        if let Some(source) = token_source {
            settings.token_source = source.to_owned();
        }
        Core::new(settings, profile, clock).unwrap()
    }

    #[test]
    fn server_echo_of_token_is_redacted() {
        let core = core(Profile::notion(), None);
        let reply = Reply {
            status: 400,
            body: format!(r#"{{"detail":"bad header Bearer {CANARY}"}}"#),
            after_lost: false,
        };
        let err = core.api_error("GET", "/Users", &reply);
        assert!(!err.to_string().contains(CANARY));
        assert!(!format!("{err:?}").contains(CANARY));
    }

    #[test]
    fn a_token_across_the_cut_of_an_excerpt_is_still_redacted() {
        // The excerpt keeps 200 characters; the token straddles that cut, in a plain body and
        // in a JSON detail. Cutting first would leave a piece of it that no longer matches.
        let core = core(Profile::notion(), None);
        let text = format!("{} {CANARY} tail", "x".repeat(190));
        for body in [text.clone(), format!(r#"{{"detail":"{text}"}}"#)] {
            let reply = Reply {
                status: 400,
                body,
                after_lost: false,
            };
            let err = core.api_error("GET", "/Users", &reply).to_string();
            assert!(!err.contains(&CANARY[..6]), "{err}");
        }
        let err = core
            .parse::<Value>("GET", "/Users", &format!("{} {CANARY}", "y".repeat(195)))
            .unwrap_err()
            .to_string();
        assert!(!err.contains(&CANARY[..6]), "{err}");
    }

    #[test]
    fn a_403_on_a_write_is_a_refusal_and_on_a_read_a_rejected_token() {
        let core = core(Profile::scim(), Some("the file /etc/idbridge/token"));
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"403","detail":"not in a verified domain {CANARY}"}}"#
        );
        let write = core.refusal("PATCH", "/Users/1", 403, &body);
        assert!(write.is_forbidden(), "{write:?}");
        assert!(write
            .to_string()
            .contains("not in a verified domain [REDACTED]"));
        for (method, status) in [("GET", 403), ("GET", 401), ("PATCH", 401), ("DELETE", 401)] {
            let err = core.refusal(method, "/Users", status, &body);
            assert!(err.is_auth(), "{method} {status}: {err:?}");
            let text = err.to_string();
            assert!(
                text.ends_with("update the file /etc/idbridge/token") && !text.contains("Notion"),
                "{text}"
            );
            assert!(!text.contains(CANARY) && !format!("{err:?}").contains(CANARY));
        }
    }
}
