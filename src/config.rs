//! Configuration: defaults, then `storefront.toml`, then `STOREFRONT_*` variables and CLI flags
//! (clap reads both; a flag wins over its variable). Unknown keys in the file are an error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Deserialize;

/// The config file read from the working directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "storefront.toml";

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

/// Where the store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// The embedded redb engine, in a file under the data dir.
    #[default]
    Embedded,
    /// The embedded engine in memory: nothing survives a restart.
    Memory,
    /// DynamoDB (settings under `[aws]`).
    Aws,
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
}

impl Default for PersistedConfig {
    fn default() -> Self {
        Self {
            manifest_dir: PathBuf::from("schema/persisted"),
            mode: PersistedMode::Allow,
            apq: true,
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
    /// The window, in seconds.
    pub window_seconds: u64,
    /// Take the client's address from `X-Forwarded-For` (only behind a proxy you run).
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            budget: 250_000,
            window_seconds: 60,
            trust_forwarded_for: false,
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
    /// Most items kept in-process.
    pub l1_capacity: u64,
    /// Seconds an entry may live: the bound on staleness when an invalidation is lost.
    pub ttl_seconds: u64,
    /// Prefix of every Redis key; change it to share one Redis between deployments.
    pub namespace: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            redis_url: None,
            redis_cluster: false,
            l1_capacity: 200_000,
            ttl_seconds: 300,
            namespace: "storefront:v1:".into(),
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
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            region: None,
            table: "storefront".into(),
            endpoint_url: None,
        }
    }
}

/// Which identity provider signs customers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdentityEngine {
    /// The gateway's own provider: accounts in the store, tokens signed with its own key.
    #[default]
    Embedded,
    /// A Cognito user pool (settings under `[identity.cognito]`).
    Cognito,
}

/// The Cognito user pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CognitoConfig {
    /// Region of the pool; defaults to `aws.region`.
    pub region: Option<String>,
    /// The pool id, such as `eu-west-1_AbCdEf123`.
    pub user_pool_id: String,
    /// The app client id (it must allow USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH).
    pub client_id: String,
    /// The app client secret, when the client has one (better set by
    /// `STOREFRONT_COGNITO_CLIENT_SECRET` than in a file).
    pub client_secret: Option<String>,
    /// Endpoint override (moto, LocalStack).
    pub endpoint_url: Option<String>,
}

/// Customer identity: the provider and how access tokens are checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// `embedded` or `cognito`.
    pub engine: IdentityEngine,
    /// The `iss` tokens must carry. Default: `storefront-gateway` (embedded), the pool's
    /// `https://cognito-idp.<region>.amazonaws.com/<pool>` (Cognito).
    pub issuer: Option<String>,
    /// Where the signing keys are published (Cognito). Default: `<issuer>/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// The client tokens must be issued to (`client_id` or `aud`). Default: `storefront`
    /// (embedded), the app client id (Cognito).
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// The least time between two key-set fetches for unknown key ids, in seconds.
    pub jwks_refetch_seconds: u64,
    /// Access-token lifetime of the embedded provider, in seconds.
    pub access_token_ttl_seconds: u64,
    /// Refresh-token lifetime of the embedded provider, in days.
    pub refresh_token_ttl_days: u64,
    /// Embedded provider: accounts need no confirmation code.
    pub auto_confirm: bool,
    /// Embedded provider: the RS256 signing key (PKCS#8 PEM), created when missing. Default:
    /// `<data_dir>/identity-signing-key.pem` for the embedded store, a key kept in the table
    /// for DynamoDB (so every replica signs alike), a fresh key for the memory store.
    pub key_file: Option<PathBuf>,
    /// Failed sign-ins (or codes) allowed per email and per address in one window.
    pub max_failed_attempts: u64,
    /// The failure-counting window, in seconds.
    pub failed_attempts_window_seconds: u64,
    /// The Cognito user pool.
    pub cognito: CognitoConfig,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            engine: IdentityEngine::Embedded,
            issuer: None,
            jwks_url: None,
            audience: None,
            leeway_seconds: 60,
            jwks_refetch_seconds: 60,
            access_token_ttl_seconds: 3600,
            refresh_token_ttl_days: 30,
            auto_confirm: false,
            key_file: None,
            max_failed_attempts: 5,
            failed_attempts_window_seconds: 900,
            cognito: CognitoConfig::default(),
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
    /// Whether introspection is answered.
    pub introspection: bool,
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
            introspection: schema.introspection,
            max_tokens: documents.max_tokens,
            max_aliases: documents.max_aliases,
            max_root_fields: documents.max_root_fields,
        }
    }
}

