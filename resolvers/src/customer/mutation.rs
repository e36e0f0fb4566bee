//! Sign-up, confirmation, sign-in, refresh, sign-out, password reset and profile updates.

use async_graphql::{Context, ErrorExtensions as _, Object, SimpleObject};
use storefront_loaders::fraud::{ClientSignals, Fraud, FraudEvent, FraudEventKind, Verdict};
use storefront_loaders::identity::{
    ClientIp, CodePurpose, CustomerProfile, Email, Identity, IdentityError, NewAccount,
    ProfileChanges, SessionTokens,
};
use storefront_loaders::rate_limit::Limited;

use super::guard::{signed_in, viewer};
use super::inputs::{Checks, CustomerSignUpInput, CustomerUpdateInput};
use super::types::Customer;
use super::user_errors::{CustomerUserError, Fields, from_identity};
use crate::context::service;
use crate::error::{ApiError, ErrorCode};
use crate::scalars::DateTime;

/// The result of `customerSignUp`.
#[derive(SimpleObject)]
pub struct CustomerSignUpPayload {
    /// The new customer; null on failure.
    pub customer: Option<Customer>,
    /// Whether the code sent to the email must be confirmed before signing in.
    pub confirmation_required: bool,
    /// What was wrong with the input.
    pub user_errors: Vec<CustomerUserError>,
}

/// The result of `customerConfirmSignUp`.
#[derive(SimpleObject)]
pub struct CustomerConfirmSignUpPayload {
    /// Whether the account is confirmed and can sign in.
    pub confirmed: bool,
    /// What was wrong with the input.
    pub user_errors: Vec<CustomerUserError>,
}

/// A signed-in session: the result of `customerSignIn` and `customerTokenRefresh`.
#[derive(SimpleObject, Default)]
pub struct CustomerSessionPayload {
    /// The bearer token for requests: `Authorization: Bearer <accessToken>`.
    pub access_token: Option<String>,
    /// Renews the access token with `customerTokenRefresh`; keep it secret.
    pub refresh_token: Option<String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime>,
    /// The signed-in customer.
    pub customer: Option<Customer>,
    /// The customer's cart, when the sign-in brought a guest cart along (`cartId`).
    pub cart: Option<crate::cart::Cart>,
    /// What bringing the guest cart along changed.
    pub cart_changes: Vec<crate::cart::CartMergeChange>,
    /// Why signing in failed.
    pub user_errors: Vec<CustomerUserError>,
}

/// The result of `customerSignOut`.
#[derive(SimpleObject)]
pub struct CustomerSignOutPayload {
    /// Whether the session was ended.
    pub signed_out: bool,
    /// What went wrong.
    pub user_errors: Vec<CustomerUserError>,
}

/// The result of `customerConfirmationResend`, `customerPasswordResetRequest` and
/// `customerPasswordReset`.
#[derive(SimpleObject)]
pub struct CustomerAcceptedPayload {
    /// Whether the request was accepted. A code is sent only when the email has an account
    /// (an unconfirmed one, for a resend); the answer is the same when it has none, so
    /// accounts cannot be probed.
    pub accepted: bool,
    /// What was wrong with the input.
    pub user_errors: Vec<CustomerUserError>,
}

/// The result of `customerUpdate`.
#[derive(SimpleObject)]
pub struct CustomerUpdatePayload {
    /// The updated customer; null on failure.
    pub customer: Option<Customer>,
    /// What was wrong with the input.
    pub user_errors: Vec<CustomerUserError>,
}

/// A payload's user errors, so that outcomes can be counted alike.
trait WithUserErrors {
    fn user_errors(&self) -> &[CustomerUserError];
}

macro_rules! with_user_errors {
    ($($payload:ty),*) => {$(
        impl WithUserErrors for $payload {
            fn user_errors(&self) -> &[CustomerUserError] {
                &self.user_errors
            }
        }
    )*};
}

with_user_errors!(
    CustomerSignUpPayload,
    CustomerConfirmSignUpPayload,
    CustomerSessionPayload,
    CustomerSignOutPayload,
    CustomerAcceptedPayload,
    CustomerUpdatePayload
);

