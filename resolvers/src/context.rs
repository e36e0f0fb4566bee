//! Access to the request's data loaders and backends from a resolver's context.

use std::sync::Arc;

use async_graphql::Context;
use storefront_loaders::StoreLoader;
use storefront_loaders::domain::Services;

use crate::error::{ApiError, ApiResult, ErrorCode};

fn missing(what: &str) -> ApiError {
    tracing::error!("{what} is missing from the GraphQL context");
    ApiError::new(ErrorCode::Internal, "internal error")
}

/// The request's store DataLoader.
pub fn loader<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a Arc<StoreLoader>> {
    ctx.data::<Arc<StoreLoader>>()
        .map_err(|_| missing("the store loader"))
}

/// The service of type `T` that a domain opened (its store, its engines). What it reads, the
/// response cache cannot follow: an answer that used one is never cached.
pub fn service<'a, T: std::any::Any + Send + Sync>(ctx: &'a Context<'_>) -> ApiResult<&'a T> {
    storefront_loaders::cache::reads::record_untracked(std::any::type_name::<T>());
    store_service(ctx)
}

/// A service that reads nothing but the store's shared table (whose reads the response cache
/// records, so an answer that used it may be cached).
pub fn store_service<'a, T: std::any::Any + Send + Sync>(ctx: &'a Context<'_>) -> ApiResult<&'a T> {
    ctx.data::<Services>()
        .ok()
        .and_then(Services::get::<T>)
        .ok_or_else(|| missing(std::any::type_name::<T>()))
}
