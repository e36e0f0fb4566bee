//! Carts: a shopper's lines, discount codes and buyer, priced live from the catalog; guest
//! carts are reached by their unguessable id alone, a customer's only by that customer.

mod inputs;
mod mutation;
mod types;

use async_graphql::{Context, ID, Object};
use storefront_loaders::cart::{CartRecord, Carts, MergeKind};
use storefront_loaders::identity::GuestToken;

pub use inputs::{CartErrorCode, CartUserError};
pub use mutation::{CartMutation, CartPayload, token_of};
pub use types::{Cart, CartLine, CartMergeChange, CartMergeKind, Merchandise};

use crate::context::service;
use crate::customer::viewer_opt;
use crate::error::ApiResult;
use crate::ids;

/// The token inside a cart ID, when it can be one.
fn cart_token(id: &ID) -> Option<GuestToken> {
    ids::decode_as(id, "Cart")
        .ok()
        .and_then(|raw| GuestToken::parse(&raw))
}

/// The cart behind `id` when this request may reach it: a guest's by its id, a customer's by
/// its id and its customer only. Anything else is "not found", whoever asks.
pub async fn reach(ctx: &Context<'_>, id: &ID) -> ApiResult<Option<(GuestToken, CartRecord)>> {
    let Some(token) = cart_token(id) else {
        return Ok(None);
    };
    let Some(cart) = service::<Carts>(ctx)?.store.get(&token.digest()).await? else {
        return Ok(None);
    };
    let customer = viewer_opt(ctx).map(|v| v.sub());
    Ok(cart
        .owner
        .permits(customer, Some(&token))
        .then_some((token, cart)))
}

/// Brings the guest cart `cart_id` to the customer `sub` who just signed in (merged, or the
/// newer or the customer's kept, by `[cart] merge`); the customer's cart after it and what
/// changed, or none when there is no open guest cart behind the id.
pub async fn merge_at_sign_in(
    ctx: &Context<'_>,
    sub: &str,
    cart_id: &ID,
) -> ApiResult<Option<(Cart, Vec<CartMergeChange>)>> {
    let Some(token) = cart_token(cart_id) else {
        return Ok(None);
    };
    let carts = service::<Carts>(ctx)?;
    let Some(merged) = carts.merge_guest(sub, &token).await? else {
        return Ok(None);
    };
    let changes = merged
        .changes
        .iter()
        .map(|c| CartMergeChange {
            merchandise_id: ids::encode("ProductVariant", &c.variant_id),
            quantity_before: c.before,
            quantity_after: c.after,
            kind: match c.kind {
                MergeKind::Added => CartMergeKind::Added,
                MergeKind::Combined => CartMergeKind::Combined,
                MergeKind::ClippedToStock => CartMergeKind::ClippedToStock,
                MergeKind::Dropped => CartMergeKind::Dropped,
            },
        })
        .collect();
    Ok(Some((
        Cart::build(ctx, merged.token, merged.cart).await?,
        changes,
    )))
}

/// The customer's current cart.
pub async fn current_cart(ctx: &Context<'_>, sub: &str) -> ApiResult<Option<Cart>> {
    match service::<Carts>(ctx)?.current(sub).await? {
        Some((token, record)) => Ok(Some(
            Cart::build(ctx, token.as_str().to_owned(), record).await?,
        )),
        None => Ok(None),
    }
}

/// Cart queries.
#[derive(Default)]
pub struct CartQuery;

/// Cart queries.
#[Object]
impl CartQuery {
    /// A cart by its id; null when there is none this request may see.
    async fn cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's ID.")] id: ID,
    ) -> ApiResult<Option<Cart>> {
        match reach(ctx, &id).await? {
            Some((token, record)) => Ok(Some(
                Cart::build(ctx, token.as_str().to_owned(), record).await?,
            )),
            None => Ok(None),
        }
    }
}

/// The cart's queries.
pub type Query = CartQuery;
/// The cart's mutations.
pub type Mutation = CartMutation;
