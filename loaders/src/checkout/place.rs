//! Checkout: a cart becomes an order. Stock is reserved, discount usage consumed, and the
//! order, its outbox message and the idempotency record written in **one** conditional
//! transaction (stock never below zero, no read-then-write); then the payment is authorized
//! and captured, or the reservation released in a compensating transaction. Every step after
//! the order exists is conditional on the order's version, so the checkout and the sweeper
//! that finishes interrupted checkouts never both act.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::metrics::CheckoutMetrics;
use super::orders::{
    IdempotencyRecord, OrderLineRecord, OrderRecord, OrderStatus, OrderStore, PaymentRecord,
    PaymentState, StatusChange, keys,
};
use super::payment::{Authorization, Found, PaymentError, PaymentProvider, PaymentRequest};
use crate::cart::{self, CartRecord, Carts, DiscountRecord, LineInput};
use crate::catalog::{CatalogWriter, ProductRecord, VariantRecord, keys as catalog_keys};
use crate::codec::{from_item, to_item};
use crate::events::{Event, Source, kinds};
use crate::fraud::{ClientSignals, Fraud, FraudAddress, FraudEvent, FraudEventKind, Verdict};
use crate::hash::sha256_hex;
use crate::identity::{Address, GuestToken, Owner};
use crate::location::store_stock::{self, StoreStock};
use crate::location::{LocationRecord, keys as location_keys};
use crate::outbox::OutboxMessage;
use crate::store::{
    CancellationReason, Condition, StoreError, TRANSACTION_MAX, Table, Update, WriteOp,
};

/// Why a checkout did not place an order, for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such cart (or not this buyer's).
    CartNotFound,
    /// The cart has no lines.
    EmptyCart,
    /// The cart was checked out already.
    AlreadyCheckedOut,
    /// The cart holds more lines than one checkout takes.
    TooManyLines,
    /// No such shipping method.
    UnknownShippingMethod,
    /// No store with that id takes pickup orders.
    UnknownPickupLocation,
    /// A variant is no longer sold.
    MerchandiseNotFound,
    /// Not enough in stock.
    InsufficientStock,
    /// A discount code does not apply (used up, expired, minimum not met).
    DiscountNotApplicable,
    /// The buyer used the code already.
    DiscountAlreadyUsed,
    /// The fraud check refused the order.
    FraudBlocked,
    /// The processor declined the payment.
    PaymentDeclined,
    /// The payment could not be taken; nothing was charged.
    PaymentFailed,
    /// The idempotency key was used for another cart.
    IdempotencyKeyReused,
    /// The cart changed while checking out; try again.
    CartChanged,
}

/// A refused checkout: what, why, and about which variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What, for programs.
    pub code: Refusal,
    /// What, for people.
    pub message: String,
    /// The variant it is about, when one.
    pub variant_id: Option<String>,
    /// With `InsufficientStock`: how many are in stock.
    pub available: Option<i64>,
}

fn refused(code: Refusal, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
        variant_id: None,
        available: None,
    }
}

/// What a checkout asks for.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// The cart's token.
    pub cart: GuestToken,
    /// The signed-in customer, if any.
    pub customer: Option<String>,
    /// The client's idempotency key.
    pub idempotency_key: String,
    /// The receipt's address (checked by the caller).
    pub email: String,
    /// Where the bill goes (checked by the caller).
    pub billing_address: Address,
    /// How it reaches the buyer.
    pub fulfilment: Fulfilment,
    /// The payment method's token.
    pub payment_token: String,
    /// The client's address, for the fraud check.
    pub ip: Option<String>,
    /// The client's own signals, for the fraud check.
    pub signals: ClientSignals,
    /// When the signed-in customer's account was made, for the fraud check.
    pub account_created_at: Option<DateTime<Utc>>,
}

/// How an order reaches the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fulfilment {
    /// Shipped to the address with the shipping method of this handle.
    Ship {
        /// The shipping method's handle.
        method: String,
        /// Where it goes (checked by the caller).
        address: Box<Address>,
    },
    /// Collected at the store with this id: its stock is reserved at checkout.
    Pickup(String),
}

/// The handle of the pickup shipping method.
pub const PICKUP: &str = "pickup";

/// A placed order, with the token that reaches it.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The order's token (its id for the API).
    pub token: String,
    /// The order as it stands.
    pub order: OrderRecord,
}

/// Checkout's engines.
pub struct Checkout {
    /// The table.
    pub table: Arc<dyn Table>,
    /// The table without the item cache: what conditional writes are decided from.
    pub fresh: Arc<dyn Table>,
    /// Orders.
    pub orders: OrderStore,
    /// Carts and discount codes, and the pricing settings.
    pub carts: Carts,
    /// The payment processor.
    pub payments: Arc<dyn PaymentProvider>,
    /// The fraud check.
    pub fraud: Arc<Fraud>,
    /// Counters.
    pub metrics: CheckoutMetrics,
}

