//! Automatic persisted queries: documents by hash, in-process and in Redis so that every
//! replica knows a document any of them registered. Both tiers are bounded: in-process by
//! bytes, in Redis by a time to live that each use renews, so documents nobody uses expire.

use std::sync::Arc;
use std::time::Duration;

use super::redis_tier::RedisTier;

/// How much the document cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Bytes of documents kept in-process.
    pub memory_bytes: u64,
    /// How long a document unused lives (in-process and in Redis).
    pub ttl: Duration,
}

/// Persisted documents by SHA-256.
pub struct DocumentCache {
    l1: moka::future::Cache<String, Arc<str>>,
    l2: Option<Arc<RedisTier>>,
    namespace: String,
    ttl: Duration,
}

impl DocumentCache {
    /// A cache bounded by `limits`, shared through `l2`.
    pub fn new(limits: DocumentLimits, l2: Option<Arc<RedisTier>>, namespace: &str) -> Self {
        Self {
            l1: moka::future::Cache::builder()
                .max_capacity(limits.memory_bytes)
                .weigher(|hash: &String, document: &Arc<str>| {
                    u32::try_from(hash.len() + document.len()).unwrap_or(u32::MAX)
                })
                .time_to_idle(limits.ttl)
                .build(),
            l2,
            namespace: namespace.to_owned(),
            ttl: limits.ttl,
        }
    }

    fn redis_key(&self, hash: &str) -> String {
        format!("{}apq:{hash}", self.namespace)
    }

    /// The document registered under `hash`, from memory or Redis (where its time to live
    /// starts again).
    pub async fn get(&self, hash: &str) -> Option<Arc<str>> {
        if let Some(doc) = self.l1.get(hash).await {
            return Some(doc);
        }
        let redis = self.l2.as_ref()?;
        let bytes = redis
            .get_refreshing(&self.redis_key(hash), self.ttl)
            .await
            .ok()??;
        let doc: Arc<str> = String::from_utf8(bytes).ok()?.into();
        self.l1.insert(hash.to_owned(), Arc::clone(&doc)).await;
        Some(doc)
    }

    /// Registers a document (its hash checked by the caller).
    pub async fn put(&self, hash: &str, document: &str) {
        self.l1.insert(hash.to_owned(), document.into()).await;
        if let Some(redis) = &self.l2
            && let Err(e) = redis
                .set(&self.redis_key(hash), document.as_bytes(), Some(self.ttl))
                .await
        {
            tracing::warn!(error = %e, "persisted query kept in this replica only");
        }
    }

    /// Bytes held in-process (after pending evictions).
    pub async fn memory_bytes(&self) -> u64 {
        self.l1.run_pending_tasks().await;
        self.l1.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_in_process_tier_holds_no_more_bytes_than_allowed() {
        let cache = DocumentCache::new(
            DocumentLimits {
                memory_bytes: 10_000,
                ttl: Duration::from_secs(60),
            },
            None,
            "t:",
        );
        let document = "x".repeat(1_000);
        for i in 0..100 {
            cache.put(&format!("{i:064}"), &document).await;
        }
        assert!(cache.memory_bytes().await <= 10_000);
    }
}
