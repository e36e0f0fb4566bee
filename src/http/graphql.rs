//! GraphQL over HTTP: POST (single or batched) and GET, per the GraphQL-over-HTTP spec, with
//! persisted operations (Apollo APQ, trusted-document ids) and response caching headers.
//!
//! Responses are `application/graphql-response+json` unless the client accepts only
//! `application/json`. With the former, a request that fails before execution (malformed
//! body, syntax or validation error, unknown operation, a limit) gets a 4xx status; with the
//! latter every well-formed request gets 200, as legacy clients expect.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError, Variables};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde::Deserialize;
use serde_json::{Value, json};
use storefront_loaders::domain::{Authenticator, Principal, Refusal};
use storefront_loaders::rate_limit::{ClientId, ClientIp};
use storefront_loaders::{Batched, StoreLoader};
use storefront_resolvers::ErrorCode;
use storefront_resolvers::error::DETAIL_EXTENSION;
use storefront_schema::persisted::{document_hash, sha256_hex};

use crate::app::App;
use crate::config::{Mode, PersistedMode};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type to answer in, from the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphQlResponse,
    Json,
}

impl MediaType {
    fn negotiate(headers: &HeaderMap) -> Self {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let types: Vec<&str> = accept
            .split(',')
            .map(|t| t.split(';').next().unwrap_or("").trim())
            .collect();
        if !types.contains(&GRAPHQL_RESPONSE) && types.contains(&JSON) {
            MediaType::Json
        } else {
            MediaType::GraphQlResponse
        }
    }

    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// A request that cannot run, with the status and code to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RequestError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl RequestError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn body(&self) -> Value {
        json!({"errors": [{"message": self.message, "extensions": {"code": self.code.as_str()}}]})
    }

    fn into_response(self, media: MediaType) -> HttpResponse {
        // Legacy JSON clients get 200 for GraphQL-level failures, as they expect.
        let status = if media == MediaType::Json && self.status == StatusCode::BAD_REQUEST {
            StatusCode::OK
        } else {
            self.status
        };
        let mut response = (
            status,
            [
                (header::CONTENT_TYPE, media.header()),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            self.body().to_string(),
        )
            .into_response();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// One GraphQL request as clients send it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default)]
    extensions: Option<serde_json::Map<String, Value>>,
    /// A trusted document's id (the GraphQL-over-HTTP persisted documents proposal).
    #[serde(default)]
    document_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawBatch {
    Single(RawRequest),
    Batch(Vec<RawRequest>),
}

fn bad_request(code: ErrorCode, message: impl Into<String>) -> RequestError {
    RequestError::new(StatusCode::BAD_REQUEST, code, message)
}

/// Resolves the document (free-form, APQ, or a trusted id), checks the document limits and
/// builds the request to execute.
async fn prepare(app: &App, raw: RawRequest, method: Method) -> Result<Request, RequestError> {
    let mode = app.config.persisted.mode;
    let hash = raw
        .extensions
        .as_ref()
        .and_then(|e| e.get("persistedQuery"))
        .and_then(|p| p.get("sha256Hash"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| raw.document_id.clone());
    let text = raw.query.filter(|q| !q.trim().is_empty());
    let query = match (text, hash) {
        (Some(text), Some(hash)) => {
            if document_hash(&text) != hash {
                return Err(bad_request(
                    ErrorCode::PersistedQueryHashMismatch,
                    "the query's SHA-256 is not the given sha256Hash",
                ));
            }
            if app.trusted.get(&hash).is_none() {
                match mode {
                    PersistedMode::Require => {
                        return Err(bad_request(
                            ErrorCode::PersistedQueryRequired,
                            "only operations of the persisted-query manifests are accepted",
                        ));
                    }
                    PersistedMode::Allow if app.config.persisted.apq => {
                        app.documents.put(&hash, &text).await;
                    }
                    PersistedMode::Allow => {}
                }
            }
            text
        }
        (None, Some(hash)) => {
            if let Some(operation) = app.trusted.get(&hash) {
                operation.body.clone()
            } else if mode == PersistedMode::Allow && app.config.persisted.apq {
                match app.documents.get(&hash).await {
                    Some(document) => document.to_string(),
                    None => {
                        return Err(RequestError::new(
                            StatusCode::OK,
                            ErrorCode::PersistedQueryNotFound,
                            "PersistedQueryNotFound",
                        ));
                    }
                }
            } else {
                return Err(RequestError::new(
                    StatusCode::OK,
                    ErrorCode::PersistedQueryNotFound,
                    "PersistedQueryNotFound",
                ));
            }
        }
        (Some(text), None) => {
            if mode == PersistedMode::Require && app.trusted.get(&document_hash(&text)).is_none() {
                return Err(bad_request(
                    ErrorCode::PersistedQueryRequired,
                    "only operations of the persisted-query manifests are accepted",
                ));
            }
            text
        }
        (None, None) => {
            return Err(bad_request(
                ErrorCode::BadRequest,
                "the request has no `query` (nor a persisted query id)",
            ));
        }
    };
    let operation_name = raw.operation_name.filter(|n| !n.is_empty());
    let facts = storefront_schema::limits::check(
        &query,
        operation_name.as_deref(),
        &app.config.document_limits(),
    )
    .map_err(|limit| bad_request(limit.code, limit.message))?;
    // Checked on the resolved document, so that a persisted id naming a mutation is refused
    // over GET just as its text would be.
    if method == Method::GET
        && facts
            .operation_type
            .is_some_and(|t| t != OperationType::Query)
    {
        return Err(RequestError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "only queries may be sent with GET; send mutations with POST",
        ));
    }
    if !app.config.limits.introspection && facts.introspection {
        return Err(bad_request(
            ErrorCode::IntrospectionDisabled,
            "introspection is turned off on this gateway",
        ));
    }
    let mut request = Request::new(query);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    match raw.variables {
        None | Some(Value::Null) => {}
        Some(value @ Value::Object(_)) => request = request.variables(Variables::from_json(value)),
        Some(_) => {
            return Err(bad_request(
                ErrorCode::BadRequest,
                "`variables` must be a JSON object",
            ));
        }
    }
    Ok(request)
}

/// Whether a response is a request error: no data and only errors without a path (parse,
/// validation, operation selection, limits).
fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn with_code(mut errors: Vec<ServerError>, detailed: bool) -> Vec<ServerError> {
    // Errors async-graphql raises itself carry no code; give them one so that clients can
    // branch on `extensions.code` for every error. The limits answer with their own codes
    // (schema extensions), so a path-less error without one is a parse or validation failure.
    for error in &mut errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            let code = if error.path.is_empty() {
                ErrorCode::GraphqlValidationFailed
            } else {
                ErrorCode::Internal
            };
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code.as_str());
        }
        if !detailed && let Some(extensions) = error.extensions.as_mut() {
            extensions.unset(DETAIL_EXTENSION);
        }
    }
    errors
}

