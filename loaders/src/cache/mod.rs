//! Caching: the shared Redis tier, and the two-tier item cache in front of the store.

mod cached_table;
mod documents;
mod redis_tier;

pub use cached_table::{Cacheable, CachedTable, ItemCacheSettings};
pub use documents::{DocumentCache, DocumentLimits};
pub use redis_tier::{RedisSettings, RedisTier, RedisTierError};
