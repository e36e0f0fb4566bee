//! An order as the API shows it.

use async_graphql::{Enum, ID, Object, SimpleObject};
use storefront_loaders::checkout::{OrderRecord, OrderStatus as Status, PaymentState};

use crate::catalog::Money;
use crate::customer::MailingAddress;
use crate::ids;
use crate::scalars::DateTime;

/// Where an order is in its life.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Placed; the payment is not settled yet.
    PendingPayment,
    /// Paid.
    Paid,
    /// Held for a review; the payment is authorized, not taken.
    OnHold,
    /// Being picked and packed.
    Fulfilling,
    /// On its way.
    Shipped,
    /// Delivered.
    Delivered,
    /// Cancelled; nothing is charged.
    Cancelled,
    /// Paid back.
    Refunded,
}

impl From<Status> for OrderStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::PendingPayment => Self::PendingPayment,
            Status::Paid => Self::Paid,
            Status::OnHold => Self::OnHold,
            Status::Fulfilling => Self::Fulfilling,
            Status::Shipped => Self::Shipped,
            Status::Delivered => Self::Delivered,
            Status::Cancelled => Self::Cancelled,
            Status::Refunded => Self::Refunded,
        }
    }
}

impl From<OrderStatus> for Status {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::PendingPayment => Self::PendingPayment,
            OrderStatus::Paid => Self::Paid,
            OrderStatus::OnHold => Self::OnHold,
            OrderStatus::Fulfilling => Self::Fulfilling,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Delivered => Self::Delivered,
            OrderStatus::Cancelled => Self::Cancelled,
            OrderStatus::Refunded => Self::Refunded,
        }
    }
}

/// Where a payment stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderPaymentState {
    /// Not settled yet.
    Pending,
    /// Authorized, not captured.
    Authorized,
    /// Taken.
    Captured,
    /// Declined by the processor.
    Declined,
    /// The authorization was released.
    Voided,
    /// Paid back.
    Refunded,
    /// Could not be taken; nothing was charged.
    Failed,
}

impl From<PaymentState> for OrderPaymentState {
    fn from(state: PaymentState) -> Self {
        match state {
            PaymentState::Pending => Self::Pending,
            PaymentState::Authorized => Self::Authorized,
            PaymentState::Captured => Self::Captured,
            PaymentState::Declined => Self::Declined,
            PaymentState::Voided => Self::Voided,
            PaymentState::Refunded => Self::Refunded,
            PaymentState::Failed => Self::Failed,
        }
    }
}

/// A status an order had.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct OrderStatusChange {
    /// The status.
    pub status: OrderStatus,
    /// When it began.
    pub at: DateTime,
    /// Why, when there is more to say.
    pub note: Option<String>,
}

/// A line of an order, at the price it was bought for.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct OrderLineItem {
    /// Product and variant title when bought.
    pub title: String,
    /// The SKU.
    pub sku: String,
    /// The variant bought.
    pub variant_id: ID,
    /// How many.
    pub quantity: u32,
    /// The unit price.
    pub unit_price: Money,
    /// What discounts took off.
    pub discount: Money,
    /// After discounts.
    pub total: Money,
}

/// The payment of an order.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct OrderPayment {
    /// Where it stands.
    pub state: OrderPaymentState,
    /// Which provider took it.
    pub provider: String,
}

/// An order.
#[derive(Clone)]
pub struct Order {
    /// The token that reaches it.
    pub token: String,
    /// The order.
    pub record: OrderRecord,
}

/// An order.
#[Object]
impl Order {
    /// Globally unique; for a guest's order, the only key to it (keep it private).
    async fn id(&self) -> ID {
        ids::encode("Order", &self.token)
    }

    /// The number to quote to customer service.
    async fn number(&self) -> &str {
        &self.record.number
    }

    /// The receipt's address.
    async fn email(&self) -> &str {
        &self.record.email
    }

    /// Where it stands.
    async fn status(&self) -> OrderStatus {
        self.record.status.into()
    }

