//! A `Table` wrapper that counts every request by operation for `/metrics`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Condition, Item, Key, Page, Query, StoreError, Table, Update, WriteOp};
use crate::metrics::{Metrics, StoreOp};

/// Counts each call into the wrapped engine in `storefront_store_requests_total{op}`.
pub struct InstrumentedTable {
    inner: Arc<dyn Table>,
    metrics: Arc<Metrics>,
}

impl InstrumentedTable {
    /// Wraps `inner`, counting into `metrics`.
    pub fn new(inner: Arc<dyn Table>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn count(&self, op: &'static str) {
        self.metrics
            .store_requests
            .get_or_create(&StoreOp { op })
            .inc();
    }
}

#[async_trait]
impl Table for InstrumentedTable {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.count("batch_get");
        self.inner.batch_get(keys).await
    }

    async fn batch_get_shared(
        &self,
        keys: &[Key],
    ) -> Result<Vec<crate::stored::SharedItem>, StoreError> {
        self.count("batch_get");
        self.inner.batch_get_shared(keys).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.count("query");
        self.inner.query(query).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.count("put");
        self.inner.put(item, condition).await
    }

    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.count("update");
        self.inner.update(key, update, condition).await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.count("delete");
        self.inner.delete(key, condition).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.count("transact_write");
        self.inner.transact_write(ops).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.count("batch_put");
        self.inner.batch_put(items).await
    }

    async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.inner.sweep_expired().await
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.count("get");
        self.inner.get(key).await
    }
}
