//! The catalog's per-request reads: records by id through the request's loader (batched with
//! every other read of the same pass, decoded once per stored item), so that resolvers never
//! build table keys.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{CategoryRecord, InventoryRecord, ProductRecord, VariantRecord, keys};
use crate::StoreLoader;
use crate::store::{Key, StoreError};

/// Catalog records through one request's loader.
#[derive(Clone, Copy)]
pub struct CatalogLoads<'a>(pub &'a Arc<StoreLoader>);

impl CatalogLoads<'_> {
    async fn many<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        ids: impl IntoIterator<Item = impl AsRef<str>>,
        key: fn(&str) -> Key,
    ) -> Result<HashMap<String, Arc<T>>, Arc<StoreError>> {
        let by_key: HashMap<Key, String> = ids
            .into_iter()
            .map(|id| (key(id.as_ref()), id.as_ref().to_owned()))
            .collect();
        let found = self.0.load_many(by_key.keys().cloned()).await?;
        found
            .into_iter()
            .filter_map(|(k, item)| Some((by_key.get(&k)?.clone(), item)))
            .map(|(id, item)| Ok((id, item.record::<T>().map_err(Arc::new)?)))
            .collect()
    }

    async fn one<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        id: &str,
        key: fn(&str) -> Key,
    ) -> Result<Option<Arc<T>>, Arc<StoreError>> {
        Ok(self.many::<T>([id], key).await?.remove(id))
    }

    /// One product.
    pub async fn product(&self, id: &str) -> Result<Option<Arc<ProductRecord>>, Arc<StoreError>> {
        self.one(id, keys::product).await
    }

    /// Products by id; unknown ids are absent.
    pub async fn products(
        &self,
        ids: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<HashMap<String, Arc<ProductRecord>>, Arc<StoreError>> {
        self.many(ids, keys::product).await
    }

    /// Variants by id.
    pub async fn variants(
        &self,
        ids: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<HashMap<String, Arc<VariantRecord>>, Arc<StoreError>> {
        self.many(ids, keys::variant).await
    }

    /// One category.
    pub async fn category(&self, id: &str) -> Result<Option<Arc<CategoryRecord>>, Arc<StoreError>> {
        self.one(id, keys::category).await
    }

    /// Categories by id.
    pub async fn categories(
        &self,
        ids: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<HashMap<String, Arc<CategoryRecord>>, Arc<StoreError>> {
        self.many(ids, keys::category).await
    }

    /// Stock by variant id (variants without a stock record are absent).
    pub async fn stock(
        &self,
        variant_ids: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<HashMap<String, i64>, Arc<StoreError>> {
        Ok(self
            .many::<InventoryRecord>(variant_ids, keys::inventory)
            .await?
            .into_iter()
            .map(|(id, record)| (id, record.quantity))
            .collect())
    }
}
