//! The running gateway's parts: store, metrics and schema, built from the configuration.

use std::sync::Arc;

use anyhow::Context as _;
use std::time::Duration;

use storefront_loaders::Metrics;
use storefront_loaders::cache::{
    CachedTable, DocumentCache, ItemCacheSettings, RedisSettings, RedisTier,
};
use storefront_loaders::catalog::Catalog;
use storefront_loaders::catalog::keys;
use storefront_loaders::catalog::seed::{SeedOptions, SeedSummary, seed_demo_catalog};
use storefront_loaders::rate_limit::{RateLimitSettings, RateLimiter};
use storefront_loaders::store::{DynamoTable, InstrumentedTable, RedbTable, Table};
use storefront_schema::StorefrontSchema;
use storefront_schema::persisted::TrustedDocuments;

use storefront_loaders::identity::{
    CodeDelivery, CognitoIdentity, CognitoSettings, EmbeddedIdentity, EmbeddedSettings, Identity,
    IdentityProvider, JwksCache, KeySource, LogDelivery, ProfileStore, SignInThrottle, SigningKey,
    ThrottleSettings, TokenVerifier, VerifierSettings,
};

use crate::config::{Config, IdentityEngine, PersistedMode, StoreEngine};

/// Everything a request needs, shared by all requests.
#[derive(Clone)]
pub struct App {
    /// The configuration it was built from.
    pub config: Arc<Config>,
    /// The store, counted in the metrics.
    pub table: Arc<dyn Table>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The GraphQL schema.
    pub schema: StorefrontSchema,
    /// Automatic persisted queries, shared through Redis.
    pub documents: Arc<DocumentCache>,
    /// Operations of the trusted-document manifests.
    pub trusted: Arc<TrustedDocuments>,
    /// Customer identity: the provider and the token verifier.
    pub identity: Identity,
    /// The embedded provider's public keys (`/.well-known/jwks.json`); none with Cognito.
    pub jwks: Option<Arc<serde_json::Value>>,
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

/// The embedded provider's signing key: the configured file, else one per store engine.
async fn signing_key(config: &Config, table: &Arc<dyn Table>) -> anyhow::Result<SigningKey> {
    let key = match (&config.identity.key_file, config.store) {
        (Some(path), _) => SigningKey::load_or_create(path),
        (None, StoreEngine::Embedded) => {
            SigningKey::load_or_create(&config.data_dir.join("identity-signing-key.pem"))
        }
        (None, StoreEngine::Memory) => SigningKey::generate().map(|(key, _)| key),
        (None, StoreEngine::Aws) => SigningKey::load_or_create_in(table).await,
    };
    key.context("cannot load the token signing key (setting `identity.key_file`)")
}

/// The configured identity provider with its verifier, throttle and profile store.
async fn identity(
    config: &Config,
    table: &Arc<dyn Table>,
    metrics: Arc<Metrics>,
    redis: Option<Arc<RedisTier>>,
    delivery: Arc<dyn CodeDelivery>,
) -> anyhow::Result<(Identity, Option<Arc<serde_json::Value>>)> {
    let settings = &config.identity;
    let verifier_settings = VerifierSettings {
        issuer: config.token_issuer(),
        audience: config.token_audience(),
        leeway: Duration::from_secs(settings.leeway_seconds),
    };
    let (provider, verifier, jwks): (Arc<dyn IdentityProvider>, _, _) = match settings.engine {
        IdentityEngine::Embedded => {
            let key = Arc::new(signing_key(config, table).await?);
            let jwks = serde_json::to_value(key.jwks()).context("cannot encode the JWKS")?;
            let verifier = TokenVerifier::new(verifier_settings, KeySource::fixed(key.jwks()));
            let provider = EmbeddedIdentity::new(
                Arc::clone(table),
                key,
                EmbeddedSettings {
                    issuer: config.token_issuer(),
                    audience: config.token_audience(),
                    access_ttl: Duration::from_secs(settings.access_token_ttl_seconds),
                    refresh_ttl: Duration::from_secs(settings.refresh_token_ttl_days * 86_400),
                    auto_confirm: settings.auto_confirm,
                },
                delivery,
            );
            (Arc::new(provider) as _, verifier, Some(Arc::new(jwks)))
        }
        IdentityEngine::Cognito => {
            let cognito = &settings.cognito;
            let provider = CognitoIdentity::connect(CognitoSettings {
                region: config.cognito_region(),
                user_pool_id: cognito.user_pool_id.clone(),
                client_id: cognito.client_id.clone(),
                client_secret: cognito.client_secret.clone(),
                endpoint_url: cognito.endpoint_url.clone(),
            })
            .await
            .context("cannot configure Cognito (settings under `[identity.cognito]`)")?;
            let url = settings
                .jwks_url
                .clone()
                .unwrap_or_else(|| format!("{}/.well-known/jwks.json", config.token_issuer()));
            let keys = JwksCache::http(&url, Duration::from_secs(settings.jwks_refetch_seconds))
                .map_err(anyhow::Error::msg)?;
            let verifier = TokenVerifier::new(verifier_settings, KeySource::Remote(keys));
            (Arc::new(provider) as _, verifier, None)
        }
    };
    let throttle = SignInThrottle::new(
        ThrottleSettings {
            max_failures: settings.max_failed_attempts,
            window: Duration::from_secs(settings.failed_attempts_window_seconds),
        },
        redis,
        &config.cache.namespace,
    );
    Ok((
        Identity {
            provider,
            verifier: Arc::new(verifier),
            throttle: Arc::new(throttle),
            profiles: ProfileStore::new(Arc::clone(table)),
            metrics,
        },
        jwks,
    ))
}

impl App {
    /// Opens the configured store and builds the schema.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let engine = open_store(&config).await?;
        Self::with_store(config, engine).await
    }

