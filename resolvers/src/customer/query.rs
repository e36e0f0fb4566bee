//! The signed-in customer.

use async_graphql::{Context, Object};
use storefront_loaders::identity::{Identity, Viewer};

use super::types::Customer;
use crate::context::{loader, service};
use crate::error::ApiResult;

/// The viewer's own customer account, read through the request's loader (its profile is
/// created on first use).
pub async fn own_customer(ctx: &Context<'_>, viewer: &Viewer) -> ApiResult<Customer> {
    let profile = service::<Identity>(ctx)?
        .profiles
        .load_or_create(loader(ctx)?, viewer.sub(), viewer.claims.email.as_deref())
        .await?;
    Ok(Customer(profile))
}

/// Queries about the signed-in customer.
#[derive(Default)]
pub struct CustomerQuery;

/// Queries about the signed-in customer.
#[Object]
impl CustomerQuery {
    /// The signed-in customer; null when the request carries no access token.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<Customer>> {
        match super::viewer_opt(ctx) {
            Some(viewer) => own_customer(ctx, viewer).await.map(Some),
            None => Ok(None),
        }
    }
}
