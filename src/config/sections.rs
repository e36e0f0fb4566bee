//! The gateway's own settings, section by section: mode, persisted operations, rate limits,
//! the cache, AWS, CORS and request limits (the domains' sections belong to the domains).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::ValueEnum;
use serde::Deserialize;

pub use storefront_loaders::store::StoreEngine;

/// How the gateway runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Local work: any `localhost` origin may call the API, errors are detailed.
    #[default]
    Development,
    /// Deployed: only configured origins may call the API.
    Production,
}

/// Whether operations must come from a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum PersistedMode {
    /// Free-form documents, automatic persisted queries and manifest ids are all accepted.
    #[default]
    Allow,
    /// Only operations of the manifests run (by id, or by their exact text).
    Require,
}

/// Persisted operations: Apollo APQ and trusted-document manifests.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersistedConfig {
    /// Directory of Apollo persisted-query manifests (`*.json`), loaded at start.
    pub manifest_dir: PathBuf,
    /// `allow` or `require`.
    pub mode: PersistedMode,
    /// Accept automatic persisted queries (registration by hash) in `allow` mode.
    pub apq: bool,
    /// Seconds an APQ document nobody uses stays registered (each use renews it).
    pub apq_ttl_seconds: u64,
    /// Bytes of APQ documents each replica keeps in memory.
    pub apq_memory_bytes: u64,
    /// Documents one client (API key or address) may register per hour.
    pub registrations_per_hour: u64,
}

impl Default for PersistedConfig {
    fn default() -> Self {
        Self {
            manifest_dir: PathBuf::from("schema/persisted"),
            mode: PersistedMode::Allow,
            apq: true,
            apq_ttl_seconds: 24 * 3600,
            apq_memory_bytes: 32 * 1024 * 1024,
            registrations_per_hour: 100,
        }
    }
}

/// Rate limiting by query cost.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Whether operations are counted against a budget.
    pub enabled: bool,
    /// Query cost (complexity) one client may spend per window.
    pub budget: u64,
    /// The window, in seconds: a client may spend `budget` at once, then regains it evenly
    /// over this time.
    pub window_seconds: u64,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDRs, e.g. `10.0.0.0/8`): the
    /// client is the rightmost forwarded address that is not itself one of them. Empty: the
    /// peer address is the client, and `X-Forwarded-For` is ignored.
    pub trusted_proxies: Vec<String>,
    /// Issued API keys, each with a budget of its own.
    pub api_keys: Vec<ApiKeyConfig>,
    /// What a request with an `x-api-key` that was not issued gets.
    pub unknown_api_keys: UnknownApiKeys,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            budget: 250_000,
            window_seconds: 60,
            trusted_proxies: Vec::new(),
            api_keys: Vec::new(),
            unknown_api_keys: UnknownApiKeys::Refuse,
        }
    }
}

/// An issued API key: only its SHA-256 is configured (`storefront-gateway api-key` makes one).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who holds it (`mobile-app`): the name its budget is counted under, in logs and metrics.
    pub name: String,
    /// The lowercase hex SHA-256 of the key.
    pub sha256: String,
    /// Its budget per window (default: `rate_limit.budget`).
    pub budget: Option<u64>,
    /// The key may run operator mutations (order status updates).
    #[serde(default)]
    pub admin: bool,
}

/// What a request with an unknown `x-api-key` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UnknownApiKeys {
    /// `401 INVALID_API_KEY`.
    #[default]
    Refuse,
    /// Counted as its address, like a request without a key.
    Anonymous,
}

/// The HTTP surface: the playground and where metrics are served.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve GraphiQL at `/graphiql` (default: in development mode only).
    pub graphiql: Option<bool>,
    /// Serve `/metrics` on this address of its own (e.g. `127.0.0.1:9464`). Without it,
    /// development mode serves them on the public port and production mode not at all.
    pub metrics_listen: Option<SocketAddr>,
    /// Operation names, beyond the manifests' own, that get a metrics label of their own; the
    /// rest count as `other`, so that clients cannot multiply the series.
    pub operation_names: usize,
    /// Seconds a stopping gateway lets requests in flight finish before it exits anyway.
    pub drain_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            graphiql: None,
            metrics_listen: None,
            operation_names: 100,
            drain_seconds: 30,
        }
    }
}

/// The two-tier cache.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Cache catalog items in-process (L1).
    pub enabled: bool,
    /// Redis (ElastiCache) as the shared tier, `redis://host:port`; off when unset.
    pub redis_url: Option<String>,
    /// Redis cluster mode (several comma-separated URLs allowed).
    pub redis_cluster: bool,
    /// Most bytes of items kept in-process (items weigh what they hold, decoded too).
    pub l1_memory_bytes: u64,
    /// Seconds an entry may live: the bound on staleness when an invalidation is lost.
    pub ttl_seconds: u64,
    /// Prefix of every Redis key; change it to share one Redis between deployments.
    pub namespace: String,
    /// Cache whole answers to public queries (needs `enabled`): in memory, and in Redis when
    /// there is one. Clients skip it with `x-response-cache: bypass`.
    pub responses: bool,
    /// Most bytes of answers kept in memory per replica.
    pub response_memory_bytes: u64,
    /// The largest answer cached (larger ones are served, not kept).
    pub response_max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            redis_url: None,
            redis_cluster: false,
            l1_memory_bytes: 64 * 1024 * 1024,
            ttl_seconds: 300,
            namespace: "storefront:v1:".into(),
            responses: true,
            response_memory_bytes: 32 * 1024 * 1024,
            response_max_bytes: 512 * 1024,
        }
    }
}

