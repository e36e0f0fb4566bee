//! `Product` and the small types that hang off it (images, options).

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use storefront_loaders::catalog::{
    ImageRecord, MAX_CATEGORIES, MAX_IMAGES, MAX_OPTIONS, ProductRecord,
};

use super::loads;
use super::money::{Money, ProductPriceRange};
use super::{Category, ProductVariant};
use crate::connection::{
    PageRequest, ProductVariantConnection, complexity, decode_cursor, encode_cursor,
    list_complexity,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids;
use crate::scalars::DateTime;

/// A product: what a product page shows, with its purchasable variants.
#[derive(Clone)]
pub struct Product(pub Arc<ProductRecord>);

/// A picture of a product.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Image {
    /// Absolute URL of the picture (served by the asset CDN).
    pub url: String,
    /// Text alternative for screen readers.
    pub alt_text: Option<String>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
}

#[ComplexObject]
impl Image {
    /// The picture's aspect ratio (width / height), when both are known.
    async fn aspect_ratio(&self) -> Option<f64> {
        match (self.width, self.height) {
            (Some(w), Some(h)) if h > 0 => Some(f64::from(w) / f64::from(h)),
            _ => None,
        }
    }
}

impl From<&ImageRecord> for Image {
    fn from(r: &ImageRecord) -> Self {
        Self {
            url: r.url.clone(),
            alt_text: r.alt_text.clone(),
            width: r.width,
            height: r.height,
        }
    }
}

/// An option the variants of a product differ by, such as size.
#[derive(SimpleObject, Clone)]
pub struct ProductOption {
    /// The option's name ("Size").
    pub name: String,
    /// Its values, in display order.
    pub values: Vec<String>,
}

/// Stock of the given variants, by variant id (variants without a stock record have none).
pub(crate) async fn stock_of(
    ctx: &Context<'_>,
    variant_ids: &[String],
) -> ApiResult<std::collections::HashMap<String, i64>> {
    Ok(loads(ctx)?.stock(variant_ids).await?)
}

/// A product's page of variants: positions are indexes into its variant list.
fn variant_page(
    variant_ids: &[String],
    page: &PageRequest,
) -> ApiResult<(Vec<(usize, String)>, bool)> {
    let position = page
        .cursor
        .as_deref()
        .map(decode_cursor::<(String, usize)>)
        .transpose()?
        .map(|(kind, at)| {
            if kind == "variant" && at < variant_ids.len() {
                Ok(at)
            } else {
                Err(ApiError::new(
                    ErrorCode::InvalidCursor,
                    "the cursor does not point into this product's variants",
                ))
            }
        })
        .transpose()?;
    let indexes: Vec<usize> = if page.backward {
        let end = position.unwrap_or(variant_ids.len());
        (0..end).rev().collect()
    } else {
        let start = position.map_or(0, |p| p + 1);
        (start..variant_ids.len()).collect()
    };
    let has_more = indexes.len() > page.limit;
    Ok((
        indexes
            .into_iter()
            .take(page.limit)
            .map(|i| (i, variant_ids[i].clone()))
            .collect(),
        has_more,
    ))
}

/// A product: what a product page shows, with its purchasable variants.
#[Object(cache_control(max_age = 60))]
impl Product {
    /// Globally unique, opaque ID.
    pub async fn id(&self) -> ID {
        ids::encode("Product", &self.0.id)
    }

    /// URL slug, unique among products.
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

    /// Brand or maker.
    async fn vendor(&self) -> &str {
        &self.0.vendor
    }

    /// Kind of product, such as "T-Shirt".
    async fn product_type(&self) -> &str {
        &self.0.product_type
    }

    /// Free-form labels.
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }

    /// The categories the product is filed under (at most 5).
    #[graphql(complexity = "list_complexity(MAX_CATEGORIES, child_complexity)")]
    async fn categories(&self, ctx: &Context<'_>) -> ApiResult<Vec<Category>> {
        let found = loads(ctx)?.categories(&self.0.category_ids).await?;
        Ok(self
            .0
            .category_ids
            .iter()
            .filter_map(|id| found.get(id))
            .map(|c| Category(Arc::clone(c)))
            .collect())
    }

    /// Pictures of the product (at most 20); the first is the featured one.
    #[graphql(complexity = "list_complexity(MAX_IMAGES, child_complexity)")]
    async fn images(&self) -> Vec<Image> {
        self.0.images.iter().map(Image::from).collect()
    }

    /// The picture to show first.
    async fn featured_image(&self) -> Option<Image> {
        self.0.images.first().map(Image::from)
    }

    /// The options the variants differ by (at most 3).
    #[graphql(complexity = "list_complexity(MAX_OPTIONS, child_complexity)")]
    async fn options(&self) -> Vec<ProductOption> {
        self.0
            .options
            .iter()
            .map(|o| ProductOption {
                name: o.name.clone(),
                values: o.values.clone(),
            })
            .collect()
    }

    /// The purchasable variants, in display order.
    #[graphql(complexity = "complexity(first, last, child_complexity)")]
    async fn variants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Return the first n variants.")] first: Option<i32>,
        #[graphql(desc = "Return variants after this cursor.")] after: Option<String>,
        #[graphql(desc = "Return the last n variants.")] last: Option<i32>,
        #[graphql(desc = "Return variants before this cursor.")] before: Option<String>,
    ) -> ApiResult<ProductVariantConnection> {
        let page = PageRequest::parse(first, after, last, before)?;
        let (slice, has_more) = variant_page(&self.0.variant_ids, &page)?;
        let found = loads(ctx)?.variants(slice.iter().map(|(_, id)| id)).await?;
        let read = slice
            .into_iter()
            .filter_map(|(i, id)| {
                let record = found.get(&id)?;
                Some((
                    encode_cursor(&("variant", i)),
                    ProductVariant::new(Arc::clone(record), &self.0.currency),
                ))
            })
            .collect();
        Ok(page.connection(read, has_more))
    }

    /// The lowest and highest variant prices.
    async fn price_range(&self) -> ProductPriceRange {
        ProductPriceRange {
            min_variant_price: Money::new(self.0.min_price, &self.0.currency),
            max_variant_price: Money::new(self.0.max_price, &self.0.currency),
        }
    }

    /// Products to show with this one: similar ones (RELATED) or ones that go with it
    /// (COMPLEMENTARY); for a whole page of products, one call to the recommender.
    #[graphql(complexity = "(first.max(1) as usize) * child_complexity + 1")]
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What kind of recommendations.", default)]
        intent: crate::recommend::ProductRecommendationIntent,
        #[graphql(desc = "How many (1 to 50).", default = 5)] first: i32,
    ) -> ApiResult<Vec<Product>> {
        crate::recommend::for_product(ctx, &self.0.id, intent, first).await
    }

    /// Whether at least one variant is in stock.
    async fn available_for_sale(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(stock_of(ctx, &self.0.variant_ids)
            .await?
            .values()
            .any(|q| *q > 0))
    }

    /// Total units in stock over all variants.
    async fn total_inventory(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(stock_of(ctx, &self.0.variant_ids).await?.values().sum())
    }

    /// When the product was first stored.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When the product last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}
