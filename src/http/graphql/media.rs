//! Content negotiation: the media type a response is written in, and the request bodies
//! accepted.

use axum::http::{HeaderMap, HeaderValue, header};

pub(super) const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type to answer in, from the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaType {
    /// `application/graphql-response+json`: request errors get 4xx statuses.
    GraphQlResponse,
    /// `application/json`: every well-formed request gets 200, as legacy clients expect.
    Json,
}

impl MediaType {
    /// `application/graphql-response+json` when the client lists it; otherwise (no `Accept`,
    /// `*/*`, `application/json`, anything else) `application/json`, as the GraphQL-over-HTTP
    /// spec asks of servers during its watershed.
    pub(super) fn negotiate(headers: &HeaderMap) -> Self {
        let lists_graphql_response = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.split(';').next().unwrap_or("").trim())
            .any(|t| t.eq_ignore_ascii_case(GRAPHQL_RESPONSE));
        if lists_graphql_response {
            MediaType::GraphQlResponse
        } else {
            MediaType::Json
        }
    }

    /// The `Content-Type` of a response in this type.
    pub(super) fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// Whether a POST body is declared as JSON (or not declared at all).
pub(super) fn is_json_content_type(headers: &HeaderMap) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(values: &[&str]) -> MediaType {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::ACCEPT,
                HeaderValue::from_str(value).expect("header"),
            );
        }
        MediaType::negotiate(&headers)
    }

    #[test]
    fn json_unless_the_client_lists_graphql_response_json() {
        assert_eq!(accepting(&[]), MediaType::Json);
        assert_eq!(accepting(&["*/*"]), MediaType::Json);
        assert_eq!(accepting(&["application/json"]), MediaType::Json);
        assert_eq!(
            accepting(&[
                "application/json",
                "application/graphql-response+json;q=0.9"
            ]),
            MediaType::GraphQlResponse
        );
        assert_eq!(
            accepting(&["Application/GraphQL-Response+JSON"]),
            MediaType::GraphQlResponse
        );
    }
}
