//! The shared cache tier: Redis (ElastiCache), single node or cluster, with fail-fast timeouts,
//! a short circuit-breaker when it is down, and a self-reconnecting pub/sub subscriber.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::RwLock;

/// How long one Redis command may take before the request goes on without it.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is not asked again for this long (requests go to the backend).
const COOL_DOWN: Duration = Duration::from_secs(1);

/// Where Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://host:port` (several, comma-separated, in cluster mode).
    pub url: String,
    /// Cluster mode (ElastiCache with cluster mode enabled).
    pub cluster: bool,
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

/// A Redis that may be away: every call fails fast instead of holding up a request.
pub struct RedisTier {
    connection: RwLock<Option<Connection>>,
    pubsub_client: redis::Client,
    started: Instant,
    down_until_ms: AtomicU64,
    /// Where its calls are counted, once the gateway says (`count_in`).
    metrics: std::sync::OnceLock<Arc<crate::Metrics>>,
}

/// Why a Redis call did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RedisTierError {
    /// Redis failed recently; calls are skipped for a moment.
    #[error("redis is cooling down after a failure")]
    CoolingDown,
    /// Not connected yet (cluster mode connects in the background).
    #[error("redis is not connected yet")]
    NotConnected,
    /// The command failed or timed out.
    #[error("redis: {0}")]
    Command(String),
}

