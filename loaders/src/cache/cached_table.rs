//! A `Table` with a two-tier read cache of items: moka in-process (L1) in front of Redis (L2).
//! Reads fill both tiers; every write through it invalidates the written keys in Redis and,
//! through Redis pub/sub, in every replica's L1.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::reads;
use super::redis_tier::RedisTier;
use super::responses::ResponseCache;
use crate::metrics::{CacheOutcome, Metrics};
use crate::store::{
    Changes, Condition, Item, Key, Page, Query, StoreError, Table, Update, WriteOp,
};
use crate::stored::{SharedItem, StoredItem};

type Loaded = Result<Arc<HashMap<Key, SharedItem>>, Arc<StoreError>>;
type InFlight = Shared<BoxFuture<'static, Loaded>>;

/// How the item cache behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemCacheSettings {
    /// Most bytes of items in L1, as [`StoredItem::weight`] counts them.
    pub l1_memory_bytes: u64,
    /// How long an item may live in either tier (the bound on staleness when an invalidation is
    /// lost, e.g. while Redis is down).
    pub ttl: Duration,
    /// Prefix of every Redis key and channel: the format version and deployment namespace.
    pub namespace: String,
}

/// Which keys may be cached (the catalog's, not a customer's).
pub type Cacheable = fn(&Key) -> bool;

struct L1State {
    l1: moka::future::Cache<Key, SharedItem>,
    // Bumped by every invalidation: a load that saw it change must not fill the caches with
    // what it read before the write.
    epoch: AtomicU64,
}

/// The cached table.
pub struct CachedTable {
    inner: Arc<dyn Table>,
    state: Arc<L1State>,
    l2: Option<Arc<RedisTier>>,
    settings: ItemCacheSettings,
    cacheable: Cacheable,
    metrics: Arc<Metrics>,
    in_flight: Arc<Mutex<HashMap<Key, InFlight>>>,
    responses: Option<Arc<ResponseCache>>,
}

fn redis_key(namespace: &str, key: &Key) -> String {
    format!("{namespace}item:{}\u{1f}{}", key.pk, key.sk)
}

impl CachedTable {
    /// Wraps `inner`; with `l2`, subscribes to the namespace's invalidation channel and puts
    /// what other replicas wrote on `changes`. Writes drop the answers of `responses` that
    /// read what they wrote.
    pub fn new(
        inner: Arc<dyn Table>,
        l2: Option<Arc<RedisTier>>,
        settings: ItemCacheSettings,
        cacheable: Cacheable,
        metrics: Arc<Metrics>,
        changes: Changes,
        responses: Option<Arc<ResponseCache>>,
    ) -> Self {
        let state = Arc::new(L1State {
            l1: moka::future::Cache::builder()
                .max_capacity(settings.l1_memory_bytes)
                .weigher(|_, item: &SharedItem| item.weight())
                .time_to_live(settings.ttl)
                .build(),
            epoch: AtomicU64::new(0),
        });
        if let Some(redis) = &l2 {
            let on_message = Arc::clone(&state);
            let on_reconnect = Arc::clone(&state);
            let remote_changes = changes.clone();
            let connections = AtomicU64::new(0);
            let remote_responses = responses.clone();
            let reconnect_responses = responses.clone();
            redis.subscribe(
                Self::channel(&settings.namespace),
                move |payload| {
                    let keys: Vec<(String, String)> = match serde_json::from_slice(payload) {
                        Ok(keys) => keys,
                        Err(e) => {
                            tracing::warn!(error = %e, "unreadable cache invalidation");
                            return;
                        }
                    };
                    on_message.epoch.fetch_add(1, Ordering::SeqCst);
                    let keys: Vec<Key> =
                        keys.into_iter().map(|(pk, sk)| Key::new(pk, sk)).collect();
                    let l1 = on_message.l1.clone();
                    let responses = remote_responses.clone();
                    let written = keys.clone();
                    // Answers after items: an answer computed once its tags are dropped must
                    // not have read an item from before the write.
                    tokio::spawn(async move {
                        for key in &written {
                            l1.invalidate(key).await;
                        }
                        if let Some(responses) = responses {
                            responses.written_elsewhere(&written);
                        }
                    });
                    remote_changes.publish(keys);
                },
                move || {
                    // Invalidations sent while we were away are lost: start L1 afresh.
                    on_reconnect.epoch.fetch_add(1, Ordering::SeqCst);
                    on_reconnect.l1.invalidate_all();
                    if let Some(responses) = &reconnect_responses {
                        responses.clear_memory();
                    }
                    if connections.fetch_add(1, Ordering::SeqCst) > 0 {
                        changes.unknown();
                    }
                },
            );
        }
        Self {
            inner,
            state,
            l2,
            settings,
            cacheable,
            metrics,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            responses,
        }
    }

