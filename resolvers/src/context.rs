//! Access to the request's data loaders and backends from a resolver's context.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use serde::de::DeserializeOwned;
use storefront_loaders::StoreLoader;
use storefront_loaders::domain::Services;
use storefront_loaders::store::Key;

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

/// The service of type `T` that a domain opened (its store, its engines).
pub fn service<'a, T: std::any::Any + Send + Sync>(ctx: &'a Context<'_>) -> ApiResult<&'a T> {
    ctx.data::<Services>()
        .ok()
        .and_then(Services::get::<T>)
        .ok_or_else(|| missing(std::any::type_name::<T>()))
}

/// Loads one record through the request's loader (batched with every other load of the same
/// pass); the record is decoded once per stored item and shared.
pub async fn load<T: DeserializeOwned + Send + Sync + 'static>(
    ctx: &Context<'_>,
    key: Key,
) -> ApiResult<Option<Arc<T>>> {
    loader(ctx)?
        .load_one(key)
        .await?
        .map(|item| item.record::<T>().map_err(ApiError::from))
        .transpose()
}

/// Loads many records in one batch; missing ones are absent from the map.
pub async fn load_many<T: DeserializeOwned + Send + Sync + 'static>(
    ctx: &Context<'_>,
    keys: impl IntoIterator<Item = Key>,
) -> ApiResult<HashMap<Key, Arc<T>>> {
    loader(ctx)?
        .load_many(keys)
        .await?
        .into_iter()
        .map(|(key, item)| Ok((key, item.record::<T>()?)))
        .collect()
}
