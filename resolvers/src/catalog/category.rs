//! `Category`: a node of the category tree and its products.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use storefront_loaders::catalog::{CategoryRecord, ListingFilter, Scope};

use super::listing::{ProductSortKeys, product_connection};
use super::loads;
use crate::connection::{PageRequest, ProductConnection, complexity, list_complexity};

/// The most children `Category.children` lists, and what its cost multiplies by.
pub const MAX_CHILDREN: usize = 50;
use crate::error::ApiResult;
use crate::ids;

/// A node of the category tree, such as "Men › Shirts".
#[derive(Clone)]
pub struct Category(pub Arc<CategoryRecord>);

/// A node of the category tree, such as "Men › Shirts".
#[Object(cache_control(max_age = 300))]
impl Category {
    /// Globally unique, opaque ID.
    pub async fn id(&self) -> ID {
        ids::encode("Category", &self.0.id)
    }

    /// URL slug, unique among categories.
    async fn handle(&self) -> &str {
        &self.0.handle
    }

    /// Display name.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// Plain-text description.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The parent category; null for a top-level one.
    async fn parent(&self, ctx: &Context<'_>) -> ApiResult<Option<Category>> {
        let Some(parent) = &self.0.parent_id else {
            return Ok(None);
        };
        Ok(loads(ctx)?.category(parent).await?.map(Category))
    }

    /// The child categories, in display order: the first 50 (page through deeper trees with
    /// `categories`).
    #[graphql(complexity = "list_complexity(MAX_CHILDREN, child_complexity)")]
    async fn children(&self, ctx: &Context<'_>) -> ApiResult<Vec<Category>> {
        let shown = &self.0.child_ids[..self.0.child_ids.len().min(MAX_CHILDREN)];
        let found = loads(ctx)?.categories(shown).await?;
        Ok(shown
            .iter()
            .filter_map(|id| found.get(id))
            .map(|c| Category(Arc::clone(c)))
            .collect())
    }

    /// Products filed under this category or any of its descendants.
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
        #[graphql(desc = "Only products of this vendor (case-insensitive).")] vendor: Option<
            String,
        >,
        #[graphql(desc = "Only products that are (true) or are not (false) in stock.")]
        available: Option<bool>,
        #[graphql(
            desc = "Reorder the page for the signed-in customer (same products and cursors).",
            default
        )]
        personalized: bool,
    ) -> ApiResult<ProductConnection> {
        let page = PageRequest::parse(first, after, last, before)?;
        let mut connection = product_connection(
            ctx,
            Scope::Category(self.0.id.clone()),
            ListingFilter { vendor, available },
            sort_key,
            reverse,
            page,
        )
        .await?;
        (connection.edges, connection.nodes) =
            crate::recommend::personalize_page(ctx, personalized, connection.edges).await?;
        Ok(connection)
    }
}