/// How often a transaction is tried against concurrent ones on the same items.
const CONFLICT_ATTEMPTS: u32 = 40;

/// A checkout's transaction, and what each of its operations is for.
struct Plan {
    ops: Vec<WriteOp>,
    purposes: Vec<Purpose>,
}

#[derive(Debug, Clone)]
enum Purpose {
    Stock(String, i64),
    StoreStock(String, String, i64),
    Usage(String),
    BuyerUsage(String),
    Order,
    Entry,
    IdIndex,
    Message,
    Idempotency,
    Cart,
}

fn digest(prefix: &str, secret: &str) -> String {
    sha256_hex(format!("{prefix}:{secret}").as_bytes())
}

fn order_number() -> String {
    let hex = crate::hash::random_hex(4).to_ascii_uppercase();
    format!("SG-{hex}")
}

impl Checkout {
    /// Places an order for the cart, or says why not; the same idempotency key answers the
    /// same again.
    pub async fn complete(
        &self,
        request: CheckoutRequest,
    ) -> Result<Result<Placed, Refused>, StoreError> {
        let outcome = self.try_complete(request).await;
        let label = match &outcome {
            Ok(Ok(placed)) => match placed.order.status {
                OrderStatus::Paid => "paid",
                OrderStatus::OnHold => "on_hold",
                _ => "pending",
            },
            Ok(Err(r)) => match r.code {
                Refusal::PaymentDeclined => "declined",
                Refusal::PaymentFailed => "payment_failed",
                Refusal::FraudBlocked => "blocked",
                Refusal::InsufficientStock => "out_of_stock",
                _ => "refused",
            },
            Err(_) => "error",
        };
        self.metrics.checkout(label);
        outcome
    }