/// Whether the request speaks for a customer (its response must never be shared).
fn is_personal(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE)
}

/// The `Cache-Control` of a successful response: the schema's hints for public data,
/// `private, no-store` for anything tied to a customer.
fn cache_control(response: &Response, personal: bool) -> HeaderValue {
    if personal {
        return HeaderValue::from_static("private, no-store");
    }
    if !response.errors.is_empty() {
        return HeaderValue::from_static("no-store");
    }
    let hints = &response.cache_control;
    if hints.public && hints.max_age > 0 {
        HeaderValue::from_str(&format!("public, max-age={}", hints.max_age))
            .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
    } else {
        HeaderValue::from_static("no-cache")
    }
}

/// The slots of a batch: prepared requests to run, or errors decided before running.
enum Slot {
    Run,
    Failed(RequestError),
}

/// Who is asking: the rate-limit identity (the API key when sent, else the address) and the
/// address itself (sign-in throttling counts per address even when clients share a key).
struct Caller {
    client: ClientId,
    ip: ClientIp,
}

fn caller(app: &App, headers: &HeaderMap, peer: SocketAddr) -> Caller {
    let forwarded = app
        .config
        .rate_limit
        .trust_forwarded_for
        .then(|| {
            headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|ip| ip.trim().to_owned())
        })
        .flatten();
    let ip = forwarded.unwrap_or_else(|| peer.ip().to_string());
    let client = match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(key) => ClientId(format!("key:{}", &document_hash(key)[..24])),
        None => ClientId(format!("ip:{ip}")),
    };
    Caller {
        client,
        ip: ClientIp(ip),
    }
}

