//! Orders, as stored: the lines bought at their prices, the totals, the addresses, the
//! payment, and a status machine with its history. An order is keyed by the digest of an
//! unguessable token (a guest's only key to it); a customer's orders are also listed under the
//! customer.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::codec::{from_item, to_item};
use crate::identity::{Address, Owner};
use crate::store::{Index, Item, Key, Query, StartKey, StoreError, Table, start_key_of};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed, stock reserved, the payment not yet settled.
    PendingPayment,
    /// Paid (captured).
    Paid,
    /// Held for a fraud review (the payment is authorized, not captured).
    OnHold,
    /// The OMS is picking and packing it.
    Fulfilling,
    /// On its way.
    Shipped,
    /// Delivered.
    Delivered,
    /// Cancelled: stock released, the payment voided or never taken.
    Cancelled,
    /// Paid back.
    Refunded,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::OnHold,
        OrderStatus::Fulfilling,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    /// Whether an order in this status is at `earlier` or past it (reachable from it): an
    /// update to `earlier` that arrives now is older than what is stored (a feed's redelivery
    /// or replay), not a conflict.
    pub fn has_passed(self, earlier: OrderStatus) -> bool {
        let mut reached = vec![earlier];
        let mut next = 0;
        while let Some(&at) = reached.get(next) {
            if at == self {
                return true;
            }
            for status in Self::ALL {
                if at.may_become(status) && !reached.contains(&status) {
                    reached.push(status);
                }
            }
            next += 1;
        }
        false
    }

    /// The status written `name` in messages and feeds.
    pub fn named(name: &str) -> Option<OrderStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether an order may go from this status to `next`.
    pub fn may_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (PendingPayment, Paid | OnHold | Cancelled)
                | (OnHold, Paid | Cancelled)
                | (Paid, Fulfilling | Cancelled | Refunded)
                | (Fulfilling, Shipped | Cancelled)
                | (Shipped, Delivered)
                | (Delivered, Refunded)
        )
    }

    /// The status as written in messages and feeds.
    pub fn as_str(self) -> &'static str {
        use OrderStatus::*;
        match self {
            PendingPayment => "PENDING_PAYMENT",
            Paid => "PAID",
            OnHold => "ON_HOLD",
            Fulfilling => "FULFILLING",
            Shipped => "SHIPPED",
            Delivered => "DELIVERED",
            Cancelled => "CANCELLED",
            Refunded => "REFUNDED",
        }
    }
}

/// One status an order had, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The status.
    pub status: OrderStatus,
    /// When it began.
    pub at: DateTime<Utc>,
    /// Why, when there is more to say.
    pub note: Option<String>,
}

/// A line of an order, with what it cost when bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineRecord {
    /// The variant.
    pub variant_id: String,
    /// Its product.
    pub product_id: String,
    /// Its SKU.
    pub sku: String,
    /// Product and variant title, as shown when bought.
    pub title: String,
    /// How many.
    pub quantity: u32,
    /// The unit price.
    pub unit_price: Decimal,
    /// What discounts took off the line.
    pub discount: Decimal,
    /// Subtotal less discount.
    pub total: Decimal,
}

/// The state of an order's payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentState {
    /// Not settled yet.
    Pending,
    /// Authorized, not captured.
    Authorized,
    /// Captured.
    Captured,
    /// Declined by the processor.
    Declined,
    /// The authorization was voided.
    Voided,
    /// Paid back.
    Refunded,
    /// The processor could not be reached and nothing was taken.
    Failed,
}