    async fn try_complete(
        &self,
        request: CheckoutRequest,
    ) -> Result<Result<Placed, Refused>, StoreError> {
        let idempotency = digest("idempotency", &request.idempotency_key);
        let cart_digest = request.cart.digest();
        if let Some(replay) = self.replay(&idempotency, &cart_digest).await? {
            return Ok(replay);
        }
        let Some(cart) = self.carts.store.get(&cart_digest).await? else {
            return Ok(Err(refused(Refusal::CartNotFound, "no such cart")));
        };
        if !cart
            .owner
            .permits(request.customer.as_deref(), Some(&request.cart))
        {
            return Ok(Err(refused(Refusal::CartNotFound, "no such cart")));
        }
        if cart.order_id.is_some() {
            // A concurrent attempt with this very key may have just placed it.
            if let Some(replay) = self.replay(&idempotency, &cart_digest).await? {
                return Ok(replay);
            }
            return Ok(Err(refused(
                Refusal::AlreadyCheckedOut,
                "the cart was checked out already",
            )));
        }
        if cart.lines.is_empty() {
            return Ok(Err(refused(Refusal::EmptyCart, "the cart is empty")));
        }
        let (method, shipping_address, pickup) = match &request.fulfilment {
            Fulfilment::Ship { method, address } => {
                let Some(found) = self.carts.config.shipping_method(method).cloned() else {
                    return Ok(Err(refused(
                        Refusal::UnknownShippingMethod,
                        format!("no shipping method `{method}`"),
                    )));
                };
                (found, Address::clone(address), None)
            }
            Fulfilment::Pickup(location_id) => {
                let Some(store) = self.pickup_store(location_id).await? else {
                    return Ok(Err(refused(
                        Refusal::UnknownPickupLocation,
                        "no store with that id takes pickup orders",
                    )));
                };
                let method = cart::ShippingMethod {
                    handle: PICKUP.into(),
                    title: format!("Pickup at {}", store.name),
                    price: Decimal::ZERO,
                    free_over: None,
                };
                (method, store_address(&store), Some(store.id))
            }
        };
        // Stock per variant, discount usage and per-buyer usage per code, then 9 more.
        let variants_in_cart = quantities(
            cart.lines
                .iter()
                .map(|l| (l.variant_id.as_str(), l.quantity)),
        );
        if variants_in_cart.len() + 2 * cart.discount_codes.len() + 9 > TRANSACTION_MAX {
            return Ok(Err(refused(
                Refusal::TooManyLines,
                "the cart has more lines than one checkout takes; split it",
            )));
        }
        let (variants, products) = self.merchandise(&cart).await?;
        if let Some(missing) = cart
            .lines
            .iter()
            .find(|l| !variants.contains_key(&l.variant_id))
        {
            return Ok(Err(Refused {
                variant_id: Some(missing.variant_id.clone()),
                ..refused(
                    Refusal::MerchandiseNotFound,
                    "an item in the cart is no longer sold",
                )
            }));
        }
        let discounts = self.carts.store.discounts(&cart.discount_codes).await?;
        let inputs: Vec<LineInput> = cart
            .lines
            .iter()
            .map(|l| LineInput {
                line_id: l.id.clone(),
                unit_price: variants[&l.variant_id].price,
                quantity: l.quantity,
            })
            .collect();
        // Taxed where the goods are handed over: the address, or the pickup store.
        let rate = cart::tax_rate(
            &self.carts.config.tax_rates,
            Some(&shipping_address.country_code),
            shipping_address.province.as_deref(),
        );
        let cost = cart::price(
            &inputs,
            &cart.discount_codes,
            &discounts,
            rate,
            Some(&method),
            Utc::now(),
        );
        if let Some(code) = cost.codes.iter().find(|c| !c.applicable) {
            return Ok(Err(refused(
                Refusal::DiscountNotApplicable,
                format!(
                    "`{}`: {}",
                    code.code,
                    code.reason.clone().unwrap_or_default()
                ),
            )));
        }
        let order_id = uuid::Uuid::new_v4().simple().to_string();
        let decision = self
            .fraud
            .check(&fraud_event(
                &request,
                &order_id,
                &shipping_address,
                cost.total,
                &currency_of(&variants, &products),
            ))
            .await;
        let verdict = decision.verdict;
        if verdict == Verdict::Block {
            return Ok(Err(refused(
                Refusal::FraudBlocked,
                "the order cannot be placed; contact us",
            )));
        }
        let token = GuestToken::generate();
        let order_digest = token.digest();
        let now = Utc::now();
        let currency = currency_of(&variants, &products);
        let lines = cart
            .lines
            .iter()
            .zip(&cost.lines)
            .map(|(line, priced)| {
                let variant = &variants[&line.variant_id];
                let product = products.get(&variant.product_id);
                OrderLineRecord {
                    variant_id: line.variant_id.clone(),
                    product_id: variant.product_id.clone(),
                    sku: variant.sku.clone(),
                    title: format!(
                        "{} — {}",
                        product.map_or("", |p| p.title.as_str()),
                        variant.title
                    ),
                    quantity: line.quantity,
                    unit_price: priced.unit_price,
                    discount: priced.discount,
                    total: priced.total,
                }
            })
            .collect();
        let buyer_key = request
            .customer
            .clone()
            .unwrap_or_else(|| format!("email:{}", request.email));
        let owner = match &request.customer {
            Some(sub) => Owner::Customer(sub.clone()),
            None => Owner::Guest(order_digest.clone()),
        };
        let order = OrderRecord {
            id: order_id,
            number: order_number(),
            owner,
            email: request.email.clone(),
            lines,
            currency,
            subtotal: cost.subtotal,
            discount_total: cost.discount_total,
            tax_total: cost.tax_total,
            shipping_total: cost.shipping,
            total: cost.total,
            discount_codes: cart.discount_codes.clone(),
            buyer_key: buyer_key.clone(),
            shipping_address,
            billing_address: request.billing_address.clone(),
            shipping_method: method.handle.clone(),
            pickup_location_id: pickup,
            status: OrderStatus::PendingPayment,
            history: vec![StatusChange {
                status: OrderStatus::PendingPayment,
                at: now,
                note: None,
            }],
            payment: PaymentRecord {
                provider: self.payments.name().to_owned(),
                authorization_id: None,
                state: PaymentState::Pending,
                message: None,
            },
            fraud: verdict.as_str().to_owned(),
            idempotency: idempotency.clone(),
            cart: cart_digest.clone(),
            created_at: now,
            version: 0,
        };
        let plan = self.plan(
            &cart,
            &order,
            &order_digest,
            token.as_str(),
            &discounts,
            &variants_in_cart,
        )?;
        match self.commit(plan).await? {
            Ok(()) => {}
            Err((Purpose::Idempotency, _)) => {
                if let Some(replay) = self.replay(&idempotency, &cart_digest).await? {
                    return Ok(replay);
                }
                return Ok(Err(refused(Refusal::CartChanged, "try again")));
            }
            Err((purpose, _)) => {
                if let Some(replay) = self.replay(&idempotency, &cart_digest).await? {
                    return Ok(replay);
                }
                return Ok(Err(self.explain(purpose).await?));
            }
        }
        if order.pickup_location_id.is_none() {
            let products = variants_in_cart
                .keys()
                .filter_map(|v| variants.get(*v).map(|v| v.product_id.clone()))
                .collect();
            self.refresh_products(products).await;
        }
        let order = self
            .settle(&order_digest, order, &request.payment_token)
            .await?;
        Ok(self.outcome(token.as_str().to_owned(), order))
    }

