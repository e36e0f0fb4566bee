//! Stock held in each store, for pickup: one item per variant and store in the variant's
//! partition. The `store-inventory` feed writes what is on hand; a pickup checkout reserves
//! units in its own transaction. `available` (on hand less reserved) is kept as an attribute
//! of its own, so that a reservation is one conditional update (`available >= n`) and never a
//! read followed by a write.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{LocationRecord, keys};
use crate::catalog::import::numbered_lines;
use crate::catalog::keys as catalog_keys;
use crate::codec::{from_item, to_item};
use crate::domain::FeedReport;
use crate::store::{Condition, Index, Key, Query, StoreError, Table, Update, WriteOp};

/// The most units one store may report of a variant.
pub const MAX_STORE_QUANTITY: i64 = 1_000_000_000;

/// Sort-key prefix of a variant's store stock items.
const PREFIX: &str = "STORE_STOCK#";

/// Units of one variant in one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStockRecord {
    /// The variant.
    pub variant_id: String,
    /// The store.
    pub location_id: String,
    /// Units on hand, as the store last reported.
    pub quantity: i64,
    /// Units that pickup orders reserved and nobody collected yet.
    #[serde(default)]
    pub reserved: i64,
    /// Units a shopper may still reserve: on hand less reserved.
    #[serde(default)]
    pub available: i64,
}

/// How often the feed retries a line whose reservations changed while it wrote.
const FEED_ATTEMPTS: usize = 8;

/// The item of a variant's stock in a store.
pub fn key(variant_id: &str, location_id: &str) -> Key {
    Key::new(
        catalog_keys::variant(variant_id).pk,
        format!("{PREFIX}{location_id}"),
    )
}

/// One line of the `store-inventory` feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreStockLine {
    sku: String,
    location: String,
    quantity: i64,
}

/// The write that reserves `quantity` units of a variant in a store for a pickup order; it
/// fails its condition when fewer are available.
pub fn reserve(variant_id: &str, location_id: &str, quantity: i64) -> WriteOp {
    WriteOp::Update {
        key: key(variant_id, location_id),
        update: Update {
            add: vec![
                ("available".into(), -quantity),
                ("reserved".into(), quantity),
            ],
            ..Update::default()
        },
        condition: Some(Condition::AtLeast("available".into(), quantity)),
    }
}

/// The write that gives a reservation back (the order was cancelled or its payment failed).
pub fn release(variant_id: &str, location_id: &str, quantity: i64) -> WriteOp {
    WriteOp::Update {
        key: key(variant_id, location_id),
        update: Update {
            add: vec![
                ("available".into(), quantity),
                ("reserved".into(), -quantity),
            ],
            ..Update::default()
        },
        condition: Some(Condition::ItemExists),
    }
}

/// The write that records a reservation collected: the units left the store.
pub fn collect(variant_id: &str, location_id: &str, quantity: i64) -> WriteOp {
    WriteOp::Update {
        key: key(variant_id, location_id),
        update: Update {
            add: vec![
                ("quantity".into(), -quantity),
                ("reserved".into(), -quantity),
            ],
            ..Update::default()
        },
        condition: Some(Condition::ItemExists),
    }
}

/// Store stock in the table.
#[derive(Clone)]
pub struct StoreStock {
    table: Arc<dyn Table>,
}

