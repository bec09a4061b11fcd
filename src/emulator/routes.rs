//! HTTP for the emulator: one fallback handler that logs each request, injects faults, checks
//! the bearer token and the rate limit, then dispatches to `state`; plus the `/_emulator/*`
//! control routes and the error body shapes.
//!
//! A single dispatcher (rather than an axum route table) keeps the prefix configurable and lets
//! faults, auth and logging wrap every route the same way. The state mutex is never held across
//! an `.await`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::hostile::{self, InFlight};
use super::profile::{
    ErrorShape, Fault, FaultKind, RateLimit, RetryAfterForm, SeedGroup, SeedUser, WorkspaceBudget,
};
use super::state::{ApiError, ListQuery, RequestRecord, State as Workspace};
use super::{Emulator, ENTERPRISE_SCHEMA, LIST_SCHEMA, NOTION_SCHEMA};

const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The one handler behind every path: control routes aside, a request outside the prefix is a
/// 404; one inside it is logged and served ([`serve`]).
pub(crate) async fn dispatch(State(emu): State<(Emulator, bool)>, req: Request) -> Response {
    let (emu, control) = emu;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT).await;

    if control {
        if let Some(rest) = path.strip_prefix("/_emulator") {
            return control_route(&emu, &method, rest, body.ok());
        }
    }

    let (prefix, answer) = {
        let st = emu.lock();
        let answer = Answering {
            shape: st.switches.error_shape,
            content_type: st.switches.response_content_type.clone(),
            max_in_flight: st.switches.max_in_flight,
            latency: st.switches.latency_millis,
            retry_after_form: st.switches.retry_after_form,
            now: st.now(),
        };
        (st.prefix.clone(), answer)
    };
    let rest = match path.strip_prefix(prefix.as_str()) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Some(rest.to_owned()),
        _ => None,
    };
    let is_write = rest.is_some()
        && matches!(
            method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
    let record = RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        status: 0,
        is_write,
        handled: false,
        executed: false,
        injected: Vec::new(),
    };
    let Some(rest) = rest else {
        let err = ApiError::new(404, format!("{path} is not a SCIM endpoint."));
        return finish(&emu, record, answer.error(&err));
    };
    let call = Call {
        method,
        path,
        rest: rest.trim_end_matches('/').to_owned(),
        query,
        auth,
        body,
    };
    serve(&emu, call, record, &answer).await
}

/// A request under the SCIM prefix, as [`dispatch`] read it.
struct Call {
    method: Method,
    path: String,
    /// The path after the prefix, without a trailing `/`.
    rest: String,
    query: Option<String>,
    auth: Option<String>,
    body: Result<Bytes, axum::Error>,
}

/// The switches a request is answered under, read once when it arrives.
struct Answering {
    shape: ErrorShape,
    content_type: String,
    max_in_flight: Option<usize>,
    latency: u64,
    retry_after_form: RetryAfterForm,
    /// When the request arrived, by the emulator's clock (an HTTP-date `Retry-After` counts
    /// from it).
    now: chrono::DateTime<chrono::Utc>,
}