/// The payment of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// Which provider took it.
    pub provider: String,
    /// The provider's authorization id, once there is one.
    pub authorization_id: Option<String>,
    /// Where it stands.
    pub state: PaymentState,
    /// The processor's reason, for declines.
    pub message: Option<String>,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// Stable id (also the idempotency key towards the payment provider).
    pub id: String,
    /// Human-friendly number (`SG-7K2Q9D`).
    pub number: String,
    /// Who may read it.
    pub owner: Owner,
    /// The receipt's address.
    pub email: String,
    /// What was bought.
    pub lines: Vec<OrderLineRecord>,
    /// ISO 4217 currency.
    pub currency: String,
    /// Merchandise before discounts.
    pub subtotal: Decimal,
    /// Discounts.
    pub discount_total: Decimal,
    /// Tax (included in `total`).
    pub tax_total: Decimal,
    /// Shipping.
    pub shipping_total: Decimal,
    /// What the buyer pays.
    pub total: Decimal,
    /// Discount codes used.
    pub discount_codes: Vec<String>,
    /// Who uses the discount codes up (the customer, else the email), for per-buyer limits.
    pub buyer_key: String,
    /// Where it goes.
    pub shipping_address: Address,
    /// Where the bill goes.
    pub billing_address: Address,
    /// The shipping method's handle (`pickup` for a pickup order).
    pub shipping_method: String,
    /// The store it is collected from, for a pickup order (its stock was reserved there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup_location_id: Option<String>,
    /// Where it stands.
    pub status: OrderStatus,
    /// Every status it had.
    pub history: Vec<StatusChange>,
    /// The payment.
    pub payment: PaymentRecord,
    /// The fraud verdict at checkout.
    pub fraud: String,
    /// The digest of the checkout's idempotency key.
    pub idempotency: String,
    /// The digest of the cart it came from.
    pub cart: String,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// Bumped by every change.
    pub version: u64,
}

/// Item keys of the checkout domain.
pub mod keys {
    use crate::store::Key;

    /// An order, by the digest of its token.
    pub fn order(digest: &str) -> Key {
        Key::new(format!("ORDER#{digest}"), "ORDER")
    }

    /// The pointer from an order's number to its digest.
    pub fn number(number: &str) -> Key {
        Key::new(format!("ORDER_NUMBER#{number}"), "ORDER_NUMBER")
    }

    /// A customer's entry for one of their orders.
    pub fn customer_order(sub: &str, created: &str, digest: &str) -> Key {
        Key::new(
            format!("CUSTOMER#{sub}"),
            format!("ORDER#{created}#{digest}"),
        )
    }

    /// The partition of a customer's order entries, and their sort-key prefix.
    pub fn customer_orders(sub: &str) -> (String, &'static str) {
        (format!("CUSTOMER#{sub}"), "ORDER#")
    }

    /// A checkout's idempotency record.
    pub fn idempotency(digest: &str) -> Key {
        Key::new(format!("IDEMPOTENCY#{digest}"), "CHECKOUT")
    }

    /// GSI1 partition of orders whose payment is not settled (the sweeper's list).
    pub const PENDING: &str = "ORDERS_PENDING";
}

/// A checkout's idempotency record: which cart it was for, and the order it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The digest of the cart.
    pub cart: String,
    /// The digest of the order's token.
    pub order: String,
    /// The order's token, to answer a replay with the order's id.
    pub token: String,
}

/// A customer's entry for one of their orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerOrderEntry {
    /// The order's token (the customer's own: reading it still needs their sign-in).
    pub token: String,
    /// The digest of the token.
    pub digest: String,
}

/// Reads orders.
#[derive(Clone)]
pub struct OrderStore {
    table: Arc<dyn Table>,
}

impl OrderStore {
    /// Orders in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The order under `digest`.
    pub async fn get(&self, digest: &str) -> Result<Option<OrderRecord>, StoreError> {
        self.table
            .get(&keys::order(digest))
            .await?
            .map(|i| from_item(&i))
            .transpose()
    }

    /// The digest and the order with this number (its `SG-…` number, as on the receipt).
    pub async fn by_number(
        &self,
        number: &str,
    ) -> Result<Option<(String, OrderRecord)>, StoreError> {
        let Some(item) = self.table.get(&keys::number(number)).await? else {
            return Ok(None);
        };
        let pointer: super::status::OrderIdRecord = from_item(&item)?;
        Ok(self
            .get(&pointer.digest)
            .await?
            .map(|order| (pointer.digest, order)))
    }

