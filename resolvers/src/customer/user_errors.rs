//! The expected failures of customer mutations, as `userErrors`, and how identity-provider
//! errors become them (or, for outages and faults, GraphQL errors).

use async_graphql::{Enum, SimpleObject};
use storefront_loaders::identity::IdentityError;

use crate::error::{ApiError, ErrorCode};

/// What went wrong with a customer mutation's input.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerErrorCode {
    /// A required value is empty.
    Blank,
    /// A value is malformed.
    Invalid,
    /// A value is too long.
    TooLong,
    /// Too many items in a list.
    TooMany,
    /// The password does not meet the password policy.
    PasswordTooWeak,
    /// Email and password do not match an account.
    UnidentifiedCustomer,
    /// The account's email has not been confirmed.
    CustomerNotConfirmed,
    /// The confirmation or reset code is wrong, expired or used up (never told apart, so that
    /// codes reveal nothing about accounts): check it, or request a new one.
    InvalidCode,
    /// The refresh token is invalid, expired or revoked; sign in again.
    InvalidRefreshToken,
    /// The account must reset its password before signing in.
    PasswordResetRequired,
    /// The identity provider refuses for too many attempts; wait before retrying.
    TooManyAttempts,
}

/// An expected failure of a customer mutation.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct CustomerUserError {
    /// The path to the input field at fault (`["input", "email"]`), when one is.
    pub field: Option<Vec<String>>,
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs.
    pub code: CustomerErrorCode,
}

impl CustomerUserError {
    /// An error about the input at `field`.
    pub fn new(field: &[&str], code: CustomerErrorCode, message: impl Into<String>) -> Self {
        Self {
            field: (!field.is_empty()).then(|| field.iter().map(|s| (*s).to_owned()).collect()),
            message: message.into(),
            code,
        }
    }
}

/// The input fields an identity error is about, per mutation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    /// The email's path.
    pub email: &'a [&'a str],
    /// The password's path.
    pub password: &'a [&'a str],
    /// The code's path.
    pub code: &'a [&'a str],
}

/// An identity error as a user error, or as a GraphQL error when it is not the user's to fix.
pub fn from_identity(e: IdentityError, fields: Fields<'_>) -> Result<CustomerUserError, ApiError> {
    use CustomerErrorCode as C;
    let message = e.to_string();
    Ok(match e {
        // Sign-up answers a taken email as a new account (`customer_sign_up`); elsewhere it
        // cannot happen, and is the provider's fault.
        IdentityError::EmailTaken => return Err(ApiError::internal(&e)),
        IdentityError::InvalidPassword(_) => {
            CustomerUserError::new(fields.password, C::PasswordTooWeak, message)
        }
        IdentityError::InvalidInput(_) => CustomerUserError::new(&[], C::Invalid, message),
        IdentityError::InvalidCredentials => {
            CustomerUserError::new(&[], C::UnidentifiedCustomer, message)
        }
        IdentityError::NotConfirmed => {
            CustomerUserError::new(fields.email, C::CustomerNotConfirmed, message)
        }
        IdentityError::CodeMismatch | IdentityError::CodeExpired => CustomerUserError::new(
            fields.code,
            C::InvalidCode,
            "the code is not correct, or has expired: check it, or request a new one",
        ),
        IdentityError::InvalidRefreshToken => {
            CustomerUserError::new(&["refreshToken"], C::InvalidRefreshToken, message)
        }
        IdentityError::PasswordResetRequired => {
            CustomerUserError::new(fields.email, C::PasswordResetRequired, message)
        }
        IdentityError::TooManyAttempts => CustomerUserError::new(&[], C::TooManyAttempts, message),
        IdentityError::Unavailable(why) => {
            tracing::warn!(error = %why, "identity provider unavailable");
            return Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "sign-in is unavailable right now; retry shortly",
            ));
        }
        IdentityError::Store(e) => return Err(ApiError::from(e)),
        IdentityError::Internal(_) => return Err(ApiError::internal(&e)),
    })
}