/// AWS settings shared by every AWS engine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Region; when unset, the standard chain (`AWS_REGION`, the profile) decides.
    pub region: Option<String>,
    /// The DynamoDB table of the store.
    pub table: String,
    /// Endpoint override for DynamoDB (DynamoDB Local, LocalStack); the SDK's
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB` work too.
    pub endpoint_url: Option<String>,
    /// Milliseconds one DynamoDB call may take, retries included.
    pub call_timeout_ms: u64,
    /// Consecutive failures to reach DynamoDB that open its circuit: calls then fail at once
    /// with `SERVICE_UNAVAILABLE` until one probe, `circuit_open_ms` later, gets through.
    pub circuit_failures: u32,
    /// Milliseconds an open circuit waits before it lets a probe through.
    pub circuit_open_ms: u64,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            region: None,
            table: "storefront".into(),
            endpoint_url: None,
            call_timeout_ms: 10_000,
            circuit_failures: 5,
            circuit_open_ms: 2_000,
        }
    }
}

/// Cross-origin access for browser storefronts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to call the API (`https://shop.example.com`). When empty, development
    /// mode allows any `localhost` origin and production mode allows none.
    pub allowed_origins: Vec<String>,
}

/// GraphQL subscriptions over WebSocket (`graphql-transport-ws` on `/graphql`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionsConfig {
    /// Whether `/graphql` takes WebSocket connections.
    pub enabled: bool,
    /// The most connections one client (an issued API key, else an address) may hold open on
    /// one replica.
    pub max_connections_per_client: usize,
    /// The most subscriptions one connection may run at once.
    pub max_subscriptions_per_connection: usize,
    /// How long a new connection has to send `connection_init`, in milliseconds.
    pub init_timeout_ms: u64,
    /// How long a connection may run no subscription and send nothing before it is closed,
    /// in milliseconds.
    pub idle_timeout_ms: u64,
    /// The largest message a client may send, in bytes.
    pub max_message_bytes: usize,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_connections_per_client: 10,
            max_subscriptions_per_connection: 20,
            init_timeout_ms: 5_000,
            idle_timeout_ms: 300_000,
            max_message_bytes: 64 * 1024,
        }
    }
}

/// Feeds that arrive by message broker rather than as files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsConfig {
    /// Kafka (Amazon MSK) consumers.
    pub kafka: KafkaConfig,
}

/// How the gateway talks to the brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KafkaSecurity {
    /// No TLS, no authentication (a local broker).
    #[default]
    Plaintext,
    /// TLS, no SASL.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS (MSK's SCRAM and IAM listeners).
    SaslSsl,
}

/// The SASL mechanism, when the security protocol uses SASL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaSasl {
    /// None.
    #[default]
    None,
    /// SCRAM-SHA-256 with `sasl_username` and `sasl_password`.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// SCRAM-SHA-512 with `sasl_username` and `sasl_password` (MSK's SCRAM).
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    /// MSK IAM: SASL OAUTHBEARER with tokens signed by the AWS credentials of the process.
    AwsMskIam,
}

/// Kafka consumers of the JSON Lines feeds: one message is one line of the feed, keyed by the
/// entity's id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Whether this process consumes the feeds.
    pub enabled: bool,
    /// Bootstrap brokers, comma-separated `host:port`.
    pub brokers: String,
    /// The consumer group the replicas share (partitions are divided among them).
    pub group_id: String,
    /// Topic of each feed, by feed name (`catalog`, `inventory`, `order-status`,
    /// `store-inventory`, `delivery-positions`).
    pub topics: std::collections::BTreeMap<String, String>,
    /// Where records that cannot be applied go, with the reason and origin in headers.
    pub dead_letter_topic: String,
    /// The most records applied as one batch.
    pub batch_size: usize,
    /// The most entity groups of a batch applied at once.
    pub concurrency: usize,
    /// Where a group with no committed offset starts: `earliest` or `latest`.
    pub start_from: String,
    /// How long the group waits for a replica that stopped answering before its partitions
    /// go to the others (6,000 to 300,000 ms).
    pub session_timeout_ms: u32,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: KafkaSecurity,
    /// `none`, `scram-sha-256`, `scram-sha-512` or `aws-msk-iam`.
    pub sasl_mechanism: KafkaSasl,
    /// SCRAM user name.
    pub sasl_username: Option<String>,
    /// SCRAM password.
    pub sasl_password: Option<String>,
    /// PEM file of the CAs that sign the brokers' certificates (default: the system's).
    pub ca_location: Option<PathBuf>,
    /// Region of the MSK cluster, for IAM tokens (default: `aws.region`).
    pub aws_region: Option<String>,
}

