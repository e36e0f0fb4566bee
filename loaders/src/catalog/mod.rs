//! The catalog domain's storage: records, keys, listings, reads, writes, seed and feeds.

pub mod domain;
pub mod import;
pub mod listing;
pub mod loads;
pub mod races;
pub mod records;
pub mod repo;
pub mod seed;
pub mod write;

pub use domain::{CatalogConfig, CatalogDomain, DOMAIN};
pub use listing::{ListingFilter, ProductSort, Scope};
pub use loads::CatalogLoads;
pub use records::*;
pub use repo::{Catalog, ListingEntry, ListingRequest, Slice};
pub use write::{
    CatalogWriteError, CatalogWriter, MAX_CATEGORIES, MAX_IMAGES, MAX_OPTION_VALUES, MAX_OPTIONS,
    MAX_TAGS, MAX_VARIANTS, WriteOutcome,
};
