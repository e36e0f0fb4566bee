//! Checkout and orders: `checkoutComplete` turns a cart into an order exactly once per
//! idempotency key; orders are read by their owner (a customer) or with their id (a guest).

mod order;

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use storefront_loaders::checkout::{
    Checkout, CheckoutRequest, Fulfilment, PICKUP, Refusal, StatusError,
};
use storefront_loaders::fraud::ClientSignals;
use storefront_loaders::identity::{GuestToken, Identity};
use storefront_loaders::rate_limit::{ClientIp, Operator};
use storefront_loaders::store::StartKey;

pub use order::{Order, OrderConnection, OrderEdge, OrderStatus};

use crate::cart::token_of;
use crate::catalog::Money;
use crate::connection::{PageInfo, decode_cursor, encode_cursor};
use crate::context::service;
use crate::customer::{Checks, MailingAddressInput, viewer_opt};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids;

/// How the buyer pays.
#[derive(InputObject, Debug, Clone)]
pub struct PaymentInput {
    /// The payment method's token from the processor's client-side SDK (the embedded test
    /// processor takes `tok_visa`, `tok_decline`, `tok_insufficient_funds`, `tok_timeout`,
    /// `tok_lost_success`).
    pub token: String,
}

/// What went wrong with a checkout, for programs.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutErrorCode {
    /// A value is malformed or missing.
    Invalid,
    /// No such cart (or it is someone else's).
    CartNotFound,
    /// The cart has no lines.
    EmptyCart,
    /// The cart was checked out already.
    AlreadyCheckedOut,
    /// The cart has more lines than one checkout takes.
    TooManyLines,
    /// No such shipping method.
    UnknownShippingMethod,
    /// No store with that id takes pickup orders.
    UnknownPickupLocation,
    /// An item is no longer sold.
    MerchandiseNotFound,
    /// Not enough in stock; `quantityAvailable` says how many are.
    InsufficientStock,
    /// A discount code does not apply (used up, expired, minimum not met).
    DiscountNotApplicable,
    /// The buyer used the discount code already.
    DiscountAlreadyUsed,
    /// The order cannot be placed.
    FraudBlocked,
    /// The payment was declined.
    PaymentDeclined,
    /// The payment could not be taken; nothing was charged.
    PaymentFailed,
    /// This idempotency key was used for another cart.
    IdempotencyKeyReused,
    /// The cart changed during checkout; review it and try again.
    CartChanged,
}

/// An expected failure of a checkout.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct CheckoutUserError {
    /// The path to the input at fault, when one is.
    pub field: Option<Vec<String>>,
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs.
    pub code: CheckoutErrorCode,
    /// The variant it is about, when one.
    pub merchandise_id: Option<ID>,
    /// With `INSUFFICIENT_STOCK`: how many are in stock.
    pub quantity_available: Option<i64>,
}

/// The result of `checkoutComplete`.
#[derive(SimpleObject)]
pub struct CheckoutCompletePayload {
    /// The order; null when none was placed.
    pub order: Option<Order>,
    /// What was wrong.
    pub user_errors: Vec<CheckoutUserError>,
}

/// What went wrong with an order change, for programs.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderErrorCode {
    /// No such order (or not this caller's).
    OrderNotFound,
    /// The status machine does not allow the change.
    IllegalTransition,
    /// The order changed meanwhile; try again.
    Conflict,
    /// The held payment could not be taken.
    PaymentFailed,
}

/// An expected failure of an order change.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct OrderUserError {
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs.
    pub code: OrderErrorCode,
}

/// The result of an order change.
#[derive(SimpleObject)]
pub struct OrderPayload {
    /// The order after the change; null when nothing changed.
    pub order: Option<Order>,
    /// What was wrong.
    pub user_errors: Vec<OrderUserError>,
}

pub(crate) fn order_error(e: StatusError) -> OrderPayload {
    let code = match e {
        StatusError::NotFound => OrderErrorCode::OrderNotFound,
        StatusError::Illegal { .. } => OrderErrorCode::IllegalTransition,
        StatusError::Conflict => OrderErrorCode::Conflict,
        StatusError::PaymentFailed(_) => OrderErrorCode::PaymentFailed,
    };
    OrderPayload {
        order: None,
        user_errors: vec![OrderUserError {
            message: e.to_string(),
            code,
        }],
    }
}

/// The result of an operator's status update (the operator sees the order's id and status,
/// not the order: its id would be a key to it).
#[derive(SimpleObject)]
pub struct OrderStatusUpdatePayload {
    /// The order's id.
    pub order_id: Option<String>,
    /// Its status after the update.
    pub status: Option<OrderStatus>,
    /// What was wrong.
    pub user_errors: Vec<OrderUserError>,
}