    /// What an order means for the buyer: placed, or refused for its payment.
    fn outcome(&self, token: String, order: OrderRecord) -> Result<Placed, Refused> {
        match (order.status, order.payment.state) {
            (OrderStatus::Cancelled, PaymentState::Declined) => Err(refused(
                Refusal::PaymentDeclined,
                format!(
                    "the payment was declined ({})",
                    order.payment.message.clone().unwrap_or_default()
                ),
            )),
            (OrderStatus::Cancelled, PaymentState::Failed) => Err(refused(
                Refusal::PaymentFailed,
                "the payment could not be taken; nothing was charged, try again",
            )),
            _ => Ok(Placed { token, order }),
        }
    }

    /// The answer to a checkout whose idempotency key was seen before.
    async fn replay(
        &self,
        idempotency: &str,
        cart_digest: &str,
    ) -> Result<Option<Result<Placed, Refused>>, StoreError> {
        let Some(item) = self.table.get(&keys::idempotency(idempotency)).await? else {
            return Ok(None);
        };
        let record: IdempotencyRecord = from_item(&item)?;
        if record.cart != cart_digest {
            return Ok(Some(Err(refused(
                Refusal::IdempotencyKeyReused,
                "this idempotency key was used for another cart",
            ))));
        }
        let order = self.orders.get(&record.order).await?.ok_or_else(|| {
            StoreError::Corrupt("an idempotency record names a missing order".into())
        })?;
        Ok(Some(self.outcome(record.token, order)))
    }

