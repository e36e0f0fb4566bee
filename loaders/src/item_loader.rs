//! The per-request DataLoader over the store: every key asked for while the request's
//! resolvers run in one pass becomes one batch get, and every key is read at most once per
//! request.
//!
//! Time-window loaders (batch whatever arrives within 1 ms) split a level of a large page into
//! several batches whenever resolving it takes longer than the window. This loader batches by
//! *pass* instead: [`Batched`] wraps the request's execution and flushes the queued keys each
//! time the execution can go no further without them, which is exactly when every resolver of
//! the level has asked. A load made outside that execution (a spawned task, a load with no
//! [`Batched`] at all) arms a short timer flush instead, so it is never left waiting.
//!
//! The invariant: every waiter is answered exactly once — with the items, or with an error. A
//! batch task that panics or is cancelled answers its waiters with an error as it unwinds (a
//! drop guard), so nothing waits for a batch that will never finish.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use tracing::Instrument as _;

use futures::channel::oneshot;

use crate::store::{Key, StoreError, Table};
use crate::stored::SharedItem;

/// How long queued keys wait for a flush when they were asked for outside a pass of
/// [`Batched`].
const FALLBACK_FLUSH: Duration = Duration::from_millis(5);

/// The most keys one batch task reads; a larger pass is split into several batches that run
/// side by side, so one huge pass never holds one unbounded request.
pub const MAX_BATCH_KEYS: usize = 500;

type LoadResult = Result<HashMap<Key, SharedItem>, Arc<StoreError>>;

struct Waiter {
    // The keys it asked for that were not cached then; answered from the cache once none of
    // them is outstanding.
    keys: Vec<Key>,
    outstanding: HashSet<Key>,
    found: HashMap<Key, SharedItem>,
    reply: oneshot::Sender<LoadResult>,
}

#[derive(Default)]
struct State {
    // Items read in this request; `None` records a key known to be missing.
    cache: HashMap<Key, Option<SharedItem>>,
    // Keys waiting for the next flush, and keys whose batch is on its way.
    queued: HashSet<Key>,
    in_flight: HashSet<Key>,
    waiters: Vec<Waiter>,
    fallback_armed: bool,
    // True while a `Batched` future is being polled: a key queued then is flushed at the end
    // of that poll (or of the next one, when the poll only yielded).
    polling: bool,
    // Bumped by `forget_all`: a batch started before it must not refill the cache with what it
    // read before a write.
    generation: u64,
}

/// Batches and caches the store reads of one request.
pub struct StoreLoader {
    table: Arc<dyn Table>,
    state: Mutex<State>,
}