/// Counts how an identity operation ended: `ok`, `rejected` (user errors), `throttled` or
/// `error`.
fn counted<T: WithUserErrors>(
    ctx: &Context<'_>,
    operation: &'static str,
    result: async_graphql::Result<T>,
) -> async_graphql::Result<T> {
    let outcome = match &result {
        Ok(payload) if payload.user_errors().is_empty() => "ok",
        Ok(_) => "rejected",
        Err(e)
            if e.extensions.as_ref().and_then(|x| x.get("code"))
                == Some(&async_graphql::Value::from(
                    ErrorCode::TooManyAttempts.as_str(),
                )) =>
        {
            "throttled"
        }
        Err(_) => "error",
    };
    if let Ok(identity) = service::<Identity>(ctx) {
        identity.metrics.identity(operation, outcome);
    }
    result
}

/// The refusal of a throttled sign-in: `TOO_MANY_ATTEMPTS`, with `retryAfter` seconds (the
/// HTTP response says `429` and `Retry-After`).
fn throttled(limited: Limited) -> async_graphql::Error {
    let seconds = limited.retry_after;
    async_graphql::Error::new(format!(
        "too many failed attempts: try again in {seconds} s"
    ))
    .extend_with(|_, e| {
        e.set("code", ErrorCode::TooManyAttempts.as_str());
        e.set("retryAfter", seconds);
    })
}

/// Runs a password or code check under the brute-force throttle: an attempt is reserved
/// before the check runs (refused when the email or the address has none left) and given back
/// only when the check succeeds, so that every failure counts, whatever its kind.
async fn throttled_attempt<T>(
    identity: &Identity,
    ip: Option<&ClientIp>,
    email: &Email,
    attempt: impl Future<Output = Result<T, IdentityError>>,
) -> async_graphql::Result<Result<T, IdentityError>> {
    let reservation = identity
        .throttle
        .reserve(email, ip)
        .await
        .map_err(throttled)?;
    let result = attempt.await;
    if result.is_ok() {
        identity.throttle.release(reservation).await;
    }
    Ok(result)
}

/// Mails a code of `purpose` to the email: checks its shape (a user error), then the
/// per-email limit (`TOO_MANY_ATTEMPTS`), then asks the provider, which sends nothing (and says
/// so to nobody) when the email has no account to send it for.
async fn mail_code(
    ctx: &Context<'_>,
    raw: &str,
    purpose: CodePurpose,
) -> async_graphql::Result<CustomerAcceptedPayload> {
    let mut checks = Checks::default();
    let Some(email) = checks.email(BY_EMAIL.email, raw) else {
        return Ok(CustomerAcceptedPayload {
            accepted: false,
            user_errors: checks.errors,
        });
    };
    let identity = service::<Identity>(ctx)?;
    identity
        .throttle
        .code_requested(&email)
        .await
        .map_err(throttled)?;
    // Queued, and answered the same whether or not the email has an account: the lookup and
    // the mail happen off the request path, so that neither the answer nor its timing tells.
    identity.mailer.request(purpose, email);
    Ok(CustomerAcceptedPayload {
        accepted: true,
        user_errors: Vec::new(),
    })
}

/// The user errors of a step that returns nothing: none when it worked.
fn user_errors_of(
    result: Result<(), IdentityError>,
    fields: Fields<'_>,
) -> Result<Vec<CustomerUserError>, ApiError> {
    match result {
        Ok(()) => Ok(Vec::new()),
        Err(e) => Ok(vec![from_identity(e, fields)?]),
    }
}

/// The payload of a new or renewed session.
async fn session(
    identity: &Identity,
    tokens: SessionTokens,
    email: Option<&Email>,
) -> Result<CustomerSessionPayload, ApiError> {
    let claims = identity
        .verifier
        .verify(&tokens.access_token)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a token the provider just issued does not verify: \
                check the identity issuer, audience and JWKS settings");
            ApiError::new(ErrorCode::Internal, "internal error")
        })?;
    let email = email.map(Email::as_str).or(claims.email.as_deref());
    let profile = identity
        .profiles
        .ensure(&claims.sub, email, &ProfileChanges::default())
        .await?;
    Ok(CustomerSessionPayload {
        access_token: Some(tokens.access_token),
        refresh_token: Some(tokens.refresh_token),
        expires_at: Some(DateTime(tokens.expires_at)),
        customer: Some(Customer(profile)),
        cart: None,
        cart_changes: Vec::new(),
        user_errors: Vec::new(),
    })
}

/// The fraud check's view of an identity event of this request.
fn fraud_event(ctx: &Context<'_>, kind: FraudEventKind, email: &Email) -> FraudEvent {
    let mut event = FraudEvent::new(kind, email.as_str());
    event.ip = ctx.data_opt::<ClientIp>().map(|ip| ip.0.clone());
    event.signals = ctx.data_opt::<ClientSignals>().cloned().unwrap_or_default();
    event
}

