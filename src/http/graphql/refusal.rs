//! Error bodies: requests refused before they run, and the codes and details of the errors
//! execution returns.

use async_graphql::{Response, ServerError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::{Value, json};
use storefront_resolvers::ErrorCode;
use storefront_resolvers::error::DETAIL_EXTENSION;

use super::media::MediaType;

/// A request that cannot run, with the status and code to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RequestError {
    pub(super) status: StatusCode,
    code: ErrorCode,
    message: String,
    /// The body is not a GraphQL request at all (no `query`, `variables` not a map): 400
    /// whatever the client accepts, since the legacy 200 is for well-formed requests only.
    malformed: bool,
}

impl RequestError {
    pub(super) fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            malformed: false,
        }
    }

    /// A 400 for a body that is not a well-formed GraphQL request.
    pub(super) fn malformed(message: impl Into<String>) -> Self {
        Self {
            malformed: true,
            ..Self::bad_request(ErrorCode::BadRequest, message)
        }
    }

    /// A 400 with `code`.
    pub(super) fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 401: the request's credentials are missing, malformed or not valid.
    pub(super) fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    }

    /// What is wrong, for programs.
    pub(super) fn code(&self) -> ErrorCode {
        self.code
    }

    /// What is wrong, for people.
    pub(super) fn message(&self) -> &str {
        &self.message
    }

    /// The GraphQL response body: errors only, no `data` (nothing ran).
    pub(super) fn body(&self) -> Value {
        json!({"errors": [{"message": self.message, "extensions": {"code": self.code.as_str()}}]})
    }

    pub(super) fn into_response(self, media: MediaType) -> HttpResponse {
        // Legacy JSON clients get 200 for GraphQL-level failures, as they expect.
        let status = if media == MediaType::Json
            && self.status == StatusCode::BAD_REQUEST
            && !self.malformed
        {
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

/// Whether a response is a request error: no data and only errors without a path (parse,
/// validation, operation selection, limits).
pub(super) fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// The errors with a code each (async-graphql's own errors carry none) and, outside
/// development mode, without internal details.
pub(super) fn with_code(mut errors: Vec<ServerError>, detailed: bool) -> Vec<ServerError> {
    // The limits answer with their own codes (schema extensions), so a path-less error
    // without one is a parse or validation failure.
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

/// The seconds to wait, when a response refuses an operation for a limit (the rate limit, or
/// the sign-in throttle): any error with a `retryAfter`.
pub(super) fn retry_after(response: &Response) -> Option<u64> {
    response
        .errors
        .iter()
        .find_map(|e| match e.extensions.as_ref()?.get("retryAfter") {
            Some(async_graphql::Value::Number(n)) => n.as_u64(),
            _ => None,
        })
}