impl Answering {
    /// `err` in the profile's error shape, its `Retry-After` in the profile's form.
    fn error(&self, err: &ApiError) -> Response {
        let mut response = error_response(err, self.shape, &self.content_type);
        if let (Some(secs), RetryAfterForm::HttpDate) = (err.retry_after, self.retry_after_form) {
            if let Ok(value) = HeaderValue::from_str(&http_date_after(self.now, secs)) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// The HTTP date `secs` seconds after `now`, counted from the next whole second: a date has no
/// fraction, and rounding down would ask the client to come back before its budget refilled.
fn http_date_after(now: chrono::DateTime<chrono::Utc>, secs: u64) -> String {
    let whole = now.timestamp() + i64::from(now.timestamp_subsec_nanos() > 0);
    let at = u64::try_from(whole).unwrap_or(0).saturating_add(secs);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(at))
}

/// Serve a SCIM request: the in-flight cap, latency, faults, then the workspace (auth, rate
/// limit and the resource handler), and the reply as the faults shape it.
async fn serve(
    emu: &Emulator,
    call: Call,
    mut record: RequestRecord,
    answer: &Answering,
) -> Response {
    let content_type = answer.content_type.as_str();
    // Held to the end of the request, so the count covers the latency below.
    let in_flight = InFlight::enter(&emu.in_flight);
    emu.peak_in_flight
        .fetch_max(in_flight.now, std::sync::atomic::Ordering::SeqCst);
    if answer.max_in_flight.is_some_and(|max| in_flight.now > max) {
        let err = ApiError {
            retry_after: Some(1),
            ..ApiError::typed(429, "tooMany", "Too many requests at once: slow down.")
        };
        return finish(emu, record, answer.error(&err));
    }
    if answer.latency > 0 {
        tokio::time::sleep(Duration::from_millis(answer.latency)).await;
    }

    let faults = emu
        .lock()
        .due_faults(call.method.as_str(), &call.path, &call.rest);
    record.injected = faults.iter().map(FaultKind::name).collect();
    let Effects {
        drop_reply,
        truncate,
        stall,
        revoke,
    } = match effects(emu, faults, answer, call.auth.as_deref()) {
        Faulted::Serve(effects) => effects,
        Faulted::Answer(answer) => return finish(emu, record, answer),
    };

    let Ok(body) = &call.body else {
        let err = ApiError::typed(400, "invalidSyntax", "The request body could not be read.");
        return finish(emu, record, answer.error(&err));
    };

    let outcome = work(emu, &call, body, record, revoke, truncate);
    if let Some(pause) = stall {
        // The work is already done: a stalled write is committed whether or not the client
        // waits, which is the case a retrying client must survive (find before re-create).
        tokio::time::sleep(pause).await;
    }
    match outcome {
        Ok((status, Some(payload))) => {
            let bytes = match payload {
                Payload::Json(mut value) => {
                    if truncate {
                        truncate_page(&mut value);
                    }
                    serde_json::to_vec(&value).unwrap_or_default()
                }
                // A written page was truncated as it was written.
                Payload::Written(bytes) => bytes,
            };
            bytes_response(status, bytes, content_type, drop_reply)
        }
        Ok((status, None)) => empty_response(status),
        Err(err) => answer.error(&err),
    }
}

/// Do the request's work in the workspace under its lock (a `/Users` page written without its
/// last user when `truncate`), revoke the caller's token if a fault says so, and log the
/// request with the status it will be answered with.
fn work(
    emu: &Emulator,
    call: &Call,
    body: &Bytes,
    mut record: RequestRecord,
    revoke: bool,
    truncate: bool,
) -> Result<(u16, Option<Payload>), ApiError> {
    let mut st = emu.lock();
    let auth = call.auth.as_deref();
    let (outcome, handled) = route(
        &mut st,
        &call.method,
        &call.rest,
        call.query.as_deref(),
        auth,
        body,
        truncate,
    );
    record.handled = handled;
    record.executed = handled && record.is_write && outcome.is_ok();
    if revoke {
        if let Ok(token) = st.authenticate(auth) {
            st.revoke_token(&token);
        }
    }
    // Logged now, not once the reply is sent: a client that gives up during a stall closes the
    // connection and the server drops the request at its next await, and a write already
    // carried out must still be counted.
    record.status = match &outcome {
        Ok((status, _)) => *status,
        Err(err) => err.status,
    };
    st.requests.push(record);
    outcome
}

/// What a fault changes about a request that the workspace still serves.
#[derive(Default)]
struct Effects {
    /// Break the reply off halfway.
    drop_reply: bool,
    /// Drop the last resource of a list page.
    truncate: bool,
    /// Wait this long after doing the work.
    stall: Option<Duration>,
    /// Revoke the caller's token after doing the work.
    revoke: bool,
}

/// A request after its fault, if any.
enum Faulted {
    /// The workspace serves it, with these effects.
    Serve(Effects),
    /// The fault answers instead.
    Answer(Response),
}

/// The effects of `faults`, or the answer the first that answers gives instead of the workspace.
fn effects(
    emu: &Emulator,
    faults: Vec<FaultKind>,
    answer: &Answering,
    auth: Option<&str>,
) -> Faulted {
    let mut effects = Effects::default();
    for fault in faults {
        if let Some(answered) = effect(emu, fault, answer, auth, &mut effects) {
            return answered;
        }
    }
    Faulted::Serve(effects)
}

/// Add one fault's effect to `effects`, or the answer it gives instead of the workspace.
fn effect(
    emu: &Emulator,
    fault: FaultKind,
    answer: &Answering,
    auth: Option<&str>,
    effects: &mut Effects,
) -> Option<Faulted> {
    let refuse = |err: ApiError| Some(Faulted::Answer(answer.error(&err)));
    match fault {
        FaultKind::Status500 => {
            refuse(ApiError::new(500, "Injected fault: internal server error."))
        }
        FaultKind::Status503 => refuse(ApiError::new(503, "Injected fault: service unavailable.")),
        FaultKind::Status529 => refuse(ApiError::new(529, "Injected fault: service overloaded.")),
        FaultKind::Status429 { retry_after_secs } => refuse(ApiError {
            retry_after: Some(retry_after_secs),
            ..ApiError::typed(429, "tooMany", "Injected fault: rate limited.")
        }),
        FaultKind::HugeBody {
            status,
            bytes,
            content_length,
        } => {
            let streamed = emu.streamed.clone();
            Some(Faulted::Answer(hostile::huge_body(
                status,
                bytes,
                content_length,
                streamed,
            )))
        }
        FaultKind::EchoAuth { status, json } => {
            Some(Faulted::Answer(hostile::echo_auth(status, json, auth)))
        }
        FaultKind::Stall { millis } => {
            effects.stall = Some(Duration::from_millis(millis));
            None
        }
        FaultKind::CommitThenDrop => {
            effects.drop_reply = true;
            None
        }
        FaultKind::TruncatedPage => {
            effects.truncate = true;
            None
        }
        FaultKind::CommitThenRevoke { stall_millis } => {
            effects.revoke = true;
            effects.stall = Some(Duration::from_millis(stall_millis));
            None
        }
    }
}

fn finish(emu: &Emulator, mut record: RequestRecord, response: Response) -> Response {
    record.status = response.status().as_u16();
    emu.lock().requests.push(record);
    response
}

/// Route one SCIM request; the flag says whether it reached a resource handler.
fn route(
    st: &mut Workspace,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    auth: Option<&str>,
    body: &Bytes,
    truncate: bool,
) -> (Result<(u16, Option<Payload>), ApiError>, bool) {
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let first = segments.first().copied().unwrap_or_default();
    // Discovery is public: ServiceProviderConfig answers without a token (docs/notion.md, "Tokens").
    if first.eq_ignore_ascii_case("ServiceProviderConfig") && segments.len() == 1 {
        return (
            only_get(method).map(|()| (200, Some(Payload::Json(service_provider_config())))),
            false,
        );
    }
    if first.eq_ignore_ascii_case("ResourceTypes") {
        let reply = only_get(method).and_then(|()| resource_types(segments.get(1).copied()));
        return (json_reply(reply), false);
    }
    if first.eq_ignore_ascii_case("Schemas") && !st.switches.schemas_endpoint {
        return (Err(ApiError::new(404, "/Schemas is not served.")), false);
    }
    let token = match st.authenticate(auth) {
        Ok(token) => token,
        Err(e) => return (Err(e), false),
    };
    if let Err(e) = st.rate_check(&token) {
        return (Err(e), false);
    }
    let parse_body = || -> Result<Value, ApiError> {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::typed(400, "invalidSyntax", format!("The body is not JSON: {e}."))
        })
    };
    let list = ListQuery::parse(query);
    let reply = match (
        first.to_ascii_lowercase().as_str(),
        segments.get(1),
        segments.len(),
    ) {
        ("schemas", _, _) => only_get(method).map(|()| (200, Some(schemas()))),
        ("users", None, 1) => match *method {
            Method::GET => return (users_page(st, &list, truncate), true),
            Method::POST => parse_body().and_then(|b| st.create_user(&b)),
            _ => Err(not_allowed()),
        },
        ("users", Some(id), 2) => match *method {
            Method::GET => st.get_user(id),
            Method::PUT => parse_body().and_then(|b| st.replace_user(id, &b, &token)),
            Method::PATCH => parse_body().and_then(|b| st.patch_user(id, &b, &token)),
            Method::DELETE => st.delete_user(id, &token),
            _ => Err(not_allowed()),
        },
        ("groups", None, 1) => match *method {
            Method::GET => st.list_groups(&list),
            Method::POST => parse_body().and_then(|b| st.create_group(&b)),
            _ => Err(not_allowed()),
        },
        ("groups", Some(id), 2) => match *method {
            Method::GET => st.get_group(id, &list),
            Method::PUT => parse_body().and_then(|b| st.replace_group(id, &b)),
            Method::PATCH => parse_body().and_then(|b| st.patch_group(id, &b)),
            Method::DELETE => st.delete_group(id),
            _ => Err(not_allowed()),
        },
        _ => Err(ApiError::new(
            404,
            format!("{rest} is not a SCIM endpoint."),
        )),
    };
    (json_reply(reply), true)
}

