//! A `Table` wrapper that counts every request by operation for `/metrics`, each in a span of
//! its own (one span per backend call, for traces).

use std::sync::Arc;

use async_trait::async_trait;
use tracing::Instrument as _;

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

    /// Counts a call of `op`, and gives the span it runs in.
    fn count(&self, op: &'static str) -> tracing::Span {
        self.metrics
            .store_requests
            .get_or_create(&StoreOp { op })
            .inc();
        tracing::info_span!("store", otel.name = op, db.operation.name = op)
    }
}

#[async_trait]
impl Table for InstrumentedTable {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let span = self.count("batch_get");
        self.inner.batch_get(keys).instrument(span).await
    }

    async fn batch_get_shared(
        &self,
        keys: &[Key],
    ) -> Result<Vec<crate::stored::SharedItem>, StoreError> {
        let span = self.count("batch_get");
        self.inner.batch_get_shared(keys).instrument(span).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let span = self.count("query");
        self.inner.query(query).instrument(span).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let span = self.count("put");
        self.inner.put(item, condition).instrument(span).await
    }

    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        let span = self.count("update");
        self.inner
            .update(key, update, condition)
            .instrument(span)
            .await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let span = self.count("delete");
        self.inner.delete(key, condition).instrument(span).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let span = self.count("transact_write");
        self.inner.transact_write(ops).instrument(span).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let span = self.count("batch_put");
        self.inner.batch_put(items).instrument(span).await
    }

    async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.inner.sweep_expired().await
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let span = self.count("get");
        self.inner.get(key).instrument(span).await
    }
}
