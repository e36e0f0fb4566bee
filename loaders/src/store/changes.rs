//! What the store wrote, as it happens: the keys of every write of this process and, with
//! Redis, of the catalog writes of every replica (carried by the cache's invalidation
//! channel), for the parts that keep a copy of the data in another shape (the search index,
//! the recommender).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Condition, Item, Key, Page, Query, StoreError, Table, Update, WriteOp};

/// How many changes a slow follower may fall behind before it is told it lost some.
const BACKLOG: usize = 8192;

/// One change seen on the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// These items were written (or may have been: a write that failed mid-way counts).
    Keys(Arc<[Key]>),
    /// Changes may have been missed (the feed from other replicas was cut): a follower that
    /// must not miss one reconciles with the store.
    Unknown,
}

/// The feed of changed keys.
#[derive(Clone)]
pub struct Changes {
    tx: broadcast::Sender<Change>,
}

impl Default for Changes {
    fn default() -> Self {
        Self::new()
    }
}

impl Changes {
    /// A feed nobody follows yet.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
        }
    }

    /// Follows the feed from now on. A receiver that lags gets `RecvError::Lagged`, which
    /// means the same as [`Change::Unknown`].
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// Tells followers that `keys` changed.
    pub fn publish(&self, keys: Vec<Key>) {
        if !keys.is_empty() {
            // No follower is not an error.
            let _ = self.tx.send(Change::Keys(keys.into()));
        }
    }

    /// Tells followers that changes may have been missed.
    pub fn unknown(&self) {
        let _ = self.tx.send(Change::Unknown);
    }
}

/// A `Table` that puts the keys of its writes on a [`Changes`] feed once they are done.
pub struct ObservedTable {
    inner: Arc<dyn Table>,
    changes: Changes,
}

impl ObservedTable {
    /// Wraps `inner`, publishing to `changes`.
    pub fn new(inner: Arc<dyn Table>, changes: Changes) -> Self {
        Self { inner, changes }
    }

    /// Publishes `keys` unless the write certainly wrote nothing.
    fn after<T>(&self, result: &Result<T, StoreError>, keys: impl FnOnce() -> Vec<Key>) {
        let wrote_nothing = matches!(
            result,
            Err(StoreError::ConditionFailed
                | StoreError::TransactionCanceled { .. }
                | StoreError::Validation(_))
        );
        if !wrote_nothing {
            self.changes.publish(keys());
        }
    }
}

#[async_trait]
impl Table for ObservedTable {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.inner.batch_get(keys).await
    }

    async fn batch_get_shared(
        &self,
        keys: &[Key],
    ) -> Result<Vec<crate::stored::SharedItem>, StoreError> {
        self.inner.batch_get_shared(keys).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = Key::of(&item);
        let result = self.inner.put(item, condition).await;
        self.after(&result, || key.into_iter().collect());
        result
    }

    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        let result = self.inner.update(key, update, condition).await;
        self.after(&result, || vec![key.clone()]);
        result
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let result = self.inner.delete(key, condition).await;
        self.after(&result, || vec![key.clone()]);
        result
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let keys: Vec<Key> = ops
            .iter()
            .filter(|op| !matches!(op, WriteOp::ConditionCheck { .. }))
            .filter_map(WriteOp::key)
            .collect();
        let result = self.inner.transact_write(ops).await;
        self.after(&result, || keys);
        result
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let keys: Vec<Key> = items.iter().filter_map(Key::of).collect();
        let result = self.inner.batch_put(items).await;
        self.after(&result, || keys);
        result
    }

    async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.inner.sweep_expired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbTable;
    use serde_json::json;

    fn item(pk: &str) -> Item {
        json!({"pk": pk, "sk": "S"})
            .as_object()
            .expect("object")
            .clone()
    }

    #[tokio::test]
    async fn writes_are_published_after_they_happen_and_refused_ones_are_not() {
        let changes = Changes::new();
        let mut feed = changes.subscribe();
        let table = ObservedTable::new(
            Arc::new(RedbTable::in_memory().expect("memory store")),
            changes,
        );
        table.put(item("A"), None).await.expect("put");
        assert_eq!(
            feed.recv().await.expect("change"),
            Change::Keys(vec![Key::new("A", "S")].into())
        );
        let refused = table
            .put(item("A"), Some(Condition::ItemNotExists))
            .await
            .expect_err("exists");
        assert!(matches!(refused, StoreError::ConditionFailed));
        table
            .transact_write(vec![
                WriteOp::ConditionCheck {
                    key: Key::new("A", "S"),
                    condition: Condition::ItemExists,
                },
                WriteOp::Delete {
                    key: Key::new("B", "S"),
                    condition: None,
                },
            ])
            .await
            .expect("transaction");
        assert_eq!(
            feed.recv().await.expect("change"),
            Change::Keys(vec![Key::new("B", "S")].into()),
            "the refused put published nothing, and a condition check is no write"
        );
    }
}
