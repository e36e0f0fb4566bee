//! `ApiError`: the one error type resolvers return, with a stable `extensions.code`.

use async_graphql::ErrorExtensions;
use storefront_loaders::search::SearchError;
use storefront_loaders::store::StoreError;

/// Stable machine-readable error codes, sent as `extensions.code`: every code the gateway
/// answers with is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An argument is malformed or out of range.
    BadUserInput,
    /// A global ID is malformed or names another type.
    InvalidId,
    /// A pagination cursor is malformed or belongs to another list.
    InvalidCursor,
    /// The request needs a signed-in customer, or its access token is not valid.
    Unauthenticated,
    /// Too many failed sign-ins (or codes) for an email or from an address; `retryAfter` says
    /// how many seconds to wait.
    TooManyAttempts,
    /// The client spent its rate-limit budget; `retryAfter` says how many seconds to wait.
    RateLimited,
    /// A backend is overloaded or away; retrying shortly may work.
    ServiceUnavailable,
    /// Something went wrong inside the gateway; details are in its logs.
    Internal,
    /// The HTTP request is not a GraphQL request (malformed body or parameters).
    BadRequest,
    /// The document does not parse, or does not validate against the schema.
    GraphqlValidationFailed,
    /// The selection nesting is deeper than allowed.
    QueryTooDeep,
    /// The operation's cost (lists multiply) is higher than allowed.
    QueryTooComplex,
    /// The document has more aliased fields than allowed (fragments expanded).
    QueryTooManyAliases,
    /// The operation has more root fields than allowed.
    QueryTooManyRootFields,
    /// The document has more lexical tokens than allowed.
    QueryTooManyTokens,
    /// Introspection is turned off on this gateway.
    IntrospectionDisabled,
    /// The request body is larger than allowed.
    PayloadTooLarge,
    /// A batch holds no operation or more than allowed.
    BatchLimitExceeded,
    /// A mutation was sent with GET.
    MethodNotAllowed,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// No document is known for the persisted query id; send it with its text.
    PersistedQueryNotFound,
    /// The document's SHA-256 is not the id sent with it.
    PersistedQueryHashMismatch,
    /// Only operations of the persisted-query manifests are accepted.
    PersistedQueryRequired,
    /// The `x-api-key` sent is not one this gateway issued.
    InvalidApiKey,
    /// The caller may not do this (an operator mutation without an operator's key).
    Forbidden,
    /// The answer would be larger than the gateway sends; ask for less.
    ResponseTooLarge,
    /// The request ran longer than the gateway allows; ask for less.
    Timeout,
    /// The search engine is away or too slow; retrying shortly may work.
    SearchUnavailable,
    /// No such object, or not one this caller may read.
    NotFound,
    /// The WebSocket connection runs as many subscriptions as one may; complete one first.
    TooManySubscriptions,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 30] = [
        ErrorCode::BadUserInput,
        ErrorCode::InvalidId,
        ErrorCode::InvalidCursor,
        ErrorCode::Unauthenticated,
        ErrorCode::TooManyAttempts,
        ErrorCode::RateLimited,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
        ErrorCode::BadRequest,
        ErrorCode::GraphqlValidationFailed,
        ErrorCode::QueryTooDeep,
        ErrorCode::QueryTooComplex,
        ErrorCode::QueryTooManyAliases,
        ErrorCode::QueryTooManyRootFields,
        ErrorCode::QueryTooManyTokens,
        ErrorCode::IntrospectionDisabled,
        ErrorCode::PayloadTooLarge,
        ErrorCode::BatchLimitExceeded,
        ErrorCode::MethodNotAllowed,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PersistedQueryNotFound,
        ErrorCode::PersistedQueryHashMismatch,
        ErrorCode::PersistedQueryRequired,
        ErrorCode::InvalidApiKey,
        ErrorCode::Forbidden,
        ErrorCode::ResponseTooLarge,
        ErrorCode::Timeout,
        ErrorCode::SearchUnavailable,
        ErrorCode::NotFound,
        ErrorCode::TooManySubscriptions,
    ];

    /// The code as sent to clients (SCREAMING_SNAKE_CASE).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::InvalidCursor => "INVALID_CURSOR",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::TooManyAttempts => "TOO_MANY_ATTEMPTS",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::QueryTooDeep => "QUERY_TOO_DEEP",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::QueryTooManyAliases => "QUERY_TOO_MANY_ALIASES",
            ErrorCode::QueryTooManyRootFields => "QUERY_TOO_MANY_ROOT_FIELDS",
            ErrorCode::QueryTooManyTokens => "QUERY_TOO_MANY_TOKENS",
            ErrorCode::IntrospectionDisabled => "INTROSPECTION_DISABLED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::BatchLimitExceeded => "BATCH_LIMIT_EXCEEDED",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::PersistedQueryHashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            ErrorCode::PersistedQueryRequired => "PERSISTED_QUERY_REQUIRED",
            ErrorCode::InvalidApiKey => "INVALID_API_KEY",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::ResponseTooLarge => "RESPONSE_TOO_LARGE",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::SearchUnavailable => "SEARCH_UNAVAILABLE",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a resolver reports to the client.