/// Ends a session that was opened for a sign-in the fraud check blocked.
async fn revoke(identity: &Identity, tokens: &SessionTokens) {
    let ended = match identity.verifier.verify(&tokens.access_token).await {
        Ok(claims) => identity
            .provider
            .sign_out(&tokens.access_token, &claims)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = ended {
        tracing::warn!(error = %e, "the session of a blocked sign-in could not be ended");
    }
}

const SIGN_UP: Fields<'static> = Fields {
    email: &["input", "email"],
    password: &["input", "password"],
    code: &[],
};
const BY_EMAIL: Fields<'static> = Fields {
    email: &["email"],
    password: &["password"],
    code: &["code"],
};
const RESET: Fields<'static> = Fields {
    email: &["email"],
    password: &["newPassword"],
    code: &["code"],
};

/// Customer account mutations.
#[derive(Default)]
pub struct CustomerMutation;

/// Customer account mutations.
#[Object]
impl CustomerMutation {
    /// Creates an account. Unless the gateway auto-confirms, a 6-digit code is sent to the
    /// email, to be entered with `customerConfirmSignUp` before the first sign-in. An email
    /// that has an account gets the same answer (its owner is told by mail), so sign-up
    /// reveals no accounts. Sign-ups are limited per address (`TOO_MANY_ATTEMPTS`).
    async fn customer_sign_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new customer's details.")] input: CustomerSignUpInput,
    ) -> async_graphql::Result<CustomerSignUpPayload> {
        counted(ctx, "sign_up", self.sign_up(ctx, input).await)
    }

    /// Confirms a sign-up with the code sent to the email.
    async fn customer_confirm_sign_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The email signed up with.")] email: String,
        #[graphql(desc = "The code sent to it.")] code: String,
    ) -> async_graphql::Result<CustomerConfirmSignUpPayload> {
        counted(
            ctx,
            "confirm_sign_up",
            self.confirm_sign_up(ctx, email, code).await,
        )
    }

    /// Signs in with email and password. Repeated failures for an email or from an address
    /// are refused for a while with `TOO_MANY_ATTEMPTS` (HTTP 429, `Retry-After`). With
    /// `cartId`, the guest's cart comes along: merged into the customer's cart (or the newer,
    /// or the customer's, kept, by config), clipped to stock; `cartChanges` says what changed.
    async fn customer_sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's email.")] email: String,
        #[graphql(desc = "The account's password.")] password: String,
        #[graphql(desc = "The guest cart to bring along.")] cart_id: Option<async_graphql::ID>,
    ) -> async_graphql::Result<CustomerSessionPayload> {
        let mut signed = self.sign_in(ctx, email, password).await;
        if let (Ok(payload), Some(cart_id)) = (&mut signed, &cart_id)
            && let Some(sub) = payload.customer.as_ref().map(|c| c.0.sub.clone())
            && let Some((cart, changes)) = crate::cart::merge_at_sign_in(ctx, &sub, cart_id).await?
        {
            payload.cart = Some(cart);
            payload.cart_changes = changes;
        }
        counted(ctx, "sign_in", signed)
    }

    /// A new access token for a refresh token (from `customerSignIn`).
    async fn customer_token_refresh(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's refresh token.")] refresh_token: String,
    ) -> async_graphql::Result<CustomerSessionPayload> {
        counted(
            ctx,
            "token_refresh",
            self.token_refresh(ctx, refresh_token).await,
        )
    }

    /// Ends the signed-in session: its refresh token stops working (Cognito: every session of
    /// the customer ends).
    #[graphql(guard = "signed_in")]
    async fn customer_sign_out(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<CustomerSignOutPayload> {
        counted(ctx, "sign_out", self.sign_out(ctx).await)
    }

    /// Sends a new sign-up confirmation code to the email (when it has an unconfirmed
    /// account). Limited per email, like every request that sends a code.
    async fn customer_confirmation_resend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The email signed up with.")] email: String,
    ) -> async_graphql::Result<CustomerAcceptedPayload> {
        counted(
            ctx,
            "code_request",
            mail_code(ctx, &email, CodePurpose::ConfirmSignUp).await,
        )
    }

    /// Sends a password-reset code to the email (when it has an account). Limited per email,
    /// like every request that sends a code.
    async fn customer_password_reset_request(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's email.")] email: String,
    ) -> async_graphql::Result<CustomerAcceptedPayload> {
        counted(
            ctx,
            "code_request",
            mail_code(ctx, &email, CodePurpose::ResetPassword).await,
        )
    }

    /// Sets a new password with the code from `customerPasswordResetRequest`; every earlier
    /// session of the account ends.
    async fn customer_password_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's email.")] email: String,
        #[graphql(desc = "The code sent to it.")] code: String,
        #[graphql(desc = "The new password.")] new_password: String,
    ) -> async_graphql::Result<CustomerAcceptedPayload> {
        counted(
            ctx,
            "password_reset",
            self.password_reset(ctx, email, code, new_password).await,
        )
    }

    /// Changes the signed-in customer's profile.
    #[graphql(guard = "signed_in")]
    async fn customer_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] customer: CustomerUpdateInput,
    ) -> async_graphql::Result<CustomerUpdatePayload> {
        counted(ctx, "update", self.update(ctx, customer).await)
    }
}