    /// The store with this id, when it exists.
    async fn pickup_store(&self, location_id: &str) -> Result<Option<LocationRecord>, StoreError> {
        self.table
            .get(&location_keys::location(location_id))
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    async fn merchandise(
        &self,
        cart: &CartRecord,
    ) -> Result<
        (
            HashMap<String, VariantRecord>,
            HashMap<String, ProductRecord>,
        ),
        StoreError,
    > {
        let keys: Vec<_> = cart
            .lines
            .iter()
            .map(|l| catalog_keys::variant(&l.variant_id))
            .collect();
        let mut variants = HashMap::new();
        for item in self.table.batch_get(&keys).await? {
            let v: VariantRecord = from_item(&item)?;
            variants.insert(v.id.clone(), v);
        }
        let product_keys: Vec<_> = variants
            .values()
            .map(|v| catalog_keys::product(&v.product_id))
            .collect();
        let mut products = HashMap::new();
        for item in self.table.batch_get(&product_keys).await? {
            let p: ProductRecord = from_item(&item)?;
            products.insert(p.id.clone(), p);
        }
        Ok((variants, products))
    }

    fn plan(
        &self,
        cart: &CartRecord,
        order: &OrderRecord,
        order_digest: &str,
        token: &str,
        discounts: &[DiscountRecord],
        quantities: &BTreeMap<&str, i64>,
    ) -> Result<Plan, StoreError> {
        let mut plan = Plan {
            ops: Vec::new(),
            purposes: Vec::new(),
        };
        for (variant, quantity) in quantities {
            match &order.pickup_location_id {
                None => {
                    plan.ops.push(WriteOp::Update {
                        key: catalog_keys::inventory(variant),
                        update: Update::add("quantity", -quantity),
                        condition: Some(Condition::AtLeast("quantity".into(), *quantity)),
                    });
                    plan.purposes
                        .push(Purpose::Stock((*variant).to_owned(), *quantity));
                }
                Some(store) => {
                    plan.ops
                        .push(store_stock::reserve(variant, store, *quantity));
                    plan.purposes.push(Purpose::StoreStock(
                        (*variant).to_owned(),
                        store.clone(),
                        *quantity,
                    ));
                }
            }
        }
        for discount in discounts
            .iter()
            .filter(|d| order.discount_codes.contains(&d.code))
        {
            let mut condition = vec![Condition::ItemExists];
            if let Some(limit) = discount.usage_limit {
                condition.push(Condition::Not(Box::new(Condition::AtLeast(
                    "used".into(),
                    i64::try_from(limit).unwrap_or(i64::MAX),
                ))));
            }
            plan.ops.push(WriteOp::Update {
                key: cart::keys::discount(&discount.code),
                update: Update::add("used", 1),
                condition: Some(Condition::And(condition)),
            });
            plan.purposes.push(Purpose::Usage(discount.code.clone()));
            if let Some(limit) = discount.per_customer_limit {
                plan.ops.push(WriteOp::Update {
                    key: cart::keys::discount_use(&discount.code, &order.buyer_key),
                    update: Update::add("count", 1),
                    condition: Some(Condition::Not(Box::new(Condition::AtLeast(
                        "count".into(),
                        i64::try_from(limit).unwrap_or(i64::MAX),
                    )))),
                });
                plan.purposes
                    .push(Purpose::BuyerUsage(discount.code.clone()));
            }
        }
        plan.ops.push(WriteOp::Put {
            item: OrderStore::item(order_digest, order)?,
            condition: Some(Condition::ItemNotExists),
        });
        plan.purposes.push(Purpose::Order);
        plan.ops.push(WriteOp::Put {
            item: super::status::id_item(&order.id, order_digest)?,
            condition: Some(Condition::ItemNotExists),
        });
        plan.purposes.push(Purpose::IdIndex);
        // Also keeps order numbers unique: a number taken already fails the transaction.
        plan.ops.push(WriteOp::Put {
            item: to_item(
                &keys::number(&order.number),
                &super::status::OrderIdRecord {
                    digest: order_digest.to_owned(),
                },
                &[],
            )?,
            condition: Some(Condition::ItemNotExists),
        });
        plan.purposes.push(Purpose::IdIndex);
        if let Owner::Customer(sub) = &order.owner {
            plan.ops.push(WriteOp::Put {
                item: OrderStore::entry_item(sub, order, token, order_digest)?,
                condition: None,
            });
            plan.purposes.push(Purpose::Entry);
        }
        plan.ops.push(WriteOp::Put {
            item: OutboxMessage::new(&order.id, kinds::ORDER_PLACED, order_message(order))
                .item(super::relay::PENDING)?,
            condition: None,
        });
        plan.purposes.push(Purpose::Message);
        plan.ops.push(order_event(
            order,
            kinds::ORDER_PLACED,
            order_message(order),
        )?);
        plan.purposes.push(Purpose::Message);
        plan.ops.push(WriteOp::Put {
            item: to_item(
                &keys::idempotency(&order.idempotency),
                &IdempotencyRecord {
                    cart: order.cart.clone(),
                    order: order_digest.to_owned(),
                    token: token.to_owned(),
                },
                &[],
            )?,
            condition: Some(Condition::ItemNotExists),
        });
        plan.purposes.push(Purpose::Idempotency);
        plan.ops.push(WriteOp::Update {
            key: cart::keys::cart(&order.cart),
            update: Update::set("order_id", order.id.clone()),
            condition: Some(Condition::equals("version", cart.version)),
        });
        plan.purposes.push(Purpose::Cart);
        Ok(plan)
    }

    /// Runs a plan, retrying transaction conflicts; a condition that fails is reported with
    /// the purpose of its operation.
    async fn commit(
        &self,
        plan: Plan,
    ) -> Result<Result<(), (Purpose, CancellationReason)>, StoreError> {
        for attempt in 0..CONFLICT_ATTEMPTS {
            if attempt > 0 {
                crate::store::backoff(attempt.min(8)).await;
            }
            match self.table.transact_write(plan.ops.clone()).await {
                Ok(()) => return Ok(Ok(())),
                Err(StoreError::TransactionCanceled { reasons }) => {
                    if let Some((i, reason)) = reasons
                        .iter()
                        .enumerate()
                        .find(|(_, r)| **r == CancellationReason::ConditionalCheckFailed)
                    {
                        return Ok(Err((plan.purposes[i].clone(), reason.clone())));
                    }
                    // Conflicts with concurrent transactions: try again.
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(
            "checkout kept conflicting with others; try again".into(),
        ))
    }

    async fn explain(&self, purpose: Purpose) -> Result<Refused, StoreError> {
        Ok(match purpose {
            Purpose::Stock(variant, wanted) => {
                let available = match self.table.get(&catalog_keys::inventory(&variant)).await? {
                    Some(item) => item.get("quantity").and_then(Value::as_i64).unwrap_or(0),
                    None => 0,
                };
                Refused {
                    variant_id: Some(variant),
                    available: Some(available.max(0)),
                    ..refused(
                        Refusal::InsufficientStock,
                        format!("{wanted} wanted, {} in stock", available.max(0)),
                    )
                }
            }
            Purpose::StoreStock(variant, store, wanted) => {
                let available = StoreStock::new(Arc::clone(&self.table))
                    .in_store(&variant, &store)
                    .await?
                    .map_or(0, |s| s.available.max(0));
                Refused {
                    variant_id: Some(variant),
                    available: Some(available),
                    ..refused(
                        Refusal::InsufficientStock,
                        format!("{wanted} wanted, {available} at the pickup store"),
                    )
                }
            }
            Purpose::Usage(code) => refused(
                Refusal::DiscountNotApplicable,
                format!("`{code}`: the code has been used up"),
            ),
            Purpose::BuyerUsage(code) => refused(
                Refusal::DiscountAlreadyUsed,
                format!("`{code}`: you used this code already"),
            ),
            Purpose::Cart => refused(
                Refusal::CartChanged,
                "the cart changed while checking out; review it and try again",
            ),
            Purpose::Order
            | Purpose::Entry
            | Purpose::IdIndex
            | Purpose::Message
            | Purpose::Idempotency => refused(Refusal::CartChanged, "try again"),
        })
    }

    /// Takes the payment of a placed order: authorize, then capture (or hold for review);
    /// a decline or a failure releases the reservation. An outcome that cannot be learned now
    /// (the provider is away) leaves the order pending for the sweeper.
    pub async fn settle(
        &self,
        order_digest: &str,
        order: OrderRecord,
        payment_token: &str,
    ) -> Result<OrderRecord, StoreError> {
        let request = PaymentRequest {
            idempotency_key: order.id.clone(),
            amount: order.total,
            currency: order.currency.clone(),
            token: payment_token.to_owned(),
        };
        // An order held for review is only authorized; any other is charged in one step.
        let hold = order.fraud == Verdict::Review.as_str();
        let started = std::time::Instant::now();
        let (op, taken) = if hold {
            ("authorize", self.payments.authorize(&request).await)
        } else {
            ("charge", self.payments.charge(&request).await)
        };
        self.metrics
            .payment_call(op, taken.as_ref().map(drop), started);
        match taken {
            Ok(authorization) if hold => self.authorized(order_digest, order, authorization).await,
            Ok(authorization) => {
                self.transition(
                    order_digest,
                    order,
                    OrderStatus::Paid,
                    PaymentState::Captured,
                    Some(authorization.id),
                    None,
                )
                .await
            }
            Err(PaymentError::Declined(why)) => {
                self.release(order_digest, order, PaymentState::Declined, Some(why))
                    .await
            }
            Err(_) => self.resolve_unknown(order_digest, order).await,
        }
    }

    /// Learns what happened to a payment whose answer was lost, and acts on it.
    async fn resolve_unknown(
        &self,
        order_digest: &str,
        order: OrderRecord,
    ) -> Result<OrderRecord, StoreError> {
        let started = std::time::Instant::now();
        let found = self.payments.lookup(&order.id).await;
        self.metrics
            .payment_call("lookup", found.as_ref().map(drop), started);
        match found {
            Ok(Found::Authorized(authorization)) => {
                self.authorized(order_digest, order, authorization).await
            }
            Ok(Found::Declined(why)) => {
                self.release(order_digest, order, PaymentState::Declined, Some(why))
                    .await
            }
            Ok(Found::Nothing) => {
                self.release(order_digest, order, PaymentState::Failed, None)
                    .await
            }
            // Unknown still: the sweeper will ask again.
            Err(_) => Ok(order),
        }
    }

    async fn authorized(
        &self,
        order_digest: &str,
        order: OrderRecord,
        authorization: Authorization,
    ) -> Result<OrderRecord, StoreError> {
        if order.fraud == Verdict::Review.as_str() {
            return self
                .transition(
                    order_digest,
                    order,
                    OrderStatus::OnHold,
                    PaymentState::Authorized,
                    Some(authorization.id),
                    Some("held for a fraud review".into()),
                )
                .await;
        }
        let started = std::time::Instant::now();
        let captured = self.payments.capture(&authorization).await;
        self.metrics
            .payment_call("capture", captured.as_ref().map(drop), started);
        match captured {
            Ok(()) => {
                self.transition(
                    order_digest,
                    order,
                    OrderStatus::Paid,
                    PaymentState::Captured,
                    Some(authorization.id),
                    None,
                )
                .await
            }
            // Authorized but not captured: the sweeper captures it later (captures are
            // idempotent).
            Err(_) => Ok(order),
        }
    }

    /// Moves a pending order to `status`, conditional on the version read; answers the
    /// order as it stands (someone else's move, if theirs came first).
    async fn transition(
        &self,
        order_digest: &str,
        mut order: OrderRecord,
        status: OrderStatus,
        payment: PaymentState,
        authorization: Option<String>,
        note: Option<String>,
    ) -> Result<OrderRecord, StoreError> {
        order.payment.state = payment;
        if authorization.is_some() {
            order.payment.authorization_id = authorization;
        }
        let ops = record_status(order_digest, &mut order, status, note)?;
        match self.table.transact_write(ops).await {
            Ok(()) => Ok(order),
            Err(StoreError::TransactionCanceled { .. }) => self.current(order_digest).await,
            Err(e) => Err(e),
        }
    }

    async fn current(&self, order_digest: &str) -> Result<OrderRecord, StoreError> {
        self.orders
            .get(order_digest)
            .await?
            .ok_or_else(|| StoreError::Corrupt("an order vanished".into()))
    }

    /// Cancels a pending order whose payment did not happen: stock and discount usage go
    /// back, the cart may be checked out again, in one transaction conditional on the
    /// order's version.
    async fn release(
        &self,
        order_digest: &str,
        mut order: OrderRecord,
        payment: PaymentState,
        message: Option<String>,
    ) -> Result<OrderRecord, StoreError> {
        order.payment.state = payment;
        order.payment.message.clone_from(&message);
        let note = match payment {
            PaymentState::Declined => "the payment was declined",
            _ => "the payment could not be taken",
        };
        let mut ops = restock(&order);
        ops.extend(record_status(
            order_digest,
            &mut order,
            OrderStatus::Cancelled,
            Some(note.into()),
        )?);
        let discounts = self.carts.store.discounts(&order.discount_codes).await?;
        for discount in &discounts {
            ops.push(WriteOp::Update {
                key: cart::keys::discount(&discount.code),
                update: Update::add("used", -1),
                condition: Some(Condition::ItemExists),
            });
            if discount.per_customer_limit.is_some() {
                ops.push(WriteOp::Update {
                    key: cart::keys::discount_use(&discount.code, &order.buyer_key),
                    update: Update::add("count", -1),
                    condition: Some(Condition::ItemExists),
                });
            }
        }
        // The shopper may try again with another card: the cart is open again.
        ops.push(WriteOp::Update {
            key: cart::keys::cart(&order.cart),
            update: Update::set("order_id", Value::Null),
            condition: Some(Condition::equals("order_id", order.id.clone())),
        });
        let written = self
            .commit(Plan {
                purposes: vec![Purpose::Order; ops.len()],
                ops,
            })
            .await?;
        match written {
            Ok(()) => {
                let products = order.lines.iter().map(|l| l.product_id.clone()).collect();
                self.refresh_products(products).await;
                Ok(order)
            }
            // Moved meanwhile (the sweeper, or the cart expired): answer as it stands.
            Err(_) => self.current(order_digest).await,
        }
    }

    /// Fixes the listings' availability of products whose stock a checkout changed (after
    /// the fact, and conditional on the stock read, so never against a newer change).
    pub(super) async fn refresh_products(&self, products: std::collections::BTreeSet<String>) {
        // Decided from the store itself: a copy in the item cache that another replica's
        // write made stale would fail every conditional write until its invalidation arrives.
        let writer =
            CatalogWriter::new(Arc::clone(&self.table)).reading_from(Arc::clone(&self.fresh));
        for product in products {
            if let Err(e) = writer.refresh_availability(&product).await {
                tracing::warn!(error = %e, product, "listing availability not refreshed after a checkout");
            }
        }
    }

    /// Finishes or undoes what interrupted checkouts left: orders pending longer than
    /// `older_than`. Returns how many it settled.
    pub async fn sweep(&self, older_than: std::time::Duration) -> Result<usize, StoreError> {
        let older_than = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
        let mut settled = 0;
        for digest in self.orders.pending(100).await? {
            let Some(order) = self.orders.get(&digest).await? else {
                continue;
            };
            if order.status != OrderStatus::PendingPayment
                || Utc::now() - order.created_at < older_than
            {
                continue;
            }
            let after = self.resolve_unknown(&digest, order).await?;
            if after.status != OrderStatus::PendingPayment {
                settled += 1;
            }
        }
        Ok(settled)
    }
}

/// The quantity of each variant among `lines` (variant, quantity), the same variant's lines
/// added up.
fn quantities<'a>(lines: impl Iterator<Item = (&'a str, u32)>) -> BTreeMap<&'a str, i64> {
    let mut total = BTreeMap::new();
    for (variant, quantity) in lines {
        *total.entry(variant).or_default() += i64::from(quantity);
    }
    total
}

