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

    /// Counts the size of a batched read.
    fn batch(&self, keys: usize) {
        self.metrics.store_batch_keys.observe(keys as f64);
    }

    /// Runs a call of `op` in a span of its own, counting it, its latency and its result
    /// (`storefront_backend_calls_total{backend="store"}`).
    async fn call<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.metrics
            .store_requests
            .get_or_create(&StoreOp { op })
            .inc();
        let span = tracing::info_span!("store", otel.name = op, db.operation.name = op);
        let started = std::time::Instant::now();
        let result = call.instrument(span).await;
        // A condition that did not hold is an answer of the store, not a failure of it.
        let ok = matches!(
            result,
            Ok(_) | Err(StoreError::ConditionFailed | StoreError::TransactionCanceled { .. })
        );
        self.metrics
            .backend_call("store", op, ok, started.elapsed());
        result
    }
}

#[async_trait]
impl Table for InstrumentedTable {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.batch(keys.len());
        self.call("batch_get", self.inner.batch_get(keys)).await
    }

    async fn batch_get_shared(
        &self,
        keys: &[Key],
    ) -> Result<Vec<crate::stored::SharedItem>, StoreError> {
        self.batch(keys.len());
        self.call("batch_get", self.inner.batch_get_shared(keys))
            .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.call("query", self.inner.query(query)).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.call("put", self.inner.put(item, condition)).await
    }

    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.call("update", self.inner.update(key, update, condition))
            .await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.call("delete", self.inner.delete(key, condition)).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.call("transact_write", self.inner.transact_write(ops))
            .await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.call("batch_put", self.inner.batch_put(items)).await
    }

    async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.inner.sweep_expired().await
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.call("get", self.inner.get(key)).await
    }
}
