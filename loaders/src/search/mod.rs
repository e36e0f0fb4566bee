//! The search domain: product search with facets and predictive search, over the embedded
//! tantivy engine or Amazon OpenSearch Service, kept in step with the catalog by an indexer
//! that follows the store's change feed.

pub mod document;
pub mod embedded;
pub mod engine;
pub mod facets;
pub mod indexer;
pub mod opensearch;
pub mod ranking;
pub mod request;
pub mod text;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

pub use document::SearchDocument;
pub use engine::{SearchEngine, SearchError};
pub use request::{
    CategoryHit, Facet, FacetKind, FacetValue, Filter, Hit, MAX_FILTERS, Position, Predictions,
    SearchRequest, SearchResults, SearchSort,
};

use self::embedded::EmbeddedSearch;
use self::indexer::Indexer;
use self::opensearch::{OpenSearch, OpenSearchSettings};
use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, ValueKind,
    Variable, parse_section,
};
use crate::store::{Changes, StoreEngine, Table};

/// Which engine searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchEngineKind {
    /// tantivy, in the data dir (in memory with the memory store).
    #[default]
    Embedded,
    /// Amazon OpenSearch Service (settings under `[search.opensearch]`).
    Opensearch,
}

/// Amazon OpenSearch Service settings (`[search.opensearch]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenSearchConfig {
    /// The domain endpoint (`https://search-x.eu-west-1.es.amazonaws.com`).
    pub endpoint: String,
    /// The alias searches go to; each rebuild writes a new index behind it.
    pub index: String,
    /// The domain's region (default: `aws.region`).
    pub region: Option<String>,
    /// Sign requests with SigV4 (service `es`); off only for a local, unsecured cluster.
    pub sign: bool,
}

impl Default for OpenSearchConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            index: "storefront-products".into(),
            region: None,
            sign: true,
        }
    }
}

/// The search domain's settings (`[search]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// `embedded` or `opensearch`.
    pub engine: SearchEngineKind,
    /// How often catalog writes are applied to the index, in milliseconds (they are
    /// searchable within this plus the time to apply them).
    pub sync_millis: u64,
    /// How long a search may take before it fails with `SEARCH_UNAVAILABLE`.
    pub timeout_millis: u64,
    /// How long results of a public search are reused while the index is unchanged.
    pub cache_seconds: u64,
    /// How many searches' results are kept (0: none).
    pub cache_entries: u64,
    /// Amazon OpenSearch Service.
    pub opensearch: OpenSearchConfig,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            engine: SearchEngineKind::Embedded,
            sync_millis: 200,
            timeout_millis: 2_000,
            cache_seconds: 30,
            cache_entries: 10_000,
            opensearch: OpenSearchConfig::default(),
        }
    }
}

impl DomainConfig for SearchConfig {
    fn validate(&self, section: &str, shared: &SharedSettings) -> Result<(), SettingError> {
        if !(10..=900).contains(&self.sync_millis) {
            return Err(SettingError::new(
                format!("{section}.sync_millis"),
                "must be 10 to 900, so that writes are searchable within a second",
            ));
        }
        if !(1..=30_000).contains(&self.timeout_millis) {
            return Err(SettingError::new(
                format!("{section}.timeout_millis"),
                "must be 1 to 30000",
            ));
        }
        if self.engine == SearchEngineKind::Opensearch {
            let endpoint = &self.opensearch.endpoint;
            if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                return Err(SettingError::new(
                    format!("{section}.opensearch.endpoint"),
                    "the OpenSearch engine needs the domain's endpoint URL",
                ));
            }
            if self.opensearch.sign
                && self.opensearch.region.is_none()
                && shared.aws_region.is_none()
            {
                return Err(SettingError::new(
                    format!("{section}.opensearch.region"),
                    "signing needs a region (this setting or `aws.region`)",
                ));
            }
            if self.opensearch.index.is_empty()
                || !self
                    .opensearch
                    .index
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(SettingError::new(
                    format!("{section}.opensearch.index"),
                    "must be lowercase letters, digits and hyphens",
                ));
            }
        }
        Ok(())
    }
}

/// Search for the resolvers: runs searches on the engine with a deadline, and reuses the
/// results of public searches while the index is unchanged.
#[derive(Clone)]
pub struct Search {
    engine: Arc<OnceCell<Arc<dyn SearchEngine>>>,
    cache: moka::future::Cache<String, Arc<SearchResults>>,
    predictions: moka::future::Cache<String, Arc<Predictions>>,
    timeout: Duration,
}

impl Search {
    fn engine(&self) -> Result<&Arc<dyn SearchEngine>, SearchError> {
        self.engine
            .get()
            .ok_or_else(|| SearchError::Unavailable("the search index is not open".into()))
    }

    async fn within<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, SearchError>>,
    ) -> Result<T, SearchError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| {
                SearchError::Unavailable("the search engine did not answer in time".into())
            })?
    }

    /// Runs `request`; equal requests reuse the results until the index changes or the
    /// cache time passes (results never depend on who asks: personalisation reorders a page
    /// afterwards).
    pub async fn search(&self, request: &SearchRequest) -> Result<Arc<SearchResults>, SearchError> {
        let engine = self.engine()?;
        if self.cache.policy().max_capacity() == Some(0) {
            return Ok(Arc::new(self.within(engine.search(request)).await?));
        }
        let key = format!("{}|{request:?}", engine.generation());
        self.cache
            .try_get_with(key, async {
                Ok(Arc::new(self.within(engine.search(request)).await?))
            })
            .await
            .map_err(|e: Arc<SearchError>| (*e).clone())
    }

    /// Predictive search for a partial query (reused, like searches, while the index is
    /// unchanged: every shopper types the same first letters).
    pub async fn predict(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Arc<Predictions>, SearchError> {
        let engine = self.engine()?;
        if self.predictions.policy().max_capacity() == Some(0) {
            return Ok(Arc::new(self.within(engine.predict(query, limit)).await?));
        }
        let key = format!("{}|{limit}|{query}", engine.generation());
        self.predictions
            .try_get_with(key, async {
                Ok(Arc::new(self.within(engine.predict(query, limit)).await?))
            })
            .await
            .map_err(|e: Arc<SearchError>| (*e).clone())
    }
}