/// A `/Users` list page, written (short of its last user when `truncate`).
fn users_page(
    st: &mut Workspace,
    list: &ListQuery,
    truncate: bool,
) -> Result<(u16, Option<Payload>), ApiError> {
    let bytes = st.list_users_body(list, truncate)?;
    Ok((200, Some(Payload::Written(bytes))))
}

/// A reply's body: a JSON tree, or (a `/Users` list page) the JSON already written.
enum Payload {
    Json(Value),
    Written(Vec<u8>),
}

fn json_reply(
    reply: Result<(u16, Option<Value>), ApiError>,
) -> Result<(u16, Option<Payload>), ApiError> {
    reply.map(|(status, value)| (status, value.map(Payload::Json)))
}

fn only_get(method: &Method) -> Result<(), ApiError> {
    if method == Method::GET {
        Ok(())
    } else {
        Err(not_allowed())
    }
}

fn not_allowed() -> ApiError {
    ApiError::new(405, "This method is not supported on this endpoint.")
}

fn service_provider_config() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": 100},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the workspace's SCIM token.",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig"}
    })
}

fn resource_type(name: &str) -> Value {
    if name == "User" {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "schema": super::USER_SCHEMA,
            "schemaExtensions": [
                {"schema": ENTERPRISE_SCHEMA, "required": false},
                {"schema": NOTION_SCHEMA, "required": false}
            ],
            "meta": {"resourceType": "ResourceType"}
        })
    } else {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "schema": super::GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType"}
        })
    }
}

