//! Payments: the `PaymentProvider` a processor plugs in behind (authorize, capture, void,
//! refund, each with the provider's own idempotency key, and a lookup for answers that got
//! lost), and the embedded test provider with documented test tokens.
//!
//! Test tokens of the embedded provider:
//! - `tok_visa` (or any other `tok_…`): authorized;
//! - `tok_decline`: declined (`card_declined`);
//! - `tok_insufficient_funds`: declined (`insufficient_funds`);
//! - `tok_timeout`: the provider does not answer, and took nothing;
//! - `tok_lost_success`: authorized, but the answer is lost on the way back (a lookup finds
//!   the authorization).

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::codec::{from_item, to_item};
use crate::store::{Condition, Key, StoreError, Table, Update};

/// What to authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The provider-side idempotency key (the order's id): a retry never charges twice.
    pub idempotency_key: String,
    /// The amount.
    pub amount: Decimal,
    /// ISO 4217 currency.
    pub currency: String,
    /// The payment method's token (from the processor's client-side SDK).
    pub token: String,
}

/// An authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The provider's id of it.
    pub id: String,
    /// The amount authorized.
    pub amount: Decimal,
}

/// What a lookup found for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Found {
    /// Nothing was authorized.
    Nothing,
    /// Authorized (and maybe captured).
    Authorized(Authorization),
    /// Declined.
    Declined(String),
}

/// Why a payment call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The processor declined; the reason is for the buyer.
    #[error("the payment was declined: {0}")]
    Declined(String),
    /// The processor did not answer (the outcome is unknown until a lookup).
    #[error("the payment provider did not answer: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("payment provider error: {0}")]
    Other(String),
}

/// A payment processor.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Its name, stored with payments.
    fn name(&self) -> &'static str;
    /// Authorizes the amount (idempotent by `request.idempotency_key`).
    async fn authorize(&self, request: &PaymentRequest) -> Result<Authorization, PaymentError>;
    /// Authorizes and captures in one step (a "sale"), for orders that need no hold; as
    /// idempotent as `authorize`. By default, `authorize` then `capture`.
    async fn charge(&self, request: &PaymentRequest) -> Result<Authorization, PaymentError> {
        let authorization = self.authorize(request).await?;
        self.capture(&authorization).await?;
        Ok(authorization)
    }
    /// Captures an authorization (idempotent).
    async fn capture(&self, authorization: &Authorization) -> Result<(), PaymentError>;
    /// Voids an authorization that was not captured (idempotent).
    async fn void(&self, authorization: &Authorization) -> Result<(), PaymentError>;
    /// Refunds a captured authorization (idempotent).
    async fn refund(&self, authorization: &Authorization) -> Result<(), PaymentError>;
    /// What happened to the authorization under `idempotency_key`.
    async fn lookup(&self, idempotency_key: &str) -> Result<Found, PaymentError>;
}

/// The state the embedded provider keeps per idempotency key (in the table, so every replica
/// and a restarted one agree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ProviderRecord {
    found: Found,
    captured: bool,
    voided: bool,
    refunded: bool,
}

fn key(idempotency_key: &str) -> Key {
    Key::new(format!("TESTPAY#{idempotency_key}"), "TESTPAY")
}

/// The embedded test provider (see the module documentation for its tokens).
pub struct EmbeddedPayments {
    table: Arc<dyn Table>,
}