/// The whole configuration of the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of the embedded store and other local state.
    pub data_dir: PathBuf,
    /// Development or production.
    pub mode: Mode,
    /// Which store engine.
    pub store: StoreEngine,
    /// Base URL of product images (the S3 / CloudFront origin).
    pub asset_base_url: String,
    /// Seed the demo catalog on start when the store is empty.
    pub seed_demo: bool,
    /// How many products the demo catalog has.
    pub demo_products: usize,
    /// Cross-origin access.
    pub cors: CorsConfig,
    /// Request limits.
    pub limits: LimitsConfig,
    /// AWS settings (used by the engines set to `aws`).
    pub aws: AwsConfig,
    /// The two-tier cache.
    pub cache: CacheConfig,
    /// Persisted operations.
    pub persisted: PersistedConfig,
    /// Rate limiting.
    pub rate_limit: RateLimitConfig,
    /// Customer identity.
    pub identity: IdentityConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            data_dir: PathBuf::from("./data"),
            mode: Mode::Development,
            store: StoreEngine::Embedded,
            asset_base_url: "https://assets.storefront.example".into(),
            seed_demo: true,
            demo_products: 1000,
            cors: CorsConfig::default(),
            limits: LimitsConfig::default(),
            aws: AwsConfig::default(),
            cache: CacheConfig::default(),
            persisted: PersistedConfig::default(),
            rate_limit: RateLimitConfig::default(),
            identity: IdentityConfig::default(),
        }
    }
}

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
    /// Base URL of product images.
    #[arg(long, env = "STOREFRONT_ASSET_BASE_URL", global = true)]
    pub asset_base_url: Option<String>,
    /// Seed the demo catalog on start when the store is empty.
    #[arg(long, env = "STOREFRONT_SEED_DEMO", global = true)]
    pub seed_demo: Option<bool>,
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
    /// Take rate-limited clients' addresses from X-Forwarded-For (behind your own proxy).
    #[arg(long, env = "STOREFRONT_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: Option<bool>,
    /// Redis URL of the shared cache tier (ElastiCache).
    #[arg(long, env = "STOREFRONT_REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Identity provider: `embedded` or `cognito`.
    #[arg(long, env = "STOREFRONT_IDENTITY_ENGINE", global = true)]
    pub identity_engine: Option<IdentityEngine>,
    /// The `iss` access tokens must carry.
    #[arg(long, env = "STOREFRONT_IDENTITY_ISSUER", global = true)]
    pub identity_issuer: Option<String>,
    /// Where the token signing keys are published.
    #[arg(long, env = "STOREFRONT_IDENTITY_JWKS_URL", global = true)]
    pub identity_jwks_url: Option<String>,
    /// Embedded provider: accounts need no confirmation code.
    #[arg(long, env = "STOREFRONT_IDENTITY_AUTO_CONFIRM", global = true)]
    pub identity_auto_confirm: Option<bool>,
    /// Cognito user pool id.
    #[arg(long, env = "STOREFRONT_COGNITO_USER_POOL_ID", global = true)]
    pub cognito_user_pool_id: Option<String>,
    /// Cognito app client id.
    #[arg(long, env = "STOREFRONT_COGNITO_CLIENT_ID", global = true)]
    pub cognito_client_id: Option<String>,
    /// Cognito app client secret.
    #[arg(
        long,
        env = "STOREFRONT_COGNITO_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub cognito_client_secret: Option<String>,
    /// Cognito endpoint override, e.g. moto's URL.
    #[arg(long, env = "STOREFRONT_COGNITO_ENDPOINT_URL", global = true)]
    pub cognito_endpoint_url: Option<String>,
    /// Origins allowed to call the API, comma-separated.
    #[arg(
        long,
        env = "STOREFRONT_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Option<Vec<String>>,
}

