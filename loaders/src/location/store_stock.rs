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
    /// The store system's version of the level when the feed gave one: an older level never
    /// overwrites it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_version: Option<i64>,
}

/// What a level from the feed did to the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelOutcome {
    /// It is stored now.
    Written,
    /// The stored level has this very version (a replay): nothing changed.
    Unchanged,
    /// The stored level has a newer version: nothing changed.
    Stale,
}

/// How often the feed retries a line whose reservations or version changed while it wrote
/// (with jittered backoff between attempts, so that concurrent writers spread out).
const FEED_ATTEMPTS: u32 = 20;

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
    /// The store system's version of this level (grows with each change of it).
    version: Option<i64>,
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
    /// reservations read, so that a checkout reserving meanwhile is never overwritten, and on
    /// the version read, so that a level older than the stored one never overwrites it (the
    /// check is in the write, not only before it: two replicas may apply two versions at once).
    async fn set_on_hand(
        &self,
        variant_id: &str,
        location_id: &str,
        quantity: i64,
        version: Option<i64>,
    ) -> Result<LevelOutcome, StoreError> {
        for attempt in 0..FEED_ATTEMPTS {
            if attempt > 0 {
                crate::store::backoff(attempt).await;
            }
            let current = self.in_store(variant_id, location_id).await?;
            let stored_version = current.as_ref().and_then(|c| c.feed_version);
            if let (Some(new), Some(stored)) = (version, stored_version)
                && stored >= new
            {
                return Ok(if stored == new {
                    LevelOutcome::Unchanged
                } else {
                    LevelOutcome::Stale
                });
            }
            let reserved = current.as_ref().map_or(0, |c| c.reserved);
            let record = StoreStockRecord {
                variant_id: variant_id.to_owned(),
                location_id: location_id.to_owned(),
                quantity,
                reserved,
                available: quantity - reserved,
                feed_version: version.or(stored_version),
            };
            let condition = match current {
                Some(_) => Condition::And(vec![
                    Condition::equals("reserved", reserved),
                    Condition::as_read("feed_version", stored_version),
                ]),
                None => Condition::ItemNotExists,
            };
            let item = to_item(&key(variant_id, location_id), &record, &[])?;
            match self.table.put(item, Some(condition)).await {
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(LevelOutcome::Written),
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
    /// "quantity", "version"?}` a line, the absolute units on hand (reservations not yet
    /// collected are counted among them). A versioned level older than the stored one is
    /// skipped, and counted.
    pub async fn import(&self, lines: impl BufRead) -> FeedReport {
        let (mut written, mut unchanged, mut older) = (0, 0, 0);
        let mut failures = Vec::new();
        let mut retry = Vec::new();
        let mut stores: HashMap<String, Option<String>> = HashMap::new();
        for (number, line) in numbered_lines(lines) {
            // `(reason, whether the store failed)`: a store failure may pass on a retry.
            let result: Result<LevelOutcome, (String, bool)> = async {
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
                self.set_on_hand(&variant, &location, parsed.quantity, parsed.version)
                    .await
                    .map_err(failed)
            }
            .await;
            match result {
                Ok(LevelOutcome::Written) => written += 1,
                Ok(LevelOutcome::Unchanged) => unchanged += 1,
                Ok(LevelOutcome::Stale) => older += 1,
                Err((reason, retryable)) => {
                    if retryable {
                        retry.push(number);
                    }
                    failures.push((number, reason));
                }
            }
        }
        FeedReport {
            summary: {
                let mut summary = format!("{written} written");
                if unchanged > 0 {
                    summary.push_str(&format!(", {unchanged} unchanged"));
                }
                if older > 0 {
                    summary.push_str(&format!(", {older} older than stored"));
                }
                format!("{summary}, {} failed", failures.len())
            },
            failures,
            retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbTable;

    fn stock() -> StoreStock {
        StoreStock::new(Arc::new(RedbTable::in_memory().expect("memory")))
    }

    async fn on_hand(stock: &StoreStock) -> StoreStockRecord {
        stock
            .in_store("v1", "boston")
            .await
            .expect("read")
            .expect("stored")
    }

    #[tokio::test]
    async fn a_store_level_older_than_the_stored_one_never_overwrites_it() {
        let stock = stock();
        let set = |quantity, version| {
            let stock = stock.clone();
            async move {
                stock
                    .set_on_hand("v1", "boston", quantity, version)
                    .await
                    .expect("write")
            }
        };
        assert_eq!(set(7, Some(5)).await, LevelOutcome::Written);
        assert_eq!(set(1, Some(4)).await, LevelOutcome::Stale);
        assert_eq!(set(7, Some(5)).await, LevelOutcome::Unchanged);
        assert_eq!(on_hand(&stock).await.quantity, 7);
        assert_eq!(set(2, Some(6)).await, LevelOutcome::Written);
        // An unversioned level (a CLI import) applies and keeps the version known.
        assert_eq!(set(3, None).await, LevelOutcome::Written);
        assert_eq!(set(9, Some(6)).await, LevelOutcome::Unchanged);
        let stored = on_hand(&stock).await;
        assert_eq!((stored.quantity, stored.feed_version), (3, Some(6)));
    }

    #[tokio::test]
    async fn a_newer_store_level_keeps_the_reservations_taken_meanwhile() {
        let stock = stock();
        stock
            .set_on_hand("v1", "boston", 5, Some(1))
            .await
            .expect("write");
        stock
            .table
            .transact_write(vec![reserve("v1", "boston", 2)])
            .await
            .expect("reserved");
        stock
            .set_on_hand("v1", "boston", 8, Some(2))
            .await
            .expect("write");
        let stored = on_hand(&stock).await;
        assert_eq!(
            (stored.quantity, stored.reserved, stored.available),
            (8, 2, 6)
        );
    }

    #[tokio::test]
    async fn concurrent_versions_of_one_store_level_leave_the_newest() {
        let stock = stock();
        let tasks: Vec<_> = (1..=40i64)
            .map(|version| {
                let stock = stock.clone();
                tokio::spawn(async move {
                    stock
                        .set_on_hand("v1", "boston", version, Some(version))
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("no store error");
        }
        let stored = on_hand(&stock).await;
        assert_eq!((stored.quantity, stored.feed_version), (40, Some(40)));
    }
}