    fn channel(namespace: &str) -> String {
        format!("{namespace}invalidate")
    }

    fn count(&self, tier: &'static str, hit: bool) {
        self.metrics
            .cache_requests
            .get_or_create(&CacheOutcome {
                tier,
                result: if hit { "hit" } else { "miss" },
            })
            .inc();
    }

    /// Drops `keys` from every tier of every replica.
    async fn invalidate(&self, keys: Vec<Key>) {
        let keys: Vec<Key> = keys.into_iter().filter(|k| (self.cacheable)(k)).collect();
        if keys.is_empty() {
            return;
        }
        self.state.epoch.fetch_add(1, Ordering::SeqCst);
        for key in &keys {
            self.state.l1.invalidate(key).await;
        }
        if let Some(responses) = &self.responses {
            responses.written(&keys).await;
        }
        if let Some(redis) = &self.l2 {
            let redis_keys: Vec<String> = keys
                .iter()
                .map(|k| redis_key(&self.settings.namespace, k))
                .collect();
            let message = serde_json::to_vec(
                &keys
                    .iter()
                    .map(|k| (k.pk.as_str(), k.sk.as_str()))
                    .collect::<Vec<_>>(),
            )
            .expect("keys serialise");
            if let Err(e) = redis
                .delete_and_publish(
                    &redis_keys,
                    &Self::channel(&self.settings.namespace),
                    &message,
                )
                .await
            {
                tracing::warn!(error = %e, "cache invalidation not shared; other replicas keep their copy until its TTL");
            }
        }
    }

