//! The running gateway's parts: store, metrics and schema, built from the configuration.

use std::sync::Arc;

use anyhow::Context as _;
use std::time::Duration;

use storefront_loaders::Metrics;
use storefront_loaders::cache::{
    CachedTable, DocumentCache, DocumentLimits, ItemCacheSettings, RedisSettings, RedisTier,
    ResponseCache, ResponseCacheSettings,
};
use storefront_loaders::domain::{Services, Shared};
use storefront_loaders::rate_limit::{RateLimitSettings, RateLimiter};
use storefront_loaders::store::{
    BreakerSettings, BreakerTable, Changes, DynamoTable, InstrumentedTable, ObservedTable,
    RedbTable, Table,
};
use storefront_schema::StorefrontSchema;
use storefront_schema::documents::{PersistedDocuments, PersistedPolicy};
use storefront_schema::persisted::TrustedDocuments;

use crate::config::{Config, PersistedMode, StoreEngine};

/// How often the embedded store's expired items (guest carts, sessions) are swept.
const EXPIRY_SWEEP: Duration = Duration::from_secs(300);

/// Documents whose limit checks are remembered (a few hundred bytes each).
const CHECKED_DOCUMENTS: u64 = 10_000;

/// Everything a request needs, shared by all requests: one reference-counted handle, because
/// axum hands the state to every request (a clone per extractor) and a copy of each part's
/// `Arc` cost an atomic count per part, on counters both cores write (2.9% of a cached
/// answer's CPU).
#[derive(Clone)]
pub struct App(Arc<Parts>);

impl std::ops::Deref for App {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// The parts of an [`App`].
pub struct Parts {
    /// The configuration it was built from.
    pub config: Arc<Config>,
    /// The store, counted in the metrics.
    pub table: Arc<dyn Table>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The GraphQL schema.
    pub schema: StorefrontSchema,
    /// Trusted documents and automatic persisted queries (shared through Redis), with the
    /// policy on them.
    pub persisted: Arc<PersistedDocuments>,
    /// What the domains opened: their engines and the services their resolvers use.
    pub services: Services,
    /// How callers are told apart (trusted proxies, issued API keys).
    pub clients: Arc<crate::http::Clients>,
    /// The document limits' verdicts on the documents seen lately.
    pub documents: Arc<storefront_schema::limits::CheckedDocuments>,
    /// The cache of whole answers to public queries, when on.
    pub responses: Option<Arc<ResponseCache>>,
    /// The per-client rate limit, when on (answers from the response cache are charged too).
    pub limiter: Option<Arc<RateLimiter>>,
    /// The Redis tier, when configured (for readiness).
    pub redis: Option<Arc<RedisTier>>,
    /// The WebSocket connections open, per client.
    pub sockets: Arc<crate::http::Sockets>,
    /// The GraphQL request metrics.
    pub operations: Arc<crate::http::OperationMetrics>,
    /// Becomes true when the gateway starts stopping (long-lived connections close then).
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// The Kafka feed consumers, when `feeds.kafka.enabled`.
    pub feeds: Option<Arc<crate::feeds::Feeds>>,
}

/// Opens the store engine the configuration names.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Table>> {
    Ok(match config.store {
        StoreEngine::Embedded => {
            let path = config.data_dir.join("store.redb");
            Arc::new(RedbTable::open(&path).with_context(|| {
                format!(
                    "cannot open the embedded store at {} (setting `data_dir`)",
                    path.display()
                )
            })?)
        }
        StoreEngine::Memory => Arc::new(RedbTable::in_memory()?),
        StoreEngine::Aws => {
            let table = connect_dynamo(config).await?;
            table.check().await.with_context(|| {
                format!(
                    "cannot use DynamoDB table `{}` (setting `aws.table`)",
                    table.table_name()
                )
            })?;
            Arc::new(table)
        }
    })
}

/// A client for the configured DynamoDB table (not yet checked to exist).
pub async fn connect_dynamo(config: &Config) -> anyhow::Result<DynamoTable> {
    DynamoTable::connect(&config.dynamo_settings())
        .await
        .context("cannot configure DynamoDB (settings under `[aws]`)")
}

