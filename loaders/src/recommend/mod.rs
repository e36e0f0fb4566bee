//! The recommendations domain: related and complementary products, the viewer's
//! recommendations, personalised re-ranking, and the interactions they learn from. The
//! embedded engine always learns (it is the fallback); Amazon Personalize answers instead
//! when configured. Every engine call has a deadline, past which popular products answer.

pub mod content;
pub mod events;
pub mod model;
pub mod personalize;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use self::content::Content;
use self::events::{EventKind, EventLog, Interaction};
use self::model::Model;
use self::personalize::{Personalize, PersonalizeConfig};
use crate::checkout::orders::{OrderRecord, OrderStatus};
use crate::codec::from_item;
use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, ValueKind,
    Variable, parse_section,
};
use crate::identity::Owner;
use crate::rate_limit::{ClientId, Limited, RateLimitSettings, RateLimiter};
use crate::store::{Change, Changes, Key, StoreError, Table};
use crate::sync::{read, write};

/// What kind of recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Intent {
    /// Similar products, to consider instead.
    Related,
    /// Products that go with it, to buy as well.
    Complementary,
}

/// Which engine recommends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecommendEngineKind {
    /// The embedded model.
    #[default]
    Embedded,
    /// Amazon Personalize (settings under `[recommend.personalize]`).
    Personalize,
}

/// The recommendations' settings (`[recommend]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecommendConfig {
    /// `embedded` or `personalize`.
    pub engine: RecommendEngineKind,
    /// How long an engine may take before popular products answer instead.
    pub deadline_millis: u64,
    /// How fast popularity fades: it halves every this many hours.
    pub half_life_hours: u64,
    /// How long interactions are kept (and replayed at start).
    pub retention_days: u32,
    /// The most logged interactions replayed at start (the newest are kept).
    pub replay_limit: usize,
    /// Interactions one client may send per minute.
    pub events_per_minute: u64,
    /// How long a product's recommendations are reused (they are dropped sooner when the
    /// product or what was learnt of it changes).
    pub cache_seconds: u64,
    /// Amazon Personalize.
    pub personalize: PersonalizeConfig,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        Self {
            engine: RecommendEngineKind::Embedded,
            deadline_millis: 150,
            half_life_hours: 24 * 7,
            retention_days: 90,
            replay_limit: 500_000,
            events_per_minute: 120,
            cache_seconds: 300,
            personalize: PersonalizeConfig::default(),
        }
    }
}

impl DomainConfig for RecommendConfig {
    fn validate(&self, section: &str, shared: &SharedSettings) -> Result<(), SettingError> {
        let positive = |name: &str, value: u64| {
            if value == 0 {
                Err(SettingError::new(
                    format!("{section}.{name}"),
                    "must be at least 1",
                ))
            } else {
                Ok(())
            }
        };
        positive("deadline_millis", self.deadline_millis)?;
        positive("half_life_hours", self.half_life_hours)?;
        positive("retention_days", u64::from(self.retention_days))?;
        positive("events_per_minute", self.events_per_minute)?;
        if self.engine == RecommendEngineKind::Personalize {
            let p = &self.personalize;
            for (name, arn) in [
                ("related_arn", &p.related_arn),
                ("complementary_arn", &p.complementary_arn),
                ("for_you_arn", &p.for_you_arn),
            ] {
                if !arn.starts_with("arn:") {
                    return Err(SettingError::new(
                        format!("{section}.personalize.{name}"),
                        "the Personalize engine needs a campaign or recommender ARN",
                    ));
                }
            }
            if p.region.is_none() && shared.aws_region.is_none() {
                return Err(SettingError::new(
                    format!("{section}.personalize.region"),
                    "Personalize needs a region (this setting or `aws.region`)",
                ));
            }
        }
        Ok(())
    }
}

/// A batch of engine calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EngineCall {
    /// `embedded` or `personalize`.
    pub engine: &'static str,
    /// `ok`, `timeout` or `error` (the last two answered with popular products).
    pub outcome: &'static str,
}

type Cached = moka::future::Cache<(String, Intent, usize), Arc<Vec<String>>>;

/// The second tier of the recommendations cache: one Redis hash-like JSON value a product,
/// `{"RELATED:5": [...], ...}`, shared by every replica and deleted when the product changes
/// or something is learnt about it.
#[derive(Clone)]
struct SharedCache {
    redis: Arc<crate::cache::RedisTier>,
    namespace: String,
    ttl: Duration,
}

