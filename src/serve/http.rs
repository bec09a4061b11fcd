//! The endpoints of `serve` (docs/cli.md, "serve"): `/healthz`, `/readyz` and `/metrics` for
//! anyone who can reach the address; `/runs` and `POST /sync` only with the bearer token of
//! `[serve] api_token_env|file`, compared in constant time, and answering 404 when no token is
//! configured. Request bodies are capped, every request is cut off after [`REQUEST_TIMEOUT`],
//! a client gets [`HEADER_TIMEOUT`] to send its headers, and at most [`MAX_CONNECTIONS`] are
//! served at once ([`serve`]: hyper directly, since `axum::serve` has no header timeout).

use super::{Backend, Service, Triggered};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The longest any request may take; `/runs` reads the store, the others answer from memory.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body accepted: no endpoint takes one.
pub const MAX_BODY_BYTES: usize = 1024;

/// The longest a client may take to send a request's headers (a keep-alive connection waiting for
/// its next request included) before its connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 64;
/// How long open connections get to finish once `shutdown` resolves.
const DRAIN: Duration = Duration::from_secs(5);

/// Serve `router` on `listener` until `shutdown` resolves, then let open connections finish (for
/// at most 5 s).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection =
            graceful.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after {DRAIN:?} were dropped");
    }
}

/// The router of `service`.
pub fn router<B: Backend>(service: Arc<Service<B>>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<B>))
        .route("/metrics", get(metrics::<B>))
        .route("/runs", get(runs::<B>))
        .route("/sync", post(sync::<B>))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(timeout))
        .with_state(service)
}

async fn timeout(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took longer than 10 s; try again",
        ),
    }
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz<B: Backend>(State(service): State<Arc<Service<B>>>) -> Response {
    let (store, token) = service.checks();
    let ready = service.ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "store": store.as_str(), "token": token.as_str() })),
    )
        .into_response()
}

async fn metrics<B: Backend>(State(service): State<Arc<Service<B>>>) -> Response {
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
        .body(Body::from(service.metrics().encode()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `None` when the request may go on; otherwise the refusal: 404 without a configured token,
/// 401 without the right one, 503 when the token file cannot be read.
fn refuse<B: Backend>(service: &Service<B>, headers: &HeaderMap) -> Option<Response> {
    let expected =
        match service.backend().api_token() {
            Ok(Some(token)) => token,
            Ok(None) => return Some(problem(
                StatusCode::NOT_FOUND,
                "this endpoint is off: set [serve] api_token_env or api_token_file to turn it on",
            )),
            Err(why) => {
                tracing::error!("the API token could not be read: {why}");
                return Some(problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the API token could not be read; see the service's log",
                ));
            }
        };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Hashed first, so the comparison takes the same time whatever the lengths.
    let same: bool = Sha256::digest(given.trim().as_bytes())
        .ct_eq(&Sha256::digest(expected.expose_secret().as_bytes()))
        .into();
    if same && !given.is_empty() {
        return None;
    }
    let mut response = problem(
        StatusCode::UNAUTHORIZED,
        "send the API token of [serve] as `Authorization: Bearer <token>`",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    Some(response)
}

async fn runs<B: Backend>(State(service): State<Arc<Service<B>>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse(&service, &headers) {
        return refusal;
    }
    match service.backend().recent_runs().await {
        Ok(runs) => Json(runs).into_response(),
        Err(why) => {
            tracing::error!("/runs: {why}");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store could not be read; see the service's log",
            )
        }
    }
}

async fn sync<B: Backend>(State(service): State<Arc<Service<B>>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse(&service, &headers) {
        return refusal;
    }
    match service.trigger() {
        Triggered::Accepted => (
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": true, "message": "a run starts now; GET /runs shows it when it ends" })),
        )
            .into_response(),
        Triggered::Busy => problem(
            StatusCode::CONFLICT,
            "a run is already going on (or asked for); try again when it ends",
        ),
    }
}
