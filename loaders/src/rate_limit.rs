//! Rate limiting with GCRA (the generic cell rate algorithm): a client may spend its whole
//! budget at once and regains it evenly over the window, so no window edge lets it spend
//! twice. Decided in Redis by one atomic script (one clock, Redis's, for every replica), or
//! in-process with the same arithmetic when Redis is off or away.
//!
//! Spending is a reservation: it is taken before the work it pays for, so that concurrent
//! requests can never spend more than the budget between a check and a count. What was
//! reserved for work that turned out not to count (a successful sign-in) is refunded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::RedisTier;

/// Who is asking: an API key when the client sends one, else its address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(pub String);

/// The client's network address (the peer, or what the trusted proxies forwarded), for
/// per-address limits such as sign-in throttling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIp(pub String);

/// An operator: a request made with an issued API key that has the admin role (the
/// order-management system updating order statuses, say). Never a customer's token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Operator(pub String);

/// A client's own budget per window, when it is not the default (an issued API key's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget(pub u64);

/// The budget of every client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// What a client may spend at once, and regains over `window`.
    pub budget: u64,
    /// The window.
    pub window: Duration,
}

/// A refusal: the client spent its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Seconds until the cost asked for is affordable again (at least 1).
    pub retry_after: u64,
}

/// One GCRA decision, in microseconds. A key's state is its theoretical arrival time (TAT):
/// the moment its budget will be whole again. Spending `cost` moves the TAT later by `cost`
/// emission intervals (`window / budget`); it is allowed while the TAT stays within one
/// window of now.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Gcra {
    interval_us: f64,
    window_us: f64,
}

impl Gcra {
    fn new(budget: u64, window: Duration) -> Self {
        let window_us = window.as_micros().max(1) as f64;
        Self {
            interval_us: window_us / budget.max(1) as f64,
            window_us,
        }
    }

    /// The new TAT when `cost` is affordable at `now`, else the microseconds to wait.
    fn spend(&self, tat: f64, now: f64, cost: u64) -> Result<f64, f64> {
        let new_tat = tat.max(now) + cost as f64 * self.interval_us;
        let allowed_at = new_tat - self.window_us;
        if allowed_at > now {
            Err(allowed_at - now)
        } else {
            Ok(new_tat)
        }
    }

    /// The TAT after giving `cost` back (never before now).
    fn refund(&self, tat: f64, now: f64, cost: u64) -> f64 {
        (tat - cost as f64 * self.interval_us).max(now)
    }
}

// The same arithmetic as `Gcra`, atomically, on Redis's clock. KEYS[1]: the key; ARGV: cost,
// interval (µs), window (µs), and 1 to spend or -1 to refund. Returns {allowed, wait µs}.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local new_tat
if tonumber(ARGV[4]) < 0 then
  new_tat = math.max(tat - cost * interval, now)
else
  new_tat = math.max(tat, now) + cost * interval
  local allowed_at = new_tat - window
  if allowed_at > now then
    return {0, math.ceil(allowed_at - now)}
  end
end
if new_tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
end
return {1, 0}
";

/// Spends and refunds budgets per client.
pub struct RateLimiter {
    settings: RateLimitSettings,
    redis: Option<Arc<RedisTier>>,
    script: redis::Script,
    // TATs of this replica, for when Redis is off or away. An entry idle for a whole window
    // has a TAT in the past, which is the same as no entry.
    local: moka::sync::Cache<String, Arc<Mutex<f64>>>,
    namespace: String,
    // Decisions taken in-process because Redis failed, and whether that was logged since
    // Redis last answered (one line per outage, not one per request).
    fallbacks: prometheus_client::metrics::counter::Counter,
    fallback_logged: AtomicBool,
}

fn now_us() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_micros() as f64)
}