impl StoreStock {
    /// Store stock kept in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// A variant's stock in one store, when the store reported any.
    pub async fn in_store(
        &self,
        variant_id: &str,
        location_id: &str,
    ) -> Result<Option<StoreStockRecord>, StoreError> {
        self.table
            .get(&key(variant_id, location_id))
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    /// Sets what a store has on hand, keeping its reservations: conditional on the
    /// reservations read, so that a checkout reserving meanwhile is never overwritten.
    async fn set_on_hand(
        &self,
        variant_id: &str,
        location_id: &str,
        quantity: i64,
    ) -> Result<(), StoreError> {
        for _ in 0..FEED_ATTEMPTS {
            let current = self.in_store(variant_id, location_id).await?;
            let reserved = current.as_ref().map_or(0, |c| c.reserved);
            let record = StoreStockRecord {
                variant_id: variant_id.to_owned(),
                location_id: location_id.to_owned(),
                quantity,
                reserved,
                available: quantity - reserved,
            };
            let condition = match current {
                Some(_) => Condition::equals("reserved", reserved),
                None => Condition::ItemNotExists,
            };
            let item = to_item(&key(variant_id, location_id), &record, &[])?;
            match self.table.put(item, Some(condition)).await {
                Err(StoreError::ConditionFailed) => continue,
                other => return other,
            }
        }
        Err(StoreError::Backend(
            "the store's reservations kept changing; try the line again".into(),
        ))
    }

    /// Every store's stock of a variant (stores that reported none are absent).
    pub async fn of_variant(&self, variant_id: &str) -> Result<Vec<StoreStockRecord>, StoreError> {
        let query = Query::partition(Index::Primary, catalog_keys::variant(variant_id).pk, 1_000)
            .begins_with(PREFIX);
        let mut all = Vec::new();
        let mut query = query;
        loop {
            let page = self.table.query(&query).await?;
            for item in &page.items {
                all.push(from_item(item)?);
            }
            match page.next {
                Some(next) => query.start = Some(next),
                None => return Ok(all),
            }
        }
    }

    async fn location_id(&self, handle: &str) -> Result<Option<String>, StoreError> {
        let query = Query::partition(Index::Gsi1, keys::LOCATIONS, 10).begins_with(handle);
        Ok(self
            .table
            .query(&query)
            .await?
            .items
            .iter()
            .filter_map(|item| from_item::<LocationRecord>(item).ok())
            .find(|l| l.handle == handle)
            .map(|l| l.id))
    }

    async fn variant_id(&self, sku: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .table
            .get(&catalog_keys::sku(sku))
            .await?
            .and_then(|item| {
                item.get("variant_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }))
    }

    /// Applies the `store-inventory` feed: `{"sku", "location" (the store's handle),
    /// "quantity"}` a line, the absolute units on hand (reservations not yet collected are
    /// counted among them).
    pub async fn import(&self, lines: impl BufRead) -> FeedReport {
        let mut written = 0;
        let mut failures = Vec::new();
        let mut retry = Vec::new();
        let mut stores: HashMap<String, Option<String>> = HashMap::new();
        for (number, line) in numbered_lines(lines) {
            // `(reason, whether the store failed)`: a store failure may pass on a retry.
            let result: Result<(), (String, bool)> = async {
                let refused = |reason: String| (reason, false);
                let failed = |e: StoreError| (e.to_string(), true);
                let line = line.map_err(refused)?;
                let parsed: StoreStockLine = serde_json::from_str(&line)
                    .map_err(|e| refused(format!("invalid store inventory line: {e}")))?;
                if !(0..=MAX_STORE_QUANTITY).contains(&parsed.quantity) {
                    return Err(refused(format!(
                        "quantity must be 0 to {MAX_STORE_QUANTITY}"
                    )));
                }
                let location = match stores.get(&parsed.location) {
                    Some(known) => known.clone(),
                    None => {
                        let found = self.location_id(&parsed.location).await.map_err(failed)?;
                        stores.insert(parsed.location.clone(), found.clone());
                        found
                    }
                }
                .ok_or_else(|| refused(format!("unknown store `{}`", parsed.location)))?;
                let variant = self
                    .variant_id(&parsed.sku)
                    .await
                    .map_err(failed)?
                    .ok_or_else(|| refused(format!("unknown SKU `{}`", parsed.sku)))?;
                self.set_on_hand(&variant, &location, parsed.quantity)
                    .await
                    .map_err(failed)
            }
            .await;
            match result {
                Ok(()) => written += 1,
                Err((reason, retryable)) => {
                    if retryable {
                        retry.push(number);
                    }
                    failures.push((number, reason));
                }
            }
        }
        FeedReport {
            summary: format!("{written} written, {} failed", failures.len()),
            failures,
            retry,
        }
    }
}