fn resource_types(which: Option<&str>) -> Result<(u16, Option<Value>), ApiError> {
    match which {
        None => {
            let all = vec![resource_type("User"), resource_type("Group")];
            Ok((
                200,
                Some(json!({
                    "schemas": [LIST_SCHEMA], "totalResults": 2, "startIndex": 1,
                    "itemsPerPage": 2, "Resources": all
                })),
            ))
        }
        Some(w) if w.eq_ignore_ascii_case("User") => Ok((200, Some(resource_type("User")))),
        Some(w) if w.eq_ignore_ascii_case("Group") => Ok((200, Some(resource_type("Group")))),
        Some(w) => Err(ApiError::new(404, format!("No resource type {w}."))),
    }
}

fn schemas() -> Value {
    let ids = [
        super::USER_SCHEMA,
        super::GROUP_SCHEMA,
        ENTERPRISE_SCHEMA,
        NOTION_SCHEMA,
    ];
    let all: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
    json!({"schemas": [LIST_SCHEMA], "totalResults": all.len(), "startIndex": 1,
           "itemsPerPage": all.len(), "Resources": all})
}

/// Drop the last resource of a list page but keep `totalResults`, so the page does not add up.
fn truncate_page(value: &mut Value) {
    let Some(list) = value.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(items)) = list.get_mut("Resources") {
        items.pop();
        let n = items.len();
        list.insert("itemsPerPage".into(), json!(n));
    }
}

