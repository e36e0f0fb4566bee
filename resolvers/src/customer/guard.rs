//! Who is asking: the signed-in customer of the request, and the guard on customer-only fields.

use async_graphql::Context;
use storefront_loaders::domain::Principal;
use storefront_loaders::identity::Viewer;

use crate::error::{ApiError, ErrorCode};

/// The signed-in customer, when the request carries a valid access token.
pub fn viewer_opt<'a>(ctx: &'a Context<'_>) -> Option<&'a Viewer> {
    ctx.data_opt::<Principal>()?.get::<Viewer>()
}

/// The signed-in customer, or `UNAUTHENTICATED`.
pub fn viewer<'a>(ctx: &'a Context<'_>) -> Result<&'a Viewer, ApiError> {
    viewer_opt(ctx).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "sign in first: send `Authorization: Bearer <accessToken>`",
        )
    })
}

/// The guard of customer-only fields: refuses anonymous requests with `UNAUTHENTICATED`.
pub fn signed_in(ctx: &Context<'_>) -> async_graphql::Result<()> {
    viewer(ctx).map(|_| ()).map_err(Into::into)
}
