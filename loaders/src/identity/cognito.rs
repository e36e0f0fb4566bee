//! The Cognito engine: the user-pool API (SignUp, ConfirmSignUp, InitiateAuth with
//! USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH, GlobalSignOut, ForgotPassword,
//! ConfirmForgotPassword), with SECRET_HASH when the app client has a secret, and every
//! Cognito exception mapped to a stable error.

use async_trait::async_trait;
use aws_lc_rs::hmac;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, AuthenticationResultType,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;

use super::{
    AccessClaims, Email, IdentityError, IdentityProvider, NewAccount, SessionTokens, SignUpOutcome,
};

/// Where the user pool is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoSettings {
    /// Region; when unset, the standard chain decides.
    pub region: Option<String>,
    /// The user pool id (`us-east-1_AbCdEf`).
    pub user_pool_id: String,
    /// The app client id.
    pub client_id: String,
    /// The app client secret, when the client has one.
    pub client_secret: Option<String>,
    /// Endpoint override (moto, LocalStack).
    pub endpoint_url: Option<String>,
}

/// The Cognito engine.
pub struct CognitoIdentity {
    client: Client,
    settings: CognitoSettings,
}

/// What a Cognito `NotAuthorizedException` means in the operation that got it.
#[derive(Clone, Copy)]
enum Refusal {
    Credentials,
    RefreshToken,
    Code,
}

fn map_error<E, R>(e: &SdkError<E, R>, refusal: Refusal) -> IdentityError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = e.message().unwrap_or("refused").to_owned();
    match e.code() {
        Some("UsernameExistsException" | "AliasExistsException") => IdentityError::EmailTaken,
        Some("InvalidPasswordException") => IdentityError::InvalidPassword(message),
        Some("InvalidParameterException") => IdentityError::InvalidInput(message),
        Some("CodeMismatchException") => IdentityError::CodeMismatch,
        Some("ExpiredCodeException") => IdentityError::CodeExpired,
        Some("UserNotConfirmedException") => IdentityError::NotConfirmed,
        Some("PasswordResetRequiredException") => IdentityError::PasswordResetRequired,
        Some(
            "TooManyRequestsException"
            | "LimitExceededException"
            | "TooManyFailedAttemptsException",
        ) => IdentityError::TooManyAttempts,
        Some("NotAuthorizedException" | "UserNotFoundException") => match refusal {
            Refusal::Credentials => IdentityError::InvalidCredentials,
            Refusal::RefreshToken => IdentityError::InvalidRefreshToken,
            Refusal::Code => IdentityError::CodeMismatch,
        },
        Some("ResourceNotFoundException") => IdentityError::Internal(format!(
            "Cognito does not know the user pool or app client (settings under \
             `[identity.cognito]`): {message}"
        )),
        Some(code) => {
            tracing::error!(code, message, "Cognito refused a request");
            IdentityError::Unavailable(format!("Cognito: {code}"))
        }
        None => {
            let detail = aws_smithy_types::error::display::DisplayErrorContext(e).to_string();
            tracing::error!(error = %detail, "cannot reach Cognito");
            IdentityError::Unavailable("Cognito cannot be reached".into())
        }
    }
}

impl CognitoIdentity {
    /// A client of the configured user pool.
    pub async fn connect(
        settings: CognitoSettings,
        metrics: &std::sync::Arc<crate::Metrics>,
    ) -> Result<Self, IdentityError> {
        let shared =
            crate::aws::sdk_config(settings.region.as_deref(), settings.endpoint_url.as_deref())
                .await
                .ok_or_else(|| {
                    IdentityError::Internal(
                        "no AWS region for Cognito: set `identity.cognito.region` or AWS_REGION"
                            .into(),
                    )
                })?;
        let config = aws_sdk_cognitoidentityprovider::config::Builder::from(&shared)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .interceptor(crate::aws::Observed::new(
                metrics,
                "cognitoidentityprovider",
            ))
            .build();
        Ok(Self {
            client: Client::from_conf(config),
            settings,
        })
    }