    /// Where its delivery is: packed at the store nearest the address, on its way, or
    /// delivered; null before it is paid, once it is cancelled or refunded, and for an order
    /// collected in a store.
    async fn delivery(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> crate::error::ApiResult<Option<crate::location::OrderDelivery>> {
        if self.record.pickup_location_id.is_some() {
            return Ok(None);
        }
        crate::location::delivery_of(ctx, &self.record).await
    }

    /// The store the order is collected from (its stock is held there); null for an order
    /// that is shipped. `SHIPPED` means ready to collect, `DELIVERED` collected.
    async fn pickup_location(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> crate::error::ApiResult<Option<crate::location::Location>> {
        match &self.record.pickup_location_id {
            None => Ok(None),
            Some(id) => crate::location::location_by_id(ctx, id),
        }
    }

    /// Every status it had, oldest first.
    async fn status_history(&self) -> Vec<OrderStatusChange> {
        self.record
            .history
            .iter()
            .map(|c| OrderStatusChange {
                status: c.status.into(),
                at: DateTime(c.at),
                note: c.note.clone(),
            })
            .collect()
    }

    /// What was bought.
    #[graphql(complexity = "crate::connection::list_complexity(80, child_complexity)")]
    async fn line_items(&self) -> Vec<OrderLineItem> {
        let money = |amount| Money::new(amount, &self.record.currency);
        self.record
            .lines
            .iter()
            .map(|l| OrderLineItem {
                title: l.title.clone(),
                sku: l.sku.clone(),
                variant_id: ids::encode("ProductVariant", &l.variant_id),
                quantity: l.quantity,
                unit_price: money(l.unit_price),
                discount: money(l.discount),
                total: money(l.total),
            })
            .collect()
    }

    /// Merchandise before discounts.
    async fn subtotal(&self) -> Money {
        Money::new(self.record.subtotal, &self.record.currency)
    }

    /// What discounts took off.
    async fn total_discount(&self) -> Money {
        Money::new(self.record.discount_total, &self.record.currency)
    }

    /// Tax (part of the total).
    async fn total_tax(&self) -> Money {
        Money::new(self.record.tax_total, &self.record.currency)
    }

    /// Shipping.
    async fn total_shipping(&self) -> Money {
        Money::new(self.record.shipping_total, &self.record.currency)
    }

    /// What the buyer pays.
    async fn total(&self) -> Money {
        Money::new(self.record.total, &self.record.currency)
    }

    /// The discount codes used.
    async fn discount_codes(&self) -> &[String] {
        &self.record.discount_codes
    }

    /// Where it goes.
    async fn shipping_address(&self) -> MailingAddress {
        MailingAddress(self.record.shipping_address.clone())
    }

    /// Where the bill goes.
    async fn billing_address(&self) -> MailingAddress {
        MailingAddress(self.record.billing_address.clone())
    }

    /// The shipping method's handle.
    async fn shipping_method(&self) -> &str {
        &self.record.shipping_method
    }

    /// The payment.
    async fn payment(&self) -> OrderPayment {
        OrderPayment {
            state: self.record.payment.state.into(),
            provider: self.record.payment.provider.clone(),
        }
    }

    /// When it was placed.
    async fn created_at(&self) -> DateTime {
        DateTime(self.record.created_at)
    }
}

/// A page of a customer's orders, in Relay connection form.
#[derive(SimpleObject)]
pub struct OrderConnection {
    /// The orders of the page, each with its cursor.
    pub edges: Vec<OrderEdge>,
    /// The orders of the page.
    pub nodes: Vec<Order>,
    /// Where the page sits in the whole list.
    pub page_info: crate::connection::PageInfo,
}

/// One of a page of orders and the cursor that points at it.
#[derive(SimpleObject)]
pub struct OrderEdge {
    /// Opaque position of this order: pass it as `after`.
    pub cursor: String,
    /// The order.
    pub node: Order,
}