type Lists = HashMap<String, Vec<String>>;

impl SharedCache {
    fn key(&self, product: &str) -> String {
        format!("{}reco:{product}", self.namespace)
    }

    fn field(intent: Intent, limit: usize) -> String {
        format!("{intent:?}:{limit}")
    }

    async fn get(
        &self,
        products: &[String],
        intent: Intent,
        limit: usize,
    ) -> HashMap<String, Vec<String>> {
        let keys: Vec<String> = products.iter().map(|p| self.key(p)).collect();
        let Ok(values) = self.redis.get_many(&keys).await else {
            return HashMap::new();
        };
        products
            .iter()
            .zip(values)
            .filter_map(|(product, value)| {
                let mut lists: Lists = serde_json::from_slice(&value?).ok()?;
                Some((product.clone(), lists.remove(&Self::field(intent, limit))?))
            })
            .collect()
    }

    async fn put(&self, found: &HashMap<String, Vec<String>>, intent: Intent, limit: usize) {
        let keys: Vec<String> = found.keys().map(|p| self.key(p)).collect();
        let existing = self.redis.get_many(&keys).await.unwrap_or_default();
        let entries: Vec<(String, Vec<u8>)> = found
            .iter()
            .zip(keys)
            .enumerate()
            .map(|(i, ((_, list), key))| {
                let mut lists: Lists = existing
                    .get(i)
                    .and_then(|v| v.as_deref())
                    .and_then(|v| serde_json::from_slice(v).ok())
                    .unwrap_or_default();
                lists.insert(Self::field(intent, limit), list.clone());
                (key, serde_json::to_vec(&lists).expect("lists serialise"))
            })
            .collect();
        if let Err(e) = self.redis.set_many(&entries, self.ttl).await {
            tracing::debug!(error = %e, "recommendations not shared through Redis");
        }
    }

    fn channel(namespace: &str) -> String {
        format!("{namespace}reco-forget")
    }

    /// Drops the products' shared lists, and tells every replica to drop its own copies.
    async fn forget(&self, products: &HashSet<String>) {
        let keys: Vec<String> = products.iter().map(|p| self.key(p)).collect();
        let message = serde_json::to_vec(products).expect("ids serialise");
        if let Err(e) = self
            .redis
            .delete_and_publish(&keys, &Self::channel(&self.namespace), &message)
            .await
        {
            tracing::debug!(error = %e, "shared recommendations not dropped; they expire");
        }
    }

    /// Drops from `local` what other replicas say changed.
    fn follow(&self, local: Cached) {
        let on_reconnect = local.clone();
        self.redis.subscribe(
            Self::channel(&self.namespace),
            move |payload| {
                let Ok(products) = serde_json::from_slice::<HashSet<String>>(payload) else {
                    return;
                };
                let products = Arc::new(products);
                let _ = local.invalidate_entries_if(move |(p, _, _), _| products.contains(p));
            },
            move || on_reconnect.invalidate_all(),
        );
    }
}

/// Recommendations for the resolvers.
#[derive(Clone)]
pub struct Recommendations {
    model: Arc<RwLock<Model>>,
    content: Arc<Content>,
    log: Arc<EventLog>,
    table: Arc<dyn Table>,
    personalize: Option<Arc<Personalize>>,
    deadline: Duration,
    cache: Cached,
    shared_cache: Option<SharedCache>,
    // Bumped by everything that drops cached lists: a list computed across a bump is not
    // cached (it may have been computed from what was just dropped).
    epoch: Arc<std::sync::atomic::AtomicU64>,
    limiter: Arc<RateLimiter>,
    calls: Family<EngineCall, Counter>,
}