impl StoreLoader {
    /// A loader for one request.
    pub fn new(table: Arc<dyn Table>) -> Arc<Self> {
        Arc::new(Self {
            table,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Loads one item; `None` when it does not exist.
    pub async fn load_one(
        self: &Arc<Self>,
        key: Key,
    ) -> Result<Option<SharedItem>, Arc<StoreError>> {
        let mut found = self.load_many([key.clone()]).await?;
        Ok(found.remove(&key))
    }

    /// Loads many items; missing ones are absent from the map. A key already on its way in
    /// another batch of this request is waited for, not read again.
    pub async fn load_many(
        self: &Arc<Self>,
        keys: impl IntoIterator<Item = Key>,
    ) -> Result<HashMap<Key, SharedItem>, Arc<StoreError>> {
        let keys: Vec<Key> = keys.into_iter().collect();
        // Recorded here, on the asking task: the batch that reads them may run on another.
        crate::cache::reads::record_keys(&keys);
        let receiver = {
            let mut state = self.state();
            let mut found = HashMap::new();
            let mut wanted = Vec::new();
            for key in keys {
                match state.cache.get(&key) {
                    Some(Some(item)) => {
                        found.insert(key, Arc::clone(item));
                    }
                    Some(None) => {}
                    None => wanted.push(key),
                }
            }
            if wanted.is_empty() {
                return Ok(found);
            }
            for key in &wanted {
                if !state.in_flight.contains(key) {
                    state.queued.insert(key.clone());
                }
            }
            let (reply, receiver) = oneshot::channel();
            state.waiters.push(Waiter {
                outstanding: wanted.iter().cloned().collect(),
                keys: wanted,
                found,
                reply,
            });
            if !state.queued.is_empty() && !state.polling && !state.fallback_armed {
                state.fallback_armed = true;
                let loader = Arc::clone(self);
                tokio::spawn(async move {
                    tokio::time::sleep(FALLBACK_FLUSH).await;
                    loader.flush();
                });
            }
            receiver
        };
        receiver.await.unwrap_or_else(|_| {
            Err(Arc::new(StoreError::Backend(
                "a batched store read was dropped".into(),
            )))
        })
    }

    /// Forgets every item this request has read, so that what a mutation wrote is read
    /// again rather than served from before the write. Batches on their way still answer
    /// their waiters but no longer fill the cache.
    pub fn forget_all(&self) {
        let mut state = self.state();
        state.cache.clear();
        state.generation += 1;
    }

    /// Sends every queued key to the store, in batches of at most [`MAX_BATCH_KEYS`], each
    /// in a task of its own.
    pub fn flush(self: &Arc<Self>) {
        let mut state = self.state();
        self.flush_locked(&mut state);
    }

    fn flush_locked(self: &Arc<Self>, state: &mut State) {
        state.fallback_armed = false;
        if state.queued.is_empty() {
            return;
        }
        let keys: Vec<Key> = state.queued.drain().collect();
        state.in_flight.extend(keys.iter().cloned());
        let generation = state.generation;
        for chunk in keys.chunks(MAX_BATCH_KEYS) {
            let guard = BatchGuard {
                loader: Arc::clone(self),
                keys: chunk.to_vec(),
                generation,
                done: false,
            };
            // In the request's span, so that the batch's store call belongs to its trace.
            tokio::spawn(
                async move {
                    let mut guard = guard;
                    let result = guard.loader.table.batch_get_shared(&guard.keys).await;
                    guard.loader.complete(&guard.keys, result, generation);
                    guard.done = true;
                }
                .in_current_span(),
            );
        }
    }

    /// Records a batch's result and answers every waiter it leaves with nothing outstanding.
    fn complete(&self, keys: &[Key], result: Result<Vec<SharedItem>, StoreError>, generation: u64) {
        let mut state = self.state();
        for key in keys {
            state.in_flight.remove(key);
        }
        let mut read: HashMap<Key, SharedItem> = HashMap::new();
        let failed = match result {
            Ok(items) => {
                read = items
                    .into_iter()
                    .filter_map(|item| Some((Key::of(item.item())?, item)))
                    .collect();
                if generation == state.generation {
                    for key in keys {
                        let item = read.get(key).cloned();
                        state.cache.insert(key.clone(), item);
                    }
                }
                None
            }
            Err(e) => Some(Arc::new(e)),
        };
        let batch: HashSet<&Key> = keys.iter().collect();
        let State { cache, waiters, .. } = &mut *state;
        let mut still_waiting = Vec::with_capacity(waiters.len());
        for mut waiter in waiters.drain(..) {
            let touched = waiter.outstanding.iter().any(|k| batch.contains(k));
            if !touched {
                still_waiting.push(waiter);
                continue;
            }
            if let Some(error) = &failed {
                // A waiter that went away (its request was cancelled) needs no answer.
                let _ = waiter.reply.send(Err(Arc::clone(error)));
                continue;
            }
            // What this batch read is the answer for its keys even when the cache no
            // longer keeps it (a mutation cleared it meanwhile).
            for key in waiter.outstanding.iter().filter(|k| batch.contains(k)) {
                if let Some(item) = read.get(key) {
                    waiter.found.insert(key.clone(), Arc::clone(item));
                }
            }
            waiter.outstanding.retain(|k| !batch.contains(k));
            if !waiter.outstanding.is_empty() {
                still_waiting.push(waiter);
                continue;
            }
            for key in &waiter.keys {
                if waiter.found.contains_key(key) {
                    continue;
                }
                if let Some(Some(item)) = cache.get(key) {
                    waiter.found.insert(key.clone(), Arc::clone(item));
                }
            }
            let _ = waiter.reply.send(Ok(waiter.found));
        }
        *waiters = still_waiting;
    }
}

/// Answers a batch's waiters with an error when its task ends without completing it (the
/// store call panicked, or the runtime dropped the task before or while it ran).
struct BatchGuard {
    loader: Arc<StoreLoader>,
    keys: Vec<Key>,
    generation: u64,
    done: bool,
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        if !self.done {
            self.loader.complete(
                &self.keys,
                Err(StoreError::Backend(
                    "a batched store read ended without an answer".into(),
                )),
                self.generation,
            );
        }
    }
}

/// Runs a future (a request's execution), flushing the loader's queued keys whenever the
/// future waits, so that each pass of resolvers costs one batch get.
pub struct Batched<F> {
    inner: Pin<Box<F>>,
    loader: Arc<StoreLoader>,
}

impl<F: Future> Batched<F> {
    /// Wraps `future`, flushing `loader`.
    pub fn new(future: F, loader: Arc<StoreLoader>) -> Self {
        Self {
            inner: Box::pin(future),
            loader,
        }
    }
}

impl<F: Future> Future for Batched<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let probe = Arc::new(WakeProbe {
            woken: AtomicBool::new(false),
            waker: cx.waker().clone(),
        });
        let waker = Waker::from(Arc::clone(&probe));
        self.loader.state().polling = true;
        let polled = self.inner.as_mut().poll(&mut Context::from_waker(&waker));
        let loader = Arc::clone(&self.loader);
        let mut state = loader.state();
        state.polling = false;
        // A future that wakes itself while being polled is only yielding (futures' combinators
        // do so after a number of children), and more resolvers will ask for keys when it is
        // polled again. Flush only once it truly waits, or when it is done (keys queued by
        // someone else meanwhile must not be stranded).
        let yielded = polled.is_pending() && probe.woken.load(AtomicOrdering::Acquire);
        if !yielded {
            loader.flush_locked(&mut state);
        }
        polled
    }
}