/// The writes that give an order's stock back: to the online inventory, or to the pickup
/// store's reservations.
pub(super) fn restock(order: &OrderRecord) -> Vec<WriteOp> {
    order_quantities(order)
        .into_iter()
        .map(|(variant, quantity)| match &order.pickup_location_id {
            None => WriteOp::Update {
                key: catalog_keys::inventory(variant),
                update: Update::add("quantity", quantity),
                condition: None,
            },
            Some(store) => store_stock::release(variant, store, quantity),
        })
        .collect()
}

/// The writes that record a pickup order collected: its units left the store.
pub(super) fn collected(order: &OrderRecord) -> Vec<WriteOp> {
    let Some(store) = &order.pickup_location_id else {
        return Vec::new();
    };
    order_quantities(order)
        .into_iter()
        .map(|(variant, quantity)| store_stock::collect(variant, store, quantity))
        .collect()
}

fn order_quantities(order: &OrderRecord) -> BTreeMap<&str, i64> {
    quantities(
        order
            .lines
            .iter()
            .map(|l| (l.variant_id.as_str(), l.quantity)),
    )
}

/// A store as the address of the orders collected there.
fn store_address(store: &LocationRecord) -> Address {
    Address {
        first_name: None,
        last_name: None,
        company: Some(store.name.clone()),
        address1: store.address1.clone(),
        address2: None,
        city: store.city.clone(),
        province: Some(store.province_code.clone()),
        zip: Some(store.zip.clone()),
        country_code: store.country_code.clone(),
        phone: Some(store.phone.clone()),
    }
}

