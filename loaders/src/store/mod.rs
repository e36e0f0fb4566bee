//! The `Table` interface: the part of DynamoDB's single-table API the domain needs, and its engines.

mod breaker;
mod changes;
pub mod conformance;
mod dynamo;
mod expiry;
mod expression;
mod instrumented;
mod redb_engine;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::stored::{SharedItem, StoredItem};

use async_trait::async_trait;
use serde_json::Value;

pub use breaker::{BreakerSettings, BreakerTable};
pub use changes::{Change, Changes, ObservedTable};
pub use dynamo::{DynamoSettings, DynamoTable, TTL_ATTRIBUTE};
pub use expiry::{expiry_after, has_expired};
pub use expression::{Condition, Update};
pub use instrumented::InstrumentedTable;
pub use redb_engine::RedbTable;

/// Where the store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// The embedded redb engine, in a file under the data dir.
    #[default]
    Embedded,
    /// The embedded engine in memory: nothing survives a restart.
    Memory,
    /// DynamoDB (settings under `[aws]`).
    Aws,
}

impl std::str::FromStr for StoreEngine {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "embedded" => Ok(Self::Embedded),
            "memory" => Ok(Self::Memory),
            "aws" => Ok(Self::Aws),
            other => Err(format!(
                "`{other}` is not a store engine (embedded, memory or aws)"
            )),
        }
    }
}

/// Full-jitter exponential backoff before retry `attempt` (1-based): for throttled batches
/// and for optimistic writes that lost a race.
pub async fn backoff(attempt: u32) {
    use rand::Rng as _;
    let cap = std::time::Duration::from_millis(25 * 2u64.pow(attempt.min(6)));
    let wait = rand::rng().random_range(std::time::Duration::ZERO..=cap);
    tokio::time::sleep(wait).await;
}

/// One stored item: top-level attributes by name. `pk` and `sk` are always present and strings.
pub type Item = serde_json::Map<String, Value>;

/// The most keys one batch get may ask the engine for in one backend call (DynamoDB's limit).
pub const BATCH_GET_MAX: usize = 100;
/// The most operations one transaction may hold (DynamoDB's limit).
pub const TRANSACTION_MAX: usize = 100;

/// Attribute name of the partition key.
pub const PK: &str = "pk";
/// Attribute name of the sort key.
pub const SK: &str = "sk";

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
}

impl Key {
    /// A key from its two parts.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of a stored item, or `None` when the item lacks string `pk`/`sk` attributes.
    pub fn of(item: &Item) -> Option<Self> {
        Some(Self::new(item.get(PK)?.as_str()?, item.get(SK)?.as_str()?))
    }

    /// An item holding only this key, to be filled with attributes.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Value::String(self.pk.clone()));
        item.insert(SK.into(), Value::String(self.sk.clone()));
        item
    }
}

/// The indexes of the table: the primary key and the global secondary indexes.
///
/// An index is sparse, as in DynamoDB: an item appears in a GSI only when it has both of the
/// index's key attributes, as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    /// The table itself (`pk`, `sk`).
    Primary,
    /// A general-purpose secondary access path (`gsi1pk`, `gsi1sk`).
    Gsi1,
    /// Product listings ordered by title (`lpk`, `ls_title`).
    ListByTitle,
    /// Product listings ordered by price (`lpk`, `ls_price`).
    ListByPrice,
    /// Product listings ordered by creation time (`lpk`, `ls_created`).
    ListByCreated,
    /// Product listings ordered by sales, best first (`lpk`, `ls_sales`).
    ListBySales,
}

impl Index {
    /// Every secondary index, in a fixed order.
    pub const SECONDARY: [Index; 5] = [
        Index::Gsi1,
        Index::ListByTitle,
        Index::ListByPrice,
        Index::ListByCreated,
        Index::ListBySales,
    ];