impl EmbeddedPayments {
    /// Authorizes by the test token (and with `capture`, captures in the same write).
    async fn take(
        &self,
        request: &PaymentRequest,
        capture: bool,
    ) -> Result<Authorization, PaymentError> {
        if let Some(existing) = self.record(&request.idempotency_key).await? {
            return match existing.found {
                Found::Authorized(a) => Ok(a),
                Found::Declined(why) => Err(PaymentError::Declined(why)),
                Found::Nothing => Err(PaymentError::Unavailable("no answer".into())),
            };
        }
        let authorization = Authorization {
            id: request.idempotency_key.clone(),
            amount: request.amount,
        };
        let (found, answer) = match request.token.as_str() {
            "tok_decline" => (
                Found::Declined("card_declined".into()),
                Err(PaymentError::Declined("card_declined".into())),
            ),
            "tok_insufficient_funds" => (
                Found::Declined("insufficient_funds".into()),
                Err(PaymentError::Declined("insufficient_funds".into())),
            ),
            "tok_timeout" => {
                return Err(PaymentError::Unavailable("the provider timed out".into()));
            }
            "tok_lost_success" => (
                Found::Authorized(authorization.clone()),
                Err(PaymentError::Unavailable("the answer was lost".into())),
            ),
            token if token.starts_with("tok_") => {
                (Found::Authorized(authorization.clone()), Ok(authorization))
            }
            _ => (
                Found::Declined("invalid_token".into()),
                Err(PaymentError::Declined("invalid_token".into())),
            ),
        };
        let captured = capture && matches!(found, Found::Authorized(_));
        let record = ProviderRecord {
            found,
            captured,
            voided: false,
            refunded: false,
        };
        let item = to_item(&key(&request.idempotency_key), &record, &[])
            .map_err(|e| PaymentError::Other(e.to_string()))?;
        match self.table.put(item, Some(Condition::ItemNotExists)).await {
            Ok(()) => answer,
            // Another call with this key came first: answer as it did.
            Err(StoreError::ConditionFailed) => Box::pin(self.take(request, capture)).await,
            Err(e) => Err(PaymentError::Unavailable(e.to_string())),
        }
    }

    /// A provider keeping its state in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    async fn record(&self, idempotency_key: &str) -> Result<Option<ProviderRecord>, PaymentError> {
        let item = self
            .table
            .get(&key(idempotency_key))
            .await
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        item.map(|i| from_item(&i))
            .transpose()
            .map_err(|e| PaymentError::Other(e.to_string()))
    }

    async fn flag(&self, authorization: &Authorization, flag: &str) -> Result<(), PaymentError> {
        self.table
            .update(
                &key(&authorization.id),
                &Update::set(flag, true),
                Some(Condition::ItemExists),
            )
            .await
            .map(drop)
            .map_err(|e| match e {
                StoreError::ConditionFailed => PaymentError::Other("no such authorization".into()),
                e => PaymentError::Unavailable(e.to_string()),
            })
    }

    /// Whether the authorization under `idempotency_key` was captured (for tests and the
    /// admin's eyes).
    pub async fn captured(&self, idempotency_key: &str) -> Result<bool, PaymentError> {
        Ok(self
            .record(idempotency_key)
            .await?
            .is_some_and(|r| r.captured))
    }
}

#[async_trait]
impl PaymentProvider for EmbeddedPayments {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn authorize(&self, request: &PaymentRequest) -> Result<Authorization, PaymentError> {
        self.take(request, false).await
    }

    async fn charge(&self, request: &PaymentRequest) -> Result<Authorization, PaymentError> {
        self.take(request, true).await
    }

    async fn capture(&self, authorization: &Authorization) -> Result<(), PaymentError> {
        self.flag(authorization, "captured").await
    }

    async fn void(&self, authorization: &Authorization) -> Result<(), PaymentError> {
        self.flag(authorization, "voided").await
    }

