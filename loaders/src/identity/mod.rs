//! Customer identity: the provider trait with its Cognito and embedded engines, access-token
//! verification, sign-in throttling and customer profiles.

mod codes;
mod cognito;
mod domain;
mod email;
mod embedded;
mod mailer;
mod metrics;
mod owner;
mod password;
mod profile;
mod signing_key;
mod throttle;
mod verify;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use codes::{CodeDelivery, CodePurpose, LogDelivery};
pub use cognito::{CognitoIdentity, CognitoSettings};
pub use domain::{CognitoConfig, DOMAIN, IdentityConfig, IdentityDomain, IdentityEngine};
pub use email::Email;
pub use embedded::{EmbeddedIdentity, EmbeddedSettings};
pub use mailer::CodeMailer;
pub use metrics::IdentityMetrics;
pub use owner::{GuestToken, Owner};
pub use password::check_password_policy;
pub use profile::{Address, CustomerProfile, ProfileChanges, ProfileStore};
pub use signing_key::SigningKey;
pub use throttle::{SignInThrottle, ThrottleSettings};
pub use verify::{AccessClaims, JwksCache, KeySource, TokenError, TokenVerifier, VerifierSettings};

pub use crate::rate_limit::ClientIp;
use crate::store::StoreError;

/// A failure of an identity operation. The expected ones (a wrong password, a taken email)
/// become `userErrors`; the rest are service errors.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Sign-up with an email that has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The password breaks the policy; the message says how.
    #[error("{0}")]
    InvalidPassword(String),
    /// Another input the provider refused; the message says why.
    #[error("{0}")]
    InvalidInput(String),
    /// Unknown email or wrong password (never told apart, so accounts cannot be probed).
    #[error("incorrect email or password")]
    InvalidCredentials,
    /// Sign-in before the sign-up was confirmed.
    #[error("the account is not confirmed: enter the code sent to your email")]
    NotConfirmed,
    /// The confirmation or reset code is wrong.
    #[error("the code is not correct")]
    CodeMismatch,
    /// The code has expired or was used up; a new one must be requested.
    #[error("the code has expired: request a new one")]
    CodeExpired,
    /// The refresh token is unknown, expired or revoked.
    #[error("the session has ended: sign in again")]
    InvalidRefreshToken,
    /// The provider requires a password reset before sign-in.
    #[error("a password reset is required: request a reset code")]
    PasswordResetRequired,
    /// The provider refuses for too many attempts.
    #[error("too many attempts: try again later")]
    TooManyAttempts,
    /// The provider cannot be reached or failed.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of the gateway or its configuration.
    #[error("identity provider error: {0}")]
    Internal(String),
}

/// What a new customer gives at sign-up.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Their email, which is their sign-in name.
    pub email: Email,
    /// Their chosen password.
    pub password: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
}

/// The result of a sign-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignUpOutcome {
    /// The new identity's stable subject.
    pub sub: String,
    /// Whether the account can sign in already (auto-confirmed).
    pub confirmed: bool,
}

/// Tokens of a signed-in session.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    /// The bearer token for requests.
    pub access_token: String,
    /// The token that renews the access token.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

/// An identity provider: accounts, passwords, sessions.
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// Registers an account; it needs confirming unless the provider auto-confirms.
    async fn sign_up(&self, account: &NewAccount) -> Result<SignUpOutcome, IdentityError>;
    /// Sends a new sign-up confirmation code, if the email has an unconfirmed account
    /// (silently nothing, else).
    async fn resend_confirmation(&self, email: &Email) -> Result<(), IdentityError>;
    /// Confirms a sign-up with the code sent to the email.
    async fn confirm_sign_up(&self, email: &Email, code: &str) -> Result<(), IdentityError>;
    /// Checks the password and opens a session.
    async fn sign_in(&self, email: &Email, password: &str) -> Result<SessionTokens, IdentityError>;
    /// A new access token for a session's refresh token.
    async fn refresh(&self, refresh_token: &str) -> Result<SessionTokens, IdentityError>;
    /// Ends the session the access token belongs to (its refresh token stops working).
    async fn sign_out(
        &self,
        access_token: &str,
        claims: &AccessClaims,
    ) -> Result<(), IdentityError>;
    /// Sends a password-reset code to the email, if it has an account (silently not, else).
    async fn request_password_reset(&self, email: &Email) -> Result<(), IdentityError>;
    /// Sets a new password with a reset code.
    async fn reset_password(
        &self,
        email: &Email,
        code: &str,
        new_password: &str,
    ) -> Result<(), IdentityError>;
}

/// The signed-in customer of a request, from a verified access token.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The verified claims.
    pub claims: AccessClaims,
    /// The token itself (Cognito's sign-out needs it).
    pub access_token: String,
}

impl Viewer {
    /// The customer's stable subject.
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }
}

/// Everything identity a request needs: the provider, the verifier, the throttle, profiles.
#[derive(Clone)]
pub struct Identity {
    /// The configured provider.
    pub provider: Arc<dyn IdentityProvider>,
    /// Verifies access tokens.
    pub verifier: Arc<TokenVerifier>,
    /// Throttles failed sign-ins.
    pub throttle: Arc<SignInThrottle>,
    /// Sends requested codes in the background.
    pub mailer: CodeMailer,
    /// Customer profiles.
    pub profiles: ProfileStore,
    /// Where operations and token checks are counted.
    pub metrics: Arc<IdentityMetrics>,
}