    /// Builds the app around an already opened store engine; codes are delivered by log.
    pub async fn with_store(config: Config, engine: Arc<dyn Table>) -> anyhow::Result<Self> {
        Self::with_delivery(config, engine, Arc::new(LogDelivery)).await
    }

    /// Builds the app around an opened store, delivering one-time codes through `delivery`.
    pub async fn with_delivery(
        config: Config,
        engine: Arc<dyn Table>,
        delivery: Arc<dyn CodeDelivery>,
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
        let mut table: Arc<dyn Table> =
            Arc::new(InstrumentedTable::new(engine, Arc::clone(&metrics)));
        let redis = config.cache.redis_url.as_ref().and_then(|url| {
            match RedisTier::connect(&RedisSettings {
                url: url.clone(),
                cluster: config.cache.redis_cluster,
            }) {
                Ok(redis) => Some(redis),
                Err(e) => {
                    tracing::error!(error = %e, "the Redis tier is off (setting `cache.redis_url`)");
                    None
                }
            }
        });
        if config.cache.enabled {
            table = Arc::new(CachedTable::new(
                table,
                redis.clone(),
                ItemCacheSettings {
                    l1_capacity: config.cache.l1_capacity,
                    ttl: Duration::from_secs(config.cache.ttl_seconds),
                    namespace: config.cache.namespace.clone(),
                },
                keys::is_catalog_key,
                Arc::clone(&metrics),
            ));
        }
        let limiter = config.rate_limit.enabled.then(|| {
            Arc::new(RateLimiter::new(
                RateLimitSettings {
                    budget: config.rate_limit.budget,
                    window: Duration::from_secs(config.rate_limit.window_seconds),
                },
                redis.clone(),
                &config.cache.namespace,
            ))
        });
        let (identity, jwks) = identity(
            &config,
            &table,
            Arc::clone(&metrics),
            redis.clone(),
            delivery,
        )
        .await?;
        let schema = storefront_schema::build(
            Catalog::new(Arc::clone(&table)),
            identity.clone(),
            &config.query_limits(),
            limiter,
        );
        let documents = Arc::new(DocumentCache::new(10_000, redis, &config.cache.namespace));
        Ok(Self {
            config: Arc::new(config),
            table,
            metrics,
            schema,
            documents,
            trusted: Arc::new(trusted),
            identity,
            jwks,
        })
    }

    /// Seeds the demo catalog of `products` products.
    pub async fn seed(&self, products: usize) -> anyhow::Result<SeedSummary> {
        let options = SeedOptions {
            products,
            asset_base_url: self.config.asset_base_url.clone(),
        };
        Ok(seed_demo_catalog(&self.table, &options).await?)
    }

    /// Seeds the demo catalog when seeding is on and the store holds no catalog yet.
    pub async fn seed_if_empty(&self) -> anyhow::Result<Option<SeedSummary>> {
        if !self.config.seed_demo || Catalog::new(Arc::clone(&self.table)).is_seeded().await? {
            return Ok(None);
        }
        self.seed(self.config.demo_products).await.map(Some)
    }
}
