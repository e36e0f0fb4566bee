//! Rate limiting by query cost: a fixed window per client, counted in Redis so that every
//! replica shares it, or in-process when Redis is off or away.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::RedisTier;

/// Who is asking: an API key when the client sends one, else its address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(pub String);

/// The client's network address (the peer, or the trusted proxy's `X-Forwarded-For`), for
/// per-address limits such as sign-in throttling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIp(pub String);

/// The budget of every client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Query cost (complexity) a client may spend per window.
    pub budget: u64,
    /// The window.
    pub window: Duration,
}

/// A refusal: the client spent its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Seconds until the window ends.
    pub retry_after: u64,
}

/// Counts query cost per client and window.
pub struct RateLimiter {
    settings: RateLimitSettings,
    redis: Option<Arc<RedisTier>>,
    local: moka::future::Cache<String, Arc<AtomicU64>>,
    namespace: String,
    // Decisions taken in-process because Redis failed, and whether that was logged since
    // Redis last answered (one line per outage, not one per request).
    fallbacks: prometheus_client::metrics::counter::Counter,
    fallback_logged: std::sync::atomic::AtomicBool,
}

impl RateLimiter {
    /// A limiter counting in `redis` when given (and reachable), else in-process.
    pub fn new(
        settings: RateLimitSettings,
        redis: Option<Arc<RedisTier>>,
        namespace: &str,
    ) -> Self {
        Self {
            settings,
            local: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.window * 2)
                .build(),
            redis,
            namespace: namespace.to_owned(),
            fallbacks: prometheus_client::metrics::counter::Counter::default(),
            fallback_logged: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Counts the decisions taken in-process because Redis failed in `metrics`
    /// (`storefront_rate_limit_fallbacks_total`).
    pub fn counting_fallbacks_in(mut self, metrics: &crate::Metrics) -> Self {
        self.fallbacks = metrics.rate_limit_fallbacks.clone();
        self
    }

    /// Spends `cost` of `client`'s budget; refuses when the window's total would exceed it.
    pub async fn spend(&self, client: &ClientId, cost: u64) -> Result<(), Limited> {
        let (total, retry_after) = self.add(client, cost).await;
        if total > self.settings.budget {
            Err(Limited { retry_after })
        } else {
            Ok(())
        }
    }

    /// Refuses when `client` has spent its whole budget this window; spends nothing.
    pub async fn check(&self, client: &ClientId) -> Result<(), Limited> {
        let (total, retry_after) = self.add(client, 0).await;
        if total >= self.settings.budget {
            Err(Limited { retry_after })
        } else {
            Ok(())
        }
    }

    /// Adds `cost` to the client's window; returns the window's total and the seconds left.
    async fn add(&self, client: &ClientId, cost: u64) -> (u64, u64) {
        let window = self.settings.window.as_secs().max(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let slot = now / window;
        let retry_after = ((slot + 1) * window - now).max(1);
        let key = format!("{}rl:{}:{slot}", self.namespace, client.0);
        let total = match &self.redis {
            Some(redis) => match redis
                .incr_with_expiry(&key, cost, Duration::from_secs(window * 2))
                .await
            {
                Ok(total) => {
                    if self.fallback_logged.swap(false, Ordering::AcqRel) {
                        tracing::info!("rate limits are shared through Redis again");
                    }
                    total
                }
                Err(e) => {
                    self.fallbacks.inc();
                    if !self.fallback_logged.swap(true, Ordering::AcqRel) {
                        tracing::warn!(
                            error = %e,
                            "Redis is unreachable: rate limits are counted per replica until it is back"
                        );
                    }
                    self.spend_locally(&key, cost).await
                }
            },
            None => self.spend_locally(&key, cost).await,
        };
        (total, retry_after)
    }

    async fn spend_locally(&self, key: &str, cost: u64) -> u64 {
        let counter = self
            .local
            .get_with(key.to_owned(), async { Arc::new(AtomicU64::new(0)) })
            .await;
        counter.fetch_add(cost, Ordering::SeqCst) + cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_over_its_budget_is_refused_and_others_are_not() {
        let limiter = RateLimiter::new(
            RateLimitSettings {
                budget: 100,
                window: Duration::from_secs(60),
            },
            None,
            "t:",
        );
        let a = ClientId("a".into());
        assert!(limiter.spend(&a, 60).await.is_ok());
        let refused = limiter.spend(&a, 60).await.expect_err("over budget");
        assert!((1..=60).contains(&refused.retry_after));
        assert!(limiter.spend(&ClientId("b".into()), 60).await.is_ok());
    }

    #[tokio::test]
    async fn decisions_taken_without_redis_are_counted() {
        // A Redis nobody listens on: a port that was free a moment ago.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let redis = crate::cache::RedisTier::connect(&crate::cache::RedisSettings {
            url: format!("redis://127.0.0.1:{port}"),
            cluster: false,
        })
        .expect("lazy client");
        let metrics = crate::Metrics::new();
        let limiter = RateLimiter::new(
            RateLimitSettings {
                budget: 100,
                window: Duration::from_secs(60),
            },
            Some(redis),
            "t:",
        )
        .counting_fallbacks_in(&metrics);
        let a = ClientId("a".into());
        assert!(limiter.spend(&a, 60).await.is_ok());
        assert!(limiter.spend(&a, 60).await.is_err(), "counted in-process");
        assert_eq!(
            metrics.sample("storefront_rate_limit_fallbacks_total", &[]),
            2.0
        );
    }
}