/// Who a request speaks for: nobody without `Authorization`; a request whose token is not
/// valid is refused (never treated as anonymous). The check belongs to the domain that
/// provides an [`Authenticator`].
async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Option<Principal>, RequestError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let unauthenticated = |message: String| {
        RequestError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    };
    let authenticator = app.services.get::<Arc<dyn Authenticator>>();
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            if let Some(authenticator) = authenticator {
                authenticator.malformed();
            }
            unauthenticated("send the access token as `Authorization: Bearer <token>`".into())
        })?;
    let Some(authenticator) = authenticator else {
        return Err(unauthenticated(
            "this gateway accepts no access tokens".into(),
        ));
    };
    match authenticator.authenticate(token).await {
        Ok(principal) => Ok(Some(principal)),
        Err(Refusal::Unavailable(message)) => Err(RequestError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            message,
        )),
        Err(Refusal::Unauthenticated(message)) => Err(unauthenticated(message)),
    }
}

/// The seconds to wait, when a response refuses an operation for a limit (the rate limit, or
/// the sign-in throttle): any error with a `retryAfter`.
fn retry_after(response: &Response) -> Option<u64> {
    response
        .errors
        .iter()
        .find_map(|e| match e.extensions.as_ref()?.get("retryAfter") {
            Some(async_graphql::Value::Number(n)) => n.as_u64(),
            _ => None,
        })
}

async fn execute(
    app: &App,
    raws: Vec<RawRequest>,
    batched: bool,
    headers: &HeaderMap,
    caller: Caller,
    media: MediaType,
    method: Method,
) -> HttpResponse {
    let principal = match authenticate(app, headers).await {
        Ok(principal) => principal,
        Err(e) => return e.into_response(media),
    };
    let mut slots = Vec::with_capacity(raws.len());
    let mut requests = Vec::new();
    for raw in raws {
        match prepare(app, raw, method.clone()).await {
            Ok(request) => {
                slots.push(Slot::Run);
                requests.push(request);
            }
            Err(e) => slots.push(Slot::Failed(e)),
        }
    }
    if !batched && let Some(Slot::Failed(e)) = slots.pop() {
        return e.into_response(media);
    }
    // One loader per HTTP request: the operations of a batch share its cache.
    let loader = StoreLoader::new(app.table.clone());
    let batch = if batched {
        BatchRequest::Batch(requests)
    } else {
        BatchRequest::Single(requests.pop().expect("a single request was prepared"))
    }
    .data(Arc::clone(&loader))
    .data(caller.client)
    .data(caller.ip);
    let batch = match principal {
        Some(principal) => batch.data(principal),
        None => batch,
    };
    let response = Batched::new(app.schema.execute_batch(batch), loader).await;
    let personal = is_personal(headers);
    // Internal errors carry their detail in development mode only.
    let detailed = app.config.mode == Mode::Development;
    let mut wait = None;
    let (status, cache, body) = match response {
        BatchResponse::Single(mut response) => {
            let failed = is_request_error(&response);
            response.errors = with_code(std::mem::take(&mut response.errors), detailed);
            wait = retry_after(&response);
            let status = if wait.is_some() {
                StatusCode::TOO_MANY_REQUESTS
            } else if failed && media == MediaType::GraphQlResponse {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            let cache = cache_control(&response, personal);
            (status, cache, serde_json::to_vec(&response))
        }
        BatchResponse::Batch(responses) => {
            let mut responses = responses.into_iter();
            let bodies: Vec<Value> = slots
                .into_iter()
                .map(|slot| match slot {
                    Slot::Failed(e) => e.body(),
                    Slot::Run => {
                        let mut r = responses.next().expect("one response per request");
                        r.errors = with_code(std::mem::take(&mut r.errors), detailed);
                        serde_json::to_value(&r).unwrap_or(Value::Null)
                    }
                })
                .collect();
            (
                StatusCode::OK,
                HeaderValue::from_static("no-store"),
                serde_json::to_vec(&bodies),
            )
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a GraphQL response");
            return RequestError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error",
            )
            .into_response(media);
        }
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, media.header());
    response_headers.insert(header::CACHE_CONTROL, cache);
    if let Some(seconds) = wait {
        response_headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if method == Method::GET && status == StatusCode::OK {
        // A strong validator of the exact bytes: CDNs and browsers revalidate with it.
        let etag = format!("\"{}\"", &sha256_hex(&body)[..32]);
        let matches = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            response_headers.insert(header::ETAG, value);
        }
        response_headers.insert(
            header::VARY,
            HeaderValue::from_static("accept, authorization"),
        );
        if matches {
            return (StatusCode::NOT_MODIFIED, response_headers).into_response();
        }
    }
    (status, response_headers, body).into_response()
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(value) => {
            let essence = value.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case(JSON) || essence.eq_ignore_ascii_case(GRAPHQL_RESPONSE)
        }
    }
}

