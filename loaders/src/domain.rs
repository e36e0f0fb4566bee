//! What a domain is to the gateway: a config section of its own, engines it opens from the
//! shared parts, the services it hands its resolvers, the keys it lets the cache share, and
//! the feeds and demo data it can load. The gateway (HTTP, process, CLI) sees domains only
//! through [`Domain`]; the list of domains is registered once, in the schema crate.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::Metrics;
use crate::cache::RedisTier;
use crate::store::{Changes, Key, StoreEngine, Table};

/// A setting that is wrong, named as in the config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{setting}`: {reason}")]
pub struct SettingError {
    /// The setting's name in the config file (`identity.cognito.client_id`).
    pub setting: String,
    /// Why.
    pub reason: String,
}

impl SettingError {
    /// An error about `setting`.
    pub fn new(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}

/// A domain that cannot open its engines; the message names the setting to look at.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(pub String);

impl OpenError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<SettingError> for OpenError {
    fn from(e: SettingError) -> Self {
        Self(e.to_string())
    }
}

/// A domain's config section, typed: unknown keys are errors (`deny_unknown_fields`), and
/// [`DomainConfig::validate`] checks what types cannot.
pub trait DomainConfig: DeserializeOwned + serde::Serialize + Default {
    /// Checks the values; `section` is the section's name, for error messages.
    fn validate(&self, section: &str, shared: &SharedSettings) -> Result<(), SettingError>;
}

/// Parses and validates a domain's section (absent keys take their defaults).
pub fn parse_section<C: DomainConfig>(
    name: &str,
    section: &toml::Table,
    shared: &SharedSettings,
) -> Result<C, SettingError> {
    let config = C::deserialize(toml::Value::Table(section.clone()))
        .map_err(|e| SettingError::new(name, e.message().to_owned()))?;
    config.validate(name, shared)?;
    Ok(config)
}

/// The gateway-wide settings a domain may depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// Which store engine holds the data.
    pub store: StoreEngine,
    /// Where local state lives (the embedded store, keys, indexes).
    pub data_dir: PathBuf,
    /// The shared AWS region, when set.
    pub aws_region: Option<String>,
    /// Prefix of every Redis key.
    pub namespace: String,
}

/// What every domain opens its engines from.
pub struct Shared {
    /// The gateway-wide settings.
    pub settings: SharedSettings,
    /// The store (instrumented, and cached where domains allow).
    pub table: Arc<dyn Table>,
    /// The same store without the item cache and outside the request metrics, for
    /// background copies that must see every write as it is (the search index).
    pub uncached: Arc<dyn Table>,
    /// Redis (ElastiCache), when configured.
    pub redis: Option<Arc<RedisTier>>,
    /// The metrics registry; domains register their own metrics in it.
    pub metrics: Arc<Metrics>,
    /// The keys the store writes, as they are written (here and, with Redis, on other
    /// replicas).
    pub changes: Changes,
    /// Parts a caller plugs in instead of a domain's default (tests capture the mail of
    /// one-time codes this way).
    pub plugged: Services,
}

/// A type map of the services domains hand their resolvers (one value per type). Shared:
/// every request holds the app, and with it this map, so a clone is one reference count.
#[derive(Clone, Default)]
pub struct Services(Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Services {
    /// Adds (or replaces) the service of type `T` (at start-up: a map already shared is
    /// copied first).
    pub fn insert<T: Any + Send + Sync>(&mut self, service: T) {
        Arc::make_mut(&mut self.0).insert(TypeId::of::<T>(), Arc::new(service));
    }

    /// The service of type `T`, when a domain provided one.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>())?.downcast_ref()
    }
}

/// Who a request speaks for, as the domain that checked its credentials put it (the
/// identity domain's `Viewer`); resolvers of that domain take it back out by type.
#[derive(Clone)]
pub struct Principal {
    who: Arc<dyn Any + Send + Sync>,
    expires_at: Option<u64>,
}

