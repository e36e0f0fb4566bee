//! The customer behind a global ID: visible to that customer only.

use async_graphql::Context;

use super::{Customer, own_customer, viewer_opt};
use crate::error::ApiResult;

/// A customer object found by its global ID.
pub enum Node {
    /// The signed-in customer.
    Customer(Customer),
}

/// The customers behind `(type name, id)` pairs. A customer is visible to that customer
/// only; to anyone else the ID resolves to null, exactly like an ID that does not exist.
pub async fn resolve_nodes(
    ctx: &Context<'_>,
    targets: &[(String, String)],
) -> ApiResult<Vec<Option<Node>>> {
    let own = match viewer_opt(ctx).filter(|v| targets.iter().any(|(_, id)| id == v.sub())) {
        Some(viewer) => Some(own_customer(ctx, viewer).await?),
        None => None,
    };
    Ok(targets
        .iter()
        .map(|(_, id)| own.clone().filter(|c| c.0.sub == *id).map(Node::Customer))
        .collect())
}