// The mutations' bodies; the schema's fields above count each outcome.
impl CustomerMutation {
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        input: CustomerSignUpInput,
    ) -> async_graphql::Result<CustomerSignUpPayload> {
        let mut checks = Checks::default();
        let email = checks.email(SIGN_UP.email, &input.email);
        checks.password(SIGN_UP.password, &input.password);
        let profile = checks.sign_up_profile(&input);
        let failed = |user_errors| CustomerSignUpPayload {
            customer: None,
            confirmation_required: false,
            user_errors,
        };
        let Some(email) = email.filter(|_| checks.errors.is_empty()) else {
            return Ok(failed(checks.errors));
        };
        let identity = service::<Identity>(ctx)?;
        if let Some(ip) = ctx.data_opt::<ClientIp>() {
            identity
                .throttle
                .sign_up_requested(ip)
                .await
                .map_err(throttled)?;
        }
        let account = NewAccount {
            email: email.clone(),
            password: input.password,
            first_name: profile.first_name.clone().filter(|n| !n.is_empty()),
            last_name: profile.last_name.clone().filter(|n| !n.is_empty()),
        };
        let decision = service::<std::sync::Arc<Fraud>>(ctx)?
            .check(&fraud_event(ctx, FraudEventKind::SignUp, &email))
            .await;
        // A blocked sign-up is answered as a taken email is: nothing is made, nothing told.
        let made = if decision.verdict == Verdict::Block {
            Err(IdentityError::EmailTaken)
        } else {
            identity.provider.sign_up(&account).await
        };
        match made {
            Ok(outcome) => {
                let customer = identity
                    .profiles
                    .ensure(&outcome.sub, Some(email.as_str()), &profile)
                    .await
                    .map_err(ApiError::from)?;
                Ok(CustomerSignUpPayload {
                    customer: Some(Customer(customer)),
                    confirmation_required: !outcome.confirmed,
                    user_errors: Vec::new(),
                })
            }
            // The email has an account: answered as a new one would be (its owner is told by
            // mail), with a profile made from the input and stored nowhere, so that sign-up
            // cannot tell who has an account (Cognito's "prevent user existence errors").
            Err(IdentityError::EmailTaken) => {
                let unsaved = CustomerProfile::unsaved(Some(email.to_string()), &profile);
                Ok(CustomerSignUpPayload {
                    customer: Some(Customer(unsaved)),
                    confirmation_required: true,
                    user_errors: Vec::new(),
                })
            }
            Err(e) => Ok(failed(vec![from_identity(e, SIGN_UP)?])),
        }
    }

    async fn confirm_sign_up(
        &self,
        ctx: &Context<'_>,
        email: String,
        code: String,
    ) -> async_graphql::Result<CustomerConfirmSignUpPayload> {
        let mut checks = Checks::default();
        let email = checks.email(BY_EMAIL.email, &email);
        checks.code(BY_EMAIL.code, &code);
        let Some(email) = email.filter(|_| checks.errors.is_empty()) else {
            return Ok(CustomerConfirmSignUpPayload {
                confirmed: false,
                user_errors: checks.errors,
            });
        };
        let identity = service::<Identity>(ctx)?;
        let ip = ctx.data_opt::<ClientIp>();
        let result = throttled_attempt(
            identity,
            ip,
            &email,
            identity.provider.confirm_sign_up(&email, &code),
        )
        .await?;
        let user_errors = user_errors_of(result, BY_EMAIL)?;
        Ok(CustomerConfirmSignUpPayload {
            confirmed: user_errors.is_empty(),
            user_errors,
        })
    }

    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> async_graphql::Result<CustomerSessionPayload> {
        let mut checks = Checks::default();
        let email = checks.email(BY_EMAIL.email, &email);
        checks.password(BY_EMAIL.password, &password);
        let Some(email) = email.filter(|_| checks.errors.is_empty()) else {
            return Ok(CustomerSessionPayload {
                user_errors: checks.errors,
                ..CustomerSessionPayload::default()
            });
        };
        let identity = service::<Identity>(ctx)?;
        let fraud = service::<std::sync::Arc<Fraud>>(ctx)?;
        let ip = ctx.data_opt::<ClientIp>();
        let event = fraud_event(ctx, FraudEventKind::SignIn, &email);
        // The check runs beside the password check, whatever its outcome, so that a blocked
        // sign-in takes the time a wrong password does; a block is answered as one, and
        // counts against the throttle as one.
        let attempt = async {
            let (signed, decision) = futures::join!(
                identity.provider.sign_in(&email, &password),
                fraud.check(&event)
            );
            match signed {
                Ok(tokens) if decision.verdict == Verdict::Block => {
                    revoke(identity, &tokens).await;
                    Err(IdentityError::InvalidCredentials)
                }
                other => other,
            }
        };
        let result = throttled_attempt(identity, ip, &email, attempt).await?;
        Ok(match result {
            Ok(tokens) => session(identity, tokens, Some(&email)).await?,
            Err(e) => CustomerSessionPayload {
                user_errors: vec![from_identity(e, BY_EMAIL)?],
                ..CustomerSessionPayload::default()
            },
        })
    }

    async fn token_refresh(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<CustomerSessionPayload> {
        let identity = service::<Identity>(ctx)?;
        if refresh_token.trim().is_empty() || refresh_token.len() > 8192 {
            return Ok(CustomerSessionPayload {
                user_errors: vec![from_identity(IdentityError::InvalidRefreshToken, BY_EMAIL)?],
                ..CustomerSessionPayload::default()
            });
        }
        Ok(match identity.provider.refresh(&refresh_token).await {
            Ok(tokens) => session(identity, tokens, None).await?,
            Err(e) => CustomerSessionPayload {
                user_errors: vec![from_identity(e, BY_EMAIL)?],
                ..CustomerSessionPayload::default()
            },
        })
    }

    async fn sign_out(&self, ctx: &Context<'_>) -> async_graphql::Result<CustomerSignOutPayload> {
        let viewer = viewer(ctx)?;
        let identity = service::<Identity>(ctx)?;
        let user_errors = user_errors_of(
            identity
                .provider
                .sign_out(&viewer.access_token, &viewer.claims)
                .await,
            BY_EMAIL,
        )?;
        Ok(CustomerSignOutPayload {
            signed_out: user_errors.is_empty(),
            user_errors,
        })
    }

    async fn password_reset(
        &self,
        ctx: &Context<'_>,
        email: String,
        code: String,
        new_password: String,
    ) -> async_graphql::Result<CustomerAcceptedPayload> {
        let mut checks = Checks::default();
        let email = checks.email(RESET.email, &email);
        checks.code(RESET.code, &code);
        checks.password(RESET.password, &new_password);
        let Some(email) = email.filter(|_| checks.errors.is_empty()) else {
            return Ok(CustomerAcceptedPayload {
                accepted: false,
                user_errors: checks.errors,
            });
        };
        let identity = service::<Identity>(ctx)?;
        let ip = ctx.data_opt::<ClientIp>();
        let result = throttled_attempt(
            identity,
            ip,
            &email,
            identity
                .provider
                .reset_password(&email, &code, &new_password),
        )
        .await?;
        let user_errors = user_errors_of(result, RESET)?;
        Ok(CustomerAcceptedPayload {
            accepted: user_errors.is_empty(),
            user_errors,
        })
    }

    async fn update(
        &self,
        ctx: &Context<'_>,
        customer: CustomerUpdateInput,
    ) -> async_graphql::Result<CustomerUpdatePayload> {
        let viewer = viewer(ctx)?;
        let mut checks = Checks::default();
        let changes = checks.update(&customer);
        if !checks.errors.is_empty() {
            return Ok(CustomerUpdatePayload {
                customer: None,
                user_errors: checks.errors,
            });
        }
        let profile = service::<Identity>(ctx)?
            .profiles
            .update(viewer.sub(), viewer.claims.email.as_deref(), &changes)
            .await
            .map_err(ApiError::from)?;
        Ok(CustomerUpdatePayload {
            customer: Some(Customer(profile)),
            user_errors: Vec::new(),
        })
    }
}