/// What `start` and the `search reindex` command need.
struct SearchParts {
    config: SearchConfig,
    settings: SharedSettings,
    uncached: Arc<dyn Table>,
    changes: Changes,
    follows_replicas: bool,
    engine: Arc<OnceCell<Arc<dyn SearchEngine>>>,
}

impl SearchParts {
    /// Opens the configured engine (once).
    async fn engine(&self) -> Result<Arc<dyn SearchEngine>, OpenError> {
        self.engine
            .get_or_try_init(|| async {
                let engine: Arc<dyn SearchEngine> = match self.config.engine {
                    SearchEngineKind::Embedded => {
                        let dir = (self.settings.store != StoreEngine::Memory)
                            .then(|| self.settings.data_dir.join("search-index"));
                        Arc::new(
                            tokio::task::spawn_blocking(move || EmbeddedSearch::open(dir))
                                .await
                                .map_err(|e| OpenError::new(e.to_string()))?
                                .map_err(|e| OpenError::new(e.to_string()))?,
                        )
                    }
                    SearchEngineKind::Opensearch => {
                        let os = &self.config.opensearch;
                        Arc::new(
                            OpenSearch::connect(OpenSearchSettings {
                                endpoint: os.endpoint.clone(),
                                alias: os.index.clone(),
                                region: os.region.clone().or(self.settings.aws_region.clone()),
                                sign: os.sign,
                            })
                            .await
                            .map_err(|e| {
                                OpenError::new(format!(
                                    "cannot use OpenSearch (settings under `[search.opensearch]`): {e}"
                                ))
                            })?,
                        )
                    }
                };
                Ok(engine)
            })
            .await
            .cloned()
    }

    fn indexer(&self, engine: Arc<dyn SearchEngine>) -> Indexer {
        Indexer::new(engine, Arc::clone(&self.uncached), self.follows_replicas)
    }
}

fn parts(services: &Services) -> Result<&SearchParts, OpenError> {
    services
        .get::<SearchParts>()
        .ok_or_else(|| OpenError::new("the search domain is not open"))
}

/// Builds a whole new index from the store (the `search reindex` command): searches see the
/// old index until the new one is complete. Returns what it did.
pub async fn reindex(services: &Services) -> Result<String, OpenError> {
    let parts = parts(services)?;
    let engine = parts.engine().await?;
    let started = std::time::Instant::now();
    let count = parts
        .indexer(engine)
        .build(|done| {
            if done % 10_000 < 250 {
                eprintln!("indexed {done} products");
            }
        })
        .await
        .map_err(|e| OpenError::new(e.to_string()))?;
    Ok(format!(
        "search index rebuilt: {count} products in {:.1} s",
        started.elapsed().as_secs_f64()
    ))
}

/// The search domain.
pub struct SearchDomain;

/// The search domain, as registered in the schema crate.
pub static DOMAIN: SearchDomain = SearchDomain;

const VARIABLES: &[Variable] = &[
    Variable {
        name: "STOREFRONT_SEARCH_ENGINE",
        key: "engine",
        kind: ValueKind::Text,
    },
    Variable {
        name: "STOREFRONT_OPENSEARCH_ENDPOINT",
        key: "opensearch.endpoint",
        kind: ValueKind::Text,
    },
];

#[async_trait::async_trait]
impl Domain for SearchDomain {
    fn name(&self) -> &'static str {
        "search"
    }

    fn variables(&self) -> &'static [Variable] {
        VARIABLES
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<SearchConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config: SearchConfig = parse_section(self.name(), section, &shared.settings)?;
        let engine = Arc::new(OnceCell::new());
        fn cache<V: Clone + Send + Sync + 'static>(
            config: &SearchConfig,
        ) -> moka::future::Cache<String, V> {
            moka::future::Cache::builder()
                .max_capacity(config.cache_entries)
                .time_to_live(Duration::from_secs(config.cache_seconds.max(1)))
                .build()
        }
        services.insert(Search {
            engine: Arc::clone(&engine),
            cache: cache(&config),
            predictions: cache(&config),
            timeout: Duration::from_millis(config.timeout_millis),
        });
        services.insert(SearchParts {
            config,
            settings: shared.settings.clone(),
            uncached: Arc::clone(&shared.uncached),
            changes: shared.changes.clone(),
            follows_replicas: shared.redis.is_some(),
            engine,
        });
        Ok(())
    }

    async fn start(
        &self,
        _section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let parts = parts(services)?;
        let engine = parts.engine().await?;
        // Follow the feed before building, so that no write between the two is missed.
        let feed = parts.changes.subscribe();
        let mut indexer = parts.indexer(Arc::clone(&engine));
        let every = Duration::from_millis(parts.config.sync_millis);
        // A store that cannot be read now must not keep the gateway from serving: the index
        // is built in the background once it can (searches fail or see the old index until
        // then).
        match indexer.build_if_stale().await {
            Ok(built) => {
                let revision = indexer.catalog_revision().await.ok();
                indexer.spawn(feed, every, revision, revision.is_none());
                Ok(built)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the search index now; retrying in the background");
                indexer.spawn(feed, every, None, true);
                Ok(Some(format!("search index not built yet: {e}")))
            }
        }
    }
}
