//! The catalog's query root: products, categories.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use storefront_loaders::catalog::{Catalog, ListingFilter, Scope};
use storefront_loaders::store::StartKey;

use super::listing::{ProductFilter, ProductSortKeys, product_connection};
use super::{Category, Product};
use super::{catalog, loads};
use crate::connection::{
    CategoryConnection, PageRequest, ProductConnection, complexity, decode_cursor, encode_cursor,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids;

/// Catalog queries.
#[derive(Default)]
pub struct CatalogQuery;

/// Catalog queries.
#[Object]
impl CatalogQuery {
    /// One product, by `id` or by `handle` (exactly one of them); null when none matches.
    async fn product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The product's global ID.")] id: Option<ID>,
        #[graphql(desc = "The product's handle.")] handle: Option<String>,
    ) -> ApiResult<Option<Product>> {
        let product_id = match (id, handle) {
            (Some(id), None) => ids::decode_as(&id, "Product")?,
            (None, Some(handle)) => match catalog(ctx)?.product_id_by_handle(&handle).await? {
                Some(id) => id,
                None => return Ok(None),
            },
            _ => {
                return Err(ApiError::bad_input("pass exactly one of `id` and `handle`"));
            }
        };
        Ok(loads(ctx)?.product(&product_id).await?.map(Product))
    }

    /// Products, sorted and filtered, one page at a time.
    #[graphql(complexity = "complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Return the first n products.")] first: Option<i32>,
        #[graphql(desc = "Return products after this cursor.")] after: Option<String>,
        #[graphql(desc = "Return the last n products.")] last: Option<i32>,
        #[graphql(desc = "Return products before this cursor.")] before: Option<String>,
        #[graphql(desc = "The order to list products in.", default)] sort_key: ProductSortKeys,
        #[graphql(desc = "Reverse the order.", default)] reverse: bool,
        #[graphql(desc = "Narrow the list.", default)] filter: ProductFilter,
    ) -> ApiResult<ProductConnection> {
        let page = PageRequest::parse(first, after, last, before)?;
        let ProductFilter {
            category_handle,
            vendor,
            available,
        } = filter;
        // Read the narrowest listing that holds every match; filter the rest.
        let (scope, vendor) = match (category_handle, vendor) {
            (Some(handle), vendor) => match catalog(ctx)?.category_id_by_handle(&handle).await? {
                Some(id) => (Scope::Category(id), vendor),
                // An unknown category matches no product.
                None => return Ok(page.connection(vec![], false)),
            },
            (None, Some(vendor)) => (Scope::Vendor(vendor), None),
            (None, None) => (Scope::All, None),
        };
        product_connection(
            ctx,
            scope,
            ListingFilter { vendor, available },
            sort_key,
            reverse,
            page,
        )
        .await
    }

    /// One category by handle; null when none matches.
    async fn category(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The category's handle.")] handle: String,
    ) -> ApiResult<Option<Category>> {
        let Some(id) = catalog(ctx)?.category_id_by_handle(&handle).await? else {
            return Ok(None);
        };
        Ok(loads(ctx)?.category(&id).await?.map(Category))
    }

    /// Every category in display order (parents before their children).
    #[graphql(complexity = "complexity(first, last, child_complexity)")]
    async fn categories(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Return the first n categories.")] first: Option<i32>,
        #[graphql(desc = "Return categories after this cursor.")] after: Option<String>,
        #[graphql(desc = "Return the last n categories.")] last: Option<i32>,
        #[graphql(desc = "Return categories before this cursor.")] before: Option<String>,
    ) -> ApiResult<CategoryConnection> {
        let page = PageRequest::parse(first, after, last, before)?;
        let start = page
            .cursor
            .as_deref()
            .map(|c| {
                let key: StartKey = decode_cursor(c)?;
                if !Catalog::is_category_position(&key) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidCursor,
                        "the cursor does not point into the category list",
                    ));
                }
                Ok(key)
            })
            .transpose()?;
        if page.limit == 0 {
            return Ok(page.connection(vec![], false));
        }
        let slice = catalog(ctx)?
            .list_categories(!page.backward, page.limit, start)
            .await?;
        let read = slice
            .entries
            .into_iter()
            .map(|(record, position)| (encode_cursor(&position), Category(Arc::new(record))))
            .collect();
        Ok(page.connection(read, slice.has_more))
    }
}