    /// The orders under these digests (missing ones absent), in one batch read.
    pub async fn get_many(
        &self,
        digests: &[String],
    ) -> Result<std::collections::HashMap<String, OrderRecord>, StoreError> {
        let keys: Vec<Key> = digests.iter().map(|d| keys::order(d)).collect();
        let mut found = std::collections::HashMap::new();
        for item in self.table.batch_get(&keys).await? {
            let digest = item
                .get("pk")
                .and_then(serde_json::Value::as_str)
                .and_then(|pk| pk.strip_prefix("ORDER#"))
                .unwrap_or_default()
                .to_owned();
            found.insert(digest, from_item(&item)?);
        }
        Ok(found)
    }

    /// A customer's order entries, newest first: up to `limit` after the position `after`
    /// (each entry comes with its own position); and whether more follow.
    pub async fn of_customer(
        &self,
        sub: &str,
        limit: usize,
        after: Option<StartKey>,
    ) -> Result<(Vec<(StartKey, CustomerOrderEntry)>, bool), StoreError> {
        let (partition, prefix) = keys::customer_orders(sub);
        let mut query = Query::partition(Index::Primary, partition, limit).begins_with(prefix);
        query.forward = false;
        query.start = after;
        let page = self.table.query(&query).await?;
        let mut entries = Vec::new();
        for item in &page.items {
            entries.push((start_key_of(Index::Primary, item), from_item(item)?));
        }
        Ok((entries, page.next.is_some()))
    }

    /// The order item with its pending-list entry when its payment is not settled.
    pub fn item(digest: &str, order: &OrderRecord) -> Result<Item, StoreError> {
        let mut extra = vec![];
        if order.status == OrderStatus::PendingPayment {
            extra.push(("gsi1pk", serde_json::Value::from(keys::PENDING)));
            extra.push((
                "gsi1sk",
                serde_json::Value::from(format!("{}#{digest}", order.created_at.to_rfc3339())),
            ));
        }
        to_item(&keys::order(digest), order, &extra)
    }

    /// The customer's entry for an order.
    pub fn entry_item(
        sub: &str,
        order: &OrderRecord,
        token: &str,
        digest: &str,
    ) -> Result<Item, StoreError> {
        to_item(
            &keys::customer_order(sub, &order.created_at.to_rfc3339(), digest),
            &CustomerOrderEntry {
                token: token.to_owned(),
                digest: digest.to_owned(),
            },
            &[],
        )
    }

    /// Digests of orders whose payment has not been settled, oldest first.
    pub async fn pending(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let items = self
            .table
            .query(&Query::partition(Index::Gsi1, keys::PENDING, limit))
            .await?
            .items;
        Ok(items
            .iter()
            .filter_map(|i| Some(i.get("pk")?.as_str()?.strip_prefix("ORDER#")?.to_owned()))
            .collect())
    }

    /// The table.
    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    /// The key of the order under `digest`.
    pub fn key(digest: &str) -> Key {
        keys::order(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_machine_allows_only_forward_moves() {
        use OrderStatus::*;
        assert!(PendingPayment.may_become(Paid));
        assert!(Paid.may_become(Fulfilling));
        assert!(Fulfilling.may_become(Shipped));
        assert!(Shipped.may_become(Delivered));
        assert!(!Shipped.may_become(Cancelled));
        assert!(!Delivered.may_become(Paid));
        assert!(!Cancelled.may_become(Paid));
        assert!(OnHold.may_become(Paid));
    }

    #[test]
    fn a_status_already_reached_or_passed_is_told_from_a_conflict() {
        use OrderStatus::*;
        assert!(Delivered.has_passed(Shipped));
        assert!(Delivered.has_passed(Paid));
        assert!(Shipped.has_passed(Shipped));
        assert!(Refunded.has_passed(PendingPayment));
        assert!(!Shipped.has_passed(Delivered), "ahead, not past");
        assert!(
            !Shipped.has_passed(Cancelled),
            "a cancel after shipping is a conflict"
        );
        assert!(!Cancelled.has_passed(Shipped));
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::named(status.as_str()), Some(status));
        }
    }
}
