//! The catalog domain: products, variants, categories, and their queries.

mod category;
mod listing;
mod money;
mod nodes;
mod product;
mod query;
mod variant;

pub use category::Category;
pub use listing::{ProductFilter, ProductSortKeys};
pub use money::{CurrencyCode, Money, ProductPriceRange};
pub use nodes::{Node, resolve_nodes};
pub use product::{Image, Product, ProductOption};
pub use query::CatalogQuery;
pub use variant::{ProductVariant, SelectedOption};

use async_graphql::Context;
use storefront_loaders::catalog::{Catalog, CatalogLoads};

use crate::error::ApiResult;

/// The catalog's queries.
pub type Query = CatalogQuery;
/// The catalog's mutations (none: the catalog changes through feeds).
pub type Mutation = async_graphql::EmptyMutation;

/// The catalog's listings and lookups by handle.
fn catalog<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a Catalog> {
    crate::context::store_service::<Catalog>(ctx)
}

/// The catalog's records through the request's loader.
fn loads<'a>(ctx: &'a Context<'_>) -> ApiResult<CatalogLoads<'a>> {
    crate::context::loader(ctx).map(CatalogLoads)
}
