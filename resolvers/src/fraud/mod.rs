//! Fraud review for admins: the stored decisions about an order or an email, and the
//! release or cancellation of an order held for review.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject};
use storefront_loaders::checkout::{Checkout, OrderStatus};
use storefront_loaders::fraud::{self as engine, Fraud};

use crate::checkout::{OrderStatusUpdatePayload, operator, order_error};
use crate::context::service;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::scalars::DateTime;

/// A fraud verdict.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FraudVerdict {
    /// Let through.
    Approve,
    /// Let through, held for a person (an order goes ON_HOLD).
    Review,
    /// Refused.
    Block,
}

impl From<engine::Verdict> for FraudVerdict {
    fn from(v: engine::Verdict) -> Self {
        match v {
            engine::Verdict::Approve => Self::Approve,
            engine::Verdict::Review => Self::Review,
            engine::Verdict::Block => Self::Block,
        }
    }
}

/// What a fraud check was about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FraudEventKind {
    /// A sign-in.
    SignIn,
    /// A sign-up.
    SignUp,
    /// A checkout.
    Checkout,
}

impl From<engine::FraudEventKind> for FraudEventKind {
    fn from(k: engine::FraudEventKind) -> Self {
        match k {
            engine::FraudEventKind::SignIn => Self::SignIn,
            engine::FraudEventKind::SignUp => Self::SignUp,
            engine::FraudEventKind::Checkout => Self::Checkout,
        }
    }
}

/// One stored fraud decision.
#[derive(SimpleObject)]
pub struct FraudDecision {
    /// Its id.
    pub id: String,
    /// What was checked.
    pub event: FraudEventKind,
    /// The engine that answered: `rules`, `frauddetector`, or `fallback` when it failed or
    /// was late (the reasons say which, and how the gateway failed).
    pub engine: String,
    /// The verdict acted on.
    pub verdict: FraudVerdict,
    /// The risk score, 0–1000.
    pub score: i32,
    /// Why.
    pub reasons: Vec<String>,
    /// The email checked.
    pub email: String,
    /// The order's id (a checkout), as in its `OrderPlaced` message.
    pub order_id: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// When.
    pub at: DateTime,
}

impl From<engine::FraudDecision> for FraudDecision {
    fn from(d: engine::FraudDecision) -> Self {
        Self {
            id: d.id,
            event: d.kind.into(),
            engine: d.engine,
            verdict: d.verdict.into(),
            score: i32::try_from(d.score).unwrap_or(i32::MAX),
            reasons: d.reasons,
            email: d.email,
            order_id: d.order_id,
            ip: d.ip,
            at: DateTime(d.at),
        }
    }
}

/// What an admin decides about a held order.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    /// Take the held payment; the order is PAID and goes on to fulfilment.
    Release,
    /// Void the held payment and put the stock back; the order is CANCELLED.
    Cancel,
}

/// Fraud review queries.
#[derive(Default)]
pub struct FraudQuery;

/// Fraud review queries.
#[Object]
impl FraudQuery {
    /// The newest fraud decisions (at most 100) about an order or an email: give one of
    /// the two. Needs an admin API key.
    #[graphql(guard = "operator")]
    async fn fraud_decisions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id, as in its `OrderPlaced` message.")] order_id: Option<
            String,
        >,
        #[graphql(desc = "An email, as given at sign-in, sign-up or checkout.")] email: Option<
            String,
        >,
    ) -> ApiResult<Vec<FraudDecision>> {
        let fraud = service::<Arc<Fraud>>(ctx)?;
        let found = match (order_id.as_deref().map(str::trim), email.as_deref()) {
            (Some(order), None) if !order.is_empty() => fraud.decisions.for_order(order).await?,
            (None, Some(email)) if email.contains('@') && email.len() <= 254 => {
                fraud.decisions.for_email(email).await?
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "give either `orderId` or `email` (an address)",
                ));
            }
        };
        Ok(found.into_iter().map(FraudDecision::from).collect())
    }
}

/// Fraud review mutations.
#[derive(Default)]
pub struct FraudMutation;

/// Fraud review mutations.
#[Object]
impl FraudMutation {
    /// Decides about an order held for a fraud review (ON_HOLD): release it (its payment is
    /// taken) or cancel it (its payment is voided, its stock put back). Needs an admin API
    /// key; an order that is not held is refused with `ILLEGAL_TRANSITION`.
    #[graphql(guard = "operator")]
    async fn order_review_resolve(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id, as in its `OrderPlaced` message.")] order_id: String,
        #[graphql(desc = "Release or cancel.")] action: ReviewAction,
        #[graphql(desc = "Why, for the order's history.")] note: Option<String>,
    ) -> ApiResult<OrderStatusUpdatePayload> {
        let checkout = service::<Arc<Checkout>>(ctx)?;
        let order_id = order_id.trim();
        let result = match action {
            ReviewAction::Release => checkout.release_hold(order_id, note).await,
            ReviewAction::Cancel => match checkout.by_id(order_id).await {
                Ok(Some((_, order))) if order.status != OrderStatus::OnHold => {
                    Err(storefront_loaders::checkout::StatusError::Illegal {
                        from: order.status.as_str(),
                        to: OrderStatus::Cancelled.as_str(),
                    })
                }
                _ => {
                    checkout
                        .update_status(
                            order_id,
                            OrderStatus::Cancelled,
                            note.or_else(|| Some("cancelled after a fraud review".into())),
                        )
                        .await
                }
            },
        };
        Ok(match result {
            Ok(record) => OrderStatusUpdatePayload {
                order_id: Some(record.id),
                status: Some(record.status.into()),
                user_errors: Vec::new(),
            },
            Err(e) => OrderStatusUpdatePayload {
                order_id: None,
                status: None,
                user_errors: order_error(e).user_errors,
            },
        })
    }
}

/// The domain's queries, as the registry names them.
pub type Query = FraudQuery;
/// The domain's mutations, as the registry names them.
pub type Mutation = FraudMutation;
