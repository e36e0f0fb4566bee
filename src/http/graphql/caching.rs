//! HTTP caching of GraphQL responses: `Cache-Control` from the schema's hints (never for a
//! customer's data), and `ETag` / `If-None-Match` on GET.

use async_graphql::Response;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use storefront_schema::persisted::sha256_hex;

/// Whether the request speaks for a customer (its response must never be shared).
pub(super) fn is_personal(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE)
}

/// The `Cache-Control` of a response: the schema's hints for public data, `private, no-store`
/// for anything tied to a customer.
pub(super) fn cache_control(response: &Response, personal: bool) -> HeaderValue {
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

/// Adds a strong validator of the exact bytes of a GET answer (CDNs and browsers revalidate
/// with it); returns whether the client's `If-None-Match` already holds it (answer 304).
pub(super) fn validate(
    request: &HeaderMap,
    response: &mut HeaderMap,
    status: StatusCode,
    body: &[u8],
) -> bool {
    if status != StatusCode::OK {
        return false;
    }
    let etag = format!("\"{}\"", &sha256_hex(body)[..32]);
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.insert(header::ETAG, value);
    }
    response.insert(
        header::VARY,
        HeaderValue::from_static("accept, authorization"),
    );
    matches
}