/// Moves `order` to `status` (with `note` in its history); returns the writes that store the
/// move, conditional on the version it had, and announce it through the outbox.
pub(super) fn record_status(
    digest: &str,
    order: &mut OrderRecord,
    status: OrderStatus,
    note: Option<String>,
) -> Result<Vec<WriteOp>, StoreError> {
    let read = order.version;
    order.status = status;
    order.history.push(StatusChange {
        status,
        at: Utc::now(),
        note,
    });
    order.version += 1;
    Ok(vec![
        WriteOp::Put {
            item: OrderStore::item(digest, order)?,
            condition: Some(Condition::equals("version", read)),
        },
        WriteOp::Put {
            item: OutboxMessage::new(
                &order.id,
                kinds::ORDER_STATUS_CHANGED,
                status_message(order),
            )
            .item(super::relay::PENDING)?,
            condition: None,
        },
        order_event(order, kinds::ORDER_STATUS_CHANGED, status_message(order))?,
    ])
}

/// The event announcing a change of `order`: the hand-off message's content, and the
/// customer it belongs to (none for a guest's).
fn order_event(order: &OrderRecord, kind: &str, mut data: Value) -> Result<WriteOp, StoreError> {
    if let (Owner::Customer(sub), Some(fields)) = (&order.owner, data.as_object_mut()) {
        fields.insert("customerId".into(), Value::from(sub.clone()));
        fields.insert("number".into(), Value::from(order.number.clone()));
    }
    Event::new(Source::Orders, kind, &order.id, data).write()
}

