//! Settings that flags and `STOREFRONT_*` variables override (clap reads both; a flag wins over
//! its variable).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::{Config, Mode, PersistedMode, StoreEngine};

/// Settings that flags and `STOREFRONT_*` variables override.
#[derive(Debug, Clone, Default, Args)]
pub struct Overrides {
    /// Config file (default: ./storefront.toml when it exists).
    #[arg(long, env = "STOREFRONT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:4000.
    #[arg(long, env = "STOREFRONT_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store.
    #[arg(long, env = "STOREFRONT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Development or production.
    #[arg(long, env = "STOREFRONT_MODE", global = true)]
    pub mode: Option<Mode>,
    /// Store engine.
    #[arg(long, env = "STOREFRONT_STORE", global = true)]
    pub store: Option<StoreEngine>,
    /// AWS region.
    #[arg(long, env = "STOREFRONT_AWS_REGION", global = true)]
    pub aws_region: Option<String>,
    /// DynamoDB table of the store.
    #[arg(long, env = "STOREFRONT_AWS_TABLE", global = true)]
    pub aws_table: Option<String>,
    /// DynamoDB endpoint override, e.g. http://127.0.0.1:8000 for DynamoDB Local.
    #[arg(long, env = "STOREFRONT_AWS_ENDPOINT_URL", global = true)]
    pub aws_endpoint_url: Option<String>,
    /// Persisted operations: `allow`, or `require` (manifest operations only).
    #[arg(long, env = "STOREFRONT_PERSISTED_MODE", global = true)]
    pub persisted_mode: Option<PersistedMode>,
    /// Proxies whose X-Forwarded-For is believed: addresses or CIDRs, comma-separated.
    #[arg(
        long,
        env = "STOREFRONT_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// Redis URL of the shared cache tier (ElastiCache).
    #[arg(long, env = "STOREFRONT_REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Origins allowed to call the API, comma-separated.
    #[arg(
        long,
        env = "STOREFRONT_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Option<Vec<String>>,
    /// Consume the feeds from Kafka: `true` or `false`.
    #[arg(long, env = "STOREFRONT_KAFKA_ENABLED", global = true)]
    pub kafka_enabled: Option<bool>,
    /// Kafka bootstrap brokers, comma-separated `host:port`.
    #[arg(long, env = "STOREFRONT_KAFKA_BROKERS", global = true)]
    pub kafka_brokers: Option<String>,
}

impl Config {
    /// This config with the overrides applied.
    pub fn with(mut self, o: &Overrides) -> Self {
        if let Some(v) = o.listen {
            self.listen = v;
        }
        if let Some(v) = &o.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = o.mode {
            self.mode = v;
        }
        if let Some(v) = o.store {
            self.store = v;
        }
        if let Some(v) = &o.aws_region {
            self.aws.region = Some(v.clone());
        }
        if let Some(v) = &o.aws_table {
            self.aws.table = v.clone();
        }
        if let Some(v) = &o.aws_endpoint_url {
            self.aws.endpoint_url = Some(v.clone());
        }
        if let Some(v) = &o.trusted_proxies {
            self.rate_limit.trusted_proxies =
                v.iter().filter(|s| !s.trim().is_empty()).cloned().collect();
        }
        if let Some(v) = o.persisted_mode {
            self.persisted.mode = v;
        }
        if let Some(v) = &o.redis_url {
            self.cache.redis_url = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = o.kafka_enabled {
            self.feeds.kafka.enabled = v;
        }
        if let Some(v) = &o.kafka_brokers {
            self.feeds.kafka.brokers = v.clone();
        }
        if let Some(v) = &o.cors_origins {
            self.cors.allowed_origins = v.iter().filter(|s| !s.is_empty()).cloned().collect();
        }
        self
    }
}
