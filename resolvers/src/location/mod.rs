//! The location domain's GraphQL: none yet (the store locator arrives with its issue); its
//! roots are empty so that the domain is registered like every other.

use async_graphql::Context;

use crate::error::ApiResult;

/// The location domain's queries (none yet).
pub type Query = async_graphql::EmptyMutation;
/// The location domain's mutations (none yet).
pub type Mutation = async_graphql::EmptyMutation;

/// A location object found by its global ID (none yet).
pub enum Node {}

/// The location objects behind global IDs (none yet).
pub async fn resolve_nodes(
    _ctx: &Context<'_>,
    targets: &[(String, String)],
) -> ApiResult<Vec<Option<Node>>> {
    Ok(targets.iter().map(|_| None).collect())
}
