//! The catalog domain: products, variants, categories, and their queries.

mod category;
mod listing;
mod money;
mod product;
mod query;
mod variant;

pub use category::Category;
pub use listing::{ProductFilter, ProductSortKeys};
pub use money::{CurrencyCode, Money, ProductPriceRange};
pub use product::{Image, Product, ProductOption};
pub use query::CatalogQuery;
pub use variant::{ProductVariant, SelectedOption};