/// Why interactions were not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The client sent more than its budget allows.
    #[error("too many interactions; retry in {} s", .0.retry_after)]
    Limited(Limited),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Recommendations {
    fn engine_name(&self) -> &'static str {
        if self.personalize.is_some() {
            "personalize"
        } else {
            "embedded"
        }
    }

    fn count(&self, outcome: &'static str) {
        self.calls
            .get_or_create(&EngineCall {
                engine: self.engine_name(),
                outcome,
            })
            .inc();
    }

    /// Runs an engine call within the deadline; `None` (counted) when it failed or was late.
    async fn within<T, E: std::fmt::Display>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(Ok(found)) => {
                self.count("ok");
                Some(found)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, engine = self.engine_name(), "recommendations failed; answering with popular products");
                self.count("error");
                None
            }
            Err(_) => {
                tracing::warn!(
                    engine = self.engine_name(),
                    "recommendations were late; answering with popular products"
                );
                self.count("timeout");
                None
            }
        }
    }

    /// The most popular products now.
    pub fn trending(&self, limit: usize, exclude: &HashSet<&str>) -> Vec<String> {
        read(&self.model).trending(Utc::now(), limit, exclude)
    }

    /// The embedded answer: learnt neighbours, then similar content, then popular products.
    async fn embedded_many(
        &self,
        products: &[String],
        intent: Intent,
        limit: usize,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        let mut found: HashMap<String, Vec<String>> = {
            let model = read(&self.model);
            products
                .iter()
                .map(|p| {
                    let learnt = match intent {
                        Intent::Related => model.related(p, limit),
                        Intent::Complementary => model.bought_together(p, limit),
                    };
                    (p.clone(), learnt)
                })
                .collect()
        };
        let short: Vec<String> = found
            .iter()
            .filter(|(_, list)| list.len() < limit)
            .map(|(p, _)| p.clone())
            .collect();
        if !short.is_empty() {
            let similar = self.content.similar(&short, intent, limit).await?;
            for (product, more) in similar {
                let list = found.entry(product).or_default();
                for candidate in more {
                    if list.len() >= limit {
                        break;
                    }
                    if !list.contains(&candidate) {
                        list.push(candidate);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Recommendations for each of `products`, at most `limit` each, in one engine call for
    /// all of them; popular products fill what the engine could not give in time.
    pub async fn related_many(
        &self,
        products: &[String],
        intent: Intent,
        limit: usize,
    ) -> HashMap<String, Vec<String>> {
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        let mut missing = Vec::new();
        for product in products {
            match self.cache.get(&(product.clone(), intent, limit)).await {
                Some(list) => {
                    found.insert(product.clone(), list.as_ref().clone());
                }
                None => missing.push(product.clone()),
            }
        }
        if let Some(shared) = self.shared_cache.as_ref().filter(|_| !missing.is_empty()) {
            let hits = shared.get(&missing, intent, limit).await;
            for (product, list) in hits {
                self.cache
                    .insert((product.clone(), intent, limit), Arc::new(list.clone()))
                    .await;
                missing.retain(|p| *p != product);
                found.insert(product, list);
            }
        }
        if !missing.is_empty() {
            let epoch = self.epoch.load(std::sync::atomic::Ordering::SeqCst);
            let answered = match &self.personalize {
                Some(engine) => {
                    self.within(engine.related_many(&missing, intent, limit))
                        .await
                }
                None => {
                    self.within(self.embedded_many(&missing, intent, limit))
                        .await
                }
            };
            let fresh =
                answered.is_some() && self.epoch.load(std::sync::atomic::Ordering::SeqCst) == epoch;
            let answered = answered.unwrap_or_default();
            let mut computed = HashMap::new();
            for product in missing {
                let mut list = answered.get(&product).cloned().unwrap_or_default();
                let mut exclude: HashSet<&str> = list.iter().map(String::as_str).collect();
                exclude.insert(&product);
                let fill = self.trending(limit.saturating_sub(list.len()), &exclude);
                list.extend(fill);
                if fresh {
                    self.cache
                        .insert((product.clone(), intent, limit), Arc::new(list.clone()))
                        .await;
                    computed.insert(product.clone(), list.clone());
                }
                found.insert(product, list);
            }
            if let Some(shared) = &self.shared_cache {
                shared.put(&computed, intent, limit).await;
            }
        }
        found
    }

    /// The viewer's recommendations: learnt from a signed-in customer's interactions,
    /// popular products for anyone else (and to fill).
    pub async fn for_viewer(&self, customer: Option<&str>, limit: usize) -> Vec<String> {
        let mut list = match customer {
            None => vec![],
            Some(sub) => match &self.personalize {
                Some(engine) => self
                    .within(engine.for_user(sub, limit))
                    .await
                    .unwrap_or_default(),
                None => read(&self.model).for_shopper(&subject_of_customer(sub), limit),
            },
        };
        let exclude: HashSet<&str> = list.iter().map(String::as_str).collect();
        let fill = self.trending(limit.saturating_sub(list.len()), &exclude);
        list.extend(fill);
        list
    }

    /// `products` in the order that suits the customer best (stable for equals); unchanged
    /// for a customer the engine knows nothing of.
    pub async fn rerank(&self, customer: &str, products: Vec<String>) -> Vec<String> {
        if let Some(engine) = &self.personalize {
            let ranked = self.within(engine.rank(customer, products.clone())).await;
            return match ranked {
                Some(ranked) if ranked.len() == products.len() => ranked,
                _ => products,
            };
        }
        let subject = subject_of_customer(customer);
        if !read(&self.model).knows(&subject) {
            return products;
        }
        let Some(traits) = self.within(self.content.traits(&products)).await else {
            return products;
        };
        let model = read(&self.model);
        let mut scored: Vec<(usize, f64, String)> = products
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let affinity = traits.get(&p).map_or(0.0, |t| model.affinity(&subject, t));
                (i, affinity, p)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.into_iter().map(|(_, _, p)| p).collect()
    }

    /// Spends `cost` of the client's interaction budget.
    pub async fn admit(&self, client: &ClientId, cost: u64) -> Result<(), RecordError> {
        self.limiter
            .spend(client, cost)
            .await
            .map_err(RecordError::Limited)
    }

    /// The traits of products, for the interactions about them.
    pub async fn traits(
        &self,
        products: &[String],
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        self.content.traits(products).await
    }

    /// Logs interactions, learns from them, and passes them on to Personalize.
    pub async fn record(&self, events: Vec<Interaction>) -> Result<(), StoreError> {
        self.log
            .append(self.table.as_ref(), &events, Utc::now())
            .await?;
        self.learn(&events).await;
        if let Some(engine) = self.personalize.clone() {
            tokio::spawn(async move {
                if let Err(e) = engine.put_events(&events).await {
                    tracing::warn!(error = %e, "cannot send interactions to Personalize");
                }
            });
        }
        Ok(())
    }

    async fn learn(&self, events: &[Interaction]) {
        let touched: Vec<String> = {
            let mut model = write(&self.model);
            events.iter().flat_map(|e| model.learn(e)).collect()
        };
        self.forget(touched.into_iter().collect()).await;
    }

    async fn forget(&self, products: HashSet<String>) {
        if products.is_empty() {
            return;
        }
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(shared) = &self.shared_cache {
            shared.forget(&products).await;
        }
        let gone = Arc::new(products);
        if let Err(e) = self
            .cache
            .invalidate_entries_if(move |(product, _, _), _| gone.contains(product))
        {
            tracing::warn!(error = %e, "cannot drop cached recommendations");
        }
    }

    /// Counts an order's purchases once (whichever replica sees it first).
    async fn learn_order(&self, order: &OrderRecord) -> Result<(), StoreError> {
        let counted = matches!(
            order.status,
            OrderStatus::Paid
                | OrderStatus::Fulfilling
                | OrderStatus::Shipped
                | OrderStatus::Delivered
        );
        if !counted {
            return Ok(());
        }
        let subject = match &order.owner {
            Owner::Customer(sub) => subject_of_customer(sub),
            Owner::Guest(digest) => format!("guest:{digest}"),
        };
        let products: Vec<String> = order.lines.iter().map(|l| l.product_id.clone()).collect();
        let traits = self.content.traits(&products).await?;
        let now = Utc::now();
        let events: Vec<Interaction> = products
            .iter()
            .map(|p| Interaction {
                kind: EventKind::Purchase,
                product_id: Some(p.clone()),
                query: None,
                subject: Some(subject.clone()),
                traits: traits.get(p).cloned().unwrap_or_default(),
                at: now,
            })
            .collect();
        let id = format!("order#{}", order.id);
        if self
            .log
            .append_once(self.table.as_ref(), &id, &events, now)
            .await?
        {
            self.learn(&events).await;
        }
        Ok(())
    }

    /// How many interactions the model has learnt from.
    pub fn learnt(&self) -> u64 {
        read(&self.model).learnt()
    }
}

/// The subject of a signed-in customer's interactions.
pub fn subject_of_customer(sub: &str) -> String {
    format!("customer:{sub}")
}

/// The subject of a guest session's interactions.
pub fn subject_of_session(session: &str) -> String {
    format!("session:{session}")
}

/// Follows the change feed: an order that is paid counts as purchases; a product that
/// changed drops its cached recommendations.
fn follow(service: Recommendations, uncached: Arc<dyn Table>, changes: &Changes) {
    let mut feed = changes.subscribe();
    tokio::spawn(async move {
        loop {
            let keys: Arc<[Key]> = match feed.recv().await {
                Ok(Change::Keys(keys)) => keys,
                Ok(Change::Unknown) | Err(RecvError::Lagged(_)) => {
                    service.cache.invalidate_all();
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let mut products = HashSet::new();
            for key in keys.iter() {
                if let Some(id) = key.pk.strip_prefix("PRODUCT#") {
                    products.insert(id.to_owned());
                } else if key.pk.starts_with("ORDER#") && key.sk == "ORDER" {
                    let order = match uncached.get(key).await {
                        Ok(Some(item)) => from_item::<OrderRecord>(&item),
                        Ok(None) => continue,
                        Err(e) => Err(e),
                    };
                    let learnt = match order {
                        Ok(order) => service.learn_order(&order).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = learnt {
                        tracing::warn!(error = %e, "cannot count an order's purchases");
                    }
                }
            }
            service.forget(products).await;
        }
    });
}

struct RecommendParts {
    config: RecommendConfig,
    uncached: Arc<dyn Table>,
    changes: Changes,
}

/// The recommendations domain.
pub struct RecommendDomain;

/// The recommendations domain, as registered in the schema crate.
pub static DOMAIN: RecommendDomain = RecommendDomain;

const VARIABLES: &[Variable] = &[Variable {
    name: "STOREFRONT_RECOMMEND_ENGINE",
    key: "engine",
    kind: ValueKind::Text,
}];

#[async_trait::async_trait]
impl Domain for RecommendDomain {
    fn name(&self) -> &'static str {
        "recommend"
    }

    fn variables(&self) -> &'static [Variable] {
        VARIABLES
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<RecommendConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config: RecommendConfig = parse_section(self.name(), section, &shared.settings)?;
        let personalize = match config.engine {
            RecommendEngineKind::Embedded => None,
            RecommendEngineKind::Personalize => Some(Arc::new(
                Personalize::connect(
                    config.personalize.clone(),
                    shared.settings.aws_region.clone(),
                    &shared.metrics,
                )
                .await
                .map_err(OpenError::new)?,
            )),
        };
        let calls = Family::<EngineCall, Counter>::default();
        shared.metrics.register(
            "recommendation_calls",
            "Recommendation engine calls, by engine and outcome (timeouts and errors answer with popular products)",
            calls.clone(),
        );
        let shared_cache = shared.redis.as_ref().map(|redis| SharedCache {
            redis: Arc::clone(redis),
            namespace: shared.settings.namespace.clone(),
            ttl: Duration::from_secs(config.cache_seconds.max(1)),
        });
        let cache: Cached = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(config.cache_seconds.max(1)))
            .support_invalidation_closures()
            .build();
        if let Some(shared) = &shared_cache {
            shared.follow(cache.clone());
        }
        services.insert(Recommendations {
            model: Arc::new(RwLock::new(Model::new(
                config.half_life_hours as f64 * 3600.0,
            ))),
            content: Arc::new(Content::new(Arc::clone(&shared.table))),
            log: Arc::new(EventLog::new(config.retention_days)),
            table: Arc::clone(&shared.table),
            personalize,
            deadline: Duration::from_millis(config.deadline_millis),
            cache,
            shared_cache,
            epoch: Arc::default(),
            limiter: Arc::new(RateLimiter::new(
                RateLimitSettings {
                    budget: config.events_per_minute,
                    window: Duration::from_secs(60),
                },
                shared.redis.clone(),
                &format!("{}track-events:", shared.settings.namespace),
            )),
            calls,
        });
        services.insert(RecommendParts {
            config,
            uncached: Arc::clone(&shared.uncached),
            changes: shared.changes.clone(),
        });
        Ok(())
    }

    async fn start(
        &self,
        _section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let (Some(service), Some(parts)) = (
            services.get::<Recommendations>(),
            services.get::<RecommendParts>(),
        ) else {
            return Err(OpenError::new("the recommendations domain is not open"));
        };
        follow(service.clone(), Arc::clone(&parts.uncached), &parts.changes);
        let replayed = match service
            .log
            .replay(
                parts.uncached.as_ref(),
                Utc::now(),
                parts.config.replay_limit,
            )
            .await
        {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "cannot replay logged interactions; starting without them");
                vec![]
            }
        };
        let count = replayed.len();
        {
            let mut model = write(&service.model);
            for event in &replayed {
                model.learn(event);
            }
        }
        Ok((count > 0).then(|| format!("recommendations learnt from {count} logged interactions")))
    }
}