fn with_content_type(mut response: Response, content_type: &str) -> Response {
    let value = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CONTENT_TYPE, value);
    response
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn json_response(code: u16, value: &Value, content_type: &str, drop_reply: bool) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes_response(code, bytes, content_type, drop_reply)
}

fn bytes_response(code: u16, bytes: Vec<u8>, content_type: &str, drop_reply: bool) -> Response {
    if drop_reply {
        // The write is committed; now send half the body under a Content-Length promising
        // more and end the stream, so hyper aborts the connection and the client gets a body
        // error. The body's length is unknown to hyper (a stream), so the header is trusted.
        let full = bytes.len() + 64;
        let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
        let body = Body::from_stream(Body::from(half).into_data_stream());
        let mut response = Response::new(body);
        *response.status_mut() = status(code);
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
        return with_content_type(response, content_type);
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status(code);
    with_content_type(response, content_type)
}

fn empty_response(code: u16) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status(code);
    response
}

/// Render an error in the chosen shape (docs/notion.md, "Errors and throttling").
pub(crate) fn error_response(err: &ApiError, shape: ErrorShape, content_type: &str) -> Response {
    let body = match shape {
        ErrorShape::Scim => {
            let mut body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": err.status.to_string(),
                "detail": err.detail,
            });
            if let (Some(t), Some(o)) = (err.scim_type, body.as_object_mut()) {
                o.insert("scimType".into(), json!(t));
            }
            body
        }
        ErrorShape::Notion => json!({
            "object": "error",
            "status": err.status,
            "code": notion_code(err.status),
            "message": err.detail,
        }),
        ErrorShape::NotionAdmin => json!({
            "type": "error",
            "code": notion_code(err.status),
            "status": err.status,
            "message": err.detail,
        }),
    };
    let mut response = json_response(err.status, &body, content_type, false);
    if let Some(secs) = err.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn notion_code(status: u16) -> &'static str {
    match status {
        400 => "validation_error",
        401 => "unauthorized",
        403 => "restricted_resource",
        404 => "object_not_found",
        405 => "invalid_request",
        409 => "conflict_error",
        429 => "rate_limited",
        503 => "service_unavailable",
        529 => "service_overload",
        _ => "internal_server_error",
    }
}

// ----- control routes -----

type ControlError = (u16, String);