impl RedisTier {
    /// Connects lazily: the gateway starts whether or not Redis is up, and uses it once it is.
    pub fn connect(settings: &RedisSettings) -> Result<Arc<Self>, RedisTierError> {
        let urls: Vec<String> = settings
            .url
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        let first = urls
            .first()
            .ok_or_else(|| RedisTierError::Command("no Redis URL".into()))?;
        let client = redis::Client::open(first.as_str())
            .map_err(|e| RedisTierError::Command(e.to_string()))?;
        let tier = Arc::new(Self {
            connection: RwLock::new(None),
            pubsub_client: client.clone(),
            started: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            metrics: std::sync::OnceLock::new(),
        });
        if settings.cluster {
            let cluster = redis::cluster::ClusterClient::builder(urls)
                .connection_timeout(COMMAND_TIMEOUT)
                .response_timeout(COMMAND_TIMEOUT)
                .build()
                .map_err(|e| RedisTierError::Command(e.to_string()))?;
            let weak = Arc::downgrade(&tier);
            tokio::spawn(async move {
                let mut delay = Duration::from_millis(100);
                loop {
                    let Some(tier) = weak.upgrade() else { return };
                    match cluster.get_async_connection().await {
                        Ok(conn) => {
                            *tier.connection.write().await = Some(Connection::Cluster(conn));
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot reach the Redis cluster yet"),
                    }
                    drop(tier);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            });
        } else {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(COMMAND_TIMEOUT))
                .set_response_timeout(Some(COMMAND_TIMEOUT))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(200));
            let manager = ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|e| RedisTierError::Command(e.to_string()))?;
            // No await point between creation and use: the lock is free.
            if let Ok(mut slot) = tier.connection.try_write() {
                *slot = Some(Connection::Single(manager));
            }
        }
        Ok(tier)
    }

    /// Counts its calls in `metrics` (`storefront_backend_calls_total{backend="redis"}`).
    pub fn count_in(&self, metrics: &Arc<crate::Metrics>) {
        let _ = self.metrics.set(Arc::clone(metrics));
    }

    /// Runs one call, counting it with its result and latency; a call skipped while Redis
    /// cools down is counted as failed too.
    async fn observe<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = Result<T, RedisTierError>>,
    ) -> Result<T, RedisTierError> {
        let started = Instant::now();
        let result = call.await;
        if let Some(metrics) = self.metrics.get() {
            metrics.backend_call("redis", op, result.is_ok(), started.elapsed());
        }
        result
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn connection(&self) -> Result<Connection, RedisTierError> {
        if self.now_ms() < self.down_until_ms.load(Ordering::Relaxed) {
            return Err(RedisTierError::CoolingDown);
        }
        self.connection
            .read()
            .await
            .clone()
            .ok_or(RedisTierError::NotConnected)
    }

    fn failed(&self, e: impl std::fmt::Display) -> RedisTierError {
        let until = self.now_ms() + u64::try_from(COOL_DOWN.as_millis()).unwrap_or(1000);
        let previous = self.down_until_ms.swap(until, Ordering::Relaxed);
        if previous <= self.now_ms() {
            tracing::warn!(error = %e, "redis failed; serving without it for a moment");
        }
        RedisTierError::Command(e.to_string())
    }

    /// Reads many keys; a missing key is `None`.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, RedisTierError> {
        self.observe("get_many", async move {
            if keys.is_empty() {
                return Ok(vec![]);
            }
            let result: redis::RedisResult<Vec<Option<Vec<u8>>>> = match self.connection().await? {
                Connection::Single(mut conn) => {
                    let mut cmd = redis::cmd("MGET");
                    for key in keys {
                        cmd.arg(key);
                    }
                    cmd.query_async(&mut conn).await
                }
                // Keys of a batch live in different slots; ask for each.
                Connection::Cluster(conn) => {
                    let gets = keys.iter().map(|key| {
                        let mut conn = conn.clone();
                        async move { conn.get::<_, Option<Vec<u8>>>(key).await }
                    });
                    futures::future::join_all(gets).await.into_iter().collect()
                }
            };
            result.map_err(|e| self.failed(e))
        })
        .await
    }

    /// Writes many keys with a time to live.
    pub async fn set_many(
        &self,
        entries: &[(String, Vec<u8>)],
        ttl: Duration,
    ) -> Result<(), RedisTierError> {
        self.observe("set_many", async move {
            if entries.is_empty() {
                return Ok(());
            }
            let seconds = ttl.as_secs().max(1);
            let result: redis::RedisResult<()> = match self.connection().await? {
                Connection::Single(mut conn) => {
                    let mut pipe = redis::pipe();
                    for (key, value) in entries {
                        pipe.set_ex(key, value.as_slice(), seconds).ignore();
                    }
                    pipe.query_async(&mut conn).await
                }
                Connection::Cluster(conn) => {
                    let sets = entries.iter().map(|(key, value)| {
                        let mut conn = conn.clone();
                        async move {
                            conn.set_ex::<_, _, ()>(key, value.as_slice(), seconds)
                                .await
                        }
                    });
                    futures::future::join_all(sets)
                        .await
                        .into_iter()
                        .collect::<redis::RedisResult<Vec<()>>>()
                        .map(|_| ())
                }
            };
            result.map_err(|e| self.failed(e))
        })
        .await
    }

    /// Reads one key.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RedisTierError> {
        // Counted once, as the `get_many` it is.
        Ok(self.get_many(&[key.to_owned()]).await?.pop().flatten())
    }

    /// Reads one key and gives it `ttl` more to live (GETEX): what is used stays.
    pub async fn get_refreshing(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, RedisTierError> {
        self.observe("get_refreshing", async move {
            let expiry = redis::Expiry::EX(ttl.as_secs().max(1));
            let result: redis::RedisResult<Option<Vec<u8>>> = match self.connection().await? {
                Connection::Single(mut conn) => conn.get_ex(key, expiry).await,
                Connection::Cluster(mut conn) => conn.get_ex(key, expiry).await,
            };
            result.map_err(|e| self.failed(e))
        })
        .await
    }

    /// Writes one key, with a time to live or forever.
    pub async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), RedisTierError> {
        self.observe("set", async move {
            let result: redis::RedisResult<()> = match (self.connection().await?, ttl) {
                (Connection::Single(mut conn), Some(ttl)) => {
                    conn.set_ex(key, value, ttl.as_secs().max(1)).await
                }
                (Connection::Single(mut conn), None) => conn.set(key, value).await,
                (Connection::Cluster(mut conn), Some(ttl)) => {
                    conn.set_ex(key, value, ttl.as_secs().max(1)).await
                }
                (Connection::Cluster(mut conn), None) => conn.set(key, value).await,
            };
            result.map_err(|e| self.failed(e))
        })
        .await
    }

    /// Runs a Lua script on one key (EVALSHA, loading it when Redis does not know it yet);
    /// the script answers two integers.
    pub async fn run_script(
        &self,
        script: &redis::Script,
        key: &str,
        args: &[f64],
    ) -> Result<(i64, i64), RedisTierError> {
        self.observe("run_script", async move {
            let mut invocation = script.key(key);
            for arg in args {
                invocation.arg(*arg);
            }
            let result: redis::RedisResult<(i64, i64)> = match self.connection().await? {
                Connection::Single(mut conn) => invocation.invoke_async(&mut conn).await,
                Connection::Cluster(mut conn) => invocation.invoke_async(&mut conn).await,
            };
            result.map_err(|e| self.failed(e))
        })
        .await
    }

    /// Deletes keys and tells every subscriber of `channel`.
    pub async fn delete_and_publish(
        &self,
        keys: &[String],
        channel: &str,
        message: &[u8],
    ) -> Result<(), RedisTierError> {
        self.observe("delete_and_publish", async move {
            let result: redis::RedisResult<()> = match self.connection().await? {
                Connection::Single(mut conn) => {
                    let mut pipe = redis::pipe();
                    for key in keys {
                        pipe.del(key).ignore();
                    }
                    pipe.publish(channel, message).ignore();
                    pipe.query_async(&mut conn).await
                }
                Connection::Cluster(mut conn) => {
                    for key in keys {
                        conn.del::<_, ()>(key).await.map_err(|e| self.failed(e))?;
                    }
                    conn.publish(channel, message).await
                }
            };
            result.map_err(|e| self.failed(e))
        })
        .await
    }

    /// Deletes keys.
    pub async fn delete(&self, keys: &[String]) -> Result<(), RedisTierError> {
        self.observe("delete", async move {
            let result: redis::RedisResult<()> = match self.connection().await? {
                Connection::Single(mut conn) => conn.del(keys).await,
                Connection::Cluster(mut conn) => {
                    for key in keys {
                        conn.del::<_, ()>(key).await.map_err(|e| self.failed(e))?;
                    }
                    Ok(())
                }
            };
            result.map_err(|e| self.failed(e))
        })
        .await
    }

    /// Runs a Lua script on keys of one hash slot with byte-string arguments (EVALSHA,
    /// loading it when Redis does not know it yet); the script answers an integer. `op`
    /// names the call in the metrics.
    pub async fn eval(
        &self,
        op: &'static str,
        source: &str,
        keys: &[String],
        args: &[Vec<u8>],
    ) -> Result<i64, RedisTierError> {
        self.observe(op, async move {
            let script = redis::Script::new(source);
            let mut invocation = script.prepare_invoke();
            for key in keys {
                invocation.key(key);
            }
            for arg in args {
                invocation.arg(arg.as_slice());
            }
            let result: redis::RedisResult<i64> = match self.connection().await? {
                Connection::Single(mut conn) => invocation.invoke_async(&mut conn).await,
                Connection::Cluster(mut conn) => invocation.invoke_async(&mut conn).await,
            };
            result.map_err(|e| self.failed(e))
        })
        .await
    }

    /// Tells every subscriber of `channel`.
    pub async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), RedisTierError> {
        self.observe("publish", async move {
            self.delete_and_publish(&[], channel, message).await
        })
        .await
    }

    /// Calls `on_message` with every message of `channel`, for as long as the tier lives;
    /// reconnects by itself, calling `on_reconnect` each time it (re)subscribes, since messages
    /// sent while it was away are lost.
    pub fn subscribe(
        self: &Arc<Self>,
        channel: String,
        on_message: impl Fn(&[u8]) + Send + Sync + 'static,
        on_reconnect: impl Fn() + Send + Sync + 'static,
    ) {
        let client = self.pubsub_client.clone();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(100);
            loop {
                if weak.upgrade().is_none() {
                    return;
                }
                match tokio::time::timeout(COMMAND_TIMEOUT * 4, client.get_async_pubsub()).await {
                    Ok(Ok(mut pubsub)) => match pubsub.subscribe(&channel).await {
                        Ok(()) => {
                            delay = Duration::from_millis(100);
                            on_reconnect();
                            let mut messages = pubsub.on_message();
                            while let Some(message) = messages.next().await {
                                if weak.upgrade().is_none() {
                                    return;
                                }
                                on_message(message.get_payload_bytes());
                            }
                            tracing::warn!("redis pub/sub connection lost; reconnecting");
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot subscribe to redis"),
                    },
                    Ok(Err(e)) => tracing::debug!(error = %e, "redis pub/sub not reachable"),
                    Err(_) => tracing::debug!("redis pub/sub connect timed out"),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        });
    }
}