fn money(amount: Decimal) -> String {
    cart::cents(amount).to_string()
}

/// The `OrderPlaced` message.
fn order_message(order: &OrderRecord) -> Value {
    json!({
        "type": "OrderPlaced",
        "orderId": order.id,
        "number": order.number,
        "email": order.email,
        "currency": order.currency,
        "total": money(order.total),
        "lines": order.lines.iter().map(|l| json!({"sku": l.sku, "quantity": l.quantity, "total": money(l.total)})).collect::<Vec<_>>(),
        "shippingAddress": order.shipping_address,
        "shippingMethod": order.shipping_method,
        "pickupLocationId": order.pickup_location_id,
        "placedAt": order.created_at.to_rfc3339(),
    })
}

/// The `OrderStatusChanged` message.
fn status_message(order: &OrderRecord) -> Value {
    json!({
        "type": "OrderStatusChanged",
        "orderId": order.id,
        "status": order.status.as_str(),
        "version": order.version,
    })
}

/// The order's currency: its products'.
fn currency_of(
    variants: &HashMap<String, VariantRecord>,
    products: &HashMap<String, ProductRecord>,
) -> String {
    variants
        .values()
        .next()
        .and_then(|v| products.get(&v.product_id))
        .map_or_else(|| "USD".to_owned(), |p| p.currency.clone())
}

/// What the fraud check sees of a checkout: the payment method only as a fingerprint.
fn fraud_event(
    request: &CheckoutRequest,
    order_id: &str,
    shipping: &Address,
    total: Decimal,
    currency: &str,
) -> FraudEvent {
    let line = |a: &Address| FraudAddress {
        country: a.country_code.clone(),
        line: [
            Some(a.address1.as_str()),
            a.address2.as_deref(),
            Some(a.city.as_str()),
            a.zip.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
    };
    let mut event = FraudEvent::new(FraudEventKind::Checkout, &request.email);
    event.ip = request.ip.clone();
    event.signals = request.signals.clone();
    event.order_id = Some(order_id.to_owned());
    event.amount = Some(total);
    event.currency = Some(currency.to_owned());
    event.shipping = Some(line(shipping));
    event.billing = Some(line(&request.billing_address));
    event.card_fingerprint = Some(sha256_hex(request.payment_token.as_bytes())[..24].to_owned());
    event.customer_id = request.customer.clone();
    event.account_age_days = request
        .account_created_at
        .map(|at| (Utc::now() - at).num_days());
    event
}