    /// The index's name, as in DynamoDB's `IndexName`.
    pub fn name(self) -> &'static str {
        match self {
            Index::Primary => "primary",
            Index::Gsi1 => "gsi1",
            Index::ListByTitle => "list_by_title",
            Index::ListByPrice => "list_by_price",
            Index::ListByCreated => "list_by_created",
            Index::ListBySales => "list_by_sales",
        }
    }

    /// The partition and sort key attribute names of the index.
    pub fn key_attributes(self) -> (&'static str, &'static str) {
        match self {
            Index::Primary => (PK, SK),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::ListByTitle => ("lpk", "ls_title"),
            Index::ListByPrice => ("lpk", "ls_price"),
            Index::ListByCreated => ("lpk", "ls_created"),
            Index::ListBySales => ("lpk", "ls_sales"),
        }
    }

    /// The index's (partition, sort) key of an item, when the item is in the index.
    pub fn key_of(self, item: &Item) -> Option<(String, String)> {
        let (p, s) = self.key_attributes();
        Some((
            item.get(p)?.as_str()?.to_owned(),
            item.get(s)?.as_str()?.to_owned(),
        ))
    }
}

/// Which sort keys a query reads within its partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SortKeyCondition {
    /// Every item of the partition.
    #[default]
    All,
    /// Items whose sort key begins with this prefix.
    BeginsWith(String),
}

/// A query: one partition of one index, in sort-key order.
#[derive(Debug, Clone)]
pub struct Query {
    /// The index to read.
    pub index: Index,
    /// The partition key value.
    pub partition: String,
    /// The sort keys to read.
    pub sort: SortKeyCondition,
    /// Ascending sort-key order when true.
    pub forward: bool,
    /// The most items to return.
    pub limit: usize,
    /// Continue after this key (a `Page::next` of an earlier page).
    pub start: Option<StartKey>,
    /// Only items matching this condition are returned (DynamoDB's `FilterExpression`).
    pub filter: Option<Condition>,
}

impl Query {
    /// A forward query of a whole partition, returning at most `limit` items.
    pub fn partition(index: Index, partition: impl Into<String>, limit: usize) -> Self {
        Self {
            index,
            partition: partition.into(),
            sort: SortKeyCondition::All,
            forward: true,
            limit,
            start: None,
            filter: None,
        }
    }

    /// Restricts the query to sort keys beginning with `prefix`.
    pub fn begins_with(mut self, prefix: impl Into<String>) -> Self {
        self.sort = SortKeyCondition::BeginsWith(prefix.into());
        self
    }
}

/// Where a query stopped: the key attributes (table and index) of the last item it evaluated.
pub type StartKey = BTreeMap<String, String>;

/// One page of a query.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Matching items, in query order.
    pub items: Vec<Item>,
    /// Set when the limit was reached: pass it as `Query::start` to read on. A following page
    /// may be empty.
    pub next: Option<StartKey>,
}

/// The exclusive start key of a query continuing after `item` on `index`.
pub fn start_key_of(index: Index, item: &Item) -> StartKey {
    let mut key = StartKey::new();
    let (ip, is) = index.key_attributes();
    for name in [PK, SK, ip, is] {
        if let Some(v) = item.get(name).and_then(Value::as_str) {
            key.insert(name.to_owned(), v.to_owned());
        }
    }
    key
}

/// One write of a transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Replace (or create) a whole item.
    Put {
        /// The item, with its key.
        item: Item,
        /// Applied to the item as it is before the write.
        condition: Option<Condition>,
    },
    /// Change some attributes of an item (creating it when missing).
    Update {
        /// The item's key.
        key: Key,
        /// The change.
        update: Update,
        /// Applied to the item as it is before the write.
        condition: Option<Condition>,
    },
    /// Remove an item.
    Delete {
        /// The item's key.
        key: Key,
        /// Applied to the item as it is before the write.
        condition: Option<Condition>,
    },
    /// Write nothing, but require a condition of an item.
    ConditionCheck {
        /// The item's key.
        key: Key,
        /// The requirement.
        condition: Condition,
    },
}

impl WriteOp {
    /// The key the operation writes or checks.
    pub fn key(&self) -> Option<Key> {
        match self {
            WriteOp::Put { item, .. } => Key::of(item),
            WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. }
            | WriteOp::ConditionCheck { key, .. } => Some(key.clone()),
        }
    }
}

