//! Keeps the search index in step with the catalog: a whole build when the index is missing
//! or older than the catalog's revision, then every catalog write (imports, stock, prices,
//! checkouts) from the store's change feed, applied in small batches.
//!
//! Writes made by another process reach this one through Redis (the cache's invalidation
//! channel). Without Redis, an import by another process is noticed by its revision count,
//! and the index is rebuilt.

use std::collections::BTreeSet;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::document::DocumentSource;
use super::engine::{SearchEngine, SearchError};
use crate::catalog::{Catalog, keys};
use crate::store::{Change, Key, StoreError};

/// Products read and written per batch.
const BATCH: usize = 250;
/// How often the catalog's revision is read.
const REVISION_EVERY: Duration = Duration::from_secs(3);

/// Why indexing failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading the catalog failed.
    #[error("cannot read the catalog: {0}")]
    Store(#[from] StoreError),
    /// Writing the index failed.
    #[error(transparent)]
    Engine(#[from] SearchError),
}

/// Builds and updates one engine's index from the store.
pub struct Indexer {
    engine: Arc<dyn SearchEngine>,
    source: DocumentSource,
    catalog: Catalog,
    follows_replicas: bool,
}

impl Indexer {
    /// An indexer reading `table` (uncached). `follows_replicas`: other processes' catalog
    /// writes arrive on the change feed (Redis is configured).
    pub fn new(
        engine: Arc<dyn SearchEngine>,
        table: Arc<dyn crate::store::Table>,
        follows_replicas: bool,
    ) -> Self {
        Self {
            engine,
            source: DocumentSource::new(Arc::clone(&table)),
            catalog: Catalog::new(table),
            follows_replicas,
        }
    }

    /// Builds a whole new index from the store (searches see the old one until it is done);
    /// `progress` hears how many products are done. Returns how many were indexed.
    pub async fn build(&mut self, progress: impl Fn(usize)) -> Result<usize, IndexError> {
        let revision = self.catalog.revision().await?;
        self.source.refresh_categories().await?;
        let mut ids: Vec<String> = Vec::new();
        self.source.product_ids(|page| ids.extend(page)).await?;
        let mut rebuild = self.engine.rebuild().await?;
        let mut done = 0;
        for chunk in ids.chunks(BATCH) {
            let (documents, _) = self.source.documents(chunk).await?;
            done += documents.len();
            rebuild.add(documents).await?;
            progress(done);
        }
        rebuild.finish(revision).await?;
        Ok(done)
    }

    /// Builds the index when it is missing or made at another catalog revision; says what it
    /// did.
    pub async fn build_if_stale(&mut self) -> Result<Option<String>, IndexError> {
        let revision = self.catalog.revision().await?;
        let indexed = self.engine.revision().await?;
        if indexed == Some(revision) {
            return Ok(None);
        }
        self.build_logged().await.map(Some)
    }

    /// The catalog's revision now.
    pub async fn catalog_revision(&self) -> Result<u64, IndexError> {
        Ok(self.catalog.revision().await?)
    }

    /// Builds the whole index with a progress line every 10,000 products; says what it did.
    pub async fn build_logged(&mut self) -> Result<String, IndexError> {
        let started = Instant::now();
        let name = self.engine.name();
        let count = self
            .build(|done| {
                if done % 10_000 < BATCH {
                    tracing::info!(engine = name, products = done, "building the search index");
                }
            })
            .await?;
        Ok(format!(
            "search index ({name}) built: {count} products in {:.1} s",
            started.elapsed().as_secs_f64()
        ))
    }

    /// Applies the writes of `written` keys: reads the products they belong to again.
    pub async fn apply(&mut self, written: &[Key]) -> Result<(), IndexError> {
        if written.iter().any(DocumentSource::is_category_key) {
            self.source.refresh_categories().await?;
        }
        let products: Vec<String> = self
            .source
            .products_of(written)
            .await?
            .into_iter()
            .collect();
        for chunk in products.chunks(BATCH) {
            let (documents, gone) = self.source.documents(chunk).await?;
            self.engine.apply(documents, gone).await?;
        }
        Ok(())
    }

    /// Follows the change feed until the process ends: applies writes every `every`, and
    /// rebuilds when changes were missed, when another process imported unseen, or at once
    /// when `stale` (the start-up build failed). `revision` is the catalog revision the
    /// index was last seen at.
    pub fn spawn(
        mut self,
        mut feed: broadcast::Receiver<Change>,
        every: Duration,
        revision: Option<u64>,
        stale: bool,
    ) {
        tokio::spawn(async move {
            let mut pending: BTreeSet<Key> = BTreeSet::new();
            let mut missed = stale;
            let mut seen_revision = revision;
            let mut revision_written_here = false;
            let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
            let mut last_revision_check = Instant::now();
            loop {
                tokio::select! {
                    change = feed.recv() => match change {
                        Ok(Change::Keys(keys)) => {
                            for key in keys.iter() {
                                if *key == keys::revision() {
                                    revision_written_here = true;
                                } else if keys::is_catalog_key(key) {
                                    pending.insert(key.clone());
                                }
                            }
                        }
                        Ok(Change::Unknown) | Err(RecvError::Lagged(_)) => missed = true,
                        Err(RecvError::Closed) => return,
                    },
                    _ = ticks.tick() => {
                        if last_revision_check.elapsed() >= REVISION_EVERY {
                            last_revision_check = Instant::now();
                            match self.catalog.revision().await {
                                Ok(now) if Some(now) != seen_revision => {
                                    if !self.follows_replicas && !revision_written_here {
                                        tracing::info!("the catalog was imported elsewhere; rebuilding the search index");
                                        missed = true;
                                    }
                                    seen_revision = Some(now);
                                    revision_written_here = false;
                                }
                                Ok(_) => {}
                                Err(e) => tracing::warn!(error = %e, "cannot read the catalog revision"),
                            }
                        }
                        if missed {
                            match self.build(|_| {}).await {
                                Ok(_) => {
                                    missed = false;
                                    pending.clear();
                                }
                                Err(e) => tracing::warn!(error = %e, "the search index rebuild failed; retrying"),
                            }
                        } else if !pending.is_empty() {
                            let keys: Vec<Key> = pending.iter().cloned().collect();
                            match self.apply(&keys).await {
                                Ok(()) => pending.clear(),
                                Err(e) => tracing::warn!(error = %e, "the search index update failed; retrying"),
                            }
                        }
                    }
                }
            }
        });
    }
}
