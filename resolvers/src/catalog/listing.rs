//! Product listings as connections: sort keys, filters, and cursors over listing positions.

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject};
use serde::{Deserialize, Serialize};
use storefront_loaders::catalog::{ListingFilter, ListingRequest, ProductSort, Scope};
use storefront_loaders::store::StartKey;

use super::Product;
use super::{catalog, loads};
use crate::connection::{PageRequest, ProductConnection, decode_cursor, encode_cursor};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The orders products can be listed in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductSortKeys {
    /// By title, A to Z.
    #[default]
    Title,
    /// By lowest variant price, cheapest first.
    Price,
    /// By creation time, oldest first.
    CreatedAt,
    /// By units sold, best first.
    BestSelling,
}

impl From<ProductSortKeys> for ProductSort {
    fn from(k: ProductSortKeys) -> Self {
        match k {
            ProductSortKeys::Title => ProductSort::Title,
            ProductSortKeys::Price => ProductSort::Price,
            ProductSortKeys::CreatedAt => ProductSort::CreatedAt,
            ProductSortKeys::BestSelling => ProductSort::BestSelling,
        }
    }
}

/// Narrows a product list.
#[derive(InputObject, Debug, Clone, Default)]
pub struct ProductFilter {
    /// Only products in this category or its descendants.
    pub category_handle: Option<String>,
    /// Only products of this vendor (case-insensitive).
    pub vendor: Option<String>,
    /// Only products that are (true) or are not (false) in stock.
    pub available: Option<bool>,
}

// What a listing cursor holds: the index it belongs to and the position in it.
#[derive(Serialize, Deserialize)]
struct ListingCursor {
    i: String,
    k: StartKey,
}

/// Reads one page of products in `scope` as a connection.
pub(crate) async fn product_connection(
    ctx: &Context<'_>,
    scope: Scope,
    filter: ListingFilter,
    sort_key: ProductSortKeys,
    reverse: bool,
    page: PageRequest,
) -> ApiResult<ProductConnection> {
    let sort = ProductSort::from(sort_key);
    let index = sort.index();
    let partition = scope.partition();
    let start = page
        .cursor
        .as_deref()
        .map(|c| {
            let cursor: ListingCursor = decode_cursor(c)?;
            let (lpk, _) = index.key_attributes();
            if cursor.i != index.name() || cursor.k.get(lpk) != Some(&partition) {
                return Err(ApiError::new(
                    ErrorCode::InvalidCursor,
                    "the cursor belongs to another list or sort order",
                ));
            }
            Ok(cursor.k)
        })
        .transpose()?;
    if page.limit == 0 {
        return Ok(page.connection(vec![], false));
    }
    let slice = catalog(ctx)?
        .list_products(&ListingRequest {
            scope,
            sort,
            // Backward pages read the list in the opposite direction from the cursor.
            forward: reverse == page.backward,
            limit: page.limit,
            start,
            filter,
        })
        .await?;
    let found = loads(ctx)?
        .products(slice.entries.iter().map(|e| &e.product_id))
        .await?;
    let read = slice
        .entries
        .into_iter()
        .filter_map(|entry| {
            let product = found.get(&entry.product_id)?;
            let cursor = encode_cursor(&ListingCursor {
                i: index.name().to_owned(),
                k: entry.position,
            });
            Some((cursor, Product(Arc::clone(product))))
        })
        .collect();
    Ok(page.connection(read, slice.has_more))
}