/// Why one operation of a cancelled transaction failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancellationReason {
    /// The operation was fine; another one cancelled the transaction.
    None,
    /// The operation's condition did not hold.
    ConditionalCheckFailed,
    /// Another transaction was writing the same item at the same time.
    TransactionConflict,
    /// Any other reason, with the backend's code.
    Other(String),
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write's condition did not hold; nothing was written.
    #[error("the condition of the write did not hold")]
    ConditionFailed,
    /// A transaction was cancelled; nothing was written. One reason per operation, in order.
    #[error("the transaction was cancelled: {reasons:?}")]
    TransactionCanceled {
        /// One reason per operation of the transaction, in order.
        reasons: Vec<CancellationReason>,
    },
    /// The request itself is invalid (too many keys, a key attribute of the wrong type, …).
    #[error("invalid store request: {0}")]
    Validation(String),
    /// The backend kept throttling the request after retries.
    #[error("the store is throttling requests: {0}")]
    Throttled(String),
    /// The backend cannot be reached (down, not answering in time, or its circuit is open);
    /// retrying after a while may work.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The backend failed.
    #[error("store backend error: {0}")]
    Backend(String),
    /// A stored item could not be decoded.
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

/// The store: a DynamoDB-shaped single table.
///
/// Two engines implement it (`RedbTable`, and DynamoDB), and the conformance suite in
/// [`conformance`] checks that they behave alike.
#[async_trait]
pub trait Table: Send + Sync + 'static {
    /// Reads many items by key, in any order; missing items are simply absent. Any number of
    /// keys: the engine splits them into backend calls of at most [`BATCH_GET_MAX`] and retries
    /// keys the backend left unprocessed. Duplicate keys are read once.
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError>;

    /// Reads one partition of an index in sort-key order: up to `limit` items matching the filter.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Writes a whole item if the condition holds for the item as it was.
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError>;

    /// Changes attributes of an item (creating it when missing) if the condition holds, and
    /// returns the item as it is after the change.
    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError>;

    /// Removes an item if the condition holds; removing a missing item is not an error.
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError>;

    /// Applies all of `ops` or none of them. At most [`TRANSACTION_MAX`] operations, each on a
    /// different item. When a condition fails: [`StoreError::TransactionCanceled`] with a reason
    /// per operation.
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    /// Writes many whole items, unconditionally, for bulk loads (seed, import). Not atomic as a
    /// whole: the engine may split it into several backend calls.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError>;

    /// Deletes items whose [`TTL_ATTRIBUTE`] (epoch seconds) has passed; returns how many.
    /// Engines whose backend expires items itself (DynamoDB's TTL) have nothing to do.
    async fn sweep_expired(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Reads many items like `batch_get`, shared rather than copied (a caching engine hands
    /// out the items it keeps).
    async fn batch_get_shared(&self, keys: &[Key]) -> Result<Vec<SharedItem>, StoreError> {
        Ok(self
            .batch_get(keys)
            .await?
            .into_iter()
            .map(|item| Arc::new(StoredItem::new(item)))
            .collect())
    }

    /// Reads one item by key.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        Ok(self.batch_get(std::slice::from_ref(key)).await?.pop())
    }
}

/// Checks that an item has string `pk` and `sk` attributes, and that every index key attribute
/// it carries is a string.
pub fn validate_item(item: &Item) -> Result<Key, StoreError> {
    let key = Key::of(item).ok_or_else(|| {
        StoreError::Validation("an item needs string attributes `pk` and `sk`".into())
    })?;
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Validation(
            "key attributes must not be empty strings".into(),
        ));
    }
    for index in Index::SECONDARY {
        let (p, s) = index.key_attributes();
        for name in [p, s] {
            match item.get(name) {
                None | Some(Value::String(_)) => {}
                Some(_) => {
                    return Err(StoreError::Validation(format!(
                        "index key attribute `{name}` must be a string"
                    )));
                }
            }
        }
    }
    Ok(key)
}

/// Checks the shape of a transaction: size, and one operation per item.
pub fn validate_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.is_empty() || ops.len() > TRANSACTION_MAX {
        return Err(StoreError::Validation(format!(
            "a transaction holds 1 to {TRANSACTION_MAX} operations, not {}",
            ops.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        let key = match op {
            WriteOp::Put { item, .. } => validate_item(item)?,
            other => other
                .key()
                .ok_or_else(|| StoreError::Validation("operation without a key".into()))?,
        };
        if !seen.insert(key.clone()) {
            return Err(StoreError::Validation(format!(
                "a transaction may touch an item once; {}/{} appears twice",
                key.pk, key.sk
            )));
        }
    }
    Ok(())
}