/// `/_emulator/*`. Over 80 lines: one match arm per control route, a table best read whole.
fn control_route(emu: &Emulator, method: &Method, rest: &str, body: Option<Bytes>) -> Response {
    let ct = "application/json";
    let parse = |body: &Option<Bytes>| -> Result<Value, ControlError> {
        body.as_ref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .ok_or_else(|| (400, "The body is not JSON.".to_owned()))
    };
    let result: Result<Response, ControlError> =
        (|| match (method.as_str(), rest.trim_end_matches('/')) {
            ("POST", "/tokens") => {
                let v = parse(&body)?;
                let token = v.get("token").and_then(Value::as_str);
                let owner = v.get("owner").and_then(Value::as_str);
                match (token, owner) {
                    (Some(t), Some(o)) => {
                        emu.add_token(t, o);
                        Ok(json_response(
                            200,
                            &json!({"token": t, "owner": o}),
                            ct,
                            false,
                        ))
                    }
                    _ => Err((400, "Send {\"token\": ..., \"owner\": ...}.".to_owned())),
                }
            }
            ("DELETE", path) if path.starts_with("/tokens/") => {
                emu.revoke_token(&path["/tokens/".len()..]);
                Ok(empty_response(204))
            }
            ("POST", "/users") => {
                let user: SeedUser =
                    serde_json::from_value(parse(&body)?).map_err(|e| (400, e.to_string()))?;
                let id = emu.seed_user(user);
                Ok(json_response(200, &json!({"id": id}), ct, false))
            }
            ("POST", "/groups") => {
                let group: SeedGroup =
                    serde_json::from_value(parse(&body)?).map_err(|e| (400, e.to_string()))?;
                let id = emu.seed_group(group);
                Ok(json_response(200, &json!({"id": id}), ct, false))
            }
            ("PUT", "/switches") => {
                // Merge into the current switches, so a test can flip one.
                let mut current =
                    serde_json::to_value(emu.switches()).map_err(|e| (500, e.to_string()))?;
                if let (Some(cur), Value::Object(new)) = (current.as_object_mut(), parse(&body)?) {
                    cur.extend(new);
                }
                let switches = serde_json::from_value(current).map_err(|e| (400, e.to_string()))?;
                emu.set_switches(switches);
                Ok(json_response(200, &json!(emu.switches()), ct, false))
            }
            ("GET", "/switches") => Ok(json_response(200, &json!(emu.switches()), ct, false)),
            ("POST", "/faults") => {
                let fault: Fault =
                    serde_json::from_value(parse(&body)?).map_err(|e| (400, e.to_string()))?;
                emu.push_fault(fault);
                Ok(empty_response(204))
            }
            ("PUT", "/chaos") => {
                let chaos: Option<super::Chaos> =
                    serde_json::from_value(parse(&body)?).map_err(|e| (400, e.to_string()))?;
                if let Some(chaos) = &chaos {
                    chaos.validate().map_err(|e| (400, e.to_string()))?;
                }
                emu.set_chaos(chaos);
                Ok(empty_response(204))
            }
            ("GET", "/chaos") => Ok(json_response(200, &json!(emu.chaos()), ct, false)),
            ("PUT", "/rate-limit") => {
                let limit: Option<RateLimit> =
                    serde_json::from_value(parse(&body)?).map_err(|e| (400, e.to_string()))?;
                emu.set_rate_limit(limit);
                Ok(empty_response(204))
            }
            ("PUT", "/workspace-budget") => {
                let budget: Option<WorkspaceBudget> =
                    serde_json::from_value(parse(&body)?).map_err(|e| (400, e.to_string()))?;
                emu.set_workspace_budget(budget);
                Ok(empty_response(204))
            }
            ("PUT", "/sole-full-access") => {
                let v = parse(&body)?;
                let id = v.get("group").and_then(Value::as_str).unwrap_or_default();
                let on = v.get("on").and_then(Value::as_bool).unwrap_or(true);
                emu.set_sole_full_access(id, on);
                Ok(empty_response(204))
            }
            ("GET", "/requests") => Ok(json_response(200, &json!(emu.requests()), ct, false)),
            ("DELETE", "/requests") => {
                emu.clear_requests();
                Ok(empty_response(204))
            }
            ("GET", "/state") => {
                let state = json!({"members": emu.members(), "groups": emu.groups()});
                Ok(json_response(200, &state, ct, false))
            }
            _ => Err((404, "Unknown control route.".to_owned())),
        })();
    result.unwrap_or_else(|(code, detail)| control_error(code, &detail))
}

fn control_error(code: u16, detail: &str) -> Response {
    json_response(code, &json!({"error": detail}), "application/json", false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_http_date_retry_after_never_comes_early() {
        let at = |ms| chrono::Utc.timestamp_millis_opt(ms).unwrap();
        // 12:00:00.000 + 2 s, and 12:00:00.400 + 2 s rounded up to the next whole second.
        let noon = 1_772_366_400_000;
        assert_eq!(
            http_date_after(at(noon), 2),
            "Sun, 01 Mar 2026 12:00:02 GMT"
        );
        assert_eq!(
            http_date_after(at(noon + 400), 2),
            "Sun, 01 Mar 2026 12:00:03 GMT"
        );
    }
}
