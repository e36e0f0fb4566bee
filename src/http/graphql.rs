//! GraphQL over HTTP: POST (single or batched) and GET, per the GraphQL-over-HTTP spec.
//!
//! Responses are `application/graphql-response+json` unless the client accepts only
//! `application/json`. With the former, a request that fails before execution (malformed
//! body, syntax or validation error, unknown operation) gets a 4xx status; with the latter
//! every well-formed request gets 200, as legacy clients expect.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError, Variables};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::json;
use storefront_loaders::{Batched, StoreLoader};

use crate::app::App;

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

/// An error response for a request that never reached execution.
fn request_error(status: StatusCode, media: MediaType, code: &str, message: &str) -> HttpResponse {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (
        status,
        [(header::CONTENT_TYPE, media.header())],
        body.to_string(),
    )
        .into_response()
}

/// Whether a response is a request error: no data and only errors without a path (parse,
/// validation, operation selection, limits).
fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn with_code(mut errors: Vec<ServerError>) -> Vec<ServerError> {
    // Errors async-graphql raises itself (syntax, validation, limits) carry no code; give them
    // one so that clients can branch on `extensions.code` for every error.
    for error in &mut errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            let code = match error.message.as_str() {
                // async-graphql's own limit errors; a test pins these messages.
                "Query is nested too deep." => "QUERY_TOO_DEEP",
                "Query is too complex." => "QUERY_TOO_COMPLEX",
                _ if error.path.is_empty() => "GRAPHQL_VALIDATION_FAILED",
                _ => "INTERNAL",
            };
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code);
        }
    }
    errors
}

fn respond(batch: BatchResponse, media: MediaType) -> HttpResponse {
    let (status, body) = match batch {
        BatchResponse::Single(mut response) => {
            let failed = is_request_error(&response);
            response.errors = with_code(std::mem::take(&mut response.errors));
            let status = if failed && media == MediaType::GraphQlResponse {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            (status, serde_json::to_vec(&response))
        }
        BatchResponse::Batch(responses) => {
            let responses: Vec<Response> = responses
                .into_iter()
                .map(|mut r| {
                    r.errors = with_code(std::mem::take(&mut r.errors));
                    r
                })
                .collect();
            (StatusCode::OK, serde_json::to_vec(&responses))
        }
    };
    match body {
        Ok(body) => (status, [(header::CONTENT_TYPE, media.header())], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a GraphQL response");
            request_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

async fn execute(app: &App, batch: BatchRequest, media: MediaType) -> HttpResponse {
    // One loader per HTTP request: the operations of a batch share its cache.
    let loader = StoreLoader::new(app.table.clone());
    let batch = batch.data(Arc::clone(&loader));
    let response = Batched::new(app.schema.execute_batch(batch), loader).await;
    respond(response, media)
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
pub async fn post(State(app): State<App>, headers: HeaderMap, body: Bytes) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    if !is_json_content_type(&headers) {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as application/json",
        );
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                &format!("the body is not a valid GraphQL request: {e}"),
            );
        }
    };
    if let BatchRequest::Batch(requests) = &batch {
        let max = app.config.limits.max_batch;
        if requests.is_empty() || requests.len() > max {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "BATCH_LIMIT_EXCEEDED",
                &format!(
                    "a batch holds 1 to {max} operations, not {}",
                    requests.len()
                ),
            );
        }
    }
    execute(&app, batch, media).await
}

/// The operation type a GET request would run, if its document parses and selects one.
fn operation_type(query: &str, operation_name: Option<&str>) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(query).ok()?;
    let mut operations = document.operations.iter();
    let selected = match operation_name {
        Some(name) => operations.find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
        None => operations.next(),
    }?;
    Some(selected.1.node.ty)
}

/// `GET /graphql?query=…&variables=…&operationName=…&extensions=…`: queries only.
pub async fn get(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    let bad = |message: &str| request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", message);
    let Some(query) = params.get("query") else {
        return bad("a GET request needs a `query` parameter");
    };
    let operation_name = params.get("operationName").filter(|s| !s.is_empty());
    if operation_type(query, operation_name.map(String::as_str))
        .is_some_and(|t| t != OperationType::Query)
    {
        let mut response = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "METHOD_NOT_ALLOWED",
            "only queries may be sent with GET; send mutations with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let mut request = Request::new(query.clone());
    if let Some(name) = operation_name {
        request = request.operation_name(name.clone());
    }
    if let Some(raw) = params.get("variables").filter(|s| !s.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(value @ serde_json::Value::Object(_)) => {
                request = request.variables(Variables::from_json(value));
            }
            _ => return bad("`variables` must be a JSON object"),
        }
    }
    if let Some(raw) = params.get("extensions").filter(|s| !s.is_empty()) {
        match serde_json::from_str::<HashMap<String, serde_json::Value>>(raw) {
            Ok(extensions) => {
                request.extensions = async_graphql::Extensions(
                    extensions
                        .into_iter()
                        .map(|(k, v)| (k, async_graphql::Value::from_json(v).unwrap_or_default()))
                        .collect(),
                );
            }
            Err(_) => return bad("`extensions` must be a JSON object"),
        }
    }
    execute(&app, BatchRequest::Single(request), media).await
}
