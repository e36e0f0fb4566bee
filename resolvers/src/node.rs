//! The `Node` interface and the `node` / `nodes` lookups by global ID.

use std::sync::Arc;

use async_graphql::{Context, ID, Interface, Object};
use storefront_loaders::catalog::{CategoryRecord, ProductRecord, VariantRecord, keys};
use storefront_loaders::store::Key;

use crate::catalog::{Category, Product, ProductVariant};
use crate::context::{load_many, loader};
use crate::error::{ApiError, ApiResult};
use crate::ids::{self, NodeType};

/// The most IDs one `nodes` call may ask for.
pub const MAX_NODES: usize = 250;

/// An object with a globally unique ID, fetchable with `node(id:)`.
#[derive(Interface, Clone)]
#[graphql(field(name = "id", ty = "ID", desc = "Globally unique, opaque ID."))]
pub enum Node {
    /// A product.
    Product(Product),
    /// A product variant.
    ProductVariant(ProductVariant),
    /// A category.
    Category(Category),
}

fn key_of(kind: NodeType, id: &str) -> Key {
    match kind {
        NodeType::Product => keys::product(id),
        NodeType::ProductVariant => keys::variant(id),
        NodeType::Category => keys::category(id),
    }
}

async fn resolve(
    ctx: &Context<'_>,
    targets: &[(NodeType, String)],
) -> ApiResult<Vec<Option<Node>>> {
    let found = loader(ctx)?
        .load_many(targets.iter().map(|(k, id)| key_of(*k, id)))
        .await?;
    // Variants are priced in their product's currency, so their products are loaded too.
    let variants: Vec<Arc<VariantRecord>> = targets
        .iter()
        .filter(|(k, _)| *k == NodeType::ProductVariant)
        .filter_map(|(k, id)| found.get(&key_of(*k, id)))
        .map(|item| item.record::<VariantRecord>())
        .collect::<Result<_, _>>()?;
    let products =
        load_many::<ProductRecord>(ctx, variants.iter().map(|v| keys::product(&v.product_id)))
            .await?;
    targets
        .iter()
        .map(|(kind, id)| {
            let Some(item) = found.get(&key_of(*kind, id)) else {
                return Ok(None);
            };
            Ok(Some(match kind {
                NodeType::Product => Node::Product(Product(item.record::<ProductRecord>()?)),
                NodeType::Category => Node::Category(Category(item.record::<CategoryRecord>()?)),
                NodeType::ProductVariant => {
                    let variant = item.record::<VariantRecord>()?;
                    let currency = products
                        .get(&keys::product(&variant.product_id))
                        .map_or("USD", |p| p.currency.as_str())
                        .to_owned();
                    Node::ProductVariant(ProductVariant::new(variant, &currency))
                }
            }))
        })
        .collect::<Result<_, storefront_loaders::store::StoreError>>()
        .map_err(ApiError::from)
}

/// Lookups of any object by its global ID.
#[derive(Default)]
pub struct NodeQuery;

/// Lookups of any object by its global ID.
#[Object]
impl NodeQuery {
    /// The object with this ID; null when none exists.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global ID.")] id: ID,
    ) -> ApiResult<Option<Node>> {
        let target = ids::decode(&id)?;
        Ok(resolve(ctx, &[target]).await?.pop().flatten())
    }

    /// The objects with these IDs, in the same order; null for each that does not exist.
    #[graphql(complexity = "ids.len() * child_complexity + 1")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global IDs, at most 250.")] ids: Vec<ID>,
    ) -> ApiResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(ApiError::bad_input(format!(
                "ask for at most {MAX_NODES} IDs at once, not {}",
                ids.len()
            )));
        }
        let targets = ids.iter().map(ids::decode).collect::<ApiResult<Vec<_>>>()?;
        resolve(ctx, &targets).await
    }
}
