//! GraphQL over HTTP: POST (single or batched) and GET, per the GraphQL-over-HTTP spec, with
//! persisted operations (Apollo APQ, trusted-document ids) and response caching headers.
//!
//! Responses are `application/graphql-response+json` when the client lists it in `Accept`,
//! else `application/json`. With the former, a request that fails before execution (malformed
//! body, syntax or validation error, unknown operation, a limit) gets a 4xx status and no
//! `data`; with the latter every well-formed request gets 200, as legacy clients expect.

mod body;
mod caching;
mod caller;
mod execute;
mod media;
mod observe;
mod refusal;
mod response_cache;
mod socket;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response as HttpResponse;
use serde::Deserialize;
use serde_json::Value;
use storefront_resolvers::ErrorCode;

use crate::app::App;
pub use caller::Clients;
use execute::{Exchange, RawRequest};
use media::{MediaType, is_json_content_type};
pub use observe::OperationMetrics;
use refusal::RequestError;
pub use socket::Sockets;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawBatch {
    Single(RawRequest),
    Batch(Vec<RawRequest>),
}

/// `POST /graphql`: a JSON body holding one request or an array of them.
pub async fn post(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let (code, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
                (
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "the request body is larger than {} bytes",
                        app.config.limits.max_body_bytes
                    ),
                )
            } else {
                (ErrorCode::BadRequest, rejection.body_text())
            };
            return refuse(
                &app,
                RequestError::new(status, code, message),
                MediaType::GraphQlResponse,
            );
        }
    };
    if !is_json_content_type(&headers) {
        let refusal = RequestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the request as application/json",
        );
        return refuse(&app, refusal, media);
    }
    let malformed = |message: String| refuse(&app, RequestError::malformed(message), media);
    let batch: RawBatch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => return malformed(format!("the body is not a valid GraphQL request: {e}")),
    };
    let (raws, batched) = match batch {
        RawBatch::Single(raw) => (vec![raw], false),
        RawBatch::Batch(raws) => {
            let max = app.config.limits.max_batch;
            if raws.is_empty() || raws.len() > max {
                let refusal = RequestError::bad_request(
                    ErrorCode::BatchLimitExceeded,
                    format!("a batch holds 1 to {max} operations, not {}", raws.len()),
                );
                return refuse(&app, refusal, MediaType::GraphQlResponse);
            }
            (raws, true)
        }
    };
    let caller = match app.clients.caller(&headers, peer.ip()) {
        Ok(caller) => caller,
        Err(e) => return refuse(&app, e, media),
    };
    Exchange {
        app: &app,
        headers: &headers,
        caller,
        media,
        method: Method::POST,
    }
    .run(raws, batched)
    .await
}

/// Answers a request refused before its operations were known, and counts it.
fn refuse(app: &App, refusal: RequestError, media: MediaType) -> HttpResponse {
    app.operations.refused(refusal.code().as_str());
    refusal.into_response(media)
}

/// `GET /graphql?query=…&variables=…&operationName=…&extensions=…` (or `documentId=…`):
/// queries only, with `ETag` / `If-None-Match`; or a WebSocket handshake, for subscriptions.
pub async fn get(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    Query(params): Query<HashMap<String, String>>,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    if socket::is_upgrade(&headers) {
        let ws = match ws {
            Ok(ws) => ws,
            Err(rejection) => return rejection.into_response(),
        };
        return match app.clients.caller(&headers, peer.ip()) {
            Ok(caller) => socket::upgrade(app.clone(), caller, &headers, ws),
            Err(e) => refuse(&app, e, media),
        };
    }
    let bad = |message: &str| refuse(&app, RequestError::malformed(message), media);
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
    let caller = match app.clients.caller(&headers, peer.ip()) {
        Ok(caller) => caller,
        Err(e) => return refuse(&app, e, media),
    };
    Exchange {
        app: &app,
        headers: &headers,
        caller,
        media,
        method: Method::GET,
    }
    .run(vec![raw], false)
    .await
}