    /// Cognito's SECRET_HASH: Base64(HMAC-SHA256(secret, username + client id)).
    fn secret_hash(&self, username: &str) -> Option<String> {
        let secret = self.settings.client_secret.as_ref()?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let tag = hmac::sign(
            &key,
            format!("{username}{}", self.settings.client_id).as_bytes(),
        );
        Some(STANDARD.encode(tag.as_ref()))
    }

    /// The session's tokens. Cognito's refresh token is wrapped with the user name it
    /// belongs to, which a refresh needs for its SECRET_HASH and cannot learn otherwise.
    fn tokens(
        &self,
        result: Option<&AuthenticationResultType>,
        refresh: Option<String>,
        fallback_username: &str,
    ) -> Result<SessionTokens, IdentityError> {
        let result = result.ok_or_else(|| {
            IdentityError::Unavailable(
                "Cognito asked for a challenge (MFA, new password) the gateway does not support"
                    .into(),
            )
        })?;
        let access_token = result
            .access_token()
            .ok_or_else(|| IdentityError::Unavailable("Cognito returned no access token".into()))?
            .to_owned();
        let refresh_token = match (result.refresh_token(), refresh) {
            (Some(fresh), _) => {
                // Our own token, straight from Cognito: only its user name is read.
                let username =
                    jsonwebtoken::dangerous::insecure_decode_claims::<AccessClaims>(&access_token)
                        .ok()
                        .and_then(|c| c.username)
                        .unwrap_or_else(|| fallback_username.to_owned());
                format!("{}.{fresh}", URL_SAFE_NO_PAD.encode(username))
            }
            (None, Some(wrapped)) => wrapped,
            (None, None) => {
                return Err(IdentityError::Unavailable(
                    "Cognito returned no refresh token".into(),
                ));
            }
        };
        Ok(SessionTokens {
            access_token,
            refresh_token,
            expires_at: Utc::now() + chrono::Duration::seconds(i64::from(result.expires_in())),
        })
    }
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, IdentityError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(|e| IdentityError::Internal(e.to_string()))
}

#[async_trait]
impl IdentityProvider for CognitoIdentity {
    async fn sign_up(&self, account: &NewAccount) -> Result<SignUpOutcome, IdentityError> {
        let email = account.email.as_str();
        let mut attributes = vec![attribute("email", email)?];
        if let Some(name) = &account.first_name {
            attributes.push(attribute("given_name", name)?);
        }
        if let Some(name) = &account.last_name {
            attributes.push(attribute("family_name", name)?);
        }
        let output = self
            .client
            .sign_up()
            .client_id(&self.settings.client_id)
            .username(email)
            .password(&account.password)
            .set_user_attributes(Some(attributes))
            .set_secret_hash(self.secret_hash(email))
            .send()
            .await
            .map_err(|e| map_error(&e, Refusal::Credentials))?;
        Ok(SignUpOutcome {
            sub: output.user_sub().to_owned(),
            confirmed: output.user_confirmed(),
        })
    }

