//! Everything that talks to a backend: the `Table` store and its engines, the catalog's
//! storage, per-request DataLoaders and metrics.

pub mod aws;
pub mod breaker;
pub mod cache;
pub mod cart;
pub mod catalog;
pub mod chat;
pub mod checkout;
pub mod codec;
pub mod domain;
pub mod events;
pub mod fraud;
pub mod hash;
pub mod identity;
pub mod item_loader;
pub mod location;
pub mod marketing;
pub mod metrics;
pub mod outbox;
pub mod periodic;
pub mod rate_limit;
pub mod recommend;
pub mod search;
pub mod shop;
pub mod store;
pub mod stored;
pub mod sync;

pub use cache::reads::{ReadSet, TagScheme};
pub use item_loader::{Batched, StoreLoader};
pub use metrics::Metrics;
pub use stored::{SharedItem, StoredItem};
