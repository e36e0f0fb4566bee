//! Abandoned carts: an open cart with lines is listed by when it last changed (spread over
//! sixteen index partitions), and a sweeper on any replica announces each cart left untouched
//! for the configured time with one `CartAbandoned` event. The announcement takes the cart
//! out of the list in the same transaction, conditional on the listing it read, so sweepers
//! racing on several replicas announce it once; a shopper who comes back lists it again.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::records::{CartRecord, keys};
use crate::codec::from_item;
use crate::events::{Event, Source, kinds};
use crate::identity::Owner;
use crate::store::{
    Condition, Index, Item, Query, StoreError, Table, Update, WriteOp, has_expired,
};

/// The index attribute names (GSI1) of the list.
const PARTITION: &str = "gsi1pk";
const SORT: &str = "gsi1sk";

/// The list's partition of a cart (by the first hex digit of its digest).
fn partition(digest: &str) -> String {
    format!("CARTIDLE#{}", digest.get(..1).unwrap_or("0"))
}

/// The index attributes that list `cart` (open, with lines) by when it changed; none for a
/// cart that is not to be watched.
pub fn listing(digest: &str, cart: &CartRecord) -> Vec<(&'static str, Value)> {
    if cart.order_id.is_some() || cart.lines.is_empty() {
        return Vec::new();
    }
    let millis = cart.updated_at.timestamp_millis().max(0);
    vec![
        (PARTITION, partition(digest).into()),
        (SORT, format!("{millis:013}#{digest}").into()),
    ]
}

/// The sweeper.
#[derive(Clone)]
pub struct AbandonedCarts {
    table: Arc<dyn Table>,
}

/// The most carts one sweep looks at in each partition.
const PER_PARTITION: usize = 500;

impl AbandonedCarts {
    /// The sweeper of the carts in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Announces every listed cart untouched for `idle` (up to 500 a partition a sweep);
    /// returns how many it announced.
    pub async fn sweep(&self, idle: Duration) -> Result<usize, StoreError> {
        let cutoff =
            Utc::now().timestamp_millis() - i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let mut announced = 0;
        for shard in "0123456789abcdef".chars() {
            let mut query = Query::partition(Index::Gsi1, format!("CARTIDLE#{shard}"), 100);
            let mut seen = 0;
            'pages: loop {
                let page = self.table.query(&query).await?;
                for item in &page.items {
                    let listed = item.get(SORT).and_then(Value::as_str).unwrap_or_default();
                    let changed = listed
                        .split('#')
                        .next()
                        .and_then(|m| m.parse::<i64>().ok())
                        .unwrap_or(i64::MAX);
                    if changed > cutoff {
                        break 'pages;
                    }
                    if self.announce(item, listed).await? {
                        announced += 1;
                    }
                    seen += 1;
                }
                match page.next {
                    Some(next) if seen < PER_PARTITION => query.start = Some(next),
                    _ => break,
                }
            }
        }
        Ok(announced)
    }

    /// Unlists the cart as it was read and, when it is still an open cart with lines,
    /// announces it; whether this sweep announced it.
    async fn announce(&self, item: &Item, listed: &str) -> Result<bool, StoreError> {
        let cart: CartRecord = from_item(item)?;
        let digest = item
            .get("pk")
            .and_then(Value::as_str)
            .and_then(|pk| pk.strip_prefix("CART#"))
            .unwrap_or_default()
            .to_owned();
        let unlist = WriteOp::Update {
            key: keys::cart(&digest),
            update: Update {
                remove: vec![PARTITION.into(), SORT.into()],
                ..Update::default()
            },
            // As read: a change since (or another sweeper) lists it anew, or unlisted it.
            condition: Some(Condition::equals(SORT, listed.to_owned())),
        };
        let abandoned = !has_expired(item) && cart.order_id.is_none() && !cart.lines.is_empty();
        let mut ops = vec![unlist];
        if abandoned {
            ops.push(abandoned_event(&digest, &cart).write()?);
        }
        match self.table.transact_write(ops).await {
            Ok(()) => Ok(abandoned),
            Err(StoreError::TransactionCanceled { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// `CartAbandoned`: a reference to the cart (its digest's start: never its id, which is the
/// key to it), who it belongs to, and what is in it.
fn abandoned_event(digest: &str, cart: &CartRecord) -> Event {
    let reference = digest.get(..20).unwrap_or(digest);
    let customer = match &cart.owner {
        Owner::Customer(sub) => Some(sub.clone()),
        Owner::Guest(_) => None,
    };
    Event::new(
        Source::Carts,
        kinds::CART_ABANDONED,
        reference,
        json!({
            "cartRef": reference,
            "customerId": customer,
            "email": cart.buyer.email,
            "countryCode": cart.buyer.country_code,
            "lines": cart.lines.iter().map(|l| json!({"variantId": l.variant_id, "quantity": l.quantity})).collect::<Vec<_>>(),
            "discountCodes": cart.discount_codes,
            "createdAt": cart.created_at.to_rfc3339(),
            "updatedAt": cart.updated_at.to_rfc3339(),
        }),
    )
}