/// `POST /graphql`: a JSON body holding one request or an array of them.
pub async fn post(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    let caller = caller(&app, &headers, peer);
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::PayloadTooLarge
            } else {
                ErrorCode::BadRequest
            };
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "the request body is larger than {} bytes",
                    app.config.limits.max_body_bytes
                )
            } else {
                rejection.body_text()
            };
            return RequestError::new(status, code, message)
                .into_response(MediaType::GraphQlResponse);
        }
    };
    if !is_json_content_type(&headers) {
        return RequestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the request as application/json",
        )
        .into_response(media);
    }
    let batch: RawBatch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return RequestError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                format!("the body is not a valid GraphQL request: {e}"),
            )
            .into_response(MediaType::GraphQlResponse)
            .into_response();
        }
    };
    match batch {
        RawBatch::Single(raw) => {
            execute(
                &app,
                vec![raw],
                false,
                &headers,
                caller,
                media,
                Method::POST,
            )
            .await
        }
        RawBatch::Batch(raws) => {
            let max = app.config.limits.max_batch;
            if raws.is_empty() || raws.len() > max {
                return RequestError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BatchLimitExceeded,
                    format!("a batch holds 1 to {max} operations, not {}", raws.len()),
                )
                .into_response(MediaType::GraphQlResponse);
            }
            execute(&app, raws, true, &headers, caller, media, Method::POST).await
        }
    }
}

/// `GET /graphql?query=…&variables=…&operationName=…&extensions=…` (or `documentId=…`):
/// queries only, with `ETag` / `If-None-Match`.
pub async fn get(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    let caller = caller(&app, &headers, peer);
    let bad = |message: &str| {
        bad_request(ErrorCode::BadRequest, message).into_response(MediaType::GraphQlResponse)
    };
    let json_param = |name: &str| -> Result<Option<Value>, String> {
        match params.get(name).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(raw) => match serde_json::from_str::<Value>(raw) {
                Ok(value @ Value::Object(_)) => Ok(Some(value)),
                _ => Err(format!("`{name}` must be a JSON object")),
            },
        }
    };
    let variables = match json_param("variables") {
        Ok(v) => v,
        Err(message) => return bad(&message),
    };
    let extensions = match json_param("extensions") {
        Ok(v) => v.and_then(|v| v.as_object().cloned()),
        Err(message) => return bad(&message),
    };
    let raw = RawRequest {
        query: params.get("query").cloned(),
        operation_name: params.get("operationName").cloned(),
        variables,
        extensions,
        document_id: params.get("documentId").cloned(),
    };
    if raw.query.is_none() && raw.document_id.is_none() && raw.extensions.is_none() {
        return bad("a GET request needs a `query` (or a persisted query id)");
    }
    execute(&app, vec![raw], false, &headers, caller, media, Method::GET).await
}
