//! `ProductVariant`: one purchasable version of a product.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};
use storefront_loaders::catalog::{MAX_OPTIONS, VariantRecord};

use super::Product;
use super::loads;
use super::money::Money;
use crate::connection::list_complexity;
use crate::error::ApiResult;
use crate::ids;

/// One option value a variant has, such as size M.
#[derive(SimpleObject, Clone)]
pub struct SelectedOption {
    /// The option's name ("Size").
    pub name: String,
    /// The value ("M").
    pub value: String,
}

/// One purchasable version of a product, such as size M in blue.
#[derive(Clone)]
pub struct ProductVariant {
    record: Arc<VariantRecord>,
    currency: Arc<str>,
}

impl ProductVariant {
    /// A variant priced in `currency` (its product's).
    pub fn new(record: Arc<VariantRecord>, currency: &str) -> Self {
        Self {
            record,
            currency: currency.into(),
        }
    }

    async fn quantity(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(loads(ctx)?
            .stock([&self.record.id])
            .await?
            .get(&self.record.id)
            .copied()
            .unwrap_or(0))
    }
}

/// One purchasable version of a product, such as size M in blue.
// Stock changes often: a short shared lifetime.
#[Object(cache_control(max_age = 30))]
impl ProductVariant {
    /// Globally unique, opaque ID.
    pub async fn id(&self) -> ID {
        ids::encode("ProductVariant", &self.record.id)
    }

    /// Stock keeping unit.
    async fn sku(&self) -> &str {
        &self.record.sku
    }

    /// Display name, such as "M / Blue".
    async fn title(&self) -> &str {
        &self.record.title
    }

    /// The option values of this variant (one per product option).
    #[graphql(complexity = "list_complexity(MAX_OPTIONS, child_complexity)")]
    async fn selected_options(&self) -> Vec<SelectedOption> {
        self.record
            .selected_options
            .iter()
            .map(|s| SelectedOption {
                name: s.name.clone(),
                value: s.value.clone(),
            })
            .collect()
    }

    /// The price.
    async fn price(&self) -> Money {
        Money::new(self.record.price, &self.currency)
    }

    /// The former price, shown struck through when the variant is on sale.
    async fn compare_at_price(&self) -> Option<Money> {
        self.record
            .compare_at_price
            .map(|p| Money::new(p, &self.currency))
    }

    /// Whether the variant is in stock.
    async fn available_for_sale(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(self.quantity(ctx).await? > 0)
    }

    /// Units in stock.
    async fn quantity_available(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        self.quantity(ctx).await
    }

    /// Stores near a point that hold this variant for pickup, nearest first, with their
    /// units on hand.
    #[graphql(complexity = "(first.max(1) as usize) * child_complexity + 1")]
    async fn store_availability(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Look around this point.")] near: crate::location::GeoPointInput,
        #[graphql(desc = "How far to look, in kilometres.", default = 50.0)] radius_km: f64,
        #[graphql(desc = "How many stores (1 to 50).", default = 10)] first: i32,
    ) -> ApiResult<Vec<crate::location::StoreAvailability>> {
        crate::location::store_availability(ctx, &self.record.id, near, radius_km, first).await
    }

    /// The product this variant belongs to.
    async fn product(&self, ctx: &Context<'_>) -> ApiResult<Option<Product>> {
        Ok(loads(ctx)?
            .product(&self.record.product_id)
            .await?
            .map(Product))
    }
}
