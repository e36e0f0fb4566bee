//! Caching: the shared Redis tier, the two-tier item cache in front of the store, and the
//! two-tier cache of whole responses with the reads they are tagged by.

mod cached_table;
mod documents;
pub mod reads;
mod redis_tier;
mod responses;

pub use cached_table::{Cacheable, CachedTable, ItemCacheSettings};
pub use documents::{DocumentCache, DocumentLimits};
pub use redis_tier::{RedisSettings, RedisTier, RedisTierError};
pub use responses::{
    Answer, CachedResponse, Lookup, ResponseCache, ResponseCacheSettings, ResponseKey, Ticket,
};