    async fn refund(&self, authorization: &Authorization) -> Result<(), PaymentError> {
        self.flag(authorization, "refunded").await
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Found, PaymentError> {
        Ok(self
            .record(idempotency_key)
            .await?
            .map_or(Found::Nothing, |r| r.found))
    }
}

/// A payment processor over HTTP (JSON), for a real processor or its adapter:
///
/// - `POST {url}/authorizations` `{"amount": "12.34", "currency": "USD", "token": "…",
///   "reference": "<order id>", "capture": true|false}` with `Idempotency-Key: <order id>` →
///   `200 {"id": "…"}` (captured too when `capture` is true), or
///   `402 {"reason": "card_declined"}` for a decline;
/// - `POST {url}/authorizations/{id}/capture`, `…/void`, `…/refund`, each with its own
///   `Idempotency-Key` (`capture-{id}`, …) → any 2xx;
/// - `GET {url}/authorizations?reference=<order id>` → `200 {"id": "…", "amount": "…",
///   "status": "authorized" | "declined", "reason": "…"}` or `404`.
///
/// Every call sends `Authorization: Bearer <api key>`; a call that does not answer within the
/// timeout, a 5xx, or a transport error is `Unavailable` (the checkout then looks the payment
/// up before deciding anything).
pub struct HttpPayments {
    client: reqwest::Client,
    url: String,
    api_key: String,
}

#[derive(Deserialize)]
struct Authorized {
    id: String,
}

#[derive(Deserialize)]
struct Declined {
    reason: Option<String>,
}

#[derive(Deserialize)]
struct LookedUp {
    id: String,
    amount: Option<Decimal>,
    status: String,
    reason: Option<String>,
}

impl HttpPayments {
    /// Authorizes, and with `capture` captures in the same call.
    async fn take(
        &self,
        request: &PaymentRequest,
        capture: bool,
    ) -> Result<Authorization, PaymentError> {
        let body = serde_json::json!({
            "amount": crate::cart::cents(request.amount).to_string(),
            "currency": request.currency,
            "token": request.token,
            "reference": request.idempotency_key,
            "capture": capture,
        });
        let response = self
            .call(
                self.client
                    .post(format!("{}/authorizations", self.url))
                    .json(&body),
                Some(&request.idempotency_key),
            )
            .await?;
        match response.status().as_u16() {
            200..=299 => {
                let authorized: Authorized = response
                    .json()
                    .await
                    .map_err(|e| PaymentError::Unavailable(format!("unreadable answer: {e}")))?;
                Ok(Authorization {
                    id: authorized.id,
                    amount: request.amount,
                })
            }
            402 => {
                let declined: Declined = response.json().await.unwrap_or(Declined { reason: None });
                Err(PaymentError::Declined(
                    declined.reason.unwrap_or_else(|| "declined".into()),
                ))
            }
            status => Err(PaymentError::Other(format!(
                "the processor answered {status}"
            ))),
        }
    }

    /// A processor at `url` (no trailing slash needed), authenticated with `api_key`, whose
    /// calls give up after `timeout`.
    pub fn new(
        url: &str,
        api_key: String,
        timeout: std::time::Duration,
    ) -> Result<Self, PaymentError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| PaymentError::Other(e.to_string()))?;
        Ok(Self {
            client,
            url: url.trim_end_matches('/').to_owned(),
            api_key,
        })
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        idempotency_key: Option<&str>,
    ) -> Result<reqwest::Response, PaymentError> {
        let mut request = request.bearer_auth(&self.api_key);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        if response.status().is_server_error() {
            return Err(PaymentError::Unavailable(format!(
                "the processor answered {}",
                response.status()
            )));
        }
        Ok(response)
    }

    async fn step(&self, authorization: &Authorization, step: &str) -> Result<(), PaymentError> {
        let url = format!("{}/authorizations/{}/{step}", self.url, authorization.id);
        let key = format!("{step}-{}", authorization.id);
        let response = self.call(self.client.post(url), Some(&key)).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(PaymentError::Other(format!(
                "{step} refused: {}",
                response.status()
            )))
        }
    }
}

#[async_trait]
impl PaymentProvider for HttpPayments {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn authorize(&self, request: &PaymentRequest) -> Result<Authorization, PaymentError> {
        self.take(request, false).await
    }

    async fn charge(&self, request: &PaymentRequest) -> Result<Authorization, PaymentError> {
        self.take(request, true).await
    }

    async fn capture(&self, authorization: &Authorization) -> Result<(), PaymentError> {
        self.step(authorization, "capture").await
    }

    async fn void(&self, authorization: &Authorization) -> Result<(), PaymentError> {
        self.step(authorization, "void").await
    }

    async fn refund(&self, authorization: &Authorization) -> Result<(), PaymentError> {
        self.step(authorization, "refund").await
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Found, PaymentError> {
        let response = self
            .call(
                self.client
                    .get(format!("{}/authorizations", self.url))
                    .query(&[("reference", idempotency_key)]),
                None,
            )
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Found::Nothing);
        }
        if !response.status().is_success() {
            return Err(PaymentError::Unavailable(format!(
                "lookup answered {}",
                response.status()
            )));
        }
        let found: LookedUp = response
            .json()
            .await
            .map_err(|e| PaymentError::Unavailable(format!("unreadable answer: {e}")))?;
        Ok(match found.status.as_str() {
            "authorized" | "captured" => Found::Authorized(Authorization {
                id: found.id,
                amount: found.amount.unwrap_or_default(),
            }),
            "declined" => Found::Declined(found.reason.unwrap_or_else(|| "declined".into())),
            _ => Found::Nothing,
        })
    }
}
