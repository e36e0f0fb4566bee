//! Configuration: defaults, then `storefront.toml`, then `STOREFRONT_*` variables and CLI flags
//! (clap reads both; a flag wins over its variable). Unknown keys in the file are an error.

mod domain_sections;
mod overrides;
mod sections;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use overrides::Overrides;
pub use sections::{
    ApiKeyConfig, AwsConfig, CacheConfig, CorsConfig, FeedsConfig, HttpConfig, KafkaConfig,
    KafkaSasl, KafkaSecurity, LimitsConfig, Mode, PersistedConfig, PersistedMode, RateLimitConfig,
    StoreEngine, SubscriptionsConfig, UnknownApiKeys,
};

/// The config file read from the working directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "storefront.toml";

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
    /// The playground and the metrics address.
    pub http: HttpConfig,
    /// Subscriptions over WebSocket.
    pub subscriptions: SubscriptionsConfig,
    /// Feeds over a message broker.
    pub feeds: FeedsConfig,
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
            http: HttpConfig::default(),
            subscriptions: SubscriptionsConfig::default(),
            feeds: FeedsConfig::default(),
            sections: BTreeMap::new(),
        }
    }
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
            (
                "subscriptions.max_connections_per_client",
                self.subscriptions.max_connections_per_client,
            ),
            (
                "subscriptions.max_subscriptions_per_connection",
                self.subscriptions.max_subscriptions_per_connection,
            ),
            (
                "subscriptions.max_message_bytes",
                self.subscriptions.max_message_bytes,
            ),
        ] {
            if value == 0 {
                return Err(invalid(setting, "must be at least 1"));
            }
        }
        for (setting, value) in [
            ("aws.call_timeout_ms", self.aws.call_timeout_ms),
            ("aws.circuit_failures", u64::from(self.aws.circuit_failures)),
            ("aws.circuit_open_ms", self.aws.circuit_open_ms),
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
        if self.cache.ttl_seconds == 0 || self.cache.l1_memory_bytes == 0 {
            return Err(invalid(
                "cache.ttl_seconds",
                "cache.ttl_seconds and cache.l1_memory_bytes must be at least 1",
            ));
        }
        if self.cache.responses
            && (self.cache.response_memory_bytes == 0 || self.cache.response_max_bytes == 0)
        {
            return Err(invalid(
                "cache.response_memory_bytes",
                "cache.response_memory_bytes and cache.response_max_bytes must be at least 1 \
                 (turn the response cache off with cache.responses = false)",
            ));
        }
        if self.rate_limit.budget == 0 || self.rate_limit.window_seconds == 0 {
            return Err(invalid(
                "rate_limit.budget",
                "rate_limit.budget and rate_limit.window_seconds must be at least 1",
            ));
        }
        let persisted = &self.persisted;
        if persisted.apq_ttl_seconds == 0
            || persisted.apq_memory_bytes == 0
            || persisted.registrations_per_hour == 0
        {
            return Err(invalid(
                "persisted.apq_ttl_seconds",
                "persisted.apq_ttl_seconds, apq_memory_bytes and registrations_per_hour must be at least 1",
            ));
        }
        if self.limits.max_response_bytes < 1024 || self.limits.request_timeout_ms == 0 {
            return Err(invalid(
                "limits.max_response_bytes",
                "limits.max_response_bytes must be at least 1024 and limits.request_timeout_ms at least 1",
            ));
        }
        if self.subscriptions.init_timeout_ms == 0 || self.subscriptions.idle_timeout_ms == 0 {
            return Err(invalid(
                "subscriptions.init_timeout_ms",
                "subscriptions.init_timeout_ms and idle_timeout_ms must be at least 1",
            ));
        }
        self.feeds.kafka.check()?;
        for proxy in &self.rate_limit.trusted_proxies {
            if parse_network(proxy).is_none() {
                return Err(ConfigError::Invalid {
                    setting: "rate_limit.trusted_proxies",
                    reason: format!("`{proxy}` is not an address or a CIDR (10.0.0.0/8)"),
                });
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for key in &mut self.rate_limit.api_keys {
            key.sha256 = key.sha256.trim().to_ascii_lowercase();
            let hash_ok =
                key.sha256.len() == 64 && key.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !hash_ok {
                return Err(ConfigError::Invalid {
                    setting: "rate_limit.api_keys",
                    reason: format!(
                        "the key `{}` needs `sha256`: the key's SHA-256 in hex (`storefront-gateway api-key` prints one)",
                        key.name
                    ),
                });
            }
            if key.name.trim().is_empty() || !names.insert(key.name.clone()) {
                return Err(ConfigError::Invalid {
                    setting: "rate_limit.api_keys",
                    reason: format!("every key needs a name of its own (`{}`)", key.name),
                });
            }
            if key.budget == Some(0) {
                return Err(invalid(
                    "rate_limit.api_keys",
                    "a key's budget must be at least 1",
                ));
            }
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

    /// The DynamoDB settings of the store.
    pub fn dynamo_settings(&self) -> storefront_loaders::store::DynamoSettings {
        storefront_loaders::store::DynamoSettings {
            region: self.aws.region.clone(),
            table: self.aws.table.clone(),
            endpoint_url: self.aws.endpoint_url.clone(),
            call_timeout: std::time::Duration::from_millis(self.aws.call_timeout_ms),
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
            introspection: self.introspection(),
        }
    }

    /// Whether introspection is answered: as set, else in development mode only.
    pub fn introspection(&self) -> bool {
        self.limits
            .introspection
            .unwrap_or(self.mode == Mode::Development)
    }

    /// Whether GraphiQL is served: as set, else in development mode only.
    pub fn graphiql(&self) -> bool {
        self.http.graphiql.unwrap_or(self.mode == Mode::Development)
    }

    /// Whether `/metrics` is served on the public port: in development mode without a
    /// metrics address of its own.
    pub fn public_metrics(&self) -> bool {
        self.mode == Mode::Development && self.http.metrics_listen.is_none()
    }

    /// The trusted proxies' networks.
    pub fn trusted_proxies(&self) -> Vec<ipnet::IpNet> {
        self.rate_limit
            .trusted_proxies
            .iter()
            .filter_map(|p| parse_network(p))
            .collect()
    }
}

/// An address (a network of one) or a CIDR.
fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
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

    #[test]
    fn kafka_settings_that_cannot_work_are_named() {
        let cases = [
            (
                "enabled = true\n[feeds.kafka.topics]\n",
                "feeds.kafka.brokers",
            ),
            (
                "[feeds.kafka.topics]\nwishlist = \"t\"\n",
                "feeds.kafka.topics",
            ),
            (
                "dead_letter_topic = \"t\"\n[feeds.kafka.topics]\ninventory = \"t\"\n",
                "feeds.kafka.topics",
            ),
            ("batch_size = 0\n", "feeds.kafka.batch_size"),
            ("start_from = \"middle\"\n", "feeds.kafka.start_from"),
            (
                "security_protocol = \"sasl_ssl\"\n",
                "feeds.kafka.sasl_mechanism",
            ),
            (
                "sasl_mechanism = \"aws-msk-iam\"\n",
                "feeds.kafka.sasl_mechanism",
            ),
            (
                "security_protocol = \"sasl_ssl\"\nsasl_mechanism = \"scram-sha-512\"\n",
                "feeds.kafka.sasl_username",
            ),
        ];
        for (section, setting) in cases {
            let text = format!("[feeds.kafka]\n{section}");
            let err = Config::from_toml(&text, Path::new("x.toml"))
                .expect("parses")
                .validated()
                .expect_err(section);
            assert!(err.to_string().contains(setting), "{section}: {err}");
        }
        let msk = Config::from_toml(
            "[feeds.kafka]\nenabled = true\nbrokers = \"b-1.msk:9098\"\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"aws-msk-iam\"\n",
            Path::new("x.toml"),
        )
        .expect("parses")
        .validated()
        .expect("MSK IAM is a whole configuration");
        assert_eq!(
            msk.feeds.kafka.topics.len(),
            4,
            "every feed has a default topic"
        );
    }
}