    async fn resend_confirmation(&self, email: &Email) -> Result<(), IdentityError> {
        match self
            .client
            .resend_confirmation_code()
            .client_id(&self.settings.client_id)
            .username(email.as_str())
            .set_secret_hash(self.secret_hash(email.as_str()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Unknown or already confirmed: not revealed.
            Err(e)
                if matches!(
                    e.code(),
                    Some("UserNotFoundException" | "InvalidParameterException")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(map_error(&e, Refusal::Credentials)),
        }
    }

    async fn confirm_sign_up(&self, email: &Email, code: &str) -> Result<(), IdentityError> {
        self.client
            .confirm_sign_up()
            .client_id(&self.settings.client_id)
            .username(email.as_str())
            .confirmation_code(code.trim())
            .set_secret_hash(self.secret_hash(email.as_str()))
            .send()
            .await
            .map_err(|e| map_error(&e, Refusal::Code))?;
        Ok(())
    }

    async fn sign_in(&self, email: &Email, password: &str) -> Result<SessionTokens, IdentityError> {
        let mut request = self
            .client
            .initiate_auth()
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .client_id(&self.settings.client_id)
            .auth_parameters("USERNAME", email.as_str())
            .auth_parameters("PASSWORD", password);
        if let Some(hash) = self.secret_hash(email.as_str()) {
            request = request.auth_parameters("SECRET_HASH", hash);
        }
        let output = request
            .send()
            .await
            .map_err(|e| map_error(&e, Refusal::Credentials))?;
        self.tokens(output.authentication_result(), None, email.as_str())
    }

    async fn refresh(&self, refresh_token: &str) -> Result<SessionTokens, IdentityError> {
        let wrapped = refresh_token.trim();
        let (username, token) = wrapped
            .split_once('.')
            .and_then(|(u, t)| {
                let username = String::from_utf8(URL_SAFE_NO_PAD.decode(u).ok()?).ok()?;
                Some((username, t))
            })
            .filter(|(u, t)| !u.is_empty() && !t.is_empty())
            .ok_or(IdentityError::InvalidRefreshToken)?;
        let mut request = self
            .client
            .initiate_auth()
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .client_id(&self.settings.client_id)
            .auth_parameters("REFRESH_TOKEN", token);
        if let Some(hash) = self.secret_hash(&username) {
            request = request.auth_parameters("SECRET_HASH", hash);
        }
        let output = request
            .send()
            .await
            .map_err(|e| map_error(&e, Refusal::RefreshToken))?;
        self.tokens(
            output.authentication_result(),
            Some(wrapped.to_owned()),
            &username,
        )
    }

    async fn sign_out(
        &self,
        access_token: &str,
        _claims: &AccessClaims,
    ) -> Result<(), IdentityError> {
        self.client
            .global_sign_out()
            .access_token(access_token)
            .send()
            .await
            .map_err(|e| map_error(&e, Refusal::RefreshToken))?;
        Ok(())
    }

    async fn request_password_reset(&self, email: &Email) -> Result<(), IdentityError> {
        match self
            .client
            .forgot_password()
            .client_id(&self.settings.client_id)
            .username(email.as_str())
            .set_secret_hash(self.secret_hash(email.as_str()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Unknown emails are not revealed.
            Err(e) if e.code() == Some("UserNotFoundException") => Ok(()),
            Err(e) => Err(map_error(&e, Refusal::Credentials)),
        }
    }

    async fn reset_password(
        &self,
        email: &Email,
        code: &str,
        new_password: &str,
    ) -> Result<(), IdentityError> {
        self.client
            .confirm_forgot_password()
            .client_id(&self.settings.client_id)
            .username(email.as_str())
            .confirmation_code(code.trim())
            .password(new_password)
            .set_secret_hash(self.secret_hash(email.as_str()))
            .send()
            .await
            .map_err(|e| map_error(&e, Refusal::Code))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_secret_hash_matches_cognitos_documented_construction() {
        let identity = CognitoIdentity::connect(
            CognitoSettings {
                region: Some("us-east-1".into()),
                user_pool_id: "us-east-1_x".into(),
                client_id: "client".into(),
                client_secret: Some("secret".into()),
                endpoint_url: Some("http://127.0.0.1:9".into()),
            },
            &std::sync::Arc::new(crate::Metrics::new()),
        )
        .await
        .expect("client");
        // HMAC-SHA256("secret", "ada@example.com" + "client"), Base64: computed independently
        // with `printf 'ada@example.comclient' | openssl dgst -sha256 -hmac secret -binary | base64`.
        assert_eq!(
            identity.secret_hash("ada@example.com").as_deref(),
            Some("pCfmF0r7Gu0NuqTNTEkVYGLmqkeLB+7ZDlvCeFKuOH0=")
        );
    }
}
