//! The catalog's objects behind global IDs.

use async_graphql::Context;

use super::{Category, Product, ProductVariant, loads};
use crate::error::ApiResult;

/// A catalog object found by its global ID.
pub enum Node {
    /// A product.
    Product(Product),
    /// A product variant.
    ProductVariant(ProductVariant),
    /// A category.
    Category(Category),
}

/// The catalog objects behind `(type name, id)` pairs, in order; `None` for each that does
/// not exist. Every lookup of one call is one batch.
pub async fn resolve_nodes(
    ctx: &Context<'_>,
    targets: &[(String, String)],
) -> ApiResult<Vec<Option<Node>>> {
    let ids_of = |kind: &'static str| {
        targets
            .iter()
            .filter(move |(k, _)| k == kind)
            .map(|(_, id)| id.as_str())
    };
    let reads = loads(ctx)?;
    let (products, variants, categories) = futures::try_join!(
        reads.products(ids_of("Product")),
        reads.variants(ids_of("ProductVariant")),
        reads.categories(ids_of("Category")),
    )?;
    // Variants are priced in their product's currency, so their products are read too.
    let owners = reads
        .products(variants.values().map(|v| v.product_id.as_str()))
        .await?;
    Ok(targets
        .iter()
        .map(|(kind, id)| match kind.as_str() {
            "Product" => products.get(id).cloned().map(|p| Node::Product(Product(p))),
            "Category" => categories
                .get(id)
                .cloned()
                .map(|c| Node::Category(Category(c))),
            "ProductVariant" => variants.get(id).map(|variant| {
                let currency = owners
                    .get(&variant.product_id)
                    .map_or("USD", |p| p.currency.as_str())
                    .to_owned();
                Node::ProductVariant(ProductVariant::new(variant.clone(), &currency))
            }),
            _ => None,
        })
        .collect())
}