//
// Deliberately not `Display`: async-graphql converts every `Display` type into an error
// without extensions, which would drop the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What kind of error.
    pub code: ErrorCode,
    /// What the client should know.
    pub message: String,
    /// What went wrong inside, for developers: sent as `extensions.detail` in development
    /// mode only (the HTTP layer removes it in production).
    pub detail: Option<String>,
    /// Seconds after which retrying may work (`extensions.retryAfter`).
    pub retry_after: Option<u64>,
}

/// The extension holding an internal error's detail, which production responses never carry.
pub const DETAIL_EXTENSION: &str = "detail";

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
        }
    }

    /// A malformed or out-of-range argument.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadUserInput, message)
    }

    /// An internal failure: logged in full, reported as `internal error` with the cause as
    /// its detail (shown in development mode only).
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, "internal error while resolving");
        Self {
            detail: Some(cause.to_string()),
            ..Self::new(ErrorCode::Internal, "internal error")
        }
    }
}

impl From<&StoreError> for ApiError {
    fn from(e: &StoreError) -> Self {
        match e {
            StoreError::Throttled(_) => {
                tracing::warn!(error = %e, "the store is throttling");
                Self::new(
                    ErrorCode::ServiceUnavailable,
                    "the store is busy; retry shortly",
                )
            }
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "the store is unavailable");
                Self {
                    retry_after: Some(1),
                    ..Self::new(
                        ErrorCode::ServiceUnavailable,
                        "the store is unavailable; retry shortly",
                    )
                }
            }
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::from(&e)
    }
}

impl From<std::sync::Arc<StoreError>> for ApiError {
    fn from(e: std::sync::Arc<StoreError>) -> Self {
        Self::from(e.as_ref())
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match &e {
            SearchError::Unavailable(_) => {
                tracing::warn!(error = %e, "search failed");
                Self {
                    detail: Some(e.to_string()),
                    ..Self::new(
                        ErrorCode::SearchUnavailable,
                        "search is unavailable right now; retry shortly",
                    )
                }
            }
            SearchError::Refused(_) => Self::internal(&e),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        let code = e.code.as_str();
        async_graphql::Error::new(e.message).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(detail) = e.detail {
                ext.set(DETAIL_EXTENSION, detail);
            }
            if let Some(seconds) = e.retry_after {
                ext.set("retryAfter", seconds);
            }
        })
    }
}

/// The result type of resolvers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_a_retryable_error_and_the_rest_is_internal_without_detail() {
        let throttled = ApiError::from(StoreError::Throttled("slow down".into()));
        assert_eq!(throttled.code, ErrorCode::ServiceUnavailable);
        let broken = ApiError::from(StoreError::Backend("secret detail".into()));
        assert_eq!(broken.code, ErrorCode::Internal);
        assert!(!broken.message.contains("secret"));
        assert!(
            broken
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("secret")),
            "the detail is kept for development mode"
        );
    }
}
