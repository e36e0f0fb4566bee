//! The `Node` interface and the `node` / `nodes` lookups by global ID.

use std::sync::Arc;

use async_graphql::{Context, ID, Interface, Object};
use storefront_loaders::catalog::{CategoryRecord, ProductRecord, VariantRecord, keys};
use storefront_loaders::store::Key;

use storefront_loaders::identity::Viewer;

use crate::catalog::{Category, Product, ProductVariant};
use crate::context::{load_many, loader};
use crate::customer::{Customer, own_customer};
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
    /// The signed-in customer (other customers' IDs resolve to null).
    Customer(Customer),
}

/// The catalog item behind a global ID (customers are not catalog items).
fn key_of(kind: NodeType, id: &str) -> Option<Key> {
    match kind {
        NodeType::Product => Some(keys::product(id)),
        NodeType::ProductVariant => Some(keys::variant(id)),
        NodeType::Category => Some(keys::category(id)),
        NodeType::Customer => None,
    }
}

async fn resolve(
    ctx: &Context<'_>,
    targets: &[(NodeType, String)],
) -> ApiResult<Vec<Option<Node>>> {
    let found = loader(ctx)?
        .load_many(targets.iter().filter_map(|(k, id)| key_of(*k, id)))
        .await?;
    // Variants are priced in their product's currency, so their products are loaded too.
    let variants: Vec<Arc<VariantRecord>> = targets
        .iter()
        .filter(|(k, _)| *k == NodeType::ProductVariant)
        .filter_map(|(k, id)| found.get(&key_of(*k, id)?))
        .map(|item| item.record::<VariantRecord>())
        .collect::<Result<_, _>>()?;
    let products =
        load_many::<ProductRecord>(ctx, variants.iter().map(|v| keys::product(&v.product_id)))
            .await?;
    // A customer is visible to that customer only; to anyone else the ID resolves to null,
    // exactly like an ID that does not exist.
    let viewer = ctx
        .data_opt::<Viewer>()
        .filter(|v| targets.contains(&(NodeType::Customer, v.sub().to_owned())));
    let own = match viewer {
        Some(viewer) => Some(own_customer(ctx, viewer).await?),
        None => None,
    };
    targets
        .iter()
        .map(|(kind, id)| {
            if *kind == NodeType::Customer {
                return Ok(own.clone().filter(|c| c.0.sub == *id).map(Node::Customer));
            }
            let Some(item) = key_of(*kind, id).and_then(|key| found.get(&key)) else {
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
                // Answered above; never a catalog item.
                NodeType::Customer => return Ok(None),
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