/// The guard of operator mutations: an issued API key with the admin role, never a
/// customer's token.
pub(crate) fn operator(ctx: &Context<'_>) -> async_graphql::Result<()> {
    if ctx.data_opt::<Operator>().is_some() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "send an `x-api-key` issued with `admin = true`",
        )
        .into())
    }
}

/// A way to ship.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct ShippingMethod {
    /// Its handle, for `checkoutComplete`.
    pub handle: String,
    /// Display name.
    pub title: String,
    /// Its price.
    pub price: Money,
    /// Free from this merchandise subtotal up.
    pub free_over: Option<Money>,
}

fn code_of(refusal: Refusal) -> CheckoutErrorCode {
    use CheckoutErrorCode as C;
    match refusal {
        Refusal::CartNotFound => C::CartNotFound,
        Refusal::EmptyCart => C::EmptyCart,
        Refusal::AlreadyCheckedOut => C::AlreadyCheckedOut,
        Refusal::TooManyLines => C::TooManyLines,
        Refusal::UnknownShippingMethod => C::UnknownShippingMethod,
        Refusal::UnknownPickupLocation => C::UnknownPickupLocation,
        Refusal::MerchandiseNotFound => C::MerchandiseNotFound,
        Refusal::InsufficientStock => C::InsufficientStock,
        Refusal::DiscountNotApplicable => C::DiscountNotApplicable,
        Refusal::DiscountAlreadyUsed => C::DiscountAlreadyUsed,
        Refusal::FraudBlocked => C::FraudBlocked,
        Refusal::PaymentDeclined => C::PaymentDeclined,
        Refusal::PaymentFailed => C::PaymentFailed,
        Refusal::IdempotencyKeyReused => C::IdempotencyKeyReused,
        Refusal::CartChanged => C::CartChanged,
    }
}

fn field_of(refusal: Refusal) -> Option<Vec<String>> {
    let at = |f: &str| Some(vec![f.to_owned()]);
    match refusal {
        Refusal::CartNotFound
        | Refusal::AlreadyCheckedOut
        | Refusal::EmptyCart
        | Refusal::CartChanged
        | Refusal::TooManyLines => at("cartId"),
        Refusal::UnknownShippingMethod => at("shippingMethod"),
        Refusal::UnknownPickupLocation => at("pickupLocationId"),
        Refusal::PaymentDeclined | Refusal::PaymentFailed => at("payment"),
        Refusal::IdempotencyKeyReused => at("idempotencyKey"),
        _ => None,
    }
}

fn invalid(field: &[&str], message: &str) -> CheckoutUserError {
    CheckoutUserError {
        field: Some(field.iter().map(|f| (*f).to_owned()).collect()),
        message: message.to_owned(),
        code: CheckoutErrorCode::Invalid,
        merchandise_id: None,
        quantity_available: None,
    }
}

/// How the buyer asked to get the order: a store to collect it from, or a method and an
/// address to ship it to.
fn fulfilment_of(
    pickup: Option<ID>,
    method: Option<String>,
    address: Option<storefront_loaders::identity::Address>,
) -> Result<Fulfilment, CheckoutUserError> {
    match (pickup, method) {
        (Some(location), method) => {
            if method.is_some_and(|m| m != PICKUP) {
                return Err(invalid(
                    &["shippingMethod"],
                    "a pickup order takes no other shipping method",
                ));
            }
            ids::decode_as(&location, "Location")
                .map(Fulfilment::Pickup)
                .map_err(|_| CheckoutUserError {
                    code: CheckoutErrorCode::UnknownPickupLocation,
                    ..invalid(&["pickupLocationId"], "not the id of a store")
                })
        }
        (None, Some(method)) if method != PICKUP => match address {
            Some(address) => Ok(Fulfilment::Ship {
                method,
                address: Box::new(address),
            }),
            None => Err(invalid(
                &["shippingAddress"],
                "a shipped order needs a shipping address",
            )),
        },
        (None, _) => Err(invalid(
            &["shippingMethod"],
            "choose a shipping method, or a store to collect from (`pickupLocationId`)",
        )),
    }
}

/// Checkout and order mutations.
#[derive(Default)]
pub struct CheckoutMutation;