impl App {
    /// Opens the configured store and builds the schema.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let engine = open_store(&config).await?;
        Self::with_store(config, engine).await
    }

    /// Builds the app around an already opened store engine.
    pub async fn with_store(config: Config, engine: Arc<dyn Table>) -> anyhow::Result<Self> {
        Self::with_plugged(config, engine, Services::default()).await
    }

    /// Builds the app around an opened store, with `plugged` parts in place of the domains'
    /// defaults (tests capture the mail of one-time codes this way).
    pub async fn with_plugged(
        config: Config,
        engine: Arc<dyn Table>,
        plugged: Services,
    ) -> anyhow::Result<Self> {
        let trusted = TrustedDocuments::load_dir(&config.persisted.manifest_dir)
            .context("invalid persisted-query manifest (setting `persisted.manifest_dir`)")?;
        if config.persisted.mode == PersistedMode::Require && trusted.is_empty() {
            anyhow::bail!(
                "setting `persisted.mode = \"require\"` needs manifests, and {} holds none",
                config.persisted.manifest_dir.display()
            );
        }
        let metrics = Arc::new(Metrics::new());
        // A store that can go away fails fast while it is away, rather than each call waiting
        // out its timeout.
        let engine: Arc<dyn Table> = if config.store == StoreEngine::Aws {
            Arc::new(BreakerTable::new(
                engine,
                BreakerSettings {
                    failures: config.aws.circuit_failures,
                    open_for: Duration::from_millis(config.aws.circuit_open_ms),
                },
                &metrics,
            ))
        } else {
            engine
        };
        let changes = Changes::new();
        // Background copies (the search index) read beside the request path: their reads
        // are not the requests' store calls that the metrics count.
        let uncached: Arc<dyn Table> =
            Arc::new(ObservedTable::new(Arc::clone(&engine), changes.clone()));
        let mut table: Arc<dyn Table> = Arc::new(ObservedTable::new(
            Arc::new(InstrumentedTable::new(engine, Arc::clone(&metrics))),
            changes.clone(),
        ));
        let redis = config.cache.redis_url.as_ref().and_then(|url| {
            match RedisTier::connect(&RedisSettings {
                url: url.clone(),
                cluster: config.cache.redis_cluster,
            }) {
                Ok(redis) => {
                    redis.count_in(&metrics);
                    Some(redis)
                }
                Err(e) => {
                    tracing::error!(error = %e, "the Redis tier is off (setting `cache.redis_url`)");
                    None
                }
            }
        });
        // Its invalidations ride on the item cache's writes and messages: no item cache, no
        // response cache.
        let responses = (config.cache.enabled && config.cache.responses).then(|| {
            ResponseCache::new(
                ResponseCacheSettings {
                    memory_bytes: config.cache.response_memory_bytes,
                    max_entry_bytes: usize::try_from(config.cache.response_max_bytes)
                        .unwrap_or(usize::MAX),
                    namespace: config.cache.namespace.clone(),
                },
                redis.clone(),
                storefront_schema::RESPONSE_TAGS,
                Arc::clone(&metrics),
            )
        });
        if config.cache.enabled {
            table = Arc::new(CachedTable::new(
                table,
                redis.clone(),
                ItemCacheSettings {
                    l1_memory_bytes: config.cache.l1_memory_bytes,
                    ttl: Duration::from_secs(config.cache.ttl_seconds),
                    namespace: config.cache.namespace.clone(),
                },
                storefront_schema::cacheable,
                Arc::clone(&metrics),
                changes.clone(),
                responses.clone(),
            ));
        }
        let limiter = config.rate_limit.enabled.then(|| {
            Arc::new(
                RateLimiter::new(
                    RateLimitSettings {
                        budget: config.rate_limit.budget,
                        window: Duration::from_secs(config.rate_limit.window_seconds),
                    },
                    redis.clone(),
                    &config.cache.namespace,
                )
                .counting_fallbacks_in(&metrics),
            )
        });
        let shared = Shared {
            settings: config.shared_settings(),
            table: Arc::clone(&table),
            uncached,
            redis: redis.clone(),
            metrics: Arc::clone(&metrics),
            changes,
            plugged,
        };
        let mut services = Services::default();
        for domain in storefront_schema::DOMAINS {
            domain
                .open(&config.section(domain.name()), &shared, &mut services)
                .await
                .with_context(|| format!("cannot open the `{}` domain", domain.name()))?;
        }
        let schema =
            storefront_schema::build(services.clone(), &config.query_limits(), limiter.clone());
        let redis_for_readiness = redis.clone();
        let persisted = Arc::new(
            PersistedDocuments::new(
                PersistedPolicy {
                    require_manifest: config.persisted.mode == PersistedMode::Require,
                    apq: config.persisted.apq,
                },
                Arc::new(trusted),
                Arc::new(DocumentCache::new(
                    DocumentLimits {
                        memory_bytes: config.persisted.apq_memory_bytes,
                        ttl: Duration::from_secs(config.persisted.apq_ttl_seconds),
                    },
                    redis.clone(),
                    &config.cache.namespace,
                )),
            )
            .limiting_registrations(RateLimiter::new(
                RateLimitSettings {
                    budget: config.persisted.registrations_per_hour,
                    window: Duration::from_secs(3600),
                },
                redis,
                &format!("{}apq-registrations:", config.cache.namespace),
            )),
        );
        let clients = Arc::new(crate::http::Clients::from_config(&config));
        let sockets = crate::http::Sockets::new(&metrics);
        let operations = Arc::new(crate::http::OperationMetrics::registered(
            &metrics,
            persisted.trusted().names(),
            config.http.operation_names,
        ));
        let feeds = config.feeds.kafka.enabled.then(|| {
            Arc::new(crate::feeds::Feeds::new(
                &config.feeds.kafka,
                config.aws.region.clone(),
                &metrics,
            ))
        });
        Ok(Self(Arc::new(Parts {
            feeds,
            operations,
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
            redis: redis_for_readiness,
            documents: Arc::new(storefront_schema::limits::CheckedDocuments::new(
                config.document_limits(),
                CHECKED_DOCUMENTS,
            )),
            responses,
            limiter,
            clients,
            sockets,
            config: Arc::new(config),
            table,
            metrics,
            schema,
            persisted,
            services,
        })))
    }

    /// Writes every domain's demo data, the catalog with `products` products; returns what
    /// each wrote.
    pub async fn seed(&self, products: usize) -> anyhow::Result<Vec<String>> {
        let mut written = Vec::new();
        for domain in storefront_schema::DOMAINS {
            if let Some(summary) = domain.seed(&self.services, products).await? {
                written.push(summary);
            }
        }
        Ok(written)
    }

    /// Runs every domain's start-up work (demo data on a fresh store), and starts the sweep of
    /// expired items where the store engine does not expire them itself (the embedded one);
    /// returns what each did.
    pub async fn start(&self) -> anyhow::Result<Vec<String>> {
        let table = Arc::clone(&self.table);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(EXPIRY_SWEEP);
            // The first tick is immediate; the first sweep waits a whole period.
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match table.sweep_expired().await {
                    Ok(0) => {}
                    Ok(swept) => tracing::info!(swept, "expired items swept"),
                    Err(e) => tracing::warn!(error = %e, "the sweep of expired items failed"),
                }
            }
        });
        let mut done = Vec::new();
        for domain in storefront_schema::DOMAINS {
            let section = self.config.section(domain.name());
            if let Some(summary) = domain.start(&section, &self.services).await? {
                done.push(summary);
            }
        }
        // After the domains' start-up: records apply to a store that is ready for them.
        if let Some(feeds) = &self.feeds {
            done.push(feeds.start(&self.services).await?);
        }
        Ok(done)
    }

    /// Tells long-lived connections (WebSockets) that the gateway is stopping.
    pub fn begin_stopping(&self) {
        self.stopping.send_replace(true);
    }

    /// The domains' work before the process exits (the outboxes' last relay passes), within
    /// `deadline` in all; returns what was done, for the log.
    pub async fn stop(&self, deadline: Duration) -> Vec<String> {
        let work = async {
            let mut done = Vec::new();
            // First: the feeds' last batch may write what the domains' outboxes relay.
            if let Some(feeds) = &self.feeds
                && let Some(summary) = feeds.stop().await
            {
                done.push(summary);
            }
            for domain in storefront_schema::DOMAINS {
                let section = self.config.section(domain.name());
                if let Some(summary) = domain.stop(&section, &self.services).await {
                    done.push(summary);
                }
            }
            done
        };
        tokio::time::timeout(deadline, work)
            .await
            .unwrap_or_else(|_| {
                vec![format!(
                    "stopped waiting for the domains after {deadline:?}"
                )]
            })
    }
}