    /// Reads keys that missed L1: L2, then the backend; fills both tiers.
    fn load(&self, keys: Vec<Key>) -> BoxFuture<'static, Loaded> {
        let inner = Arc::clone(&self.inner);
        let l2 = self.l2.clone();
        let state = Arc::clone(&self.state);
        let metrics = Arc::clone(&self.metrics);
        let namespace = self.settings.namespace.clone();
        let ttl = self.settings.ttl;
        async move {
            let epoch = state.epoch.load(Ordering::SeqCst);
            let mut found: HashMap<Key, SharedItem> = HashMap::new();
            let mut missing = keys.clone();
            if let Some(redis) = &l2 {
                let redis_keys: Vec<String> =
                    keys.iter().map(|k| redis_key(&namespace, k)).collect();
                if let Ok(values) = redis.get_many(&redis_keys).await {
                    missing.clear();
                    for (key, value) in keys.iter().zip(values) {
                        let item =
                            value.and_then(|bytes| serde_json::from_slice::<Item>(&bytes).ok());
                        let hit = item.is_some();
                        metrics
                            .cache_requests
                            .get_or_create(&CacheOutcome {
                                tier: "l2",
                                result: if hit { "hit" } else { "miss" },
                            })
                            .inc();
                        match item {
                            Some(item) => {
                                found.insert(key.clone(), Arc::new(StoredItem::new(item)));
                            }
                            None => missing.push(key.clone()),
                        }
                    }
                }
            }
            let from_backend = if missing.is_empty() {
                vec![]
            } else {
                inner.batch_get(&missing).await.map_err(Arc::new)?
            };
            let mut fill_l2 = Vec::with_capacity(from_backend.len());
            for item in from_backend {
                let Some(key) = Key::of(&item) else { continue };
                if l2.is_some()
                    && let Ok(bytes) = serde_json::to_vec(&item)
                {
                    fill_l2.push((redis_key(&namespace, &key), bytes));
                }
                found.insert(key, Arc::new(StoredItem::new(item)));
            }
            // A write landed while we read: what we read may be older than it; don't keep it.
            if state.epoch.load(Ordering::SeqCst) == epoch {
                for (key, item) in &found {
                    state.l1.insert(key.clone(), Arc::clone(item)).await;
                }
                if let Some(redis) = &l2 {
                    let _ = redis.set_many(&fill_l2, ttl).await;
                }
            }
            Ok(Arc::new(found))
        }
        .boxed()
    }

    /// Reads items, sharing them instead of copying.
    pub async fn batch_get_shared(&self, keys: &[Key]) -> Result<Vec<SharedItem>, StoreError> {
        reads::record_keys(keys);
        let unique: HashSet<&Key> = keys.iter().collect();
        let mut out = Vec::with_capacity(unique.len());
        let mut uncached = Vec::new();
        let mut misses = Vec::new();
        for key in unique {
            if !(self.cacheable)(key) {
                uncached.push(key.clone());
                continue;
            }
            match self.state.l1.get(key).await {
                Some(item) => {
                    self.count("l1", true);
                    out.push(item);
                }
                None => {
                    self.count("l1", false);
                    misses.push(key.clone());
                }
            }
        }
        // Concurrent misses of one key, in any request, share one load.
        let mut waits: Vec<(Vec<Key>, InFlight)> = Vec::new();
        {
            let mut in_flight = crate::sync::lock(&self.in_flight);
            let mut mine = Vec::new();
            let mut joined: HashMap<u64, (Vec<Key>, InFlight)> = HashMap::new();
            for key in misses {
                match in_flight.get(&key) {
                    Some(load) => {
                        let id = load_id(load);
                        joined
                            .entry(id)
                            .or_insert_with(|| (vec![], load.clone()))
                            .0
                            .push(key);
                    }
                    None => mine.push(key),
                }
            }
            if !mine.is_empty() {
                let load = self.load(mine.clone()).shared();
                for key in &mine {
                    in_flight.insert(key.clone(), load.clone());
                }
                waits.push((mine, load));
            }
            waits.extend(joined.into_values());
        }
        let mut first_error = None;
        for (wanted, load) in waits {
            let result = load.clone().await;
            {
                let mut in_flight = crate::sync::lock(&self.in_flight);
                for key in &wanted {
                    if in_flight.get(key).is_some_and(|l| l.ptr_eq(&load)) {
                        in_flight.remove(key);
                    }
                }
            }
            match result {
                Ok(found) => out.extend(wanted.iter().filter_map(|k| found.get(k).cloned())),
                Err(e) => first_error = Some(e),
            }
        }
        if let Some(e) = first_error {
            return Err(StoreError::Backend(e.to_string()));
        }
        if !uncached.is_empty() {
            out.extend(self.inner.batch_get_shared(&uncached).await?);
        }
        Ok(out)
    }
}

/// An identity of a shared load, to group the keys that wait for it.
fn load_id(load: &InFlight) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    load.ptr_hash(&mut hasher);
    std::hash::Hasher::finish(&hasher)
}

fn written_keys(ops: &[WriteOp]) -> Vec<Key> {
    ops.iter().filter_map(WriteOp::key).collect()
}

fn wrote_something(result: &Result<impl Sized, StoreError>) -> bool {
    !matches!(
        result,
        Err(StoreError::ConditionFailed
            | StoreError::TransactionCanceled { .. }
            | StoreError::Validation(_))
    )
}