/// Checkout and order mutations.
#[Object]
impl CheckoutMutation {
    /// Places the order for a cart: stock is reserved, discount usage taken and the order
    /// written at once, then the payment is taken. The same `idempotencyKey` answers the same
    /// again (send a new one for a new attempt); a declined payment places nothing. An order
    /// is shipped (`shippingMethod` and `shippingAddress`) or collected in a store
    /// (`pickupLocationId`: the store's stock is reserved instead of the online stock, and
    /// the order is taxed where the store is).
    #[allow(clippy::too_many_arguments)]
    async fn checkout_complete(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart.")] cart_id: ID,
        #[graphql(
            desc = "A key of the client's (8–128 characters), the same for retries of one attempt."
        )]
        idempotency_key: String,
        #[graphql(desc = "The receipt's address.")] email: String,
        #[graphql(desc = "Where it goes; needed unless the order is collected in a store.")]
        shipping_address: Option<MailingAddressInput>,
        #[graphql(
            desc = "Where the bill goes (default: the shipping address; needed for a pickup order)."
        )]
        billing_address: Option<MailingAddressInput>,
        #[graphql(
            desc = "The shipping method's handle (`shippingMethods`); `pickup`, or none, with `pickupLocationId`."
        )]
        shipping_method: Option<String>,
        #[graphql(
            desc = "Collect the order in this store (a `Location` id, from `locations` or `storeAvailability`)."
        )]
        pickup_location_id: Option<ID>,
        #[graphql(desc = "How the buyer pays.")] payment: PaymentInput,
    ) -> ApiResult<CheckoutCompletePayload> {
        let failed = |errors| CheckoutCompletePayload {
            order: None,
            user_errors: errors,
        };
        let key = idempotency_key.trim();
        if !(8..=128).contains(&key.len()) || key.chars().any(char::is_control) {
            return Ok(failed(vec![invalid(
                &["idempotencyKey"],
                "an idempotency key is 8–128 characters",
            )]));
        }
        let Some(cart) = token_of(&cart_id) else {
            return Ok(failed(vec![CheckoutUserError {
                code: CheckoutErrorCode::CartNotFound,
                ..invalid(&["cartId"], "no such cart")
            }]));
        };
        let mut checks = Checks::default();
        let email = checks.email(&["email"], &email);
        let shipping = shipping_address
            .as_ref()
            .map(|a| checks.address(&["shippingAddress"], a));
        let billing = match (&billing_address, &shipping) {
            (Some(a), _) => Some(checks.address(&["billingAddress"], a)),
            (None, shipping) => shipping.clone(),
        };
        let fulfilment = match fulfilment_of(pickup_location_id, shipping_method, shipping) {
            Ok(fulfilment) => fulfilment,
            Err(e) => return Ok(failed(vec![e])),
        };
        let Some(billing) = billing else {
            return Ok(failed(vec![invalid(
                &["billingAddress"],
                "a pickup order needs a billing address",
            )]));
        };
        if payment.token.trim().is_empty() || payment.token.len() > 256 {
            return Ok(failed(vec![invalid(
                &["payment", "token"],
                "a payment token is 1–256 characters",
            )]));
        }
        let (Some(email), true) = (email, checks.errors.is_empty()) else {
            return Ok(failed(
                checks
                    .errors
                    .into_iter()
                    .map(|e| CheckoutUserError {
                        field: e.field,
                        message: e.message,
                        code: CheckoutErrorCode::Invalid,
                        merchandise_id: None,
                        quantity_available: None,
                    })
                    .collect(),
            ));
        };
        let checkout = service::<Arc<Checkout>>(ctx)?;
        let customer = viewer_opt(ctx).map(|v| v.sub().to_owned());
        let account_created_at = match &customer {
            Some(sub) => service::<Identity>(ctx)?
                .profiles
                .get(sub)
                .await
                .map_err(ApiError::from)?
                .map(|p| p.created_at),
            None => None,
        };
        let request = CheckoutRequest {
            cart,
            customer,
            account_created_at,
            signals: ctx.data_opt::<ClientSignals>().cloned().unwrap_or_default(),
            idempotency_key: key.to_owned(),
            email: email.to_string(),
            billing_address: billing,
            fulfilment,
            payment_token: payment.token,
            ip: ctx.data_opt::<ClientIp>().map(|ip| ip.0.clone()),
        };
        match checkout.complete(request).await.map_err(ApiError::from)? {
            Ok(placed) => Ok(CheckoutCompletePayload {
                order: Some(Order {
                    token: placed.token,
                    record: placed.order,
                }),
                user_errors: Vec::new(),
            }),
            Err(refused) => Ok(failed(vec![CheckoutUserError {
                field: field_of(refused.code),
                message: refused.message,
                code: code_of(refused.code),
                merchandise_id: refused
                    .variant_id
                    .map(|v| ids::encode("ProductVariant", &v)),
                quantity_available: refused.available,
            }])),
        }
    }

    /// Cancels an order that is not being fulfilled yet: the stock goes back and the payment
    /// is voided (or refunded).
    async fn customer_order_cancel(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] id: ID,
    ) -> ApiResult<OrderPayload> {
        let Some(order) = reach(ctx, &id).await? else {
            return Ok(order_error(StatusError::NotFound));
        };
        let checkout = service::<Arc<Checkout>>(ctx)?;
        let digest = GuestToken::parse(&order.token)
            .map(|t| t.digest())
            .unwrap_or_default();
        match checkout.cancel(&digest, order.record).await {
            Ok(record) => Ok(OrderPayload {
                order: Some(Order {
                    token: order.token,
                    record,
                }),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(order_error(e)),
        }
    }

    /// Moves an order along its status machine (for the order-management system; needs an
    /// operator's API key). Illegal moves are refused and reported.
    #[graphql(guard = "operator")]
    async fn order_status_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id, as in its `OrderPlaced` message.")] order_id: String,
        #[graphql(desc = "The new status.")] status: OrderStatus,
        #[graphql(desc = "Why, for the history.")] note: Option<String>,
    ) -> ApiResult<OrderStatusUpdatePayload> {
        let checkout = service::<Arc<Checkout>>(ctx)?;
        match checkout
            .update_status(order_id.trim(), status.into(), note)
            .await
        {
            Ok(record) => Ok(OrderStatusUpdatePayload {
                order_id: Some(record.id),
                status: Some(record.status.into()),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(OrderStatusUpdatePayload {
                order_id: None,
                status: None,
                user_errors: order_error(e).user_errors,
            }),
        }
    }
}

/// The order behind `id` when this request may read it.
pub(crate) async fn reach(ctx: &Context<'_>, id: &ID) -> ApiResult<Option<Order>> {
    let Some(token) = ids::decode_as(id, "Order")
        .ok()
        .and_then(|raw| GuestToken::parse(&raw))
    else {
        return Ok(None);
    };
    let checkout = service::<Arc<Checkout>>(ctx)?;
    let Some(record) = checkout.orders.get(&token.digest()).await? else {
        return Ok(None);
    };
    let customer = viewer_opt(ctx).map(|v| v.sub());
    Ok(record.owner.permits(customer, Some(&token)).then(|| Order {
        token: token.as_str().to_owned(),
        record,
    }))
}

/// A customer's orders, newest first: `first` after the cursor `after`.
pub async fn customer_orders(
    ctx: &Context<'_>,
    sub: &str,
    first: usize,
    after: Option<&str>,
) -> ApiResult<OrderConnection> {
    let checkout = service::<Arc<Checkout>>(ctx)?;
    let after = after.map(decode_cursor::<StartKey>).transpose()?;
    let had_before = after.is_some();
    let (entries, more) = checkout.orders.of_customer(sub, first, after).await?;
    let digests: Vec<String> = entries.iter().map(|(_, e)| e.digest.clone()).collect();
    let mut records = checkout.orders.get_many(&digests).await?;
    let mut edges = Vec::new();
    for (position, entry) in entries {
        if let Some(record) = records.remove(&entry.digest) {
            edges.push(OrderEdge {
                cursor: encode_cursor(&position),
                node: Order {
                    token: entry.token,
                    record,
                },
            });
        }
    }
    Ok(OrderConnection {
        page_info: PageInfo {
            has_next_page: more,
            has_previous_page: had_before,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        nodes: edges.iter().map(|e| e.node.clone()).collect(),
        edges,
    })
}

/// Checkout queries.
#[derive(Default)]
pub struct CheckoutQuery;

/// Checkout queries.
#[Object]
impl CheckoutQuery {
    /// An order by its id; null when there is none this request may read (a customer's
    /// orders are theirs alone).
    async fn order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's ID.")] id: ID,
    ) -> ApiResult<Option<Order>> {
        reach(ctx, &id).await
    }

    /// The ways to ship, with their prices.
    async fn shipping_methods(&self, ctx: &Context<'_>) -> ApiResult<Vec<ShippingMethod>> {
        let carts = service::<storefront_loaders::cart::Carts>(ctx)?;
        Ok(carts
            .config
            .shipping_methods
            .iter()
            .map(|m| ShippingMethod {
                handle: m.handle.clone(),
                title: m.title.clone(),
                price: Money::new(m.price, "USD"),
                free_over: m.free_over.map(|f| Money::new(f, "USD")),
            })
            .collect())
    }
}

/// The checkout's queries.
pub type Query = CheckoutQuery;
/// The checkout's mutations.
pub type Mutation = CheckoutMutation;
