//! Replies of a hostile or overloaded target, for the faults and switches that test how the
//! client bounds what it reads and hides: a body generated as it is sent (gigabytes without
//! holding them), an echo of the `Authorization` header in the encodings a careless server
//! might use, and the count of requests in flight behind `max_in_flight`.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// Size of each generated chunk.
const CHUNK: usize = 64 * 1024;

/// A body of `remaining` bytes: `head`, then padding, produced chunk by chunk as the client
/// reads (or until it hangs up, when the stream is dropped).
struct Generated {
    head: Option<Bytes>,
    padding: Bytes,
    remaining: u64,
    streamed: Arc<AtomicU64>,
}

impl futures_core::Stream for Generated {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let mut chunk = self.head.take().unwrap_or_else(|| self.padding.clone());
        let cap = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        if chunk.len() > cap {
            chunk.truncate(cap);
        }
        self.remaining -= chunk.len() as u64;
        self.streamed
            .fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Poll::Ready(Some(Ok(chunk)))
    }
}

/// A reply of `bytes` bytes that starts like a SCIM list (2xx) or error and never ends its JSON.
pub(crate) fn huge_body(
    status: u16,
    bytes: u64,
    content_length: bool,
    streamed: Arc<AtomicU64>,
) -> Response {
    let head = if (200..300).contains(&status) {
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{"id":"huge","userName":""#
    } else {
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500","detail":""#
    };
    let stream = Generated {
        head: Some(Bytes::from_static(head.as_bytes())),
        padding: Bytes::from(vec![b'x'; CHUNK]),
        remaining: bytes,
        streamed,
    };
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    if content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
    }
    response
}

/// The `Authorization` header as a careless server might quote it back: as is, base64 of the
/// token, of the header and of basic-auth `:token` (standard and URL-safe without padding),
/// percent-encoded, and as JSON `\u` escapes.
pub(crate) fn echo_forms(header: &str) -> Vec<String> {
    let token = header
        .split_once(' ')
        .map_or(header, |(_, token)| token)
        .trim();
    let percent: String = token.bytes().map(|b| format!("%{b:02X}")).collect();
    let escaped: String = token
        .encode_utf16()
        .map(|u| format!("\\u{u:04x}"))
        .collect();
    vec![
        header.to_owned(),
        STANDARD.encode(token),
        STANDARD.encode(header),
        STANDARD.encode(format!(":{token}")),
        URL_SAFE_NO_PAD.encode(token),
        URL_SAFE_NO_PAD.encode(header),
        percent,
        escaped,
    ]
}

/// A reply whose body echoes `header` in [`echo_forms`]: a SCIM error whose `detail` holds them
/// (the `\u` escapes raw, so they decode to the token), or plain text.
pub(crate) fn echo_auth(status: u16, json: bool, header: Option<&str>) -> Response {
    let forms = echo_forms(header.unwrap_or_default());
    let (body, content_type) = if json {
        let quoted: Vec<String> = forms
            .iter()
            .map(|f| {
                if f.starts_with("\\u") {
                    f.clone()
                } else {
                    let text = serde_json::to_string(f).unwrap_or_default();
                    text.trim_matches('"').to_owned()
                }
            })
            .collect();
        (
            format!(
                r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"{status}","detail":"Bad credentials, received: {}"}}"#,
                quoted.join(" | ")
            ),
            "application/scim+json",
        )
    } else {
        (
            format!("Bad credentials, received: {}", forms.join(" | ")),
            "text/plain",
        )
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// One SCIM request being served; the count goes down when it is dropped.
pub(crate) struct InFlight {
    counter: Arc<AtomicUsize>,
    /// Requests in flight, this one included, when it arrived.
    pub now: usize,
}

impl InFlight {
    pub(crate) fn enter(counter: &Arc<AtomicUsize>) -> Self {
        let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
        Self {
            counter: counter.clone(),
            now,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_forms_hold_the_token_in_every_encoding() {
        let forms = echo_forms("Bearer tok-1");
        assert_eq!(forms[0], "Bearer tok-1");
        assert_eq!(forms[1], STANDARD.encode("tok-1"));
        assert_eq!(forms[6], "%74%6F%6B%2D%31");
        assert_eq!(forms[7], "\\u0074\\u006f\\u006b\\u002d\\u0031");
        assert_eq!(forms.len(), 8);
    }

    #[test]
    fn in_flight_counts_and_releases() {
        let counter = Arc::new(AtomicUsize::new(0));
        let a = InFlight::enter(&counter);
        let b = InFlight::enter(&counter);
        assert_eq!((a.now, b.now), (1, 2));
        drop(a);
        assert_eq!(InFlight::enter(&counter).now, 2);
        drop(b);
        assert_eq!(counter.load(Ordering::SeqCst), 0);
    }
}