/// A setting that is wrong, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key and position.
        message: String,
    },
    /// A setting has a value that cannot work.
    #[error("invalid setting `{setting}`: {reason}")]
    Invalid {
        /// The setting's name in the config file.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Parses a config file's text.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Reads the config file (the given one, or `storefront.toml` when present), applies the
    /// overrides and checks the result.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let path = overrides.config.clone().or_else(|| {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            default.exists().then_some(default)
        });
        let base = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::from_toml(&text, &path)?
            }
            None => Self::default(),
        };
        base.with(overrides).validated()
    }

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
        if let Some(v) = &o.asset_base_url {
            self.asset_base_url = v.clone();
        }
        if let Some(v) = o.seed_demo {
            self.seed_demo = v;
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
        if let Some(v) = o.trust_forwarded_for {
            self.rate_limit.trust_forwarded_for = v;
        }
        if let Some(v) = o.persisted_mode {
            self.persisted.mode = v;
        }
        if let Some(v) = &o.redis_url {
            self.cache.redis_url = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = o.identity_engine {
            self.identity.engine = v;
        }
        if let Some(v) = &o.identity_issuer {
            self.identity.issuer = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = &o.identity_jwks_url {
            self.identity.jwks_url = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = o.identity_auto_confirm {
            self.identity.auto_confirm = v;
        }
        if let Some(v) = &o.cognito_user_pool_id {
            self.identity.cognito.user_pool_id = v.clone();
        }
        if let Some(v) = &o.cognito_client_id {
            self.identity.cognito.client_id = v.clone();
        }
        if let Some(v) = &o.cognito_client_secret {
            self.identity.cognito.client_secret = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = &o.cognito_endpoint_url {
            self.identity.cognito.endpoint_url = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = &o.cors_origins {
            self.cors.allowed_origins = v.iter().filter(|s| !s.is_empty()).cloned().collect();
        }
        self
    }

    /// Checks every setting, normalising where harmless (trailing slashes).
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        let invalid = |setting, reason: &str| ConfigError::Invalid {
            setting,
            reason: reason.to_owned(),
        };
        let base = self.asset_base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.len() < 10 {
            return Err(invalid(
                "asset_base_url",
                "must be an absolute http(s) URL such as https://cdn.example.com",
            ));
        }
        self.asset_base_url = base;
        for origin in &mut self.cors.allowed_origins {
            let trimmed = origin.trim().trim_end_matches('/').to_owned();
            let valid = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
                && !trimmed[trimmed.find("://").map_or(0, |i| i + 3)..].contains('/')
                && http::HeaderValue::from_str(&trimmed).is_ok();
            if !valid {
                return Err(ConfigError::Invalid {
                    setting: "cors.allowed_origins",
                    reason: format!("`{origin}` is not an origin (scheme://host[:port], no path)"),
                });
            }
            *origin = trimmed;
        }
        let limits = &self.limits;
        for (setting, value) in [
            ("limits.max_depth", limits.max_depth),
            ("limits.max_complexity", limits.max_complexity),
            ("limits.max_body_bytes", limits.max_body_bytes),
            ("limits.max_batch", limits.max_batch),
            ("limits.max_tokens", limits.max_tokens),
            ("limits.max_aliases", limits.max_aliases),
            ("limits.max_root_fields", limits.max_root_fields),
        ] {
            if value == 0 {
                return Err(invalid(setting, "must be at least 1"));
            }
        }
        let table = &self.aws.table;
        let table_ok = (3..=255).contains(&table.len())
            && table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !table_ok {
            return Err(invalid(
                "aws.table",
                "must be 3-255 letters, digits, '_', '-' or '.' (a DynamoDB table name)",
            ));
        }
        if let Some(url) = &self.aws.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("aws.endpoint_url", "must be an http(s) URL"));
        }
        if self
            .aws
            .region
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            return Err(invalid("aws.region", "must not be empty"));
        }
        if let Some(url) = &self.cache.redis_url
            && !url
                .split(',')
                .all(|u| u.trim().starts_with("redis://") || u.trim().starts_with("rediss://"))
        {
            return Err(invalid(
                "cache.redis_url",
                "must be redis://host:port (or rediss:// for TLS)",
            ));
        }
        if self.cache.ttl_seconds == 0 || self.cache.l1_capacity == 0 {
            return Err(invalid(
                "cache.ttl_seconds",
                "cache.ttl_seconds and cache.l1_capacity must be at least 1",
            ));
        }
        if self.rate_limit.budget == 0 || self.rate_limit.window_seconds == 0 {
            return Err(invalid(
                "rate_limit.budget",
                "rate_limit.budget and rate_limit.window_seconds must be at least 1",
            ));
        }
        let identity = &self.identity;
        for (setting, value) in [
            (
                "identity.jwks_refetch_seconds",
                identity.jwks_refetch_seconds,
            ),
            (
                "identity.access_token_ttl_seconds",
                identity.access_token_ttl_seconds,
            ),
            (
                "identity.refresh_token_ttl_days",
                identity.refresh_token_ttl_days,
            ),
            ("identity.max_failed_attempts", identity.max_failed_attempts),
            (
                "identity.failed_attempts_window_seconds",
                identity.failed_attempts_window_seconds,
            ),
        ] {
            if value == 0 {
                return Err(invalid(setting, "must be at least 1"));
            }
        }
        if identity.leeway_seconds > 600 {
            return Err(invalid("identity.leeway_seconds", "must be at most 600"));
        }
        if identity.refresh_token_ttl_days > 3650 || identity.access_token_ttl_seconds > 86_400 {
            return Err(invalid(
                "identity.access_token_ttl_seconds",
                "access tokens live at most a day and refresh tokens at most 3650 days",
            ));
        }
        if let Some(url) = &identity.jwks_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("identity.jwks_url", "must be an http(s) URL"));
        }
        if identity.engine == IdentityEngine::Cognito {
            let cognito = &identity.cognito;
            if cognito.user_pool_id.trim().is_empty() {
                return Err(invalid(
                    "identity.cognito.user_pool_id",
                    "the Cognito engine needs the user pool id (STOREFRONT_COGNITO_USER_POOL_ID)",
                ));
            }
            if cognito.client_id.trim().is_empty() {
                return Err(invalid(
                    "identity.cognito.client_id",
                    "the Cognito engine needs the app client id (STOREFRONT_COGNITO_CLIENT_ID)",
                ));
            }
            if self.cognito_region().is_none() {
                return Err(invalid(
                    "identity.cognito.region",
                    "the Cognito engine needs a region (this or `aws.region`)",
                ));
            }
        }
        if self.demo_products == 0 {
            return Err(invalid("demo_products", "must be at least 1"));
        }
        Ok(self)
    }

    /// The Cognito pool's region: its own setting, else the shared AWS one.
    pub fn cognito_region(&self) -> Option<String> {
        self.identity
            .cognito
            .region
            .clone()
            .or_else(|| self.aws.region.clone())
            .filter(|r| !r.trim().is_empty())
    }

    /// The issuer access tokens must carry.
    pub fn token_issuer(&self) -> String {
        if let Some(issuer) = &self.identity.issuer {
            return issuer.clone();
        }
        match self.identity.engine {
            IdentityEngine::Embedded => "storefront-gateway".into(),
            IdentityEngine::Cognito => format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                self.cognito_region().unwrap_or_default(),
                self.identity.cognito.user_pool_id
            ),
        }
    }

    /// The client access tokens must be issued to.
    pub fn token_audience(&self) -> String {
        if let Some(audience) = &self.identity.audience {
            return audience.clone();
        }
        match self.identity.engine {
            IdentityEngine::Embedded => "storefront".into(),
            IdentityEngine::Cognito => self.identity.cognito.client_id.clone(),
        }
    }

    /// The DynamoDB settings of the store.
    pub fn dynamo_settings(&self) -> storefront_loaders::store::DynamoSettings {
        storefront_loaders::store::DynamoSettings {
            region: self.aws.region.clone(),
            table: self.aws.table.clone(),
            endpoint_url: self.aws.endpoint_url.clone(),
        }
    }

    /// The document limits checked before a request runs.
    pub fn document_limits(&self) -> storefront_schema::limits::DocumentLimits {
        storefront_schema::limits::DocumentLimits {
            max_tokens: self.limits.max_tokens,
            max_aliases: self.limits.max_aliases,
            max_root_fields: self.limits.max_root_fields,
        }
    }

    /// The schema's query limits.
    pub fn query_limits(&self) -> storefront_schema::QueryLimits {
        storefront_schema::QueryLimits {
            max_depth: self.limits.max_depth,
            max_complexity: self.limits.max_complexity,
            introspection: self.limits.introspection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_in_the_config_file_are_errors() {
        let err = Config::from_toml(
            "listen = \"127.0.0.1:1\"\nlisten_port = 3\n",
            Path::new("x.toml"),
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("listen_port"), "{err}");
        let err = Config::from_toml("[limits]\nmax_deph = 3\n", Path::new("x.toml"))
            .expect_err("unknown nested key");
        assert!(err.to_string().contains("max_deph"), "{err}");
    }

    #[test]
    fn overrides_win_over_the_file() {
        let file = Config::from_toml(
            "listen = \"127.0.0.1:5000\"\nmode = \"production\"\n[cors]\nallowed_origins = [\"https://a.example\"]\n",
            Path::new("x.toml"),
        )
        .expect("valid");
        assert_eq!(file.listen.port(), 5000);
        let merged = file
            .with(&Overrides {
                listen: Some("127.0.0.1:6000".parse().expect("addr")),
                cors_origins: Some(vec!["https://b.example/".into()]),
                ..Overrides::default()
            })
            .validated()
            .expect("valid");
        assert_eq!(merged.listen.port(), 6000);
        assert_eq!(merged.mode, Mode::Production);
        assert_eq!(merged.cors.allowed_origins, ["https://b.example"]);
    }

    #[test]
    fn invalid_settings_name_the_setting() {
        let bad = Config {
            asset_base_url: "cdn".into(),
            ..Config::default()
        };
        let err = bad.validated().expect_err("relative URL");
        assert!(err.to_string().contains("asset_base_url"));
        let bad = Config {
            cors: CorsConfig {
                allowed_origins: vec!["https://shop.example/path".into()],
            },
            ..Config::default()
        };
        assert!(
            bad.validated()
                .expect_err("path")
                .to_string()
                .contains("cors.allowed_origins")
        );
    }
}