impl Principal {
    /// Wraps a domain's caller type.
    pub fn new<T: Any + Send + Sync>(who: T) -> Self {
        Self {
            who: Arc::new(who),
            expires_at: None,
        }
    }

    /// The same caller, whose credentials stop being valid at `epoch_seconds` (a
    /// long-lived connection ends then).
    pub fn expiring_at(self, epoch_seconds: u64) -> Self {
        Self {
            expires_at: Some(epoch_seconds),
            ..self
        }
    }

    /// When the credentials stop being valid (epoch seconds), when they do.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    /// The caller, when it is a `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.who.downcast_ref()
    }
}

/// Why a request's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The credentials are not valid (401).
    Unauthenticated(String),
    /// They cannot be checked right now (503).
    Unavailable(String),
}

/// Checks a request's bearer token before it runs (a domain provides it as
/// `Arc<dyn Authenticator>` among its services).
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync {
    /// The caller the token speaks for, or why it is refused.
    async fn authenticate(&self, token: &str) -> Result<Principal, Refusal>;
    /// Notes a malformed `Authorization` header (refused before any token check).
    fn malformed(&self) {}
}

/// JSON documents a domain publishes under `/.well-known/` (the identity domain's
/// `jwks.json`), by file name.
#[derive(Debug, Clone, Default)]
pub struct PublicDocuments(pub HashMap<&'static str, Arc<serde_json::Value>>);

impl PublicDocuments {
    /// Publishes `document` as `name`.
    pub fn insert(&mut self, name: &'static str, document: serde_json::Value) {
        self.0.insert(name, Arc::new(document));
    }
}

/// How a `STOREFRONT_*` variable's text becomes a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Text, as it is (empty: the setting is removed, taking its default).
    Text,
    /// `true` or `false`.
    Bool,
    /// A whole number.
    Integer,
}

/// An environment variable that sets a key of a domain's section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The variable (`STOREFRONT_IDENTITY_ENGINE`).
    pub name: &'static str,
    /// The key within the domain's section, dotted for sub-tables (`cognito.client_id`).
    pub key: &'static str,
    /// How its text is read.
    pub kind: ValueKind,
}

/// The summary of a demo seed or a feed import, for people.
pub type Summary = String;

/// A feed import's outcome: the summary and the failures by line.
#[derive(Debug, Clone, Default)]
pub struct FeedReport {
    /// The line a summary of what changed.
    pub summary: String,
    /// `(line, reason)` of every line that was not applied.
    pub failures: Vec<(usize, String)>,
    /// The lines among `failures` that failed for a reason of the moment (the store did not
    /// answer, a concurrent write won): applying them again later may succeed, so a feed
    /// consumer retries them rather than setting them aside as bad records.
    pub retry: Vec<usize>,
}

