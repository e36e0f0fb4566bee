//! `ApiError`: the one error type resolvers return, with a stable `extensions.code`.

use async_graphql::ErrorExtensions;
use storefront_loaders::store::StoreError;

/// Stable machine-readable error codes, sent as `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// A backend is overloaded (the store kept throttling); retrying shortly may work.
    ServiceUnavailable,
    /// Something went wrong inside the gateway; details are in its logs.
    Internal,
}

impl ErrorCode {
    /// The code as sent to clients (SCREAMING_SNAKE_CASE).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::InvalidCursor => "INVALID_CURSOR",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::TooManyAttempts => "TOO_MANY_ATTEMPTS",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
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
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A malformed or out-of-range argument.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadUserInput, message)
    }

    /// An internal failure: logged in full, reported without detail.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, "internal error while resolving");
        Self::new(ErrorCode::Internal, "internal error")
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

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        let code = e.code.as_str();
        async_graphql::Error::new(e.message).extend_with(|_, ext| ext.set("code", code))
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
    }
}