/// Forwards wake-ups to the task, noting that one happened.
struct WakeProbe {
    woken: AtomicBool,
    waker: Waker,
}

impl Wake for WakeProbe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, AtomicOrdering::Release);
        self.waker.wake_by_ref();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Item, RedbTable};

    struct Counting {
        inner: RedbTable,
        calls: Mutex<Vec<usize>>,
        delay: Duration,
        panics: bool,
    }

    impl Counting {
        fn new(inner: RedbTable, delay: Duration) -> Self {
            Self {
                inner,
                calls: Mutex::new(vec![]),
                delay,
                panics: false,
            }
        }
    }

    #[async_trait::async_trait]
    impl Table for Counting {
        async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
            self.calls.lock().expect("lock").push(keys.len());
            tokio::time::sleep(self.delay).await;
            assert!(!self.panics, "the store call panics");
            self.inner.batch_get(keys).await
        }
        async fn query(&self, q: &crate::store::Query) -> Result<crate::store::Page, StoreError> {
            self.inner.query(q).await
        }
        async fn put(&self, i: Item, c: Option<crate::store::Condition>) -> Result<(), StoreError> {
            self.inner.put(i, c).await
        }
        async fn update(
            &self,
            k: &Key,
            u: &crate::store::Update,
            c: Option<crate::store::Condition>,
        ) -> Result<Item, StoreError> {
            self.inner.update(k, u, c).await
        }
        async fn delete(
            &self,
            k: &Key,
            c: Option<crate::store::Condition>,
        ) -> Result<(), StoreError> {
            self.inner.delete(k, c).await
        }
        async fn transact_write(&self, ops: Vec<crate::store::WriteOp>) -> Result<(), StoreError> {
            self.inner.transact_write(ops).await
        }
        async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
            self.inner.batch_put(items).await
        }
    }

    #[tokio::test]
    async fn loads_of_one_pass_become_one_batch_and_repeat_loads_hit_the_cache() {
        let inner = RedbTable::in_memory().expect("memory");
        let items = (0..300)
            .map(|i| Key::new("P", format!("{i:03}")).to_item())
            .collect();
        inner.batch_put(items).await.expect("seed");
        let table = Arc::new(Counting::new(inner, Duration::ZERO));
        let loader = StoreLoader::new(table.clone());
        let all = futures::future::join_all((0..300).map(|i| {
            let loader = Arc::clone(&loader);
            async move { loader.load_one(Key::new("P", format!("{i:03}"))).await }
        }));
        let results = Batched::new(all, Arc::clone(&loader)).await;
        assert!(results.iter().all(|r| matches!(r, Ok(Some(_)))));
        assert_eq!(*table.calls.lock().expect("lock"), [300]);

        let again = Batched::new(
            loader.load_many([Key::new("P", "001"), Key::new("P", "nope")]),
            Arc::clone(&loader),
        )
        .await
        .expect("load");
        assert_eq!(again.len(), 1);
        let missing = Batched::new(loader.load_one(Key::new("P", "nope")), Arc::clone(&loader))
            .await
            .expect("load");
        assert!(missing.is_none());
        assert_eq!(
            *table.calls.lock().expect("lock"),
            [300, 1],
            "only the unknown key is read again, once"
        );
    }

    #[tokio::test]
    async fn a_key_already_on_its_way_is_waited_for_not_read_again() {
        let inner = RedbTable::in_memory().expect("memory");
        inner
            .put(Key::new("a", "b").to_item(), None)
            .await
            .expect("put");
        let table = Arc::new(Counting::new(inner, Duration::from_millis(50)));
        let loader = StoreLoader::new(table.clone());
        let first = tokio::spawn({
            let loader = Arc::clone(&loader);
            async move { loader.load_one(Key::new("a", "b")).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        loader.flush();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = Batched::new(loader.load_one(Key::new("a", "b")), Arc::clone(&loader))
            .await
            .expect("second");
        let first = first.await.expect("task").expect("first");
        assert!(first.is_some() && second.is_some());
        assert_eq!(*table.calls.lock().expect("lock"), [1]);
    }

    #[tokio::test]
    async fn loads_outside_a_batched_future_still_complete() {
        let table = Arc::new(RedbTable::in_memory().expect("memory"));
        table
            .put(Key::new("a", "b").to_item(), None)
            .await
            .expect("put");
        let loader = StoreLoader::new(table);
        let item = loader.load_one(Key::new("a", "b")).await.expect("load");
        assert!(item.is_some());
    }

    /// A bound on how long a test waits for something that must not hang.
    const HANG: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn a_batch_that_panics_fails_its_waiters_instead_of_hanging_them() {
        let mut table = Counting::new(RedbTable::in_memory().expect("memory"), Duration::ZERO);
        table.panics = true;
        let loader = StoreLoader::new(Arc::new(table));
        let load = Batched::new(loader.load_one(Key::new("a", "b")), Arc::clone(&loader));
        let result = tokio::time::timeout(HANG, load)
            .await
            .expect("the waiter is answered, not left hanging");
        assert!(result.is_err(), "the panicked batch is an error");
        assert!(crate::sync::lock(&loader.state).in_flight.is_empty());
    }

    #[tokio::test]
    async fn a_load_from_a_task_outside_the_driven_future_is_flushed() {
        let table = Arc::new(RedbTable::in_memory().expect("memory"));
        table
            .put(Key::new("a", "b").to_item(), None)
            .await
            .expect("put");
        let loader = StoreLoader::new(table);
        let (sender, receiver) = oneshot::channel();
        let outside = Arc::clone(&loader);
        // The driven future waits on a task that starts loading only after the driven
        // future's first pass has flushed and gone to sleep.
        let driven = Batched::new(
            async move {
                tokio::task::yield_now().await;
                receiver.await.expect("the task answers")
            },
            Arc::clone(&loader),
        );
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let _ = sender.send(outside.load_one(Key::new("a", "b")).await);
        });
        let found = tokio::time::timeout(HANG, driven)
            .await
            .expect("the outside load is flushed")
            .expect("load");
        assert!(found.is_some());
    }

    #[tokio::test]
    async fn a_huge_pass_is_split_into_capped_batches() {
        let table = Arc::new(Counting::new(
            RedbTable::in_memory().expect("memory"),
            Duration::ZERO,
        ));
        let loader = StoreLoader::new(table.clone());
        let keys: Vec<Key> = (0..1_200).map(|i| Key::new("P", format!("{i}"))).collect();
        Batched::new(loader.load_many(keys), Arc::clone(&loader))
            .await
            .expect("load");
        let mut calls = table.calls.lock().expect("lock").clone();
        calls.sort_unstable();
        assert_eq!(calls, [200, MAX_BATCH_KEYS, MAX_BATCH_KEYS]);
    }

    #[tokio::test]
    async fn after_forget_all_a_key_is_read_again_and_sees_the_write() {
        let table = Arc::new(Counting::new(
            RedbTable::in_memory().expect("memory"),
            Duration::ZERO,
        ));
        let key = Key::new("a", "b");
        let loader = StoreLoader::new(table.clone());
        let before = Batched::new(loader.load_one(key.clone()), Arc::clone(&loader))
            .await
            .expect("load");
        assert!(before.is_none());
        table.put(key.to_item(), None).await.expect("write");
        loader.forget_all();
        let after = Batched::new(loader.load_one(key), Arc::clone(&loader))
            .await
            .expect("load");
        assert!(after.is_some(), "the write is seen");
        assert_eq!(*table.calls.lock().expect("lock"), [1, 1]);
    }
}
