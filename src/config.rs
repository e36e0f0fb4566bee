//! Configuration: defaults, then `storefront.toml`, then `STOREFRONT_*` variables and CLI flags
//! (clap reads both; a flag wins over its variable). Unknown keys in the file are an error.

use std::collections::BTreeMap;
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

pub use storefront_loaders::store::StoreEngine;

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

/// The whole configuration of the gateway: its own settings, and one section per registered
/// domain (kept as TOML and checked by the domain that owns it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// The domains' sections (`[catalog]`, `[identity]`, …), by name.
    #[serde(skip)]
    pub sections: BTreeMap<String, toml::Table>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            data_dir: PathBuf::from("./data"),
            mode: Mode::Development,
            store: StoreEngine::Embedded,
            cors: CorsConfig::default(),
            limits: LimitsConfig::default(),
            aws: AwsConfig::default(),
            cache: CacheConfig::default(),
            persisted: PersistedConfig::default(),
            rate_limit: RateLimitConfig::default(),
            sections: BTreeMap::new(),
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
    /// A domain's section is wrong; the message names the setting.
    #[error("{0}")]
    Domain(String),
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
    /// Parses a config file's text: the domains' sections are taken aside for their
    /// domains to check, and every other key must be one of the gateway's own.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_owned(),
            message,
        };
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        let mut sections = BTreeMap::new();
        for domain in storefront_schema::DOMAINS {
            match table.remove(domain.name()) {
                None => {}
                Some(toml::Value::Table(section)) => {
                    sections.insert(domain.name().to_owned(), section);
                }
                Some(_) => {
                    return Err(parse_error(format!(
                        "`{}` must be a section ([{}])",
                        domain.name(),
                        domain.name()
                    )));
                }
            }
        }
        let mut config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| parse_error(e.to_string()))?;
        config.sections = sections;
        Ok(config)
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
        base.with(overrides)
            .with_domain_variables(std::env::vars())?
            .validated()
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
        let shared = self.shared_settings();
        for domain in storefront_schema::DOMAINS {
            let section = self
                .sections
                .get(domain.name())
                .cloned()
                .unwrap_or_default();
            domain
                .check(&section, &shared)
                .map_err(|e| ConfigError::Domain(e.to_string()))?;
        }
        Ok(self)
    }

    /// The gateway-wide settings domains depend on.
    pub fn shared_settings(&self) -> storefront_loaders::domain::SharedSettings {
        storefront_loaders::domain::SharedSettings {
            store: self.store,
            data_dir: self.data_dir.clone(),
            aws_region: self.aws.region.clone(),
            namespace: self.cache.namespace.clone(),
        }
    }

    /// The section of the domain `name` (empty when the file has none).
    pub fn section(&self, name: &str) -> toml::Table {
        self.sections.get(name).cloned().unwrap_or_default()
    }

    /// Sets `key` (dotted for sub-tables: `cognito.client_id`) in the domain section `name`;
    /// for tests and tools that build a config in code.
    pub fn set(&mut self, name: &str, key: &str, value: impl Into<toml::Value>) -> &mut Self {
        let section = self.sections.entry(name.to_owned()).or_default();
        storefront_loaders::domain::set_key(section, key, Some(value.into()));
        self
    }

    /// This config with `key` set in the domain section `name` (see [`Config::set`]).
    pub fn with_section(mut self, name: &str, key: &str, value: impl Into<toml::Value>) -> Self {
        self.set(name, key, value);
        self
    }

    /// Applies the domains' `STOREFRONT_*` variables found among `vars`.
    pub fn with_domain_variables(
        mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        for domain in storefront_schema::DOMAINS {
            for variable in domain.variables() {
                let Some(text) = vars.get(variable.name) else {
                    continue;
                };
                let value = storefront_loaders::domain::variable_value(variable, text)
                    .map_err(|e| ConfigError::Domain(e.to_string()))?;
                let section = self.sections.entry(domain.name().to_owned()).or_default();
                storefront_loaders::domain::set_key(section, variable.key, value);
            }
        }
        Ok(self)
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
        let domain = Config::from_toml("[identity]\nauto_confirmed = true\n", Path::new("x.toml"))
            .expect("domain sections are parsed by their domains")
            .validated()
            .expect_err("unknown key of a domain's section");
        assert!(err_names(&domain, "auto_confirmed"), "{domain}");
        let unknown = Config::from_toml("[wishlist]\nsize = 3\n", Path::new("x.toml"))
            .expect_err("a section no domain owns");
        assert!(unknown.to_string().contains("wishlist"), "{unknown}");
    }

    fn err_names(err: &ConfigError, name: &str) -> bool {
        err.to_string().contains(name)
    }

    #[test]
    fn domain_variables_set_their_sections() {
        let config = Config::default()
            .with_domain_variables([
                ("STOREFRONT_SEED_DEMO".to_owned(), "false".to_owned()),
                ("STOREFRONT_COGNITO_CLIENT_ID".to_owned(), "abc".to_owned()),
            ])
            .expect("valid");
        assert_eq!(
            config.section("catalog").get("seed_demo"),
            Some(&toml::Value::Boolean(false))
        );
        assert_eq!(
            config.section("identity").to_string(),
            "[cognito]\nclient_id = \"abc\"\n"
        );
        let err = Config::default()
            .with_domain_variables([("STOREFRONT_SEED_DEMO".to_owned(), "no".to_owned())])
            .expect_err("not a bool");
        assert!(err.to_string().contains("STOREFRONT_SEED_DEMO"), "{err}");
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
        let mut bad = Config::default();
        bad.set("catalog", "asset_base_url", "cdn");
        let err = bad.validated().expect_err("relative URL");
        assert!(err.to_string().contains("catalog.asset_base_url"), "{err}");
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
