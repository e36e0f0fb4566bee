//! The store behind a circuit breaker ([`crate::breaker`]) when it can go away (DynamoDB):
//! while the circuit is open, calls fail at once with [`StoreError::Unavailable`].

use std::sync::Arc;

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::{Condition, Item, Key, Page, Query, StoreError, Table, Update, WriteOp};
use crate::Metrics;
use crate::breaker::Breaker;
pub use crate::breaker::BreakerSettings;

/// A store behind a circuit breaker.
pub struct BreakerTable {
    inner: Arc<dyn Table>,
    breaker: Breaker,
}

impl BreakerTable {
    /// `inner` behind a breaker; its state is `storefront_store_circuit_open` (1 when open)
    /// and `storefront_store_circuit_refused_total` counts the calls it failed at once.
    pub fn new(inner: Arc<dyn Table>, settings: BreakerSettings, metrics: &Metrics) -> Self {
        let (open, refused) = (Gauge::default(), Counter::default());
        metrics.register(
            "store_circuit_open",
            "Whether the store's circuit is open (calls fail at once)",
            open.clone(),
        );
        metrics.register(
            "store_circuit_refused",
            "Store calls failed at once by the open circuit",
            refused.clone(),
        );
        Self {
            inner,
            breaker: Breaker::new("store", settings, open, refused),
        }
    }

    async fn guard<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let ticket = self.breaker.admit().ok_or_else(|| {
            StoreError::Unavailable("the store did not answer lately; retry shortly".into())
        })?;
        let result = call.await;
        self.breaker
            .settle(ticket, matches!(result, Err(StoreError::Unavailable(_))));
        result
    }
}

#[async_trait]
impl Table for BreakerTable {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.guard(self.inner.batch_get(keys)).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.guard(self.inner.query(query)).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.guard(self.inner.put(item, condition)).await
    }

    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.guard(self.inner.update(key, update, condition)).await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.guard(self.inner.delete(key, condition)).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.guard(self.inner.transact_write(ops)).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.guard(self.inner.batch_put(items)).await
    }

    async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.guard(self.inner.sweep_expired()).await
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.guard(self.inner.get(key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    /// A store that is down while `down` is set, counting the calls that reach it.
    struct Flaky {
        down: AtomicBool,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl Table for Flaky {
        async fn batch_get(&self, _: &[Key]) -> Result<Vec<Item>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable("connection refused".into()))
            } else {
                Ok(Vec::new())
            }
        }
        async fn query(&self, _: &Query) -> Result<Page, StoreError> {
            Err(StoreError::ConditionFailed)
        }
        async fn put(&self, _: Item, _: Option<Condition>) -> Result<(), StoreError> {
            Err(StoreError::ConditionFailed)
        }
        async fn update(
            &self,
            _: &Key,
            _: &Update,
            _: Option<Condition>,
        ) -> Result<Item, StoreError> {
            Err(StoreError::ConditionFailed)
        }
        async fn delete(&self, _: &Key, _: Option<Condition>) -> Result<(), StoreError> {
            Ok(())
        }
        async fn transact_write(&self, _: Vec<WriteOp>) -> Result<(), StoreError> {
            Ok(())
        }
        async fn batch_put(&self, _: Vec<Item>) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_circuit_opens_after_consecutive_failures_fails_fast_then_a_probe_closes_it() {
        let flaky = Arc::new(Flaky {
            down: AtomicBool::new(true),
            calls: AtomicUsize::new(0),
        });
        let metrics = Metrics::new();
        let table = BreakerTable::new(
            Arc::clone(&flaky) as Arc<dyn Table>,
            BreakerSettings {
                failures: 3,
                open_for: Duration::from_millis(50),
            },
            &metrics,
        );
        let key = [Key::new("a", "b")];
        for _ in 0..10 {
            assert!(matches!(
                table.batch_get(&key).await,
                Err(StoreError::Unavailable(_))
            ));
        }
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 3, "open after three");
        assert_eq!(metrics.sample("storefront_store_circuit_open", &[]), 1.0);
        assert_eq!(
            metrics.sample("storefront_store_circuit_refused_total", &[]),
            7.0
        );
        // Still down at the probe: open again, one more call reached it.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(table.batch_get(&key).await.is_err());
        assert!(table.batch_get(&key).await.is_err());
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
        // Back: the next probe closes it, and calls go through again.
        flaky.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(table.batch_get(&key).await.is_ok());
        assert!(table.batch_get(&key).await.is_ok());
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 6);
        assert_eq!(metrics.sample("storefront_store_circuit_open", &[]), 0.0);
    }

    #[tokio::test]
    async fn answers_that_are_not_outages_never_open_the_circuit() {
        let flaky = Arc::new(Flaky {
            down: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        });
        let table = BreakerTable::new(
            flaky as Arc<dyn Table>,
            BreakerSettings {
                failures: 1,
                open_for: Duration::from_secs(60),
            },
            &Metrics::new(),
        );
        for _ in 0..5 {
            assert!(matches!(
                table.put(Item::new(), None).await,
                Err(StoreError::ConditionFailed)
            ));
        }
        assert!(table.batch_get(&[Key::new("a", "b")]).await.is_ok());
    }
}