#[async_trait]
impl Table for CachedTable {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        Ok(self
            .batch_get_shared(keys)
            .await?
            .into_iter()
            .map(|shared| {
                Arc::try_unwrap(shared).map_or_else(|s| s.item().clone(), StoredItem::into_item)
            })
            .collect())
    }

    async fn batch_get_shared(&self, keys: &[Key]) -> Result<Vec<SharedItem>, StoreError> {
        CachedTable::batch_get_shared(self, keys).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        reads::record_query(query);
        self.inner.query(query).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = Key::of(&item);
        let result = self.inner.put(item, condition).await;
        if wrote_something(&result) {
            self.invalidate(key.into_iter().collect()).await;
        }
        result
    }

    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        let result = self.inner.update(key, update, condition).await;
        if wrote_something(&result) {
            self.invalidate(vec![key.clone()]).await;
        }
        result
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let result = self.inner.delete(key, condition).await;
        if wrote_something(&result) {
            self.invalidate(vec![key.clone()]).await;
        }
        result
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let keys = written_keys(&ops);
        let result = self.inner.transact_write(ops).await;
        if wrote_something(&result) {
            self.invalidate(keys).await;
        }
        result
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let keys: Vec<Key> = items.iter().filter_map(Key::of).collect();
        let result = self.inner.batch_put(items).await;
        if wrote_something(&result) {
            self.invalidate(keys).await;
        }
        result
    }

    // Items with a time to live (carts, sessions) are a customer's and never cached.
    async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.inner.sweep_expired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbTable;

    struct Slow {
        inner: RedbTable,
        calls: Mutex<usize>,
    }

    #[async_trait]
    impl Table for Slow {
        async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
            *self.calls.lock().expect("lock") += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.inner.batch_get(keys).await
        }
        async fn query(&self, q: &Query) -> Result<Page, StoreError> {
            self.inner.query(q).await
        }
        async fn put(&self, i: Item, c: Option<Condition>) -> Result<(), StoreError> {
            self.inner.put(i, c).await
        }
        async fn update(
            &self,
            k: &Key,
            u: &Update,
            c: Option<Condition>,
        ) -> Result<Item, StoreError> {
            self.inner.update(k, u, c).await
        }
        async fn delete(&self, k: &Key, c: Option<Condition>) -> Result<(), StoreError> {
            self.inner.delete(k, c).await
        }
        async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
            self.inner.transact_write(ops).await
        }
        async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
            self.inner.batch_put(items).await
        }
    }

    fn cached(inner: Arc<Slow>) -> CachedTable {
        CachedTable::new(
            inner,
            None,
            ItemCacheSettings {
                l1_memory_bytes: 1 << 20,
                ttl: Duration::from_secs(60),
                namespace: "t:".into(),
            },
            |_| true,
            Arc::new(Metrics::new()),
            Changes::new(),
            None,
        )
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_make_one_backend_call_and_writes_invalidate() {
        let inner = Arc::new(Slow {
            inner: RedbTable::in_memory().expect("memory"),
            calls: Mutex::new(0),
        });
        let key = Key::new("P", "1");
        inner.inner.put(key.to_item(), None).await.expect("put");
        let table = cached(Arc::clone(&inner));
        let reads =
            futures::future::join_all((0..10).map(|_| table.batch_get(std::slice::from_ref(&key))))
                .await;
        assert!(
            reads
                .iter()
                .all(|r| r.as_ref().is_ok_and(|items| items.len() == 1))
        );
        assert_eq!(
            *inner.calls.lock().expect("lock"),
            1,
            "one backend call for ten readers"
        );
        table
            .batch_get(std::slice::from_ref(&key))
            .await
            .expect("hit");
        assert_eq!(
            *inner.calls.lock().expect("lock"),
            1,
            "then served from memory"
        );

        let mut changed = key.to_item();
        changed.insert("v".into(), serde_json::json!(2));
        table.put(changed, None).await.expect("write");
        let after = table
            .batch_get(std::slice::from_ref(&key))
            .await
            .expect("read");
        assert_eq!(
            after[0]["v"],
            serde_json::json!(2),
            "a write drops the cached copy"
        );
    }
}