/// A domain of the gateway.
#[async_trait::async_trait]
pub trait Domain: Send + Sync + 'static {
    /// The name of its config section (`[catalog]`).
    fn name(&self) -> &'static str;

    /// The `STOREFRONT_*` variables that set its settings.
    fn variables(&self) -> &'static [Variable] {
        &[]
    }

    /// Checks its section: unknown keys and impossible values are errors.
    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError>;

    /// Whether an item of this domain may be cached and shared between requests and
    /// replicas (public data only: never a customer's).
    fn cacheable(&self, _key: &Key) -> bool {
        false
    }

    /// Whether a cached response that read this secondary-index partition can be followed:
    /// every write that changes the partition names it in [`Domain::listed_in`].
    fn tracks_partition(&self, _partition: &str) -> bool {
        false
    }

    /// The secondary-index partitions an item with this key is listed in (for the response
    /// cache: a write of the item changes the answers that read those partitions).
    fn listed_in(&self, _key: &Key) -> Vec<String> {
        vec![]
    }

    /// Opens its engines and adds its services for the resolvers.
    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError>;

    /// Work once the gateway is about to serve (demo data on a fresh store, say); returns a
    /// line for the log when it did something.
    async fn start(
        &self,
        _section: &toml::Table,
        _services: &Services,
    ) -> Result<Option<Summary>, OpenError> {
        Ok(None)
    }

    /// Work before the process exits, once requests have drained (a last relay pass, say);
    /// returns a line for the log when it did something. The gateway bounds the time it
    /// waits for every domain together.
    async fn stop(&self, _section: &toml::Table, _services: &Services) -> Option<Summary> {
        None
    }

    /// Writes its part of a demo data set of `size` (products, for the catalog).
    async fn seed(&self, _services: &Services, _size: usize) -> Result<Option<Summary>, OpenError> {
        Ok(None)
    }

    /// The JSON Lines feeds it imports (`storefront-gateway import <feed> FILE`).
    fn feeds(&self) -> &'static [&'static str] {
        &[]
    }

    /// The fields of a record of `feed` that name its entity (`["sku"]` for inventory): a
    /// Kafka message's key is their values joined by `/`, so that one entity's records share
    /// a partition and keep their order.
    fn feed_key(&self, _feed: &str) -> &'static [&'static str] {
        &[]
    }

    /// Applies one of its feeds.
    async fn import(
        &self,
        _services: &Services,
        feed: &str,
        _lines: Box<dyn std::io::BufRead + Send>,
    ) -> Result<FeedReport, OpenError> {
        Err(OpenError::new(format!("no feed named `{feed}`")))
    }
}

/// Reads `kind` text from a variable into a TOML value.
pub fn variable_value(
    variable: &Variable,
    text: &str,
) -> Result<Option<toml::Value>, SettingError> {
    let invalid = |what: &str| SettingError::new(variable.name, format!("`{text}` is not {what}"));
    Ok(match variable.kind {
        ValueKind::Text if text.is_empty() => None,
        ValueKind::Text => Some(toml::Value::String(text.to_owned())),
        ValueKind::Bool => Some(toml::Value::Boolean(
            text.parse().map_err(|_| invalid("true or false"))?,
        )),
        ValueKind::Integer => Some(toml::Value::Integer(
            text.parse().map_err(|_| invalid("a whole number"))?,
        )),
    })
}

/// Sets (or, with `None`, removes) the dotted `key` in `section`.
pub fn set_key(section: &mut toml::Table, key: &str, value: Option<toml::Value>) {
    match key.split_once('.') {
        Some((table, rest)) => {
            let entry = section
                .entry(table.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set_key(inner, rest, value);
            }
        }
        None => match value {
            Some(value) => {
                section.insert(key.to_owned(), value);
            }
            None => {
                section.remove(key);
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_set_typed_dotted_keys_and_empty_text_removes_one() {
        let mut section = toml::Table::new();
        let var = |kind, key| Variable {
            name: "STOREFRONT_X",
            key,
            kind,
        };
        let flag = var(ValueKind::Bool, "cognito.enabled");
        set_key(
            &mut section,
            flag.key,
            variable_value(&flag, "true").expect("bool"),
        );
        let count = var(ValueKind::Integer, "count");
        set_key(
            &mut section,
            count.key,
            variable_value(&count, "7").expect("int"),
        );
        assert_eq!(
            section.to_string(),
            "count = 7\n\n[cognito]\nenabled = true\n"
        );
        let text = var(ValueKind::Text, "count");
        set_key(
            &mut section,
            text.key,
            variable_value(&text, "").expect("text"),
        );
        assert!(!section.contains_key("count"));
        let err = variable_value(&flag, "yes").expect_err("not a bool");
        assert!(err.to_string().contains("STOREFRONT_X"), "{err}");
    }

    #[test]
    fn services_hold_one_value_per_type() {
        let mut services = Services::default();
        services.insert(3_u32);
        services.insert(String::from("a"));
        services.insert(4_u32);
        assert_eq!(services.get::<u32>(), Some(&4));
        assert_eq!(services.get::<String>().map(String::as_str), Some("a"));
        assert!(services.get::<i64>().is_none());
    }
}
