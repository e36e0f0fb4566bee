//! What a search engine does for the gateway, whichever runs behind it (tantivy embedded,
//! Amazon OpenSearch Service).

use async_trait::async_trait;

use super::document::SearchDocument;
use super::request::{Predictions, SearchRequest, SearchResults};

/// Why a search engine call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The engine is away, slow or failing; the message is for logs.
    #[error("the search engine is unavailable: {0}")]
    Unavailable(String),
    /// The engine refused the request as malformed (a bug of ours, or bad data).
    #[error("the search engine refused the request: {0}")]
    Refused(String),
}

/// A whole new index being written; searches keep seeing the old one until it is finished.
#[async_trait]
pub trait Rebuild: Send {
    /// Adds documents to the new index.
    async fn add(&mut self, documents: Vec<SearchDocument>) -> Result<(), SearchError>;
    /// Makes the new index the one searched, recording the catalog revision it was made at.
    async fn finish(self: Box<Self>, revision: u64) -> Result<(), SearchError>;
}

/// A search engine.
#[async_trait]
pub trait SearchEngine: Send + Sync {
    /// A name for logs and metrics.
    fn name(&self) -> &'static str;

    /// Runs a search.
    async fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError>;

    /// Products, categories and whole queries for a partial query, at most `limit` each.
    async fn predict(&self, query: &str, limit: usize) -> Result<Predictions, SearchError>;

    /// Writes changed documents and removes gone products, visible to searches once it
    /// returns.
    async fn apply(
        &self,
        upserts: Vec<SearchDocument>,
        removals: Vec<String>,
    ) -> Result<(), SearchError>;

    /// Starts writing a whole new index.
    async fn rebuild(&self) -> Result<Box<dyn Rebuild>, SearchError>;

    /// The catalog revision the index was last rebuilt at, or none when there is no index.
    async fn revision(&self) -> Result<Option<u64>, SearchError>;

    /// How many products the index holds.
    async fn len(&self) -> Result<u64, SearchError>;

    /// Whether the index holds no product.
    async fn is_empty(&self) -> Result<bool, SearchError> {
        Ok(self.len().await? == 0)
    }

    /// A number that changes whenever results may have changed (cache keys carry it).
    fn generation(&self) -> u64;
}