fn seconds(wait_us: f64) -> u64 {
    ((wait_us / 1_000_000.0).ceil() as u64).max(1)
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
            local: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(settings.window + Duration::from_secs(1))
                .build(),
            redis,
            script: redis::Script::new(GCRA_SCRIPT),
            namespace: namespace.to_owned(),
            fallbacks: prometheus_client::metrics::counter::Counter::default(),
            fallback_logged: AtomicBool::new(false),
        }
    }

    /// Counts the decisions taken in-process because Redis failed in `metrics`
    /// (`storefront_rate_limit_fallbacks_total`).
    pub fn counting_fallbacks_in(mut self, metrics: &crate::Metrics) -> Self {
        self.fallbacks = metrics.rate_limit_fallbacks.clone();
        self
    }

    /// Spends `cost` of `client`'s budget, or refuses (spending nothing) when it cannot
    /// afford it now.
    pub async fn spend(&self, client: &ClientId, cost: u64) -> Result<(), Limited> {
        self.spend_within(client, cost, self.settings.budget).await
    }

    /// [`RateLimiter::spend`] for a client with a budget of its own.
    pub async fn spend_within(
        &self,
        client: &ClientId,
        cost: u64,
        budget: u64,
    ) -> Result<(), Limited> {
        let gcra = Gcra::new(budget, self.settings.window);
        let key = self.key(client);
        match self.decide(&key, gcra, cost, 1).await {
            Ok(()) => Ok(()),
            Err(wait_us) => Err(Limited {
                retry_after: seconds(wait_us),
            }),
        }
    }

    /// Gives back `cost` spent by `client` for work that does not count.
    pub async fn refund(&self, client: &ClientId, cost: u64) {
        let gcra = Gcra::new(self.settings.budget, self.settings.window);
        let key = self.key(client);
        // A refund cannot be refused.
        let _ = self.decide(&key, gcra, cost, -1).await;
    }

    fn key(&self, client: &ClientId) -> String {
        format!("{}gcra:{}", self.namespace, client.0)
    }

    /// Spends (`direction` 1) or refunds (-1) in Redis, or in-process when Redis fails.
    async fn decide(&self, key: &str, gcra: Gcra, cost: u64, direction: i8) -> Result<(), f64> {
        if let Some(redis) = &self.redis {
            let args = [
                cost as f64,
                gcra.interval_us,
                gcra.window_us,
                f64::from(direction),
            ];
            match redis.run_script(&self.script, key, &args).await {
                Ok((allowed, wait_us)) => {
                    if self.fallback_logged.swap(false, Ordering::AcqRel) {
                        tracing::info!("rate limits are shared through Redis again");
                    }
                    return if allowed == 1 {
                        Ok(())
                    } else {
                        Err(wait_us as f64)
                    };
                }
                Err(e) => {
                    self.fallbacks.inc();
                    if !self.fallback_logged.swap(true, Ordering::AcqRel) {
                        tracing::warn!(
                            error = %e,
                            "Redis is unreachable: rate limits are counted per replica until it is back"
                        );
                    }
                }
            }
        }
        self.decide_locally(key, gcra, cost, direction)
    }

    fn decide_locally(&self, key: &str, gcra: Gcra, cost: u64, direction: i8) -> Result<(), f64> {
        let cell = self
            .local
            .get_with(key.to_owned(), || Arc::new(Mutex::new(0.0)));
        let mut tat = crate::sync::lock(&cell);
        let now = now_us();
        if direction < 0 {
            *tat = gcra.refund(*tat, now, cost);
            return Ok(());
        }
        *tat = gcra.spend(*tat, now, cost)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(budget: u64, window: Duration) -> RateLimiter {
        RateLimiter::new(RateLimitSettings { budget, window }, None, "t:")
    }

    #[tokio::test]
    async fn a_client_over_its_budget_is_refused_and_others_are_not() {
        let limiter = limiter(100, Duration::from_secs(60));
        let a = ClientId("a".into());
        assert!(limiter.spend(&a, 60).await.is_ok());
        let refused = limiter.spend(&a, 60).await.expect_err("over budget");
        // 20 of the 60 are missing: they come back at 100 per 60 s.
        assert!((12..=13).contains(&refused.retry_after), "{refused:?}");
        assert!(limiter.spend(&ClientId("b".into()), 60).await.is_ok());
    }

    #[test]
    fn the_budget_comes_back_evenly_so_no_window_edge_allows_twice_the_budget() {
        let gcra = Gcra::new(10, Duration::from_secs(10));
        let second = 1_000_000.0;
        // The whole budget at once, just before a fixed window would have ended…
        let mut tat = 0.0;
        let start = 9.9 * second;
        for _ in 0..10 {
            tat = gcra.spend(tat, start, 1).expect("within budget");
        }
        // …and just after it: a fixed window would allow 10 more; GCRA has regained only 0.2
        // of one, and gives one back a second.
        let after_edge = 10.1 * second;
        let wait = gcra
            .spend(tat, after_edge, 1)
            .expect_err("nothing regained yet");
        assert!((wait - 0.8 * second).abs() < 1.0, "{wait}");
        tat = gcra.spend(tat, 10.9 * second, 1).expect("one regained");
        assert!(gcra.spend(tat, 11.5 * second, 1).is_err());
        assert!(gcra.spend(tat, 11.9 * second, 1).is_ok());
    }

    #[test]
    fn a_refund_gives_the_cost_back_but_never_credit_beyond_a_full_budget() {
        let gcra = Gcra::new(2, Duration::from_secs(10));
        let now = 100.0 * 1_000_000.0;
        let tat = gcra.spend(0.0, now, 2).expect("budget");
        assert!(gcra.spend(tat, now, 1).is_err());
        let tat = gcra.refund(tat, now, 1);
        let tat = gcra.spend(tat, now, 1).expect("refunded");
        let tat = gcra.refund(gcra.refund(tat, now, 5), now, 5);
        assert!(gcra.spend(tat, now, 3).is_err(), "no more than the budget");
    }

    #[tokio::test]
    async fn concurrent_spends_never_exceed_the_budget() {
        let limiter = Arc::new(limiter(5, Duration::from_secs(600)));
        let a = ClientId("a".into());
        let attempts = (0..50).map(|_| {
            let limiter = Arc::clone(&limiter);
            let a = a.clone();
            tokio::spawn(async move { limiter.spend(&a, 1).await.is_ok() })
        });
        let mut allowed = 0;
        for attempt in attempts {
            allowed += usize::from(attempt.await.expect("task"));
        }
        assert_eq!(allowed, 5);
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