impl KafkaConfig {
    /// Checks the section: names the first impossible setting.
    pub fn check(&self) -> Result<(), super::ConfigError> {
        let invalid =
            |setting: &'static str, reason: String| super::ConfigError::Invalid { setting, reason };
        for (feed, topic) in &self.topics {
            if let Err(unknown) = storefront_schema::feed_domain(feed) {
                return Err(invalid("feeds.kafka.topics", unknown.to_string()));
            }
            if topic.trim().is_empty() || *topic == self.dead_letter_topic {
                return Err(invalid(
                    "feeds.kafka.topics",
                    format!("feed `{feed}` needs a topic of its own"),
                ));
            }
        }
        if self.enabled && (self.topics.is_empty() || self.brokers.trim().is_empty()) {
            return Err(invalid(
                "feeds.kafka.brokers",
                "consuming needs `brokers` and at least one topic under `feeds.kafka.topics`"
                    .into(),
            ));
        }
        if self.dead_letter_topic.trim().is_empty() {
            return Err(invalid(
                "feeds.kafka.dead_letter_topic",
                "bad records need a dead-letter topic".into(),
            ));
        }
        if !(1..=10_000).contains(&self.batch_size) || !(1..=256).contains(&self.concurrency) {
            return Err(invalid(
                "feeds.kafka.batch_size",
                "batch_size must be 1 to 10000 and concurrency 1 to 256".into(),
            ));
        }
        if !(6_000..=300_000).contains(&self.session_timeout_ms) {
            return Err(invalid(
                "feeds.kafka.session_timeout_ms",
                "must be 6000 to 300000".into(),
            ));
        }
        if !["earliest", "latest"].contains(&self.start_from.as_str()) {
            return Err(invalid(
                "feeds.kafka.start_from",
                format!("`{}` is not `earliest` or `latest`", self.start_from),
            ));
        }
        let sasl = matches!(
            self.security_protocol,
            KafkaSecurity::SaslPlaintext | KafkaSecurity::SaslSsl
        );
        if sasl == (self.sasl_mechanism == KafkaSasl::None) {
            return Err(invalid(
                "feeds.kafka.sasl_mechanism",
                "a SASL security protocol needs a sasl_mechanism, and only it takes one".into(),
            ));
        }
        let scram = matches!(
            self.sasl_mechanism,
            KafkaSasl::ScramSha256 | KafkaSasl::ScramSha512
        );
        if scram && (self.sasl_username.is_none() || self.sasl_password.is_none()) {
            return Err(invalid(
                "feeds.kafka.sasl_username",
                "SCRAM needs sasl_username and sasl_password".into(),
            ));
        }
        Ok(())
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        let topics = ["catalog", "inventory", "order-status", "store-inventory"]
            .into_iter()
            .map(|feed| (feed.to_owned(), format!("storefront.feed.{feed}")))
            .collect();
        Self {
            enabled: false,
            brokers: "127.0.0.1:9092".into(),
            group_id: "storefront-gateway".into(),
            topics,
            dead_letter_topic: "storefront.feed.dead-letter".into(),
            batch_size: 500,
            concurrency: 8,
            start_from: "earliest".into(),
            session_timeout_ms: 10_000,
            security_protocol: KafkaSecurity::Plaintext,
            sasl_mechanism: KafkaSasl::None,
            sasl_username: None,
            sasl_password: None,
            ca_location: None,
            aws_region: None,
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The deepest selection nesting allowed.
    pub max_depth: usize,
    /// The highest query complexity allowed (connections multiply by page size).
    pub max_complexity: usize,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// The most operations one batched request may hold.
    pub max_batch: usize,
    /// Whether introspection is answered (default: in development mode only).
    pub introspection: Option<bool>,
    /// The largest response body, in bytes; a larger answer is replaced by a
    /// `RESPONSE_TOO_LARGE` error.
    pub max_response_bytes: usize,
    /// How long one request may run, in milliseconds; resolvers still running then are stopped
    /// and the request is answered with `TIMEOUT`.
    pub request_timeout_ms: u64,
    /// Most lexical tokens in a document.
    pub max_tokens: usize,
    /// Most aliased fields in a document (fragments expanded).
    pub max_aliases: usize,
    /// Most root fields in an operation.
    pub max_root_fields: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let schema = storefront_schema::QueryLimits::default();
        let documents = storefront_schema::limits::DocumentLimits::default();
        Self {
            max_depth: schema.max_depth,
            max_complexity: schema.max_complexity,
            max_body_bytes: 256 * 1024,
            max_batch: 10,
            introspection: None,
            max_response_bytes: 4 * 1024 * 1024,
            request_timeout_ms: 10_000,
            max_tokens: documents.max_tokens,
            max_aliases: documents.max_aliases,
            max_root_fields: documents.max_root_fields,
        }
    }
}
