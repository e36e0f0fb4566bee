//! Automatic persisted queries: documents by hash, in-process and in Redis so that every
//! replica knows a document any of them registered.

use std::sync::Arc;

use super::redis_tier::RedisTier;

/// Persisted documents by SHA-256.
pub struct DocumentCache {
    l1: moka::future::Cache<String, Arc<str>>,
    l2: Option<Arc<RedisTier>>,
    namespace: String,
}

impl DocumentCache {
    /// A cache of up to `capacity` documents in-process, shared through `l2`.
    pub fn new(capacity: u64, l2: Option<Arc<RedisTier>>, namespace: &str) -> Self {
        Self {
            l1: moka::future::Cache::new(capacity),
            l2,
            namespace: namespace.to_owned(),
        }
    }

    fn redis_key(&self, hash: &str) -> String {
        format!("{}apq:{hash}", self.namespace)
    }

    /// The document registered under `hash`, from memory or Redis.
    pub async fn get(&self, hash: &str) -> Option<Arc<str>> {
        if let Some(doc) = self.l1.get(hash).await {
            return Some(doc);
        }
        let redis = self.l2.as_ref()?;
        let bytes = redis.get(&self.redis_key(hash)).await.ok()??;
        let doc: Arc<str> = String::from_utf8(bytes).ok()?.into();
        self.l1.insert(hash.to_owned(), Arc::clone(&doc)).await;
        Some(doc)
    }

    /// Registers a document (its hash checked by the caller).
    pub async fn put(&self, hash: &str, document: &str) {
        self.l1.insert(hash.to_owned(), document.into()).await;
        if let Some(redis) = &self.l2
            && let Err(e) = redis
                .set(&self.redis_key(hash), document.as_bytes(), None)
                .await
        {
            tracing::warn!(error = %e, "persisted query kept in this replica only");
        }
    }
}
